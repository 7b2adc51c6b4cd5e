/**
 * The HTTP/1.1 proxy engine: one client connection in, one server
 * connection out, every request decided on its own.
 *
 * How connections arrive is not its business: the redirection side hands
 * over the client's socket with what it knows of the connection (the
 * original destination, the identities) and opens server connections on
 * request (`connectUpstream`).
 *
 * The client side is an http.Server's llhttp parser in strict mode (never
 * `insecureHTTPParser`); the server side is one UpstreamConnection per
 * client connection (upstream-connection.ts): opened on the first allowed
 * request, reopened only if the server closes it, the request head written
 * by hand and the response parsed by http-response-parser.ts (an
 * http.request and an Agent per request cost more than everything else
 * the proxy does).
 *
 * Per request:
 *   - allowed: the request is forwarded with the rule's header actions
 *     applied and hop-by-hop headers removed, its body streamed (with
 *     backpressure, never buffered whole), the response streamed back;
 *   - denied: `403` with `Access denied\r\n` (Content-Length 15,
 *     text/plain), as Cilium's proxy answers; the body is read and thrown
 *     away and the connection stays open for the next request;
 *   - malformed or ambiguous (rejected by the parser: Content-Length with
 *     Transfer-Encoding, conflicting Content-Lengths, invalid characters,
 *     a request line or headers over `maxHeaderSize`; or a missing or
 *     repeated Host): `400`, never forwarded, then the connection closes
 *     (the parser cannot find the next request after an error);
 *   - too slow (headersMs, requestMs): `408` and the connection closes;
 *     idle keep-alive connections close after keepAliveMs;
 *   - the server refuses or resets before its response headers, or its
 *     response is malformed or ambiguously framed: `503`, and the next
 *     request goes over a new server connection.
 * Pipelined requests are answered in order (Node's server queues the
 * responses); a local answer to a later request waits for the earlier
 * responses. Every request and every response is an L7Record.
 */
import http from 'node:http';
import type net from 'node:net';
import { type BodyFraming, endToEndFields, flowHeaders, framingField, headerPairs, requestHead } from './http-headers.js';
import { applyHeaderActions, type HeaderField, type HttpRequestView, type HttpVerdict } from './http-rules.js';
import type { L7Record, LocalReplyReason, ProxyConnInfo } from './l7-record.js';
import { type UpstreamBody, UpstreamConnection } from './upstream-connection.js';

export interface HttpProxyTimeouts {
  /** A request's headers must have arrived this long after its first byte (or after the connection opened). */
  headersMs: number;
  /** A whole request, body included, must have arrived within this. */
  requestMs: number;
  /** An idle connection between requests is closed after this. */
  keepAliveMs: number;
  /** The server connection must be established within this, else 503. */
  upstreamConnectMs: number;
  /** How often headersMs and requestMs are checked: their granularity. */
  checkIntervalMs: number;
}

export const DEFAULT_TIMEOUTS: HttpProxyTimeouts = {
  headersMs: 60_000, requestMs: 300_000, keepAliveMs: 60_000, upstreamConnectMs: 5_000, checkIntervalMs: 1_000,
};

/** Node's default, and the proxy's: request line plus headers. */
export const DEFAULT_MAX_HEADER_SIZE = 16 * 1024;

export interface HttpProxyOptions<C extends ProxyConnInfo> {
  /** The policy decision for one request; throwing denies it. */
  decide(conn: C, req: HttpRequestView): HttpVerdict;
  /** A socket to the server for this connection (connected or connecting); rejecting or throwing answers 503. */
  connectUpstream(conn: C): net.Socket | Promise<net.Socket>;
  /** Every request and response; must not throw (what it throws is dropped). */
  onRecord(record: L7Record<C>): void;
  timeouts?: Partial<HttpProxyTimeouts>;
  /** Largest request line plus headers, in bytes. */
  maxHeaderSize?: number;
  /** Wall clock in ms (tests fix it). */
  now?(): number;
}

export const ACCESS_DENIED_BODY = 'Access denied\r\n';
const BAD_REQUEST_BODY = 'Bad Request\r\n';
const TIMEOUT_BODY = 'Request Timeout\r\n';
const UPSTREAM_BODY = 'upstream connect error or disconnect/reset before headers\r\n';
/** How long a closing connection keeps reading so that the client gets the last response before the close (no RST on unread data). */
const LINGER_MS = 2_000;

type Callback = (err: Error | null, socket?: net.Socket) => void;

