import type { ContainerPortModel } from '../api/types.js';
import { ValidationError } from '../common/errors.js';
import {
  checkDnsLabel, join, optList, optObj, optString, readInt, readLabels, readObj, readString, readStringList,
  requiredString, type Obj,
} from './manifest-fields.js';

/** The part of a container the lab runs: one process in the pod's network namespace. */
export interface ContainerSpec {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env: { name: string; value: string }[];
  ports: ContainerPortModel[];
  /** The TCP port of `readinessProbe.tcpSocket` (or `httpGet`): the pod is ready once something listens on it. */
  readinessPort?: number;
}

export interface PodSpec {
  serviceAccount: string;
  container: ContainerSpec;
}

export interface PodTemplate {
  labels: Record<string, string>;
  spec: PodSpec;
}

const PROTOCOLS = new Set(['TCP', 'UDP', 'SCTP']);

function readPort(v: unknown, path: string): ContainerPortModel {
  const o = readObj(v, path);
  const port: ContainerPortModel = {
    containerPort: readInt(o['containerPort'], join(path, 'containerPort'), 1, 65535),
    protocol: 'TCP',
  };
  const name = optString(o, 'name', path);
  if (name !== undefined) port.name = checkDnsLabel(name, join(path, 'name'), 15);
  const protocol = optString(o, 'protocol', path);
  if (protocol !== undefined) {
    if (!PROTOCOLS.has(protocol)) throw new ValidationError(join(path, 'protocol'), `must be TCP, UDP or SCTP, got "${protocol}"`);
    port.protocol = protocol as ContainerPortModel['protocol'];
  }
  return port;
}

function readEnv(v: unknown, path: string): { name: string; value: string } {
  const o = readObj(v, path);
  if (o['valueFrom'] !== undefined) throw new ValidationError(join(path, 'valueFrom'), 'is not supported by the lab: give a literal value');
  const value = o['value'];
  return {
    name: requiredString(o, 'name', path),
    value: value === undefined || value === null ? '' : readString(value, join(path, 'value')),
  };
}

/**
 * The port of a TCP or HTTP readiness probe (a number or a container port's
 * name). The lab checks only that something listens there; other probes are
 * ignored, as the lab runs no images.
 */
function readReadinessPort(o: Obj, path: string, ports: ContainerPortModel[]): number | undefined {
  const probe = optObj(o, 'readinessProbe', path);
  if (!probe) return undefined;
  const at = join(path, 'readinessProbe');
  const handler = optObj(probe, 'tcpSocket', at) ?? optObj(probe, 'httpGet', at);
  if (!handler) return undefined;
  const portPath = join(join(at, probe['tcpSocket'] ? 'tcpSocket' : 'httpGet'), 'port');
  const port = handler['port'];
  if (typeof port === 'string' && !/^\d+$/.test(port)) {
    const named = ports.find((p) => p.name === port && p.protocol === 'TCP');
    if (!named) throw new ValidationError(portPath, `"${port}" names no TCP port of the container`);
    return named.containerPort;
  }
  return readInt(typeof port === 'string' ? Number(port) : port, portPath, 1, 65535);
}

function readContainer(v: unknown, path: string): ContainerSpec {
  const o = readObj(v, path);
  const c: ContainerSpec = {
    name: checkDnsLabel(requiredString(o, 'name', path), join(path, 'name')),
    image: requiredString(o, 'image', path),
    env: optList(o, 'env', path).map((e, i) => readEnv(e, join(join(path, 'env'), i))),
    ports: optList(o, 'ports', path).map((p, i) => readPort(p, join(join(path, 'ports'), i))),
  };
  if (o['command'] !== undefined && o['command'] !== null) c.command = readStringList(o['command'], join(path, 'command'));
  const readinessPort = readReadinessPort(o, path, c.ports);
  if (readinessPort !== undefined) c.readinessPort = readinessPort;
  if (o['args'] !== undefined && o['args'] !== null) c.args = readStringList(o['args'], join(path, 'args'));
  return c;
}

/** Reads a pod spec (`spec` of a Pod, `spec.template.spec` of a Deployment) at `path`. */
export function readPodSpec(v: unknown, path: string): PodSpec {
  const o: Obj = readObj(v, path);
  const containers = optList(o, 'containers', path);
  if (containers.length === 0) throw new ValidationError(join(path, 'containers'), 'must list one container');
  if (containers.length > 1) {
    throw new ValidationError(join(path, 'containers'), `lists ${containers.length} containers; a lab pod runs exactly one`);
  }
  const sa = optString(o, 'serviceAccountName', path) ?? optString(o, 'serviceAccount', path) ?? 'default';
  return {
    serviceAccount: checkDnsLabel(sa, join(path, 'serviceAccountName'), 253),
    container: readContainer(containers[0], join(join(path, 'containers'), 0)),
  };
}

/** Reads `spec.template` of a Deployment. */
export function readPodTemplate(v: unknown, path: string): PodTemplate {
  const o = readObj(v, path);
  const meta = optObj(o, 'metadata', path) ?? {};
  return {
    labels: readLabels(meta['labels'], join(join(path, 'metadata'), 'labels')),
    spec: readPodSpec(o['spec'], join(path, 'spec')),
  };
}
