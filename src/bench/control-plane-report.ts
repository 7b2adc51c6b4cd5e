/**
 * The control-plane benchmark's report: markdown tables with ratios to the
 * reference plugins measured in the same run, the method paragraph, and the
 * chart series. Pure (a ControlPlaneResult in, text or points out).
 */
import { median } from './datapath.js';
import { RSS_GOAL_MB, type ControlPlaneResult, type ConcurrentRun, type RestartRun } from './control-plane-result.js';
import { ratioCell, summarize } from './control-plane-stats.js';

/** ms for a table: one decimal below 100, whole above. */
export function ms(x: number): string {
  return x < 100 ? x.toFixed(1) : Math.round(x).toLocaleString('en-US');
}

const range = (xs: number[]) => `${ms(Math.min(...xs))}–${ms(Math.max(...xs))}`;
const medianRange = (xs: number[]) => (xs.length === 1 ? ms(xs[0]!) : `${ms(median(xs))} (${range(xs)})`);

function latencyTable(r: ControlPlaneResult): string {
  const m = { add: summarize(r.membrane.add), del: summarize(r.membrane.del), ver: summarize(r.membrane.version) };
  const b = { add: summarize(r.reference.add), del: summarize(r.reference.del), ver: summarize(r.reference.version) };
  const row = (label: string, s: typeof m) =>
    `| ${label} | ${ms(s.add.p50)} | ${ms(s.add.p99)} | ${ms(s.add.min)}–${ms(s.add.max)} | ${ms(s.del.p50)} | ${ms(s.del.p99)} | ${ms(s.del.min)}–${ms(s.del.max)} | ${ms(s.ver.p50)} |`;
  const met = m.add.p50 <= b.add.p50;
  return [
    `| plugin (${r.pods} pods, sequential) | ADD p50 ms | ADD p99 ms | ADD range | DEL p50 ms | DEL p99 ms | DEL range | VERSION p50 ms (exec cost) |`,
    '|---|---|---|---|---|---|---|---|',
    row(r.membrane.label, m),
    row(r.reference.label, b),
    `| ratio membrane / reference | ${ratioCell(m.add.p50, b.add.p50)} | ${ratioCell(m.add.p99, b.add.p99)} | | ${ratioCell(m.del.p50, b.del.p50)} | ${ratioCell(m.del.p99, b.del.p99)} | | ${ratioCell(m.ver.p50, b.ver.p50)} |`,
    '',
    `Goal: membrane's ADD p50 no slower than the bridge plugin's — **${met ? 'met' : 'not met'}** (${ms(m.add.p50)} vs ${ms(b.add.p50)} ms, ${ratioCell(m.add.p50, b.add.p50)}).`,
  ].join('\n');
}

function concurrentTable(r: ControlPlaneResult): string {
  const col = (runs: ConcurrentRun[], k: keyof ConcurrentRun) => runs.map((x) => x[k]);
  const m = r.concurrent.membrane;
  const b = r.concurrent.reference;
  const ratio = (k: keyof ConcurrentRun) => ratioCell(median(col(m, k)), median(col(b, k)));
  return [
    `| plugin (${r.pods} pods at once, ${m.length} round${m.length === 1 ? '' : 's'}) | all ADDs returned, ms | all pods ready, ms | all DELs done, ms |`,
    '|---|---|---|---|',
    `| ${r.membrane.label} | ${medianRange(col(m, 'addsReturnedMs'))} | ${medianRange(col(m, 'readyMs'))} | ${medianRange(col(m, 'delMs'))} |`,
    `| ${r.reference.label} | ${medianRange(col(b, 'addsReturnedMs'))} | ${medianRange(col(b, 'readyMs'))} | ${medianRange(col(b, 'delMs'))} |`,
    `| ratio membrane / reference (medians) | ${ratio('addsReturnedMs')} | ${ratio('readyMs')} | ${ratio('delMs')} |`,
  ].join('\n');
}

