/**
 * Datapath benchmark: TCP_RR-like, TCP_CRR-like and single-stream iperf3
 * between two pods on one membrane node, against a plain veth pair between
 * two namespaces in the same run; and how each grows with its rule set:
 * membrane with 10 / 1,000 / 10,000 identities in the server's peer set and
 * with 10,000 CIDR rules, against the same rules as iptables (legacy and nft
 * backends) and as one nft set, each on a veth pair of its own. Client and
 * server pinned to CPU 0; configurations interleaved; median and range of
 * every configuration and its ratio to the veth pair (datapath-report.ts).
 * Every namespace, process and node is removed on the way out, also when a
 * step fails.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { run } from '../common/exec.js';
import { REPO_ROOT } from '../testing/agent.js';
import { type FirewallKind, loadFirewall, vethPair } from './datapath-firewall.js';
import { applyMembranePolicy, cidrPolicy, identityPolicy, l3l4Policy, type MembranePolicy, noPolicy, startMembraneNode } from './datapath-membrane.js';
import type { BenchRow, DatapathFamily } from './datapath-report.js';
import { IPERF_PORT, parseIperf3Json, parsePpRate, PP_PORT } from './datapath-rules.js';

export { type BenchRow, datapathGoalLine, datapathParagraph, datapathSeries, formatDatapathTable, median } from './datapath-report.js';

const PP_SRC = path.join(REPO_ROOT, 'bench', 'pp.c');
const PP = path.join(REPO_ROOT, 'bench', 'out', 'pp');

export function buildPp(): string {
  if (!existsSync(PP) || statSync(PP).mtimeMs < statSync(PP_SRC).mtimeMs) {
    mkdirSync(path.dirname(PP), { recursive: true });
    execFileSync('gcc', ['-O2', '-o', PP, PP_SRC]);
  }
  return PP;
}

/** Seconds per sample this area is sized for: 12 configurations × 3 tests × 5 repetitions fit in about 5 minutes. */
export const DATAPATH_SAMPLE_SECS = 1;

export interface DatapathBenchOptions {
  reps: number;
  /** Seconds of each sample of each test; default DATAPATH_SAMPLE_SECS. */
  secs?: number;
  /** Peer-set sizes of the membrane identity configurations; default [10, 1000, 10000]. */
  identityCounts?: number[];
  /** Rule counts of membrane with CIDR rules; default [10000]. */
  cidrCounts?: number[];
  /** Rule counts of iptables, each backend; default [1000, 10000]. */
  iptablesCounts?: number[];
  /** Element counts of the nft set; default [10000]. */
  nftSetCounts?: number[];
  log: (line: string) => void;
}

/** Where a test's client runs and what it connects to. */
interface Target {
  clientNetnsPath: string;
  serverIp: string;
}

interface Config {
  row: BenchRow;
  target: Target;
  /** Before each of its turns; `first` on the first repetition. */
  prepare: (first: boolean) => Promise<void>;
}

const pinned = (netnsPath: string, cmd: string[]) => ['--net=' + netnsPath, 'taskset', '-c', '0', ...cmd];

async function ppRate(t: Target, mode: 'rr' | 'crr', secs: number): Promise<number> {
  const res = await run('nsenter', pinned(t.clientNetnsPath, [PP, mode, t.serverIp, String(PP_PORT), String(secs)]), { timeoutMs: (secs + 20) * 1000 });
  return parsePpRate(res.stdout);
}

async function iperfRate(t: Target, secs: number): Promise<number> {
  const res = await run('nsenter', pinned(t.clientNetnsPath, ['iperf3', '-c', t.serverIp, '-p', String(IPERF_PORT), '-t', String(secs), '-J']),
    { timeoutMs: (secs + 30) * 1000, allowFailure: true });
  return parseIperf3Json(res.stdout);
}

/** pp's and iperf3's servers in `netnsPath`, pinned to CPU 0 (nsenter and taskset exec: the pids are the servers' own). */
function startServers(netnsPath: string): ChildProcess[] {
  return [
    spawn('nsenter', pinned(netnsPath, [PP, 'server', '0.0.0.0', String(PP_PORT)]), { stdio: 'ignore' }),
    spawn('nsenter', pinned(netnsPath, ['iperf3', '-s', '-p', String(IPERF_PORT)]), { stdio: 'ignore' }),
  ];
}

