/**
 * Encoding of policy map entries: the policy engine's keys (peer identity,
 * direction, protocol/port prefix) for one endpoint, into the kernel's LPM
 * key and value (bpf/lib/layout.h struct policy_key / policy_entry).
 */
import { POLICY_FIXED_BITS, POLICY_F_AUDIT, POLICY_F_DENY, POLICY_KEY_AUDIT, policyEntry, policyKey } from './layout.js';

/** The datapath's view of one policy map entry (mirrors src/policy/mapstate.ts PolicyKey/PolicyEntry). */
export interface PolicyMapKey {
  identity: number;
  egress: boolean;
  protocol: number;
  port: number;
  /** Significant bits of (protocol << 16 | port): 0..24. */
  prefixLen: number;
  /** In the key space of audited denies (looked up only for packets the other entries allow). */
  audit?: boolean;
}

export interface PolicyMapValue {
  deny: boolean;
  /** A deny of an audited policy: reported as AUDIT, not dropped. */
  audit?: boolean;
  proxyPort: number;
  cookie: number;
}

export function encodePolicyKey(epId: number, k: PolicyMapKey): Buffer {
  const mask = k.prefixLen === 0 ? 0 : (0xffffff << (24 - k.prefixLen)) & 0xffffff;
  const v = ((k.protocol << 16) | k.port) & mask;
  return policyKey.encode({
    prefixlen: POLICY_FIXED_BITS + k.prefixLen,
    identity: k.identity,
    epId,
    egress: (k.egress ? 1 : 0) | (k.audit ? POLICY_KEY_AUDIT : 0),
    protocol: v >>> 16,
    dport: v & 0xffff,
  });
}

export function decodePolicyKey(buf: Buffer): { epId: number; key: PolicyMapKey } {
  const r = policyKey.decode(buf);
  return {
    epId: r.epId,
    key: {
      identity: r.identity, egress: (r.egress & 1) === 1, protocol: r.protocol, port: r.dport, prefixLen: r.prefixlen - POLICY_FIXED_BITS,
      ...(r.egress & POLICY_KEY_AUDIT ? { audit: true } : {}),
    },
  };
}

export function encodePolicyValue(k: PolicyMapKey, v: PolicyMapValue): Buffer {
  const flags = (v.deny ? POLICY_F_DENY : 0) | (v.deny && v.audit ? POLICY_F_AUDIT : 0);
  return policyEntry.encode({ proxyPort: v.proxyPort, flags, prefixLen: k.prefixLen, cookie: v.cookie });
}

export function decodePolicyValue(buf: Buffer): PolicyMapValue {
  const r = policyEntry.decode(buf);
  const deny = (r.flags & POLICY_F_DENY) !== 0;
  return { deny, ...(deny && r.flags & POLICY_F_AUDIT ? { audit: true } : {}), proxyPort: r.proxyPort, cookie: r.cookie };
}