function rssTable(r: ControlPlaneResult): string {
  const largest = Math.max(...r.rss.map((p) => p.endpoints));
  const lines = [
    `| endpoints | how | agent RSS MB | (RSS − RSS at 0) / endpoints, KiB | V8 heap used / reserved, MiB | goal < ${RSS_GOAL_MB} MB at ${largest.toLocaleString('en-US')} |`,
    '|---|---|---|---|---|---|',
  ];
  const zero = r.rss.find((p) => p.endpoints === 0);
  for (const p of r.rss) {
    const per = zero && p.endpoints > 0 ? Math.round(((p.mb - zero.mb) * 1024) / p.endpoints).toString() : '';
    const heap = p.heapUsedMb !== undefined ? `${p.heapUsedMb} / ${p.heapTotalMb ?? '?'}` : '–';
    const goal = p.endpoints === largest ? (p.mb < RSS_GOAL_MB ? 'met' : '**not met**') : '';
    lines.push(`| ${p.endpoints.toLocaleString('en-US')} | ${p.how} | ${p.mb.toFixed(1)} | ${per} | ${heap} | ${goal} |`);
  }
  return lines.join('\n');
}

function probeCell(runs: RestartRun[]): string {
  const probed = runs.filter((x) => x.probe);
  if (probed.length === 0) return '–';
  const failed = probed.reduce((s, x) => s + x.probe!.newFailed, 0);
  const tried = probed.reduce((s, x) => s + x.probe!.newOk + x.probe!.newFailed, 0);
  return `${failed} of ${tried}`;
}

function keptCell(runs: RestartRun[]): string {
  const probed = runs.filter((x) => x.probe);
  if (probed.length === 0) return '–';
  const open = probed.every((x) => x.probe!.established);
  const slowest = Math.max(...probed.map((x) => x.probe!.maxRoundTripMs));
  return `${open ? 'stayed open' : '**closed**'}, ${probed.reduce((s, x) => s + x.probe!.roundTrips, 0)} round trips, slowest ${ms(slowest)} ms`;
}

function restartTable(r: ControlPlaneResult): string {
  const sizes = [...new Set(r.restarts.map((x) => x.endpoints))].sort((a, b) => a - b);
  const lines = [
    '| endpoints | restarts | SIGTERM → exited, ms | start → healthz, ms | start → every endpoint ready, ms | new pod-to-pod connections failed during the restart | kept connection |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const n of sizes) {
    const runs = r.restarts.filter((x) => x.endpoints === n);
    lines.push(`| ${n.toLocaleString('en-US')} | ${runs.length} | ${medianRange(runs.map((x) => x.stopMs))} | ${medianRange(runs.map((x) => x.healthzMs))} | ` +
      `${medianRange(runs.map((x) => x.restoredMs))} | ${probeCell(runs)} | ${keptCell(runs)} |`);
  }
  return lines.join('\n');
}

/** The area's tables: CNI latency, concurrent pod start, agent RSS, agent restart. */
export function formatControlPlaneTables(r: ControlPlaneResult): string {
  return [
    '**CNI ADD and DEL latency**', '', latencyTable(r), '',
    '**Pods created concurrently**', '', concurrentTable(r), '',
    '**Agent memory (VmRSS)**', '', rssTable(r), '',
    '**Agent restart**', '', restartTable(r), '',
    `Wall time of this area: ${(r.wallMs / 1000).toFixed(0)} s (${Object.entries(r.phasesMs).map(([k, v]) => `${k} ${(v / 1000).toFixed(0)} s`).join(', ')}).`,
  ].join('\n');
}

