/**
 * L7 policy cost: HTTP requests between two pods on one membrane node,
 * through an L7 rule (the connection handed to the node's proxy, each
 * request matched against HTTP rules) against the same traffic under an
 * L3/L4-only rule (kernel only), in one run, interleaved. Load by `wrk`
 * (a well-known HTTP benchmark tool) in the client pod: with keep-alive,
 * and with a new connection per request (`Connection: close`). The server
 * is a minimal Node HTTP server in the server pod.
 */
import type { ChildProcess } from 'node:child_process';
import { AgentClient } from '../api/client.js';
import { startTestNode } from '../testing/agent.js';
import { addTestPod, type TestPod } from '../testing/pods.js';
import { median } from './datapath.js';

/**
 * Server ports: a block allowed by an L3/L4 rule, a block by an L7 rule, and
 * each run on a port of its own. Runs never share a TCP tuple, so a
 * connection's TIME_WAIT (60 s, at the server or at the proxy) never meets
 * the next run's connections from a reused client port.
 */
const PORT_BASE = { 'L3/L4 only': 8100, 'L7 (HTTP rules)': 8200 } as const;
const MAX_RUNS_PER_RULE = 32;
const SERVER = `const http = require('http'); const h = (q, s) => s.end('ok\\n'); let n = 0;
for (const b of [${PORT_BASE['L3/L4 only']}, ${PORT_BASE['L7 (HTTP rules)']}]) for (let i = 0; i < ${MAX_RUNS_PER_RULE}; i++)
  http.createServer(h).listen(b + i, () => { if (++n === ${2 * MAX_RUNS_PER_RULE}) console.log('listening'); });`;

export type L7Rule = 'L3/L4 only' | 'L7 (HTTP rules)';
export type L7Mode = 'keep-alive' | 'new connection per request';

export interface L7Sample {
  rule: L7Rule;
  mode: L7Mode;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Requests that did not get a 2xx answer (wrk's non-2xx plus socket errors). */
  errors: number;
}

export interface L7BenchResult {
  reps: number;
  secs: number;
  connections: number;
  samples: L7Sample[];
}

/** One policy for both: the L3/L4 port allowed plainly, the L7 port with HTTP rules. */
const POLICY = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: bench-l7}
spec:
  endpointSelector: {matchLabels: {app: l7-server}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: l7-client}}]
    toPorts:
    - ports: [{port: "${PORT_BASE['L3/L4 only']}", endPort: ${PORT_BASE['L3/L4 only'] + MAX_RUNS_PER_RULE - 1}, protocol: TCP}]
  - fromEndpoints: [{matchLabels: {app: l7-client}}]
    toPorts:
    - ports: [{port: "${PORT_BASE['L7 (HTTP rules)']}", endPort: ${PORT_BASE['L7 (HTTP rules)'] + MAX_RUNS_PER_RULE - 1}, protocol: TCP}]
      rules:
        http:
        - method: GET
          path: /bench/.*
`;

/** wrk's latency line value ("1.23ms", "456.00us", "1.02s") in milliseconds. */
export function wrkDurationMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) throw new Error(`not a wrk duration: ${text}`);
  const scale = { us: 1e-3, ms: 1, s: 1e3, m: 6e4 }[m[2] as 'us' | 'ms' | 's' | 'm'];
  return Number(m[1]) * scale;
}

/** The figures of one `wrk --latency` report. */
export function parseWrk(out: string): { requestsPerSec: number; p50Ms: number; p99Ms: number; errors: number } {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p50 = /^\s+50%\s+(\S+)/m.exec(out);
  const p99 = /^\s+99%\s+(\S+)/m.exec(out);
  if (!rps || !p50 || !p99) throw new Error(`wrk printed no figures:\n${out}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = Number(non2xx?.[1] ?? 0) + (sock ? Number(sock[1]) + Number(sock[2]) + Number(sock[3]) + Number(sock[4]) : 0);
  return { requestsPerSec: Number(rps[1]), p50Ms: wrkDurationMs(p50[1]!), p99Ms: wrkDurationMs(p99[1]!), errors };
}

