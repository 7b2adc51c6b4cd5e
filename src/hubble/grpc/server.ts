/**
 * The Hubble Observer gRPC server of one agent: the `observer.Observer`
 * service on a unix socket (local tools; default `hubble.sock` beside the
 * agent's API socket, e.g. /var/run/membrane/hubble.sock) and on TCP
 * (default 127.0.0.1:4244: Hubble's port, bound to the loopback of the
 * network namespace the agent runs in, i.e. the node's).
 */
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MembraneError } from '../../common/errors.js';
import { type ObserverSource, ObserverService } from './observer-service.js';
import { observerServiceDefinition } from './proto.js';

/** Hubble's server port. */
export const HUBBLE_PORT = 4244;
export const DEFAULT_HUBBLE_LISTEN_ADDRESS = `127.0.0.1:${HUBBLE_PORT}`;

/** The default Observer socket: `hubble.sock` in the agent socket's directory. */
export function defaultHubbleSocket(agentSocket: string): string {
  return path.join(path.dirname(agentSocket), 'hubble.sock');
}

export interface HubbleServerOptions {
  /** Unix socket path; empty or absent: none. */
  socketPath?: string;
  /** TCP `host:port`; empty or absent: none. */
  listenAddress?: string;
  clusterName?: string;
}

function bind(server: grpc.Server, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
  });
}

export class HubbleServer {
  private readonly server = new grpc.Server();
  private readonly service: ObserverService;

  constructor(source: ObserverSource, private readonly opts: HubbleServerOptions) {
    const address = opts.listenAddress || (opts.socketPath ? `unix://${opts.socketPath}` : '');
    this.service = new ObserverService(source, { address, ...(opts.clusterName ? { clusterName: opts.clusterName } : {}) });
    this.server.addService(observerServiceDefinition(), this.service.handlers());
  }

  /** Binds the socket and the TCP address. Throws MembraneError naming the address that failed, with a hint. */
  async listen(): Promise<void> {
    const { socketPath, listenAddress } = this.opts;
    if (socketPath) {
      if (existsSync(socketPath)) unlinkSync(socketPath);
      try {
        await bind(this.server, `unix://${socketPath}`);
      } catch (cause) {
        throw new MembraneError('EAGENT', `Hubble Observer API: cannot listen on ${socketPath}: ${(cause as Error).message}`, { cause, path: '--hubble-socket-path' });
      }
      chmodSync(socketPath, 0o600);
    }
    if (listenAddress) {
      try {
        await bind(this.server, listenAddress);
      } catch (cause) {
        throw new MembraneError('EAGENT',
          `Hubble Observer API: cannot listen on ${listenAddress}: ${(cause as Error).message}; is another agent serving it in this network namespace? Pass --hubble-listen-address "" to serve on the unix socket only`,
          { cause, path: '--hubble-listen-address' });
      }
    }
  }

  /** Ends open streams and stops listening; removes the socket file. */
  async close(): Promise<void> {
    this.service.close();
    this.server.forceShutdown();
    if (this.opts.socketPath && existsSync(this.opts.socketPath)) unlinkSync(this.opts.socketPath);
  }
}
