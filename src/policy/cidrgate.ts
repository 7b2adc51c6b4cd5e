/**
 * A gate on CIDR peers (`fromCIDR`, `toCIDR`, `fromCIDRSet`, `toCIDRSet`)
 * until the node allocates CIDR identities. The ipcache knows only the /32s of
 * pods and nodes and puts every other address under `reserved:world`, so a
 * CIDR peer would select no identity at all: a deny would silently not apply,
 * an allow would allow nothing, and an `except` could not carve anything out
 * of world. Such a policy is refused rather than enforced wrongly.
 *
 * The one CIDR peer that means something today is all of IPv4, `0.0.0.0/0`
 * (any spelling whose prefix length is 0) without `except`: it is world, and
 * resolves to `reserved:world` (identity 2).
 *
 * Parsing, normalization and matching of CIDRs stay in place (cidr.ts,
 * normalize.ts, peers.ts); lifting the gate is deleting the call in parse.ts.
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

const isAllOfIPv4 = (text: string): boolean => {
  const cidr = parseCidr(text);
  return cidr !== undefined && cidr.family === 4 && cidr.prefixLen === 0;
};

function consequence(section: RuleSection): string {
  return isDenySection(section) ? 'the deny would silently not apply' : 'the rule would allow nothing';
}

function cidrProblem(text: string, section: RuleSection, dir: 'from' | 'to'): string {
  return `CIDR peers other than 0.0.0.0/0 are not supported yet: membrane has no CIDR identities, so ${JSON.stringify(text)} ` +
    `would select no traffic and ${consequence(section)}; 0.0.0.0/0 (or ${dir}Entities: [world]) selects all of world`;
}

function cidrRuleProblem(rule: CidrRuleDocument, section: RuleSection, dir: 'from' | 'to'): UnsupportedPeer | undefined {
  if (rule.cidr === undefined) {
    const field = rule.cidrGroupRef !== undefined ? 'cidrGroupRef' : 'cidrGroupSelector';
    return { path: [field], message: `CIDR groups are not supported yet: membrane has no CIDR identities, so ${consequence(section)}` };
  }
  if (!isAllOfIPv4(rule.cidr)) return { path: ['cidr'], message: cidrProblem(rule.cidr, section, dir) };
  if (rule.except !== undefined && rule.except.length > 0) {
    return { path: ['except'], message: `except is not supported yet: membrane has no CIDR identities to carve out of world, ` +
      `so the excepted addresses would be ${isDenySection(section) ? 'denied' : 'allowed'} with the rest of world; ` +
      'remove except, or the rule' };
  }
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
            if (!isAllOfIPv4(text)) problems.push({ path: at(k), message: cidrProblem(text, section, dir) });
          });
        } else {
          ((value ?? []) as CidrRuleDocument[]).forEach((cidrRule, k) => {
            const problem = cidrRuleProblem(cidrRule, section, dir);
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
