/**
 * Endpoint selectors: a Kubernetes LabelSelector (`matchLabels`,
 * `matchExpressions`) over labels with sources. As Cilium does, a key may
 * carry a source prefix (`k8s:app`, `reserved:host`); a key without one is
 * `any:` and matches labels of every source. All requirements are ANDed; the
 * empty selector matches everything.
 */
import { ValidationError } from '../common/errors.js';
import { formatFieldPath } from './fieldpath.js';
import { LabelSource, splitSource, type LabelSet } from './labels.js';

export const SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;
export type SelectorOperator = (typeof SELECTOR_OPERATORS)[number];

/** The Kubernetes LabelSelector shape, as written in YAML. */
export interface LabelSelectorSpec {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export interface Requirement {
  readonly source: string;
  readonly key: string;
  readonly operator: SelectorOperator;
  /** Sorted and de-duplicated; empty for Exists and DoesNotExist. */
  readonly values: readonly string[];
}

/** A problem in a selector, with its path relative to the selector. */
export interface SelectorIssue {
  path: (string | number)[];
  message: string;
}

function keyIssue(key: string): string | undefined {
  const { key: bare } = splitSource(key, LabelSource.Any);
  if (bare === '') return `label key "${key}" is empty after its source prefix`;
  if (/\s/.test(key)) return `label key "${key}" contains white space`;
  return undefined;
}

/** The semantic problems of a well-typed LabelSelector: bad keys, unknown operators, values that do not fit the operator. */
export function labelSelectorIssues(spec: LabelSelectorSpec): SelectorIssue[] {
  const issues: SelectorIssue[] = [];
  for (const key of Object.keys(spec.matchLabels ?? {})) {
    const problem = keyIssue(key);
    if (problem) issues.push({ path: ['matchLabels', key], message: problem });
  }
  (spec.matchExpressions ?? []).forEach((e, i) => {
    const problem = keyIssue(e.key);
    if (problem) issues.push({ path: ['matchExpressions', i, 'key'], message: problem });
    if (!(SELECTOR_OPERATORS as readonly string[]).includes(e.operator)) {
      issues.push({
        path: ['matchExpressions', i, 'operator'],
        message: `unknown operator "${e.operator}"; use one of ${SELECTOR_OPERATORS.join(', ')}`,
      });
      return;
    }
    const values = e.values ?? [];
    if ((e.operator === 'In' || e.operator === 'NotIn') && values.length === 0) {
      issues.push({ path: ['matchExpressions', i, 'values'], message: `operator ${e.operator} needs at least one value` });
    }
    if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && values.length > 0) {
      issues.push({ path: ['matchExpressions', i, 'values'], message: `operator ${e.operator} takes no values; remove them` });
    }
  });
  return issues;
}

function requirement(key: string, operator: SelectorOperator, values: readonly string[]): Requirement {
  const { source, key: bare } = splitSource(key, LabelSource.Any);
  return Object.freeze({ source, key: bare, operator, values: Object.freeze([...new Set(values)].sort()) });
}

function formatRequirement(r: Requirement): string {
  const k = `${r.source}:${r.key}`;
  switch (r.operator) {
    case 'In':
      return r.values.length === 1 ? `${k}=${r.values[0]}` : `${k} in (${r.values.join(',')})`;
    case 'NotIn':
      return `${k} notin (${r.values.join(',')})`;
    case 'Exists':
      return k;
    case 'DoesNotExist':
      return `!${k}`;
  }
}

export class EndpointSelector {
  /** Matches every label set. */
  static readonly ALL = new EndpointSelector([]);

  readonly requirements: readonly Requirement[];
  private readonly text: string;

  private constructor(requirements: readonly Requirement[]) {
    const byText = new Map(requirements.map((r) => [formatRequirement(r), r]));
    const texts = [...byText.keys()].sort();
    this.requirements = Object.freeze(texts.map((t) => byText.get(t)!));
    this.text = texts.length === 0 ? '{}' : texts.join(',');
  }

  /** Builds a selector from a LabelSelector; throws ValidationError (path relative to the selector) on the first semantic problem. */
  static fromLabelSelector(spec: LabelSelectorSpec): EndpointSelector {
    const issue = labelSelectorIssues(spec)[0];
    if (issue) throw new ValidationError(formatFieldPath(issue.path), issue.message);
    const reqs: Requirement[] = Object.entries(spec.matchLabels ?? {}).map(([k, v]) => requirement(k, 'In', [v]));
    for (const e of spec.matchExpressions ?? []) reqs.push(requirement(e.key, e.operator as SelectorOperator, e.values ?? []));
    return new EndpointSelector(reqs);
  }

  static fromRequirements(requirements: Iterable<Requirement>): EndpointSelector {
    return new EndpointSelector([...requirements]);
  }

  /** True for the empty selector, which matches every label set. */
  get selectsAll(): boolean {
    return this.requirements.length === 0;
  }

  matches(labels: LabelSet): boolean {
    return this.requirements.every((r) => {
      const found = labels.getAll(r.key, r.source);
      switch (r.operator) {
        case 'In':
          return found.some((l) => r.values.includes(l.value));
        case 'NotIn':
          return !found.some((l) => r.values.includes(l.value));
        case 'Exists':
          return found.length > 0;
        case 'DoesNotExist':
          return found.length === 0;
      }
    });
  }

  /** True when some requirement is about `key` with one of `sources`. */
  hasKey(key: string, sources: readonly string[] = [LabelSource.Any]): boolean {
    return this.requirements.some((r) => r.key === key && sources.includes(r.source));
  }

  /** True when some requirement's key starts with `prefix` and its source is one of `sources`. */
  hasKeyPrefix(prefix: string, sources: readonly string[]): boolean {
    return this.requirements.some((r) => r.key.startsWith(prefix) && sources.includes(r.source));
  }

  /** True when some requirement names this source (e.g. selectors of reserved identities). */
  hasSource(source: string): boolean {
    return this.requirements.some((r) => r.source === source);
  }

  /** A new selector with one more requirement; `key` may carry a source prefix (none means `any:`). */
  and(key: string, operator: SelectorOperator, values: readonly string[] = []): EndpointSelector {
    return new EndpointSelector([...this.requirements, requirement(key, operator, values)]);
  }

  /** Stable text, equal for equivalent selectors: `any:org=empire,k8s:io.kubernetes.pod.namespace=default`; `{}` selects all. */
  toString(): string {
    return this.text;
  }

  /** The selector as a LabelSelector with explicit sources, as `policy get` shows it. */
  toLabelSelector(): LabelSelectorSpec {
    const out: LabelSelectorSpec = {};
    for (const r of this.requirements) {
      const key = `${r.source}:${r.key}`;
      if (r.operator === 'In' && r.values.length === 1 && out.matchLabels?.[key] === undefined) {
        (out.matchLabels ??= {})[key] = r.values[0]!;
      } else {
        const expr: { key: string; operator: string; values?: string[] } = { key, operator: r.operator };
        if (r.values.length > 0) expr.values = [...r.values];
        (out.matchExpressions ??= []).push(expr);
      }
    }
    return out;
  }

  toJSON(): LabelSelectorSpec {
    return this.toLabelSelector();
  }
}
