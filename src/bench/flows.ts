/**
 * Flow pipeline benchmark: synthetic flow_event records through
 * FlowObserver (decode + enrich with a context like the agent's: a few
 * hundred endpoints and identities, policies behind cookies) + the ring +
 * what the agent runs on every flow by default (the Hubble flow metrics
 * listener) + a follower's compiled filter (a typical whitelist), on the
 * main thread (one core), against decoding alone in the same run. The
 * agent runs this pipeline on its main thread too (the ring buffer reader
 * thread only copies records), so this is the ceiling of flows a node can
 * observe.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { Registry } from 'prom-client';
import {
  DIR_EGRESS, DIR_INGRESS, EVENT_DROP, EVENT_POLICY_VERDICT, EVENT_TRACE, OBS_TO_ENDPOINT, OBS_TO_STACK, VERDICT_DROPPED, VERDICT_FORWARDED,
  type FlowEventRecord, flowEvent, intToIp4, ip4ToInt,
} from '../datapath/layout.js';
import type { FlowContext, FlowPolicy } from '../hubble/flow.js';
import { type FlowFilter, compileFlowFilters } from '../hubble/filter.js';
import { decodeFlowEvent } from '../hubble/decode.js';
import { FlowObserver } from '../hubble/observer.js';
import { HubbleFlowMetrics } from '../metrics/flow-metrics.js';
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
  /** Flows per second through decode + enrich + ring + metrics + filter, and events per second for the same runs. */
  pipelineFlows: number[];
  pipelineEvents: number[];
  /** Share of flows the follower's filter let through. */
  passShare: number;
  /** Flows per event of the synthetic mix. */
  flowsPerEvent: number;
  /** Heap bytes allocated per flow (median over single batches; see allocatedPerFlow). */
  bytesPerFlow: number;
  /** Share of the pipeline runs' time spent in the garbage collector. */
  gcShare: number;
}

const GOAL = 1_000_000;
const BATCH = 1024;
const POD_BASE = ip4ToInt('10.244.0.0');
const WORLD_BASE = ip4ToInt('203.0.113.0');
const NAMESPACES = ['default', 'shop', 'payments', 'monitoring', 'kube-system'];

interface Synthetic { ctx: FlowContext; records: Buffer; count: number; identities: number }

