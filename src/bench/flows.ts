/**
 * Flow pipeline benchmark: synthetic flow_event records through
 * FlowObserver (decode + enrich with a context like the agent's: a few
 * hundred endpoints and identities, policies behind cookies) + a follower's
 * filter (flowPasses with a typical whitelist) + the ring, on the main
 * thread (one core), against decoding alone in the same run. The agent runs
 * this pipeline on its main thread too (the ring buffer reader thread only
 * copies records), so this is the ceiling of flows a node can observe.
 */
import {
  DIR_EGRESS, DIR_INGRESS, EVENT_DROP, EVENT_POLICY_VERDICT, VERDICT_DROPPED, VERDICT_FORWARDED, flowEvent, intToIp4, ip4ToInt,
} from '../datapath/layout.js';
import type { FlowContext, FlowPolicy } from '../hubble/flow.js';
import { type FlowFilter, flowPasses } from '../hubble/filter.js';
import { decodeFlowEvent } from '../hubble/decode.js';
import { FlowObserver } from '../hubble/observer.js';
import { fileURLToPath } from 'node:url';
import { run } from '../common/exec.js';
import { median } from './datapath.js';

export interface FlowsBenchOptions {
  reps: number;
  secs: number;
  endpoints?: number;
  log: (line: string) => void;
}

export interface FlowsBenchResult {
  endpoints: number;
  identities: number;
  batch: number;
  /** Events per second, decode alone (the baseline): the pipeline's decoder, and the datapath's generic codec. */
  decodeOnly: number[];
  genericDecode: number[];
  /** Flows per second through decode + enrich + filter + ring, and events per second for the same runs. */
  pipelineFlows: number[];
  pipelineEvents: number[];
  /** Share of flows the follower's filter let through. */
  passShare: number;
}

const GOAL = 1_000_000;
const BATCH = 1024;
const POD_BASE = ip4ToInt('10.244.0.0');
const NAMESPACES = ['default', 'shop', 'payments', 'monitoring', 'kube-system'];

interface Synthetic { ctx: FlowContext; records: Buffer; count: number; identities: number }

/** A node's worth of endpoints (one identity per 3 pods, as Deployments share labels) and a batch of mixed events. */
export function syntheticPipeline(endpointCount: number, batch = BATCH): Synthetic {
  const byIp = new Map<string, { id: number; namespace: string; podName: string; workloads: { name: string; kind: string }[] }>();
  const labelsById = new Map<number, string[]>();
  const ips: number[] = [];
  const identityOf: number[] = [];
  for (let i = 0; i < endpointCount; i++) {
    const ip = POD_BASE + 10 + i;
    const ns = NAMESPACES[i % NAMESPACES.length]!;
    const app = `app-${Math.floor(i / 3)}`;
    const identity = 10000 + Math.floor(i / 3);
    ips.push(ip);
    identityOf.push(identity);
    byIp.set(intToIp4(ip), { id: 100 + i, namespace: ns, podName: `${app}-7d9f8c6b5-${i.toString(36).padStart(5, 'x')}`, workloads: [{ name: app, kind: 'Deployment' }] });
    labelsById.set(identity, [`k8s:app=${app}`, `k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=${ns}`,
      `k8s:io.cilium.k8s.policy.cluster=default`, `k8s:io.cilium.k8s.policy.serviceaccount=${app}`, `k8s:io.kubernetes.pod.namespace=${ns}`]);
  }
  labelsById.set(2, ['reserved:world']);
  const policies = new Map<number, FlowPolicy[]>();
  for (let c = 1; c <= 50; c++) policies.set(c, [{ name: `allow-${c}`, namespace: NAMESPACES[c % NAMESPACES.length]!, labels: [], revision: 7, kind: 'CiliumNetworkPolicy' }]);
  const wallOffsetMs = Date.now() - 1e6;
  const ctx: FlowContext = {
    nodeName: 'bench-node',
    wallTimeMs: (ns) => wallOffsetMs + ns / 1e6,
    endpointByIp: (ip) => byIp.get(ip),
    identityLabels: (id) => labelsById.get(id),
    policiesForCookie: (cookie) => policies.get(cookie) ?? [],
    defaultDenyPolicies: () => policies.get(1)!,
    serviceById: () => undefined,
  };

  // 60% new TCP connections allowed, 15% TCP flag changes of a connection, 10% UDP (DNS), 10% policy drops, 5% from the world.
  const records = Buffer.alloc(batch * flowEvent.size);
  let seed = 12345;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed >>> 8) % n; };
  for (let i = 0; i < batch; i++) {
    const a = rnd(endpointCount);
    const b = rnd(endpointCount);
    const kind = rnd(100);
    const world = kind >= 95;
    const drop = kind >= 85 && kind < 95;
    const udp = kind >= 75 && kind < 85;
    flowEvent.encode({
      tsNs: 1e15 + i * 1000, saddr: world ? ip4ToInt('203.0.113.7') : ips[a]!, daddr: ips[b]!, sport: 32768 + rnd(28000), dport: udp ? 53 : [80, 443, 8080, 5432][rnd(4)]!,
      srcIdentity: world ? 2 : identityOf[a]!, dstIdentity: identityOf[b]!, cookie: drop ? 0 : 1 + rnd(50), ifindex: 10 + b, len: 74, epId: 100 + b,
      proto: udp ? 17 : 6, type: drop ? EVENT_DROP : EVENT_POLICY_VERDICT, verdict: drop ? VERDICT_DROPPED : VERDICT_FORWARDED, reason: drop ? 133 : 0,
      dir: rnd(2) ? DIR_INGRESS : DIR_EGRESS, tcpFlags: udp ? 0 : kind < 60 ? 0x02 : 0x12, isReply: 0, matchType: 2, obsPoint: 0, icmpType: 0,
    }, records.subarray(i * flowEvent.size, (i + 1) * flowEvent.size));
  }
  return { ctx, records, count: batch, identities: labelsById.size };
}

