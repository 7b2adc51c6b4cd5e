/**
 * Wiring: the agent's metrics registry, fed by the agent (read at scrape
 * time), its regeneration passes and its flow pipeline. The API server
 * reports its requests through `observeApiRequest`.
 */
import { Registry } from 'prom-client';
import type { Agent } from '../agent/agent.js';
import { AgentMetrics, type AgentMetricsSource } from './agent-metrics.js';
import { HubbleFlowMetrics } from './flow-metrics.js';
import { HubbleHttpMetrics } from './http-metrics.js';
import { readMapPressure } from './map-pressure.js';

export interface MembraneMetrics {
  readonly registry: Registry;
  readonly agent: AgentMetrics;
  readonly flows: HubbleFlowMetrics;
  /** Hubble's HTTP metrics, from the L7 proxy's flows. */
  readonly http: HubbleHttpMetrics;
  /** The text exposition of every metric, with its content type (for GET /v1/metrics/prometheus). */
  exposition(): Promise<{ contentType: string; text: string }>;
}

export function agentMetricsSource(agent: Agent, log: (m: string) => void): AgentMetricsSource {
  const view = agent.metricsView();
  return {
    datapathCounters: view.datapathCounters,
    endpointStates: view.endpointStates,
    policyRevision: view.policyRevision,
    mapPressure: () => readMapPressure(view.maps(), view.policyEntries(), (map, err) => log(`metrics: counting map ${map} failed: ${(err as Error).message}`)),
    // Kernel ring full, pipeline input queue full, slow follow streams (src/hubble/lost.ts).
    lostEvents: () => agent.flowObserver.lostEvents(),
    // The flow log exists once the agent started; read at scrape time.
    flowExport: () => agent.flowLog?.stats,
    agentEventsLost: () => agent.agentEvents.lostToFollowers,
    l7RecordsDropped: () => agent.l7ProxyStatus().recordsDropped,
  };
}

/** Builds the registry and hooks it to the agent; call once per agent, before or after start(). */
export function createMembraneMetrics(agent: Agent, log: (m: string) => void): MembraneMetrics {
  const registry = new Registry();
  const agentMetrics = new AgentMetrics(registry, agentMetricsSource(agent, log));
  const flows = new HubbleFlowMetrics(registry);
  const http = new HubbleHttpMetrics(registry);
  agent.regenerationListeners.push((seconds, ok) => agentMetrics.observeRegeneration(seconds, ok));
  agent.flowObserver.flowListeners.push((f) => flows.observe(f));
  agent.flowObserver.flowListeners.push((f) => http.observe(f));
  return {
    registry, agent: agentMetrics, flows, http,
    exposition: async () => ({ contentType: registry.contentType, text: await registry.metrics() }),
  };
}
