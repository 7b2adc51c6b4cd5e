/**
 * The policy repository: every imported policy, in import order, with a
 * revision that grows by one with each change, and a rule cookie for every
 * section entry so that a verdict in the datapath can name the rule behind it.
 *
 * Imports are atomic (everything is checked before anything changes) and
 * behave like `kubectl apply`: a policy with the same kind, namespace and name
 * replaces the old one in place.
 */
import { ruleToJSON } from './render.js';
import type { PolicyDeleteResponse, PolicyImportResponse, PolicyListModel, PolicyRef } from '../api/types.js';
import { MembraneError, ValidationError } from '../common/errors.js';
import { RULE_SECTIONS, type ParsedPolicy, type PolicyRule, type RuleSection } from './types.js';

export interface StoredPolicy extends ParsedPolicy {
  /** Repository revision at which this policy was last created or changed. */
  revision: number;
}

/** Where a rule cookie points: `spec.ingress[1]` of policy `ref` is `{ruleIndex: 0, section: 'ingress', index: 1}`. */
export interface RuleLocation {
  ref: PolicyRef;
  /** Position of the rule in the policy (spec first, then specs). */
  ruleIndex: number;
  section: RuleSection;
  /** Position within the section. */
  index: number;
  /** Where it was written: e.g. `spec.ingress[1]` or `specs[2].egressDeny[0]`; `spec.policyTypes` for a NetworkPolicy's default deny. */
  path: string;
  /** The rule's `log.value` (Cilium's rule-level log), for the policy_log of flows it decides; absent when the rule has none. */
  log?: string;
}

export const refKey = (ref: PolicyRef): string => `${ref.kind}/${ref.namespace}/${ref.name}`;

