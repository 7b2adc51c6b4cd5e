/**
 * Which peer identities a rule's L3 part selects: the wildcard (identity 0 in
 * the policy map, "any peer") or a list of known identities.
 */
import { LabelSource } from '../labels/labels.js';
import { cidrContains, cidrOfLabelKey, parseCidr } from './cidr.js';
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

/**
 * The identities `peer` selects among `identities` (identity 0 is skipped: it
 * is the wildcard, not a peer). No peer given means any peer.
 */
export function peerIdentities(peer: PeerSpec | undefined, identities: readonly IdentityLike[], clusterName?: string): PeerIdentities {
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
    ids = pick((i) => peer.cidrs.some((c) => cidrRuleSelects(c, i)));
  }
  return { wildcard, ids: [...new Set(ids)].sort((a, b) => a - b) };
}
