/**
 * Parses policy text (YAML, several documents separated by `---`, or JSON,
 * including a JSON array or a `kind: List`) of CiliumNetworkPolicy,
 * CiliumClusterwideNetworkPolicy and Kubernetes NetworkPolicy objects into
 * validated ParsedPolicy objects. Nothing is returned unless every document is valid; the error names
 * the field, prefixed with the document index when there are several: `[1].spec.ingress[0]...`.
 * Warnings (IPv6 parts, which select no traffic) name their field the same way.
 */
import { withAuditMode } from './audit.js';
import { parseAllDocuments } from 'yaml';
import { ValidationError } from '../common/errors.js';
import { formatFieldPath, joinFieldPath } from '../labels/fieldpath.js';
import { ipv6CidrPeers } from './cidrgate.js';
import { CIDR_GROUP_KIND, isCidrGroupObject, parseCidrGroupObject, type ParsedCidrGroup } from './cidrgroup.js';
import { policyErrorMap, validationErrorFromZod } from './errors.js';
import { ipv6IcmpFields } from './icmp.js';
import type { PolicyNotice } from './ipv6.js';
import { ipv6IpBlocks, translateNetworkPolicy } from './knp.js';
import { KNP_API_VERSION, KNP_KIND, knpDocumentSchema } from './knpschema.js';
import { normalizePolicy } from './normalize.js';
import { POLICY_API_VERSION, policyDocumentSchema } from './schema.js';
import type { ParsedPolicy, PolicyKind } from './types.js';

const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The apiVersion of each policy kind membrane reads. */
const API_VERSIONS: Readonly<Record<PolicyKind, string>> = {
  CiliumNetworkPolicy: POLICY_API_VERSION,
  CiliumClusterwideNetworkPolicy: POLICY_API_VERSION,
  [KNP_KIND]: KNP_API_VERSION,
};
const KINDS = Object.keys(API_VERSIONS) as PolicyKind[];

/** Checks kind and apiVersion first, so a foreign object gets one clear message instead of a list of unknown fields. */
function checkKind(obj: unknown, prefix: string): PolicyKind {
  if (!isMapping(obj)) {
    throw new ValidationError(prefix, 'a policy must be a mapping with apiVersion, kind, metadata and spec');
  }
  const kind = obj['kind'];
  if (kind === undefined) throw new ValidationError(joinFieldPath(prefix, 'kind'), `is required; use ${KINDS.join(', ')}`);
  if (!(KINDS as unknown[]).includes(kind)) {
    throw new ValidationError(joinFieldPath(prefix, 'kind'), `${JSON.stringify(kind)} is not a policy kind membrane knows; use ${[...KINDS, CIDR_GROUP_KIND].join(', ')}`);
  }
  const apiVersion = API_VERSIONS[kind as PolicyKind];
  if (obj['apiVersion'] !== apiVersion) {
    throw new ValidationError(joinFieldPath(prefix, 'apiVersion'), obj['apiVersion'] === undefined
      ? `is required; use ${apiVersion}` : `${JSON.stringify(obj['apiVersion'])} is not supported for ${String(kind)}; use ${apiVersion}`);
  }
  return kind as PolicyKind;
}

/**
 * Something about an accepted policy its author should know (e.g. an IPv6
 * peer, which selects no traffic: ipv6.ts). `path` names the field as errors
 * do, prefixed with the document index when the text had several documents.
 */
export interface PolicyWarning {
  path: string;
  message: string;
}

/** Receives the warnings of a policy as it is parsed. */
export type WarningSink = (warning: PolicyWarning) => void;

function report(notices: readonly PolicyNotice[], pathPrefix: string, onWarning: WarningSink | undefined): void {
  for (const n of notices) onWarning?.({ path: joinFieldPath(pathPrefix, formatFieldPath(n.path)), message: n.message });
}

/**
 * Validates one policy object (parsed YAML/JSON): a CiliumNetworkPolicy,
 * CiliumClusterwideNetworkPolicy or Kubernetes NetworkPolicy, the latter
 * translated into membrane's rules (knp.ts). `defaultNamespace` applies to a
 * namespaced policy without metadata.namespace. `pathPrefix` is put before
 * every error and warning path. Throws ValidationError, also for CIDR groups,
 * which the node cannot resolve yet (cidrgate.ts). IPv6 CIDR peers, ICMPv6
 * fields and IPv6 ipBlocks are accepted, select no traffic, and are reported
 * to `onWarning` (ipv6.ts), only once the whole policy is valid.
 */
export function parsePolicyObject(obj: unknown, defaultNamespace = 'default', pathPrefix = '', onWarning?: WarningSink): ParsedPolicy {
  refuseProtoKeys(obj, pathPrefix);
  if (!NAMESPACE.test(defaultNamespace)) throw new ValidationError('defaultNamespace', `${JSON.stringify(defaultNamespace)} is not a valid namespace`);
  if (checkKind(obj, pathPrefix) === KNP_KIND) {
    const result = knpDocumentSchema.safeParse(obj, { errorMap: policyErrorMap });
    if (!result.success) throw validationErrorFromZod(result.error, pathPrefix, 'knp');
    const policy = withAuditMode(translateNetworkPolicy(result.data, obj, defaultNamespace), obj, pathPrefix);
    report(ipv6IpBlocks(result.data), pathPrefix, onWarning);
    return policy;
  }
  const result = policyDocumentSchema.safeParse(obj, { errorMap: policyErrorMap });
  if (!result.success) throw validationErrorFromZod(result.error, pathPrefix);
  const policy = withAuditMode(normalizePolicy(result.data, obj, defaultNamespace), obj, pathPrefix);
  report([...ipv6CidrPeers(result.data), ...ipv6IcmpFields(result.data)], pathPrefix, onWarning);
  return policy;
}

