/**
 * The Prometheus endpoint: GET /metrics in the text exposition format on a
 * TCP address (`--prometheus-serve-addr`, as Cilium names it), 404 for
 * anything else. The agent runs in the node's network namespace, so the
 * default 127.0.0.1:9962 is the node's own loopback.
 */
import http from 'node:http';
import { isIP } from 'node:net';
import type { Registry } from 'prom-client';
import { MembraneError, ValidationError } from '../common/errors.js';

export const DEFAULT_PROMETHEUS_SERVE_ADDR = '127.0.0.1:9962';

export interface ServeAddress {
  /** Undefined: every address (":9962"). */
  host?: string;
  port: number;
}

/**
 * Parses `host:port`, `[v6]:port` or `:port`; "" means disabled (undefined).
 * Throws ValidationError naming the flag.
 */
export function parseServeAddress(text: string, flag = '--prometheus-serve-addr'): ServeAddress | undefined {
  if (text === '') return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const hint = 'expected host:port, [ipv6]:port or :port (e.g. 127.0.0.1:9962), or "" to disable';
  if (!m) throw new ValidationError(flag, `"${text}" is not an address: ${hint}`);
  const host = m[1] ?? m[2];
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new ValidationError(flag, `port ${m[3]} in "${text}" is not between 1 and 65535`);
  if (m[1] !== undefined && isIP(m[1]) !== 6) throw new ValidationError(flag, `"${m[1]}" in "${text}" is not an IPv6 address`);
  return host ? { host, port } : { port };
}

export class MetricsServer {
  private readonly server: http.Server;

  constructor(private readonly registry: Registry, private readonly log: (m: string) => void = () => undefined) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  /** Starts listening; throws MembraneError EINVAL when the address is taken or not local. */
  listen(addr: ServeAddress): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) =>
        reject(new MembraneError('EINVAL', `--prometheus-serve-addr: cannot listen on ${addr.host ?? '*'}:${addr.port}: ${err.code ?? err.message}; pick another address or pass "" to disable`, { cause: err }));
      this.server.once('error', onError);
      this.server.listen({ port: addr.port, ...(addr.host ? { host: addr.host } : {}) }, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
  }

  /** The bound port (after listen), e.g. when listening on port 0. */
  get port(): number | undefined {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : undefined;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const pathname = new URL(req.url ?? '/', 'http://metrics').pathname;
    if (pathname !== '/metrics') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
    try {
      const text = await this.registry.metrics();
      res.writeHead(200, { 'content-type': this.registry.contentType, 'content-length': Buffer.byteLength(text) });
      res.end(req.method === 'HEAD' ? undefined : text);
    } catch (err) {
      this.log(`metrics scrape failed: ${(err as Error).message}`);
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics scrape failed: ${(err as Error).message}\n`);
    }
  }
}
