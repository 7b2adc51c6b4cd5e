import dgram from 'node:dgram';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { ValidationError } from '../common/errors.js';

/**
 * `membrane workload probe`: connects to targets that run `workload serve` and
 * reports, per target, whether the pod's name came back, as agnhost's
 * `connect` does for network policy tests. A policy drop shows as `timeout`,
 * a reset or ICMP port-unreachable as `refused`.
 */

export type ProbeProtocol = 'tcp' | 'udp';

export interface ProbeTarget {
  host: string;
  port: number;
}

export interface ProbeResult {
  /** HOST:PORT, IPv6 hosts in brackets. */
  target: string;
  protocol: ProbeProtocol;
  ok: boolean;
  /** The name the server answered with, else null. */
  response: string | null;
  /** `timeout`, `refused`, or another errno code such as `EHOSTUNREACH`; null when ok. */
  error: string | null;
  durationMs: number;
}

/** Parses `--protocol`. Throws a ValidationError naming the flag. */
export function parseProtocol(text: string): ProbeProtocol {
  const p = text.toLowerCase();
  if (p !== 'tcp' && p !== 'udp') throw new ValidationError('--protocol', `"${text}" is not tcp or udp`);
  return p;
}

/** Parses a duration like `500ms`, `1s` or `2.5s` into milliseconds (positive, at most an hour). */
export function parseTimeout(text: string, flag = '--timeout'): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(text.trim());
  if (!m) throw new ValidationError(flag, `"${text}" is not a duration like 500ms, 1s or 2.5s`);
  const ms = Number(m[1]) * (m[2] === 's' ? 1000 : 1);
  if (ms < 1 || ms > 3_600_000) throw new ValidationError(flag, `"${text}" must be from 1ms to 3600s`);
  return Math.round(ms);
}

/** Host names are allowed besides IP addresses; DNS-1123 labels keep typos (e.g. a stray ':') out. */
const HOSTNAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i;

/** Parses `HOST:PORT` or `[IPV6]:PORT`. Throws a ValidationError naming `--to`. */
export function parseTarget(text: string): ProbeTarget {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]+):(\d+)$/.exec(text);
  if (!m) throw new ValidationError('--to', `"${text}" is not HOST:PORT (IPv6 as [ADDR]:PORT)`);
  const host = m[1]!;
  const port = Number(m[2]);
  const bracketed = text.startsWith('[');
  if (bracketed ? !net.isIPv6(host) : !net.isIPv4(host) && !HOSTNAME.test(host)) {
    throw new ValidationError('--to', `"${text}": "${host}" is not an ${bracketed ? 'IPv6 address' : 'IPv4 address or host name'}`);
  }
  if (port < 1 || port > 65535) throw new ValidationError('--to', `"${text}": port ${m[2]} is outside 1-65535`);
  return { host, port };
}

export function formatTarget(t: ProbeTarget): string {
  return net.isIPv6(t.host) ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}

/** The error word for a failed socket: `refused` for a reset or port unreachable, else the errno code. */
export function probeErrorName(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ETIMEDOUT') return 'timeout';
  return code ?? String(err);
}

interface Outcome {
  response: string | null;
  error: string | null;
}

/** Runs `attempt`, which settles once via `done`, with a deadline after which the outcome is `timeout`. */
async function timed(target: ProbeTarget, protocol: ProbeProtocol, timeoutMs: number,
  attempt: (done: (o: Outcome) => void) => () => void): Promise<ProbeResult> {
  const start = performance.now();
  const outcome = await new Promise<Outcome>((resolve) => {
    let settled = false;
    let cleanup: () => void = () => {};
    const done = (o: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      cleanup();
      resolve(o);
    };
    const timer = setTimeout(() => done({ response: null, error: 'timeout' }), timeoutMs);
    cleanup = attempt(done);
    if (settled) cleanup();
  });
  return {
    target: formatTarget(target),
    protocol,
    ok: outcome.error === null,
    response: outcome.response,
    error: outcome.error,
    durationMs: Math.round(performance.now() - start),
  };
}

/** TCP: ok once connected and the first line (the name) is read. Never throws. */
export function probeTcp(target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  return timed(target, 'tcp', timeoutMs, (done) => {
    const socket = net.connect({ host: target.host, port: target.port });
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
      const nl = received.indexOf('\n');
      if (nl >= 0) done({ response: received.slice(0, nl), error: null });
    });
    // A server that closes without a newline still answered, unless it sent nothing.
    socket.on('end', () => done(received ? { response: received, error: null } : { response: null, error: 'empty' }));
    socket.on('error', (err) => done({ response: null, error: probeErrorName(err) }));
    return () => socket.destroy();
  });
}

/**
 * UDP: ok once any datagram comes back. The socket is connected, so Linux
 * reports an ICMP port-unreachable for the probe as ECONNREFUSED (`refused`).
 * One datagram is sent: the neighbour layer queues it while ARP resolves.
 * Never throws.
 */
export function probeUdp(target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  return timed(target, 'udp', timeoutMs, (done) => {
    const socket = dgram.createSocket(net.isIPv6(target.host) ? 'udp6' : 'udp4');
    socket.on('message', (msg) => done({ response: msg.toString('utf8').replace(/\n$/, ''), error: null }));
    socket.on('error', (err) => done({ response: null, error: probeErrorName(err) }));
    socket.connect(target.port, target.host, () => {
      socket.send('probe\n', (err) => {
        if (err) done({ response: null, error: probeErrorName(err) });
      });
    });
    return () => {
      try {
        socket.close();
      } catch {
        // already closed
      }
    };
  });
}

/** Probes every target at once; results come back in the order given. Never throws. */
export function probeAll(targets: ProbeTarget[], protocol: ProbeProtocol, timeoutMs: number): Promise<ProbeResult[]> {
  const probe = protocol === 'tcp' ? probeTcp : probeUdp;
  return Promise.all(targets.map((t) => probe(t, timeoutMs)));
}

/** One output line (without "\n"): `HOST:PORT ok NAME` / `HOST:PORT fail ERROR`, or the result as JSON. */
export function formatProbeResult(r: ProbeResult, output: 'text' | 'json'): string {
  if (output === 'json') return JSON.stringify(r);
  return r.ok ? `${r.target} ok ${r.response}` : `${r.target} fail ${r.error}`;
}

export interface ProbeFlags {
  protocol: string;
  timeout: string;
  to: string[];
  output: string;
}

export interface ProbeSpec {
  protocol: ProbeProtocol;
  timeoutMs: number;
  targets: ProbeTarget[];
  output: 'text' | 'json';
}

/** Validates the raw flags up front (ValidationError naming the flag), so no probe is sent when any is wrong. */
export function parseProbeFlags(f: ProbeFlags): ProbeSpec {
  if (f.to.length === 0) throw new ValidationError('--to', 'give at least one target, e.g. --to 10.0.0.1:80');
  if (f.output !== 'text' && f.output !== 'json') throw new ValidationError('--output', `"${f.output}" is not text or json`);
  return { protocol: parseProtocol(f.protocol), timeoutMs: parseTimeout(f.timeout), targets: f.to.map(parseTarget), output: f.output };
}

/** `membrane workload probe`: prints one line per target and returns the exit code (0 when all are ok, else 1). */
export async function runProbe(f: ProbeFlags): Promise<number> {
  const spec = parseProbeFlags(f);
  const results = await probeAll(spec.targets, spec.protocol, spec.timeoutMs);
  process.stdout.write(results.map((r) => formatProbeResult(r, spec.output) + '\n').join(''));
  return results.every((r) => r.ok) ? 0 : 1;
}
