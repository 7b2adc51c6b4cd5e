/**
 * Hubble's flow metrics (namespace `hubble_`), counted as each flow leaves
 * the pipeline: flows processed, drops, policy verdicts, TCP flags and the
 * destination port distribution. Labels come from labels.ts, all bounded.
 *
 * One difference from Hubble, on purpose: `hubble_drop_total` counts drop
 * events only. A packet denied by policy gives two flows (the policy verdict
 * and the drop, see hubble/flow.ts); counting both would count it twice.
 *
 * Counting is on the pipeline's hot path (every flow), so a flow does not
 * build label objects or hash them as prom-client's `inc(labels)` does: the
 * series of a flow is found by the few flow fields its labels depend on,
 * its count is a plain number, and the counts are handed to prom-client
 * when it collects (at each scrape).
 */
import { Counter, type Registry } from 'prom-client';
import type { Flow } from '../hubble/flow.js';
import { EVENT_DROP, EVENT_POLICY_VERDICT, EVENT_TRACE } from '../datapath/layout.js';
import {
  OTHER_PORT, PortLabels, flowProcessedLabels, flowProtocolLabel, hubbleDropReasonLabel, policyVerdictLabels, portDistributionLabels,
} from './labels.js';

type Labels = Record<string, string>;

/** One label set of a counter: its labels, and what it counted since the last collection. */
interface Series { readonly labels: Labels; pending: number }

/**
 * A counter's series, found by up to three values that determine their
 * labels (`labelsOf` makes them the first time). Two keys may give the
 * same labels (an unknown verdict and VERDICT_UNKNOWN): prom-client adds
 * both counts to the one series. The keys are flow fields the pipeline
 * takes from one byte of the event each, so the maps stay small.
 */
class SeriesCounts {
  private readonly byKey = new Map<unknown, Map<unknown, Map<unknown, Series>>>();
  /** In first-counted order, the order prom-client lists them in. */
  private readonly all: Series[] = [];

  constructor(private readonly counter: Counter<string>) {}

  series(a: unknown, b: unknown, c: unknown, flow: Flow, labelsOf: (f: Flow) => Labels): Series {
    let byB = this.byKey.get(a);
    if (byB === undefined) this.byKey.set(a, (byB = new Map()));
    let byC = byB.get(b);
    if (byC === undefined) byB.set(b, (byC = new Map()));
    let s = byC.get(c);
    if (s === undefined) {
      s = { labels: labelsOf(flow), pending: 0 };
      byC.set(c, s);
      this.all.push(s);
    }
    return s;
  }

  /** Hands the counts to prom-client (its `collect` hook). */
  flush(): void {
    for (const s of this.all) {
      if (s.pending === 0) continue;
      this.counter.inc(s.labels, s.pending);
      s.pending = 0;
    }
  }
}

/** The labels of each flag tcpFlagLabels (labels.ts) counts, by index: FIN, SYN, SYN-ACK, RST. */
const TCP_FLAG_LABELS = (['FIN', 'SYN', 'SYN-ACK', 'RST'] as const).map((flag) => (f: Flow): Labels => ({ flag, family: f.IP.ipVersion }));

export class HubbleFlowMetrics {
  private readonly flows: SeriesCounts;
  private readonly drops: SeriesCounts;
  private readonly policyVerdicts: SeriesCounts;
  private readonly tcpFlags: SeriesCounts;
  private readonly ports: SeriesCounts;
  private readonly portLabels: PortLabels;
  /** Per protocol label: the series of each port that keeps its number, and the one of "other". */
  private readonly portSeries = new Map<string, { byPort: Map<number, Series>; other: Series | undefined }>();