/** One client connection: its info, its server connection, and what is still to answer. */
class ClientConnection<C extends ProxyConnInfo> {
  /** Requests whose responses have not finished. */
  pending = 0;
  /** A local answer to a malformed request, waiting for the earlier responses. */
  afterPending?: () => void;
  /** A parse error was handled: the parser reports the rest of the stream as errors too. */
  failed = false;
  closed = false;
  /** The latest request and how to abort its forwarding (its body may still be arriving). */
  last?: { req: http.IncomingMessage; res: http.ServerResponse; abort(): void };
  private server?: UpstreamConnection;

  constructor(readonly socket: net.Socket, readonly conn: C, private readonly open: (cb: Callback) => void) {}

  /** This connection's one server connection (opened when a request is first sent on it). */
  upstream(): UpstreamConnection {
    if (!this.server || this.server.destroyed) this.server = new UpstreamConnection(this.open, this.socket);
    return this.server;
  }

  responseDone(): void {
    this.pending--;
    if (this.pending === 0 && this.afterPending) {
      const reply = this.afterPending;
      this.afterPending = undefined;
      reply();
    }
  }

  close(): void {
    this.closed = true;
    this.server?.destroy();
  }
}

const noop = (): void => undefined;

/** Method and target of a request line, leniently, to name a malformed request in its record. */
function requestLineOf(raw: unknown): { method: string; target: string } {
  if (!Buffer.isBuffer(raw)) return { method: '', target: '' };
  const line = raw.subarray(0, Math.min(raw.length, 2048)).toString('latin1').split('\r\n', 1)[0] ?? '';
  const m = /^([A-Z]{1,20}) (\S{1,1024}) HTTP\/\d\.\d$/.exec(line);
  return m ? { method: m[1]!, target: m[2]! } : { method: '', target: '' };
}

