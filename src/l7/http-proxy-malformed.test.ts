/**
 * Malformed and ambiguous requests through the HTTP proxy: each answered
 * 400, never forwarded, recorded; and slow or idle clients timing out.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { rawExchange, startProxy, startUpstream, statusCodes, type ProxyUnderTest, type Upstream } from './proxy-harness.js';

const HOST = 'deathstar.default.svc.cluster.local';

function echo(req: http.IncomingMessage, res: http.ServerResponse): void {
  req.resume();
  req.on('end', () => res.end(`seen ${req.method} ${req.url}`));
}

/** [what, the bytes sent] */
const MALFORMED: [string, string][] = [
  ['both Content-Length and Transfer-Encoding', `POST /x HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
  ['conflicting Content-Lengths', `POST /x HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`],
  ['a repeated Content-Length', `POST /x HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello`],
  ['a Content-Length list', `POST /x HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 5, 5\r\n\r\nhello`],
  ['a Transfer-Encoding other than chunked last', `POST /x HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`],
  ['a space in a header name', `GET /x HTTP/1.1\r\nHost: ${HOST}\r\nBad Header: 1\r\n\r\n`],
  ['a space before the colon', `GET /x HTTP/1.1\r\nHost: ${HOST}\r\nX-A : 1\r\n\r\n`],
  ['a control character in a header name', `GET /x HTTP/1.1\r\nHost: ${HOST}\r\nX-\x01A: 1\r\n\r\n`],
  ['a NUL in a header value', `GET /x HTTP/1.1\r\nHost: ${HOST}\r\nX-A: a\x00b\r\n\r\n`],
  ['a bare LF line end', `GET /x HTTP/1.1\nHost: ${HOST}\n\n`],
  ['a bare CR in a header value', `GET /x HTTP/1.1\r\nHost: ${HOST}\r\nX-A: a\rb\r\n\r\n`],
  ['an obsolete folded header line', `GET /x HTTP/1.1\r\nHost: ${HOST}\r\nX-A: a\r\n b\r\n\r\n`],
  ['an invalid method', `G@T /x HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`],
  ['an invalid HTTP version', `GET /x HTTP/9.7\r\nHost: ${HOST}\r\n\r\n`],
  ['a space in the request target', `GET /x y HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`],
  ['an oversized request line', `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`],
  ['oversized headers', `GET /x HTTP/1.1\r\nHost: ${HOST}\r\n${Array.from({ length: 400 }, (_, i) => `X-Filler-${i}: ${'v'.repeat(40)}\r\n`).join('')}\r\n`],
  ['HTTP/1.1 without Host', 'GET /x HTTP/1.1\r\nUser-Agent: t\r\n\r\n'],
  ['two Host headers', `GET /x HTTP/1.1\r\nHost: ${HOST}\r\nHost: evil.example\r\n\r\n`],
  ['an https absolute-form target', `GET https://${HOST}/x HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`],
];

describe('HTTP proxy: malformed and ambiguous requests', () => {
  let up: Upstream;
  let px: ProxyUnderTest;
  before(async () => {
    up = await startUpstream(echo);
    px = await startProxy(up.port, [{ method: 'GET|POST', path: '/x.*' }]);
  });
  after(async () => {
    await px.close();
    await up.close();
  });

  for (const [what, bytes] of MALFORMED) {
    it(`${what}: 400, the connection closed, never forwarded, recorded`, async () => {
      const seenBefore = up.seen.length;
      const recordsBefore = px.records.length;
      const { text, closed } = await rawExchange(px.port, bytes, 400);
      assert.deepEqual(statusCodes(text), [400], text.slice(0, 200));
      assert.ok(closed, 'the proxy closes the connection');
      assert.equal(up.seen.length, seenBefore, `forwarded: ${up.seen.slice(seenBefore).join(', ')}`);
      const records = px.records.slice(recordsBefore);
      assert.deepEqual(records.map((r) => [r.type, r.verdict, r.code, r.reason]), [['request', 'DROPPED', 400, 'malformed'], ['response', 'FORWARDED', 400, 'malformed']]);
    });
  }

  it('answers 400 with a body and closes, not 431, for oversized headers', async () => {
    const { text } = await rawExchange(px.port, MALFORMED.find(([w]) => w === 'oversized headers')![1], 400);
    assert.match(text, /^HTTP\/1\.1 400 Bad Request\r\n[^]*connection: close\r\n\r\nBad Request\r\n$/i);
  });

  it('answers the good requests pipelined before a malformed one, in order, then 400', async () => {
    const good = `GET /x/1 HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`;
    const seenBefore = up.seen.length;
    const { text, closed } = await rawExchange(px.port, `${good}${good.replace('/x/1', '/x/2')}GET /x/3 HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n`, 400);
    assert.deepEqual(statusCodes(text), [200, 200, 400]);
    assert.ok(text.indexOf('seen GET /x/1') < text.indexOf('seen GET /x/2'));
    assert.ok(closed);
    assert.deepEqual(up.seen.slice(seenBefore), ['GET /x/1', 'GET /x/2']);
  });

  it('a malformed chunk in a body already streaming: 400, the server\'s request aborted before it completes', async () => {
    const completed: string[] = [];
    const server = await startUpstream((req, res) => {
      req.resume();
      req.on('end', () => { completed.push(req.url!); res.end('ok'); });
    });
    const proxy = await startProxy(server.port, []);
    try {
      const { text, closed } = await rawExchange(proxy.port, `POST /chunks HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n`, 400);
      assert.deepEqual(statusCodes(text), [400]);
      assert.ok(closed);
      assert.deepEqual(completed, []);
      assert.deepEqual(proxy.records.map((r) => [r.type, r.verdict, r.code]), [['request', 'FORWARDED', 0], ['request', 'DROPPED', 400], ['response', 'FORWARDED', 400]]);
    } finally {
      await proxy.close();
      await server.close();
    }
  });

  it('keeps absolute-form targets, deciding and forwarding on their authority', async () => {
    const { text } = await rawExchange(px.port, `GET http://${HOST}/x/abs?q=1 HTTP/1.1\r\nHost: other.example\r\n\r\n`, 300);
    assert.deepEqual(statusCodes(text), [200]);
    assert.equal(up.seen.at(-1), 'GET /x/abs?q=1');
    assert.equal(px.records.at(-1)!.url, `http://${HOST}/x/abs?q=1`);
  });
});

describe('HTTP proxy: slow and idle clients', () => {
  let up: Upstream;
  let px: ProxyUnderTest;
  before(async () => {
    up = await startUpstream(echo);
    px = await startProxy(up.port, [], { timeouts: { headersMs: 300, requestMs: 600, keepAliveMs: 300, checkIntervalMs: 50 } });
  });
  after(async () => {
    await px.close();
    await up.close();
  });

  it('answers 408 and closes when the headers do not arrive in time', async () => {
    const started = Date.now();
    const { text, closed } = await rawExchange(px.port, `GET /x HTTP/1.1\r\nHost: ${HOST}\r\n`, 2_000);
    assert.deepEqual(statusCodes(text), [408]);
    assert.ok(closed);
    assert.ok(Date.now() - started < 1_500);
    assert.equal(px.records.at(-1)!.reason, 'timeout');
  });

  it('answers 408 when a body trickles in slower than the request timeout', async () => {
    const { text, closed } = await rawExchange(px.port, `POST /x HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 100\r\n\r\nonly a little`, 2_000);
    assert.deepEqual(statusCodes(text), [408]);
    assert.ok(closed);
  });

  it('closes a connection that never sends anything', async () => {
    const started = Date.now();
    const { closed } = await rawExchange(px.port, '', 2_000);
    assert.ok(closed);
    assert.ok(Date.now() - started < 1_500);
  });

  it('closes an idle keep-alive connection after keepAliveMs', async () => {
    const started = Date.now();
    const { text, closed } = await rawExchange(px.port, `GET /x HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`, 2_000);
    assert.deepEqual(statusCodes(text), [200]);
    assert.ok(closed);
    assert.ok(Date.now() - started < 1_500);
  });
});
