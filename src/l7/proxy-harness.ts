/**
 * Test harness for the HTTP proxy over loopback: a real upstream server,
 * a listener that hands each accepted connection to an HttpProxy (standing
 * in for the transparent redirection), and raw-socket clients. Tests only.
 */
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import type { HttpRule } from '../policy/types.js';
import { HttpProxy, type HttpProxyOptions } from './http-proxy.js';
import { compileHttpRules } from './http-rules.js';
import type { L7Record, ProxyConnInfo } from './l7-record.js';

export interface Upstream {
  port: number;
  /** Connections the server accepted. */
  connections: number;
  /** `METHOD target` of every request the server received. */
  seen: string[];
  close(): Promise<void>;
}

export async function startUpstream(handler: http.RequestListener): Promise<Upstream> {
  const sockets = new Set<net.Socket>();
  const up: Upstream = { port: 0, connections: 0, seen: [], close: async () => {} };
  const server = http.createServer((req, res) => {
    up.seen.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  server.on('connection', (s: net.Socket) => {
    up.connections++;
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  up.port = (server.address() as net.AddressInfo).port;
  up.close = async () => {
    for (const s of sockets) s.destroy();
    server.close();
    await once(server, 'close');
  };
  return up;
}

export interface ProxyUnderTest {
  port: number;
  proxy: HttpProxy;
  records: L7Record[];
  close(): Promise<void>;
}

export async function startProxy(upstreamPort: number, rules: HttpRule[] | undefined, opts: Partial<HttpProxyOptions<ProxyConnInfo>> = {}): Promise<ProxyUnderTest> {
  const records: L7Record[] = [];
  const match = compileHttpRules(rules ?? []);
  const dst = { ip: '127.0.0.1', port: upstreamPort };
  const proxy = new HttpProxy<ProxyConnInfo>({
    decide: (_conn, req) => match(req),
    connectUpstream: () => net.connect(dst.port, dst.ip),
    onRecord: (r) => records.push(r),
    ...opts,
  });
  const sockets = new Set<net.Socket>();
  const listener = net.createServer((s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    proxy.handle(s, { src: { ip: s.remoteAddress!, port: s.remotePort! }, dst, srcIdentity: 31028, dstIdentity: 16530, direction: 'INGRESS' });
  });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  return {
    port: (listener.address() as net.AddressInfo).port,
    proxy,
    records,
    close: async () => {
      proxy.close();
      for (const s of sockets) s.destroy();
      listener.close();
      await once(listener, 'close');
    },
  };
}

/** Writes `data` on a fresh connection and returns everything read until the server closes or `quietMs` pass without data. */
export async function rawExchange(port: number, data: string | Buffer, quietMs = 500): Promise<{ text: string; closed: boolean }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  let closed = false;
  socket.write(data);
  await new Promise<void>((resolve) => {
    let timer = setTimeout(resolve, quietMs);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      clearTimeout(timer);
      timer = setTimeout(resolve, quietMs);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
      clearTimeout(timer);
      resolve();
    });
  });
  socket.destroy();
  return { text: Buffer.concat(chunks).toString('latin1'), closed };
}

/** The status codes of the responses in a raw response stream, in order. */
export function statusCodes(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
}

/** One request through a keep-alive agent; resolves with status, body and the client socket's local port. */
export function request(agent: http.Agent, port: number, method: string, path: string, body?: string | Buffer, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders; localPort: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, host: '127.0.0.1', port, method, path, headers: { host: 'deathstar.default.svc.cluster.local', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString(), headers: res.headers, localPort: req.socket!.localPort! }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
