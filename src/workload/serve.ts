import dgram from 'node:dgram';
import net from 'node:net';
import os from 'node:os';
import { MembraneError, ValidationError, errorMessage } from '../common/errors.js';

/**
 * `membrane workload serve`: answers on every given TCP and UDP port with the
 * pod's name, as Kubernetes' agnhost does for network policy tests, so a probe
 * learns both that it got through and which pod answered.
 *
 * TCP: the name and "\n" are written as soon as a connection is accepted, then
 * the server half-closes and drains whatever the client sends until the client
 * closes. Draining (rather than closing at once) keeps a client that sent
 * something from getting a reset before it read the name. UDP: every datagram
 * gets one datagram holding the name back.
 */

/** How long an accepted connection may stay open after the name was sent, so a silent client cannot pin it forever. */
const LINGER_MS = 10_000;

/**
 * Parses a comma list of ports such as "80,81" for `flag`. Throws a
 * ValidationError naming the flag on an empty list or a port outside 1-65535.
 */
export function parsePortList(text: string, flag: string): number[] {
  const items = text.split(',').map((s) => s.trim());
  return items.map((item) => {
    if (!/^\d+$/.test(item)) throw new ValidationError(flag, `"${item}" in "${text}" is not a port (give a comma list such as 80,81)`);
    const port = Number(item);
    if (port < 1 || port > 65535) throw new ValidationError(flag, `port ${item} is outside 1-65535`);
    return port;
  });
}

/** A commander option parser that lets `flag` be repeated and accumulates its lists, without duplicates. */
export function portListOption(flag: string): (text: string, previous?: number[]) => number[] {
  return (text, previous) => [...new Set([...(previous ?? []), ...parsePortList(text, flag)])];
}

/**
 * The name the server answers with: `--name`, else $POD_NAME, else the host
 * name (which is the pod's name in a lab pod's UTS namespace).
 */
export function resolveServeName(flagName: string | undefined, env: NodeJS.ProcessEnv, hostname: string): string {
  const name = flagName ?? (env['POD_NAME'] || hostname);
  if (name === '' || /[\r\n]/.test(name)) throw new ValidationError('--name', `"${name}" must be non-empty and on one line`);
  return name;
}

export interface ServeSpec {
  tcp: number[];
  udp: number[];
  /** IP address to listen on: 0.0.0.0 (every IPv4 address), :: or one address. */
  host: string;
  name: string;
}

/** Checks a ServeSpec up front so nothing is bound when part of it is wrong. */
export function validateServeSpec(spec: ServeSpec): void {
  if (spec.tcp.length + spec.udp.length === 0) throw new ValidationError('--tcp/--udp', 'give at least one port, e.g. --tcp 80,81 --udp 80,81');
  if (net.isIP(spec.host) === 0) throw new ValidationError('--host', `"${spec.host}" is not an IP address (e.g. 0.0.0.0)`);
}

export interface NameServer {
  /** Bound ports, in the order given (a 0 in the spec shows the port the kernel picked). */
  tcpPorts: number[];
  udpPorts: number[];
  /** Stops listening and drops every open connection. Never throws. */
  close(): Promise<void>;
}

function bindFailure(proto: string, host: string, port: number, cause: unknown): MembraneError {
  const code = (cause as NodeJS.ErrnoException).code;
  const hint = code === 'EADDRINUSE' ? ' (something else listens on it)' : code === 'EACCES' ? ' (ports below 1024 need root or CAP_NET_BIND_SERVICE)' : '';
  return new MembraneError('EKERNEL', `cannot listen on ${proto} ${host}:${port}: ${errorMessage(cause)}${hint}`, { cause });
}

function listenTcp(port: number, host: string, reply: Buffer, open: Set<net.Socket>): Promise<net.Server> {
  const server = net.createServer((socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => { /* a client's reset is not the server's problem */ });
    socket.setTimeout(LINGER_MS, () => socket.destroy());
    socket.end(reply);
    socket.resume();
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(bindFailure('tcp', host, port, err)));
    server.listen(port, host, () => {
      server.removeAllListeners('error');
      server.on('error', () => { /* accept errors (e.g. EMFILE) must not end the workload */ });
      resolve(server);
    });
  });
}

function listenUdp(port: number, host: string, reply: Buffer): Promise<dgram.Socket> {
  const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  socket.on('message', (_msg, from) => {
    socket.send(reply, from.port, from.address, () => { /* a lost answer looks like a drop to the prober */ });
  });
  return new Promise((resolve, reject) => {
    socket.once('error', (err) => reject(bindFailure('udp', host, port, err)));
    socket.bind(port, host, () => {
      socket.removeAllListeners('error');
      socket.on('error', () => { /* e.g. ICMP errors for an answer: keep serving */ });
      resolve(socket);
    });
  });
}

/**
 * Listens on every port of `spec` and resolves once all are bound. Throws a
 * ValidationError for a bad spec, or a MembraneError (EKERNEL) naming the
 * protocol, address and port that could not be bound, after closing the ones
 * already bound. The caller closes the returned server.
 */
export async function startNameServer(spec: ServeSpec): Promise<NameServer> {
  validateServeSpec(spec);
  const reply = Buffer.from(spec.name + '\n');
  const udpReply = Buffer.from(spec.name);
  const tcpServers: net.Server[] = [];
  const udpSockets: dgram.Socket[] = [];
  const open = new Set<net.Socket>();
  const close = async (): Promise<void> => {
    const closing = tcpServers.map((s) => new Promise<void>((r) => s.close(() => r())));
    for (const socket of open) socket.destroy();
    for (const s of udpSockets) s.close();
    await Promise.all(closing);
  };
  try {
    for (const port of spec.tcp) tcpServers.push(await listenTcp(port, spec.host, reply, open));
    for (const port of spec.udp) udpSockets.push(await listenUdp(port, spec.host, udpReply));
  } catch (err) {
    await close();
    throw err;
  }
  return {
    tcpPorts: tcpServers.map((s) => (s.address() as net.AddressInfo).port),
    udpPorts: udpSockets.map((s) => s.address().port),
    close,
  };
}

export interface ServeOptions {
  tcp: number[];
  udp: number[];
  host: string;
  name?: string;
}

/** `membrane workload serve`: serves until SIGTERM or SIGINT, then exits 0. */
export async function runServe(opts: ServeOptions): Promise<void> {
  const name = resolveServeName(opts.name, process.env, os.hostname());
  const s = await startNameServer({ tcp: opts.tcp, udp: opts.udp, host: opts.host, name });
  const ports = [s.tcpPorts.length ? `tcp ${s.tcpPorts.join(',')}` : '', s.udpPorts.length ? `udp ${s.udpPorts.join(',')}` : ''].filter(Boolean).join(', ');
  process.stdout.write(`serve: answering "${name}" on ${opts.host} ${ports}\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.stdout.write(`serve: ${signal}, shutting down\n`);
      void s.close().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
