/**
 * The HTTP proxy over real loopback TCP: decisions, keep-alive, pipelining,
 * header handling, upstream failures and records.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { rawExchange, request, startProxy, startUpstream, statusCodes, type ProxyUnderTest, type Upstream } from './proxy-harness.js';

const run = promisify(execFile);
const HOST = 'deathstar.default.svc.cluster.local';
const STAR_WARS = [{ method: 'POST', path: '/v1/request-landing' }];

/** The deathstar's two routes, plus an echo of what arrived. */
function deathstar(req: http.IncomingMessage, res: http.ServerResponse): void {
  let bytes = 0;
  req.on('data', (d: Buffer) => { bytes += d.length; });
  req.on('end', () => {
    if (req.url === '/v1/request-landing') res.end('Ship landed\n');
    else if (req.url?.startsWith('/slow')) setTimeout(() => res.end(`slow ${req.url}`), 150);
    else res.end(JSON.stringify({ url: req.url, bytes, headers: req.rawHeaders }));
  });
}

describe('HTTP proxy: the Star Wars L7 policy', () => {
  let up: Upstream;
  let px: ProxyUnderTest;
  before(async () => {
    up = await startUpstream(deathstar);
    px = await startProxy(up.port, STAR_WARS);
  });
  after(async () => {
    await px.close();
    await up.close();
  });

  it('lets the TIE fighter land (curl): "Ship landed"', async () => {
    const { stdout } = await run('curl', ['-s', '-XPOST', '-H', `Host: ${HOST}`, `http://127.0.0.1:${px.port}/v1/request-landing`]);
    assert.equal(stdout, 'Ship landed\n');
  });

  it('answers PUT exhaust-port with 403 "Access denied\\r\\n", Content-Length 15, and never forwards it (curl)', async () => {
    const { stdout } = await run('curl', ['-s', '-i', '-XPUT', '-H', `Host: ${HOST}`, `http://127.0.0.1:${px.port}/v1/exhaust-port`]);
    const [head, body] = stdout.split('\r\n\r\n');
    assert.match(head!, /^HTTP\/1\.1 403 Forbidden\r\n/);
    assert.match(head!, /\r\ncontent-length: 15(\r\n|$)/i);
    assert.match(head!, /\r\ncontent-type: text\/plain(\r\n|$)/i);
    assert.equal(body, 'Access denied\r\n');
    assert.ok(!up.seen.includes('PUT /v1/exhaust-port'));
  });

  it('records each decision: request and response, with URL, protocol, code, verdict and latency', () => {
    const view = px.records.map((r) => [r.type, r.verdict, r.method, r.url, r.protocol, r.code]);
    assert.deepEqual(view, [
      ['request', 'FORWARDED', 'POST', `http://${HOST}/v1/request-landing`, 'HTTP/1.1', 0],
      ['response', 'FORWARDED', 'POST', `http://${HOST}/v1/request-landing`, 'HTTP/1.1', 200],
      ['request', 'DROPPED', 'PUT', `http://${HOST}/v1/exhaust-port`, 'HTTP/1.1', 403],
      ['response', 'FORWARDED', 'PUT', `http://${HOST}/v1/exhaust-port`, 'HTTP/1.1', 403],
    ]);
    assert.equal(px.records[0]!.rule, 0);
    assert.ok(px.records[1]!.latencyNs! > 0 && px.records[3]!.latencyNs! > 0);
    assert.equal(px.records[2]!.reason, 'denied');
    assert.deepEqual(px.records[0]!.conn.dst, { ip: '127.0.0.1', port: up.port });
    assert.ok(px.records[0]!.headers.some((h) => h.key === 'User-Agent' && h.value.startsWith('curl/')));
  });
});

