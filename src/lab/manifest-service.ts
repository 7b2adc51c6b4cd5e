import type { L4Protocol } from '../api/types.js';
import { ValidationError } from '../common/errors.js';
import {
  checkDnsLabel, isObj, join, optList, optObj, optString, readInt, readLabels, readObj, typeName, type Obj,
} from './manifest-fields.js';
import { backendPortProblem } from '../service/validate.js';
import { NODE_PORT_MAX, NODE_PORT_MIN, parseIPv4 } from './service-ip.js';

/**
 * The `spec` of a v1 Service, validated as the API server validates it (the
 * parts the lab implements). Pure. Whether a requested clusterIP is inside the
 * lab's service CIDR and free is checked against the lab's state when it is
 * applied (service-plan.ts).
 */

export type ServiceType = 'ClusterIP' | 'NodePort';
export type LbAlgorithm = 'random' | 'maglev';

/** The annotation that picks the backend selection of a service's new connections. */
export const LB_ALGORITHM_ANNOTATION = 'service.membrane.io/lb-algorithm';

export const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10800;
const MAX_AFFINITY_TIMEOUT_SECONDS = 86400;

export interface ServicePortSpec {
  /** "" only for a service's single port. */
  name: string;
  port: number;
  protocol: L4Protocol;
  /** A number, or a container port's name; the port itself when the manifest gives none. */
  targetPort: number | string;
  /** NodePort services: asked for, or (in the lab's records) allocated. */
  nodePort?: number;
}

export interface ServiceSpec {
  type: ServiceType;
  /** undefined: no selector; its backends come from EndpointSlices. */
  selector?: Record<string, string>;
  /** As asked: undefined (allocate one), "None" (headless) or an IPv4 address; in the lab's records always set. */
  clusterIP?: string;
  ports: ServicePortSpec[];
  /** `sessionAffinity: ClientIP`'s timeout; 0 for `None`. */
  affinityTimeoutSeconds: number;
  algorithm: LbAlgorithm;
}

const PROTOCOLS = new Set<string>(['TCP', 'UDP', 'SCTP']);

export const HEADLESS = 'None';

function readProtocol(o: Obj, path: string): L4Protocol {
  const protocol = optString(o, 'protocol', path);
  if (protocol === undefined) return 'TCP';
  if (!PROTOCOLS.has(protocol)) throw new ValidationError(join(path, 'protocol'), `must be TCP, UDP or SCTP, got "${protocol}"`);
  return protocol as L4Protocol;
}

function readTargetPort(v: unknown, path: string): number | string {
  if (typeof v === 'string') {
    // A quoted number is a number, as the API server's IntOrString reads "8080".
    if (/^\d+$/.test(v)) return readInt(Number(v), path, 1, 65535);
    return checkDnsLabel(v, path, 15);
  }
  if (typeof v === 'number') return readInt(v, path, 1, 65535);
  throw new ValidationError(path, `must be a port number or a container port's name, got ${typeName(v)}`);
}

function readServicePort(v: unknown, path: string, type: ServiceType): ServicePortSpec {
  const o = readObj(v, path);
  const port = readInt(o['port'], join(path, 'port'), 1, 65535);
  const name = optString(o, 'name', path);
  const spec: ServicePortSpec = {
    name: name === undefined || name === '' ? '' : checkDnsLabel(name, join(path, 'name')),
    port,
    protocol: readProtocol(o, path),
    targetPort: o['targetPort'] === undefined || o['targetPort'] === null || o['targetPort'] === 0
      ? port : readTargetPort(o['targetPort'], join(path, 'targetPort')),
  };
  // The agents' rule for backend ports (SCTP ports are not translated); a named one is checked per pod (service-backends.ts).
  const problem = typeof spec.targetPort === 'number' ? backendPortProblem(spec, spec.targetPort) : undefined;
  if (problem) throw new ValidationError(join(path, 'targetPort'), problem);
  const nodePort = o['nodePort'];
  if (nodePort !== undefined && nodePort !== null && nodePort !== 0) {
    if (type !== 'NodePort') throw new ValidationError(join(path, 'nodePort'), `may not be used when \`type\` is '${type}'`);
    spec.nodePort = readInt(nodePort, join(path, 'nodePort'), NODE_PORT_MIN, NODE_PORT_MAX);
  }
  return spec;
}

