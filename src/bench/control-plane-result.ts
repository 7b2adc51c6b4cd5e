/**
 * What the control-plane benchmark measures (src/bench/control-plane.ts),
 * as plain data: the report (control-plane-report.ts) turns it into tables,
 * a method paragraph and chart series. All times in ms.
 */
import type { ProbeCounts } from './control-plane-probe.js';

/** One plugin's sequential calls. `add[i]` was the ADD of pod i, with i of its pods already on the node. */
export interface PluginLatency {
  label: string;
  add: number[];
  del: number[];
  /** CNI VERSION calls: the cost of executing the plugin at all (process start, no work). */
  version: number[];
}

/** One round of `pods` ADDs started at once. */
export interface ConcurrentRun {
  /** From starting every ADD to the last one's exit. */
  addsReturnedMs: number;
  /** From starting every ADD until every pod is ready (membrane: the agent reports every endpoint ready; reference: = addsReturnedMs). */
  readyMs: number;
  /** From starting every DEL at once until the last exited (and, for membrane, the agent lists none of those endpoints). */
  delMs: number;
}

export interface RssPoint {
  endpoints: number;
  /** How the endpoints came to be, e.g. "100 CNI pods + 900 through the API", or "after a restart". */
  how: string;
  /** true: the agent was restarted with these endpoints and measured fresh. */
  afterRestart: boolean;
  /** VmRSS, MiB. */
  mb: number;
  /** The agent's V8 heap in use and reserved at the same moment (its GET /v1/status), MiB; absent when the agent does not report it. */
  heapUsedMb?: number;
  heapTotalMb?: number;
}

export interface RestartRun {
  endpoints: number;
  /** SIGTERM until the agent exited. */
  stopMs: number;
  /** The new agent process spawned until GET /v1/healthz answered. */
  healthzMs: number;
  /** The new agent process spawned until it listed every endpoint ready. */
  restoredMs: number;
  /** Pod-to-pod traffic from SIGTERM until 1.1 s after every endpoint was ready again (runs with the CNI pods only). */
  probe?: ProbeCounts;
}

export interface ControlPlaneResult {
  /** Pods per plugin in the sequential and the concurrent measurements. */
  pods: number;
  /** Sequential calls per plugin before switching to the other. */
  batch: number;
  membrane: PluginLatency;
  reference: PluginLatency;
  /** Debian's containernetworking-plugins version ("" when unknown). */
  referenceVersion: string;
  concurrent: { membrane: ConcurrentRun[]; reference: ConcurrentRun[] };
  rss: RssPoint[];
  restarts: RestartRun[];
  /** The endpoints added through the agent's API to reach the largest size, and how long that took. */
  apiEndpoints: { count: number; ms: number };
  /** Wait between the endpoints being ready and reading RSS. */
  settleMs: number;
  /** CiliumNetworkPolicies in force throughout (each endpoint's policy is part of "ready"). */
  policyRules: number;
  /** Wall time of the whole area, and of each phase. */
  wallMs: number;
  phasesMs: Record<string, number>;
}

/** The goal reported against: agent RSS at 1,000 endpoints. */
export const RSS_GOAL_MB = 150;