export async function benchL7(opts: { reps: number; secs: number; connections?: number; log: (l: string) => void }): Promise<L7BenchResult> {
  const connections = opts.connections ?? 8;
  const node = await startTestNode({ podCIDR: '10.244.23.0/24' });
  const pods: TestPod[] = [];
  let server: ChildProcess | undefined;
  try {
    const srv = await addTestPod(node, 'l7-server', { app: 'l7-server' });
    pods.push(srv);
    const cli = await addTestPod(node, 'l7-client', { app: 'l7-client' });
    pods.push(cli);
    server = srv.spawn(['node', '-e', SERVER]);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('the bench server did not start')), 15_000);
      server!.stdout!.on('data', (d: Buffer) => { if (String(d).includes('listening')) { clearTimeout(t); resolve(); } });
    });
    const agent = new AgentClient(node.socket);
    const runs = { 'L3/L4 only': 0, 'L7 (HTTP rules)': 0 };
    const url = (rule: L7Rule, run = runs[rule]) => `http://${srv.ip}:${PORT_BASE[rule] + run}/bench/x`;
    const load = async (rule: L7Rule, mode: L7Mode): Promise<L7Sample> => {
      runs[rule]++;
      const args = ['-t', '1', '-c', String(connections), '-d', `${opts.secs}s`, '--timeout', '2s', '--latency',
        ...(mode === 'keep-alive' ? [] : ['-H', 'Connection: close']), url(rule)];
      const res = await cli.exec(['wrk', ...args], { timeoutMs: (opts.secs + 30) * 1000 });
      const sample = { rule, mode, ...parseWrk(res.stdout) };
      opts.log(`l7: ${rule}, ${mode}: ${Math.round(sample.requestsPerSec)} req/s, p50 ${sample.p50Ms} ms, p99 ${sample.p99Ms} ms, errors ${sample.errors}`);
      return sample;
    };
    // Every client port, so that a run's new connections do not reuse one.
    await cli.exec(['sysctl', '-q', '-w', 'net.ipv4.ip_local_port_range=1024 65535']);
    if (2 * opts.reps > MAX_RUNS_PER_RULE) throw new Error(`at most ${MAX_RUNS_PER_RULE / 2} repetitions`);
    await agent.importPolicies({ text: POLICY });
    for (const rule of ['L3/L4 only', 'L7 (HTTP rules)'] as const) {
      // A request through each rule before measuring: the policy (and the proxy's configuration) are in place.
      let code = '';
      for (let i = 0; i < 20 && code !== '200'; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 250));
        code = (await cli.exec(['curl', '-sS', '--max-time', '2', '-o', '/dev/null', '-w', '%{http_code}', url(rule, MAX_RUNS_PER_RULE - 1)], { allowFailure: true, timeoutMs: 10_000 })).stdout;
      }
      if (code !== '200') throw new Error(`${rule}: the bench request got ${code || 'no answer'}, not 200`);
    }
    const samples: L7Sample[] = [];
    for (let rep = 0; rep < opts.reps; rep++) {
      for (const mode of ['keep-alive', 'new connection per request'] as const) {
        for (const rule of ['L3/L4 only', 'L7 (HTTP rules)'] as const) samples.push(await load(rule, mode));
      }
    }
    return { reps: opts.reps, secs: opts.secs, connections, samples };
  } finally {
    server?.kill('SIGKILL');
    for (const p of pods.reverse()) await p.remove().catch(() => undefined);
    await node.stop();
  }
}

export function formatL7Table(r: L7BenchResult): string {
  const rows = ['| traffic | rule | requests/s median (range) | p50 latency | p99 latency | vs L3/L4 only | errors |', '|---|---|---|---|---|---|---|'];
  for (const mode of ['keep-alive', 'new connection per request'] as const) {
    const of = (rule: L7Rule) => r.samples.filter((s) => s.rule === rule && s.mode === mode);
    const base = median(of('L3/L4 only').map((s) => s.requestsPerSec));
    for (const rule of ['L3/L4 only', 'L7 (HTTP rules)'] as const) {
      const xs = of(rule);
      const rps = xs.map((s) => s.requestsPerSec);
      const m = median(rps);
      rows.push(`| ${mode} | ${rule} | ${Math.round(m).toLocaleString('en-US')} (${Math.round(Math.min(...rps)).toLocaleString('en-US')}–${Math.round(Math.max(...rps)).toLocaleString('en-US')}) | ` +
        `${median(xs.map((s) => s.p50Ms)).toFixed(2)} ms | ${median(xs.map((s) => s.p99Ms)).toFixed(2)} ms | ` +
        `${rule === 'L3/L4 only' ? 'baseline' : `${(m / base).toFixed(2)}×`} | ${xs.reduce((a, s) => a + s.errors, 0)} |`);
    }
  }
  return rows.join('\n');
}

export function l7Paragraph(r: L7BenchResult): string {
  return 'HTTP GET requests from one pod to another on one membrane node (lab topology: node netns, agent, pods through the CNI plugin), ' +
    'answered by a minimal Node HTTP server (`ok\\n`). Load by `wrk` in the client pod (1 thread, ' +
    `${r.connections} connections, ${r.secs} s per run, \`--latency\`): with keep-alive, and with \`Connection: close\` (a new TCP connection per request). ` +
    'Baseline: the same traffic allowed by an L3/L4 rule (the kernel only). L7: the same peer and other server ports with HTTP rules (`GET /bench/.*`), so each connection ' +
    'is handed to the node\'s L7 proxy and each request is matched; every run on a server port of its own and the client with every ephemeral port, so no run meets ' +
    'another\'s TIME_WAIT. ' +
    `Rules interleaved, ${r.reps} repetitions; median (range); latencies are medians of wrk's percentiles. ` +
    'Goal: with keep-alive, at least half of the L3/L4-only rate.';
}
