/**
 * Parses policy text (YAML, several documents separated by `---`, or JSON,
 * including a JSON array or a `kind: List`) of CiliumNetworkPolicy,
 * CiliumClusterwideNetworkPolicy and Kubernetes NetworkPolicy objects into
 * validated ParsedPolicy objects. Nothing is returned unless every document is valid; the error names
 * the field, prefixed with the document index when there are several: `[1].spec.ingress[0]...`.
 */
import { withAuditMode } from './audit.js';
import { parseAllDocuments } from 'yaml';
import { ValidationError } from '../common/errors.js';
import { formatFieldPath, joinFieldPath } from '../labels/fieldpath.js';
import { unsupportedCidrPeers } from './cidrgate.js';
import { policyErrorMap, validationErrorFromZod } from './errors.js';
import { unsupportedIcmpFields } from './icmp.js';
import { translateNetworkPolicy, unsupportedIpBlocks } from './knp.js';
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
    throw new ValidationError(joinFieldPath(prefix, 'kind'), `${JSON.stringify(kind)} is not a policy kind membrane knows; use ${KINDS.join(', ')}`);
  }
  const apiVersion = API_VERSIONS[kind as PolicyKind];
  if (obj['apiVersion'] !== apiVersion) {
    throw new ValidationError(joinFieldPath(prefix, 'apiVersion'), obj['apiVersion'] === undefined
      ? `is required; use ${apiVersion}` : `${JSON.stringify(obj['apiVersion'])} is not supported for ${String(kind)}; use ${apiVersion}`);
  }
  return kind as PolicyKind;
}

/** Refuses a policy with peers the node cannot enforce yet, naming the first and a few more. */
function refuseUnsupported(problems: readonly { path: (string | number)[]; message: string }[], pathPrefix: string): void {
  const [unsupported, ...more] = problems;
  if (!unsupported) return;
  const also = more.slice(0, 4).map((p) => `\n  also ${joinFieldPath(pathPrefix, formatFieldPath(p.path))}: not supported yet`).join('');
  throw new ValidationError(joinFieldPath(pathPrefix, formatFieldPath(unsupported.path)), unsupported.message + also);
}

/**
 * Validates one policy object (parsed YAML/JSON): a CiliumNetworkPolicy,
 * CiliumClusterwideNetworkPolicy or Kubernetes NetworkPolicy, the latter
 * translated into membrane's rules (knp.ts). `defaultNamespace` applies to a
 * namespaced policy without metadata.namespace. `pathPrefix` is put before
 * every error path. Throws ValidationError, also for CIDR peers, ICMP fields
 * and ipBlocks the node cannot enforce yet (see cidrgate.ts, icmp.ts, knp.ts).
 */
export function parsePolicyObject(obj: unknown, defaultNamespace = 'default', pathPrefix = ''): ParsedPolicy {
  refuseProtoKeys(obj, pathPrefix);
  if (!NAMESPACE.test(defaultNamespace)) throw new ValidationError('defaultNamespace', `${JSON.stringify(defaultNamespace)} is not a valid namespace`);
  if (checkKind(obj, pathPrefix) === KNP_KIND) {
    const result = knpDocumentSchema.safeParse(obj, { errorMap: policyErrorMap });
    if (!result.success) throw validationErrorFromZod(result.error, pathPrefix, 'knp');
    refuseUnsupported(unsupportedIpBlocks(result.data), pathPrefix);
    return withAuditMode(translateNetworkPolicy(result.data, obj, defaultNamespace), obj, pathPrefix);
  }
  const result = policyDocumentSchema.safeParse(obj, { errorMap: policyErrorMap });
  if (!result.success) throw validationErrorFromZod(result.error, pathPrefix);
  refuseUnsupported([...unsupportedCidrPeers(result.data), ...unsupportedIcmpFields(result.data)], pathPrefix);
  return withAuditMode(normalizePolicy(result.data, obj, defaultNamespace), obj, pathPrefix);
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

/**
 * Parses every policy in `text`. Throws ValidationError for the first invalid
 * document, for text without any policy, and when one policy appears twice.
 */
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

export function parsePolicyText(text: string, defaultNamespace = 'default'): ParsedPolicy[] {
  checkShape(text);
  const objects = documentsOf(text);
  if (objects.length === 0) throw new ValidationError('', 'no policy found in the text');
  const prefix = (i: number) => (objects.length > 1 ? `[${i}]` : '');
  const policies = objects.map((obj, i) => parsePolicyObject(obj, defaultNamespace, prefix(i)));
  const seen = new Map<string, number>();
  policies.forEach((p, i) => {
    const id = `${p.ref.kind}/${p.ref.namespace}/${p.ref.name}`;
    const first = seen.get(id);
    if (first !== undefined) {
      throw new ValidationError(joinFieldPath(prefix(i), 'metadata.name'), `${p.ref.kind} ${p.ref.namespace ? `${p.ref.namespace}/` : ''}${p.ref.name} ` +
        `is already defined by document ${first}; give each policy its own name`);
    }
    seen.set(id, i);
  });
  return policies;
}
