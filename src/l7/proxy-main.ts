/**
 * membrane's L7 proxy process: a child of the agent (child_process.fork,
 * with an IPC channel), in the node's network namespace, apart from the
 * agent's event loop.
 *
 * It listens on the proxy ports (transparent sockets, transparent.ts) once
 * the agent sent it a configuration (proxy-config.ts): before that nothing
 * listens and the datapath fails redirected connections closed (drop 178).
 * For each connection the datapath hands it, it finds the endpoint, the
 * direction and the policy entry the datapath redirected for (the
 * listener tells the direction, the addresses the rest), and serves it
 * with the HTTP engine (http-proxy.ts): each request is decided against
 * the current configuration's entry for the connection, and allowed ones
 * go upstream from the client's own address. Matchers are compiled once
 * per configuration (and once per distinct rule set). Every request and
 * response is an L7 record, sent to the agent in batches.
 *
 * Lifecycle:
 *  - the agent's `stop` message or SIGTERM: close everything and exit;
 *  - the IPC channel closing (the agent died or restarts): stop listening,
 *    so that the next agent's proxy can bind the ports, keep serving the
 *    open connections with the last configuration, and exit when the last
 *    one closes. An agent restart so does not break them.
 *
 * Messages: see ToProxy and FromProxy below.
 */
import type net from 'node:net';
import { fileURLToPath } from 'node:url';
import { HttpProxy } from './http-proxy.js';
import { compileHttpRules, type HttpMatcher, type HttpVerdict } from './http-rules.js';
import { decideRequest } from './decide.js';
import type { L7Record, ProxyConnInfo } from './l7-record.js';
import { encodeL7Records, type L7WireBatch } from './l7-wire.js';
import { L7ConfigView, type L7Entry, type L7ProxyConfig } from './proxy-config.js';
import { connectTransparent, listenTransparent, originalDestination } from './transparent.js';

/** Agent to proxy. */
export type ToProxy = { type: 'config'; config: L7ProxyConfig } | { type: 'stop' };

/** What the proxy counts, for the agent's status. */
export interface ProxyStats {
  /** Client connections open now. */
  connections: number;
  /** Client connections accepted since start. */
  accepted: number;
  /** Records lost because the agent did not take them fast enough. */
  recordsDropped: number;
  /** The configuration revision in force. */
  revision: number;
  /** Ports listened on. */
  listening: number[];
}

/** Proxy to agent. */
export type FromProxy =
  | { type: 'records'; batch: L7WireBatch }
  | { type: 'stats'; stats: ProxyStats }
  | { type: 'log'; message: string };

const TCP = 6;
const HOST_IDENTITY = 1;
/** Records are sent at most this long after they were made, or sooner when this many wait. */
const FLUSH_MS = 50;
const FLUSH_COUNT = 256;
/** Records kept while the channel is busy; more are dropped and counted. */
const MAX_PENDING_RECORDS = 16_384;
const BIND_RETRY_MS = 250;
const UPSTREAM_CONNECT_MS = 5_000;

/** The connection info the HTTP engine carries, with where to look its entry up again per request. */
interface ProxiedConn extends ProxyConnInfo {
  egress: boolean;
}

/** An entry's compiled matcher; a rule set that does not compile denies everything (fail closed) and is reported. */
type Compiled = { match: HttpMatcher } | { error: string };

export interface L7ProxyProcessOptions {
  send(msg: FromProxy): void;
  /** Wall clock (tests). */
  now?(): number;
}

export class L7ProxyProcess {
  private view?: L7ConfigView;
  /** Compiled matchers by entry (per configuration) and by rule set (across configurations). */
  private compiled = new WeakMap<L7Entry, Compiled>();
  private readonly byRules = new Map<string, Compiled>();
  private readonly servers = new Map<number, { server: net.Server; egress: boolean }>();
  private readonly sockets = new Set<net.Socket>();
  private readonly http: HttpProxy<ProxiedConn>;
  private pending: L7Record<ProxiedConn>[] = [];
  private flushTimer?: NodeJS.Timeout;
  private statsTimer?: NodeJS.Timeout;
  private bindTimer?: NodeJS.Timeout;
  private draining = false;
  private closed = false;
  private readonly stats: ProxyStats = { connections: 0, accepted: 0, recordsDropped: 0, revision: 0, listening: [] };

