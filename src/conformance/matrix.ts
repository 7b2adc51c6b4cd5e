/**
 * The conformance matrix harness: one lab with namespaces x, y, z and pods
 * a, b, c in each running `membrane workload serve`, and the lab's simulated
 * world; per case it replaces every policy with the case's, probes the full
 * matrix with real traffic (every pod to every pod, itself included, TCP and
 * UDP 80 and 81; every pod to a few world addresses on TCP 80), checks the
 * drop reasons and AUDIT verdicts the agent's flows report, checks that
 * `policy trace` gives every connection the verdict traffic got, and that
 * the flows name the policies (and rules) the trace names as deciding
 * (attribution.ts). A case with a relabel step runs a second round after
 * the label change and puts the labels back afterwards.
 */
import { AgentClient } from '../api/client.js';
import { MembraneError, errorMessage } from '../common/errors.js';
import type { Flow } from '../hubble/flow.js';
import { EVENT_POLICY_VERDICT } from '../datapath/layout.js';
import { Lab } from '../lab/lab.js';
import { netnsPath } from '../lab/names.js';
import type { PodRecord } from '../lab/state.js';
import { uniqueName } from '../testing/names.js';
import { findAttributionProblems, type AttributionProblem, type PolicyLog } from './attribution.js';
import { describeRelabel, type ConformanceCase, type Relabel } from './case-kit.js';
import { matrixManifest } from './lab-objects.js';
import { PodProber } from './pod-prober.js';
import { isPod, passes, podKey, type Expectation, type PodRef, type Verdict } from './model.js';
import {
  allConnections, connectionKey, findMismatches, observedOutcome, type Connection, type Mismatch, type Observation,
} from './reachability.js';
import { findTraceDisagreements, traceRequestOf, traceVerdictOf, tracedConnections, type TraceDisagreement } from './trace-check.js';

/** How long a probe waits for the answer. A policy drop always waits this long, so it sets the pace of the suite. */
const PROBE_TIMEOUT_MS = 1_000;
/** A connection expected to go through but seen dropped is probed once more, slower, before it counts: a busy 2-core machine can starve a probe. */
const RECHECK_TIMEOUT_MS = 3_000;

const DROP_REASON: Record<'deny-133' | 'deny-181', number> = { 'deny-133': 133, 'deny-181': 181 };

/** What one round of a case found: the whole matrix probed once against one expectation. */
export interface RoundOutcome {
  /** "" for a case's first round; the label change before it for a later one. */
  step: string;
  /** What this round expected. */
  expect: Expectation;
  /** Connections whose reachability differs from the expectation. */
  mismatches: Mismatch[];
  /** Denied connections whose flows show another drop reason, expected reasons no flow showed, missing or stray AUDIT verdicts. */
  reasonProblems: string[];
  /** Connections where `policy trace` and real traffic disagree. */
  traceDisagreements: TraceDisagreement[];
  /** The trace's verdict of every traced connection, by connectionKey (for the disagreement tables). */
  traceVerdicts: Map<string, Verdict>;
  /** Connection sides whose verdict flows name other deciding policies than the trace. */
  attributionProblems: AttributionProblem[];
  /** Set when no connection side had a verdict flow to compare attribution on (so the check did not run). */
  attributionUnchecked?: string;
}

export interface CaseOutcome {
  /** The first round, then the one after the relabel step, if any. */
  rounds: RoundOutcome[];
  durationMs: number;
}

const quiet = { info: () => {}, warn: (line: string) => process.stderr.write(line + '\n') };

/** The flows of one connection among `flows`: a pod destination by name, a world one by address. */
export function flowsOf(flows: readonly Flow[], c: Connection): Flow[] {
  const to = c.to;
  return flows.filter((f) => {
    const l4 = c.proto === 'tcp' ? f.l4?.TCP : f.l4?.UDP;
    return l4 !== undefined && l4.destination_port === c.port
      && f.source.namespace === c.from.ns && f.source.pod_name === c.from.name
      && (isPod(to) ? f.destination.namespace === to.ns && f.destination.pod_name === to.name : f.IP?.destination === to.world);
  });
}

/**
 * Checks drop reasons: every denied connection (that was denied as expected)
 * must have no DROPPED flow with another reason, and each expected reason
 * must show on at least one of its connections (so a lost event or two does
 * not fail a case, but a wrong reason does). Likewise audit mode: at least
 * one connection expected through by audit shows an AUDIT flow, and no
 * connection expected plainly allowed shows one. `flows`: the DROPPED and
 * AUDIT flows of the case.
 */