describe('HTTP proxy: connections', () => {
  let up: Upstream;
  let px: ProxyUnderTest;
  before(async () => {
    up = await startUpstream(deathstar);
    px = await startProxy(up.port, [{ method: 'POST', path: '/v1/request-landing' }, { method: 'GET', path: '/(echo|slow).*' }]);
  });
  after(async () => {
    await px.close();
    await up.close();
  });

  it('keeps a keep-alive connection usable across allowed, denied, allowed; the server sees one connection', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const before = up.connections;
    const a = await request(agent, px.port, 'POST', '/v1/request-landing');
    const b = await request(agent, px.port, 'PUT', '/v1/exhaust-port', 'boom');
    const c = await request(agent, px.port, 'GET', '/echo');
    agent.destroy();
    assert.deepEqual([a.status, b.status, c.status], [200, 403, 200]);
    assert.equal(b.body, 'Access denied\r\n');
    assert.equal(new Set([a.localPort, b.localPort, c.localPort]).size, 1, 'one client connection');
    assert.equal(up.connections - before, 1, 'one server connection for the client connection');
  });

  it('opens no server connection until a request is allowed', async () => {
    const before = up.connections;
    const { text } = await rawExchange(px.port, `PUT /v1/exhaust-port HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 0\r\n\r\n`, 200);
    assert.deepEqual(statusCodes(text), [403]);
    assert.equal(up.connections, before);
  });

  it('answers pipelined requests in order, a denied one between slow allowed ones', async () => {
    const req = (m: string, p: string) => `${m} ${p} HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 0\r\n\r\n`;
    const { text } = await rawExchange(px.port, req('GET', '/slow/1') + req('PUT', '/v1/exhaust-port') + req('GET', '/slow/2') + req('POST', '/v1/request-landing'), 600);
    assert.deepEqual(statusCodes(text), [200, 403, 200, 200]);
    const order = ['slow /slow/1', 'Access denied', 'slow /slow/2', 'Ship landed'].map((s) => text.indexOf(s));
    assert.ok(order.every((at, i) => at >= 0 && (i === 0 || at > order[i - 1]!)), `responses out of order:\n${text}`);
  });

  it('forwards end-to-end headers only, with the body re-framed, and keeps the Host', async () => {
    const agent = new http.Agent({ keepAlive: true });
    const res = await request(agent, px.port, 'GET', '/echo', undefined, { connection: 'keep-alive, X-Hop', 'x-hop': '1', 'x-end': '2', 'keep-alive': 'timeout=5', te: 'trailers' });
    agent.destroy();
    const raw = JSON.parse(res.body).headers as string[];
    const names = raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    assert.ok(names.includes('x-end'));
    for (const hop of ['x-hop', 'keep-alive', 'te', 'transfer-encoding']) assert.ok(!names.includes(hop), `${hop} forwarded`);
    assert.equal(raw[raw.findIndex((n) => n.toLowerCase() === 'host') + 1], HOST);
  });

  it('serves HTTP/1.0 without Host, naming the original destination in the URL', async () => {
    const { text } = await rawExchange(px.port, 'GET /echo HTTP/1.0\r\n\r\n', 300);
    assert.deepEqual(statusCodes(text), [200]);
    assert.equal(px.records.at(-1)!.url, `http://127.0.0.1:${up.port}/echo`);
  });

  it('answers CONNECT with 403 and closes', async () => {
    const { text, closed } = await rawExchange(px.port, `CONNECT ${HOST}:443 HTTP/1.1\r\nHost: ${HOST}:443\r\n\r\n`, 500);
    assert.deepEqual(statusCodes(text), [403]);
    assert.ok(closed);
  });
});

describe('HTTP proxy: header actions', () => {
  it('forwards the request as headerMatches actions changed it, and records the actions', async () => {
    const up = await startUpstream(deathstar);
    const px = await startProxy(up.port, [{ headerMatches: [
      { name: 'X-Token', value: 'abc', mismatch: 'REPLACE' }, { name: 'X-Added', value: 'yes', mismatch: 'ADD' }, { name: 'X-Drop', value: 'keep', mismatch: 'DELETE' },
    ] }]);
    try {
      const agent = new http.Agent();
      const res = await request(agent, px.port, 'GET', '/echo', undefined, { 'x-token': 'wrong', 'x-drop': 'other' });
      agent.destroy();
      const raw = JSON.parse(res.body).headers as string[];
      const get = (n: string) => raw.flatMap((v, i) => (i % 2 === 1 && raw[i - 1]!.toLowerCase() === n ? [v] : []));
      assert.deepEqual([get('x-token'), get('x-added'), get('x-drop')], [['abc'], ['yes'], []]);
      assert.deepEqual(px.records[0]!.headerActions?.map((a) => a.action), ['REPLACE', 'ADD', 'DELETE']);
    } finally {
      await px.close();
      await up.close();
    }
  });
});

