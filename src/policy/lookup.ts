/**
 * The reference implementation of the datapath's policy lookup. The C code
 * implements the same steps; its tests compare against this function.
 *
 * Precedence, numbered as the C code comments them:
 *  1. Lookup 1: longest prefix match with the peer's identity. A deny stops here (drop 181).
 *  2. Lookup 2: longest prefix match with identity 0 (any peer). It wins when it
 *     is a deny, when lookup 1 found nothing, or when its prefix is longer.
 *  3. Otherwise lookup 1's entry wins.
 *  4. Nothing found: default deny (drop 133).
 */
import { FULL_PREFIX_LEN, PROTO_PREFIX_LEN, policyKey, type MapState, type PolicyEntry, type PolicyKey } from './mapstate.js';

/** How the winning entry matched, as the datapath reports it in policy verdicts. */
export const MatchType = { NONE: 0, L3_ONLY: 1, L3_L4: 2, L4_ONLY: 3, ALL: 4, L3_PROTO: 5, PROTO_ONLY: 6 } as const;
export type MatchTypeValue = (typeof MatchType)[keyof typeof MatchType];

/** Display names as Hubble and the monitor print them. */
export const MATCH_TYPE_NAMES: Readonly<Record<MatchTypeValue, string>> = {
  0: 'none', 1: 'L3-Only', 2: 'L3-L4', 3: 'L4-Only', 4: 'all', 5: 'L3-Proto', 6: 'Proto-Only',
};

/** Drop reasons of a policy verdict (§9). */
export const DROP_POLICY = 133;
export const DROP_POLICY_DENY = 181;

export interface PolicyVerdict {
  verdict: 'allow' | 'deny' | 'default-deny';
  /** 181 for an explicit deny, 133 for default deny. */
  dropReason?: typeof DROP_POLICY | typeof DROP_POLICY_DENY;
  /** The winning entry and its key; absent for default deny. */
  entry?: PolicyEntry;
  key?: PolicyKey;
  matchType: MatchTypeValue;
}

/** The longest-prefix entry for one identity, as the kernel's LPM trie returns it. */
export function lpmLookup(state: MapState, identity: number, egress: boolean, protocol: number, port: number, audit = false):
  { key: PolicyKey; entry: PolicyEntry } | undefined {
  for (let len = FULL_PREFIX_LEN; len >= 0; len--) {
    if (len > 0 && len < PROTO_PREFIX_LEN) continue;
    const key = policyKey(identity, egress, protocol, port, len, audit);
    const entry = state.get(key);
    if (entry) return { key, entry };
  }
  return undefined;
}

export function matchTypeOf(key: PolicyKey): MatchTypeValue {
  const l3 = key.identity !== 0;
  if (key.prefixLen === 0) return l3 ? MatchType.L3_ONLY : MatchType.ALL;
  if (key.prefixLen === PROTO_PREFIX_LEN) return l3 ? MatchType.L3_PROTO : MatchType.PROTO_ONLY;
  return l3 ? MatchType.L3_L4 : MatchType.L4_ONLY;
}

/** The verdict for a packet from/to peer `identity` (egress: the endpoint sends). */
export function lookupPolicy(state: MapState, identity: number, egress: boolean, protocol: number, port: number, auditDefaultDeny = false): PolicyVerdict {
  const l3 = lpmLookup(state, identity, egress, protocol, port);
  if (l3?.entry.deny) return verdictOf(l3);
  const l4 = identity === 0 ? undefined : lpmLookup(state, 0, egress, protocol, port);
  const winner = l4 && (l4.entry.deny || !l3 || l4.key.prefixLen > l3.key.prefixLen) ? l4 : l3;
  const verdict: PolicyVerdict = winner ? verdictOf(winner) : { verdict: 'default-deny', dropReason: DROP_POLICY, matchType: MatchType.NONE };
  // What passes anyway (allowed, or denied only by an audited default deny) an audited policy's deny may still report, as the datapath does.
  if (verdict.verdict !== 'allow' && !(verdict.verdict === 'default-deny' && auditDefaultDeny)) return verdict;
  const audited = (identity === 0 ? undefined : lpmLookup(state, identity, egress, protocol, port, true)) ?? lpmLookup(state, 0, egress, protocol, port, true);
  return audited ? verdictOf(audited) : verdict;
}

function verdictOf(hit: { key: PolicyKey; entry: PolicyEntry }): PolicyVerdict {
  const base = { entry: hit.entry, key: hit.key, matchType: matchTypeOf(hit.key) };
  return hit.entry.deny ? { verdict: 'deny', dropReason: DROP_POLICY_DENY, ...base } : { verdict: 'allow', ...base };
}
