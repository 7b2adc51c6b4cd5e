/**
 * What a conformance case is, and the helpers cases are written with: YAML
 * documents of each policy kind, and a case from its policies and the rules
 * the model reads (model.ts). Pure.
 */
import type { PolicyLog } from './attribution.js';
import { expectationOf, type DirectionRule, type Expectation, type Namespace, type PodName } from './model.js';

/**
 * A label change between two rounds of a case, as `lab label` takes it:
 * `target` is a pod ("x/b") or a namespace ("ns/z"); `set` adds labels or
 * changes them. The harness puts the labels back after the case.
 */
export interface Relabel {
  target: `${Namespace}/${PodName}` | `ns/${Namespace}`;
  set: Record<string, string>;
}

/** A second round of a case: relabel, then probe the whole matrix again against `expect`. */
export interface RelabelStep {
  relabel: Relabel;
  expect: Expectation;
}

export interface ConformanceCase {
  name: string;
  /** One or more YAML documents, imported together. */
  policies: string;
  expect: Expectation;
  /**
   * A known disagreement of membrane with the expectation, described: the
   * case runs and reports as a todo rather than failing the suite, until
   * fixed. The expectation stays what membrane should do.
   */
  knownIssue?: string;
  /** A second round after a label change (the policies stay). */
  then?: RelabelStep;
  /** Rule-level `log: {value}` of the case's policies, checked in the verdict flows' `policy_log`. */
  logs?: PolicyLog[];
}

/** "pod x/b role=client", for messages. */
export function describeRelabel(r: Relabel): string {
  const target = r.target.startsWith('ns/') ? `namespace ${r.target.slice(3)}` : `pod ${r.target}`;
  return `relabel ${target} ${Object.entries(r.set).map(([k, v]) => `${k}=${v}`).join(' ')}`;
}

export const knp = (ns: string, name: string, spec: string) =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: ${name}, namespace: ${ns}}\nspec: ${spec}\n`;
export const cnp = (ns: string, name: string, spec: string) =>
  `apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: ${name}, namespace: ${ns}}\nspec: ${spec}\n`;
export const ccnp = (name: string, spec: string) =>
  `apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: ${name}}\nspec: ${spec}\n`;
export const docs = (...d: string[]) => d.join('---\n');
export const cidrGroup = (name: string, labels: string, cidrs: string) =>
  `apiVersion: cilium.io/v2alpha1\nkind: CiliumCIDRGroup\nmetadata: {name: ${name}, labels: ${labels}}\nspec: {externalCIDRs: ${cidrs}}\n`;
/** The policy document(s) in audit mode. */
export const inAuditMode = (doc: string) =>
  doc.replace(/metadata: \{([^}]*)\}/g, 'metadata: {$1, annotations: {policy.membrane.io/audit-mode: "true"}}');

/** A case from its policies and what they mean in the model's terms. */
export function c(name: string, policies: string, ...rules: DirectionRule[]): ConformanceCase {
  return { name, policies, expect: expectationOf(rules) };
}

/** `base`, with a second round: after `relabel`, the policies mean `rules`. */
export function thenRelabel(base: ConformanceCase, relabel: Relabel, ...rules: DirectionRule[]): ConformanceCase {
  return { ...base, then: { relabel, expect: expectationOf(rules) } };
}
