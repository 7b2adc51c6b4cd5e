/**
 * The HTTP proxy's server side over real loopback TCP: every way a server
 * frames or ends its response, and servers that misbehave.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { rawExchange, request, startProxy, statusCodes, type ProxyUnderTest } from './proxy-harness.js';

const HOST = 'deathstar.default.svc.cluster.local';

/** A server that answers every request with `reply(target)` as raw bytes (and closes after it when `close`). */
async function rawServer(reply: (target: string) => { bytes: string; close?: boolean }): Promise<{ port: number; connections: () => number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    socket.on('data', (d: Buffer) => {
      buffered += d.toString('latin1');
      let end: number;
      while ((end = buffered.indexOf('\r\n\r\n')) >= 0) {
        const target = buffered.split(' ', 2)[1] ?? '';
        buffered = buffered.slice(end + 4);
        const { bytes, close } = reply(target);
        if (close) socket.end(bytes, 'latin1');
        else socket.write(bytes, 'latin1');
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => connections,
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

describe('HTTP proxy: how servers end their responses', () => {
  let server: Awaited<ReturnType<typeof rawServer>>;
  let px: ProxyUnderTest;
  before(async () => {
    server = await rawServer((target) => {
      switch (target) {
        case '/until-close': return { bytes: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nto the end', close: true };
        case '/conn-close': return { bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbye\n', close: true };
        case '/chunked': return { bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n' };
        case '/head': return { bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n' };
        case '/not-modified': return { bytes: 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n' };
        case '/garbage': return { bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc' };
        case '/early-hints': return { bytes: 'HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok' };
        default: return { bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok' };
      }
    });
    px = await startProxy(server.port, []);
  });
  after(async () => {
    await px.close();
    await server.close();
  });

  it('relays a body the server ends by closing, then opens a new server connection for the next request', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const before = server.connections();
    const a = await request(agent, px.port, 'GET', '/until-close');
    const b = await request(agent, px.port, 'GET', '/conn-close');
    const c = await request(agent, px.port, 'GET', '/other');
    agent.destroy();
    assert.deepEqual([a.status, a.body, b.body, c.body], [200, 'to the end', 'bye\n', 'ok']);
    assert.equal(new Set([a.localPort, b.localPort, c.localPort]).size, 1, 'the client connection stays');
    assert.equal(server.connections() - before, 3);
  });

  it('relays a chunked response (extensions and trailers dropped), a 304 and 103 Early Hints', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const a = await request(agent, px.port, 'GET', '/chunked');
    const b = await request(agent, px.port, 'GET', '/not-modified');
    const c = await request(agent, px.port, 'GET', '/early-hints');
    agent.destroy();
    assert.deepEqual([a.status, a.body, b.status, b.body, c.status, c.body], [200, 'abcde', 304, '', 200, 'ok']);
  });

  it('reads no body after a HEAD, whatever Content-Length says', async () => {
    const { text } = await rawExchange(px.port, `HEAD /head HTTP/1.1\r\nHost: ${HOST}\r\n\r\nGET /other HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`, 300);
    assert.deepEqual(statusCodes(text), [200, 200]);
    assert.match(text, /content-length: 1234\r\n(?:[^\r\n]+\r\n)*\r\nHTTP\/1\.1 200 OK/i);
    assert.ok(text.endsWith('ok'));
  });

  it('answers 503 to a response with ambiguous framing, and recovers on a new server connection', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const a = await request(agent, px.port, 'GET', '/garbage');
    const b = await request(agent, px.port, 'GET', '/other');
    agent.destroy();
    assert.deepEqual([a.status, b.status, b.body], [503, 200, 'ok']);
    const last503 = px.records.filter((r) => r.code === 503).at(-1)!;
    assert.match(last503.error!, /Content-Length/);
  });
});
