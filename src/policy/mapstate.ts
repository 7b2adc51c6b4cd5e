/**
 * The model of an endpoint's policy map, which the C datapath mirrors: an LPM
 * trie per endpoint keyed by (peer identity, direction, then the 24-bit value
 * `protocol << 16 | port` of which only the first `prefixLen` bits count).
 * This module knows nothing of rules; resolve.ts fills a MapState and the
 * datapath layer writes the difference between desired and realized states.
 */
import type { HttpRule } from './types.js';

export const Proto = { ANY: 0, ICMP: 1, TCP: 6, UDP: 17, SCTP: 132 } as const;

/** Longest prefix: protocol (8 bits) and port (16 bits). */
export const FULL_PREFIX_LEN = 24;
/** Prefix that fixes the protocol and wildcards the port. */
export const PROTO_PREFIX_LEN = 8;

export interface PolicyKey {
  /** Peer security identity; 0 = any peer. */
  identity: number;
  egress: boolean;
  /** IP protocol number; 0 with prefixLen 0 = any. */
  protocol: number;
  /** Destination port; bits below the prefix are zero. */
  port: number;
  /** 0 = any protocol and port, 8 = this protocol any port, 24 = exactly this port, 9..23 = a block of ports. */
  prefixLen: number;
  /** The key space of audited policies' denies: consulted only for what the other entries allow. */
  audit?: boolean;
}

export interface PolicyEntry {
  deny: boolean;
  /** A deny of an audited policy: the datapath reports it (AUDIT) and lets the packet pass. */
  audit?: boolean;
  /** Non-zero: redirect to the L7 proxy listening on this port. */
  proxyPort: number;
  /** The rule that produced the entry (see PolicyRepository.describeCookie); 0 = no rule, e.g. the allow-all of a non-enforced direction. */
  cookie: number;
  /**
   * With a proxy port: what the proxy lets through. Not the kernel's: two
   * entries that differ only here are the same map entry.
   */
  l7?: L7Policy;
}

/** The L7 rules of a redirected entry: a request passes when any of them matches it. */
export interface L7Policy {
  http: readonly HttpRuleRef[];
}

/** An HTTP rule with the rule (cookie) it comes from, for the flows of its decisions. */
export interface HttpRuleRef {
  rule: HttpRule;
  cookie: number;
}

export interface MapStateItem {
  key: PolicyKey;
  entry: PolicyEntry;
}

/** The 24-bit value a key's prefix is taken from. */
export function l4Value(protocol: number, port: number): number {
  return ((protocol & 0xff) << 16) | (port & 0xffff);
}

function maskValue(value: number, prefixLen: number): number {
  if (prefixLen === 0) return 0;
  const mask = (0xffffff << (FULL_PREFIX_LEN - prefixLen)) & 0xffffff;
  return value & mask;
}

/**
 * Merges an allow entry into the allow entry a key already has (the first
 * rule keeps the key, and its cookie): an L3/L4 allow lets every request
 * through, so it replaces an L7 one; two L7 allows pass what either does.
 */
export function mergeAllows(have: PolicyEntry, next: PolicyEntry): PolicyEntry {
  if (!have.proxyPort) return have;
  if (!next.proxyPort) return next;
  return { ...have, l7: { http: [...(have.l7?.http ?? []), ...(next.l7?.http ?? [])] } };
}

/**
 * Builds a key with the bits below the prefix cleared. Throws RangeError on an
 * impossible key (prefix lengths 1..7 cut the protocol and are never used).
 */
export function policyKey(identity: number, egress: boolean, protocol = 0, port = 0, prefixLen = FULL_PREFIX_LEN, audit = false): PolicyKey {
  if (!Number.isInteger(identity) || identity < 0 || identity > 0xffffffff) throw new RangeError(`bad identity ${identity}`);
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > FULL_PREFIX_LEN || (prefixLen > 0 && prefixLen < PROTO_PREFIX_LEN)) {
    throw new RangeError(`bad prefix length ${prefixLen}: use 0, or 8..24`);
  }
  const v = maskValue(l4Value(protocol, port), prefixLen);
  return { identity, egress, protocol: v >> 16, port: v & 0xffff, prefixLen, ...(audit ? { audit: true } : {}) };
}

/** Canonical text of a key, e.g. `ingress/256/6/80/24`; equal keys give equal strings. */
export function policyKeyString(k: PolicyKey): string {
  return `${k.audit ? 'audit-' : ''}${k.egress ? 'egress' : 'ingress'}/${k.identity}/${k.protocol}/${k.port}/${k.prefixLen}`;
}

