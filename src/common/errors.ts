/**
 * membrane's error classes. Every error carries a stable `code` that callers
 * (the CLI, the CNI plugin, the REST API) can switch on, and passes its
 * `cause` on so nothing is lost between layers.
 */

export type ErrorCode =
  | 'EINVAL' // bad user input: a policy, a manifest, a flag, a config
  | 'ENOTFOUND' // a named object does not exist
  | 'EEXIST' // an object already exists
  | 'EKERNEL' // a kernel operation failed (bpf, netlink)
  | 'EEXEC' // a helper command failed
  | 'EAGENT' // the agent could not be reached or answered an error
  | 'ESTATE' // persisted state is unreadable or inconsistent
  | 'EEXHAUSTED'; // a pool ran out (IPAM, identities)

export class MembraneError extends Error {
  readonly code: ErrorCode;
  /** For input errors: the path of the offending field, e.g. `spec.ingress[0].toPorts[0].ports[0].port`. */
  readonly path?: string;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; path?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MembraneError';
    this.code = code;
    if (options.path !== undefined) this.path = options.path;
  }
}

/** Bad user input; `path` names the field. */
export class ValidationError extends MembraneError {
  constructor(path: string, message: string, options: { cause?: unknown } = {}) {
    super('EINVAL', path ? `${path}: ${message}` : message, { ...options, path });
    this.name = 'ValidationError';
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
