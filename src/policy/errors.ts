/**
 * Turns zod's findings about a policy into one ValidationError whose path
 * names the offending field exactly (`spec.ingress[0].toPorts[0].ports[0].port`)
 * and whose message says what is wrong and what to write instead.
 */
import type { ZodError, ZodErrorMap, ZodIssue } from 'zod';
import { ValidationError } from '../common/errors.js';
import { formatFieldPath, joinFieldPath } from '../labels/fieldpath.js';

/** Cilium policy fields membrane does not implement yet: named as such rather than as unknown. */
export const NOT_YET_SUPPORTED: ReadonlySet<string> = new Set([
  'nodeSelector', 'fromGroups', 'toGroups', 'fromNodes', 'toNodes',
  'toFQDNs', 'authentication', 'terminatingTLS', 'originatingTLS', 'serverNames',
  'listener', 'dns', 'kafka', 'l7proto', 'l7',
]);

/** Every field name of the accepted language, for "did you mean" hints. */
const KNOWN_FIELDS = [
  'apiVersion', 'kind', 'metadata', 'description', 'spec', 'specs', 'name', 'namespace', 'labels', 'annotations',
  'endpointSelector', 'enableDefaultDeny', 'log', 'ingress', 'ingressDeny', 'egress', 'egressDeny', 'matchLabels',
  'matchExpressions', 'key', 'operator', 'values', 'fromEndpoints', 'toEndpoints', 'fromCIDR', 'toCIDR', 'fromCIDRSet',
  'toCIDRSet', 'fromEntities', 'toEntities', 'toPorts', 'ports', 'port', 'endPort', 'protocol', 'rules', 'http', 'path',
  'method', 'host', 'headers', 'headerMatches', 'cidr', 'except', 'cidrGroupRef', 'cidrGroupSelector', 'value', 'source',
  'icmps', 'fields', 'family', 'type', 'fromRequires', 'toRequires',
];

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** Every field name of a Kubernetes NetworkPolicy. */
const KNP_FIELDS = [
  'apiVersion', 'kind', 'metadata', 'spec', 'name', 'namespace', 'labels', 'annotations', 'podSelector', 'policyTypes',
  'ingress', 'egress', 'from', 'to', 'ports', 'port', 'endPort', 'protocol', 'namespaceSelector', 'ipBlock', 'cidr',
  'except', 'matchLabels', 'matchExpressions', 'key', 'operator', 'values',
];

/** CiliumNetworkPolicy fields written into a NetworkPolicy, with what a NetworkPolicy has instead. */
const KNP_INSTEAD: Readonly<Record<string, string>> = {
  endpointSelector: 'podSelector', fromEndpoints: 'from', toEndpoints: 'to', toPorts: 'ports', fromCIDR: 'from[].ipBlock',
  toCIDR: 'to[].ipBlock', fromCIDRSet: 'from[].ipBlock', toCIDRSet: 'to[].ipBlock',
};

/** Which policy language an object is written in: Cilium's or Kubernetes NetworkPolicy. */
export type PolicyDialect = 'cilium' | 'knp';

function unknownFieldMessage(key: string, dialect: PolicyDialect): string {
  if (dialect === 'knp') {
    const instead = KNP_INSTEAD[key];
    if (instead) return `\`${key}\` is a CiliumNetworkPolicy field; a NetworkPolicy writes \`${instead}\``;
    return nearestFieldMessage(key, KNP_FIELDS);
  }
  if (NOT_YET_SUPPORTED.has(key)) return `\`${key}\` is a Cilium policy field that membrane does not support yet`;
  // A peer field of the other direction (fromRequires in an egress rule): name the one this direction has.
  const other = /^from[A-Z]/.test(key) ? `to${key.slice(4)}` : /^to[A-Z]/.test(key) ? `from${key.slice(2)}` : undefined;
  if (other && KNOWN_FIELDS.includes(key) && KNOWN_FIELDS.includes(other)) {
    return `\`${key}\` belongs in ${key.startsWith('from') ? 'ingress' : 'egress'} rules; here write \`${other}\``;
  }
  return nearestFieldMessage(key, KNOWN_FIELDS);
}

function nearestFieldMessage(key: string, known: readonly string[]): string {
  const near = known.map((f) => ({ f, d: f.toLowerCase() === key.toLowerCase() ? 0 : editDistance(f, key) }))
    .filter((x) => x.d <= 2).sort((a, b) => a.d - b.d)[0];
  return `unknown field \`${key}\`` + (near ? ` (did you mean \`${near.f}\`?)` : '');
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string', number: 'a number', integer: 'a whole number', boolean: 'true or false', array: 'a list',
  object: 'a mapping', null: 'null', undefined: 'nothing', nan: 'NaN', bigint: 'a number', float: 'a number',
};
const typeName = (t: string) => TYPE_NAMES[t] ?? t;

/** Plain-language zod messages; custom issues keep their own message. */
export const policyErrorMap: ZodErrorMap = (issue, ctx) => {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.received === 'undefined') return { message: 'is required' };
      return { message: `must be ${typeName(issue.expected)}, not ${typeName(issue.received)}` };
    case 'invalid_literal':
      return { message: `must be ${JSON.stringify(issue.expected)}, not ${JSON.stringify(ctx.data)}` };
    case 'invalid_enum_value':
      return { message: `${JSON.stringify(issue.received)} is not one of ${issue.options.join(', ')}` };
    case 'too_small':
      return { message: issue.type === 'string' ? 'must not be empty' : `needs at least ${issue.minimum} entries` };
    case 'too_big':
      return { message: issue.type === 'array' ? `has more than ${issue.maximum} entries` : `is larger than ${issue.maximum}` };
    default:
      return { message: ctx.defaultError };
  }
};

interface Problem {
  path: string;
  message: string;
}

function problemsOf(issue: ZodIssue, dialect: PolicyDialect): Problem[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => ({ path: formatFieldPath([...issue.path, k]), message: unknownFieldMessage(k, dialect) }));
  }
  return [{ path: formatFieldPath(issue.path), message: issue.message }];
}

/**
 * The first problem as a ValidationError (path prefixed with `pathPrefix`, e.g.
 * `[1]` for the second document), the next few listed in its message.
 */
export function validationErrorFromZod(error: ZodError, pathPrefix: string, dialect: PolicyDialect = 'cilium'): ValidationError {
  const problems = error.issues.flatMap((issue) => problemsOf(issue, dialect)).map((p) => ({ ...p, path: joinFieldPath(pathPrefix, p.path) }));
  const [first, ...rest] = problems;
  if (!first) return new ValidationError(pathPrefix, 'invalid policy');
  const more = rest.slice(0, 4).map((p) => `\n  also ${p.path}: ${p.message}`).join('') +
    (rest.length > 4 ? `\n  and ${rest.length - 4} more problems` : '');
  return new ValidationError(first.path, first.message + more);
}
