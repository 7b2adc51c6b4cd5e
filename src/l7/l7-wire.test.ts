import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { L7Record, ProxyConnInfo } from './l7-record.js';
import { decodeL7Records, encodeL7Records } from './l7-wire.js';

const conn: ProxyConnInfo = { src: { ip: '10.244.1.7', port: 40312 }, dst: { ip: '10.244.1.9', port: 80 }, srcIdentity: 31028, dstIdentity: 16530, direction: 'INGRESS' };
const other: ProxyConnInfo = { src: { ip: '10.244.1.8', port: 5000 }, dst: { ip: '198.51.100.4', port: 8080 }, srcIdentity: 4000, dstIdentity: 2, direction: 'EGRESS' };

const records: L7Record[] = [
  { type: 'request', timeMs: 1_700_000_000_123, conn, method: 'POST', url: 'http://deathstar/v1/request-landing', protocol: 'HTTP/1.1', code: 0, verdict: 'FORWARDED',
    headers: [{ key: 'Host', value: 'deathstar' }, { key: 'X-Dup', value: 'a' }, { key: 'X-Dup', value: '' }], rule: 1, cookies: [7, 9] },
  { type: 'response', timeMs: 1_700_000_000_125, conn, method: 'POST', url: 'http://deathstar/v1/request-landing', protocol: 'HTTP/1.1', code: 200, verdict: 'FORWARDED',
    headers: [], latencyNs: 0 },
  { type: 'request', timeMs: 1_700_000_000_130, conn: other, method: 'PUT', url: 'http://198.51.100.4:8080/x', protocol: 'HTTP/1.0', code: 403, verdict: 'DROPPED',
    headers: [], reason: 'denied', error: 'policy decision failed: boom', policyDirection: 'INGRESS', headerActions: [{ action: 'ADD', name: 'X-Token', value: 't' }] },
];

test('records survive the batch encoding field for field', () => {
  const batch = JSON.parse(JSON.stringify(encodeL7Records(records))) as ReturnType<typeof encodeL7Records>;
  assert.deepEqual(decodeL7Records(batch), records);
});

test('a connection is sent once per batch and its records share it on the agent side', () => {
  const batch = encodeL7Records(records);
  assert.equal(batch.conns.length, 2);
  const back = decodeL7Records(JSON.parse(JSON.stringify(batch)) as typeof batch);
  assert.equal(back[0]!.conn, back[1]!.conn);
  assert.notEqual(back[0]!.conn, back[2]!.conn);
});

test('the batch is much smaller than the records as objects', () => {
  const many = Array.from({ length: 100 }, (_, i) => ({ ...records[i % 2]!, conn }));
  assert.ok(JSON.stringify(encodeL7Records(many)).length < 0.6 * JSON.stringify(many).length);
});

test('a malformed batch is refused with what is wrong', () => {
  assert.throws(() => decodeL7Records({ conns: [], records: [[3, 0, 1, 'GET', '/', 'HTTP/1.1', 0, 'FORWARDED', [], -1, 0]] }), /names connection 3 of 0/);
  assert.throws(() => decodeL7Records({} as never), /conns and records must be arrays/);
});
