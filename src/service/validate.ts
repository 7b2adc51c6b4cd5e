/**
 * Validation of a K8sServiceModel as the agent's API receives it (PUT
 * /v1/k8s/services/{ns}/{name}). Everything is checked before anything is
 * applied, and a failure names the field (`ports[1].port`,
 * `backends[0].ports.http`), so a bad service changes nothing.
 */
import { ValidationError } from '../common/errors.js';
import type { K8sServiceModel, L4Protocol, ServiceBackendModel, ServicePortModel } from '../api/types.js';
import { ip4ToInt } from '../datapath/layout.js';
import { validateLabels, validateNamespaceName, validatePodName } from '../agent/validate.js';

const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const PROTOCOLS: readonly L4Protocol[] = ['TCP', 'UDP', 'SCTP'];
/** Kubernetes' limit for sessionAffinityConfig.clientIP.timeoutSeconds. */
const MAX_AFFINITY_SECONDS = 86400;
const MAX_PORTS = 256;
const MAX_BACKENDS = 4096;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A service name: a DNS-1035 label (at most 63 lowercase letters, digits and
 * dashes, starting with a letter), as Kubernetes requires, since it becomes
 * a DNS label. The lab checks `metadata.name` with it. Throws
 * ValidationError naming `field`.
 */
export function checkServiceName(name: unknown, field: string): string {
  if (typeof name !== 'string' || name.length > 63 || !DNS1035_LABEL.test(name)) {
    throw new ValidationError(field, `"${String(name)}" is not a valid service name (a DNS-1035 label: at most 63 lowercase letters, digits and dashes, starting with a letter and ending with a letter or digit)`);
  }
  return name;
}

function port(v: unknown, field: string): number {
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 65535) throw new ValidationError(field, `"${String(v)}" is not a port (1-65535)`);
  return v as number;
}

/**
 * A service or backend address as the datapath can hold it: canonical
 * dotted IPv4, not unspecified, broadcast, loopback or multicast. The lab
 * checks EndpointSlice addresses with it too. Throws ValidationError naming
 * `field`.
 */
export function checkServiceAddress(v: unknown, field: string): string {
  if (v === 'None') throw new ValidationError(field, 'a headless service ("None") is not load-balanced: do not send it to the agent');
  if (typeof v !== 'string') throw new ValidationError(field, `"${String(v)}" is not an IPv4 address`);
  let n: number;
  try {
    n = ip4ToInt(v);
  } catch {
    throw new ValidationError(field, `"${v}" is not an IPv4 address`);
  }
  if (n === 0 || n === 0xffffffff || (n >>> 24) === 127 || (n >>> 28) === 14) {
    throw new ValidationError(field, `${v} cannot be a service or backend address (unspecified, broadcast, loopback or multicast)`);
  }
  // Canonical form only ("010.0.0.1" would be a second key for one address).
  if (v !== `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`) throw new ValidationError(field, `"${v}" is not in canonical dotted form`);
  return v;
}

