/**
 * `npm run bench [-- AREA...]`: membrane's benchmarks, each against a
 * baseline measured in the same run. Areas: datapath, policy, control-plane, services, flows, l7 (all
 * when none is given). Writes the sections of the areas run into
 * docs/benchmarks.md, keeping the other sections as they were.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../testing/agent.js';
import { benchDatapath, DATAPATH_SAMPLE_SECS, datapathGoalLine, datapathParagraph, formatDatapathTable } from './datapath.js';
import { type DocSection, measuredOn, mergeSections, splitSections } from './doc.js';
import { benchFlowsPinned, flowsParagraph, formatFlowsTables } from './flows.js';
import { benchFlowLoss, flowLossParagraph, formatFlowLoss } from './flows-loss.js';
import { benchControlPlane, controlPlaneParagraph, formatControlPlaneTables } from './control-plane.js';
import { benchL7, formatL7Table, l7Paragraph } from './l7.js';
import { benchPolicy, formatPolicyTable } from './policy.js';
import { benchServices, formatServicesTables } from './services.js';
import { renderChart } from './chart.js';
import { controlPlanePanels, datapathPanels, mergePanels, type PanelStore, panelsInOrder, policyPanels, servicesPanels } from './panels.js';

const areas = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const reps = Number(process.env['BENCH_REPS'] ?? 5);
/**
 * Seconds per sample, per area: short enough that the whole suite fits in
 * 15 minutes on a 2-core machine (the medians of several interleaved
 * repetitions matter more than long samples). BENCH_SECS sets them all.
 */
const secsOf = (dflt: number) => Number(process.env['BENCH_SECS'] ?? dflt);
const log = (l: string) => process.stderr.write(`${l}\n`);
const KNOWN = ['datapath', 'policy', 'control-plane', 'services', 'flows', 'l7'];
const DOC = path.join(REPO_ROOT, 'docs', 'benchmarks.md');
/** The chart's data per section (so a partial run redraws every curve) and the chart. */
const PANELS = path.join(REPO_ROOT, 'docs', 'benchmarks.json');
const CHART = path.join(REPO_ROOT, 'docs', 'benchmarks.svg');

async function main(): Promise<void> {
  for (const a of areas) if (!KNOWN.includes(a)) throw new Error(`unknown benchmark area "${a}"; areas: ${KNOWN.join(', ')}`);
  const want = (a: string) => areas.length === 0 || areas.includes(a);
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}`;
  const measured = () => measuredOn(new Date().toISOString().slice(0, 10), machine);
  const sections: DocSection[] = [];
  const panels: PanelStore = {};
  const started = Date.now();
  let areaStarted = started;
  const section = (title: string, paragraph: string, tables: string) => {
    const took = Math.round((Date.now() - areaStarted) / 1000);
    log(`${title}: ${took} s`);
    sections.push({ title, text: `## ${title}\n\n${measured()} ${paragraph} This area took ${took} s.\n\n${tables}\n` });
    areaStarted = Date.now();
  };
  if (want('datapath')) {
    const secs = secsOf(DATAPATH_SAMPLE_SECS);
    const rows = await benchDatapath({ reps, secs, log });
    panels['Datapath'] = datapathPanels(rows);
    section('Datapath', datapathParagraph(reps, secs), `${formatDatapathTable(rows)}\n\n${datapathGoalLine(rows)}`);
  }
  if (want('policy')) {
    const rows = await benchPolicy({ endpointCounts: [100, 1000], ruleCounts: [10, 100, 1000], reps: 3, regenerations: ['incremental', 'full'], log });
    panels['Policy control plane'] = policyPanels(rows);
    section('Policy control plane', `A real agent with N endpoints (a host-side veth each, programs attached, maps written; no pod processes) in ${20} label groups; R CiliumNetworkPolicies, each letting one group in from another on one TCP port. Times are from the API call to its answer, which comes once every endpoint's policy map holds the result; medians (range) of 3 repetitions. Map writes count policy-map entries written (and deleted) by that change. The new pod has an identity of its own (an extra label) that other endpoints' rules select, so absorbing it means new entries in their maps. Regeneration is incremental (a selector cache maps each peer selector to its identities; only endpoint groups whose policies or selections changed are resolved again, and only their endpoints' maps are diffed); "endpoints diffed" counts the endpoints whose maps were compared with the kernel for the change, and ×N is the ratio to the full-regeneration baseline below.`,
      formatPolicyTable(rows));
  }
  if (want('control-plane')) {
    const res = await benchControlPlane({ log });
    panels['Control plane'] = controlPlanePanels(res);
    section('Control plane', controlPlaneParagraph(res), formatControlPlaneTables(res));
  }
  if (want('services')) {
    const changeReps = Number(process.env['BENCH_CHANGE_REPS'] ?? 3);
    const secs = secsOf(1);
    const res = await benchServices({ serviceCounts: [1, 1000, 10000], reps, secs, changeReps, log });
    panels['Services'] = servicesPanels(res);
    section('Services', servicesParagraph(reps, secs, changeReps, res.iptablesVersion), formatServicesTables(res));
  }
  if (want('flows')) {
    const secs = secsOf(2);
    const runs = await benchFlowsPinned({ reps, secs, log });
    const lossSecs = Number(process.env['BENCH_LOSS_SECS'] ?? 10);
    const loss = await benchFlowLoss({ secs: lossSecs, log });
    section('Flow pipeline', flowsParagraph(runs[0]!.result, reps, secs),
      `${formatFlowsTables(runs)}\n\n${flowLossParagraph()}\n\n${formatFlowLoss(loss)}`);
  }
  if (want('l7')) {
    const res = await benchL7({ reps, secs: Number(process.env['BENCH_L7_SECS'] ?? secsOf(3)), log });
    section('L7 policy', l7Paragraph(res), formatL7Table(res));
  }
  // Read last: another area's run may have rewritten the file meanwhile.
  const doc = mergeSections(existsSync(DOC) ? readFileSync(DOC, 'utf8') : undefined, sections);
  writeFileSync(DOC, doc);
  const store = mergePanels(existsSync(PANELS) ? readFileSync(PANELS, 'utf8') : undefined, panels);
  writeFileSync(PANELS, `${JSON.stringify(store, null, 1)}\n`);
  writeFileSync(CHART, renderChart(panelsInOrder(store, splitSections(doc).sections.map((s) => s.title)), { title: 'membrane benchmarks: scaling curves' }));
  process.stdout.write(`\n${sections.map((s) => s.text).join('\n')}`);
  log(`wrote ${sections.map((s) => `"${s.title}"`).join(', ')} into ${DOC}, the chart into ${CHART}; ${Math.round((Date.now() - started) / 1000)} s in all`);
}

