/**
 * Reserved security identities 0..8 with their `reserved:` labels (§4.1), and
 * the numeric range of identities allocated from labels. The numbers are the
 * ones Cilium uses, so flows and map dumps read the same.
 */
import { LabelSet, LabelSource, type Label } from '../labels/labels.js';

export const ReservedIdentity = {
  Unknown: 0,
  Host: 1,
  World: 2,
  Unmanaged: 3,
  Health: 4,
  Init: 5,
  RemoteNode: 6,
  KubeApiserver: 7,
  Ingress: 8,
} as const;
export type ReservedIdentityId = (typeof ReservedIdentity)[keyof typeof ReservedIdentity];

/** First and last identity the allocator hands out (cluster 0 of Cilium's global range). */
export const MIN_ALLOCATED_IDENTITY = 256;
export const MAX_ALLOCATED_IDENTITY = 65535;

export interface ReservedIdentityInfo {
  readonly id: ReservedIdentityId;
  /** The name in `reserved:<name>` and in `fromEntities`-style lookups: `host`, `world`, ... */
  readonly name: string;
  readonly labels: LabelSet;
}

const reserved = (id: ReservedIdentityId, name: string): ReservedIdentityInfo =>
  Object.freeze({ id, name, labels: LabelSet.of([{ source: LabelSource.Reserved, key: name, value: '' }]) });

/** All reserved identities, by id. `unknown` (0) is never used for policy: as a map key 0 means "any peer". */
export const RESERVED_IDENTITIES: readonly ReservedIdentityInfo[] = Object.freeze([
  reserved(ReservedIdentity.Unknown, 'unknown'),
  reserved(ReservedIdentity.Host, 'host'),
  reserved(ReservedIdentity.World, 'world'),
  reserved(ReservedIdentity.Unmanaged, 'unmanaged'),
  reserved(ReservedIdentity.Health, 'health'),
  reserved(ReservedIdentity.Init, 'init'),
  reserved(ReservedIdentity.RemoteNode, 'remote-node'),
  reserved(ReservedIdentity.KubeApiserver, 'kube-apiserver'),
  reserved(ReservedIdentity.Ingress, 'ingress'),
]);

export function reservedIdentityById(id: number): ReservedIdentityInfo | undefined {
  return RESERVED_IDENTITIES.find((r) => r.id === id);
}

export function reservedIdentityByName(name: string): ReservedIdentityInfo | undefined {
  return RESERVED_IDENTITIES.find((r) => r.name === name);
}

export function isReservedIdentity(id: number): boolean {
  return id >= 0 && id < MIN_ALLOCATED_IDENTITY;
}

function isReservedLabel(l: Label): boolean {
  return l.source === LabelSource.Reserved;
}

/**
 * The reserved identity a label set stands for, as Cilium decides it: any set
 * with `reserved:host` is the host (the host may also carry
 * `reserved:kube-apiserver`); a set of exactly one reserved label is that
 * identity; an empty set is `init` (labels not known yet). Otherwise undefined.
 */
export function reservedIdentityForLabels(labels: LabelSet): ReservedIdentityInfo | undefined {
  if (labels.size === 0) return reservedIdentityById(ReservedIdentity.Init);
  if (labels.has('host', LabelSource.Reserved)) return reservedIdentityById(ReservedIdentity.Host);
  const [only] = labels;
  if (labels.size === 1 && only && isReservedLabel(only)) return reservedIdentityByName(only.key);
  return undefined;
}
