/**
 * Reachability tables: what the probes saw against what a case expects, and
 * the diff printed on a mismatch, in the spirit of the Kubernetes e2e
 * suite's reachability tables. Pure.
 */
import {
  ALL_PODS, ALL_WORLD, PORTS, PROTOCOLS, WORLD_PORT, answerOf, passes, peerKey, podKey,
  type Expectation, type Peer, type PodRef, type Port, type Protocol, type Verdict,
} from './model.js';

/** One probe: `from` connected to `to` on `port`/`proto`. */
export interface Connection {
  from: PodRef;
  to: Peer;
  port: Port;
  proto: Protocol;
}

/** What the probe saw: the answering pod's name, or the error (`timeout`, `refused`, ...). */
export interface Observation extends Connection {
  response: string | null;
  error: string | null;
}

export interface Mismatch extends Connection {
  expected: Verdict;
  /** `allow`, `deny` (timed out, as a policy drop does), or what else happened. */
  observed: string;
}

/** The destinations probed on `proto`/`port`: every pod, and on TCP 80 the world addresses too. */
export function destinations(proto: Protocol, port: Port): Peer[] {
  return [...ALL_PODS, ...(proto === 'tcp' && port === WORLD_PORT ? ALL_WORLD : [])];
}

/** Every connection of the full matrix: 9 x 9 pods x ports x protocols, and every pod to the world on TCP 80. */
export function allConnections(): Connection[] {
  const out: Connection[] = [];
  for (const proto of PROTOCOLS) {
    for (const port of PORTS) {
      for (const from of ALL_PODS) for (const to of destinations(proto, port)) out.push({ from, to, port, proto });
    }
  }
  return out;
}

export function connectionKey(c: Connection): string {
  return `${podKey(c.from)} -> ${peerKey(c.to)} ${c.proto}/${c.port}`;
}

/** How an observation reads: allowed only when the target itself answered; a drop is a timeout. */
export function observedOutcome(o: Observation): string {
  if (o.error === null) return o.response === answerOf(o.to) ? 'allow' : `answered by "${o.response}"`;
  return o.error === 'timeout' ? 'deny' : o.error;
}

/** Whether an observed outcome is what a verdict means: through for allow and audit, a timeout for a drop. */
export function outcomeMatches(verdict: Verdict, observed: string): boolean {
  return passes(verdict) ? observed === 'allow' : observed === 'deny';
}

/** The observations that do not match `expect`. */
export function findMismatches(observations: readonly Observation[], expect: Expectation): Mismatch[] {
  const out: Mismatch[] = [];
  for (const o of observations) {
    const expected = expect(o.from, o.to, o.port, o.proto);
    const observed = observedOutcome(o);
    if (!outcomeMatches(expected, observed)) out.push({ from: o.from, to: o.to, port: o.port, proto: o.proto, expected, observed });
  }
  return out;
}

/** How a verdict shows in a table: `.` allowed, `a` passed by audit mode, `X` dropped. */
export const verdictCell = (v: Verdict): string => (v === 'allow' ? '.' : passes(v) ? 'a' : 'X');

/**
 * The matrix as tables, one per protocol and port that has a connection in
 * `marked` (by connectionKey): rows are sources, columns destinations, each
 * cell `cell`'s text for that connection.
 */
export function formatTables(marked: ReadonlySet<string>, cell: (c: Connection) => string): string[] {
  const lines: string[] = [];
  for (const proto of PROTOCOLS) {
    for (const port of PORTS) {
      const columns = destinations(proto, port);
      if (!ALL_PODS.some((from) => columns.some((to) => marked.has(connectionKey({ from, to, port, proto }))))) continue;
      const widths = columns.map((to) => Math.max(4, peerKey(to).length));
      lines.push(`${proto}/${port} (rows: from, columns: to)`);
      lines.push(['     ', ...columns.map((p, i) => peerKey(p).padEnd(widths[i]!))].join(' ').trimEnd());
      for (const from of ALL_PODS) {
        const cells = columns.map((to, i) => cell({ from, to, port, proto }).padEnd(widths[i]!));
        lines.push([podKey(from).padEnd(5), ...cells].join(' ').trimEnd());
      }
    }
  }
  return lines;
}

/**
 * One table per protocol and port that has a mismatch: rows are sources,
 * columns destinations. `.` allowed, `a` passed by audit and `X` denied as
 * expected; `!A` allowed though a deny was expected, `!X` denied though it
 * was expected through, `!?` anything else (refused, wrong answer).
 */
export function formatMismatches(mismatches: readonly Mismatch[], expect: Expectation): string {
  const byCell = new Map(mismatches.map((m) => [connectionKey(m), m]));
  const lines = formatTables(new Set(byCell.keys()), (c) => {
    const m = byCell.get(connectionKey(c));
    if (!m) return verdictCell(expect(c.from, c.to, c.port, c.proto));
    if (m.observed === 'allow') return '!A';
    return m.observed === 'deny' ? '!X' : '!?';
  });
  lines.push(...mismatches.map((m) => `  ${connectionKey(m)}: expected ${m.expected}, observed ${m.observed}`));
  return lines.join('\n');
}