export function dropReasonProblems(flows: readonly Flow[], connections: readonly Connection[], expect: Expectation,
  mismatches: readonly Mismatch[]): string[] {
  const problems: string[] = [];
  const mismatched = new Set(mismatches.map(connectionKey));
  const drops = flows.filter((f) => f.verdict === 'DROPPED');
  const audits = flows.filter((f) => f.verdict === 'AUDIT');
  const expected = (verdicts: readonly Verdict[]) =>
    connections.filter((c) => !mismatched.has(connectionKey(c)) && verdicts.includes(expect(c.from, c.to, c.port, c.proto)));
  const auditedConnections = expected(['audit-133', 'audit-181']);
  if (auditedConnections.length > 0 && !auditedConnections.some((c) => flowsOf(audits, c).length > 0)) {
    problems.push(`no AUDIT flow for any of the ${auditedConnections.length} connections expected through by audit mode (e.g. ${connectionKey(auditedConnections[0]!)})`);
  }
  for (const c of expected(['allow'])) {
    const stray = flowsOf(audits, c);
    if (stray.length > 0) problems.push(`${connectionKey(c)}: expected plainly allowed, flows say AUDIT (${stray[0]!.traffic_direction})`);
  }
  for (const verdict of ['deny-133', 'deny-181'] as const) {
    const reason = DROP_REASON[verdict];
    const denied = expected([verdict]);
    if (denied.length === 0) continue;
    let seen = false;
    for (const c of denied) {
      const flows = flowsOf(drops, c);
      // A connection's flows must carry the expected reason. Others beside it are tolerated: on a loaded machine a
      // late retransmission of the previous case's probe can still be judged in the moments around the switch.
      const wrong = [...new Set(flows.filter((f) => f.drop_reason !== reason).map((f) => `${f.drop_reason} (${f.drop_reason_desc}, ${f.traffic_direction})`))];
      if (wrong.length > 0 && !flows.some((f) => f.drop_reason === reason)) problems.push(`${connectionKey(c)}: expected drop reason ${reason}, flows say ${wrong.join(', ')}`);
      if (flows.some((f) => f.drop_reason === reason)) seen = true;
    }
    if (!seen) problems.push(`no DROPPED flow with reason ${reason} for any of the ${denied.length} connections expected to be dropped with it (e.g. ${connectionKey(denied[0]!)})`);
  }
  return problems;
}

export class ConformanceMatrix {
  private readonly agent: AgentClient;
  /** One prober per pod, by "ns/pod", running in the pod's network namespace. */
  private readonly probers = new Map<string, PodProber>();

  private constructor(readonly lab: Lab, private readonly records: Map<string, PodRecord>) {
    this.agent = new AgentClient(lab.socket(), 60_000);
  }

  /**
   * Brings up a lab (a unique name unless given) with the 9 pods and waits
   * until every pod answers every other. When a step fails, takes the lab
   * down again and throws that step's error. The caller calls stop().
   */
  static async start(labName = uniqueName('cm')): Promise<ConformanceMatrix> {
    const lab = new Lab(labName, undefined, quiet);
    let matrix: ConformanceMatrix | undefined;
    try {
      await lab.up(1);
      await lab.apply(matrixManifest());
      const records = new Map(lab.state().pods.map((p) => [`${p.namespace}/${p.name}`, p]));
      matrix = new ConformanceMatrix(lab, records);
      for (const [key, record] of records) matrix.probers.set(key, PodProber.start(netnsPath(record.netns), `pod ${key}`));
      await matrix.agent.deleteAllPolicies();
      await matrix.waitAllReachable();
      return matrix;
    } catch (err) {
      await matrix?.closeProbers();
      await lab.down().catch((e: unknown) => quiet.warn(`warning: taking conformance lab ${labName} down failed: ${errorMessage(e)}`));
      throw err;
    }
  }

  /** Tears the lab down. Never throws for a lab that is already gone. */
  async stop(): Promise<void> {
    await this.closeProbers();
    await this.lab.down();
  }

  private async closeProbers(): Promise<void> {
    await Promise.all([...this.probers.values()].map((p) => p.close()));
  }

