/**
 * The smallest transparent proxy: a TCP relay on transparent.ts, with no
 * L7 logic. Tests run it in a node's network namespace as a script:
 *
 *   node dist/l7/transparent-relay.js <port> [--keep-client-port] [--host <address>]
 *
 * It prints one JSON line per event on stdout: {"event":"listening"}, then
 * per connection {"event":"accepted","client":..,"original":..} and
 * {"event":"upstream","local":..} or {"event":"upstream-error","message":..}.
 * SIGTERM closes it.
 */
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { connectTransparent, listenTransparent, originalDestination } from './transparent.js';

export interface RelayOptions {
  /** Bind the upstream to the client's own port too (default: port 0, the kernel picks one). */
  keepClientPort?: boolean;
  /** Listener address, default 127.0.0.1. */
  host?: string;
  log?: (event: Record<string, unknown>) => void;
}

/** Starts the relay on `port`; resolves its server once it listens. */
export async function startRelay(port: number, opts: RelayOptions = {}): Promise<net.Server> {
  const log = opts.log ?? (() => undefined);
  const server = listenTransparent(port, opts.host ? { host: opts.host } : {});
  server.on('connection', (client: net.Socket) => {
    client.on('error', () => client.destroy());
    const original = originalDestination(client);
    const from = { address: client.remoteAddress!, port: opts.keepClientPort ? client.remotePort! : 0 };
    log({ event: 'accepted', client: `${from.address}:${client.remotePort}`, original: `${original.address}:${original.port}` });
    client.pause();
    connectTransparent({ src: from, dst: original, timeoutMs: 3_000 }).then(
      (upstream) => {
        log({ event: 'upstream', local: `${upstream.localAddress}:${upstream.localPort}` });
        upstream.on('error', () => { upstream.destroy(); client.destroy(); });
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      },
      (err: Error) => {
        log({ event: 'upstream-error', message: err.message });
        client.destroy();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  return server;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2]);
  const log = (e: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(e)}\n`);
  const hostAt = process.argv.indexOf('--host');
  const host = hostAt > 0 ? process.argv[hostAt + 1] : undefined;
  const server = await startRelay(port, { keepClientPort: process.argv.includes('--keep-client-port'), ...(host ? { host } : {}), log });
  log({ event: 'listening', port });
  process.on('SIGTERM', () => {
    server.close();
    process.exit(0);
  });
}
