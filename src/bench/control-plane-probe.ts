/**
 * Connectivity between two pods while the agent restarts: an echo server in
 * one pod, and in the other a client that every 20 ms opens a new
 * connection (connect, 1 byte each way, close; failed when no echo within
 * 1 s, so a dropped SYN, retransmitted after 1 s, counts) and sends one byte
 * on a connection kept open throughout (one round trip in flight at a time;
 * its slowest round trip and whether it stayed open are kept). Both are Node
 * processes in the pods' netns, killed by pid in stop().
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface ProbeCounts {
  newOk: number;
  newFailed: number;
  roundTrips: number;
  /** The slowest round trip on the kept connection since the previous report, ms. */
  maxRoundTripMs: number;
  /** The kept connection is still open. */
  established: boolean;
}

const SERVER = (port: number) =>
  `require('net').createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(${port}, () => console.log('listening'));`;

const CLIENT = (ip: string, port: number) => `
const net = require('net');
const c = { newOk: 0, newFailed: 0, roundTrips: 0, maxRoundTripMs: 0, established: false };
const kept = net.connect(${port}, '${ip}');
kept.setNoDelay(true);
let sentAt = 0;
kept.on('connect', () => { c.established = true; console.log('ready'); });
kept.on('data', () => { if (sentAt) { c.roundTrips++; c.maxRoundTripMs = Math.max(c.maxRoundTripMs, Date.now() - sentAt); sentAt = 0; } });
kept.on('error', () => {});
kept.on('close', () => { c.established = false; });
setInterval(() => {
  if (c.established && !sentAt) { sentAt = Date.now(); kept.write('x'); }
  const s = net.connect(${port}, '${ip}');
  let done = false;
  const finish = (ok) => { if (done) return; done = true; if (ok) c.newOk++; else c.newFailed++; s.destroy(); };
  s.setTimeout(1000, () => finish(false));
  s.on('connect', () => s.write('y'));
  s.on('data', () => finish(true));
  s.on('error', () => finish(false));
}, 20);
// Each report gives the slowest round trip since the previous one (one still in flight counts as far as it got).
process.stdin.on('data', () => {
  console.log(JSON.stringify({ ...c, maxRoundTripMs: Math.max(c.maxRoundTripMs, sentAt ? Date.now() - sentAt : 0) }));
  c.maxRoundTripMs = 0;
});
`;

/** A process in a pod's netns whose stdout lines can be awaited. */
class PodProcess {
  readonly child: ChildProcess;
  private buf = '';
  private readonly waiters: { re: RegExp; resolve: (l: string) => void }[] = [];

  constructor(netnsPath: string, script: string) {
    // nsenter execs node: the pid held is the probe's own.
    this.child = spawn('nsenter', [`--net=${netnsPath}`, process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'ignore'] });
    this.child.on('error', () => undefined);
    this.child.stdin!.on('error', () => undefined);
    this.child.stdout!.on('data', (d: Buffer) => {
      this.buf += d.toString();
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        const w = this.waiters.findIndex((x) => x.re.test(line));
        if (w >= 0) this.waiters.splice(w, 1)[0]!.resolve(line);
      }
    });
  }

  /** The next line matching `re`; rejects after `timeoutMs`, naming `what`. */
  nextLine(re: RegExp, timeoutMs: number, what: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const waiter = { re, resolve: (l: string) => { clearTimeout(timer); resolve(l); } };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`${what}: no line matching ${re} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

export interface Probe {
  /** The counts since the probe started. */
  counts(): Promise<ProbeCounts>;
  /** Kills both processes (by pid). Idempotent. */
  stop(): void;
}

/** Starts the server in `serverNetns` and the client in `clientNetns`; resolves once the kept connection is open. */
export async function startProbe(opts: { serverNetns: string; clientNetns: string; serverIp: string; port: number }): Promise<Probe> {
  const procs: PodProcess[] = [];
  const stop = (): void => procs.forEach((p) => p.kill());
  try {
    const server = new PodProcess(opts.serverNetns, SERVER(opts.port));
    procs.push(server);
    await server.nextLine(/^listening$/, 10_000, 'probe server');
    const client = new PodProcess(opts.clientNetns, CLIENT(opts.serverIp, opts.port));
    procs.push(client);
    await client.nextLine(/^ready$/, 10_000, `probe client connecting to ${opts.serverIp}:${opts.port}`);
    return {
      async counts() {
        const line = client.nextLine(/^\{/, 5_000, 'probe counts');
        client.child.stdin!.write('report\n');
        return JSON.parse(await line) as ProbeCounts;
      },
      stop,
    };
  } catch (err) {
    stop();
    throw err;
  }
}

/** What happened between two snapshots of one probe. */
export function probeDelta(before: ProbeCounts, after: ProbeCounts): ProbeCounts {
  return {
    newOk: after.newOk - before.newOk,
    newFailed: after.newFailed - before.newFailed,
    roundTrips: after.roundTrips - before.roundTrips,
    // Reports reset it: the slowest round trip since `before` was taken.
    maxRoundTripMs: after.maxRoundTripMs,
    established: before.established && after.established,
  };
}
