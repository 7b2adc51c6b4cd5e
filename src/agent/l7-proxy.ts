/**
 * The agent's side of the L7 proxy (src/l7/proxy-main.ts): what to tell it
 * (`buildProxyConfig`, pure) and keeping it running (`L7ProxySupervisor`).
 *
 * The proxy process is started the first time some endpoint has an L7
 * entry, not with the agent: a node without HTTP rules pays no process for
 * them, and nothing listens on the proxy ports (a redirect there would
 * fail closed anyway). Once started it stays, so that connections it
 * serves outlive a policy change that briefly takes the rules away.
 *
 * If it dies it is started again after a backoff (250 ms, doubling up to
 * 10 s, back to 250 ms once it ran a minute) with the current
 * configuration; meanwhile redirected connections fail closed in the
 * datapath. `stop()` stops it for good (the agent stops). When the agent
 * itself dies, the proxy notices its IPC channel closing and serves its
 * open connections to their end (see proxy-main.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { L7ProxyStatusModel } from '../api/types.js';
import type { L7Record } from '../l7/l7-record.js';
import { decodeL7Records } from '../l7/l7-wire.js';
import { hasL7Entries, sameProxyConfig, type L7Endpoint, type L7Entry, type L7ProxyConfig } from '../l7/proxy-config.js';
import type { FromProxy, ProxyStats, ToProxy } from '../l7/proxy-main.js';
import { DEFAULT_PROXY_PORTS, type ProxyPorts } from '../policy/resolve.js';

/** dist/agent/l7-proxy.js -> dist/l7/proxy-main.js */
export const PROXY_MAIN = fileURLToPath(new URL('../l7/proxy-main.js', import.meta.url));

/** What buildProxyConfig reads of one local endpoint. */
export interface ProxyEndpointInput {
  ip: string;
  id: number;
  identity: number;
  /** Its resolved policy's redirected entries (ResolvedEndpointPolicy.l7). */
  l7: readonly L7Entry[];
}

export interface ProxyConfigInput {
  ports?: ProxyPorts;
  endpoints: Iterable<ProxyEndpointInput>;
  /** The node's own addresses (host identity). */
  hostIps: Iterable<string>;
  /** CIDR identities (prefix, id). */
  cidrs: Iterable<{ prefix: string; id: number }>;
}

const HOST_IDENTITY = 1;

/**
 * The proxy's configuration, revision 0 (the supervisor numbers what it
 * sends): the endpoints with L7 entries, every local pod's and the node's
 * address with its identity (the proxy's view of who the peer is), and the
 * CIDR identities. Sorted, so equal states give equal configurations.
 */
export function buildProxyConfig(input: ProxyConfigInput): L7ProxyConfig {
  const endpoints: L7Endpoint[] = [];
  const addresses: { ip: string; identity: number }[] = [];
  for (const e of input.endpoints) {
    addresses.push({ ip: e.ip, identity: e.identity });
    if (e.l7.length > 0) endpoints.push({ ip: e.ip, id: e.id, identity: e.identity, entries: e.l7 });
  }
  for (const ip of input.hostIps) addresses.push({ ip, identity: HOST_IDENTITY });
  const byIp = (a: { ip: string }, b: { ip: string }) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0);
  return {
    revision: 0,
    ports: { ...(input.ports ?? DEFAULT_PROXY_PORTS) },
    endpoints: endpoints.sort(byIp),
    addresses: addresses.sort(byIp),
    cidrs: [...input.cidrs].map((c) => ({ prefix: c.prefix, identity: c.id })).sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0)),
  };
}

export interface L7ProxySupervisorOptions {
  /** Every batch of records the proxy sends. */
  onRecords(records: L7Record[]): void;
  log(msg: string): void;
  /** The proxy's script; default PROXY_MAIN. */
  script?: string;
  /** Backoff of restarts, ms. */
  backoff?: { initialMs: number; maxMs: number; resetAfterMs: number };
}

const DEFAULT_BACKOFF = { initialMs: 250, maxMs: 10_000, resetAfterMs: 60_000 };
const STOP_GRACE_MS = 3_000;

