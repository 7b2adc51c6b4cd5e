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

/**
 * The identities `peer` selects among `identities` (identity 0 is skipped: it
 * is the wildcard, not a peer). No peer given means any peer. `podIps` serves
 * ipBlock peers (see above); without it they select no pod.
 */
export function peerIdentities(
  peer: PeerSpec | undefined, identities: readonly IdentityLike[], clusterName?: string, podIps?: PodIpsByIdentity,
): PeerIdentities {
  const known = identities.filter((i) => i.id !== 0);
  const pick = (selects: (i: IdentityLike) => boolean): number[] => known.filter(selects).map((i) => i.id);
  let wildcard = false;
  let ids: number[] = [];
  if (!peer) {
    wildcard = true;
  } else if (peer.kind === 'endpoints') {
    wildcard = peer.selectors.some((s) => s.selectsAll);
    ids = pick((i) => peer.selectors.some((s) => s.matches(i.labels)));
  } else if (peer.kind === 'entities') {
    wildcard = peer.entities.includes('all');
    ids = pick((i) => peer.entities.some((e) => entitySelects(e, i, clusterName)));
  } else {
    ids = pick((i) => peer.cidrs.some((c) => cidrRuleSelects(c, i)) || (peer.matchesPods === true && blocksHoldPods(peer.cidrs, podIps?.get(i.id))));
  }
  return { wildcard, ids: [...new Set(ids)].sort((a, b) => a - b) };
}
