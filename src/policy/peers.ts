/**
 * Which peer identities a rule's L3 part selects: the wildcard (identity 0 in
 * the policy map, "any peer") or a list of known identities.
 *
 * CIDR peers select CIDR identities by prefix containment, minus excepts. As
 * in Cilium, pods never match them: a pod's IP resolves to the pod's own
 * identity. A Kubernetes `ipBlock` (a CIDR peer with `matchesPods`) also
 * matches pods whose IP is in the block, as Kubernetes defines it. The policy
 * map is keyed by identity, not by IP, so this is approximated: a pod
 * identity is selected when it has local pods and every one of their IPs is
 * in one of the peer's blocks and outside that block's excepts. An identity
 * with pods both inside and outside the blocks is not selected (allowing less
 * than written, never more); pods the caller does not list (e.g. on other
 * nodes) and the host are never matched by IP.
 */
import { LabelSource } from '../labels/labels.js';
import { cidrContains, cidrOfLabelKey, parseCidr, type Cidr } from './cidr.js';
import { entitySelects, type IdentityLike } from './entities.js';
import type { CidrRule, PeerSpec } from './types.js';

export interface PeerIdentities {
  /** Any peer at all, including identities not known yet. */
  wildcard: boolean;
  /** Known identities selected, ascending; never 0. */
  ids: number[];
}

function cidrRuleSelects(rule: CidrRule, identity: IdentityLike): boolean {
  // CIDR groups are not resolved yet: they select nothing.
  const outer = rule.cidr === undefined ? undefined : parseCidr(rule.cidr);
  if (!outer) return false;
  const prefixes = [...identity.labels].filter((l) => l.source === LabelSource.Cidr).map((l) => cidrOfLabelKey(l.key));
  // A /0 covers everything outside the cluster, which is what the plain `world` identity stands for.
  if (prefixes.length === 0) return outer.prefixLen === 0 && identity.labels.has('world', LabelSource.Reserved);
  const excepts = rule.except.map((e) => parseCidr(e)!);
  return prefixes.some((prefix) => prefix !== undefined && cidrContains(outer, prefix) && !excepts.some((e) => cidrContains(e, prefix)));
}

function cidrRuleHoldsAddress(rule: CidrRule, address: Cidr): boolean {
  const outer = rule.cidr === undefined ? undefined : parseCidr(rule.cidr);
  return outer !== undefined && cidrContains(outer, address) && !rule.except.some((e) => cidrContains(parseCidr(e)!, address));
}

/** Kubernetes ipBlock semantics: every IP of the identity's pods is in one of the blocks. */
function blocksHoldPods(rules: readonly CidrRule[], ips: readonly string[] | undefined): boolean {
  if (!ips || ips.length === 0) return false;
  return ips.every((ip) => {
    const address = parseCidr(ip);
    return address !== undefined && rules.some((r) => cidrRuleHoldsAddress(r, address));
  });
}

/** Pod IPs by identity: the IPs of the pods that have each identity. */
export type PodIpsByIdentity = ReadonlyMap<number, readonly string[]>;

/** Whether `peer` stands for any peer at all (identity 0 in the policy map), including identities not known yet. */
export function peerIsWildcard(peer: PeerSpec | undefined): boolean {
  if (!peer) return true;
  if (peer.kind === 'endpoints') return peer.selectors.some((s) => s.selectsAll);
  if (peer.kind === 'entities') return peer.entities.includes('all');
  return false;
}

/**
 * Whether `peer` selects one known identity (never identity 0, the wildcard).
 * `podIps` serves ipBlock peers (see above); without it they select no pod.
 */
export function peerSelects(peer: PeerSpec, identity: IdentityLike, clusterName?: string, podIps?: PodIpsByIdentity): boolean {
  if (identity.id === 0) return false;
  switch (peer.kind) {
    case 'endpoints':
      return peer.selectors.some((s) => s.matches(identity.labels));
    case 'entities':
      return peer.entities.some((e) => entitySelects(e, identity, clusterName));
    case 'cidr':
      return peer.cidrs.some((c) => cidrRuleSelects(c, identity)) ||
        (peer.matchesPods === true && blocksHoldPods(peer.cidrs, podIps?.get(identity.id)));
  }
}

/** Whether what `peer` selects can change with the pod IPs of an identity (ipBlock peers). */
export const peerDependsOnPodIps = (peer: PeerSpec): boolean => peer.kind === 'cidr' && peer.matchesPods === true;

/**
 * The identities `peer` selects among `identities` (identity 0 is skipped: it
 * is the wildcard, not a peer). No peer given means any peer.
 */
export function peerIdentities(
  peer: PeerSpec | undefined, identities: readonly IdentityLike[], clusterName?: string, podIps?: PodIpsByIdentity,
): PeerIdentities {
  const ids = peer ? identities.filter((i) => peerSelects(peer, i, clusterName, podIps)).map((i) => i.id) : [];
  return { wildcard: peerIsWildcard(peer), ids: [...new Set(ids)].sort((a, b) => a - b) };
}

/** Stable text of a peer, equal for peers that select the same identities: the selector cache's key. */
export function peerKey(peer: PeerSpec | undefined): string {
  if (!peer) return '*';
  switch (peer.kind) {
    case 'endpoints':
      return `endpoints:${peer.selectors.map(String).sort().join('|')}`;
    case 'entities':
      return `entities:${[...peer.entities].sort().join(',')}`;
    case 'cidr':
      return `cidr${peer.matchesPods ? '+pods' : ''}:${peer.cidrs.map((c) => `${c.cidr ?? `group=${c.cidrGroupRef ?? String(c.cidrGroupSelector)}`}-${[...c.except].sort().join('-')}`).sort().join('|')}`;
  }
}
