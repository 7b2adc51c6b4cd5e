import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { deathstarResponse } from './deathstar-routes.js';

/** The deathstar HTTP server (see deathstar-routes.ts for what it answers). */
export function createDeathstarServer(): http.Server {
  return http.createServer((req, res) => {
    // Answer once the request body is read, so a client still sending it never sees a reset.
    req.resume();
    req.on('end', () => {
      const r = deathstarResponse(req.method ?? 'GET', req.url ?? '/');
      res.writeHead(r.status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(r.body), ...r.headers });
      res.end(req.method === 'HEAD' ? undefined : r.body);
    });
  });
}

export interface ListeningServer {
  server: http.Server;
  port: number;
  close(): Promise<void>;
}

/** Starts the server on host:port (port 0 picks a free one) and resolves once it listens. */
export function listenDeathstar(port: number, host = '0.0.0.0'): Promise<ListeningServer> {
  const server = createDeathstarServer();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve({
        server,
        port: (server.address() as AddressInfo).port,
        close: () => new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        }),
      });
    });
  });
}

/** `membrane workload deathstar`: serves until SIGTERM or SIGINT, then exits 0. */
export async function runDeathstar(port: number, host: string): Promise<void> {
  const s = await listenDeathstar(port, host);
  process.stdout.write(`deathstar: serving the Death Star API on http://${host}:${s.port}/v1/\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.stdout.write(`deathstar: ${signal}, shutting down\n`);
      void s.close().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
