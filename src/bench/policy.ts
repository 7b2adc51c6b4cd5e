/**
 * Control-plane benchmark: how long a policy change takes to be enforced on
 * every endpoint, how many policy-map writes it costs, how long one new pod
 * takes to be absorbed into every other endpoint's policy, and the agent's
 * memory. Endpoints are real (a host-side veth each, the programs attached,
 * the maps written); the pods behind them are left out, since no packet
 * flows in this benchmark.
 */
import { readFileSync } from 'node:fs';
import { AgentClient } from '../api/client.js';
import { run } from '../common/exec.js';
import { vethNames } from '../cni/veth.js';
import { startTestNode, type TestNode } from '../testing/agent.js';
import { uniqueName } from '../testing/names.js';
import { median } from './datapath.js';

export type Regeneration = 'incremental' | 'full';

export interface PolicyBenchRow {
  regeneration: Regeneration;
  endpoints: number;
  rules: number;
  importMs: number[];
  importWrites: number;
  changeMs: number[];
  changeWrites: number;
  /** Endpoints whose policy maps were diffed against the kernel for the change. */
  changeSynced: number;
  newPodMs: number[];
  newPodWrites: number;
  newPodSynced: number;
  rssMb: number;
}

const GROUPS = 20;

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

/** `rules` rules spread over GROUPS app groups: each lets one group in from another on one port. */
export function policyText(rules: number, salt = 0): string {
  const docs: string[] = [];
  for (let i = 0; i < rules; i++) {
    docs.push(`apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: r${i}}
spec:
  endpointSelector: {matchLabels: {app: g${i % GROUPS}}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: g${(i * 7 + 3) % GROUPS}}}]
    toPorts: [{ports: [{port: "${1000 + ((i + salt) % 5000)}", protocol: TCP}]}]
`);
  }
  return docs.join('---\n');
}

async function addEndpoints(node: TestNode, agent: AgentClient, from: number, count: number, labels: (i: number) => Record<string, string>): Promise<void> {
  const ids = Array.from({ length: count }, (_, k) => from + k);
  // The peers stay on the node (there is no pod), so they get names of their own: the CNI's tmp names are only unique for a moment.
  const names = ids.map((i) => {
    const cid = `bench${String(i).padStart(8, '0')}${'0'.repeat(51)}`;
    return { i, cid, host: vethNames(cid, 'eth0').host, tmpPeer: `bpeer${i}` };
  });
  const lines = names.flatMap((n) => [`link add ${n.host} type veth peer name ${n.tmpPeer}`, `link set ${n.host} up`]);
  await run('ip', ['-n', node.nodeNetns, '-batch', '-'], { input: lines.join('\n') + '\n' });
  const links = JSON.parse((await run('ip', ['-n', node.nodeNetns, '-j', 'link', 'show'])).stdout) as { ifname: string; ifindex: number; address: string }[];
  const byName = new Map(links.map((l) => [l.ifname, l]));
  for (const n of names) {
    const podName = `p${n.i}`;
    await agent.putPod({ namespace: 'default', name: podName, labels: labels(n.i), serviceAccount: 'default', containerPorts: [] });
    const { ip } = await agent.allocateIp(`${n.cid}:eth0`);
    const host = byName.get(n.host)!;
    await agent.putEndpoint({
      containerId: n.cid, ifName: 'eth0', netns: '/proc/1/ns/net', hostIfName: n.host, hostIfIndex: host.ifindex, hostMac: host.address,
      containerMac: byName.get(n.tmpPeer)!.address, ipv4: ip, podNamespace: 'default', podName,
    });
  }
}