  constructor(private readonly opts: L7ProxyProcessOptions) {
    this.http = new HttpProxy<ProxiedConn>({
      decide: (conn, req) => this.decide(conn, req),
      connectUpstream: (conn) => connectTransparent({
        src: { address: conn.src.ip, port: 0 }, dst: { address: conn.dst.ip, port: conn.dst.port }, timeoutMs: UPSTREAM_CONNECT_MS,
      }),
      onRecord: (r) => this.record(r),
      ...(opts.now ? { now: opts.now } : {}),
    });
  }

  /** Takes a new configuration: decisions from now on use it; listens on its ports. */
  configure(config: L7ProxyConfig): void {
    if (this.closed || this.draining) return;
    this.view = new L7ConfigView(config);
    this.compiled = new WeakMap();
    this.stats.revision = config.revision;
    this.listen([
      { port: config.ports.ingress, egress: false },
      { port: config.ports.egress, egress: true },
    ]);
    this.sendStats();
  }

  private log(message: string): void {
    this.opts.send({ type: 'log', message });
  }

  /**
   * Listens on each port not listened on yet; closes listeners of ports no
   * longer configured. A port still held (by the proxy of an agent that went
   * away, still closing) is tried again shortly.
   */
  private listen(wanted: { port: number; egress: boolean }[]): void {
    clearTimeout(this.bindTimer);
    const ports = new Set(wanted.map((w) => w.port));
    for (const [port, s] of this.servers) {
      if (!ports.has(port)) {
        s.server.close();
        this.servers.delete(port);
      }
    }
    let retry = false;
    for (const w of wanted) {
      if (this.servers.has(w.port)) continue;
      try {
        // Ingress on the loopback address only: nothing but the datapath's redirection reaches it. Egress on any
        // address, which the redirection of a pod's connection to another local pod needs (see transparent.priv.test.ts).
        const server = listenTransparent(w.port, { host: w.egress ? '0.0.0.0' : '127.0.0.1' });
        server.on('connection', (socket: net.Socket) => this.accept(socket, w.egress));
        server.on('error', (err: Error) => this.log(`proxy port ${w.port}: ${err.message}`));
        this.servers.set(w.port, { server, egress: w.egress });
      } catch (err) {
        retry = true;
        this.log(`cannot listen on proxy port ${w.port} yet (${(err as Error).message}); trying again every ${BIND_RETRY_MS} ms`);
      }
    }
    this.stats.listening = [...this.servers.keys()].sort((a, b) => a - b);
    if (retry) {
      this.bindTimer = setTimeout(() => {
        if (!this.closed && !this.draining) {
          this.listen(wanted);
          this.sendStats();
        }
      }, BIND_RETRY_MS);
    }
  }

