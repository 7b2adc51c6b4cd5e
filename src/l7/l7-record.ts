/**
 * What the HTTP proxy reports of each decision: one record per request it
 * saw (forwarded or dropped) and one per response it sent back, the way
 * Cilium's proxy writes its access log. src/hubble/l7-flow.ts turns them
 * into Hubble flows. Plain data.
 */
import type { HeaderAction } from './http-rules.js';

export interface SocketAddress {
  ip: string;
  port: number;
}

/**
 * The connection the proxy serves, as the redirection side knows it: the
 * client's original 4-tuple (`dst` is the address the client connected
 * to, not the proxy's) and the identities policy decided with.
 */
export interface ProxyConnInfo {
  src: SocketAddress;
  dst: SocketAddress;
  srcIdentity: number;
  dstIdentity: number;
  /** The policy direction whose L7 rules apply: INGRESS at the server's endpoint, EGRESS at the client's. */
  direction: 'INGRESS' | 'EGRESS';
}

export interface L7Header {
  key: string;
  value: string;
}

/**
 * Why the proxy answered a request itself rather than the server:
 * policy denied it, it was malformed or ambiguous, the client was too
 * slow, or the server could not be reached.
 */
export type LocalReplyReason = 'denied' | 'malformed' | 'timeout' | 'upstream';

export interface L7Record<C extends ProxyConnInfo = ProxyConnInfo> {
  type: 'request' | 'response';
  /** Wall-clock milliseconds. */
  timeMs: number;
  conn: C;
  /** Empty when a malformed request had none readable. */
  method: string;
  /** Scheme, host and target as Hubble shows them: `http://deathstar.default.svc.cluster.local/v1/request-landing`. */
  url: string;
  /** `HTTP/1.1`, `HTTP/1.0`. */
  protocol: string;
  /** The response status; on a request record, the status the proxy answered with itself, else 0. */
  code: number;
  /** Responses: from the request's headers to the response's headers. */
  latencyNs?: number;
  verdict: 'FORWARDED' | 'DROPPED' | 'ERROR';
  /** Requests: the headers as forwarded (after header actions); responses: the response's headers. */
  headers: L7Header[];
  /** The HTTP rule that allowed the request (its index in the port's rules). */
  rule?: number;
  /**
   * Requests the policy decided: the cookies of the rules behind the
   * decision (the rule that allowed it; for a denied request, every rule of
   * its port, none of which matched), for the flow's allowed_by/denied_by.
   */
  cookies?: number[];
  /**
   * The side whose rules decided, when not the connection's own direction:
   * INGRESS when a request redirected at the client (egress) was denied by
   * the server's own ingress HTTP rules.
   */
  policyDirection?: 'INGRESS' | 'EGRESS';
  /** headerMatches mismatches and what was done about them. */
  headerActions?: HeaderAction[];
  reason?: LocalReplyReason;
  /** The parser's or the socket's error, for malformed requests and upstream failures. */
  error?: string;
}