async function timed<T>(fn: () => Promise<T>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

export async function benchPolicy(opts: {
  endpointCounts: number[]; ruleCounts: number[]; reps: number; regenerations: Regeneration[]; log: (l: string) => void;
}): Promise<PolicyBenchRow[]> {
  const rows: PolicyBenchRow[] = [];
  for (const endpoints of opts.endpointCounts) for (const regeneration of opts.regenerations) {
    const node = await startTestNode({ name: uniqueName('mb'), podCIDR: '10.250.0.0/20', agentArgs: ['--policy-regeneration', regeneration] });
    try {
      const agent = new AgentClient(node.socket, 600_000);
      const t0 = Date.now();
      await addEndpoints(node, agent, 0, endpoints, (i) => ({ app: `g${i % GROUPS}` }));
      opts.log(`${regeneration}: ${endpoints} endpoints created in ${Date.now() - t0} ms; agent RSS ${rssMb(node.agentPid)} MB`);
      let nextPod = endpoints;
      for (const rules of opts.ruleCounts) {
        const row: PolicyBenchRow = {
          regeneration, endpoints, rules, importMs: [], importWrites: 0, changeMs: [], changeWrites: 0, changeSynced: 0, newPodMs: [], newPodWrites: 0, newPodSynced: 0, rssMb: 0,
        };
        for (let rep = 0; rep < opts.reps; rep++) {
          await agent.deleteAllPolicies();
          row.importMs.push(await timed(() => agent.importPolicies({ text: policyText(rules) })));
          row.importWrites = (await agent.status()).lastRegeneration.written;
          // One policy changes its port.
          const one = policyText(rules).split('---\n')[0]!.replace(/port: "(\d+)"/, (_m, p: string) => `port: "${Number(p) + 7}"`);
          row.changeMs.push(await timed(() => agent.importPolicies({ text: one })));
          const change = (await agent.status()).lastRegeneration;
          row.changeWrites = change.written + change.deleted;
          row.changeSynced = change.endpointsSynced;
          // One new pod with an identity of its own that the rules of group g3's peers select.
          const idx = nextPod++;
          row.newPodMs.push(await timed(() => addEndpoints(node, agent, idx, 1, () => ({ app: 'g3', instance: `n${idx}` }))));
          const newPod = (await agent.status()).lastRegeneration;
          row.newPodWrites = newPod.written;
          row.newPodSynced = newPod.endpointsSynced;
        }
        row.rssMb = rssMb(node.agentPid);
        opts.log(`${regeneration}: ${endpoints} endpoints × ${rules} rules: import ${Math.round(median(row.importMs))} ms (${row.importWrites} writes), ` +
          `one change ${Math.round(median(row.changeMs))} ms (${row.changeWrites} writes, ${row.changeSynced} endpoints diffed), ` +
          `new pod ${Math.round(median(row.newPodMs))} ms (${row.newPodWrites} writes, ${row.newPodSynced} endpoints diffed), RSS ${row.rssMb} MB`);
        rows.push(row);
      }
    } finally {
      await node.stop();
    }
  }
  return rows;
}

export function formatPolicyTable(rows: PolicyBenchRow[]): string {
  const f = (xs: number[]) => `${Math.round(median(xs))} (${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))})`;
  const incremental = rows.filter((r) => r.regeneration === 'incremental');
  const baseline = (r: PolicyBenchRow) => rows.find((b) => b.regeneration === 'full' && b.endpoints === r.endpoints && b.rules === r.rules);
  const ratio = (xs: number[], base: number[] | undefined) => (base ? ` ×${(median(xs) / median(base)).toFixed(2)}` : '');
  const lines = [
    '| endpoints | rules | import → enforced on all, ms | map writes | one rule changed, ms (vs full) | map writes | endpoints diffed | one new pod absorbed, ms (vs full) | map writes | endpoints diffed | agent RSS MB |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of incremental) {
    const b = baseline(r);
    lines.push(`| ${r.endpoints} | ${r.rules} | ${f(r.importMs)} | ${r.importWrites} | ${f(r.changeMs)}${ratio(r.changeMs, b?.changeMs)} | ${r.changeWrites} | ` +
      `${r.changeSynced} | ${f(r.newPodMs)}${ratio(r.newPodMs, b?.newPodMs)} | ${r.newPodWrites} | ${r.newPodSynced} | ${r.rssMb} |`);
  }
  const full = rows.filter((r) => r.regeneration === 'full');
  if (full.length > 0) {
    lines.push('', 'Baseline, same run: the same agent with `--policy-regeneration full` (every endpoint group resolved and every endpoint diffed on every change).', '',
      '| endpoints | rules | import, ms | one rule changed, ms | endpoints diffed | one new pod absorbed, ms | endpoints diffed |', '|---|---|---|---|---|---|---|');
    for (const r of full) lines.push(`| ${r.endpoints} | ${r.rules} | ${f(r.importMs)} | ${f(r.changeMs)} | ${r.changeSynced} | ${f(r.newPodMs)} | ${r.newPodSynced} |`);
  }
  return lines.join('\n');
}
