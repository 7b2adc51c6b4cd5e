/**
 * Hubble's flow metrics (namespace `hubble_`), counted as each flow leaves
 * the pipeline: flows processed, drops, policy verdicts, TCP flags and the
 * destination port distribution. Labels come from labels.ts, all bounded.
 *
 * One difference from Hubble, on purpose: `hubble_drop_total` counts drop
 * events only. A packet denied by policy gives two flows (the policy verdict
 * and the drop, see hubble/flow.ts); counting both would count it twice.
 */
import { Counter, type Registry } from 'prom-client';
import type { Flow } from '../hubble/flow.js';
import { EVENT_DROP } from '../datapath/layout.js';
import {
  PortLabels, flowProcessedLabels, flowProtocolLabel, hubbleDropReasonLabel, policyVerdictLabels, portDistributionLabels, tcpFlagLabels,
} from './labels.js';

export class HubbleFlowMetrics {
  private readonly flows: Counter<'type' | 'subtype' | 'verdict'>;
  private readonly drops: Counter<'reason' | 'protocol'>;
  private readonly policyVerdicts: Counter<'direction' | 'match' | 'action'>;
  private readonly tcpFlags: Counter<'flag' | 'family'>;
  private readonly ports: Counter<'protocol' | 'port'>;
  private readonly portLabels: PortLabels;

  constructor(registry: Registry, opts: { maxPorts?: number } = {}) {
    const registers = [registry];
    this.portLabels = new PortLabels(opts.maxPorts);
    this.flows = new Counter({ name: 'hubble_flows_processed_total', help: 'Total number of flows processed', labelNames: ['type', 'subtype', 'verdict'], registers });
    this.drops = new Counter({ name: 'hubble_drop_total', help: 'Number of drops', labelNames: ['reason', 'protocol'], registers });
    this.policyVerdicts = new Counter({ name: 'hubble_policy_verdicts_total', help: 'Number of policy verdict flows', labelNames: ['direction', 'match', 'action'], registers });
    this.tcpFlags = new Counter({ name: 'hubble_tcp_flags_total', help: 'TCP flag occurrences', labelNames: ['flag', 'family'], registers });
    this.ports = new Counter({
      name: 'hubble_port_distribution_total',
      help: `Numbers of packets distributed by destination port (ports from 32768 up, and past the first ${this.portLabels.maxPorts} distinct ones, count as "other")`,
      labelNames: ['protocol', 'port'], registers,
    });
  }

  /** Counts one flow; a listener of the flow pipeline. Never throws for any flow shape. */
  observe(flow: Flow): void {
    this.flows.inc(flowProcessedLabels(flow));
    if (flow.event_type.type === EVENT_DROP) this.drops.inc({ reason: hubbleDropReasonLabel(flow), protocol: flowProtocolLabel(flow) });
    const verdict = policyVerdictLabels(flow);
    if (verdict) this.policyVerdicts.inc(verdict);
    for (const f of tcpFlagLabels(flow)) this.tcpFlags.inc(f);
    const port = portDistributionLabels(flow, this.portLabels);
    if (port) this.ports.inc(port);
  }
}
