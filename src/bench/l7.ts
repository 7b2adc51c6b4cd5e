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
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AgentClient } from '../api/client.js';
import { run } from '../common/exec.js';
import { startTestNode } from '../testing/agent.js';
import { addTestPod, type TestPod } from '../testing/pods.js';
import { median } from './datapath.js';

/**
 * The reference: the same HTTP rule in haproxy (a C HTTP proxy, Debian's),
 * run as a sidecar in the server pod: the client's connections end in
 * haproxy (allowed by an L3/L4 rule), which forwards over loopback to the
 * server. It shows what one HTTP proxy hop costs on this machine without
 * membrane's redirection, flows or Node: the ceiling a proxy can reach.
 */
const SIDECAR = 'reference: haproxy sidecar';

/** haproxy's configuration: per run a frontend on its own port, the L7 rule as ACLs, the server over loopback. */
export function haproxyConfig(runs: number, frontendBase: number, upstreamBase: number): string {
  const lines = ['global', '  maxconn 4096', 'defaults', '  mode http', '  option http-keep-alive', '  timeout connect 5s', '  timeout client 30s', '  timeout server 30s', '  timeout http-keep-alive 30s'];
  for (let i = 0; i < runs; i++) {
    lines.push(`frontend f${i}`, `  bind 0.0.0.0:${frontendBase + i}`, '  acl get method GET', '  acl bench path_reg ^/bench/.*$',
      '  http-request deny deny_status 403 unless get bench', `  default_backend b${i}`, `backend b${i}`, `  server s 127.0.0.1:${upstreamBase + i}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Server ports: a block allowed by an L3/L4 rule, a block by an L7 rule, and
 * each run on a port of its own. Runs never share a TCP tuple, so a
 * connection's TIME_WAIT (60 s, at the server or at the proxy) never meets
 * the next run's connections from a reused client port.
 */
const PORT_BASE = { 'L3/L4 only': 8100, 'L7 (HTTP rules)': 8200, [SIDECAR]: 8300 } as const;
/** The server's ports behind the sidecar (on loopback, one per run as well). */
const SIDECAR_UPSTREAM_BASE = 8400;
const MAX_RUNS_PER_RULE = 32;
/** USER_HZ: the unit of /proc/<pid>/stat's CPU times on Linux. */
const CLOCK_TICKS = 100;
const SERVER = `const http = require('http'); const h = (q, s) => s.end('ok\\n'); let n = 0;
for (const b of [${PORT_BASE['L3/L4 only']}, ${PORT_BASE['L7 (HTTP rules)']}, ${SIDECAR_UPSTREAM_BASE}]) for (let i = 0; i < ${MAX_RUNS_PER_RULE}; i++)
  http.createServer(h).listen(b + i, () => { if (++n === ${3 * MAX_RUNS_PER_RULE}) console.log('listening'); });`;

export type L7Rule = 'L3/L4 only' | 'L7 (HTTP rules)' | typeof SIDECAR;
export { SIDECAR as SIDECAR_RULE };
const RULES: readonly L7Rule[] = ['L3/L4 only', 'L7 (HTTP rules)', SIDECAR];
export type L7Mode = 'keep-alive' | 'new connection per request';

export interface L7Sample {
  rule: L7Rule;
  mode: L7Mode;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Requests that did not get a 2xx answer (wrk's non-2xx plus socket errors). */
  errors: number;
  /** CPU time (user + system) per request of the proxy (membrane's, or the sidecar) and of the agent, µs. */
  proxyCpuUs: number;
  agentCpuUs: number;
}

export interface L7BenchResult {
  reps: number;
  secs: number;
  connections: number;
  /** `haproxy -v`'s version, of the reference. */
  haproxyVersion: string;
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
    - ports:
      - {port: "${PORT_BASE['L3/L4 only']}", endPort: ${PORT_BASE['L3/L4 only'] + MAX_RUNS_PER_RULE - 1}, protocol: TCP}
      - {port: "${PORT_BASE[SIDECAR]}", endPort: ${PORT_BASE[SIDECAR] + MAX_RUNS_PER_RULE - 1}, protocol: TCP}
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
  let sidecar: ChildProcess | undefined;
  let tmp: string | undefined;
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
    tmp = mkdtempSync(path.join(os.tmpdir(), 'membrane-bench-l7-'));
    const cfg = path.join(tmp, 'haproxy.cfg');
    writeFileSync(cfg, haproxyConfig(MAX_RUNS_PER_RULE, PORT_BASE[SIDECAR], SIDECAR_UPSTREAM_BASE));
    sidecar = srv.spawn(['haproxy', '-db', '-f', cfg]);
    sidecar.on('error', () => undefined);
    const agent = new AgentClient(node.socket);
    const runs: Record<L7Rule, number> = { 'L3/L4 only': 0, 'L7 (HTTP rules)': 0, [SIDECAR]: 0 };
    const url = (rule: L7Rule, run = runs[rule]) => `http://${srv.ip}:${PORT_BASE[rule] + run}/bench/x`;
    const load = async (rule: L7Rule, mode: L7Mode): Promise<L7Sample> => {
      runs[rule]++;
      const args = ['-t', '1', '-c', String(connections), '-d', `${opts.secs}s`, '--timeout', '2s', '--latency',
        ...(mode === 'keep-alive' ? [] : ['-H', 'Connection: close']), url(rule)];
      const proxyPid = rule === SIDECAR ? sidecar!.pid! : childPids(node.agentPid).find((pid) => commandLine(pid).includes('proxy-main'));
      const before = { proxy: proxyPid ? cpuMs(proxyPid) : NaN, agent: cpuMs(node.agentPid) };
      const res = await cli.exec(['wrk', ...args], { timeoutMs: (opts.secs + 30) * 1000 });
      const figures = parseWrk(res.stdout);
      const requests = figures.requestsPerSec * opts.secs;
      const perRequest = (ms: number) => (requests > 0 ? (ms * 1000) / requests : NaN);
      const sample: L7Sample = {
        rule, mode, ...figures,
        proxyCpuUs: rule === 'L3/L4 only' ? 0 : perRequest((proxyPid ? cpuMs(proxyPid) : NaN) - before.proxy),
        agentCpuUs: perRequest(cpuMs(node.agentPid) - before.agent),
      };
      opts.log(`l7: ${rule}, ${mode}: ${Math.round(sample.requestsPerSec)} req/s, p50 ${sample.p50Ms} ms, p99 ${sample.p99Ms} ms, errors ${sample.errors}, ` +
        `CPU µs/request: proxy ${sample.proxyCpuUs.toFixed(1)}, agent ${sample.agentCpuUs.toFixed(1)}`);
      return sample;
    };
    // Every client port, so that a run's new connections do not reuse one (the sidecar's upstream connections too).
    for (const p of [cli, srv]) await p.exec(['sysctl', '-q', '-w', 'net.ipv4.ip_local_port_range=1024 65535']);
    if (2 * opts.reps > MAX_RUNS_PER_RULE) throw new Error(`at most ${MAX_RUNS_PER_RULE / 2} repetitions`);
    await agent.importPolicies({ text: POLICY });
    for (const rule of RULES) {
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
        for (const rule of RULES) samples.push(await load(rule, mode));
      }
    }
    const version = /version (\S+)/.exec((await run('haproxy', ['-v'])).stdout)?.[1] ?? 'unknown';
    return { reps: opts.reps, secs: opts.secs, connections, haproxyVersion: version, samples };
  } finally {
    server?.kill('SIGKILL');
    sidecar?.kill('SIGKILL');
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    for (const p of pods.reverse()) await p.remove().catch(() => undefined);
    await node.stop();
  }
}