export class L7ProxySupervisor {
  private child?: ChildProcess;
  private config?: L7ProxyConfig;
  private revision = 0;
  private restarts = 0;
  private delayMs: number;
  private restartTimer?: NodeJS.Timeout;
  private startedAt = 0;
  private stopped = false;
  private lastExit?: string;
  private stats?: ProxyStats;
  /** Records dropped by the proxy's earlier runs (each run counts from 0). */
  private droppedBefore = 0;
  private readonly backoff: typeof DEFAULT_BACKOFF;

  constructor(private readonly opts: L7ProxySupervisorOptions) {
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.delayMs = this.backoff.initialMs;
  }

  /**
   * Takes the configuration after a regeneration pass: sent when it says
   * something new; the first with L7 entries starts the proxy.
   */
  update(next: L7ProxyConfig): void {
    if (this.stopped) return;
    if (this.config && sameProxyConfig(this.config, next)) return;
    if (!this.config && !hasL7Entries(next)) return;
    this.config = { ...next, revision: ++this.revision };
    if (this.child) this.send({ type: 'config', config: this.config });
    else if (!this.restartTimer) this.start();
  }

  status(): L7ProxyStatusModel {
    const running = this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
    return {
      enabled: this.config !== undefined && !this.stopped,
      running,
      ...(running && this.child?.pid !== undefined ? { pid: this.child.pid } : {}),
      restarts: this.restarts,
      connections: running ? this.stats?.connections ?? 0 : 0,
      accepted: this.stats?.accepted ?? 0,
      listening: running ? this.stats?.listening ?? [] : [],
      revision: this.stats?.revision ?? 0,
      recordsDropped: this.droppedBefore + (this.stats?.recordsDropped ?? 0),
      ...(this.lastExit ? { lastExit: this.lastExit } : {}),
    };
  }

  private send(msg: ToProxy): void {
    const c = this.child;
    if (c?.connected) c.send(msg, (err) => { if (err) this.opts.log(`L7 proxy: sending ${msg.type} failed: ${err.message}`); });
  }

  private start(): void {
    this.restartTimer = undefined;
    if (this.stopped) return;
    // detached: its own process group, so a signal meant for the agent's (a terminal's Ctrl-C) does not reach it;
    // the agent stops it itself.
    const child = fork(this.opts.script ?? PROXY_MAIN, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true, serialization: 'json' });
    this.child = child;
    this.startedAt = Date.now();
    this.droppedBefore += this.stats?.recordsDropped ?? 0;
    this.stats = undefined;
    child.on('message', (msg: FromProxy) => this.onMessage(msg));
    child.on('error', (err) => this.opts.log(`L7 proxy: ${err.message}`));
    child.on('exit', (code, signal) => this.onExit(child, code, signal));
    this.opts.log(`L7 proxy started (pid ${child.pid}), ports ingress ${this.config!.ports.ingress} egress ${this.config!.ports.egress}`);
    this.send({ type: 'config', config: this.config! });
  }

  private onMessage(msg: FromProxy): void {
    switch (msg.type) {
      case 'records':
        try {
          this.opts.onRecords(decodeL7Records(msg.batch));
        } catch (err) {
          // The channel is the agent's own, so this is a bug; the agent stays up and says so.
          this.opts.log(`L7 proxy: a batch of records could not be read: ${(err as Error).message}`);
        }
        break;
      case 'stats':
        this.stats = msg.stats;
        break;
      case 'log':
        this.opts.log(`L7 proxy: ${msg.message}`);
        break;
    }
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = undefined;
    this.lastExit = signal ? `killed by ${signal}` : `exit code ${code}`;
    if (this.stopped) return;
    if (Date.now() - this.startedAt > this.backoff.resetAfterMs) this.delayMs = this.backoff.initialMs;
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.backoff.maxMs);
    this.restarts++;
    this.opts.log(`L7 proxy (pid ${child.pid}) ended (${this.lastExit}); redirected connections fail closed until it is back; starting it again in ${delay} ms`);
    this.restartTimer = setTimeout(() => this.start(), delay);
  }

  /** Stops the proxy (its connections close) and restarts no more; resolves once it exited (SIGKILL after 3 s). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (child.connected) this.send({ type: 'stop' });
    else child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }
}
