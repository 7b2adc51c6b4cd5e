/**
 * Datapath benchmark: TCP_RR-like and TCP_CRR-like rates between two pods on
 * one membrane node, against a plain veth pair between two namespaces in the
 * same run. Client and server pinned to CPU 0; configurations interleaved;
 * median and range of every configuration, and its ratio to the veth pair.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { AgentClient } from '../api/client.js';
import { run } from '../common/exec.js';
import { REPO_ROOT, startTestNode, type TestNode } from '../testing/agent.js';
import { uniqueName } from '../testing/names.js';
import { addTestPod, type TestPod } from '../testing/pods.js';

const PP_SRC = path.join(REPO_ROOT, 'bench', 'pp.c');
const PP = path.join(REPO_ROOT, 'bench', 'out', 'pp');
const PORT = 5201;

export function buildPp(): string {
  if (!existsSync(PP) || statSync(PP).mtimeMs < statSync(PP_SRC).mtimeMs) {
    mkdirSync(path.dirname(PP), { recursive: true });
    execFileSync('gcc', ['-O2', '-o', PP, PP_SRC]);
  }
  return PP;
}

export interface Endpoints {
  name: string;
  serverNetns: string;
  clientNetns: string;
  serverIp: string;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function measure(ep: Endpoints, mode: 'rr' | 'crr', secs: number): Promise<number> {
  const res = await run('nsenter', [`--net=${ep.clientNetns}`, 'taskset', '-c', '0', PP, mode, ep.serverIp, String(PORT), String(secs)], { timeoutMs: (secs + 20) * 1000 });
  const m = /= (\d+) (trans|conn)\/s/.exec(res.stdout);
  if (!m) throw new Error(`pp ${mode} printed no rate: ${res.stdout} ${res.stderr}`);
  return Number(m[1]);
}

function startServer(ep: Endpoints): ChildProcess {
  return spawn('nsenter', [`--net=${ep.serverNetns}`, 'taskset', '-c', '0', PP, 'server', '0.0.0.0', String(PORT)], { stdio: 'ignore' });
}

async function vethPair(): Promise<{ ep: Endpoints; remove: () => Promise<void> }> {
  const a = uniqueName('bva');
  const b = uniqueName('bvb');
  await run('ip', ['netns', 'add', a]);
  await run('ip', ['netns', 'add', b]);
  const remove = async () => {
    await run('ip', ['netns', 'del', a], { allowFailure: true });
    await run('ip', ['netns', 'del', b], { allowFailure: true });
  };
  try {
    await run('ip', ['-n', a, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b]);
    for (const [ns, ip] of [[a, '10.200.0.1'], [b, '10.200.0.2']] as const) {
      await run('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
      await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
  } catch (err) {
    await remove();
    throw err;
  }
  return { ep: { name: 'plain veth pair (baseline)', serverNetns: `/run/netns/${b}`, clientNetns: `/run/netns/${a}`, serverIp: '10.200.0.2' }, remove };
}

export interface DatapathBenchOptions {
  reps: number;
  secs: number;
  log: (line: string) => void;
}

export interface BenchRow {
  name: string;
  rr: number[];
  crr: number[];
}

export async function benchDatapath(opts: DatapathBenchOptions): Promise<BenchRow[]> {
  buildPp();
  const cleanups: (() => Promise<void>)[] = [];
  const servers: ChildProcess[] = [];
  try {
    const veth = await vethPair();
    cleanups.push(veth.remove);
    const node: TestNode = await startTestNode({ podCIDR: '10.244.20.0/24' });
    cleanups.push(() => node.stop());
    const pods: TestPod[] = [];
    cleanups.push(async () => { for (const p of pods) await p.remove(); });
    const server = await addTestPod(node, 'bench-server', { app: 'bench-server' });
    pods.push(server);
    const client = await addTestPod(node, 'bench-client', { app: 'bench-client' });
    pods.push(client);
    const noPolicy: Endpoints = { name: 'membrane, no policy', serverNetns: server.netnsPath, clientNetns: client.netnsPath, serverIp: server.ip };
    const withPolicy: Endpoints = { ...noPolicy, name: 'membrane, L3/L4 policy (ingress+egress)' };
    for (const ep of [veth.ep, noPolicy]) servers.push(startServer(ep));
    await new Promise((r) => setTimeout(r, 500));
    const agent = new AgentClient(node.socket);
    const policy = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: bench}
spec:
  endpointSelector: {matchLabels: {app: bench-server}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: bench-client}}]
    toPorts: [{ports: [{port: "${PORT}", protocol: TCP}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: bench-client}
spec:
  endpointSelector: {matchLabels: {app: bench-client}}
  egress:
  - toEndpoints: [{matchLabels: {app: bench-server}}]
    toPorts: [{ports: [{port: "${PORT}", protocol: TCP}]}]
`;
    const rows: BenchRow[] = [veth.ep, noPolicy, withPolicy].map((e) => ({ name: e.name, rr: [], crr: [] }));
    const configs: { ep: Endpoints; row: BenchRow; prepare: () => Promise<unknown> }[] = [
      { ep: veth.ep, row: rows[0]!, prepare: async () => undefined },
      { ep: noPolicy, row: rows[1]!, prepare: () => agent.deleteAllPolicies() },
      { ep: withPolicy, row: rows[2]!, prepare: () => agent.importPolicies({ text: policy }) },
    ];
    for (let rep = 0; rep < opts.reps; rep++) {
      for (const c of configs) {
        await c.prepare();
        for (const mode of ['rr', 'crr'] as const) {
          const rate = await measure(c.ep, mode, opts.secs);
          (mode === 'rr' ? c.row.rr : c.row.crr).push(rate);
          opts.log(`rep ${rep + 1}/${opts.reps} ${c.row.name} ${mode}: ${rate}/s`);
        }
      }
    }
    return rows;
  } finally {
    for (const s of servers) s.kill('SIGKILL');
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  }
}

export function formatDatapathTable(rows: BenchRow[]): string {
  const base = rows[0]!;
  const fmt = (xs: number[], b: number[]) => `${Math.round(median(xs)).toLocaleString('en-US')} (${Math.round(Math.min(...xs)).toLocaleString('en-US')}–${Math.round(Math.max(...xs)).toLocaleString('en-US')}) | ${(median(xs) / median(b)).toFixed(2)}`;
  const lines = ['| configuration | TCP_RR-like trans/s median (range) | ratio | TCP_CRR-like conn/s median (range) | ratio |', '|---|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.name} | ${fmt(r.rr, base.rr)} | ${fmt(r.crr, base.crr)} |`);
  return lines.join('\n');
}
