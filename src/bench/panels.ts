/**
 * The scaling curves of a benchmark run as chart panels (chart.ts), and
 * their store beside docs/benchmarks.md: `docs/benchmarks.json` keeps each
 * section's panels, so that a run of some areas redraws the whole chart
 * with the other areas' curves as they were measured. Pure.
 */
import type { ChartPanel, ChartSeries } from './chart.js';
import { type BenchRow, datapathSeries, median } from './datapath.js';
import { DATAPATH_GOAL } from './datapath-report.js';
import type { PolicyBenchRow } from './policy.js';
import type { ServicesBenchResult } from './services.js';
import { cniAddSeries, type ControlPlaneResult, controlPlaneSeries } from './control-plane.js';
import { RSS_GOAL_MB } from './control-plane-result.js';

/** Panels by the title of the docs/benchmarks.md section they belong to. */
export type PanelStore = Record<string, ChartPanel[]>;

/** The store with `fresh` sections' panels in place of theirs; others kept. Unreadable JSON counts as none. */
export function mergePanels(existing: string | undefined, fresh: PanelStore): PanelStore {
  let old: PanelStore = {};
  try {
    const parsed: unknown = existing ? JSON.parse(existing) : {};
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) old = parsed as PanelStore;
  } catch {
    old = {};
  }
  return { ...old, ...fresh };
}

/** Every panel of the store, in the order of the document's sections (titles not in it last). */
export function panelsInOrder(store: PanelStore, sectionOrder: readonly string[]): ChartPanel[] {
  const titles = [...sectionOrder.filter((t) => t in store), ...Object.keys(store).filter((t) => !sectionOrder.includes(t))];
  return titles.flatMap((t) => store[t] ?? []);
}

/** Datapath: each rule family's new-connection rate against the plain veth pair, as its rule count grows. */
export function datapathPanels(rows: readonly BenchRow[]): ChartPanel[] {
  const panel = (test: 'crr' | 'rr', title: string): ChartPanel => ({
    title, xLabel: 'rules (peer identities, CIDRs, addresses)', yLabel: 'rate / plain veth pair', xLog: true,
    series: datapathSeries(rows, test).map((s) => ({ name: s.name, points: s.points, dashed: !s.family.startsWith('membrane') })),
    goal: { y: DATAPATH_GOAL, label: `goal: ${DATAPATH_GOAL} of the veth pair` },
  });
  return [panel('crr', 'Datapath: TCP_CRR-like (new connections) by rule count'), panel('rr', 'Datapath: TCP_RR-like (one connection) by rule count')];
}

/** Control plane: the agent's memory by endpoint count, and CNI ADD latency as pods accumulate, against the reference plugins. */
export function controlPlanePanels(r: ControlPlaneResult): ChartPanel[] {
  return [
    { title: 'Agent memory (RSS) by endpoints', xLabel: 'endpoints', yLabel: 'agent RSS, MB', series: controlPlaneSeries(r), goal: { y: RSS_GOAL_MB, label: `goal: under ${RSS_GOAL_MB} MB at 1,000` } },
    { title: 'CNI ADD latency as pods accumulate', xLabel: 'pods already on the node', yLabel: 'CNI ADD, ms', series: cniAddSeries(r) },
  ];
}

/** Services: new connections through a ClusterIP against each configuration's own reference, as the service count grows. */
export function servicesPanels(res: ServicesBenchResult): ChartPanel[] {
  const ratio = (pick: (r: ServicesBenchResult['rows'][number]) => { x: number[]; base: number[] }): { x: number; y: number }[] =>
    res.rows.map((r) => {
      const { x, base } = pick(r);
      return { x: r.services, y: median(x) / median(base) };
    });
  const series: ChartSeries[] = [
    { name: 'membrane (× direct pod IP)', points: ratio((r) => ({ x: r.membraneVip.crr, base: r.membraneDirect.crr })) },
    { name: 'iptables-nft (× no NAT)', points: ratio((r) => ({ x: r.iptables.nft.crr, base: res.noNat.crr })), dashed: true },
    { name: 'iptables-legacy (× no NAT)', points: ratio((r) => ({ x: r.iptables.legacy.crr, base: res.noNat.crr })), dashed: true },
  ];
  return [{
    title: 'Services: TCP_CRR-like rate through a ClusterIP', xLabel: 'services on the node', yLabel: 'rate / reference', xLog: true, series,
    goal: { y: 0.9, label: 'goal: 0.9 at 10,000 services' },
  }];
}

/** Policy: import to enforcement on every endpoint, by rule count, per endpoint count (incremental regeneration). */
export function policyPanels(rows: readonly PolicyBenchRow[]): ChartPanel[] {
  const counts = [...new Set(rows.map((r) => r.endpoints))].sort((a, b) => a - b);
  const series: ChartSeries[] = counts.map((n) => ({
    name: `${n.toLocaleString('en-US')} endpoints`,
    points: rows.filter((r) => r.endpoints === n && r.regeneration === 'incremental').sort((a, b) => a.rules - b.rules)
      .map((r) => ({ x: r.rules, y: median(r.importMs) })),
  }));
  const change: ChartSeries[] = counts.map((n) => ({
    name: `${n.toLocaleString('en-US')} endpoints`,
    points: rows.filter((r) => r.endpoints === n && r.regeneration === 'incremental').sort((a, b) => a.rules - b.rules)
      .map((r) => ({ x: r.rules, y: median(r.changeMs) })),
  }));
  return [
    { title: 'Policy: import to enforcement on every endpoint', xLabel: 'rules', yLabel: 'ms', xLog: true, yLog: true, series },
    { title: 'Policy: one rule changed, to enforcement', xLabel: 'rules', yLabel: 'ms', xLog: true, series: change, goal: { y: 100, label: 'goal: 100 ms at 1,000 endpoints' } },
  ];
}
