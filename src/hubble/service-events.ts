/**
 * SERVICE_UPSERTED / SERVICE_DELETED agent events from the load-balancer
 * writes themselves: the service registry writes through a tapped
 * ServiceDatapath, which notes each frontend written or removed. A change
 * is announced only once it holds: `record` forgets what a failed change
 * wrote (the registry undid it), and `take` turns what a successful one
 * wrote into events, one per frontend as Cilium sends them. The cost is
 * that of the frontends written, never of all services.
 */
import type { K8sServiceModel } from '../api/types.js';
import type { ServiceDatapath } from '../service/datapath-port.js';
import type { LbFrontend } from '../service/lb-types.js';
import { type AgentEvent, serviceDeleted, serviceUpserted } from './agent-events.js';

/** membrane sends every frontend's traffic to all its backends: Kubernetes' `Cluster` traffic policy. */
const TRAFFIC_POLICY = 'Cluster';

export class LbWriteRecorder {
  private readonly upserted = new Map<number, LbFrontend>();
  private readonly deleted = new Set<number>();

  /** `dp`, noting every frontend written or removed through it. */
  tap(dp: ServiceDatapath): ServiceDatapath {
    return {
      syncService: (f) => {
        const stats = dp.syncService(f);
        this.upserted.set(f.id, f);
        this.deleted.delete(f.id);
        return stats;
      },
      deleteService: (id) => {
        dp.deleteService(id);
        this.upserted.delete(id);
        this.deleted.add(id);
      },
      realizedServices: () => dp.realizedServices(),
    };
  }

  /** Runs one service change from a clean slate; what a change that throws wrote is forgotten. */
  record<T>(change: () => T): T {
    this.clear();
    try {
      return change();
    } catch (err) {
      this.clear();
      throw err;
    }
  }

  /**
   * The events for what the last recorded change wrote, then forgets it:
   * frontends of service `namespace/name` (`svc` as it is now, to tell its
   * ClusterIP frontends from its NodePort ones), upserts first, by id.
   */
  take(namespace: string, name: string, svc?: Readonly<K8sServiceModel>): AgentEvent[] {
    const events = [...this.upserted.values()].sort((a, b) => a.id - b.id).map((f) => serviceUpserted({
      id: f.id,
      frontend_address: { ip: f.vip, port: f.port },
      backend_addresses: f.backends.map((b) => ({ ip: b.ip, port: b.port })),
      type: svc && f.vip !== svc.clusterIP ? 'NodePort' : 'ClusterIP',
      traffic_policy: TRAFFIC_POLICY,
      ext_traffic_policy: TRAFFIC_POLICY,
      int_traffic_policy: TRAFFIC_POLICY,
      name,
      namespace,
    }));
    for (const id of [...this.deleted].sort((a, b) => a - b)) events.push(serviceDeleted(id));
    this.clear();
    return events;
  }

  private clear(): void {
    this.upserted.clear();
    this.deleted.clear();
  }
}