/** The objects in the text: one per non-empty YAML document, or the items of a top-level list. */
function documentsOf(text: string): unknown[] {
  const docs = parseAllDocuments(text, { prettyErrors: true });
  const all = Array.isArray(docs) ? docs : [];
  const read = all.map((doc) => {
    if (doc.errors.length > 0) return { error: doc.errors[0]!.message.split('\n')[0]!.replace(/:$/, '') };
    try {
      return { value: doc.toJS({ maxAliasCount: 100 }) as unknown };
    } catch (err) {
      return { error: (err as Error).message };
    }
  });
  // A document with nothing in it (e.g. after a trailing `---`) is not counted.
  const nonEmpty = read.filter((r) => 'error' in r || r.value != null);
  const values = nonEmpty.map((r, i) => {
    if ('error' in r) throw new ValidationError(nonEmpty.length > 1 ? `[${i}]` : '', `not valid YAML or JSON: ${r.error}`);
    return r.value;
  });
  if (values.length === 1) {
    const only = values[0];
    if (Array.isArray(only)) return only;
    if (isMapping(only) && only['kind'] === 'List' && Array.isArray(only['items'])) return only['items'];
  }
  return values;
}

/** Policy texts larger than this are refused before parsing: parsing runs on the agent's event loop. */
export const MAX_POLICY_TEXT = 4 * 1024 * 1024;
/** Flow-style nesting deeper than this is refused before parsing (a parser's recursion, not a policy). */
export const MAX_NESTING = 256;

/** Refuses texts too large or too deeply nested to parse quickly, before the YAML parser sees them. */
function checkShape(text: string): void {
  if (text.length > MAX_POLICY_TEXT) {
    throw new ValidationError('', `the policy text is ${text.length} bytes; at most ${MAX_POLICY_TEXT} are accepted in one import`);
  }
  let depth = 0;
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = '';
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === '#') while (i < text.length && text[i] !== '\n') i++;
    else if (c === '[' || c === '{') {
      if (++depth > MAX_NESTING) throw new ValidationError('', `brackets nested deeper than ${MAX_NESTING} levels (at offset ${i}): not a policy`);
    } else if ((c === ']' || c === '}') && depth > 0) depth--;
  }
}

/** Refuses `__proto__` keys anywhere: a plain object would turn one into its prototype and the key would silently vanish. */
function refuseProtoKeys(value: unknown, path: string): void {
  if (typeof value !== 'object' || value === null) return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => refuseProtoKeys(v, `${path}[${i}]`));
    return;
  }
  for (const key of Object.keys(value)) {
    const at = path ? `${path}.${key}` : key;
    if (key === '__proto__') throw new ValidationError(at, '"__proto__" is not a valid key here');
    refuseProtoKeys((value as Record<string, unknown>)[key], at);
  }
}

/**
 * Parses every policy in `text`. Throws ValidationError for the first invalid
 * document, for text without any policy, and when one policy appears twice.
 */
export function parsePolicyText(text: string, defaultNamespace = 'default'): ParsedPolicy[] {
  return parsePolicyTextWithWarnings(text, defaultNamespace).policies;
}

/**
 * parsePolicyText, with the CiliumCIDRGroups of the text (which policies
 * reference, imported with them) and the warnings about what was accepted
 * (see PolicyWarning) in document order. Throws as parsePolicyText does;
 * then no warning is returned.
 */
export function parsePolicyTextWithWarnings(text: string, defaultNamespace = 'default'): {
  policies: ParsedPolicy[]; cidrGroups: ParsedCidrGroup[]; warnings: PolicyWarning[];
} {
  checkShape(text);
  const objects = documentsOf(text);
  if (objects.length === 0) throw new ValidationError('', 'no policy found in the text');
  const prefix = (i: number) => (objects.length > 1 ? `[${i}]` : '');
  const warnings: PolicyWarning[] = [];
  const policies: { policy: ParsedPolicy; index: number }[] = [];
  const cidrGroups: { group: ParsedCidrGroup; index: number }[] = [];
  objects.forEach((obj, i) => {
    if (isCidrGroupObject(obj)) {
      refuseProtoKeys(obj, prefix(i));
      const group = parseCidrGroupObject(obj, prefix(i));
      group.ipv6.forEach((k) => warnings.push({
        path: joinFieldPath(prefix(i), `spec.externalCIDRs[${k}]`),
        message: `IPv6 prefix ${(obj as { spec: { externalCIDRs: string[] } }).spec.externalCIDRs[k]} selects no traffic: ` +
          `membrane's datapath is IPv4-only and drops every IPv6 packet`,
      }));
      cidrGroups.push({ group, index: i });
    } else {
      policies.push({ policy: parsePolicyObject(obj, defaultNamespace, prefix(i), (w) => warnings.push(w)), index: i });
    }
  });
  const seen = new Map<string, number>();
  const once = (id: string, index: number, what: string) => {
    const first = seen.get(id);
    if (first !== undefined) {
      throw new ValidationError(joinFieldPath(prefix(index), 'metadata.name'), `${what} is already defined by document ${first}; give each its own name`);
    }
    seen.set(id, index);
  };
  for (const { policy: p, index } of policies) {
    once(`${p.ref.kind}/${p.ref.namespace}/${p.ref.name}`, index, `${p.ref.kind} ${p.ref.namespace ? `${p.ref.namespace}/` : ''}${p.ref.name}`);
  }
  for (const { group: g, index } of cidrGroups) once(`${CIDR_GROUP_KIND}//${g.group.name}`, index, `${CIDR_GROUP_KIND} ${g.group.name}`);
  return { policies: policies.map((p) => p.policy), cidrGroups: cidrGroups.map((g) => g.group), warnings };
}
