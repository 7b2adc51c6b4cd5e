/**
 * Transparent sockets for membrane's L7 proxy, in the node's network
 * namespace. The datapath (bpf/lib/proxy.h) hands a redirected connection
 * to a listener made by `listenTransparent`, untouched: the accepted
 * socket's local address is the address the client dialled
 * (`originalDestination`). The proxy's upstream leaves from the client's
 * own address through `connectTransparent`, with the mark that tells the
 * datapath not to redirect it again; the server sees the client, and its
 * replies find their way back to the proxy's socket.
 *
 * Node's net module cannot set IP_TRANSPARENT or SO_MARK, nor bind a
 * client socket, so the sockets are made with libc through koffi and then
 * handed to net.Server / net.Socket, which own (and close) them from then on.
 */
import net from 'node:net';
import koffi from 'koffi';
import { MembraneError } from '../common/errors.js';
import { MARK_MAGIC_FROM_PROXY, ip4ToInt } from '../datapath/layout.js';

const libc = koffi.load('libc.so.6');
const sys = {
  socket: libc.func('int socket(int domain, int type, int protocol)'),
  setsockopt: libc.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)'),
  getsockopt: libc.func('int getsockopt(int fd, int level, int name, void *value, void *len)'),
  bind: libc.func('int bind(int fd, const void *addr, uint32_t len)'),
  listen: libc.func('int listen(int fd, int backlog)'),
  connect: libc.func('int connect(int fd, const void *addr, uint32_t len)'),
  poll: libc.func('int poll(void *fds, unsigned long nfds, int timeout)'),
  close: libc.func('int close(int fd)'),
  strerror: libc.func('const char *strerror(int errnum)'),
};

const AF_INET = 2;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const SO_ERROR = 4;
const SO_MARK = 36;
const SOL_IP = 0;
const IP_TRANSPARENT = 19;
const IP_BIND_ADDRESS_NO_PORT = 24;
const EINPROGRESS = 115;
const EINTR = 4;
const POLLOUT = 4;

/** The mark the proxy's upstream sockets carry (bpf/lib/layout.h MARK_MAGIC_FROM_PROXY). */
export const PROXY_UPSTREAM_MARK = MARK_MAGIC_FROM_PROXY;

export interface SocketAddress {
  address: string;
  port: number;
}

function sockaddrIn(a: SocketAddress, what: string): Buffer {
  let ip: number;
  try {
    ip = ip4ToInt(a.address);
  } catch (cause) {
    throw new MembraneError('EINVAL', `${what}.address ${JSON.stringify(a.address)} is not an IPv4 address`, { cause });
  }
  if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535) {
    throw new MembraneError('EINVAL', `${what}.port ${a.port} is not a port (0..65535)`);
  }
  const b = Buffer.alloc(16);
  b.writeUInt16LE(AF_INET, 0);
  b.writeUInt16BE(a.port, 2);
  b.writeUInt32BE(ip, 4);
  return b;
}

function errnoError(op: string, errno: number, hint = ''): MembraneError {
  const text = sys.strerror(errno) as string;
  return new MembraneError('EKERNEL', `${op} failed: ${text} (errno ${errno})${hint ? `; ${hint}` : ''}`);
}

/** Runs a libc call returning -1 on failure; throws with errno's text. */
function check(ret: number, op: string, hint?: string): number {
  if (ret < 0) throw errnoError(op, koffi.errno(), hint);
  return ret;
}

function setInt(fd: number, level: number, name: number, value: number, op: string): void {
  const v = Buffer.alloc(4);
  v.writeInt32LE(value, 0);
  check(sys.setsockopt(fd, level, name, v, 4), op, name === IP_TRANSPARENT || name === SO_MARK ? 'it needs CAP_NET_ADMIN' : undefined);
}

function newSocket(nonblocking: boolean): number {
  return check(sys.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0), 'socket(AF_INET, SOCK_STREAM)');
}

export interface ListenOptions {
  /** Default 127.0.0.1: only the datapath's redirection reaches the proxy, not a pod dialling the node. */
  host?: string;
  backlog?: number;
}

/**
 * A net.Server listening on `port` with IP_TRANSPARENT, so that the
 * connections the datapath assigns to it keep their original destination.
 * Attach 'connection' listeners as usual; close() closes the socket.
 * Throws MembraneError when the socket cannot be made (no CAP_NET_ADMIN,
 * port in use).
 */
export function listenTransparent(port: number, opts: ListenOptions = {}): net.Server {
  const host = opts.host ?? '127.0.0.1';
  const addr = sockaddrIn({ address: host, port }, 'listen');
  const fd = newSocket(true);
  try {
    setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1, 'setsockopt(SO_REUSEADDR)');
    setInt(fd, SOL_IP, IP_TRANSPARENT, 1, 'setsockopt(IP_TRANSPARENT)');
    check(sys.bind(fd, addr, addr.length), `bind(${host}:${port})`, 'is another proxy listening on that port?');
    check(sys.listen(fd, opts.backlog ?? 511), `listen(${host}:${port})`);
  } catch (err) {
    sys.close(fd);
    throw err;
  }
  const server = net.createServer();
  server.listen({ fd });
  return server;
}

