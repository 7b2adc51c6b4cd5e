/**
 * L7 flows: the HTTP proxy's records (src/l7/l7-record.ts) as Hubble
 * shows them: Type L7, event type 129, `l7.http` with code, method, URL,
 * protocol and headers, and Hubble's summary (`HTTP/1.1 PUT http://…` for
 * a request, `HTTP/1.1 403 0ms (PUT http://…)` for a response).
 *
 * Flow sides follow the message, as Hubble's: a request goes from the
 * client to the server; a response from the server to the client, with
 * `is_reply` set (so the compact line still reads client <- server).
 * Enrichment (pods, identity labels) comes from the same FlowContext as
 * every other flow. Pure.
 */
import type { L7Header, L7Record } from '../l7/l7-record.js';
import { endpointFor, type Flow, type FlowContext, isoTime, nextFlowUuid, policyLogOf } from './flow.js';

/** The monitor's message type of L7 records (Hubble's event_type.type). */
export const EVENT_L7 = 129;

/** Hubble's Layer7 message (the HTTP record only: membrane's proxy speaks HTTP). */
export interface Layer7 {
  type: 'REQUEST' | 'RESPONSE';
  latency_ns: number;
  http: { code: number; method: string; url: string; protocol: string; headers: L7Header[] };
}

/** A flow with its L7 part; every L7Flow is a Flow. */
export type L7Flow = Flow & { l7: Layer7 };

/** The `l7` of a flow, if it has one (flows are typed without it: see L7Flow). */
export function layer7Of(f: Flow): Layer7 | undefined {
  return (f as Partial<L7Flow>).l7;
}

/** Hubble's summary of an HTTP record. */
export function httpSummary(l7: Layer7): string {
  const { protocol, method, url, code } = l7.http;
  return l7.type === 'REQUEST'
    ? `${protocol} ${method} ${url}`
    : `${protocol} ${code} ${Math.floor(l7.latency_ns / 1e6)}ms (${method} ${url})`;
}

/** One proxy record as a Hubble flow. */
export function flowFromL7Record(r: L7Record, ctx: FlowContext): L7Flow {
  const response = r.type === 'response';
  const [from, to] = response ? [r.conn.dst, r.conn.src] : [r.conn.src, r.conn.dst];
  const [fromId, toId] = response ? [r.conn.dstIdentity, r.conn.srcIdentity] : [r.conn.srcIdentity, r.conn.dstIdentity];
  const l7: Layer7 = {
    type: response ? 'RESPONSE' : 'REQUEST',
    latency_ns: r.latencyNs ?? 0,
    http: { code: r.code, method: r.method, url: r.url, protocol: r.protocol, headers: r.headers },
  };
  const flow: L7Flow = {
    time: isoTime(r.timeMs),
    uuid: nextFlowUuid(),
    verdict: r.verdict,
    IP: { source: from.ip, destination: to.ip, ipVersion: 'IPv4' },
    l4: { TCP: { source_port: from.port, destination_port: to.port } },
    source: endpointFor(ctx, from.ip, fromId),
    destination: endpointFor(ctx, to.ip, toId),
    Type: 'L7',
    node_name: ctx.nodeName,
    event_type: { type: EVENT_L7 },
    traffic_direction: r.conn.direction,
    is_reply: response,
    l7,
    Summary: httpSummary(l7),
  };
  attributeL7(flow, r, ctx);
  return flow;
}

/**
 * A decided request's flow names the rules behind the decision (policy and
 * rule path, each once), as L3/L4 verdict flows do, and carries their log
 * values as policy_log.
 */
function attributeL7(flow: L7Flow, r: L7Record, ctx: FlowContext): void {
  if (r.type !== 'request' || !r.cookies?.length) return;
  const seen = new Set<string>();
  const policies = r.cookies.flatMap((c) => ctx.policiesForCookie(c)).filter((p) => {
    const key = `${p.kind}/${p.namespace}/${p.name}/${p.rule ?? ''}`;
    return seen.has(key) ? false : (seen.add(key), true);
  });
  if (policies.length === 0) return;
  const ingress = (r.policyDirection ?? r.conn.direction) === 'INGRESS';
  if (r.verdict === 'FORWARDED') flow[ingress ? 'ingress_allowed_by' : 'egress_allowed_by'] = policies;
  else flow[ingress ? 'ingress_denied_by' : 'egress_denied_by'] = policies;
  const logs = policyLogOf(ctx, r.cookies);
  if (logs) flow.policy_log = logs;
}
