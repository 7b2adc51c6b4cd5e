/**
 * IPv4/IPv6 CIDR parsing, normalization and containment for the CIDR peers of
 * policies (`fromCIDR`, `toCIDRSet`, ...), and reading the `cidr:` labels of
 * CIDR identities, where IPv6 colons are written as dashes as Cilium does.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface Cidr {
  family: 4 | 6;
  /** The address with host bits cleared. */
  address: bigint;
  prefixLen: number;
}

function parseIPv4(text: string): bigint {
  return text.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function parseIPv6(text: string): bigint {
  let t = text;
  const tail: string[] = [];
  const v4 = t.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (v4) {
    const n = parseIPv4(v4[1]!);
    tail.push(((n >> 16n) & 0xffffn).toString(16), (n & 0xffffn).toString(16));
    t = t.slice(0, -v4[1]!.length) + 'x';
  }
  const [headText, restText] = t.includes('::') ? t.split('::') as [string, string] : [t, undefined];
  const split = (s: string) => (s === '' ? [] : s.split(':'));
  const head = split(headText).filter((g) => g !== 'x');
  const rest = restText === undefined ? [] : split(restText).filter((g) => g !== 'x');
  const given = head.length + rest.length + tail.length;
  const groups = restText === undefined ? [...head, ...tail] : [...head, ...Array(8 - given).fill('0'), ...rest, ...tail];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** Parses `a.b.c.d/n`, an IPv6 CIDR, or a bare address (taken as /32 or /128). Returns undefined when invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const addr = slash >= 0 ? text.slice(0, slash) : text;
  const lenText = slash >= 0 ? text.slice(slash + 1) : undefined;
  const family = isIPv4(addr) ? 4 : isIPv6(addr) && !addr.includes('%') ? 6 : undefined;
  if (family === undefined) return undefined;
  const bits = family === 4 ? 32 : 128;
  if (lenText !== undefined && !/^\d{1,3}$/.test(lenText)) return undefined;
  const prefixLen = lenText === undefined ? bits : Number(lenText);
  if (prefixLen > bits) return undefined;
  const value = family === 4 ? parseIPv4(addr) : parseIPv6(addr);
  return { family, address: value & netmask(family, prefixLen), prefixLen };
}

function netmask(family: 4 | 6, prefixLen: number): bigint {
  const bits = BigInt(family === 4 ? 32 : 128);
  const all = (1n << bits) - 1n;
  return (all << (bits - BigInt(prefixLen))) & all;
}

export function formatCidr(c: Cidr): string {
  if (c.family === 4) {
    const parts = [24n, 16n, 8n, 0n].map((s) => ((c.address >> s) & 0xffn).toString());
    return `${parts.join('.')}/${c.prefixLen}`;
  }
  const groups = Array.from({ length: 8 }, (_, i) => (c.address >> BigInt(112 - 16 * i)) & 0xffffn);
  // Compress the longest run of two or more zero groups, as RFC 5952 asks.
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0n) j++;
    if (j - i > best.len && j - i >= 2) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  const text = best.at < 0 ? hex.join(':')
    : `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.len).join(':')}`;
  return `${text}/${c.prefixLen}`;
}

/** True when every address of `inner` is in `outer`. */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && outer.prefixLen <= inner.prefixLen &&
    (inner.address & netmask(outer.family, outer.prefixLen)) === outer.address;
}

/** The CIDR of a `cidr:` label key (IPv6 written with dashes, e.g. `2001-db8--/32`). */
export function cidrOfLabelKey(key: string): Cidr | undefined {
  return parseCidr(key.includes(':') || key.includes('.') ? key : key.replaceAll('-', ':'));
}
