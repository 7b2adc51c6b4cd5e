/**
 * Reachability tables: what the probes saw against what a case expects, and
 * the diff printed on a mismatch, in the spirit of the Kubernetes e2e
 * suite's reachability tables. Pure.
 */
import {
  ALL_PODS, PORTS, PROTOCOLS, podKey, type Expectation, type PodRef, type Port, type Protocol, type Verdict,
} from './model.js';

/** One probe: `from` connected to `to` on `port`/`proto`. */
export interface Connection {
  from: PodRef;
  to: PodRef;
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

/** Every connection of the full matrix: 9 x 9 pods x ports x protocols. */
export function allConnections(): Connection[] {
  const out: Connection[] = [];
  for (const proto of PROTOCOLS) {
    for (const port of PORTS) {
      for (const from of ALL_PODS) for (const to of ALL_PODS) out.push({ from, to, port, proto });
    }
  }
  return out;
}

export function connectionKey(c: Connection): string {
  return `${podKey(c.from)} -> ${podKey(c.to)} ${c.proto}/${c.port}`;
}

/** How an observation reads: allowed only when the target itself answered; a drop is a timeout. */
export function observedOutcome(o: Observation): string {
  if (o.error === null) return o.response === podKey(o.to) ? 'allow' : `answered by "${o.response}"`;
  return o.error === 'timeout' ? 'deny' : o.error;
}

/** The observations that do not match `expect`. */
export function findMismatches(observations: readonly Observation[], expect: Expectation): Mismatch[] {
  const out: Mismatch[] = [];
  for (const o of observations) {
    const expected = expect(o.from, o.to, o.port, o.proto);
    const observed = observedOutcome(o);
    const ok = expected === 'allow' ? observed === 'allow' : observed === 'deny';
    if (!ok) out.push({ from: o.from, to: o.to, port: o.port, proto: o.proto, expected, observed });
  }
  return out;
}

/**
 * One table per protocol and port that has a mismatch: rows are sources,
 * columns destinations. `.` allowed and `X` denied as expected; `!A` allowed
 * though a deny was expected, `!X` denied though an allow was expected, `!?`
 * anything else (refused, wrong answer).
 */
export function formatMismatches(mismatches: readonly Mismatch[], expect: Expectation): string {
  const byCell = new Map(mismatches.map((m) => [connectionKey(m), m]));
  const lines: string[] = [];
  for (const proto of PROTOCOLS) {
    for (const port of PORTS) {
      if (!mismatches.some((m) => m.proto === proto && m.port === port)) continue;
      lines.push(`${proto}/${port} (rows: from, columns: to)`);
      lines.push(['     ', ...ALL_PODS.map((p) => podKey(p).padEnd(4))].join(' '));
      for (const from of ALL_PODS) {
        const cells = ALL_PODS.map((to) => {
          const m = byCell.get(connectionKey({ from, to, port, proto }));
          if (!m) return (expect(from, to, port, proto) === 'allow' ? '.' : 'X').padEnd(4);
          if (m.observed === 'allow') return '!A  ';
          return m.observed === 'deny' ? '!X  ' : '!?  ';
        });
        lines.push([podKey(from).padEnd(5), ...cells].join(' '));
      }
    }
  }
  lines.push(...mismatches.map((m) => `  ${connectionKey(m)}: expected ${m.expected}, observed ${m.observed}`));
  return lines.join('\n');
}
