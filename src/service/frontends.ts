/**
 * A service's load-balancer frontends, as Cilium derives them: one per
 * (clusterIP, port, protocol), and for a NodePort service also one per
 * (node IP, nodePort, protocol). Each frontend's backends are the service's
 * backends that have a port for that service port name. Pure.
 */
import type { K8sServiceModel, L4Protocol, ServicePortModel } from '../api/types.js';
import { ip4ToInt } from '../datapath/layout.js';
import type { LbBackend, LbFrontend } from './lb-types.js';

export const PROTOCOL_NUMBER: Record<L4Protocol, number> = { TCP: 6, UDP: 17, SCTP: 132 };
export const PROTOCOL_NAME: Record<number, L4Protocol> = { 6: 'TCP', 17: 'UDP', 132: 'SCTP' };

/** Kubernetes' default for sessionAffinityConfig.clientIP.timeoutSeconds. */
export const DEFAULT_AFFINITY_SECONDS = 10800;

/** A frontend's identity: what its id is allocated for. `10.96.0.12:80/TCP`. */
export function frontendKey(ip: string, port: number, protocol: L4Protocol): string {
  return `${ip}:${port}/${protocol}`;
}

export interface BackendInfo extends LbBackend {
  pod?: { namespace: string; name: string };
}

/** One frontend a service wants, before it has an id. */
export interface DesiredFrontend {
  key: string;
  type: 'ClusterIP' | 'NodePort';
  portName: string;
  ip: string;
  port: number;
  protocol: L4Protocol;
  algorithm: 'random' | 'maglev';
  affinityTimeoutSec: number;
  /** Sorted by address, then port, so equal sets compare equal. */
  backends: BackendInfo[];
}

export function compareBackends(a: LbBackend, b: LbBackend): number {
  return ip4ToInt(a.ip) - ip4ToInt(b.ip) || a.port - b.port;
}

function backendsFor(svc: K8sServiceModel, p: ServicePortModel): BackendInfo[] {
  const out: BackendInfo[] = [];
  for (const b of svc.backends) {
    const port = b.ports[p.name];
    if (port === undefined) continue;
    out.push({ ip: b.ip, port, state: b.terminating ? 'terminating' : 'active', ...(b.pod ? { pod: { ...b.pod } } : {}) });
  }
  return out.sort(compareBackends);
}

/** The frontends of a (validated) service; `nodeIps` are this node's addresses for NodePort frontends. */
export function desiredFrontends(svc: K8sServiceModel, nodeIps: readonly string[]): DesiredFrontend[] {
  const common = {
    algorithm: svc.algorithm ?? 'random',
    affinityTimeoutSec: svc.sessionAffinityTimeoutSeconds ?? 0,
  } as const;
  const out: DesiredFrontend[] = [];
  for (const p of svc.ports) {
    const backends = backendsFor(svc, p);
    out.push({ key: frontendKey(svc.clusterIP, p.port, p.protocol), type: 'ClusterIP', portName: p.name, ip: svc.clusterIP, port: p.port, protocol: p.protocol, ...common, backends });
    if (svc.type === 'NodePort' && p.nodePort !== undefined) {
      for (const ip of nodeIps) {
        out.push({ key: frontendKey(ip, p.nodePort, p.protocol), type: 'NodePort', portName: p.name, ip, port: p.nodePort, protocol: p.protocol, ...common, backends });
      }
    }
  }
  return out;
}

/** The datapath's view of a desired frontend. */
export function toLbFrontend(id: number, f: DesiredFrontend): LbFrontend {
  return {
    id, vip: f.ip, port: f.port, protocol: PROTOCOL_NUMBER[f.protocol], algorithm: f.algorithm, affinityTimeoutSec: f.affinityTimeoutSec,
    backends: f.backends.map((b) => ({ ip: b.ip, port: b.port, state: b.state })),
  };
}

/** Whether the kernel's frontend is the one wanted (backend order and ids aside). */
export function sameFrontend(a: LbFrontend, b: LbFrontend): boolean {
  if (a.id !== b.id || a.vip !== b.vip || a.port !== b.port || a.protocol !== b.protocol || a.algorithm !== b.algorithm ||
    a.affinityTimeoutSec !== b.affinityTimeoutSec || a.backends.length !== b.backends.length) return false;
  const x = [...a.backends].sort(compareBackends);
  const y = [...b.backends].sort(compareBackends);
  return x.every((bx, i) => bx.ip === y[i]!.ip && bx.port === y[i]!.port && bx.state === y[i]!.state);
}