export interface ConnectOptions {
  /** The address the upstream leaves from: the original client's; port 0 lets the kernel pick one. */
  src: SocketAddress;
  dst: SocketAddress;
  /** SO_MARK; default PROXY_UPSTREAM_MARK, which the datapath never redirects again. */
  mark?: number;
  /** Connect timeout; default 10 s. */
  timeoutMs?: number;
}

/** poll() for writability without waiting: 1 when `fd`'s connect has finished (or failed), 0 when it is still under way. */
function pollWritableNow(fd: number): number {
  const pfd = Buffer.alloc(8);
  pfd.writeInt32LE(fd, 0);
  pfd.writeInt16LE(POLLOUT, 4);
  for (;;) {
    const ret = sys.poll(pfd, 1, 0) as number;
    if (ret >= 0) return ret;
    if (koffi.errno() !== EINTR) throw errnoError('poll(POLLOUT)', koffi.errno());
  }
}

/** Waits, off the main thread, until `fd` is writable (its connect finished) or `timeoutMs` passed; resolves poll()'s result. */
function pollWritable(fd: number, timeoutMs: number): Promise<number> {
  const pfd = Buffer.alloc(8); // struct pollfd { int fd; short events; short revents; }
  pfd.writeInt32LE(fd, 0);
  pfd.writeInt16LE(POLLOUT, 4);
  return new Promise((resolve, reject) => {
    sys.poll.async(pfd, 1, timeoutMs, (err: unknown, ret: number) => {
      void pfd; // keep the buffer alive until the call returns
      if (err) reject(err);
      else resolve(ret);
    });
  });
}

/**
 * Opens the proxy's upstream connection: a socket with IP_TRANSPARENT and
 * SO_MARK, bound to `src` (an address the node does not own, the client's),
 * connected to `dst`. Resolves a connected net.Socket (which owns the fd);
 * rejects with a MembraneError naming the step and errno (ECONNREFUSED,
 * ETIMEDOUT, ...) otherwise, the fd closed.
 */
export async function connectTransparent(opts: ConnectOptions): Promise<net.Socket> {
  const src = sockaddrIn(opts.src, 'src');
  const dst = sockaddrIn(opts.dst, 'dst');
  const what = `${opts.src.address}:${opts.src.port} -> ${opts.dst.address}:${opts.dst.port}`;
  const fd = newSocket(true);
  try {
    setInt(fd, SOL_IP, IP_TRANSPARENT, 1, 'setsockopt(IP_TRANSPARENT)');
    setInt(fd, SOL_SOCKET, SO_MARK, opts.mark ?? PROXY_UPSTREAM_MARK, 'setsockopt(SO_MARK)');
    setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1, 'setsockopt(SO_REUSEADDR)');
    // Port 0: choose the port at connect(), by the whole 4-tuple, not at bind() by the address alone.
    if (opts.src.port === 0) setInt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1, 'setsockopt(IP_BIND_ADDRESS_NO_PORT)');
    check(sys.bind(fd, src, src.length), `bind(${opts.src.address}:${opts.src.port})`);
    if (sys.connect(fd, dst, dst.length) < 0) {
      const errno = koffi.errno();
      if (errno !== EINPROGRESS) throw errnoError(`connect(${what})`, errno);
      // Over a veth the handshake usually completes inside connect() (the SYN and the SYN-ACK are processed in
      // its softirq): look once without waiting, and hand the wait to a thread only when it did not.
      let ready = pollWritableNow(fd);
      if (ready === 0) ready = await pollWritable(fd, opts.timeoutMs ?? 10_000);
      if (ready === 0) throw errnoError(`connect(${what})`, 110 /* ETIMEDOUT */);
      const err = Buffer.alloc(4);
      const len = Buffer.alloc(4);
      len.writeUInt32LE(4, 0);
      check(sys.getsockopt(fd, SOL_SOCKET, SO_ERROR, err, len), 'getsockopt(SO_ERROR)');
      const code = err.readInt32LE(0);
      if (code !== 0) throw errnoError(`connect(${what})`, code);
    }
  } catch (err) {
    sys.close(fd);
    throw err;
  }
  return new net.Socket({ fd, readable: true, writable: true });
}

/**
 * The address a redirected client dialled: the local address of the
 * socket the proxy accepted (getsockname), which the datapath left as it
 * was. Throws when the socket has none (closed).
 */
export function originalDestination(socket: net.Socket): SocketAddress {
  const { localAddress, localPort } = socket;
  if (!localAddress || localPort === undefined) {
    throw new MembraneError('EINVAL', 'the socket has no local address (is it closed?)');
  }
  return { address: localAddress.replace(/^::ffff:/, ''), port: localPort };
}