  constructor(registry: Registry, opts: { maxPorts?: number } = {}) {
    const registers = [registry];
    this.portLabels = new PortLabels(opts.maxPorts);
    const counter = (name: string, help: string, labelNames: string[]): SeriesCounts => {
      let counts: SeriesCounts | undefined;
      const c = new Counter({ name, help, labelNames, registers, collect: () => counts!.flush() });
      counts = new SeriesCounts(c);
      return counts;
    };
    this.flows = counter('hubble_flows_processed_total', 'Total number of flows processed', ['type', 'subtype', 'verdict']);
    this.drops = counter('hubble_drop_total', 'Number of drops', ['reason', 'protocol']);
    this.policyVerdicts = counter('hubble_policy_verdicts_total', 'Number of policy verdict flows', ['direction', 'match', 'action']);
    this.tcpFlags = counter('hubble_tcp_flags_total', 'TCP flag occurrences', ['flag', 'family']);
    this.ports = counter('hubble_port_distribution_total',
      `Numbers of packets distributed by destination port (ports from 32768 up, and past the first ${this.portLabels.maxPorts} distinct ones, count as "other")`,
      ['protocol', 'port']);
  }

  /** Counts one flow; a listener of the flow pipeline. Never throws for any flow shape. */
  observe(flow: Flow): void {
    const type = flow.event_type.type;
    // The labels depend on: L7 or not, the event type, the trace point (traces only), the verdict.
    const l7 = flow.Type === 'L7';
    this.flows.series(l7 ? 'L7' : type, !l7 && type === EVENT_TRACE ? flow.trace_observation_point : undefined, flow.verdict, flow, flowProcessedLabels).pending++;
    if (type === EVENT_DROP) this.drops.series(flow.drop_reason_desc, flowProtocolLabel(flow), undefined, flow, dropLabels).pending++;
    if (type === EVENT_POLICY_VERDICT) {
      this.policyVerdicts.series(flow.traffic_direction, flow.policy_match_type, flow.verdict, flow, policyVerdictLabels as (f: Flow) => Labels).pending++;
    }
    if (flow.verdict === 'FORWARDED' || flow.verdict === 'REDIRECTED') {
      this.countTcpFlags(flow);
      if (flow.verdict === 'FORWARDED') this.countPort(flow);
    }
  }

  /** `hubble_tcp_flags_total`, as tcpFlagLabels (labels.ts) counts them. */
  private countTcpFlags(flow: Flow): void {
    const flags = flow.l4?.TCP?.flags;
    if (!flags) return;
    const family = flow.IP.ipVersion;
    if (flags.FIN) this.tcpFlags.series(0, family, undefined, flow, TCP_FLAG_LABELS[0]!).pending++;
    if (flags.SYN) {
      const i = flags.ACK ? 2 : 1;
      this.tcpFlags.series(i, family, undefined, flow, TCP_FLAG_LABELS[i]!).pending++;
    }
    if (flags.RST) this.tcpFlags.series(3, family, undefined, flow, TCP_FLAG_LABELS[3]!).pending++;
  }

  /**
   * `hubble_port_distribution_total`, as portDistributionLabels (labels.ts)
   * counts them. A port's label never changes once given (PortLabels), so
   * the series of a port that keeps its number is kept by port; ports that
   * count as "other" share one series and are not kept.
   */
  private countPort(flow: Flow): void {
    if (flow.is_reply === true || !flow.l4) return;
    const l4 = flow.l4.TCP ?? flow.l4.UDP ?? flow.l4.SCTP;
    const protocol = flowProtocolLabel(flow);
    let byProtocol = this.portSeries.get(protocol);
    if (byProtocol === undefined) this.portSeries.set(protocol, (byProtocol = { byPort: new Map(), other: undefined }));
    const port = l4 ? l4.destination_port : -1;
    let s = byProtocol.byPort.get(port);
    if (s === undefined) {
      const labels = portDistributionLabels(flow, this.portLabels)!;
      if (labels.port === OTHER_PORT) {
        s = byProtocol.other ??= this.ports.series(protocol, OTHER_PORT, undefined, flow, () => labels);
      } else {
        s = this.ports.series(protocol, labels.port, undefined, flow, () => labels);
        byProtocol.byPort.set(port, s);
      }
    }
    s.pending++;
  }
}

function dropLabels(flow: Flow): Labels {
  return { reason: hubbleDropReasonLabel(flow), protocol: flowProtocolLabel(flow) };
}
