/**
 * The IPv6 parts of policies: IPv6 CIDR peers, ICMPv6 fields and IPv6
 * ipBlocks. membrane's datapath is IPv4 only: it drops every frame that is
 * neither IPv4 nor ARP before any policy is looked at (bpf/lib/parse.h, with
 * the reason below). So an IPv6 part selects no traffic, and that is the
 * truth, not an approximation: there is no IPv6 packet for it to allow or
 * deny. Real policies mix families (`toCIDR: [0.0.0.0/0, ::/0]`, ICMP
 * fields for both families), so such parts are accepted, validated like the
 * rest, kept for display, enforced as selecting nothing, and reported as
 * warnings (cidrgate.ts, icmp.ts, knp.ts); refusing them would refuse the
 * IPv4 half of the policy too.
 */
import { parseCidr } from './cidr.js';

/** The datapath's drop reason for IPv6 frames, as bpf/lib/reasons.def names it. */
export const IPV6_DROP_REASON = { code: 139, name: 'DROP_UNKNOWN_L3', description: 'Unsupported L3 protocol' } as const;

/** Something about a valid policy the user should know; `path` is relative to the policy object. */
export interface PolicyNotice {
  path: (string | number)[];
  message: string;
}

export const isIPv6Cidr = (text: string): boolean => parseCidr(text)?.family === 6;

/** `<what> selects no traffic: ...`, the one wording of every IPv6 warning; `more` is added after it. */
export function selectsNoTraffic(what: string, more = ''): string {
  return `${what} selects no traffic: membrane's datapath is IPv4-only and drops every IPv6 packet ` +
    `(reason ${IPV6_DROP_REASON.name}, "${IPV6_DROP_REASON.description}")${more}`;
}

/**
 * What it means for a rule entry when none of its peers (or ICMP types) is
 * IPv4: it still exists, so an allow entry still puts its direction into
 * default deny, as a Cilium rule whose peer selects nothing does.
 */
export function nothingLeft(deny: boolean, what: string): string {
  return deny ? `; with no IPv4 ${what}, this deny rule denies nothing`
    : `; with no IPv4 ${what}, this rule allows nothing (and still counts for default deny)`;
}