/**
 * A node's worth of endpoints (one identity per 3 pods, as Deployments
 * share labels) and a batch of events mixed as the datapath emits them at
 * the default trace level: a TCP connection gives about 2 policy verdicts
 * and 7 trace events (to-endpoint and to-stack, a third of them replies).
 * 25% policy verdicts (allowed by a rule), 60% traces (a third replies;
 * the rest NEW or ESTABLISHED), 10% policy drops (a verdict flow and a
 * drop flow each), 5% verdicts of connections from the world; a tenth of
 * the connections are UDP (DNS).
 */
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
    // As the agent's: the version changes only when endpoints, identities, policies or services do.
    version: () => 1,
    wallTimeMs: (ns) => wallOffsetMs + ns / 1e6,
    endpointByIp: (ip) => byIp.get(ip),
    identityLabels: (id) => labelsById.get(id),
    policiesForCookie: (cookie) => policies.get(cookie) ?? [],
    defaultDenyPolicies: () => policies.get(1)!,
    serviceById: () => undefined,
  };

  const records = Buffer.alloc(batch * flowEvent.size);
  let seed = 12345;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed >>> 8) % n; };
  for (let i = 0; i < batch; i++) {
    const a = rnd(endpointCount);
    const b = rnd(endpointCount);
    const kind = rnd(100);
    const udp = rnd(10) === 0;
    const common: Partial<FlowEventRecord> = {
      tsNs: 1e15 + i * 1000, saddr: ips[a]!, daddr: ips[b]!, sport: 32768 + rnd(28000), dport: udp ? 53 : [80, 443, 8080, 5432][rnd(4)]!,
      srcIdentity: identityOf[a]!, dstIdentity: identityOf[b]!, ifindex: 10 + b, len: 74, epId: 100 + b, proto: udp ? 17 : 6,
      dir: rnd(2) ? DIR_INGRESS : DIR_EGRESS, matchType: 2,
    };
    let ev: Partial<FlowEventRecord>;
    if (kind < 25) {
      ev = { ...common, type: EVENT_POLICY_VERDICT, verdict: VERDICT_FORWARDED, cookie: 1 + rnd(50), tcpFlags: udp ? 0 : 0x02 };
    } else if (kind < 85) {
      const reply = rnd(3) === 0;
      const reason = reply ? 3 : rnd(3) === 0 ? 1 : 2;
      const flags = udp ? 0 : reason === 1 ? 0x02 : reply && rnd(3) === 0 ? 0x12 : [0x10, 0x18, 0x18, 0x11][rnd(4)]!;
      ev = {
        ...common, type: EVENT_TRACE, verdict: VERDICT_FORWARDED, obsPoint: rnd(2) ? OBS_TO_ENDPOINT : OBS_TO_STACK, reason, isReply: reply ? 1 : 0, tcpFlags: flags,
        ...(reply ? { saddr: ips[b]!, daddr: ips[a]!, srcIdentity: identityOf[b]!, dstIdentity: identityOf[a]!, sport: common.dport!, dport: common.sport! } : {}),
      };
    } else if (kind < 95) {
      ev = { ...common, type: EVENT_DROP, verdict: VERDICT_DROPPED, reason: 133, cookie: 0, dir: DIR_INGRESS, matchType: 0, tcpFlags: udp ? 0 : 0x02 };
    } else {
      ev = {
        ...common, type: EVENT_POLICY_VERDICT, verdict: VERDICT_FORWARDED, cookie: 1 + rnd(50), saddr: WORLD_BASE + rnd(200), srcIdentity: 2, dir: DIR_INGRESS,
        tcpFlags: udp ? 0 : 0x02,
      };
    }
    flowEvent.encode(ev, records.subarray(i * flowEvent.size, (i + 1) * flowEvent.size));
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

/**
 * Heap bytes allocated per flow: the heap's growth over one batch, per
 * flow, median of `samples` batches (a batch during which the collector ran
 * shows a smaller or negative growth; the median leaves those out, as
 * collections come every few batches).
 */
function allocatedPerFlow(step: () => number, samples = 201): number {
  const perFlow: number[] = [];
  for (let i = 0; i < samples; i++) {
    const before = getHeapStatistics().used_heap_size;
    const flows = step();
    perFlow.push((getHeapStatistics().used_heap_size - before) / flows);
  }
  return median(perFlow);
}

export async function benchFlows(opts: FlowsBenchOptions): Promise<FlowsBenchResult> {
  const endpoints = opts.endpoints ?? 300;
  const syn = syntheticPipeline(endpoints);
  const observer = new FlowObserver(4095, () => syn.ctx);
  const metrics = new HubbleFlowMetrics(new Registry());
  observer.flowListeners.push((f) => metrics.observe(f));
  const passes = compileFlowFilters(TYPICAL_WHITELIST, undefined);
  let passed = 0;
  let flows = 0;
  observer.ring.follow((f) => {
    flows++;
    if (passes(f)) passed++;
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
  // Time in the collector, counted for the pipeline's runs only.
  const windows: [number, number][] = [];
  let gcMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (windows.some(([a, b]) => e.startTime >= a && e.startTime <= b)) gcMs += e.duration;
  });
  gc.observe({ entryTypes: ['gc'] });
  const res: FlowsBenchResult = {
    endpoints, identities: syn.identities, batch: syn.count, decodeOnly: [], genericDecode: [], pipelineFlows: [], pipelineEvents: [], passShare: 0,
    flowsPerEvent: 0, bytesPerFlow: 0, gcShare: 0,
  };
  rate(0.5, decodeOne); // warm-up: let the JIT settle
  rate(0.5, pipelineOne);
  let pipelineMs = 0;
  for (let rep = 0; rep < opts.reps; rep++) {
    const d = rate(opts.secs, decodeOne);
    res.decodeOnly.push(d);
    res.genericDecode.push(rate(Math.min(1, opts.secs), genericOne));
    const flowsBefore = flows;
    const eventsBefore = observer.eventsReceived;
    const t0 = process.hrtime.bigint();
    const w0 = performance.now();
    const p = rate(opts.secs, pipelineOne);
    windows.push([w0, performance.now()]);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    pipelineMs += secs * 1000;
    res.pipelineFlows.push(p);
    res.pipelineEvents.push((observer.eventsReceived - eventsBefore) / secs);
    opts.log(`rep ${rep + 1}/${opts.reps}: decode ${Math.round(d).toLocaleString('en-US')} events/s; pipeline ${Math.round(p).toLocaleString('en-US')} flows/s (${flows - flowsBefore} flows)`);
    await new Promise((r) => setImmediate(r));
  }
  res.bytesPerFlow = allocatedPerFlow(pipelineOne);
  await new Promise((r) => setTimeout(r, 10));
  gc.disconnect();
  res.gcShare = pipelineMs > 0 ? gcMs / pipelineMs : 0;
  res.passShare = flows > 0 ? passed / flows : 0;
  res.flowsPerEvent = flows / observer.eventsReceived;
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
    `| decode + enrich + ring + metrics + filter | ${fmt(r.pipelineFlows)} flows/s (${fmt(r.pipelineEvents)} events/s) | ${(1e9 / p).toFixed(0)} ns/flow | ${(p / GOAL).toFixed(2)}× ${p >= GOAL ? '(met)' : '(not met)'} |`,
    '',
    `Heap allocated: ${Math.round(r.bytesPerFlow)} bytes per flow; time in the garbage collector: ${(100 * r.gcShare).toFixed(0)}% of the pipeline's.`,
  ].join('\n');
}

