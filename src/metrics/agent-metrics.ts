/**
 * The agent's own metrics (namespace `membrane_`, where Cilium uses
 * `cilium_`). Datapath counters, endpoint states, the policy revision, map
 * pressure and lost events are read from the source at scrape time (the
 * kernel keeps the counts; nothing is copied on the packet path); the
 * regeneration and API durations are observed as they happen.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { EndpointState } from '../api/types.js';
import { apiRequestLabels, datapathDirectionLabel, datapathReasonLabel } from './labels.js';
import { type MapPressure, pressure } from './map-pressure.js';

/** The sources of lost events, as Hubble names them. */
export const LOST_EVENT_SOURCES = ['perf_event_ring_buffer', 'observer_events_queue', 'hubble_ring_buffer'] as const;
export type LostEventSource = (typeof LOST_EVENT_SOURCES)[number];

const ENDPOINT_STATES: EndpointState[] = ['waiting-for-identity', 'regenerating', 'ready', 'disconnecting'];

/** What the metrics read of the agent at scrape time (see agent-source.ts). */
export interface AgentMetricsSource {
  /** Summed datapath packet/byte counters; reason 0 is forwarded. */
  datapathCounters(): { reason: number; direction: 'ingress' | 'egress'; packets: number; bytes: number }[];
  endpointStates(): EndpointState[];
  policyRevision(): number;
  mapPressure(): MapPressure[];
  /** Events lost per source; a source absent counts 0 (it does not exist yet). */
  lostEvents(): Partial<Record<LostEventSource, number>>;
  /** The on-disk flow log's counts (src/hubble/flowlog.ts); undefined when the agent exports none. */
  flowExport?(): { written: number; dropped: number } | undefined;
  /** Agent events slow GetAgentEvents/REST followers skipped. */
  agentEventsLost?(): number;
  /** L7 records the proxy dropped because the agent did not take them in time. */
  l7RecordsDropped?(): number;
}