/** `hubble observe --namespace shop --verdict DROPPED` / `--to-port 443`-like: a typical whitelist of a follower. */
export const TYPICAL_WHITELIST: FlowFilter[] = [
  { source_pod: ['shop/'], verdict: ['FORWARDED', 'DROPPED'] },
  { destination_pod: ['shop/'], verdict: ['FORWARDED', 'DROPPED'] },
  { destination_port: ['443'], source_label: ['k8s:app'] },
];

/** Runs `step` (one batch) for `secs`, returning how many units it did per second. */
function rate(secs: number, step: () => number): number {
  const end = process.hrtime.bigint() + BigInt(Math.round(secs * 1e9));
  const t0 = process.hrtime.bigint();
  let units = 0;
  let now = t0;
  while (now < end) {
    for (let k = 0; k < 16; k++) units += step();
    now = process.hrtime.bigint();
  }
  return units / (Number(now - t0) / 1e9);
}

export async function benchFlows(opts: FlowsBenchOptions): Promise<FlowsBenchResult> {
  const endpoints = opts.endpoints ?? 300;
  const syn = syntheticPipeline(endpoints);
  const observer = new FlowObserver(4095, () => syn.ctx);
  let passed = 0;
  let flows = 0;
  observer.ring.follow((f) => {
    flows++;
    if (flowPasses(f, TYPICAL_WHITELIST, undefined)) passed++;
  });
  const decodeWith = (decode: (b: Buffer, o: number) => { dport: number }) => () => {
    let sink = 0;
    for (let i = 0; i < syn.count; i++) sink += decode(syn.records, i * flowEvent.size).dport;
    return sink >= 0 ? syn.count : 0;
  };
  const decodeOne = decodeWith(decodeFlowEvent);
  const genericOne = decodeWith((b, o) => flowEvent.decode(b, o));
  const pipelineOne = () => {
    const before = flows;
    observer.onRecords(syn.records, syn.count);
    return flows - before;
  };
  const res: FlowsBenchResult = { endpoints, identities: syn.identities, batch: syn.count, decodeOnly: [], genericDecode: [], pipelineFlows: [], pipelineEvents: [], passShare: 0 };
  rate(0.5, decodeOne); // warm-up: let the JIT settle
  rate(0.5, pipelineOne);
  for (let rep = 0; rep < opts.reps; rep++) {
    const d = rate(opts.secs, decodeOne);
    res.decodeOnly.push(d);
    res.genericDecode.push(rate(Math.min(1, opts.secs), genericOne));
    const flowsBefore = flows;
    const eventsBefore = observer.eventsReceived;
    const t0 = process.hrtime.bigint();
    const p = rate(opts.secs, pipelineOne);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    res.pipelineFlows.push(p);
    res.pipelineEvents.push((observer.eventsReceived - eventsBefore) / secs);
    opts.log(`rep ${rep + 1}/${opts.reps}: decode ${Math.round(d).toLocaleString('en-US')} events/s; pipeline ${Math.round(p).toLocaleString('en-US')} flows/s (${flows - flowsBefore} flows)`);
    await new Promise((r) => setImmediate(r));
  }
  res.passShare = flows > 0 ? passed / flows : 0;
  return res;
}

