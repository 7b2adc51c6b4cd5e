/**
 * CNI errors: the spec's numeric codes, the error JSON the plugin prints on
 * stdout, and the one place where membrane's own errors (MembraneError codes)
 * are translated into CNI codes.
 */
import { MembraneError, errorMessage } from '../common/errors.js';

/** Well-known codes of the CNI spec (1.0/1.1), plus membrane's own (100+, allowed by the spec). */
export const CniCode = {
  /** cniVersion not supported, or a verb the requested version does not have (STATUS/GC before 1.1.0). */
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  /** The network namespace does not exist: the runtime need not clean anything up. */
  UnknownContainer: 3,
  /** A CNI_* environment variable is missing or malformed. */
  InvalidEnvironment: 4,
  /** A netlink / helper command / filesystem operation failed. */
  IoFailure: 5,
  /** stdin is not JSON. */
  DecodingFailure: 6,
  InvalidNetworkConfig: 7,
  /** Transient: the agent is not running, or the address pool is exhausted. */
  TryAgainLater: 11,
  /** STATUS: the plugin cannot serve ADD (the agent is not running). */
  PluginNotAvailable: 50,
  /**
   * membrane's own: CHECK found the live state different from prevResult
   * (link or address missing, endpoint unknown to the agent or being torn down).
   * The spec defines no code for this; 100+ is the plugin-specific range.
   */
  CheckMismatch: 100,
  /** An unexpected failure (a bug): the same generic code libcni uses. */
  Internal: 999,
} as const;

export type CniCodeValue = (typeof CniCode)[keyof typeof CniCode];

/** The spec's error object, printed on stdout with a non-zero exit. */
export interface CniErrorJson {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/** An error that already carries its CNI code; everything else goes through toCniError. */
export class CniError extends Error {
  constructor(readonly code: number, msg: string, readonly details?: string, options: { cause?: unknown } = {}) {
    super(msg, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CniError';
  }

  toJson(cniVersion: string): CniErrorJson {
    const json: CniErrorJson = { cniVersion, code: this.code, msg: this.message };
    if (this.details) json.details = this.details;
    return json;
  }
}

/**
 * True when the agent could not be reached at all (no socket, connection
 * refused or reset, timeout), as opposed to the agent answering an error.
 * CniAgentClient (like AgentClient) sets a `cause` only for transport failures.
 */
export function isAgentUnreachable(err: unknown): boolean {
  return err instanceof MembraneError && err.code === 'EAGENT' && err.cause !== undefined;
}

/** The message every command uses for an agent that is down. */
export function agentNotRunningMessage(socket: string): string {
  return `the membrane agent is not running (cannot reach its socket ${socket}); start it with \`membrane agent\``;
}

/**
 * Translates any failure into a CniError. `during` names the step that failed
 * ("allocating an IP address"), so the runtime's log says what went wrong.
 *
 *   agent unreachable        -> 11 try again later
 *   agent: EINVAL            -> 7, the agent's own message (it names the field)
 *   agent: EEXHAUSTED        -> 11 (addresses come back when pods are deleted)
 *   netlink / exec / kernel  -> 5 I/O failure
 *   anything else            -> 999
 */
export function toCniError(err: unknown, during: string, agentSocket?: string): CniError {
  if (err instanceof CniError) return err;
  if (isAgentUnreachable(err)) {
    return new CniError(CniCode.TryAgainLater, agentNotRunningMessage(agentSocket ?? '(unknown)'), `while ${during}: ${errorMessage(err)}`, { cause: err });
  }
  if (err instanceof MembraneError) {
    switch (err.code) {
      case 'EINVAL':
        return new CniError(CniCode.InvalidNetworkConfig, err.message, `while ${during}`, { cause: err });
      case 'EEXHAUSTED':
        return new CniError(CniCode.TryAgainLater, err.message, `while ${during}`, { cause: err });
      case 'EEXEC':
      case 'EKERNEL':
      case 'ESTATE':
        return new CniError(CniCode.IoFailure, `${during} failed`, err.message, { cause: err });
      default:
        return new CniError(CniCode.IoFailure, `${during} failed: ${err.message}`, undefined, { cause: err });
    }
  }
  return new CniError(CniCode.Internal, `${during} failed unexpectedly: ${errorMessage(err)}`,
    err instanceof Error ? err.stack : undefined, { cause: err });
}