  /** Until the servers listen, probes fail: retry the open matrix for a while. */
  private async waitAllReachable(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const allow: Expectation = () => 'allow';
    for (;;) {
      const mismatches = findMismatches(await this.probe(allConnections(), PROBE_TIMEOUT_MS), allow);
      if (mismatches.length === 0) return;
      if (Date.now() > deadline) {
        throw new MembraneError('EEXEC', `conformance lab ${this.lab.name}: pods still not all reachable without policies after ${timeoutMs / 1000} s; e.g. ${connectionKey(mismatches[0]!)}: ${mismatches[0]!.observed}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /**
   * Runs one case: replaces every policy with the case's, probes the matrix
   * while tracing every connection in one batch, checks reachability, drop
   * reasons, the trace against traffic and the flows' attribution against
   * the trace; for a case with a relabel step, changes the labels and does
   * it all again, then puts the labels back (also when a round throws).
   */
  async run(c: ConformanceCase): Promise<CaseOutcome> {
    const start = Date.now();
    await this.agent.deleteAllPolicies();
    if (c.policies.trim()) await this.agent.importPolicies({ text: c.policies });
    const rounds = [await this.round('', c.expect, c.logs ?? [])];
    if (c.then) {
      const restore = this.restoreArgs(c.then.relabel);
      await this.lab.label(c.then.relabel.target, Object.entries(c.then.relabel.set).map(([k, v]) => `${k}=${v}`), { overwrite: true });
      try {
        rounds.push(await this.round(describeRelabel(c.then.relabel), c.then.expect, c.logs ?? []));
      } finally {
        await this.lab.label(c.then.relabel.target, restore, { overwrite: true });
      }
    }
    return { rounds, durationMs: Date.now() - start };
  }

  /** The `lab label` arguments that put back what `r` changes: old values again, labels it added removed. */
  private restoreArgs(r: Relabel): string[] {
    const state = this.lab.state();
    const before = r.target.startsWith('ns/')
      ? state.namespaces.find((n) => n.name === r.target.slice(3))?.labels
      : state.pods.find((p) => `${p.namespace}/${p.name}` === r.target)?.labels;
    if (!before) throw new MembraneError('ENOTFOUND', `conformance lab ${this.lab.name} has no ${r.target} to relabel`);
    return Object.keys(r.set).map((k) => (before[k] !== undefined ? `${k}=${before[k]}` : `${k}-`));
  }

  /** One round: the whole matrix probed and traced against `expect`, with every check. */
  private async round(step: string, expect: Expectation, logs: readonly PolicyLog[]): Promise<RoundOutcome> {
    const since = new Date(Date.now() - 20).toISOString();
    const connections = allConnections();
    const traced = tracedConnections(connections);
    const [observations, traces] = await Promise.all([
      this.probe(connections, PROBE_TIMEOUT_MS),
      this.agent.tracePolicies(traced.map(traceRequestOf)),
    ]);
    const latest = new Map(observations.map((o) => [connectionKey(o), o]));
    const traceVerdicts = new Map(traced.map((t, i) => [connectionKey(t), traceVerdictOf(traces[i]!)]));
    // Seen dropped though the expectation or the trace lets it through: probe once more, slower, before it counts
    // (a busy 2-core machine can starve a probe).
    const recheck = observations.filter((o) => observedOutcome(o) === 'deny'
      && (passes(expect(o.from, o.to, o.port, o.proto)) || passes(traceVerdicts.get(connectionKey(o)) ?? 'deny-133')));
    if (recheck.length > 0) for (const o of await this.probe(recheck, RECHECK_TIMEOUT_MS)) latest.set(connectionKey(o), o);
    const mismatches = findMismatches([...latest.values()], expect);
    const observed = new Map([...latest].map(([key, o]) => [key, observedOutcome(o)]));
    const flows = await this.verdictFlows(since);
    const attribution = findAttributionProblems(traced, traces, flows, flowsOf, logs);
    return {
      step,
      expect,
      mismatches,
      reasonProblems: dropReasonProblems(flows, connections, expect, mismatches),
      traceDisagreements: findTraceDisagreements(traced, traces, observed, flows, flowsOf),
      traceVerdicts,
      attributionProblems: attribution.problems,
      ...(attribution.compared === 0 ? { attributionUnchecked: `none of the ${traced.length} traced connections had a verdict flow to compare attribution on` } : {}),
    };
  }

  /** The DROPPED and AUDIT flows since `since`, and the policy verdicts of what passed (for attribution). */
  private async verdictFlows(since: string): Promise<Flow[]> {
    const flows: Flow[] = [];
    const whitelist = encodeURIComponent(JSON.stringify([
      { verdict: ['DROPPED', 'AUDIT'] },
      { verdict: ['FORWARDED', 'REDIRECTED'], event_type: [{ type: EVENT_POLICY_VERDICT }] },
    ]));
    await this.agent.stream(`/v1/flows?number=0&since=${encodeURIComponent(since)}&whitelist=${whitelist}`, (f) => flows.push(f as Flow));
    return flows;
  }

  private record(p: PodRef): PodRecord {
    const r = this.records.get(podKey(p));
    if (!r) throw new MembraneError('ENOTFOUND', `conformance lab ${this.lab.name} has no pod ${podKey(p)}`);
    return r;
  }

  /** Probes `connections`: one request per source pod and protocol to that pod's prober, all at once. */
  private async probe(connections: readonly Connection[], timeoutMs: number): Promise<Observation[]> {
    const groups = new Map<string, Connection[]>();
    for (const c of connections) {
      const key = `${podKey(c.from)} ${c.proto}`;
      groups.set(key, [...(groups.get(key) ?? []), c]);
    }
    const results = await Promise.all([...groups.values()].map((group) => this.probeFrom(group, timeoutMs)));
    return results.flat();
  }

  /** One probe request in the source pod for `group` (same source, same protocol). */
  private async probeFrom(group: readonly Connection[], timeoutMs: number): Promise<Observation[]> {
    const { from, proto } = group[0]!;
    const prober = this.probers.get(podKey(from));
    if (!prober) throw new MembraneError('ENOTFOUND', `conformance lab ${this.lab.name} has no prober in pod ${podKey(from)}`);
    const targets = group.map((c) => `${isPod(c.to) ? this.record(c.to).ip : c.to.world}:${c.port}`);
    const results = await prober.probe(proto, timeoutMs, targets);
    return group.map((c, i) => ({ ...c, response: results[i]!.response, error: results[i]!.error }));
  }
}

/** The matrix size, for messages: 9 pods x 9 pods x 2 ports x 2 protocols, and 9 pods x the world's addresses. */
export const MATRIX_SIZE = allConnections().length;