  private accept(socket: net.Socket, egress: boolean): void {
    socket.on('error', () => socket.destroy());
    // The listener is a plain net.Server (transparent.ts), which leaves Nagle on: a response must not wait for the
    // client's ACK of the one before.
    socket.setNoDelay(true);
    let original;
    try {
      original = originalDestination(socket);
    } catch {
      socket.destroy();
      return;
    }
    const client = { ip: (socket.remoteAddress ?? '').replace(/^::ffff:/, ''), port: socket.remotePort ?? 0 };
    // The node's own proxy port dialled directly rather than redirected (the egress listener takes any address):
    // there is nothing to proxy to but the proxy itself.
    if (this.servers.has(original.port) && this.view?.identityOf(original.address) === HOST_IDENTITY) {
      socket.destroy();
      return;
    }
    const dst = { ip: original.address, port: original.port };
    const match = this.view?.match({ egress, client, original: dst, protocol: TCP });
    const peer = match?.peerIdentity ?? 0;
    const local = match?.endpoint?.identity ?? 0;
    const conn: ProxiedConn = {
      src: client, dst, egress,
      srcIdentity: egress ? local : peer,
      dstIdentity: egress ? peer : local,
      direction: egress ? 'EGRESS' : 'INGRESS',
    };
    this.sockets.add(socket);
    this.stats.accepted++;
    this.stats.connections = this.sockets.size;
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.stats.connections = this.sockets.size;
      this.scheduleStats();
      if (this.draining && this.sockets.size === 0) this.exit();
    });
    this.scheduleStats();
    this.http.handle(socket, conn);
  }

  /**
   * One request against the current configuration's entry for its
   * connection; none, or rules that do not compile: denied. A request
   * redirected at the client (egress) to a server on this node with HTTP
   * rules of its own for this client and port must pass those too: the
   * proxy's upstream is never redirected again (bpf/lib/proxy.h), so they
   * are applied here, to the request as the egress rules' header actions
   * left it, as a proxy on each side would.
   */
  private decide(conn: ProxiedConn, req: Parameters<HttpMatcher>[0]): HttpVerdict {
    return decideRequest(req, conn.egress, (egress, view) => this.decideAt(egress, conn, view));
  }

  /** The verdict of one side's entry, with the cookies of the rules behind it; undefined when that side has no HTTP rules for the connection. */
  private decideAt(egress: boolean, conn: ProxiedConn, req: Parameters<HttpMatcher>[0]): HttpVerdict | undefined {
    const entry = this.view?.match({ egress, client: conn.src, original: conn.dst, protocol: TCP })?.entry;
    // No entry, or a plain allow winning over the entries with HTTP rules: no HTTP rules for this request here.
    if (!entry || entry.http.length === 0) return undefined;
    const compiled = this.matcherOf(entry);
    const verdict: HttpVerdict = 'error' in compiled ? { allowed: false, actions: [] } : compiled.match(req);
    // The rule that allowed the request, or for a denied one every rule of its port, none of which matched.
    const cookies = verdict.allowed
      ? (verdict.rule !== undefined && entry.http[verdict.rule]?.cookie ? [entry.http[verdict.rule]!.cookie] : undefined)
      : [...new Set(entry.http.map((h) => h.cookie))];
    return cookies?.length ? { ...verdict, cookies } : verdict;
  }

  private matcherOf(entry: L7Entry): Compiled {
    let c = this.compiled.get(entry);
    if (c) return c;
    const key = JSON.stringify(entry.http.map((r) => r.rule));
    c = this.byRules.get(key);
    if (!c) {
      try {
        c = { match: compileHttpRules(entry.http.map((r) => r.rule)) };
      } catch (err) {
        c = { error: (err as Error).message };
        this.log(`HTTP rules that do not compile deny every request: ${c.error}`);
      }
      this.byRules.set(key, c);
    }
    this.compiled.set(entry, c);
    return c;
  }

  private record(r: L7Record<ProxiedConn>): void {
    if (this.closed) return;
    if (this.pending.length >= MAX_PENDING_RECORDS) {
      this.stats.recordsDropped++;
      return;
    }
    // The record is ours from here (the engine keeps none); its conn is shared by the connection's records, which the
    // batch encoding sends once. A decided request carries the cookies of its rules (decideAt).
    this.pending.push(r);
    if (this.pending.length >= FLUSH_COUNT) this.flush();
    else this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pending.length === 0) return;
    const records = this.pending;
    this.pending = [];
    if (this.draining) return; // no agent to take them
    this.opts.send({ type: 'records', batch: encodeL7Records(records) });
  }

  private scheduleStats(): void {
    this.statsTimer ??= setTimeout(() => this.sendStats(), 100);
  }

  private sendStats(): void {
    clearTimeout(this.statsTimer);
    this.statsTimer = undefined;
    if (!this.draining && !this.closed) this.opts.send({ type: 'stats', stats: { ...this.stats } });
  }

  /** The agent went away: stop listening, serve what is open, exit after the last connection. */
  drain(): void {
    if (this.draining || this.closed) return;
    this.draining = true;
    clearTimeout(this.bindTimer);
    for (const s of this.servers.values()) s.server.close();
    this.servers.clear();
    this.pending = [];
    if (this.sockets.size === 0) this.exit();
  }

  /** Closes every listener and connection. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of [this.bindTimer, this.flushTimer, this.statsTimer]) clearTimeout(t);
    for (const s of this.servers.values()) s.server.close();
    this.servers.clear();
    this.http.close();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  /** Set by main(): how the process ends once drained. */
  onDrained: () => void = () => undefined;

  private exit(): void {
    this.close();
    this.onDrained();
  }

  get connectionCount(): number {
    return this.sockets.size;
  }
}

function main(): void {
  if (!process.send) {
    process.stderr.write('membrane L7 proxy: run by the agent (child_process.fork), not by hand\n');
    process.exit(2);
  }
  const send = (msg: FromProxy) => {
    if (process.connected) process.send!(msg);
  };
  const proxy = new L7ProxyProcess({ send });
  const log = (m: string) => process.stderr.write(`${new Date().toISOString()} l7-proxy[${process.pid}]: ${m}\n`);
  const stop = () => {
    proxy.close();
    process.exit(0);
  };
  proxy.onDrained = () => {
    log('the agent went away and the last proxied connection closed: exiting');
    process.exit(0);
  };
  process.on('message', (msg: ToProxy) => {
    if (msg.type === 'config') proxy.configure(msg.config);
    else if (msg.type === 'stop') stop();
  });
  process.on('disconnect', () => {
    log(`the agent went away: no longer listening; ${proxy.connectionCount} open connections served until they close`);
    proxy.drain();
  });
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