function validatePorts(svc: Record<string, unknown>, type: K8sServiceModel['type']): ServicePortModel[] {
  const ports = svc['ports'];
  if (!Array.isArray(ports) || ports.length === 0) throw new ValidationError('ports', 'must be a non-empty list of {name, port, protocol}');
  if (ports.length > MAX_PORTS) throw new ValidationError('ports', `has ${ports.length} entries; at most ${MAX_PORTS}`);
  const names = new Map<string, number>();
  const portProto = new Map<string, number>();
  const nodePorts = new Map<string, number>();
  return ports.map((p: unknown, i): ServicePortModel => {
    const f = `ports[${i}]`;
    if (!isObject(p)) throw new ValidationError(f, 'must be an object {name, port, protocol}');
    const name = p['name'] ?? '';
    if (typeof name !== 'string') throw new ValidationError(`${f}.name`, 'must be a string');
    if (name === '' && ports.length > 1) throw new ValidationError(`${f}.name`, 'is required when a service has more than one port');
    if (name !== '' && (name.length > 63 || !DNS1123_LABEL.test(name))) throw new ValidationError(`${f}.name`, `"${name}" is not a valid port name (a DNS-1123 label)`);
    if (names.has(name)) throw new ValidationError(`${f}.name`, `"${name}" is also the name of ports[${names.get(name)}]`);
    names.set(name, i);
    const number = port(p['port'], `${f}.port`);
    const protocol = p['protocol'] ?? 'TCP';
    if (!PROTOCOLS.includes(protocol as L4Protocol)) throw new ValidationError(`${f}.protocol`, `"${String(protocol)}" is not TCP, UDP or SCTP`);
    const pp = `${number}/${String(protocol)}`;
    if (portProto.has(pp)) throw new ValidationError(`${f}.port`, `${pp} is also ports[${portProto.get(pp)}]`);
    portProto.set(pp, i);
    const out: ServicePortModel = { name, port: number, protocol: protocol as L4Protocol };
    if (type === 'NodePort') {
      if (p['nodePort'] === undefined) throw new ValidationError(`${f}.nodePort`, 'is required for a NodePort service (the cluster allocates it before sending the service)');
      out.nodePort = port(p['nodePort'], `${f}.nodePort`);
      const np = `${out.nodePort}/${String(protocol)}`;
      if (nodePorts.has(np)) throw new ValidationError(`${f}.nodePort`, `${np} is also the node port of ports[${nodePorts.get(np)}]`);
      nodePorts.set(np, i);
    } else if (p['nodePort'] !== undefined) {
      throw new ValidationError(`${f}.nodePort`, `only a NodePort service has node ports; this one is ${type}`);
    }
    return out;
  });
}

/**
 * Why a backend cannot serve service port `p` on `backendPort`, or
 * undefined when it can. The datapath does not rewrite SCTP ports (that
 * needs the CRC32c recomputed), so an SCTP frontend and its backends share
 * one port. The lab asks it of a Service's targetPort and of every backend
 * it resolves, so what it sends is what the agent takes.
 */
export function backendPortProblem(p: Pick<ServicePortModel, 'port' | 'protocol'>, backendPort: number): string | undefined {
  if (p.protocol === 'SCTP' && backendPort !== p.port) return `SCTP backends must use the service port ${p.port}: membrane does not translate SCTP ports`;
  return undefined;
}

function sctpPortsMatch(ports: ServicePortModel[], backends: ServiceBackendModel[]): void {
  ports.forEach((p, i) => {
    if (p.protocol !== 'SCTP') return;
    if (p.nodePort !== undefined && p.nodePort !== p.port) {
      throw new ValidationError(`ports[${i}].nodePort`, `an SCTP node port must be the service port ${p.port}: membrane does not translate SCTP ports`);
    }
    backends.forEach((b, j) => {
      const bp = b.ports[p.name];
      const problem = bp === undefined ? undefined : backendPortProblem(p, bp);
      if (problem) throw new ValidationError(`backends[${j}].ports.${p.name || '""'}`, problem);
    });
  });
}