/** True when the block of `outer` contains the block of `inner` (same identity and direction). */
export function keyCovers(outer: PolicyKey, inner: PolicyKey): boolean {
  return outer.identity === inner.identity && outer.egress === inner.egress && outer.prefixLen <= inner.prefixLen &&
    maskValue(l4Value(inner.protocol, inner.port), outer.prefixLen) === l4Value(outer.protocol, outer.port);
}

/**
 * The minimal list of aligned port blocks covering `start..end` inclusive, as
 * `{port, prefixLen}` in key units (8 + the number of fixed port bits).
 * The whole range 0..65535 is one block with prefixLen 8.
 */
export function portRangeToPrefixes(start: number, end: number): { port: number; prefixLen: number }[] {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > 0xffff || start > end) {
    throw new RangeError(`bad port range ${start}-${end}`);
  }
  const out: { port: number; prefixLen: number }[] = [];
  let port = start;
  while (port <= end) {
    // The largest block aligned at `port` that does not pass `end`.
    let bits = 0;
    while (bits < 16 && port % 2 ** (bits + 1) === 0 && port + 2 ** (bits + 1) - 1 <= end) bits++;
    out.push({ port, prefixLen: PROTO_PREFIX_LEN + 16 - bits });
    port += 2 ** bits;
  }
  return out;
}

/** A set of policy map entries keyed by their canonical key string. */
export class MapState implements Iterable<MapStateItem> {
  private readonly items = new Map<string, MapStateItem>();

  constructor(items: Iterable<MapStateItem> = []) {
    for (const { key, entry } of items) this.set(key, entry);
  }

  get size(): number {
    return this.items.size;
  }

  get(key: PolicyKey): PolicyEntry | undefined {
    return this.items.get(policyKeyString(key))?.entry;
  }

  has(key: PolicyKey): boolean {
    return this.items.has(policyKeyString(key));
  }

  set(key: PolicyKey, entry: PolicyEntry): void {
    this.items.set(policyKeyString(key), { key: { ...key }, entry: { ...entry } });
  }

  delete(key: PolicyKey): boolean {
    return this.items.delete(policyKeyString(key));
  }

  [Symbol.iterator](): Iterator<MapStateItem> {
    return this.items.values();
  }

  /** All items sorted by direction, identity, protocol, port and prefix, for stable output. */
  sorted(): MapStateItem[] {
    return [...this.items.values()].sort((a, b) => compareKeys(a.key, b.key));
  }

  /**
   * Removes every allow entry whose block lies inside a deny entry's block of
   * the same identity and direction. Needed because the datapath's LPM lookup
   * returns the longest prefix of one identity: a narrower allow inside a
   * broader deny would otherwise win. Returns the removed keys.
   */
  pruneAllowsCoveredByDeny(): PolicyKey[] {
    const removed: PolicyKey[] = [];
    for (const { key, entry } of [...this.items.values()]) {
      if (entry.deny) continue;
      for (const len of [0, ...range(PROTO_PREFIX_LEN, key.prefixLen)]) {
        const outer = policyKey(key.identity, key.egress, key.protocol, key.port, len);
        if (this.get(outer)?.deny) {
          this.delete(key);
          removed.push(key);
          break;
        }
      }
    }
    return removed;
  }

  toJSON(): MapStateItem[] {
    return this.sorted();
  }
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

function compareKeys(a: PolicyKey, b: PolicyKey): number {
  return Number(a.egress) - Number(b.egress) || a.identity - b.identity || a.protocol - b.protocol ||
    a.port - b.port || a.prefixLen - b.prefixLen;
}

function sameEntry(a: PolicyEntry, b: PolicyEntry): boolean {
  return a.deny === b.deny && a.proxyPort === b.proxyPort && a.cookie === b.cookie;
}

export interface MapStateDiff {
  /** Entries to write: new keys and keys whose entry changed. Deny entries come first. */
  upserts: MapStateItem[];
  /** Keys to remove. Allow entries come first. */
  deletes: PolicyKey[];
}

/**
 * What to write to turn `realized` into `desired`. Apply the upserts, then the
 * deletes: the order lets new denies land before anything else and old allows
 * go before old denies, so that no packet is let through by a mix of old and
 * new state that neither would allow on its own.
 */
export function diffMapState(desired: MapState, realized: MapState): MapStateDiff {
  const upserts: MapStateItem[] = [];
  for (const item of desired.sorted()) {
    const have = realized.get(item.key);
    if (!have || !sameEntry(have, item.entry)) upserts.push(item);
  }
  const deletes = realized.sorted().filter((item) => !desired.has(item.key));
  upserts.sort((a, b) => Number(b.entry.deny) - Number(a.entry.deny));
  deletes.sort((a, b) => Number(a.entry.deny) - Number(b.entry.deny));
  return { upserts, deletes: deletes.map((d) => d.key) };
}
