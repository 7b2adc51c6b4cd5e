/**
 * Header fields across the proxy: what is forwarded and what stays on
 * one hop (RFC 9110 §7.6.1). The proxy frames each message itself, so
 * the client's framing headers never reach the server as sent (the
 * server gets an explicit Content-Length or chunked encoding), which
 * leaves no way to smuggle a second request through disagreeing parsers.
 * Pure.
 */
import type { HeaderField } from './http-rules.js';
import type { L7Header } from './l7-record.js';

/** Connection-specific fields, never forwarded (Transfer-Encoding too: the proxy frames each hop itself). */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer',
  'transfer-encoding', 'upgrade',
]);

/** Field pairs of Node's flat rawHeaders ([name, value, name, value, ...]), names as sent. */
export function headerPairs(raw: readonly string[]): HeaderField[] {
  const out: HeaderField[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

/** Names listed in Connection headers: also hop-by-hop for this message. */
function connectionOptions(fields: readonly HeaderField[]): Set<string> {
  const out = new Set<string>();
  for (const [name, value] of fields) {
    if (name.toLowerCase() !== 'connection') continue;
    for (const token of value.split(',')) if (token.trim()) out.add(token.trim().toLowerCase());
  }
  return out;
}

/** The fields of `fields` that go to the next hop, in order, minus any in `drop` (lower case). */
export function endToEndFields(fields: readonly HeaderField[], drop: readonly string[] = []): HeaderField[] {
  const listed = connectionOptions(fields);
  return fields.filter(([name]) => {
    const lower = name.toLowerCase();
    return !HOP_BY_HOP.has(lower) && !listed.has(lower) && !drop.includes(lower);
  });
}

/** How a request's body is framed, as the proxy re-frames it upstream. */
export type BodyFraming = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' };

/** The framing header for a body of this framing, if any. */
export function framingField(framing: BodyFraming): HeaderField | undefined {
  if (framing.kind === 'length') return ['Content-Length', String(framing.length)];
  if (framing.kind === 'chunked') return ['Transfer-Encoding', 'chunked'];
  return undefined;
}

/** Go's canonical header key ("x-request-id" → "X-Request-Id"), as Hubble prints header keys. */
export function canonicalKey(name: string): string {
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_m, sep: string, ch: string) => sep + ch.toUpperCase());
}

/** Headers as a flow shows them: canonical keys sorted, each key's values in order (as Hubble sorts them). */
export function flowHeaders(fields: readonly HeaderField[]): L7Header[] {
  const out = fields.map(([name, value], i) => ({ key: canonicalKey(name), value, i }));
  out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.i - b.i));
  return out.map(({ key, value }) => ({ key, value }));
}
