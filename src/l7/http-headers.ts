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
function connectionOptions(fields: readonly HeaderField[]): Set<string> | undefined {
  let out: Set<string> | undefined;
  for (const [name, value] of fields) {
    if (name.toLowerCase() !== 'connection') continue;
    out ??= new Set<string>();
    for (const token of value.split(',')) if (token.trim()) out.add(token.trim().toLowerCase());
  }
  return out;
}

/** The fields of `fields` that go to the next hop, in order, minus any in `drop` (lower case). */
export function endToEndFields(fields: readonly HeaderField[], drop: readonly string[] = []): HeaderField[] {
  const listed = connectionOptions(fields);
  return fields.filter(([name]) => {
    const lower = name.toLowerCase();
    return !HOP_BY_HOP.has(lower) && !listed?.has(lower) && !drop.includes(lower);
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

/** Canonical keys already computed: the same few names come on every request. Bounded, so that odd names cannot grow it. */
const canonicalCache = new Map<string, string>();
const CANONICAL_CACHE_MAX = 2048;

/** Go's canonical header key ("x-request-id" → "X-Request-Id"), as Hubble prints header keys. */
export function canonicalKey(name: string): string {
  let key = canonicalCache.get(name);
  if (key === undefined) {
    key = name.toLowerCase().replace(/(^|-)([a-z])/g, (_m, sep: string, ch: string) => sep + ch.toUpperCase());
    if (canonicalCache.size < CANONICAL_CACHE_MAX) canonicalCache.set(name, key);
  }
  return key;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Control characters but HTAB: a value with one would split or corrupt the head. */
const BAD_VALUE = /[\0-\x08\x0a-\x1f\x7f]/;

/**
 * An HTTP/1.1 request head, ready to write: request line, fields, empty
 * line. With `check`, throws on a name or value that would corrupt it
 * (needed for fields that did not come through a strict parser).
 */
export function requestHead(method: string, target: string, fields: readonly HeaderField[], check = true): string {
  let head = `${method} ${target} HTTP/1.1\r\n`;
  for (const [name, value] of fields) {
    if (check && (!TOKEN.test(name) || BAD_VALUE.test(value))) throw new Error(`header ${JSON.stringify(name)} has characters not allowed in a request head`);
    head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}

/** Headers as a flow shows them: canonical keys sorted, each key's values in order (as Hubble sorts them). */
export function flowHeaders(fields: readonly HeaderField[]): L7Header[] {
  const out = fields.map(([name, value]) => ({ key: canonicalKey(name), value }));
  // Array.prototype.sort is stable: a key's values stay in the order sent.
  out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return out;
}
