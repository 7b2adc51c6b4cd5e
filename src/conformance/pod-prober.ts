import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { MembraneError } from '../common/errors.js';
import type { ProbeProtocol, ProbeResult } from '../workload/probe.js';

const PROBER_SCRIPT = fileURLToPath(new URL('./prober.js', import.meta.url));

/**
 * The harness's side of prober.ts: one long-lived prober process in a pod's
 * network namespace, asked for probes over its stdin. close() ends it (by its
 * own pid); a prober that dies fails every pending and later request.
 */
export class PodProber {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: ProbeResult[]) => void; reject: (e: Error) => void }>();
  private exited: Error | undefined;
  private stderr = '';

  private constructor(private readonly child: ChildProcessWithoutNullStreams, readonly label: string) {
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => { this.stderr = (this.stderr + s).slice(-2000); });
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const msg = JSON.parse(line) as { id: number; results: ProbeResult[] };
      this.pending.get(msg.id)?.resolve(msg.results);
      this.pending.delete(msg.id);
    });
    const fail = (why: string) => {
      this.exited = new MembraneError('EEXEC', `prober in ${label} ${why}: ${this.stderr.trim() || '(no output)'}`);
      for (const p of this.pending.values()) p.reject(this.exited);
      this.pending.clear();
    };
    child.on('error', (e) => fail(`could not start (${e.message})`));
    child.on('exit', (code, signal) => fail(`exited (${signal ?? code})`));
    child.stdin.on('error', () => { /* reported by 'exit' */ });
  }

  /** Starts a prober in the network namespace at `netns` (a path). `label` names it in errors. */
  static start(netns: string, label: string): PodProber {
    const child = spawn('nsenter', [`--net=${netns}`, '--', process.execPath, PROBER_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    return new PodProber(child, label);
  }

  /** Probes `targets` ("IP:PORT") at once; results in the order given. Throws when the prober is gone. */
  probe(protocol: ProbeProtocol, timeoutMs: number, targets: string[]): Promise<ProbeResult[]> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin.write(JSON.stringify({ id, protocol, timeoutMs, targets }) + '\n');
    });
  }

  /** Ends the prober and waits for it. Never throws. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 2_000);
    await gone;
    clearTimeout(timer);
  }
}
