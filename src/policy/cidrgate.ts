/**
 * A gate on the CIDR peers (`fromCIDR`, `toCIDR`, `fromCIDRSet`,
 * `toCIDRSet`) membrane cannot enforce yet. IPv4 prefixes are enforced
 * through CIDR identities (the agent gives every prefix a policy names a
 * node-local identity and an ipcache entry, so the longest prefix wins).
 * Refused, with the path, rather than enforced wrongly:
 *  - IPv6 prefixes: pods and the datapath are IPv4 only, so a deny would
 *    silently not apply;
 *  - CIDR groups (`cidrGroupRef`, `cidrGroupSelector`): there are no
 *    CiliumCIDRGroup objects to resolve them against.
 */
import { parseCidr } from './cidr.js';
import type { CidrRuleDocument, PolicyDocument, RuleDocument } from './schema.js';
import { isDenySection, RULE_SECTIONS, type RuleSection } from './types.js';

export interface UnsupportedPeer {
  /** Relative to the policy object, e.g. `['spec', 'egressDeny', 0, 'toCIDR', 0]`. */
  path: (string | number)[];
  message: string;
}

type Path = (string | number)[];

const CIDR_FIELDS = ['CIDR', 'CIDRSet'] as const;

const isIPv4Cidr = (text: string): boolean => parseCidr(text)?.family === 4;

function consequence(section: RuleSection): string {
  return isDenySection(section) ? 'the deny would silently not apply' : 'the rule would allow nothing';
}

function ipv6Problem(text: string, section: RuleSection): string {
  return `IPv6 CIDRs are not supported yet: membrane's pods and datapath are IPv4 only, so ${JSON.stringify(text)} ` +
    `would select no traffic and ${consequence(section)}`;
}

function cidrRuleProblem(rule: CidrRuleDocument, section: RuleSection): UnsupportedPeer | undefined {
  if (rule.cidr === undefined) {
    const field = rule.cidrGroupRef !== undefined ? 'cidrGroupRef' : 'cidrGroupSelector';
    return { path: [field], message: `CIDR groups are not supported yet: there are no CiliumCIDRGroup objects to resolve, so ${consequence(section)}` };
  }
  if (!isIPv4Cidr(rule.cidr)) return { path: ['cidr'], message: ipv6Problem(rule.cidr, section) };
  const k = (rule.except ?? []).findIndex((e) => !isIPv4Cidr(e));
  if (k >= 0) return { path: ['except', k], message: ipv6Problem(rule.except![k]!, section) };
  return undefined;
}

function ruleProblems(rule: RuleDocument, rulePath: Path): UnsupportedPeer[] {
  const problems: UnsupportedPeer[] = [];
  for (const section of RULE_SECTIONS) {
    const dir = section.startsWith('ingress') ? 'from' as const : 'to' as const;
    ((rule[section] ?? []) as Record<string, unknown>[]).forEach((entry, i) => {
      for (const kind of CIDR_FIELDS) {
        const field = `${dir}${kind}`;
        const at = (...rest: Path): Path => [...rulePath, section, i, field, ...rest];
        const value = entry[field];
        if (kind === 'CIDR') {
          ((value ?? []) as string[]).forEach((text, k) => {
            if (!isIPv4Cidr(text)) problems.push({ path: at(k), message: ipv6Problem(text, section) });
          });
        } else {
          ((value ?? []) as CidrRuleDocument[]).forEach((cidrRule, k) => {
            const problem = cidrRuleProblem(cidrRule, section);
            if (problem) problems.push({ path: at(k, ...problem.path), message: problem.message });
          });
        }
      }
    });
  }
  return problems;
}

/** Every CIDR peer of a validated policy that membrane cannot enforce yet: spec first, then specs, section by section. */
export function unsupportedCidrPeers(doc: PolicyDocument): UnsupportedPeer[] {
  return [
    ...(doc.spec ? ruleProblems(doc.spec, ['spec']) : []),
    ...(doc.specs ?? []).flatMap((rule, i) => ruleProblems(rule, ['specs', i])),
  ];
}
