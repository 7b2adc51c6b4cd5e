/**
 * The proxy's server-side response parser: every framing, fed whole and
 * byte by byte, and the responses it must refuse.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HttpResponseParser, ResponseParseError, type ResponseHead } from './http-response-parser.js';

interface Parsed {
  heads: ResponseHead[];
  body: string;
  ends: boolean[];
}

/** Parses `bytes` as the answer to one request, fed in pieces of `step` bytes (0: whole). */
function parse(bytes: string, opts: { head?: boolean; step?: number; close?: boolean } = {}): Parsed {
  const out: Parsed = { heads: [], body: '', ends: [] };
  const parser = new HttpResponseParser({
    onHead: (h) => out.heads.push(h),
    onBody: (c) => { out.body += c.toString('latin1'); },
    onEnd: (keepAlive) => out.ends.push(keepAlive),
  });
  parser.expect(opts.head ?? false);
  const buf = Buffer.from(bytes, 'latin1');
  const step = opts.step || buf.length;
  for (let i = 0; i < buf.length; i += step) parser.execute(buf.subarray(i, i + step));
  if (opts.close) parser.finish();
  return out;
}

describe('HttpResponseParser', () => {
  const framings: [string, string, string, boolean][] = [
    ['Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello', 'hello', true],
    ['chunked, with an extension and trailers', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n', 'hello world', true],
    ['Content-Length 0', 'HTTP/1.1 204 No Content\r\n\r\n', '', true],
    ['Connection: close', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok', 'ok', false],
    ['HTTP/1.0 without keep-alive', 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok', 'ok', false],
    ['HTTP/1.0 with keep-alive', 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok', 'ok', true],
    ['an interim 103 first', 'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', 'ok', true],
  ];
  for (const [what, bytes, body, keepAlive] of framings) {
    it(`reads a body framed by ${what}, whole and byte by byte`, () => {
      for (const step of [0, 1, 3]) {
        const out = parse(bytes, { step });
        assert.equal(out.body, body);
        assert.deepEqual(out.ends, [keepAlive]);
        assert.equal(out.heads.length, 1);
      }
    });
  }

  it('gives the status and the header fields as sent', () => {
    const out = parse('HTTP/1.1 404 Not Found\r\nX-Mixed-Case:  v a \r\nContent-Length: 0\r\n\r\n');
    assert.deepEqual(out.heads[0], { statusCode: 404, statusMessage: 'Not Found', rawHeaders: ['X-Mixed-Case', 'v a', 'Content-Length', '0'] });
  });

  it('reads no body after HEAD, 204 or 304, whatever the headers say', () => {
    assert.deepEqual(parse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', { head: true }).ends, [true]);
    assert.deepEqual(parse('HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n').ends, [true]);
  });

  it('reads a body without framing until the server closes, and does not keep the connection', () => {
    const out = parse('HTTP/1.1 200 OK\r\n\r\nall of it', { step: 4, close: true });
    assert.equal(out.body, 'all of it');
    assert.deepEqual(out.ends, [false]);
  });

  const refused: [string, string][] = [
    ['an invalid status line', 'HTTP/2 200 OK\r\n\r\n'],
    ['both Content-Length and Transfer-Encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['a repeated Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx'],
    ['a Content-Length that is not a number', 'HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\nx'],
    ['a space in a header name', 'HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n'],
    ['a folded header line', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n'],
    ['a control character in a value', 'HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 0\r\n\r\n'],
    ['an invalid chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
    ['chunk data longer than its size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n'],
    ['bytes after the response', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\n'],
    ['101 Switching Protocols', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n'],
  ];
  for (const [what, bytes] of refused) {
    it(`refuses ${what}`, () => {
      assert.throws(() => parse(bytes), ResponseParseError);
    });
  }

  it('refuses a response cut short by the server closing', () => {
    assert.throws(() => parse('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort', { close: true }), /mid-response/);
    assert.throws(() => parse('HTTP/1.1 200 OK\r\nContent-', { close: true }), /before its response/);
  });

  it('refuses a head over the limit', () => {
    assert.throws(() => parse(`HTTP/1.1 200 OK\r\nX-Big: ${'v'.repeat(20_000)}\r\n\r\n`, { step: 1000 }), /over 16384 bytes/);
  });
});