function validateBackends(svc: Record<string, unknown>, portNames: Set<string>): ServiceBackendModel[] {
  const backends = svc['backends'] ?? [];
  if (!Array.isArray(backends)) throw new ValidationError('backends', 'must be a list of {ip, ports}');
  if (backends.length > MAX_BACKENDS) throw new ValidationError('backends', `has ${backends.length} entries; at most ${MAX_BACKENDS}`);
  const seen = new Map<string, number>();
  return backends.map((b: unknown, i): ServiceBackendModel => {
    const f = `backends[${i}]`;
    if (!isObject(b)) throw new ValidationError(f, 'must be an object {ip, ports}');
    const ip = checkServiceAddress(b['ip'], `${f}.ip`);
    if (seen.has(ip)) throw new ValidationError(`${f}.ip`, `${ip} is also backends[${seen.get(ip)}]`);
    seen.set(ip, i);
    const ports = b['ports'];
    if (!isObject(ports)) throw new ValidationError(`${f}.ports`, 'must map service port names to backend ports');
    const out: ServiceBackendModel = { ip, ports: {} };
    for (const [name, value] of Object.entries(ports)) {
      if (!portNames.has(name)) {
        throw new ValidationError(`${f}.ports.${name || '""'}`, `"${name}" is not the name of a service port (${[...portNames].map((n) => `"${n}"`).join(', ')})`);
      }
      out.ports[name] = port(value, `${f}.ports.${name || '""'}`);
    }
    if (b['terminating'] !== undefined) {
      if (typeof b['terminating'] !== 'boolean') throw new ValidationError(`${f}.terminating`, 'must be true or false');
      if (b['terminating']) out.terminating = true;
    }
    if (b['pod'] !== undefined) {
      const pod = b['pod'];
      if (!isObject(pod)) throw new ValidationError(`${f}.pod`, 'must be {namespace, name}');
      validateNamespaceName(pod['namespace'], `${f}.pod.namespace`);
      validatePodName(pod['name'], `${f}.pod.name`);
      out.pod = { namespace: pod['namespace'] as string, name: pod['name'] as string };
    }
    return out;
  });
}

/**
 * Checks a service as received and returns it normalized (defaults filled
 * in, unknown fields dropped). `where` is the namespace and name of the API
 * path; the body may leave them out but may not contradict them.
 * Throws ValidationError naming the field.
 */
export function validateK8sService(body: unknown, where?: { namespace: string; name: string }): K8sServiceModel {
  if (!isObject(body)) throw new ValidationError('', 'a service must be a JSON object');
  for (const key of ['namespace', 'name'] as const) {
    if (where && body[key] !== undefined && body[key] !== where[key]) {
      throw new ValidationError(key, `"${String(body[key])}" contradicts the path, which names ${where[key]}`);
    }
  }
  const namespace = where?.namespace ?? body['namespace'];
  validateNamespaceName(namespace, 'namespace');
  const name = checkServiceName(where?.name ?? body['name'], 'name');
  const type = body['type'] ?? 'ClusterIP';
  if (type !== 'ClusterIP' && type !== 'NodePort') throw new ValidationError('type', `"${String(type)}" is not ClusterIP or NodePort`);
  const clusterIP = checkServiceAddress(body['clusterIP'], 'clusterIP');
  const ports = validatePorts(body, type);
  const svc: K8sServiceModel = {
    namespace: namespace as string, name, type, clusterIP, ports, backends: validateBackends(body, new Set(ports.map((p) => p.name))),
  };
  sctpPortsMatch(svc.ports, svc.backends);
  const affinity = body['sessionAffinityTimeoutSeconds'];
  if (affinity !== undefined) {
    if (!Number.isInteger(affinity) || (affinity as number) < 1 || (affinity as number) > MAX_AFFINITY_SECONDS) {
      throw new ValidationError('sessionAffinityTimeoutSeconds', `"${String(affinity)}" is not a number of seconds between 1 and ${MAX_AFFINITY_SECONDS}`);
    }
    svc.sessionAffinityTimeoutSeconds = affinity as number;
  }
  const algorithm = body['algorithm'];
  if (algorithm !== undefined) {
    if (algorithm !== 'random' && algorithm !== 'maglev') throw new ValidationError('algorithm', `"${String(algorithm)}" is not random or maglev`);
    svc.algorithm = algorithm;
  }
  if (body['labels'] !== undefined) {
    validateLabels(body['labels'], 'labels');
    svc.labels = { ...(body['labels'] as Record<string, string>) };
  }
  if (body['selector'] !== undefined) {
    validateLabels(body['selector'], 'selector');
    if (Object.keys(body['selector'] as object).length > 0) svc.selector = { ...(body['selector'] as Record<string, string>) };
  }
  return svc;
}