function servicesParagraph(reps: number, secs: number, changeReps: number, iptablesVersion: string): string {
  return [
    'The cost of a ClusterIP service per new connection (TCP_CRR-like) and per request on an open connection (TCP_RR-like), with 1, 1,000 or 10,000 services on the node, ' +
    `client and server pinned to CPU 0, configurations interleaved, ${reps} repetitions of ${secs} s each of \`bench/pp.c\` (CRR: connect, 1 byte each way, RST close); × = median / the reference's median.`,
    '',
    '- **membrane**: one test node per size (agent, a server and a client pod through the CNI plugin). The measured service (`10.96.0.100:80` → the server pod\'s port 5201) ' +
    'goes through `PUT /v1/k8s/services`; N−1 others in 10.96.0.0/12, each with a backend of its own, are persisted in the agent\'s state and adopted by a restart of the agent ' +
    '(quicker to set up than 10,000 PUTs), so the LB maps hold N frontends and N backends. Reference: the server pod\'s own IP, same client, same node.',
    '- **iptables**, kube-proxy\'s iptables mode emulated: client netns — veth — router netns — veth — server netns, the router holding kube-proxy\'s nat rules ' +
    '(PREROUTING/OUTPUT → KUBE-SERVICES, one rule per service → KUBE-SVC → KUBE-SEP → DNAT; KUBE-MARK-MASQ and KUBE-POSTROUTING as kube-proxy writes them; ' +
    'its filter-table rules, the same whatever the number of services, left out), the measured service last in KUBE-SERVICES (kube-proxy\'s worst case: a new connection walks the list). ' +
    `Loaded with \`iptables-restore --noflush\`, once through iptables-nft (Debian 12's default, \`${iptablesVersion}\`) and once through iptables-legacy. ` +
    'Reference: the same topology without any rule (plain routing, no NAT, no conntrack).',
    `- **A change** moves the measured service's backend to another address (its pod replaced), timed ${changeReps} times after the traffic (median, range): ` +
    'for membrane the PUT until the agent answers, which it does once the LB maps hold the change; for iptables the `iptables-restore` run as kube-proxy writes it, ' +
    'in a partial sync (its default since Kubernetes 1.28: KUBE-SERVICES whole, the changed service\'s chains, the old KUBE-SEP chain deleted) and in a full sync (every chain).',
    '- **LB maps memlock** is bpftool\'s figure: the hash maps count their elements plus a bucket array sized for 65,536 entries; lb_affinity (LRU) is preallocated whatever the number of services.',
  ].join('\n');
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
