/**
 * Policy entities (`fromEntities`/`toEntities`) and the identities each one
 * selects. Entities are matched on identity labels, as Cilium does, so that
 * identities added later (CIDR identities carry `reserved:world`) are covered
 * without changes here. `all` is not a label match: it is the wildcard peer,
 * identity 0 in the policy map.
 */
import { CLUSTER_LABEL } from '../labels/k8s.js';
import { LabelSource, type LabelSet } from '../labels/labels.js';
import { MIN_ALLOCATED_IDENTITY } from '../identity/reserved.js';

export const ENTITIES = [
  'all', 'world', 'world-ipv4', 'world-ipv6', 'cluster', 'host', 'remote-node', 'kube-apiserver',
  'ingress', 'init', 'health', 'unmanaged', 'none',
] as const;
export type Entity = (typeof ENTITIES)[number];

export function isEntity(name: string): name is Entity {
  return (ENTITIES as readonly string[]).includes(name);
}

/** Reserved identities that are part of the `cluster` entity besides the endpoints. */
const CLUSTER_RESERVED = ['host', 'remote-node', 'init', 'ingress', 'health', 'unmanaged', 'kube-apiserver'];

/** Largest id of identities allocated for endpoints (above it are node-local CIDR identities). */
const MAX_ENDPOINT_IDENTITY = (1 << 24) - 1;

export interface IdentityLike {
  id: number;
  labels: LabelSet;
}

/**
 * Whether `entity` selects `identity`. `clusterName`, when given, limits the
 * endpoints of the `cluster` entity to those whose cluster label is absent or
 * equal to it. `all` returns false here: callers map it to identity 0.
 */
export function entitySelects(entity: Entity, identity: IdentityLike, clusterName?: string): boolean {
  const reserved = (name: string) => identity.labels.has(name, LabelSource.Reserved);
  switch (entity) {
    case 'all':
    case 'none':
      return false;
    case 'world':
    case 'world-ipv4':
    case 'world-ipv6':
      return reserved('world');
    case 'cluster': {
      if (CLUSTER_RESERVED.some(reserved)) return true;
      if (identity.id < MIN_ALLOCATED_IDENTITY || identity.id > MAX_ENDPOINT_IDENTITY) return false;
      const cluster = identity.labels.get(CLUSTER_LABEL, LabelSource.K8s)?.value;
      return clusterName === undefined || cluster === undefined || cluster === clusterName;
    }
    default:
      return reserved(entity);
  }
}
