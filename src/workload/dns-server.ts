/**
 * The cluster DNS server's sockets: UDP and TCP on one address and port,
 * each message answered by handleDnsMessage from the zone current at the
 * time. TCP follows RFC 7766: 2-byte length framing, several queries per
 * connection, an idle timeout.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { MembraneError, errorMessage } from '../common/errors.js';
import { handleDnsMessage } from './dns-wire.js';
import type { DnsZone } from './dns-zone.js';

export interface DnsServerOptions {
  /** The IP address to listen on (0.0.0.0, :: or one address). */
  host: string;
  /** 0 picks a free port, the same for UDP and TCP. */
  port: number;
  /** The zone to answer from, asked for every message (so a reload takes effect at once). */
  zone: () => DnsZone;
}

export interface DnsServer {
  /** The port both UDP and TCP listen on. */
  port: number;
  /** Stops listening and drops open TCP connections. Never throws. */
  close(): Promise<void>;
}

/** A TCP connection with no complete query for this long is closed, so idle clients cannot pin it. */
const TCP_IDLE_MS = 10_000;
/** With port 0, how often to pick another port when TCP finds UDP's port taken. */
const EPHEMERAL_TRIES = 5;

/**
 * Listens on UDP and TCP `opts.host`:`opts.port`. Throws a MembraneError
 * (EKERNEL) naming the protocol, address and port that could not be bound,
 * after closing what was bound. The caller closes the returned server.
 */
export async function startDnsServer(opts: DnsServerOptions): Promise<DnsServer> {
  for (let attempt = 1; ; attempt++) {
    const udp = await bindUdp(opts);
    const port = udp.address().port;
    try {
      const tcp = await listenTcp(opts, port);
      return { port, close: () => tcp.close().then(() => closeUdp(udp)) };
    } catch (err) {
      await closeUdp(udp);
      const taken = ((err as MembraneError).cause as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE';
      if (opts.port !== 0 || !taken || attempt >= EPHEMERAL_TRIES) throw err;
    }
  }
}

function bindFailure(proto: string, host: string, port: number, cause: unknown): MembraneError {
  const code = (cause as NodeJS.ErrnoException).code;
  const hint = code === 'EADDRINUSE' ? ' (something else listens on it)' : code === 'EACCES' ? ' (port 53 needs root or CAP_NET_BIND_SERVICE)' : '';
  return new MembraneError('EKERNEL', `dns: cannot listen on ${proto} ${host}:${port}: ${errorMessage(cause)}${hint}`, { cause });
}

function bindUdp(opts: DnsServerOptions): Promise<dgram.Socket> {
  const socket = dgram.createSocket(net.isIPv6(opts.host) ? 'udp6' : 'udp4');
  socket.on('message', (message, from) => {
    const reply = handleDnsMessage(opts.zone(), message, 'udp');
    if (reply !== undefined) socket.send(reply, from.port, from.address, () => { /* a lost answer is a lost datagram: the client retries */ });
  });
  return new Promise((resolve, reject) => {
    socket.once('error', (err) => {
      socket.close();
      reject(bindFailure('udp', opts.host, opts.port, err));
    });
    socket.bind(opts.port, opts.host, () => {
      socket.removeAllListeners('error');
      socket.on('error', () => { /* e.g. ICMP unreachable for an answer: keep serving */ });
      resolve(socket);
    });
  });
}

function closeUdp(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

interface TcpListener { close(): Promise<void> }

function listenTcp(opts: DnsServerOptions, port: number): Promise<TcpListener> {
  const open = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => { /* a client's reset is not the server's problem */ });
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    serveTcpConnection(socket, opts.zone);
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(bindFailure('tcp', opts.host, port, err)));
    server.listen(port, opts.host, () => {
      server.removeAllListeners('error');
      server.on('error', () => { /* accept errors (e.g. EMFILE) must not end the server */ });
      resolve({
        close: () => new Promise<void>((r) => {
          server.close(() => r());
          for (const socket of open) socket.destroy();
        }),
      });
    });
  });
}

/** Answers every length-prefixed message on `socket`, in order, until the client closes. */
function serveTcpConnection(socket: net.Socket, zone: () => DnsZone): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 2) {
      const length = pending.readUInt16BE(0);
      if (pending.length < 2 + length) break;
      const message = pending.subarray(2, 2 + length);
      pending = pending.subarray(2 + length);
      const reply = handleDnsMessage(zone(), message, 'tcp');
      if (reply === undefined) continue;
      const prefix = Buffer.alloc(2);
      prefix.writeUInt16BE(reply.length);
      socket.write(Buffer.concat([prefix, reply]));
    }
  });
  socket.on('end', () => socket.end());
}
