/**
 * Endpoints: a pod's attachment as the agent knows it. This file holds the
 * persisted record and the endpoint id allocator; the lifecycle (create,
 * regenerate, delete, restore) is driven by the agent.
 */
import { MembraneError } from '../common/errors.js';
import type { EndpointModel, EndpointState, PolicyRef } from '../api/types.js';

/** What the agent persists of an endpoint: the CNI attachment as the plugin reported it. */
export type EndpointRecord = Pick<EndpointModel,
  'id' | 'containerId' | 'ifName' | 'netns' | 'hostIfName' | 'hostIfIndex' | 'hostMac' | 'containerMac' | 'ipv4' | 'podNamespace' | 'podName'> & {
  /** Labels given by the runtime (CNI args) for pods no orchestrator knows. */
  runtimeLabels?: Record<string, string>;
  createdAt: string;
};

/** Runtime (not persisted) state of an endpoint. */
export interface EndpointStatus {
  identity: number;
  labels: string[];
  state: EndpointState;
  ingressEnforcing: boolean;
  egressEnforcing: boolean;
  policyRevision: number;
  mapEntries: number;
  /** Policies that put the endpoint into default deny (drop attribution). */
  defaultDenyBy: { ingress: PolicyRef[]; egress: PolicyRef[] };
}

export function attachmentKey(containerId: string, ifName: string): string {
  return `${containerId}:${ifName}`;
}

export function toModel(r: EndpointRecord, s: EndpointStatus): EndpointModel {
  const { runtimeLabels: _labels, createdAt: _created, ...attachment } = r;
  return {
    ...attachment,
    identity: s.identity,
    labels: s.labels,
    state: s.state,
    policy: { ingressEnforcing: s.ingressEnforcing, egressEnforcing: s.egressEnforcing, revision: s.policyRevision, mapEntries: s.mapEntries },
  };
}

/** Endpoint ids 1..65535 (they key the datapath's u16 fields), lowest free first. */
export class EndpointIdAllocator {
  private readonly used = new Set<number>();

  take(id: number): void {
    this.used.add(id);
  }

  allocate(): number {
    for (let id = 1; id <= 0xffff; id++) {
      if (!this.used.has(id)) {
        this.used.add(id);
        return id;
      }
    }
    throw new MembraneError('EEXHAUSTED', 'no free endpoint id left (65535 endpoints on this node)');
  }

  release(id: number): void {
    this.used.delete(id);
  }
}
