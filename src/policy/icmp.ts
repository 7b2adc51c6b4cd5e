/**
 * ICMP rules (`icmps`) of policies: reading an ICMP type as written (a
 * number 0-255 or a CamelCase name, per family, as Cilium accepts them),
 * the warnings about the IPv6 family, which selects no traffic (ipv6.ts), and
 * the policy-map blocks of a rule. As in Cilium, the datapath puts the ICMP
 * type where other protocols have the destination port, so an ICMP type is
 * an exact protocol/port key.
 */
import { nothingLeft, selectsNoTraffic, type PolicyNotice } from './ipv6.js';
import { FULL_PREFIX_LEN, Proto } from './mapstate.js';
import type { L4Block } from './ports.js';
import type { PolicyDocument, RuleDocument } from './schema.js';
import { isDenySection, RULE_SECTIONS, type IcmpRule } from './types.js';

export const ICMP_FAMILIES = ['IPv4', 'IPv6'] as const;
export type IcmpFamily = (typeof ICMP_FAMILIES)[number];

/** At most this many fields per ICMP rule, as in Cilium. */
export const MAX_ICMP_FIELDS = 40;

/** The ICMPv4 type names Cilium accepts. */
export const ICMPV4_TYPE_NAMES: Readonly<Record<string, number>> = {
  EchoReply: 0, DestinationUnreachable: 3, Redirect: 5, Echo: 8, EchoRequest: 8, RouterAdvertisement: 9,
  RouterSelection: 10, TimeExceeded: 11, ParameterProblem: 12, Timestamp: 13, TimestampReply: 14, Photuris: 40,
  ExtendedEchoRequest: 42, ExtendedEchoReply: 43,
};

/** The ICMPv6 type names Cilium accepts. */
export const ICMPV6_TYPE_NAMES: Readonly<Record<string, number>> = {
  DestinationUnreachable: 1, PacketTooBig: 2, TimeExceeded: 3, ParameterProblem: 4, EchoRequest: 128, EchoReply: 129,
  MulticastListenerQuery: 130, MulticastListenerReport: 131, MulticastListenerDone: 132, RouterSolicitation: 133,
  RouterAdvertisement: 134, NeighborSolicitation: 135, NeighborAdvertisement: 136, RedirectMessage: 137,
  RouterRenumbering: 138, ICMPNodeInformationQuery: 139, ICMPNodeInformationResponse: 140,
  InverseNeighborDiscoverySolicitation: 141, InverseNeighborDiscoveryAdvertisement: 142,
  HomeAgentAddressDiscoveryRequest: 144, HomeAgentAddressDiscoveryReply: 145, MobilePrefixSolicitation: 146,
  MobilePrefixAdvertisement: 147, DuplicateAddressRequestCodeSuffix: 157, DuplicateAddressConfirmationCodeSuffix: 158,
  ExtendedEchoRequest: 160, ExtendedEchoReply: 161,
};

const NAMES: Readonly<Record<IcmpFamily, Readonly<Record<string, number>>>> = { IPv4: ICMPV4_TYPE_NAMES, IPv6: ICMPV6_TYPE_NAMES };

/** The ICMP type a `type` field names, or why it names none. A string of digits reads as the number, as Kubernetes IntOrString does. */
export function readIcmpType(type: unknown, family: IcmpFamily = 'IPv4'): { type: number } | { error: string } {
  if (typeof type === 'number' || (typeof type === 'string' && /^\d+$/.test(type))) {
    const n = Number(type);
    if (Number.isInteger(n) && n >= 0 && n <= 255) return { type: n };
    return { error: `${JSON.stringify(type)} is not an ICMP type; types are whole numbers 0-255 or names like EchoRequest` };
  }
  if (typeof type !== 'string') return { error: 'must be an ICMP type: a number 0-255 or a name like EchoRequest' };
  const names = NAMES[family];
  const n = Object.hasOwn(names, type) ? names[type] : undefined;
  if (n !== undefined) return { type: n };
  const caseless = Object.keys(names).find((k) => k.toLowerCase() === type.toLowerCase());
  const hint = caseless ? `; names are CamelCase: ${caseless}` : `; use a number 0-255 or one of ${Object.keys(names).join(', ')}`;
  return { error: `${JSON.stringify(type)} is not an ${family === 'IPv4' ? 'ICMPv4' : 'ICMPv6'} type name${hint}` };
}

/**
 * The policy-map blocks an `icmps` list allows or denies: protocol ICMP, port
 * = the type, exact. Only IPv4 fields are in a normalized IcmpRule, so a list
 * whose fields were all IPv6 yields no block (and its entry nothing at all).
 */
export function icmpBlocks(icmps: readonly IcmpRule[]): L4Block[] {
  return icmps.flatMap((rule) => rule.fields.map((f) => ({ protocol: Proto.ICMP, port: f.type, prefixLen: FULL_PREFIX_LEN })));
}

/**
 * Every ICMPv6 field of a validated policy, as warnings at the field
 * (`spec.ingress[0].icmps[0].fields[1]`): it selects no traffic (ipv6.ts).
 * When an entry's icmps have no IPv4 field left, the warning says so: the
 * entry then allows (or denies) nothing, where leaving out icmps would
 * allow every protocol.
 */
export function ipv6IcmpFields(doc: PolicyDocument): PolicyNotice[] {
  return [
    ...(doc.spec ? ruleIpv6Fields(doc.spec, ['spec']) : []),
    ...(doc.specs ?? []).flatMap((rule, i) => ruleIpv6Fields(rule, ['specs', i])),
  ];
}

function ruleIpv6Fields(rule: RuleDocument, rulePath: (string | number)[]): PolicyNotice[] {
  const notices: PolicyNotice[] = [];
  for (const section of RULE_SECTIONS) {
    (rule[section] ?? []).forEach((entry, i) => {
      const fields = (entry.icmps ?? []).flatMap((icmp, k) => (icmp.fields ?? []).map((field, f) => ({ field, k, f })));
      const ipv6 = fields.filter(({ field }) => field.family === 'IPv6');
      const more = ipv6.length === fields.length ? nothingLeft(isDenySection(section), 'ICMP type') : '';
      for (const { field, k, f } of ipv6) {
        notices.push({ path: [...rulePath, section, i, 'icmps', k, 'fields', f], message: selectsNoTraffic(`ICMPv6 type ${describeType(field.type)}`, more) });
      }
    });
  }
  return notices;
}

/** `EchoRequest (128)` for a name, `128` for a number. */
function describeType(type: number | string): string {
  const read = readIcmpType(type, 'IPv6');
  return 'type' in read && String(read.type) !== String(type) ? `${type} (${read.type})` : String(type);
}