function readPorts(spec: Obj, type: ServiceType, headless: boolean): ServicePortSpec[] {
  const raw = optList(spec, 'ports', 'spec');
  if (raw.length === 0 && !headless) throw new ValidationError('spec.ports', 'is required: list at least one port (only a headless service may have none)');
  const ports = raw.map((p, i) => readServicePort(p, join('spec.ports', i), type));
  const names = new Set<string>();
  const portProtocols = new Set<string>();
  const nodePorts = new Set<string>();
  ports.forEach((p, i) => {
    const at = join('spec.ports', i);
    if (ports.length > 1 && p.name === '') throw new ValidationError(join(at, 'name'), 'is required when a service has more than one port');
    if (names.has(p.name)) throw new ValidationError(join(at, 'name'), `duplicate port name "${p.name}"`);
    names.add(p.name);
    const key = `${p.port}/${p.protocol}`;
    if (portProtocols.has(key)) throw new ValidationError(at, `duplicate port ${key}`);
    portProtocols.add(key);
    if (p.nodePort !== undefined) {
      const nodeKey = `${p.nodePort}/${p.protocol}`;
      if (nodePorts.has(nodeKey)) throw new ValidationError(join(at, 'nodePort'), `duplicate node port ${nodeKey}`);
      nodePorts.add(nodeKey);
    }
  });
  return ports;
}

function readType(spec: Obj): ServiceType {
  const type = optString(spec, 'type', 'spec') ?? 'ClusterIP';
  if (type === 'ClusterIP' || type === 'NodePort') return type;
  if (type === 'LoadBalancer' || type === 'ExternalName') {
    throw new ValidationError('spec.type', `"${type}" is not supported by the lab: use ClusterIP or NodePort`);
  }
  throw new ValidationError('spec.type', `must be ClusterIP or NodePort, got "${type}"`);
}

function readClusterIP(spec: Obj, type: ServiceType): string | undefined {
  let ip = optString(spec, 'clusterIP', 'spec');
  const ips = spec['clusterIPs'];
  if (ips !== undefined && ips !== null) {
    if (!Array.isArray(ips) || ips.length > 1 || (ips.length === 1 && typeof ips[0] !== 'string')) {
      throw new ValidationError('spec.clusterIPs', 'must list at most one address: the lab is IPv4 only');
    }
    const first = ips[0] as string | undefined;
    if (first !== undefined && ip !== undefined && ip !== '' && first !== ip) {
      throw new ValidationError('spec.clusterIPs[0]', `must equal spec.clusterIP ("${ip}"), got "${first}"`);
    }
    ip = ip || first;
  }
  if (ip === undefined || ip === '') return undefined;
  if (ip === HEADLESS) {
    if (type === 'NodePort') throw new ValidationError('spec.clusterIP', `may not be set to 'None' for NodePort services`);
    return HEADLESS;
  }
  if (parseIPv4(ip) === undefined) throw new ValidationError('spec.clusterIP', `"${ip}" is not an IPv4 address (or "None" for a headless service)`);
  return ip;
}

function readAffinity(spec: Obj): number {
  const affinity = optString(spec, 'sessionAffinity', 'spec') ?? 'None';
  if (affinity !== 'None' && affinity !== 'ClientIP') throw new ValidationError('spec.sessionAffinity', `must be None or ClientIP, got "${affinity}"`);
  const config = optObj(spec, 'sessionAffinityConfig', 'spec');
  if (affinity === 'None') {
    if (config !== undefined) throw new ValidationError('spec.sessionAffinityConfig', 'must not be set when `sessionAffinity` is None');
    return 0;
  }
  const clientIP = config && optObj(config, 'clientIP', 'spec.sessionAffinityConfig');
  const timeout = clientIP?.['timeoutSeconds'];
  if (timeout === undefined || timeout === null) return DEFAULT_AFFINITY_TIMEOUT_SECONDS;
  return readInt(timeout, 'spec.sessionAffinityConfig.clientIP.timeoutSeconds', 1, MAX_AFFINITY_TIMEOUT_SECONDS);
}

function readAlgorithm(annotations: Obj | undefined): LbAlgorithm {
  const v = annotations?.[LB_ALGORITHM_ANNOTATION];
  if (v === undefined || v === null) return 'random';
  if (v === 'random' || v === 'maglev') return v;
  throw new ValidationError(join('metadata.annotations', LB_ALGORITHM_ANNOTATION), `must be random or maglev, got ${typeName(v)}`);
}

/** Reads a Service's `spec` (and the annotation in `metadata`). */
export function readServiceSpec(raw: unknown, metadata: Obj): ServiceSpec {
  const spec = readObj(raw ?? {}, 'spec');
  const type = readType(spec);
  const clusterIP = readClusterIP(spec, type);
  const selector = readLabels(spec['selector'], 'spec.selector');
  const annotations = metadata['annotations'];
  if (annotations !== undefined && annotations !== null && !isObj(annotations)) {
    throw new ValidationError('metadata.annotations', `must be a mapping, got ${typeName(annotations)}`);
  }
  const out: ServiceSpec = {
    type,
    ports: readPorts(spec, type, clusterIP === HEADLESS),
    affinityTimeoutSeconds: readAffinity(spec),
    algorithm: readAlgorithm(annotations as Obj | undefined),
  };
  // An empty selector selects nothing, as in Kubernetes: the service is one without a selector.
  if (Object.keys(selector).length > 0) out.selector = selector;
  if (clusterIP !== undefined) out.clusterIP = clusterIP;
  return out;
}
