/**
 * Audit mode per policy: a policy annotated
 * `policy.membrane.io/audit-mode: "true"` is resolved like any other, but
 * what it alone would drop passes and is reported with an AUDIT verdict:
 * its deny rules, and the default deny of a direction when only audited
 * policies put the endpoint into default deny there.
 */
import { ValidationError } from '../common/errors.js';
import type { ParsedPolicy } from './types.js';

export const AUDIT_ANNOTATION = 'policy.membrane.io/audit-mode';

/** Reads and validates the audit annotation of `obj`; sets `audit` on the parsed policy. */
export function withAuditMode(policy: ParsedPolicy, obj: unknown, pathPrefix: string): ParsedPolicy {
  const annotations = (obj as { metadata?: { annotations?: Record<string, unknown> } }).metadata?.annotations;
  const value = annotations?.[AUDIT_ANNOTATION];
  if (value === undefined) return policy;
  if (value !== 'true' && value !== 'false') {
    const path = `${pathPrefix}${pathPrefix ? '.' : ''}metadata.annotations["${AUDIT_ANNOTATION}"]`;
    throw new ValidationError(path, `${JSON.stringify(value)} is not "true" or "false"`);
  }
  return { ...policy, audit: value === 'true' };
}