/** How every figure above was measured, with this run's parameters. */
export function controlPlaneParagraph(r: ControlPlaneResult): string {
  const addP50 = summarize(r.membrane.add).p50;
  const ref = `Debian's containernetworking-plugins${r.referenceVersion ? ` ${r.referenceVersion}` : ''}`;
  return [
    `One membrane test node (its own netns, a real agent, ${r.policyRules} CiliumNetworkPolicies in force over 20 label groups, so every endpoint has a policy to realize) ` +
    `against the reference \`bridge\` plugin with \`host-local\` IPAM (${ref}; isGateway, no masquerade) on a throwaway node netns of its own with its own bridge and host-local data dir. ` +
    'Both plugins are executed as a container runtime executes them: `nsenter --net=<node netns> <plugin>` with CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_PATH (and for membrane ' +
    'CNI_ARGS with K8S_POD_NAMESPACE/K8S_POD_NAME, its pod\'s labels pushed to the agent beforehand, untimed, as the orchestrator would) and the network configuration on stdin; ' +
    'each call is timed from spawn to exit. Pod netns are created beforehand (untimed), one fresh netns per pod.',
    '',
    `- **Latency**: ${r.pods} ADDs per plugin, one after another, alternating between the plugins every ${r.batch} calls; then ${r.pods} DELs the same way. ` +
    'p50 and p99 are nearest-rank percentiles (a measured call, not an interpolation); ratio = membrane / reference. ' +
    'VERSION is the cost of executing each plugin at all (membrane\'s is a Node program, the reference a Go binary).',
    `- **Concurrency**: ${r.pods} ADDs started at once (no bounded parallelism), the rounds alternating between the plugins. ` +
    'membrane\'s pods count as ready when GET /v1/endpoints lists each in state `ready` with its realized policy revision at the repository\'s (its policy is in the kernel), ' +
    'polled every 10 ms from the moment the last ADD returned (the plugin returns once the agent has enforced the endpoint); the reference\'s when its ADD returned. ' +
    `Then the ${r.pods} DELs at once. Median (range) of the rounds.`,
    `- **Memory**: VmRSS of the agent process (/proc/<pid>/status) after the endpoints were ready and ${r.settleMs / 1000} s of settling: with no endpoint (fresh agent), ` +
    `with the ${r.pods} CNI pods of membrane's last concurrent round (after the sequential and earlier concurrent pods came and went), ` +
    (r.apiEndpoints.count === 0 ? '' : `and with ${r.apiEndpoints.count.toLocaleString('en-US')} endpoints added through the agent's API once those pods were gone, as the policy benchmark adds them ` +
    `(a host-side veth each with the programs attached and the maps written, no pod netns or process; ${(r.apiEndpoints.ms / 1000).toFixed(0)} s for all of them), ` +
    `since at membrane's sequential ADD p50 of ${ms(addP50)} ms the same through CNI would take about ${((r.apiEndpoints.count * addP50) / 1000).toFixed(0)} s. `) +
    '"After a restart" rows: the same endpoints in the freshly restarted agent. The agent is a Node process: its RSS follows V8\'s heap sizing and garbage collection as much as ' +
    'what it holds (it can be lower with more endpoints), hence the heap column from the agent\'s own GET /v1/status at the same moment.',
    '- **Restart**: the agent stopped with SIGTERM (by pid) and started again on the same state dir and pinned maps; "start" is the spawn of the new process; healthz and the endpoint list polled every 10 ms. ' +
    `With the ${r.pods} CNI pods, two of them exchange traffic meanwhile (a policy lets the one in from the other): a new connection every 20 ms (connect, 1 byte each way, close; failed when no echo within 1 s) ` +
    'and one byte at a time on a connection kept open; counted from SIGTERM until 1.1 s after every endpoint was ready again (so every attempt made until then has had its second). ' +
    'Those pods\' concurrent DELs (in the table above) came after these restarts.',
  ].join('\n');
}

export interface Series {
  name: string;
  points: { x: number; y: number }[];
  /** A reference curve, drawn dashed. */
  dashed?: boolean;
}

/**
 * Agent RSS (MB) against endpoints on the node: as created, and after a
 * restart with the same endpoints; the fresh agent with no endpoint starts
 * both curves.
 */
export function controlPlaneSeries(r: ControlPlaneResult): Series[] {
  const zero = r.rss.filter((p) => p.endpoints === 0);
  const curve = (afterRestart: boolean) => [...zero, ...r.rss.filter((p) => p.endpoints > 0 && p.afterRestart === afterRestart)]
    .map((p) => ({ x: p.endpoints, y: p.mb })).sort((a, b) => a.x - b.x);
  const out: Series[] = [{ name: 'membrane agent RSS, MB', points: curve(false) }];
  if (r.rss.some((p) => p.afterRestart)) out.push({ name: 'membrane agent RSS after a restart, MB', points: curve(true) });
  return out;
}

/** CNI ADD latency (ms) against the pods already on the node, for membrane and the reference (dashed). */
export function cniAddSeries(r: ControlPlaneResult): Series[] {
  const pts = (xs: number[]) => xs.map((y, x) => ({ x, y }));
  return [
    { name: `${r.membrane.label} CNI ADD, ms`, points: pts(r.membrane.add) },
    { name: `${r.reference.label} CNI ADD, ms`, points: pts(r.reference.add), dashed: true },
  ];
}