export function formatRef(ref: PolicyRef): string {
  return `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
}

/** JSON with sorted object keys, so that equal objects compare equal. */
function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** 32-bit FNV-1a: the same location always hashes to the same cookie, across restarts. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h;
}

export class PolicyRepository {
  private readonly policies = new Map<string, StoredPolicy>();
  private readonly locations = new Map<number, RuleLocation>();
  private readonly cookies = new Map<string, number>();
  private rev: number;

  /** `revision` lets an agent continue counting after a restart; default 1. */
  constructor(options: { revision?: number } = {}) {
    this.rev = options.revision ?? 1;
  }

  get revision(): number {
    return this.rev;
  }

  /**
   * Adds or replaces policies. Throws ValidationError (nothing changed) when one
   * policy appears twice. The revision grows by one if anything changed.
   */
  import(policies: readonly ParsedPolicy[]): PolicyImportResponse {
    const seen = new Set<string>();
    policies.forEach((p, i) => {
      const key = refKey(p.ref);
      if (seen.has(key)) throw new ValidationError(`[${i}]`, `${formatRef(p.ref)} appears twice in one import`);
      seen.add(key);
    });
    const results = policies.map((p) => {
      const old = this.policies.get(refKey(p.ref));
      const action = !old ? 'created' as const : stableJson(old.object) === stableJson(p.object) ? 'unchanged' as const : 'configured' as const;
      return { policy: p, action };
    });
    const changed = results.filter((r) => r.action !== 'unchanged');
    if (changed.length > 0) {
      this.rev++;
      for (const { policy } of changed) {
        const key = refKey(policy.ref);
        const old = this.policies.get(key);
        if (old) this.forgetCookies(old);
        this.policies.set(key, { ...policy, revision: this.rev });
        this.assignCookies(policy);
      }
    }
    return { revision: this.rev, results: results.map((r) => ({ ref: r.policy.ref, action: r.action })) };
  }

  /** Removes one policy; throws ENOTFOUND when there is none with that ref. */
  delete(ref: PolicyRef): PolicyDeleteResponse {
    const old = this.policies.get(refKey(ref));
    if (!old) throw new MembraneError('ENOTFOUND', `${formatRef(ref)} not found; list policies to see their names`);
    this.policies.delete(refKey(ref));
    this.forgetCookies(old);
    this.rev++;
    return { revision: this.rev, deleted: [old.ref] };
  }

  deleteAll(): PolicyDeleteResponse {
    const deleted = [...this.policies.values()].map((p) => p.ref);
    if (deleted.length > 0) {
      this.policies.clear();
      this.locations.clear();
      this.cookies.clear();
      this.rev++;
    }
    return { revision: this.rev, deleted };
  }

  get(ref: PolicyRef): StoredPolicy | undefined {
    return this.policies.get(refKey(ref));
  }

  /** Policies in repository order (first import first; a replaced policy keeps its place). */
  list(): StoredPolicy[] {
    return [...this.policies.values()];
  }

  /** Every rule with its policy, in repository order. */
  rules(): { policy: StoredPolicy; rule: PolicyRule }[] {
    return this.list().flatMap((policy) => policy.rules.map((rule) => ({ policy, rule })));
  }

  /** The REST API's view. */
  toListModel(): PolicyListModel {
    return {
      revision: this.rev,
      policies: this.list().map((p) => ({ ...p.ref, revision: p.revision, object: p.object, rules: p.rules.map(ruleToJSON) })),
    };
  }

  /** The cookie of one section entry of a stored policy; throws ENOTFOUND when there is no such entry. */
  cookie(ref: PolicyRef, ruleIndex: number, section: RuleSection, index: number): number {
    const cookie = this.cookies.get(locationKey(ref, ruleIndex, section, index));
    if (cookie === undefined) throw new MembraneError('ENOTFOUND', `${formatRef(ref)} has no rule ${ruleIndex} ${section}[${index}]`);
    return cookie;
  }

  describeCookie(cookie: number): RuleLocation | undefined {
    return this.locations.get(cookie);
  }

  private assignCookies(policy: ParsedPolicy): void {
    for (const rule of policy.rules) {
      const log = ruleLogValue(policy.object, rule.path);
      for (const section of RULE_SECTIONS) {
        rule[section].forEach((entry, index) => {
          const key = locationKey(policy.ref, rule.index, section, index);
          // Never 0 (0 means "no rule"); on a collision take the next free number.
          let cookie = fnv1a(key) || 1;
          while (this.locations.has(cookie)) cookie = (cookie + 1) >>> 0 || 1;
          this.locations.set(cookie, {
            ref: policy.ref, ruleIndex: rule.index, section, index, path: entry.path ?? `${rule.path}.${section}[${index}]`, ...(log ? { log } : {}),
          });
          this.cookies.set(key, cookie);
        });
      }
    }
  }

  private forgetCookies(policy: ParsedPolicy): void {
    for (const rule of policy.rules) {
      for (const section of RULE_SECTIONS) {
        rule[section].forEach((_, index) => {
          const key = locationKey(policy.ref, rule.index, section, index);
          const cookie = this.cookies.get(key);
          if (cookie !== undefined) this.locations.delete(cookie);
          this.cookies.delete(key);
        });
      }
    }
  }
}

/**
 * A rule's `log.value`, read from the object as written at the rule's path
 * (`spec` or `specs[n]`; the schema has checked it). Read here rather than
 * carried in PolicyRule because nothing but flows needs it.
 */
function ruleLogValue(object: unknown, rulePath: string): string | undefined {
  const doc = object as { spec?: unknown; specs?: unknown[] } | null | undefined;
  const at = /^specs\[(\d+)\]$/.exec(rulePath);
  const rule = at ? doc?.specs?.[Number(at[1])] : rulePath === 'spec' ? doc?.spec : undefined;
  const value = (rule as { log?: { value?: unknown } } | null | undefined)?.log?.value;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function locationKey(ref: PolicyRef, ruleIndex: number, section: RuleSection, index: number): string {
  return `${refKey(ref)}/${ruleIndex}/${section}/${index}`;
}
