/**
 * The CIDR peers (`fromCIDR`, `toCIDR`, `fromCIDRSet`, `toCIDRSet`) of a
 * validated policy that are not enforced as written. IPv4 prefixes are
 * enforced through CIDR identities (the agent gives every prefix a policy
 * names a node-local identity and an ipcache entry, so the longest prefix
 * wins). Of the rest:
 *  - IPv6 prefixes are accepted and select no traffic, which is exact on an
 *    IPv4-only datapath (ipv6.ts); each is a warning;
 *  - CIDR groups (`cidrGroupRef`, `cidrGroupSelector`) resolve through the
 *    CiliumCIDRGroups imported with the policies (peers.ts); a group that
 *    does not exist selects nothing until it does, as in Cilium.
 */
import { isIPv6Cidr, nothingLeft, selectsNoTraffic, type PolicyNotice } from './ipv6.js';
import type { CidrRuleDocument, PolicyDocument, RuleDocument } from './schema.js';
import { isDenySection, RULE_SECTIONS, type RuleSection } from './types.js';

export type UnsupportedPeer = PolicyNotice;

type Path = (string | number)[];

/** One CIDR peer field of one section entry: `toCIDR` strings or `toCIDRSet` rules. */
interface CidrEntry {
  section: RuleSection;
  /** Path of the field, e.g. `['spec', 'egress', 0, 'toCIDR']`. */
  path: Path;
  set: boolean;
  items: (string | CidrRuleDocument)[];
}

function cidrEntries(rule: RuleDocument, rulePath: Path): CidrEntry[] {
  const out: CidrEntry[] = [];
  for (const section of RULE_SECTIONS) {
    const dir = section.startsWith('ingress') ? 'from' : 'to';
    ((rule[section] ?? []) as Record<string, unknown>[]).forEach((entry, i) => {
      for (const set of [false, true]) {
        const field = `${dir}${set ? 'CIDRSet' : 'CIDR'}`;
        const items = entry[field] as CidrEntry['items'] | undefined;
        if (items) out.push({ section, path: [...rulePath, section, i, field], set, items });
      }
    });
  }
  return out;
}

function everyCidrEntry(doc: PolicyDocument): CidrEntry[] {
  return [
    ...(doc.spec ? cidrEntries(doc.spec, ['spec']) : []),
    ...(doc.specs ?? []).flatMap((rule, i) => cidrEntries(rule, ['specs', i])),
  ];
}

const cidrOf = (item: string | CidrRuleDocument): string | undefined => (typeof item === 'string' ? item : item.cidr);

/**
 * Every IPv6 CIDR peer of a validated policy, as warnings: at the string of a
 * `toCIDR`, at the `cidr` of a `toCIDRSet` rule (its excepts are inside it, so
 * IPv6 too). When an entry has no IPv4 prefix left, the warning says so.
 */
export function ipv6CidrPeers(doc: PolicyDocument): PolicyNotice[] {
  return everyCidrEntry(doc).flatMap(({ section, path, set, items }) => {
    const ipv6 = items.map((item) => cidrOf(item)).map((cidr, k) => ({ cidr, k })).filter(({ cidr }) => cidr !== undefined && isIPv6Cidr(cidr));
    const more = ipv6.length === items.length ? nothingLeft(isDenySection(section), 'peer') : '';
    return ipv6.map(({ cidr, k }) => ({
      path: set ? [...path, k, 'cidr'] : [...path, k],
      message: selectsNoTraffic(`IPv6 peer ${cidr!}`, more),
    }));
  });
}
