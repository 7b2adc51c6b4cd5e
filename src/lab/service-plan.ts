import { randomInt } from 'node:crypto';
import { MembraneError, ValidationError } from '../common/errors.js';
import type { LabObject, ServiceObject } from './manifest.js';
import { HEADLESS, type ServicePortSpec } from './manifest-service.js';
import { allocateClusterIP, allocateNodePort, checkRequestedClusterIP, DEFAULT_SERVICE_CIDR, parseCidr, type Cidr } from './service-ip.js';
import { checkServiceForAgents } from './service-validate.js';
import type { LabState, ServiceRecord } from './state.js';

/**
 * The addresses the Services of a manifest get, decided before anything is
 * applied, so a taken or out-of-range clusterIP or NodePort, or a service the
 * agents would refuse (service-validate.ts), rejects the whole manifest. A service applied again keeps its ClusterIP and NodePorts (the
 * clusterIP is immutable, as in Kubernetes); one applied anew gets free ones.
 * Pure, but for the random source.
 */

export type AllocatedSpec = ServiceRecord['spec'];

function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function fail(o: ServiceObject, err: unknown): never {
  if (err instanceof ValidationError) {
    throw new MembraneError('EINVAL', `document ${o.index} (Service "${o.name}"): ${err.message}`, { path: err.path ?? '', cause: err });
  }
  throw err;
}

/** The lab's service CIDR. */
export function serviceCidr(state: LabState): Cidr {
  return parseCidr(state.serviceCIDR ?? DEFAULT_SERVICE_CIDR);
}

function clusterIPOf(o: ServiceObject, existing: ServiceRecord | undefined, cidr: Cidr, taken: Set<string>): string | undefined {
  const asked = o.spec.clusterIP;
  if (existing) {
    if (asked !== undefined && asked !== existing.spec.clusterIP) {
      throw new ValidationError('spec.clusterIP', `field is immutable: the service has "${existing.spec.clusterIP}" (delete it and apply it again to change it)`);
    }
    return existing.spec.clusterIP;
  }
  if (asked === undefined) return undefined; // allocated after every asked-for address is placed
  if (asked === HEADLESS) return HEADLESS;
  checkRequestedClusterIP(cidr, asked, taken, 'spec.clusterIP');
  taken.add(asked);
  return asked;
}

/** The NodePort an earlier version of the service gave the same port (by name, else by port and protocol). */
function earlierNodePort(p: ServicePortSpec, existing: ServiceRecord | undefined): number | undefined {
  const ports = existing?.spec.ports ?? [];
  return (ports.find((e) => e.name === p.name && e.protocol === p.protocol) ?? ports.find((e) => e.port === p.port && e.protocol === p.protocol))?.nodePort;
}

function nodePortsOf(o: ServiceObject, existing: ServiceRecord | undefined, taken: Set<number>, rand: (n: number) => number): ServicePortSpec[] {
  const ports = o.spec.ports.map((p) => ({ ...p }));
  if (o.spec.type !== 'NodePort') return ports;
  // Asked-for ports first (one number may serve TCP and UDP of the same service), then the others get free ones.
  ports.forEach((p, i) => {
    if (p.nodePort !== undefined && taken.has(p.nodePort)) {
      throw new ValidationError(`spec.ports[${i}].nodePort`, `${p.nodePort}: provided port is already allocated`);
    }
  });
  for (const p of ports) if (p.nodePort !== undefined) taken.add(p.nodePort);
  for (const p of ports) {
    if (p.nodePort !== undefined) continue;
    const earlier = earlierNodePort(p, existing);
    p.nodePort = earlier !== undefined && !taken.has(earlier) ? earlier : allocateNodePort(taken, rand);
    taken.add(p.nodePort);
  }
  return ports;
}

/**
 * The allocated spec of every Service among `objects`, in their order.
 * Throws a MembraneError naming the document and field when an address
 * cannot be had.
 */
export function planServices(objects: LabObject[], state: LabState, rand: (n: number) => number = randomInt): Map<ServiceObject, AllocatedSpec> {
  const services = objects.filter((o): o is ServiceObject => o.kind === 'Service');
  const applied = new Set(services.map((o) => key(o.namespace, o.name)));
  const cidr = serviceCidr(state);
  // What the services outside this manifest hold; those in it are placed again below.
  const others = state.services.filter((s) => !applied.has(key(s.namespace, s.name)));
  const takenIPs = new Set(others.map((s) => s.spec.clusterIP).filter((ip) => ip !== HEADLESS));
  const takenPorts = new Set(others.flatMap((s) => s.spec.ports.map((p) => p.nodePort)).filter((p): p is number => p !== undefined));
  const existingOf = (o: ServiceObject) => state.services.find((s) => s.namespace === o.namespace && s.name === o.name);

  // Kept and asked-for addresses first, so one allocated at random never takes an address a later document asks for.
  for (const o of services) {
    const kept = existingOf(o)?.spec.clusterIP;
    if (kept !== undefined && kept !== HEADLESS) takenIPs.add(kept);
  }
  const ips = new Map<ServiceObject, string | undefined>();
  for (const o of services) {
    try {
      ips.set(o, clusterIPOf(o, existingOf(o), cidr, takenIPs));
    } catch (err) {
      fail(o, err);
    }
  }
  const out = new Map<ServiceObject, AllocatedSpec>();
  for (const o of services) {
    try {
      let clusterIP = ips.get(o);
      if (clusterIP === undefined) {
        clusterIP = allocateClusterIP(cidr, takenIPs, rand);
        takenIPs.add(clusterIP);
      }
      const spec = { ...o.spec, clusterIP, ports: nodePortsOf(o, existingOf(o), takenPorts, rand) };
      checkServiceForAgents({ namespace: o.namespace, name: o.name, labels: o.labels, spec });
      out.set(o, spec);
    } catch (err) {
      fail(o, err);
    }
  }
  return out;
}
