import type { K8sServiceModel, ServiceBackendModel, ServicePortModel } from '../api/types.js';
import { backendPortProblem } from '../service/validate.js';
import { HEADLESS, type ServicePortSpec } from './manifest-service.js';
import { parseIPv4 } from './service-ip.js';
import type { EndpointSliceRecord, PodRecord, ServiceRecord } from './state.js';

/**
 * A Service's backends, as Kubernetes' EndpointSlice controller and a
 * service proxy together decide them: the ready pods its selector picks in
 * its namespace, each port's targetPort resolved per pod, plus the endpoints
 * of the EndpointSlices labelled with its name. Pure: readiness and which
 * pods are being deleted are given.
 */

export interface BackendInputs {
  pods: readonly PodRecord[];
  slices: readonly EndpointSliceRecord[];
  /** Whether the pod is ready (running, and listening when its workload has a port). */
  isReady(pod: PodRecord): boolean;
  /** Pods being deleted ("ns/name"): still backends for what they serve, but terminating. */
  terminating?: ReadonlySet<string>;
}

export function podKey(pod: { namespace: string; name: string }): string {
  return `${pod.namespace}/${pod.name}`;
}

/** Whether `labels` hold every key=value of `selector` (a non-empty one). */
export function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/**
 * The pod's port for a service port: a number as it is, a name through the
 * pod's container port of that name and protocol (undefined when it has none,
 * as Kubernetes leaves such a pod out of that port).
 */
export function resolveTargetPort(port: ServicePortSpec, pod: Pick<PodRecord, 'containerPorts'>): number | undefined {
  if (typeof port.targetPort === 'number') return port.targetPort;
  return pod.containerPorts.find((c) => c.name === port.targetPort && c.protocol === port.protocol)?.containerPort;
}

/**
 * Whether the agents take a backend of service port `port` on `backendPort`
 * (their rule, validate.ts: an SCTP backend must use the service port). A
 * backend they would refuse is left out of that port, as a pod without the
 * named port is, so one pod can never make the agents refuse its service.
 */
function servable(svc: ServiceRecord, port: Pick<ServicePortSpec, 'port' | 'protocol'>, backendPort: number): boolean {
  // A headless service never reaches the agents: DNS names every backend port as it is.
  return svc.spec.clusterIP === HEADLESS || backendPortProblem(port, backendPort) === undefined;
}

function podBackend(svc: ServiceRecord, pod: PodRecord, terminating: boolean): ServiceBackendModel | undefined {
  const ports: Record<string, number> = {};
  for (const p of svc.spec.ports) {
    const target = resolveTargetPort(p, pod);
    if (target !== undefined && servable(svc, p, target)) ports[p.name] = target;
  }
  if (Object.keys(ports).length === 0 && svc.spec.ports.length > 0) return undefined;
  const backend: ServiceBackendModel = { ip: pod.ip, ports, pod: { namespace: pod.namespace, name: pod.name } };
  if (terminating) backend.terminating = true;
  return backend;
}

function sliceBackends(svc: ServiceRecord, slice: EndpointSliceRecord): ServiceBackendModel[] {
  const ports: Record<string, number> = {};
  for (const sp of slice.slice.ports) {
    if (svc.spec.ports.some((p) => p.name === sp.name && p.protocol === sp.protocol && servable(svc, p, sp.port))) ports[sp.name] = sp.port;
  }
  // A slice without a port of the service's gives it nothing to balance to.
  if (Object.keys(ports).length === 0 && svc.spec.ports.length > 0) return [];
  const out: ServiceBackendModel[] = [];
  for (const e of slice.slice.endpoints) {
    // Ready: takes new connections. Not ready but serving while terminating: keeps its own, as Cilium does. Otherwise: none.
    const terminating = !e.ready;
    if (terminating && !(e.serving && e.terminating)) continue;
    for (const ip of e.addresses) {
      const backend: ServiceBackendModel = { ip, ports: { ...ports } };
      if (terminating) backend.terminating = true;
      if (e.pod) backend.pod = { ...e.pod };
      out.push(backend);
    }
  }
  return out;
}

function byIp(a: ServiceBackendModel, b: ServiceBackendModel): number {
  return (parseIPv4(a.ip) ?? 0) - (parseIPv4(b.ip) ?? 0);
}

/**
 * The service's backends, one per address, sorted by address. An address
 * both a selected pod and a slice give is the pod's; the same address in two
 * slices has the ports of both, and is terminating only when both say so.
 */
export function serviceBackends(svc: ServiceRecord, inputs: BackendInputs): ServiceBackendModel[] {
  const byAddress = new Map<string, ServiceBackendModel>();
  for (const slice of inputs.slices) {
    if (slice.namespace !== svc.namespace || slice.slice.serviceName !== svc.name) continue;
    for (const b of sliceBackends(svc, slice)) {
      const seen = byAddress.get(b.ip);
      if (!seen) {
        byAddress.set(b.ip, b);
        continue;
      }
      seen.ports = { ...b.ports, ...seen.ports };
      if (!b.terminating) delete seen.terminating;
      if (!seen.pod && b.pod) seen.pod = b.pod;
    }
  }
  for (const pod of inputs.pods) {
    if (pod.namespace !== svc.namespace || !selects(svc.spec.selector, pod.labels) || !inputs.isReady(pod)) continue;
    const b = podBackend(svc, pod, inputs.terminating?.has(podKey(pod)) ?? false);
    if (b) byAddress.set(b.ip, b);
  }
  return [...byAddress.values()].sort(byIp);
}

function portModel(p: ServicePortSpec): ServicePortModel {
  const m: ServicePortModel = { name: p.name, port: p.port, protocol: p.protocol };
  if (p.nodePort !== undefined) m.nodePort = p.nodePort;
  return m;
}

/** What the agents are given for the service; undefined for a headless one (DNS only, not load-balanced). */
export function serviceModel(svc: ServiceRecord, inputs: BackendInputs): K8sServiceModel | undefined {
  if (svc.spec.clusterIP === HEADLESS) return undefined;
  return serviceModelWith(svc, serviceBackends(svc, inputs));
}

/** The model of a (not headless) service with the given backends; the lab checks it with the agents' rules before applying it. */
export function serviceModelWith(svc: Pick<ServiceRecord, 'namespace' | 'name' | 'labels' | 'spec'>, backends: ServiceBackendModel[]): K8sServiceModel {
  const model: K8sServiceModel = {
    namespace: svc.namespace,
    name: svc.name,
    type: svc.spec.type,
    clusterIP: svc.spec.clusterIP,
    ports: svc.spec.ports.map(portModel),
    algorithm: svc.spec.algorithm,
    labels: { ...svc.labels },
    backends,
  };
  if (svc.spec.affinityTimeoutSeconds > 0) model.sessionAffinityTimeoutSeconds = svc.spec.affinityTimeoutSeconds;
  if (svc.spec.selector && Object.keys(svc.spec.selector).length > 0) model.selector = { ...svc.spec.selector };
  return model;
}