/** Host and origin-form target of a request (absolute-form `http://host/path` split up, nothing normalized). */
function hostAndPath(target: string, hostHeader: string): { host: string; path: string } | undefined {
  if (target.startsWith('/') || target === '*') return { host: hostHeader, path: target };
  const m = /^http:\/\/([^/?#]*)([^#]*)$/i.exec(target);
  if (!m) return undefined;
  const rest = m[2]!;
  return { host: m[1]!, path: rest.startsWith('/') ? rest : `/${rest}` };
}

function localReply(res: http.ServerResponse, code: number, body: string, close: boolean): void {
  if (close) res.shouldKeepAlive = false;
  res.writeHead(code, { 'content-length': String(Buffer.byteLength(body)), 'content-type': 'text/plain' });
  res.end(body);
}

function rawReply(code: number, text: string, body: string): string {
  return `HTTP/1.1 ${code} ${text}\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncontent-type: text/plain\r\n`
    + `date: ${new Date().toUTCString()}\r\nconnection: close\r\n\r\n${body}`;
}

/** Ends our side and keeps reading briefly, so the client reads the last response before the connection goes. */
function lingerClose(socket: net.Socket): void {
  socket.end();
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

export class HttpProxy<C extends ProxyConnInfo = ProxyConnInfo> {
  private readonly server: http.Server;
  private readonly clients = new Map<net.Socket, ClientConnection<C>>();
  private readonly timeouts: HttpProxyTimeouts;
  private readonly now: () => number;

  constructor(private readonly opts: HttpProxyOptions<C>) {
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
    this.now = opts.now ?? Date.now;
    const t = this.timeouts;
    this.server = http.createServer({
      insecureHTTPParser: false,
      maxHeaderSize: opts.maxHeaderSize ?? DEFAULT_MAX_HEADER_SIZE,
      // Host is checked in onRequest, so that a request without one is recorded too.
      requireHostHeader: false,
      connectionsCheckingInterval: t.checkIntervalMs,
      noDelay: true,
    });
    this.server.headersTimeout = t.headersMs;
    this.server.requestTimeout = Math.max(t.requestMs, t.headersMs);
    this.server.keepAliveTimeout = t.keepAliveMs;
    this.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => this.onClientError(err, socket));
    this.server.on('connect', (req: http.IncomingMessage, socket: net.Socket) => this.onConnectMethod(req, socket));
    // Node checks headersTimeout and requestTimeout only on a server that
    // emitted 'listening'; this one never listens (connections are handed
    // in), so it says it does to get those checks.
    this.server.emit('listening');
  }

  /** Serves one client connection until it closes. */
  handle(socket: net.Socket, conn: C): void {
    const client = new ClientConnection(socket, conn, (cb) => this.openUpstream(client, cb));
    this.clients.set(socket, client);
    socket.once('close', () => {
      client.close();
      this.clients.delete(socket);
    });
    this.server.emit('connection', socket);
  }

  /** Client connections being served. */
  get connectionCount(): number {
    return this.clients.size;
  }

  /** Closes every connection, client and server side. */
  close(): void {
    for (const client of this.clients.values()) {
      client.close();
      client.socket.destroy();
    }
    this.clients.clear();
    this.server.close();
  }

  private record(r: L7Record<C>): void {
    try {
      this.opts.onRecord(r);
    } catch {
      // A failing observer must not break traffic.
    }
  }

  private openUpstream(client: ClientConnection<C>, cb: Callback): void {
    let done = false;
    const finish = (err: Error | null, socket?: net.Socket) => {
      if (done) return;
      done = true;
      cb(err, socket);
    };
    Promise.resolve()
      .then(() => this.opts.connectUpstream(client.conn))
      .then((socket) => {
        if (client.closed) {
          socket.destroy();
          finish(new Error('the client connection closed'));
          return;
        }
        if (socket.connecting) {
          const ms = this.timeouts.upstreamConnectMs;
          const timer = setTimeout(() => socket.destroy(new Error(`server connection not established within ${ms} ms`)), ms);
          const clear = () => clearTimeout(timer);
          socket.once('connect', clear);
          socket.once('close', clear);
        }
        finish(null, socket);
      }, (err: unknown) => finish(err instanceof Error ? err : new Error(String(err))));
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const client = this.clients.get(req.socket);
    if (!client) {
      req.socket.destroy();
      return;
    }
    client.pending++;
    res.once('close', () => client.responseDone());
    client.last = { req, res, abort: noop };
    const started = process.hrtime.bigint();
    const conn = client.conn;
    const method = req.method ?? '';
    const protocol = `HTTP/${req.httpVersion}`;
    const fields = headerPairs(req.rawHeaders);
    let hosts = 0;
    let hostHeader = '';
    for (const [name, value] of fields) {
      if (name.length !== 4 || name.toLowerCase() !== 'host') continue;
      if (hosts++ === 0) hostHeader = value;
    }
    const target = hostAndPath(req.url ?? '', hostHeader);
    const urlOf = (host: string, path: string) => `http://${host || `${conn.dst.ip}:${conn.dst.port}`}${path}`;
    /** The proxy answers the request itself: the request is recorded DROPPED, the answer FORWARDED. */
    const respond = (code: number, body: string, reason: LocalReplyReason, url: string, error?: string, close = false, verdict?: HttpVerdict) => {
      res.once('finish', () => {
        const response: L7Record<C> = {
          type: 'response', timeMs: this.now(), conn, method, url, protocol, code, latencyNs: Number(process.hrtime.bigint() - started),
          verdict: 'FORWARDED', headers: [], reason,
        };
        if (error) response.error = error;
        this.record(response);
      });
      const request: L7Record<C> = { type: 'request', timeMs: this.now(), conn, method, url, protocol, code, verdict: 'DROPPED', headers: flowHeaders(fields), reason };
      if (error) request.error = error;
      if (verdict?.cookies) request.cookies = verdict.cookies;
      if (verdict?.policyDirection) request.policyDirection = verdict.policyDirection;
      this.record(request);
      localReply(res, code, body, close);
    };

    const malformed = !target ? `request target ${JSON.stringify(req.url)} is neither origin-form nor http absolute-form`
      : hosts > 1 ? 'more than one Host header'
        : hosts === 0 && req.httpVersion === '1.1' ? 'HTTP/1.1 request without a Host header' : undefined;
    if (malformed || !target) {
      req.resume();
      respond(400, BAD_REQUEST_BODY, 'malformed', urlOf(target?.host ?? '', target?.path ?? req.url ?? ''), malformed, true);
      return;
    }
    const url = urlOf(target.host, target.path);
    const view: HttpRequestView = { method, path: target.path, host: target.host, headers: fields };
    let verdict: HttpVerdict;
    try {
      verdict = this.opts.decide(conn, view);
    } catch (err) {
      // Fail closed; the record says why.
      req.resume();
      respond(403, ACCESS_DENIED_BODY, 'denied', url, `policy decision failed: ${(err as Error).message}`);
      return;
    }
    if (!verdict.allowed) {
      // Read and drop the body so that the next request on the connection parses.
      req.resume();
      respond(403, ACCESS_DENIED_BODY, 'denied', url, undefined, false, verdict);
      return;
    }
    this.forward(client, req, res, view, verdict, { url, protocol, started });
  }

  private forward(client: ClientConnection<C>, req: http.IncomingMessage, res: http.ServerResponse, view: HttpRequestView, verdict: HttpVerdict,
    meta: { url: string; protocol: string; started: bigint }): void {
    const conn = client.conn;
    const base = { conn, method: view.method, protocol: meta.protocol, url: meta.url };
    const { fields: headers, body } = this.upstreamHeaders(req, applyHeaderActions(view.headers, verdict.actions));
    // The server hears HTTP/1.1, which needs a Host: an HTTP/1.0 request without one names the original
    // destination; an absolute-form target's authority replaces the Host header (RFC 9112 §3.2.2), as decided on.
    const absoluteForm = !(req.url ?? '').startsWith('/') && req.url !== '*';
    if (absoluteForm || !headers.some(([n]) => n.length === 4 && n.toLowerCase() === 'host')) {
      headers.splice(0, headers.length, ['Host', view.host || `${conn.dst.ip}:${conn.dst.port}`], ...headers.filter(([n]) => n.toLowerCase() !== 'host'));
    }
    // Records on the hot path are literals of one shape (no spreads): V8 keeps them on one hidden class.
    const requestRecord: L7Record<C> = {
      type: 'request', timeMs: this.now(), conn, method: view.method, url: meta.url, protocol: meta.protocol, code: 0,
      verdict: 'FORWARDED', headers: flowHeaders(headers),
    };
    if (verdict.rule !== undefined) requestRecord.rule = verdict.rule;
    if (verdict.actions.length) requestRecord.headerActions = verdict.actions;
    if (verdict.cookies) requestRecord.cookies = verdict.cookies;
    this.record(requestRecord);
    const failed = (err: Error) => {
      // Read the rest of the body and drop it, so that the 503 can be read and the connection goes on.
      req.resume();
      res.once('finish', () => this.record({
        ...base, type: 'response', timeMs: this.now(), code: 503, verdict: 'FORWARDED', reason: 'upstream', error: err.message,
        latencyNs: Number(process.hrtime.bigint() - meta.started), headers: [],
      }));
      localReply(res, 503, UPSTREAM_BODY, false);
    };
    let head: string;
    try {
      // The strict parser let through only valid fields; header actions (from policy) are checked.
      head = requestHead(view.method, view.path, headers, verdict.actions.length > 0);
    } catch (err) {
      failed(err as Error);
      return;
    }
    /** aborted: the client side gave up on the request; ended: the whole response went to the client. */
    let aborted = false;
    let ended = false;
    const upstream = client.upstream();
    let draining = false;
    const resumeUpstream = () => {
      draining = false;
      upstream.resumeReading();
    };
    client.last = { req, res, abort: () => { aborted = true; upstream.destroy(); } };
    upstream.send({
      head, headRequest: view.method === 'HEAD', body, req,
      onHead: (upRes) => {
        const latencyNs = Number(process.hrtime.bigint() - meta.started);
        const resFields = endToEndFields(headerPairs(upRes.rawHeaders));
        this.record({
          type: 'response', timeMs: this.now(), conn, method: view.method, url: meta.url, protocol: meta.protocol, code: upRes.statusCode,
          latencyNs, verdict: 'FORWARDED', headers: flowHeaders(resFields),
        });
        res.sendDate = false;
        res.writeHead(upRes.statusCode, upRes.statusMessage, resFields.flat());
      },
      onBody: (chunk) => {
        if (res.write(chunk)) return true;
        if (!draining) {
          draining = true;
          res.once('drain', resumeUpstream);
        }
        return false;
      },
      onEnd: () => {
        ended = true;
        res.end();
      },
      onError: (err) => {
        if (aborted || ended || client.closed) return;
        // A response cut short cannot be told from a whole one but by closing.
        if (res.headersSent) {
          res.socket?.destroy();
          return;
        }
        failed(err);
      },
    });
    if (body !== 'none') {
      req.once('close', () => {
        if (req.complete) return;
        // The client went away mid-body: the server must not take a truncated body for a whole one.
        aborted = true;
        upstream.destroy();
      });
    }
  }

  /** The request's end-to-end headers with the body re-framed explicitly for the server (Expect answered here already). */
  private upstreamHeaders(req: http.IncomingMessage, fields: readonly HeaderField[]): { fields: HeaderField[]; body: UpstreamBody } {
    const out = endToEndFields(fields, ['content-length', 'expect']);
    // From rawHeaders rather than req.headers, which Node builds on first use. The parser let through at most
    // one Content-Length, and never one beside Transfer-Encoding.
    let te: string | undefined;
    let length: string | undefined;
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') te = raw[i + 1];
      else if (name.length === 14 && name.toLowerCase() === 'content-length') length = raw[i + 1];
    }
    const framing: BodyFraming = te !== undefined ? { kind: 'chunked' } : length !== undefined ? { kind: 'length', length: Number(length) } : { kind: 'none' };
    const field = framingField(framing);
    if (field) out.push(field);
    const body: UpstreamBody = framing.kind === 'chunked' ? 'chunked' : framing.kind === 'length' && framing.length > 0 ? 'length' : 'none';
    return { fields: out, body };
  }

  /** A request the parser rejected, or one too slow: 400 / 408 after the earlier responses, then close. */
  private onClientError(err: NodeJS.ErrnoException, socket: net.Socket): void {
    const client = this.clients.get(socket);
    const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const parse = typeof err.code === 'string' && err.code.startsWith('HPE_');
    if (!client || client.failed || (!timeout && !parse)) {
      socket.destroy();
      return;
    }
    client.failed = true;
    if (timeout && socket.bytesRead === 0) {
      // Connected and never said anything: no request to answer or record.
      socket.destroy();
      return;
    }
    const code = timeout ? 408 : 400;
    const body = timeout ? TIMEOUT_BODY : BAD_REQUEST_BODY;
    const reason: LocalReplyReason = timeout ? 'timeout' : 'malformed';
    const detail = `${err.code}: ${(err as { reason?: string }).reason ?? err.message}`;
    const last = client.last;
    const conn = client.conn;
    // An error inside the body of a request already forwarded: stop forwarding and answer on its own response.
    if (last && !last.req.complete) {
      last.abort();
      const url = `http://${last.req.headers.host ?? `${conn.dst.ip}:${conn.dst.port}`}${last.req.url ?? ''}`;
      const base = { conn, method: last.req.method ?? '', url, protocol: `HTTP/${last.req.httpVersion}` };
      this.record({ ...base, type: 'request', timeMs: this.now(), code, verdict: 'DROPPED', reason, error: detail, headers: [] });
      if (last.res.headersSent) {
        socket.destroy();
        return;
      }
      last.res.once('finish', () => {
        this.record({ ...base, type: 'response', timeMs: this.now(), code, verdict: 'FORWARDED', reason, headers: [] });
        lingerClose(socket);
      });
      localReply(last.res, code, body, true);
      return;
    }
    const line = requestLineOf((err as { rawPacket?: unknown }).rawPacket);
    const url = line.target ? `http://${conn.dst.ip}:${conn.dst.port}${line.target}` : '';
    const base = { conn, method: line.method, url, protocol: 'HTTP/1.1' };
    this.record({ ...base, type: 'request', timeMs: this.now(), code, verdict: 'DROPPED', reason, error: detail, headers: [] });
    const reply = () => {
      if (socket.writable) socket.write(rawReply(code, timeout ? 'Request Timeout' : 'Bad Request', body));
      this.record({ ...base, type: 'response', timeMs: this.now(), code, verdict: 'FORWARDED', reason, headers: [] });
      lingerClose(socket);
    };
    if (client.pending === 0) reply();
    else client.afterPending = reply;
  }

  /** CONNECT is not proxied: 403, recorded, and the connection closes (the parser has let go of it). */
  private onConnectMethod(req: http.IncomingMessage, socket: net.Socket): void {
    const client = this.clients.get(socket);
    if (!client) {
      socket.destroy();
      return;
    }
    const base = { conn: client.conn, method: 'CONNECT', url: `http://${req.url ?? ''}`, protocol: `HTTP/${req.httpVersion}` };
    this.record({ ...base, type: 'request', timeMs: this.now(), code: 403, verdict: 'DROPPED', reason: 'denied', headers: flowHeaders(headerPairs(req.rawHeaders)) });
    socket.write(rawReply(403, 'Forbidden', ACCESS_DENIED_BODY));
    this.record({ ...base, type: 'response', timeMs: this.now(), code: 403, verdict: 'FORWARDED', reason: 'denied', headers: [] });
    lingerClose(socket);
  }
}