/** A Node heap configuration the pipeline runs under (the young generation's size matters: flows live until the ring wraps). */
export interface HeapConfig { name: string; nodeFlags: string[] }
export const HEAP_CONFIGS: HeapConfig[] = [
  { name: 'Node defaults', nodeFlags: [] },
  { name: '`--max-semi-space-size=64`', nodeFlags: ['--max-semi-space-size=64'] },
];

/** Runs the benchmark in a child process per heap configuration, pinned to one CPU (`taskset -c`). */
export async function benchFlowsPinned(opts: FlowsBenchOptions & { cpu?: number }): Promise<{ config: HeapConfig; result: FlowsBenchResult }[]> {
  const child = fileURLToPath(new URL('./flows-child.js', import.meta.url));
  const out: { config: HeapConfig; result: FlowsBenchResult }[] = [];
  for (const config of HEAP_CONFIGS) {
    opts.log(`flows: ${config.name}, pinned to CPU ${opts.cpu ?? 0}`);
    const res = await run('taskset', ['-c', String(opts.cpu ?? 0), process.execPath, ...config.nodeFlags, child, String(opts.reps), String(opts.secs)],
      { timeoutMs: (opts.reps * (2 * opts.secs + 2) + 30) * 1000 });
    for (const line of res.stderr.split('\n').filter(Boolean)) opts.log(`  ${line}`);
    out.push({ config, result: JSON.parse(res.stdout) as FlowsBenchResult });
  }
  return out;
}

export function formatFlowsTables(runs: { config: HeapConfig; result: FlowsBenchResult }[]): string {
  return runs.map((r) => `${r.config.name}:\n\n${formatFlowsTable(r.result)}`).join('\n\n');
}

export function formatFlowsTable(r: FlowsBenchResult): string {
  const fmt = (xs: number[]) => `${Math.round(median(xs)).toLocaleString('en-US')} (${Math.round(Math.min(...xs)).toLocaleString('en-US')}–${Math.round(Math.max(...xs)).toLocaleString('en-US')})`;
  const p = median(r.pipelineFlows);
  return [
    '| stage | rate median (range) | per item | vs goal 1,000,000 flows/s |',
    '|---|---|---|---|',
    `| decode alone, the datapath's generic codec (\`flowEvent.decode\`) | ${fmt(r.genericDecode)} events/s | ${(1e9 / median(r.genericDecode)).toFixed(0)} ns | |`,
    `| decode alone, the pipeline's decoder (baseline) | ${fmt(r.decodeOnly)} events/s | ${(1e9 / median(r.decodeOnly)).toFixed(0)} ns | |`,
    `| decode + enrich + filter + ring | ${fmt(r.pipelineFlows)} flows/s (${fmt(r.pipelineEvents)} events/s) | ${(1e9 / p).toFixed(0)} ns/flow | ${(p / GOAL).toFixed(2)}× ${p >= GOAL ? '(met)' : '(not met)'} |`,
  ].join('\n');
}

export function flowsParagraph(r: FlowsBenchResult, reps: number, secs: number): string {
  return `Synthetic \`flow_event\` records (encoded with the datapath's codec, batches of ${r.batch} as the ring buffer reader hands them over; ` +
    '60% new TCP connections allowed by a policy, 15% TCP flag changes, 10% UDP, 10% policy drops (each a policy-verdict flow and a drop flow), 5% from the world) ' +
    `through \`FlowObserver.onRecords\` on the main thread (one core): decode, enrichment from a context like the agent's (${r.endpoints} endpoints, ${r.identities} identities with 5 labels each, 50 policies behind cookies), ` +
    `the ring (4,095 flows) and one follower filtering with a typical whitelist (pod namespace + verdict, or port + label; ${(100 * r.passShare).toFixed(0)}% pass). ` +
    `Baseline: decoding alone, same records, same run. ${reps} repetitions of ${secs} s each after a warm-up, interleaved; median (range). ` +
    'Each configuration in its own process pinned to one CPU (`taskset -c 0`), once with Node\'s default heap and once with a 64 MiB young generation ' +
    '(flows stay alive until the ring wraps, so with the default 16 MiB semi-space most of them are copied to the old generation, and the collector dominates).';
}