/** Waits until both servers listen in `netnsPath`; throws after 10 s. */
async function waitListening(netnsPath: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const out = (await run('nsenter', ['--net=' + netnsPath, 'ss', '-Hltn'])).stdout;
    if (out.includes(`:${PP_PORT} `) && out.includes(`:${IPERF_PORT} `)) return;
    if (Date.now() > deadline) throw new Error(`the pp and iperf3 servers in ${netnsPath} are not listening after 10 s: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopServers(servers: ChildProcess[]): Promise<void> {
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => {
    if (s.exitCode !== null || s.signalCode !== null || s.pid === undefined) return resolve();
    s.once('exit', () => resolve());
    s.kill('SIGKILL');
  })));
}

const row = (name: string, family: DatapathFamily, ruleCount?: number): BenchRow =>
  ({ name, family, ...(ruleCount === undefined ? {} : { ruleCount }), rr: [], crr: [], iperf: [] });
const n = (x: number) => x.toLocaleString('en-US');

/**
 * Runs every configuration `reps` times, interleaved, and returns a row
 * per configuration (the veth pair first). Throws when a set-up step fails
 * or a configuration's maps or rules do not hold what it claims.
 */
export async function benchDatapath(opts: DatapathBenchOptions): Promise<BenchRow[]> {
  buildPp();
  const secs = opts.secs ?? DATAPATH_SAMPLE_SECS;
  const identityCounts = opts.identityCounts ?? [10, 1000, 10000];
  const cidrCounts = opts.cidrCounts ?? [10000];
  const firewalls: { kind: FirewallKind; counts: number[] }[] = [
    { kind: 'iptables-legacy', counts: opts.iptablesCounts ?? [1000, 10000] },
    { kind: 'iptables-nft', counts: opts.iptablesCounts ?? [1000, 10000] },
    { kind: 'nft-set', counts: opts.nftSetCounts ?? [10000] },
  ];
  const cleanups: (() => Promise<void>)[] = [];
  const servers: ChildProcess[] = [];
  const serverNetns: string[] = [];
  const serve = (netnsPath: string) => {
    servers.push(...startServers(netnsPath));
    serverNetns.push(netnsPath);
  };
  const started = Date.now();
  try {
    const configs: Config[] = [];
    const veth = await vethPair();
    cleanups.push(veth.remove);
    serve(veth.serverNetnsPath);
    const vethTarget = { clientNetnsPath: veth.clientNetnsPath, serverIp: veth.serverIp };
    configs.push({ row: row('plain veth pair (baseline)', 'baseline'), target: vethTarget, prepare: async () => undefined });

    const m = await startMembraneNode({ podCIDR: '10.244.20.0/24', peerSets: identityCounts, log: opts.log });
    cleanups.push(m.remove);
    serve(m.server.netnsPath);
    const podTarget = { clientNetnsPath: m.client.netnsPath, serverIp: m.server.ip };
    const membrane = (name: string, family: DatapathFamily, policy: MembranePolicy, ruleCount?: number): Config => {
      const r = row(name, family, ruleCount);
      return {
        row: r, target: podTarget,
        prepare: async (first) => {
          const { ms, check } = await applyMembranePolicy(m, policy, first);
          if (check) opts.log(`${r.name}: policy in force in ${Math.round(ms)} ms; ${check}`);
        },
      };
    };
    configs.push(membrane('membrane, no policy', 'membrane', noPolicy()));
    configs.push(membrane('membrane, L3/L4 policy (ingress+egress)', 'membrane', l3l4Policy()));
    for (const peers of identityCounts) configs.push(membrane(`membrane, ${n(peers)} identities in the peer set`, 'membrane-identities', identityPolicy(peers), peers));

    // CIDR rules: a node of their own, the policy imported once. The agent takes over a minute to import 10,000 prefixes
    // (its CIDR selectors are matched against every identity, prefix by prefix), too long to do again in every repetition.
    for (const peers of cidrCounts) {
      const c = await startMembraneNode({ podCIDR: '10.244.22.0/24', peerSets: [], log: opts.log });
      cleanups.push(c.remove);
      const { ms, check } = await applyMembranePolicy(c, cidrPolicy(peers), true);
      opts.log(`membrane, ${n(peers - 1)} CIDR rules: policy in force in ${Math.round(ms)} ms (imported once, on node ${c.node.name}); ${check}`);
      serve(c.server.netnsPath);
      configs.push({
        row: row(`membrane, ${n(peers - 1)} CIDR rules + the client's`, 'membrane-cidr', peers),
        target: { clientNetnsPath: c.client.netnsPath, serverIp: c.server.ip },
        prepare: async () => undefined,
      });
    }

    for (const { kind, counts } of firewalls) {
      for (const rules of counts) {
        const pair = await vethPair();
        cleanups.push(pair.remove);
        const { loadMs, counted } = await loadFirewall(pair, kind, rules);
        opts.log(`${kind}: ${n(counted)} rules loaded in ${pair.server} in ${Math.round(loadMs)} ms`);
        serve(pair.serverNetnsPath);
        const name = kind === 'nft-set' ? `nft set of ${n(rules)} addresses` : `${kind}, ${n(rules)} rules (client's last)`;
        configs.push({ row: row(name, kind, rules), target: { clientNetnsPath: pair.clientNetnsPath, serverIp: pair.serverIp }, prepare: async () => undefined });
      }
    }
    for (const ns of serverNetns) await waitListening(ns);
    opts.log(`datapath: ${configs.length} configurations set up in ${Math.round((Date.now() - started) / 1000)} s`);

    // One short unrecorded round first: ARP, conntrack and page faults of the first connection in each configuration.
    for (const c of configs) await ppRate(c.target, 'rr', 0.3);
    for (let rep = 0; rep < opts.reps; rep++) {
      for (const c of configs) {
        await c.prepare(rep === 0);
        const rr = await ppRate(c.target, 'rr', secs);
        const crr = await ppRate(c.target, 'crr', secs);
        const iperf = await iperfRate(c.target, secs);
        c.row.rr.push(rr);
        c.row.crr.push(crr);
        c.row.iperf.push(iperf);
        opts.log(`rep ${rep + 1}/${opts.reps} ${c.row.name}: rr ${n(rr)}/s, crr ${n(crr)}/s, iperf3 ${iperf.toFixed(2)} Gbit/s`);
      }
    }
    opts.log(`datapath: done in ${Math.round((Date.now() - started) / 1000)} s`);
    return configs.map((c) => c.row);
  } finally {
    await stopServers(servers);
    for (const c of cleanups.reverse()) await c().catch((err: Error) => opts.log(`datapath cleanup: ${err.message}`));
  }
}
