/**
 * The policy map a node's agent pinned, opened from outside the agent: for
 * tests and tools that write entries by hand, such as an L7 redirect
 * (`proxyPort`) before the agent allocates proxy ports itself. The agent
 * does not know about entries written this way: it neither removes them
 * nor reports them.
 */
import path from 'node:path';
import { policyEntry, policyKey } from './layout.js';
import { BpfMap } from './map.js';
import { type PolicyMapKey, type PolicyMapValue, encodePolicyKey, encodePolicyValue } from './policymap.js';

/** Entries of the policy map (bpf/lib/maps.h). */
const POLICY_MAX_ENTRIES = 1048576;

/** Opens `<pinDir>/policy` (a node's bpffs dir, e.g. TestNode.bpffsDir). The caller closes it. */
export function openPinnedPolicyMap(pinDir: string): BpfMap {
  return BpfMap.openPinned(path.join(pinDir, 'policy'), 'policy', policyKey.size, policyEntry.size, POLICY_MAX_ENTRIES);
}

/** Writes (or replaces) one entry of endpoint `epId`. */
export function writePolicyEntry(map: BpfMap, epId: number, key: PolicyMapKey, value: PolicyMapValue): void {
  map.update(encodePolicyKey(epId, key), encodePolicyValue(key, value));
}

/** Removes one entry of endpoint `epId`; a missing one is not an error. */
export function deletePolicyEntry(map: BpfMap, epId: number, key: PolicyMapKey): void {
  map.delete(encodePolicyKey(epId, key));
}
