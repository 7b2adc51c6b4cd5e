/**
 * Parses policy text (YAML, several documents separated by `---`, or JSON,
 * including a JSON array or a `kind: List`) into validated ParsedPolicy
 * objects. Nothing is returned unless every document is valid; the error names
 * the field, prefixed with the document index when there are several: `[1].spec.ingress[0]...`.
 */
import { parseAllDocuments } from 'yaml';
import { ValidationError } from '../common/errors.js';
import { formatFieldPath, joinFieldPath } from '../labels/fieldpath.js';
import { unsupportedCidrPeers } from './cidrgate.js';
import { policyErrorMap, validationErrorFromZod } from './errors.js';
import { normalizePolicy } from './normalize.js';
import { POLICY_API_VERSION, POLICY_KINDS, policyDocumentSchema } from './schema.js';
import type { ParsedPolicy } from './types.js';

const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks kind and apiVersion first, so a foreign object gets one clear message instead of a list of unknown fields. */
function checkKind(obj: unknown, prefix: string): void {
  if (!isMapping(obj)) {
    throw new ValidationError(prefix, 'a policy must be a mapping with apiVersion, kind, metadata and spec');
  }
  const kind = obj['kind'];
  if (kind === undefined) throw new ValidationError(joinFieldPath(prefix, 'kind'), `is required; use ${POLICY_KINDS.join(' or ')}`);
  if (!(POLICY_KINDS as readonly unknown[]).includes(kind)) {
    const hint = kind === 'NetworkPolicy' ? ' (Kubernetes NetworkPolicy is not supported yet)' : '';
    throw new ValidationError(joinFieldPath(prefix, 'kind'), `${JSON.stringify(kind)} is not a policy kind membrane knows; use ${POLICY_KINDS.join(' or ')}${hint}`);
  }
  if (obj['apiVersion'] !== POLICY_API_VERSION) {
    throw new ValidationError(joinFieldPath(prefix, 'apiVersion'), obj['apiVersion'] === undefined
      ? `is required; use ${POLICY_API_VERSION}` : `${JSON.stringify(obj['apiVersion'])} is not supported; use ${POLICY_API_VERSION}`);
  }
}

/**
 * Validates one policy object (parsed YAML/JSON). `defaultNamespace` applies to
 * a CiliumNetworkPolicy without metadata.namespace. `pathPrefix` is put before
 * every error path. Throws ValidationError, also for CIDR peers the node
 * cannot enforce yet (see cidrgate.ts).
 */
export function parsePolicyObject(obj: unknown, defaultNamespace = 'default', pathPrefix = ''): ParsedPolicy {
  if (!NAMESPACE.test(defaultNamespace)) throw new ValidationError('defaultNamespace', `${JSON.stringify(defaultNamespace)} is not a valid namespace`);
  checkKind(obj, pathPrefix);
  const result = policyDocumentSchema.safeParse(obj, { errorMap: policyErrorMap });
  if (!result.success) throw validationErrorFromZod(result.error, pathPrefix);
  const [unsupported, ...more] = unsupportedCidrPeers(result.data);
  if (unsupported) {
    const also = more.slice(0, 4).map((p) => `\n  also ${joinFieldPath(pathPrefix, formatFieldPath(p.path))}: not supported yet`).join('');
    throw new ValidationError(joinFieldPath(pathPrefix, formatFieldPath(unsupported.path)), unsupported.message + also);
  }
  return normalizePolicy(result.data, obj, defaultNamespace);
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
export function parsePolicyText(text: string, defaultNamespace = 'default'): ParsedPolicy[] {
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
