/**
 * L7 records on the proxy -> agent channel, compact. A batch names each
 * connection once and each record as a tuple with its headers flattened:
 * a keep-alive connection's records repeat the same addresses and
 * identities, and an object per field made the agent parse (and collect)
 * three times what the records say. About a third of the bytes of the
 * records as objects, and no keys to intern on the agent's side.
 *
 * The agent decodes a batch back into L7Records; records of one
 * connection share one `conn` object.
 */
import type { HeaderAction } from './http-rules.js';
import type { L7Header, L7Record, LocalReplyReason, ProxyConnInfo } from './l7-record.js';

/** src ip, src port, dst ip, dst port, src identity, dst identity, 1 for INGRESS else 0. */
type WireConn = [string, number, string, number, number, number, 0 | 1];

/** What most records do not have, present only when one of its fields is. */
interface WireExtra {
  rule?: number;
  cookies?: number[];
  headerActions?: HeaderAction[];
  reason?: LocalReplyReason;
  error?: string;
  policyDirection?: 'INGRESS' | 'EGRESS';
}

/**
 * conn index, 1 for a response else 0, time (ms), method, url, protocol,
 * code, verdict, headers as [key, value, key, value, ...], latency (ns,
 * -1 when the record has none), and the rare fields or 0.
 */
type WireRecord = [number, 0 | 1, number, string, string, string, number, L7Record['verdict'], string[], number, WireExtra | 0];

export interface L7WireBatch {
  conns: WireConn[];
  records: WireRecord[];
}

/** Encodes records; records whose `conn` is the same object share one connection entry. */
export function encodeL7Records(records: readonly L7Record[]): L7WireBatch {
  const index = new Map<ProxyConnInfo, number>();
  const conns: WireConn[] = [];
  const out: WireRecord[] = [];
  for (const r of records) {
    let c = index.get(r.conn);
    if (c === undefined) {
      c = conns.length;
      index.set(r.conn, c);
      const k = r.conn;
      conns.push([k.src.ip, k.src.port, k.dst.ip, k.dst.port, k.srcIdentity, k.dstIdentity, k.direction === 'INGRESS' ? 1 : 0]);
    }
    const headers: string[] = [];
    for (const h of r.headers) headers.push(h.key, h.value);
    const cookies = r.cookies;
    let extra: WireExtra | 0 = 0;
    if (r.rule !== undefined || cookies || r.headerActions || r.reason || r.error !== undefined || r.policyDirection) {
      extra = {};
      if (r.rule !== undefined) extra.rule = r.rule;
      if (cookies) extra.cookies = cookies;
      if (r.headerActions) extra.headerActions = r.headerActions;
      if (r.reason) extra.reason = r.reason;
      if (r.error !== undefined) extra.error = r.error;
      if (r.policyDirection) extra.policyDirection = r.policyDirection;
    }
    out.push([c, r.type === 'response' ? 1 : 0, r.timeMs, r.method, r.url, r.protocol, r.code, r.verdict, headers, r.latencyNs ?? -1, extra]);
  }
  return { conns, records: out };
}

/** Decodes a batch; throws on a batch that is not one (the channel is the agent's own, so that is a bug). */
export function decodeL7Records(batch: L7WireBatch): L7Record[] {
  if (!Array.isArray(batch?.conns) || !Array.isArray(batch.records)) throw new TypeError('not an L7 record batch: conns and records must be arrays');
  const conns: ProxyConnInfo[] = batch.conns.map((c) => ({
    src: { ip: c[0], port: c[1] }, dst: { ip: c[2], port: c[3] }, srcIdentity: c[4], dstIdentity: c[5], direction: c[6] === 1 ? 'INGRESS' : 'EGRESS',
  }));
  const out: L7Record[] = [];
  for (const w of batch.records) {
    const conn = conns[w[0]];
    if (!conn) throw new TypeError(`L7 record names connection ${w[0]} of ${conns.length}`);
    const flat = w[8];
    const headers: L7Header[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) headers.push({ key: flat[i]!, value: flat[i + 1]! });
    const r: L7Record = { type: w[1] === 1 ? 'response' : 'request', timeMs: w[2], conn, method: w[3], url: w[4], protocol: w[5], code: w[6], verdict: w[7], headers };
    if (w[9] >= 0) r.latencyNs = w[9];
    const x = w[10];
    if (x) {
      if (x.rule !== undefined) r.rule = x.rule;
      if (x.cookies) r.cookies = x.cookies;
      if (x.headerActions) r.headerActions = x.headerActions;
      if (x.reason) r.reason = x.reason;
      if (x.error !== undefined) r.error = x.error;
      if (x.policyDirection) r.policyDirection = x.policyDirection;
    }
    out.push(r);
  }
  return out;
}