describe('HTTP proxy: the server failing', () => {
  it('answers 503 when the server refuses the connection, and records it', async () => {
    const closed = net.createServer();
    closed.listen(0, '127.0.0.1');
    await new Promise((r) => closed.once('listening', r));
    const port = (closed.address() as net.AddressInfo).port;
    closed.close();
    const px = await startProxy(port, []);
    try {
      const { text } = await rawExchange(px.port, `GET / HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`, 300);
      assert.deepEqual(statusCodes(text), [503]);
      const last = px.records.at(-1)!;
      assert.deepEqual([last.type, last.code, last.reason], ['response', 503, 'upstream']);
      assert.match(last.error!, /ECONNREFUSED/);
    } finally {
      await px.close();
    }
  });

  it('answers 503 when the server resets before responding, and the next request gets a new server connection', async () => {
    let resets = 1;
    const up = await startUpstream((req, res) => {
      if (resets-- > 0) req.socket.destroy();
      else res.end('ok');
    });
    const px = await startProxy(up.port, []);
    try {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const a = await request(agent, px.port, 'GET', '/a');
      const b = await request(agent, px.port, 'GET', '/b');
      agent.destroy();
      assert.deepEqual([a.status, b.status, b.body], [503, 200, 'ok']);
      assert.equal(a.localPort, b.localPort, 'the client connection survives');
    } finally {
      await px.close();
      await up.close();
    }
  });

  it('answers 503 when the server resets during an upload, reading the rest of the body so the connection goes on', async () => {
    let resets = 1;
    const up = await startUpstream((req, res) => {
      if (resets-- > 0) setTimeout(() => req.socket.destroy(), 20);
      else { req.resume(); req.on('end', () => res.end('ok')); }
    });
    const px = await startProxy(up.port, []);
    try {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const a = await request(agent, px.port, 'POST', '/upload', Buffer.alloc(4 * 1024 * 1024));
      const b = await request(agent, px.port, 'GET', '/b');
      agent.destroy();
      assert.deepEqual([a.status, b.status], [503, 200]);
      assert.equal(a.localPort, b.localPort);
    } finally {
      await px.close();
      await up.close();
    }
  });

  it('aborts the server\'s request when the client goes away mid-body', async () => {
    const completed: string[] = [];
    let sawRequest!: () => void;
    const arrived = new Promise<void>((r) => { sawRequest = r; });
    let serverClosed!: () => void;
    const closed = new Promise<void>((r) => { serverClosed = r; });
    const up = await startUpstream((req, res) => {
      sawRequest();
      req.resume();
      req.on('end', () => { completed.push(req.url!); res.end(); });
      req.socket.once('close', serverClosed);
    });
    const px = await startProxy(up.port, []);
    try {
      const socket = net.connect(px.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write(`POST /partial HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 1000\r\n\r\nonly part`);
      await arrived;
      socket.destroy();
      await closed;
      assert.deepEqual(completed, []);
    } finally {
      await px.close();
      await up.close();
    }
  });

  it('answers 403 when the policy decision throws (fails closed)', async () => {
    const up = await startUpstream(deathstar);
    const px = await startProxy(up.port, [], { decide: () => { throw new Error('no policy'); } });
    try {
      const { text } = await rawExchange(px.port, `GET / HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`, 200);
      assert.deepEqual(statusCodes(text), [403]);
      assert.equal(up.seen.length, 0);
      assert.match(px.records[0]!.error!, /no policy/);
    } finally {
      await px.close();
      await up.close();
    }
  });
});
