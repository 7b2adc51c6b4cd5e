/**
 * ICMP rules (`icmps`) of policies: reading an ICMP type as written (a
 * number 0-255 or a CamelCase name, per family, as Cilium accepts them),
 * the gate on the IPv6 family, and the policy-map blocks of a rule. As in
 * Cilium, the datapath puts the ICMP type where other protocols have the
 * destination port, so an ICMP type is an exact protocol/port key.
 */
import { FULL_PREFIX_LEN, Proto } from './mapstate.js';
import type { L4Block } from './ports.js';
import type { PolicyDocument, RuleDocument } from './schema.js';
import { isDenySection, RULE_SECTIONS, type IcmpRule, type RuleSection } from './types.js';

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

/** The ICMPv6 type names Cilium accepts (read so that a valid IPv6 rule is refused as unsupported, not as invalid). */
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

/** The policy-map blocks an `icmps` list allows or denies: protocol ICMP, port = the type, exact. */
export function icmpBlocks(icmps: readonly IcmpRule[]): L4Block[] {
  return icmps.flatMap((rule) => rule.fields.map((f) => ({ protocol: Proto.ICMP, port: f.type, prefixLen: FULL_PREFIX_LEN })));
}

export interface UnsupportedIcmp {
  /** Relative to the policy object, e.g. `['spec', 'ingress', 0, 'icmps', 0, 'fields', 1, 'family']`. */
  path: (string | number)[];
  message: string;
}

function consequence(section: RuleSection): string {
  return isDenySection(section) ? 'the deny would silently not apply' : 'the rule would allow less than written';
}

function ruleProblems(rule: RuleDocument, rulePath: (string | number)[]): UnsupportedIcmp[] {
  const problems: UnsupportedIcmp[] = [];
  for (const section of RULE_SECTIONS) {
    (rule[section] ?? []).forEach((entry, i) => {
      (entry.icmps ?? []).forEach((icmp, k) => {
        (icmp.fields ?? []).forEach((field, f) => {
          if (field.family !== 'IPv6') return;
          problems.push({
            path: [...rulePath, section, i, 'icmps', k, 'fields', f, 'family'],
            message: `IPv6 ICMP rules are not supported yet (IPv4 only): membrane's pods and datapath are IPv4 only, so ` +
              `ICMPv6 type ${JSON.stringify(field.type)} would match no traffic and ${consequence(section)}; ` +
              'remove the IPv6 field or write family: IPv4',
          });
        });
      });
    });
  }
  return problems;
}

/**
 * Every IPv6 ICMP field of a validated policy. Refused, not ignored: dropping
 * the field could leave a rule without ports, which allows every port.
 */
export function unsupportedIcmpFields(doc: PolicyDocument): UnsupportedIcmp[] {
  return [
    ...(doc.spec ? ruleProblems(doc.spec, ['spec']) : []),
    ...(doc.specs ?? []).flatMap((rule, i) => ruleProblems(rule, ['specs', i])),
  ];
}