export function flowsParagraph(r: FlowsBenchResult, reps: number, secs: number): string {
  return `Synthetic \`flow_event\` records (encoded with the datapath's codec, batches of ${r.batch} as the ring buffer reader hands them over), ` +
    'mixed as the datapath emits them at the default trace level, where a TCP connection gives about 2 policy verdicts and 7 trace events: ' +
    '25% policy verdicts allowed by a rule, 60% to-endpoint/to-stack traces (a third of them replies, the rest NEW or ESTABLISHED), ' +
    `10% policy drops (a policy-verdict flow and a drop flow each), 5% verdicts of connections from the world; a tenth UDP (${r.flowsPerEvent.toFixed(2)} flows per event). ` +
    `Through \`FlowObserver.onRecords\` on the main thread (one core): decode and eager enrichment from a context like the agent's (${r.endpoints} endpoints, ${r.identities} identities with 5 labels each, 50 policies behind cookies), ` +
    'the ring (4,095 flows), the Hubble flow metrics (a listener the agent always has) and one follower with a typical whitelist, compiled as the followers compile theirs ' +
    `(pod namespace + verdict, or port + label; ${(100 * r.passShare).toFixed(0)}% pass). ` +
    `Baseline: decoding alone, same records, same run. ${reps} repetitions of ${secs} s each after a warm-up, interleaved; median (range). ` +
    'Each configuration in its own process pinned to one CPU (`taskset -c 0`), once with Node\'s default heap and once with a 64 MiB young generation ' +
    '(flows stay alive until the ring wraps: with a young generation too small for the ring\'s flows they are copied to the old generation). ' +
    'Heap allocated per flow: the heap\'s growth over one batch, median of 201 batches; time in the collector from the runtime\'s GC events during the pipeline runs.';
}
