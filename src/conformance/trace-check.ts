/**
 * `policy trace` against real traffic: for each connection of the matrix,
 * the verdict the agent's trace gives (the side that drops first, egress
 * first, as the datapath decides) must be what the probe saw, and its drop
 * reason the one the flows of that connection report. Pure.
 *
 * A pod's connection to itself is left out: it never leaves the pod's
 * network namespace (loopback), so no policy sees it, while the trace
 * answers what policy would say of such a packet.
 */
import type { PeerSpec, PolicyTraceRequest, PolicyTraceResponse, TraceVerdict } from '../api/types.js';
import type { Flow } from '../hubble/flow.js';
import { isPod, passes, podKey, type Verdict } from './model.js';
import { connectionKey, formatTables, outcomeMatches, verdictCell, type Connection } from './reachability.js';

/** The connections a trace is compared on: all but a pod's to itself. */
export function tracedConnections(connections: readonly Connection[]): Connection[] {
  return connections.filter((c) => !isPod(c.to) || podKey(c.to) !== podKey(c.from));
}

/** The trace request of one connection: pods by name, world addresses by IP. */
export function traceRequestOf(c: Connection): PolicyTraceRequest {
  const to: PeerSpec = isPod(c.to) ? { pod: { namespace: c.to.ns, name: c.to.name } } : { ip: c.to.world };
  return { from: { pod: { namespace: c.from.ns, name: c.from.name } }, to, port: c.port, protocol: c.proto === 'tcp' ? 'TCP' : 'UDP' };
}

const sideVerdict = (side: TraceVerdict): Verdict =>
  `${side.audited ? 'audit' : 'deny'}-${side.dropReason === 181 ? 181 : 133}` as Verdict;

/** A trace's verdict in the model's terms: the first side (egress, then ingress) that drops, else the first that audits. */
export function traceVerdictOf(t: PolicyTraceResponse): Verdict {
  const sides = [t.egress, t.ingress].filter((s): s is TraceVerdict => s?.verdict === 'denied');
  const drop = sides.find((s) => !s.audited);
  if (drop) return sideVerdict(drop);
  return sides.length > 0 ? sideVerdict(sides[0]!) : 'allow';
}

/** One side's verdict as a reader needs it: the rule or default deny behind it. */
function describeSide(name: string, side: TraceVerdict | undefined): string {
  if (!side) return '';
  const by = side.rule ? ` by ${side.rule.kind} ${side.rule.namespace || '-'}/${side.rule.name} ${side.rule.path}`
    : side.defaultDenyBy ? ` by the default deny of ${side.defaultDenyBy.map((r) => `${r.namespace || '-'}/${r.name}`).join(', ')}` : '';
  return `${name} ${side.verdict}${side.audited ? ' (audited)' : ''}${side.dropReason ? ` ${side.dropReason}` : ''}${by}`;
}

export interface TraceDisagreement extends Connection {
  trace: Verdict;
  /** What the probe saw (observedOutcome). */
  observed: string;
  /** The drop reasons of the connection's DROPPED flows, when they differ from the trace's. */
  flowReasons: number[];
  /** The trace's sides, for the message. */
  detail: string;
}

/**
 * The connections where the trace and real traffic disagree: the trace
 * lets through what the probe saw dropped or the other way round, or the
 * connection's DROPPED flows give another reason than the trace.
 * `traces[i]` answers `connections[i]`; `observed` maps connectionKey to the
 * probe's final outcome.
 */
export function findTraceDisagreements(connections: readonly Connection[], traces: readonly PolicyTraceResponse[],
  observed: ReadonlyMap<string, string>, drops: readonly Flow[], flowsOf: (flows: readonly Flow[], c: Connection) => Flow[]): TraceDisagreement[] {
  const out: TraceDisagreement[] = [];
  connections.forEach((c, i) => {
    const t = traces[i]!;
    const trace = traceVerdictOf(t);
    const seen = observed.get(connectionKey(c)) ?? 'not probed';
    const reasons = [...new Set(flowsOf(drops, c).filter((f) => f.verdict === 'DROPPED').map((f) => f.drop_reason ?? 0))];
    const expectedReason = passes(trace) ? undefined : Number(trace.slice('deny-'.length));
    // The trace's reason must be among the flows' (see dropReasonProblems on stray flows around a case switch).
    const reasonMissing = reasons.length > 0 && !reasons.includes(expectedReason ?? -1);
    if (!outcomeMatches(trace, seen) || (!passes(trace) && reasonMissing)) {
      const detail = [describeSide('egress', t.egress), describeSide('ingress', t.ingress)].filter(Boolean).join('; ');
      out.push({ ...c, trace, observed: seen, flowReasons: reasons, detail });
    }
  });
  return out;
}

/**
 * Tables like the reachability diff: `.`/`a`/`X` where trace and traffic
 * agree; `!A` the trace lets through what traffic saw dropped, `!X` the
 * trace drops what went through, `!R` both drop but the flows give another
 * reason, `!?` the probe saw something else. Then one line per disagreement.
 */
export function formatTraceDisagreements(disagreements: readonly TraceDisagreement[], traceOf: (c: Connection) => Verdict | undefined): string {
  const byCell = new Map(disagreements.map((d) => [connectionKey(d), d]));
  const lines = formatTables(new Set(byCell.keys()), (c) => {
    const d = byCell.get(connectionKey(c));
    if (!d) {
      const v = traceOf(c);
      return v ? verdictCell(v) : '-';
    }
    if (d.observed === 'allow' || d.observed === 'deny') return outcomeMatches(d.trace, d.observed) ? '!R' : passes(d.trace) ? '!A' : '!X';
    return '!?';
  });
  lines.push(...disagreements.map((d) => `  ${connectionKey(d)}: trace ${d.trace}, traffic ${d.observed}` +
    `${d.flowReasons.length > 0 ? `, flows drop with ${d.flowReasons.join(', ')}` : ''} (${d.detail || 'no side decided'})`));
  return lines.join('\n');
}
