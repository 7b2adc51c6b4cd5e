/**
 * Attribution against `policy trace`: the policies a verdict flow names as
 * deciding its connection (`*_denied_by` for a drop or an AUDIT verdict,
 * `*_allowed_by` for a forwarded one; for a default-deny drop, the policies
 * that put the endpoint into default deny) must be the ones the trace names
 * for that side of the connection: the rule behind the deciding entry, or,
 * without one, the policies of the default deny. Kind, namespace and name
 * always; the rule path (`spec.ingressDeny[0]`) too when the flow carries
 * one. And a rule-level `log: {value}` must show in `policy_log` of the
 * flows that rule decides, and in no other, once flows carry `policy_log` at
 * all. Pure.
 *
 * Tolerance, as for drop reasons (matrix.ts dropReasonProblems): a side
 * agrees when one of its flows agrees. Around a case switch a late packet
 * of the previous case can be judged, and named, by policies that are gone.
 */
import type { PolicyRef, PolicyTraceResponse, TraceVerdict } from '../api/types.js';
import type { Flow } from '../hubble/flow.js';
import { connectionKey, type Connection } from './reachability.js';

/** A policy named as deciding a verdict; `rule` is the rule's path where the teller knows it. */
export interface DecidingPolicy {
  kind: string;
  namespace: string;
  name: string;
  rule?: string;
}

/** A rule-level `log: {value}` of a case's policy: flows of what that policy's rules decide carry `value` in `policy_log`. */
export interface PolicyLog {
  policy: PolicyRef;
  value: string;
}

type Side = 'egress' | 'ingress';
const FLOW_VERDICTS = { denied: ['DROPPED'], audited: ['AUDIT'], passed: ['FORWARDED', 'REDIRECTED'] } as const;

const refOf = (p: { kind: string; namespace: string; name: string }): DecidingPolicy => ({ kind: p.kind, namespace: p.namespace, name: p.name });

/** What the trace names as deciding one side. */
export function traceDeciders(side: TraceVerdict): DecidingPolicy[] {
  if (side.rule) return [{ ...refOf(side.rule), rule: side.rule.path }];
  if (side.verdict === 'denied') return (side.defaultDenyBy ?? []).map(refOf);
  return [];
}

/**
 * The policies a flow names as deciding, from the field its verdict and
 * direction give. `rule` is read defensively: flows gain it while this check
 * is in use, and until then it is absent.
 */
export function flowDeciders(f: Flow, side: Side): DecidingPolicy[] {
  const denied = f.verdict === 'DROPPED' || f.verdict === 'AUDIT';
  const list = (side === 'egress' ? (denied ? f.egress_denied_by : f.egress_allowed_by) : (denied ? f.ingress_denied_by : f.ingress_allowed_by)) ?? [];
  return list.map((p) => {
    const rule: unknown = (p as unknown as Record<string, unknown>)['rule'];
    return typeof rule === 'string' && rule !== '' ? { ...refOf(p), rule } : refOf(p);
  });
}

/** A flow's `policy_log` values, or undefined when the flow has no such field (flows without rule-level logs). */
export function flowPolicyLog(f: Flow): string[] | undefined {
  const v: unknown = (f as unknown as Record<string, unknown>)['policy_log'];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return typeof v === 'string' ? [v] : undefined;
}

const policyKey = (p: DecidingPolicy): string => `${p.kind} ${p.namespace || '-'}/${p.name}`;

/** A teller's deciders as a reader needs them. */
export function formatDeciders(list: readonly DecidingPolicy[]): string {
  return list.length === 0 ? 'none' : list.map((p) => `${policyKey(p)}${p.rule ? ` ${p.rule}` : ''}`).join(', ');
}