/** Regeneration passes take milliseconds to seconds. */
const REGENERATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class AgentMetrics {
  private readonly regeneration: Histogram<'scope' | 'status'>;
  private readonly api: Histogram<'method' | 'path' | 'return_code'>;

  constructor(registry: Registry, source: AgentMetricsSource) {
    const registers = [registry];
    // Counters read from the kernel: each scrape sets them to the kernel's totals.
    const rows = oncePerTick(() => source.datapathCounters());
    new Counter({
      name: 'membrane_forward_count_total', help: 'Total forwarded packets, tagged by ingress/egress direction', labelNames: ['direction'], registers,
      collect() { setTotals(this, rows().filter((r) => r.reason === 0), (r) => ({ direction: datapathDirectionLabel(r.direction) }), (r) => r.packets); },
    });
    new Counter({
      name: 'membrane_forward_bytes_total', help: 'Total forwarded bytes, tagged by ingress/egress direction', labelNames: ['direction'], registers,
      collect() { setTotals(this, rows().filter((r) => r.reason === 0), (r) => ({ direction: datapathDirectionLabel(r.direction) }), (r) => r.bytes); },
    });
    new Counter({
      name: 'membrane_drop_count_total', help: 'Total dropped packets, tagged by drop reason and ingress/egress direction', labelNames: ['reason', 'direction'], registers,
      collect() { setTotals(this, rows().filter((r) => r.reason !== 0), dropLabels, (r) => r.packets); },
    });
    new Counter({
      name: 'membrane_drop_bytes_total', help: 'Total dropped bytes, tagged by drop reason and ingress/egress direction', labelNames: ['reason', 'direction'], registers,
      collect() { setTotals(this, rows().filter((r) => r.reason !== 0), dropLabels, (r) => r.bytes); },
    });

    new Gauge({
      name: 'membrane_endpoint_state', help: 'Count of all endpoints, tagged by different endpoint states', labelNames: ['endpoint_state'], registers,
      collect() {
        const counts = new Map<string, number>(ENDPOINT_STATES.map((s) => [s, 0]));
        for (const s of source.endpointStates()) counts.set(s, (counts.get(s) ?? 0) + 1);
        for (const [state, n] of counts) this.set({ endpoint_state: state }, n);
      },
    });
    new Gauge({
      name: 'membrane_endpoint', help: 'Number of endpoints managed by this agent', registers,
      collect() { this.set(source.endpointStates().length); },
    });
    new Gauge({
      name: 'membrane_policy_max_revision', help: 'Highest policy revision number in the agent', registers,
      collect() { this.set(source.policyRevision()); },
    });
    new Gauge({
      name: 'membrane_bpf_map_pressure', help: 'Fill percentage of a BPF map, as entries/max (conntrack is not counted)', labelNames: ['map_name'], registers,
      collect() {
        this.reset();
        for (const p of source.mapPressure()) this.set({ map_name: p.map }, pressure(p));
      },
    });
    new Counter({
      name: 'hubble_lost_events_total', help: 'Number of lost events', labelNames: ['source'], registers,
      collect() {
        const lost = source.lostEvents();
        this.reset();
        for (const s of LOST_EVENT_SOURCES) this.inc({ source: s }, lost[s] ?? 0);
      },
    });

    new Counter({
      name: 'membrane_agent_events_lost_total', help: 'Agent events that slow followers (GetAgentEvents, observe agent-events) skipped', registers,
      collect() {
        this.reset();
        this.inc(source.agentEventsLost?.() ?? 0);
      },
    });
    new Counter({
      name: 'membrane_l7_proxy_flows_dropped_total', help: 'L7 flows the proxy dropped because the agent did not take them in time', registers,
      collect() {
        this.reset();
        this.inc(source.l7RecordsDropped?.() ?? 0);
      },
    });
    new Counter({
      name: 'membrane_flow_export_dropped_total',
      help: 'Flows the on-disk flow log (--hubble-export-file-path) dropped: the disk was slower than the flows, or a write failed', registers,
      collect() {
        this.reset();
        this.inc(source.flowExport?.()?.dropped ?? 0);
      },
    });
    new Counter({
      name: 'membrane_flow_export_written_total', help: 'Flows written to the on-disk flow log (--hubble-export-file-path)', registers,
      collect() {
        this.reset();
        this.inc(source.flowExport?.()?.written ?? 0);
      },
    });

    this.regeneration = new Histogram({
      name: 'membrane_endpoint_regeneration_time_stats_seconds',
      help: 'Duration of each regeneration pass over all endpoints (scope "total"), by outcome',
      labelNames: ['scope', 'status'], buckets: REGENERATION_BUCKETS, registers,
    });
    this.api = new Histogram({
      name: 'membrane_agent_api_process_time_seconds', help: 'Duration of processed API calls labeled by path, method and return code',
      labelNames: ['method', 'path', 'return_code'], registers,
    });
  }

  /** A regeneration pass took `seconds`; `ok` false when it threw. */
  observeRegeneration(seconds: number, ok: boolean): void {
    this.regeneration.observe({ scope: 'total', status: ok ? 'success' : 'failure' }, seconds);
  }

  /** An API request finished; `routeTemplate` is the matched route (/v1/endpoints/{id}), undefined when none matched. */
  observeApiRequest(method: string | undefined, routeTemplate: string | undefined, status: number, seconds: number): void {
    this.api.observe(apiRequestLabels(method, routeTemplate, status), seconds);
  }
}

/**
 * `read`, called at most once per tick: the four datapath counters of one
 * scrape are collected in the same tick and share one walk of the kernel's
 * counters, while the next scrape reads afresh.
 */
function oncePerTick<T>(read: () => T): () => T {
  let cached: { value: T } | undefined;
  return () => {
    if (!cached) {
      cached = { value: read() };
      queueMicrotask(() => { cached = undefined; });
    }
    return cached.value;
  };
}

function dropLabels(r: { reason: number; direction: 'ingress' | 'egress' }): { reason: string; direction: string } {
  return { reason: datapathReasonLabel(r.reason), direction: datapathDirectionLabel(r.direction) };
}

/** Sets a counter to absolute totals (prom-client counters only go up, so: reset, then add the total). */
function setTotals<T, L extends string>(counter: Counter<L>, rows: T[], labels: (r: T) => Partial<Record<L, string>>, value: (r: T) => number): void {
  counter.reset();
  for (const r of rows) counter.inc(labels(r), value(r));
}
