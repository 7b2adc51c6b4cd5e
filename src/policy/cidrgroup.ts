/**
 * CiliumCIDRGroup objects: a name, labels and a list of external CIDRs, which
 * CIDR peers reference by name (`cidrGroupRef`) or select by label
 * (`cidrGroupSelector`). Cluster-scoped, as in Cilium; `cilium.io/v2alpha1`
 * and `cilium.io/v2` are both read.
 */
import { z } from 'zod';
import { ValidationError } from '../common/errors.js';
import { joinFieldPath } from '../labels/fieldpath.js';
import { LabelSource, LabelSet } from '../labels/labels.js';
import { formatCidr, parseCidr } from './cidr.js';
import { policyErrorMap, validationErrorFromZod } from './errors.js';
import { cidrSchema, metadataSchema } from './schema.js';
import type { CidrGroup } from './types.js';

export const CIDR_GROUP_KIND = 'CiliumCIDRGroup' as const;
export const CIDR_GROUP_API_VERSIONS = ['cilium.io/v2alpha1', 'cilium.io/v2'] as const;

/** How many CIDRs one group may hold: enough for real lists, bounded for the agent's memory. */
export const MAX_GROUP_CIDRS = 4096;

const cidrGroupSchema = z
  .object({
    apiVersion: z.enum(CIDR_GROUP_API_VERSIONS),
    kind: z.literal(CIDR_GROUP_KIND),
    metadata: metadataSchema,
    spec: z.object({ externalCIDRs: z.array(cidrSchema).max(MAX_GROUP_CIDRS) }).strict(),
  })
  .strict();

export interface ParsedCidrGroup {
  group: CidrGroup;
  /** Indexes of the IPv6 prefixes in `spec.externalCIDRs`: kept, but they select no traffic on the IPv4-only datapath. */
  ipv6: number[];
  /** The object as given, for `policy get`. */
  object: unknown;
}

export const isCidrGroupObject = (obj: unknown): boolean =>
  typeof obj === 'object' && obj !== null && (obj as Record<string, unknown>)['kind'] === CIDR_GROUP_KIND;

/** Validates a CiliumCIDRGroup object; errors name the path, prefixed with `pathPrefix`. */
export function parseCidrGroupObject(obj: unknown, pathPrefix = ''): ParsedCidrGroup {
  const result = cidrGroupSchema.safeParse(obj, { errorMap: policyErrorMap });
  if (!result.success) throw validationErrorFromZod(result.error, pathPrefix);
  const doc = result.data;
  if (doc.metadata.namespace !== undefined) {
    throw new ValidationError(joinFieldPath(pathPrefix, 'metadata.namespace'), 'a CiliumCIDRGroup is cluster-scoped: remove the namespace');
  }
  const parsed = doc.spec.externalCIDRs.map((c) => parseCidr(c)!);
  const cidrs = [...new Set(parsed.map(formatCidr))];
  return {
    group: { name: doc.metadata.name, labels: LabelSet.fromRecord(doc.metadata.labels ?? {}, LabelSource.CidrGroup), cidrs },
    ipv6: parsed.flatMap((c, i) => (c.family === 6 ? [i] : [])),
    object: obj,
  };
}