/** CPU time (user + system) a process has used, ms; NaN when it is gone. */
export function cpuMs(pid: number): number {
  try {
    // After the command (which may hold spaces): state, ppid, ..., utime and stime (fields 14 and 15 of the line).
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)!.split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** A process's command line, arguments joined by spaces; empty when it is gone. */
function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** The pids of a process's children (the agent's: its L7 proxy, and now and then a short-lived `ip` or `tc`). */
function childPids(parent: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const f = readFileSync(`/proc/${d}/stat`, 'utf8').split(') ').at(-1)!.split(' ');
      if (Number(f[1]) === parent) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export function formatL7Table(r: L7BenchResult): string {
  const rows = ['| traffic | rule | requests/s median (range) | p50 latency | p99 latency | vs L3/L4 only | errors | CPU µs/request: proxy, agent |',
    '|---|---|---|---|---|---|---|---|'];
  for (const mode of ['keep-alive', 'new connection per request'] as const) {
    const of = (rule: L7Rule) => r.samples.filter((s) => s.rule === rule && s.mode === mode);
    const base = median(of('L3/L4 only').map((s) => s.requestsPerSec));
    for (const rule of RULES) {
      const xs = of(rule);
      if (xs.length === 0) continue;
      const rps = xs.map((s) => s.requestsPerSec);
      const m = median(rps);
      rows.push(`| ${mode} | ${rule} | ${Math.round(m).toLocaleString('en-US')} (${Math.round(Math.min(...rps)).toLocaleString('en-US')}–${Math.round(Math.max(...rps)).toLocaleString('en-US')}) | ` +
        `${median(xs.map((s) => s.p50Ms)).toFixed(2)} ms | ${median(xs.map((s) => s.p99Ms)).toFixed(2)} ms | ` +
        `${rule === 'L3/L4 only' ? 'baseline' : `${(m / base).toFixed(2)}×`} | ${xs.reduce((a, s) => a + s.errors, 0)} | ` +
        `${rule === 'L3/L4 only' ? '–' : median(xs.map((s) => s.proxyCpuUs)).toFixed(0)}, ${median(xs.map((s) => s.agentCpuUs)).toFixed(0)} |`);
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
    `Reference: the same rule in haproxy ${r.haproxyVersion} (a C HTTP proxy) as a sidecar in the server pod, the client's connections allowed to it by an L3/L4 rule and forwarded over loopback: ` +
    'one HTTP proxy hop without membrane\'s redirection, flows or Node, the ceiling for any proxy on this machine. ' +
    'CPU µs/request: CPU time (user + system, from /proc) of the proxy process (membrane\'s L7 proxy, or haproxy) and of the agent during the run, over the requests ' +
    'answered: where the time goes; the rest is the kernel\'s (softirq), wrk\'s and the server\'s. ' +
    `Rules interleaved, ${r.reps} repetitions; median (range); latencies are medians of wrk's percentiles. ` +
    'Goal: with keep-alive, at least half of the L3/L4-only rate.';
}