/** Whether a flow's deciders are the trace's: the same policies, and the same rule path wherever both give one. */
export function sameDeciders(flow: readonly DecidingPolicy[], trace: readonly DecidingPolicy[]): boolean {
  if (flow.length !== trace.length) return false;
  const left = [...trace];
  for (const f of flow) {
    const at = left.findIndex((t) => policyKey(t) === policyKey(f) && (f.rule === undefined || t.rule === undefined || f.rule === t.rule));
    if (at < 0) return false;
    left.splice(at, 1);
  }
  return true;
}

export interface AttributionProblem extends Connection {
  side: Side;
  /** What the trace names. */
  trace: DecidingPolicy[];
  /** The log values the side's flows should carry (when flows carry policy_log). */
  logs: string[];
  /** What the side's flows name, each distinct answer once. */
  flows: string[];
}

/** The log values expected on a side the trace attributes to `deciders`: those of the deciding rule's policy. */
function expectedLogs(side: TraceVerdict, logs: readonly PolicyLog[]): string[] {
  if (!side.rule) return [];
  const key = policyKey(refOf(side.rule));
  return logs.filter((l) => policyKey(refOf(l.policy)) === key).map((l) => l.value).sort();
}

/**
 * The connection sides whose verdict flows name other deciding policies (or
 * log values) than the trace. `traces[i]` answers `connections[i]`; `flows`
 * are the verdict flows of the round (DROPPED, AUDIT, and policy-verdict
 * FORWARDED/REDIRECTED ones). A side is compared when it has a flow of the
 * kind the trace's verdict makes (a drop, an AUDIT, a forward); `compared`
 * counts those sides, so that a round with nothing to compare shows.
 */
export function findAttributionProblems(connections: readonly Connection[], traces: readonly PolicyTraceResponse[], flows: readonly Flow[],
  flowsOf: (flows: readonly Flow[], c: Connection) => Flow[], logs: readonly PolicyLog[] = []): { problems: AttributionProblem[]; compared: number } {
  const problems: AttributionProblem[] = [];
  // policy_log is checked once flows carry it at all: before that, no flow has the field.
  const logsLanded = flows.some((f) => flowPolicyLog(f) !== undefined);
  const logValues = new Set(logs.map((l) => l.value));
  let compared = 0;
  connections.forEach((c, i) => {
    const mine = flowsOf(flows, c);
    for (const side of ['egress', 'ingress'] as const) {
      const t = traces[i]?.[side];
      if (!t) continue;
      const kind = t.verdict !== 'denied' ? 'passed' : t.audited ? 'audited' : 'denied';
      const sideFlows = mine.filter((f) => f.traffic_direction === side.toUpperCase() && (FLOW_VERDICTS[kind] as readonly string[]).includes(f.verdict));
      if (sideFlows.length === 0) continue;
      compared++;
      const trace = traceDeciders(t);
      const wantLogs = expectedLogs(t, logs);
      const agrees = (f: Flow) => {
        if (!sameDeciders(flowDeciders(f, side), trace)) return false;
        if (!logsLanded) return true;
        const have = (flowPolicyLog(f) ?? []).filter((v) => logValues.has(v)).sort();
        return have.join('\n') === wantLogs.join('\n');
      };
      if (sideFlows.some(agrees)) continue;
      const seen = [...new Set(sideFlows.map((f) => {
        const log = flowPolicyLog(f);
        return `${f.verdict} ${formatDeciders(flowDeciders(f, side))}${log ? ` log [${log.join(', ')}]` : ''}`;
      }))];
      problems.push({ ...c, side, trace, logs: logsLanded ? wantLogs : [], flows: seen });
    }
  });
  return { problems, compared };
}

/** One line per problem: the connection and side, what the trace names, what the flows name. */
export function formatAttributionProblems(problems: readonly AttributionProblem[]): string {
  return problems.map((p) => `  ${connectionKey(p)} ${p.side}: trace names ${formatDeciders(p.trace)}` +
    `${p.logs.length > 0 ? ` with log [${p.logs.join(', ')}]` : ''}; flows name ${p.flows.join(' | ')}`).join('\n');
}
