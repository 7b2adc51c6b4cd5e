import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CASES } from './cases.js';
import { ALL_PODS, type Namespace, type PodName, type PodRef } from './model.js';
import { dropReasonProblems } from './matrix.js';
import { allConnections, findMismatches, formatMismatches, type Observation } from './reachability.js';
import type { Flow } from '../hubble/flow.js';

const P = (key: string): PodRef => ({ ns: key[0] as Namespace, name: key[2] as PodName });
const byName = (name: string) => {
  const c = CASES.find((x) => x.name.startsWith(name));
  assert.ok(c, `no case named ${name}`);
  return c;
};

describe('conformance cases and their expectation model', () => {
  it('has at least 60 cases with unique names', () => {
    assert.ok(CASES.length >= 60, `${CASES.length} cases`);
    assert.equal(new Set(CASES.map((c) => c.name)).size, CASES.length);
  });

  it('always allows a pod to reach itself (loopback), whatever the policy', () => {
    for (const c of CASES) for (const p of ALL_PODS) assert.equal(c.expect(p, p, 80, 'tcp'), 'allow', c.name);
  });

  it('knp deny-all ingress in x: 133 into x, everything else open', () => {
    const e = byName('knp: deny all ingress in x (podSelector').expect;
    assert.equal(e(P('y/a'), P('x/b'), 80, 'tcp'), 'deny-133');
    assert.equal(e(P('x/a'), P('x/b'), 81, 'udp'), 'deny-133');
    assert.equal(e(P('x/a'), P('y/b'), 80, 'tcp'), 'allow');
  });

  it('knp AND vs OR of namespaceSelector and podSelector', () => {
    const and = byName('knp: namespaceSelector AND podSelector').expect;
    const or = byName('knp: namespaceSelector OR podSelector').expect;
    assert.equal(and(P('y/b'), P('x/a'), 80, 'tcp'), 'allow');
    assert.equal(and(P('y/c'), P('x/a'), 80, 'tcp'), 'deny-133');
    assert.equal(and(P('x/b'), P('x/a'), 80, 'tcp'), 'deny-133');
    assert.equal(or(P('y/c'), P('x/a'), 80, 'tcp'), 'allow');
    assert.equal(or(P('x/b'), P('x/a'), 80, 'tcp'), 'allow');
    assert.equal(or(P('x/c'), P('x/a'), 80, 'tcp'), 'deny-133');
  });

  it('a port without a protocol is TCP in a knp, TCP and UDP in a cnp', () => {
    assert.equal(byName('knp: a port without a protocol').expect(P('y/a'), P('x/a'), 80, 'udp'), 'deny-133');
    assert.equal(byName('cnp: a port without a protocol').expect(P('x/b'), P('x/a'), 80, 'udp'), 'allow');
  });

  it('deny wins over allow (181) only where the deny matches', () => {
    const e = byName('cnp: deny takes precedence').expect;
    assert.equal(e(P('x/b'), P('x/a'), 80, 'tcp'), 'deny-181');
    assert.equal(e(P('x/b'), P('x/a'), 81, 'tcp'), 'allow');
    assert.equal(e(P('x/c'), P('x/a'), 81, 'tcp'), 'deny-133');
  });

  it('reports the egress side first: 133 at egress before a 181 at ingress, and 181 at egress before a 133 at ingress', () => {
    const first = byName('cnp: egress default deny is reported before').expect;
    assert.equal(first(P('x/a'), P('y/a'), 80, 'tcp'), 'deny-133');
    assert.equal(first(P('x/b'), P('y/a'), 80, 'tcp'), 'deny-181');
    const second = byName('cnp: an egress deny rule is reported before').expect;
    assert.equal(second(P('x/a'), P('y/c'), 81, 'udp'), 'deny-181');
    assert.equal(second(P('x/b'), P('y/c'), 81, 'udp'), 'deny-133');
    assert.equal(second(P('z/b'), P('y/c'), 81, 'udp'), 'allow');
  });

  it('enableDefaultDeny false keeps the other peers open while the deny applies', () => {
    const e = byName('cnp: enableDefaultDeny false with a deny rule').expect;
    assert.equal(e(P('x/c'), P('x/a'), 80, 'tcp'), 'deny-181');
    assert.equal(e(P('y/c'), P('x/a'), 80, 'tcp'), 'allow');
    const alone = byName('cnp client-egress-to-cidr-deny-default').expect;
    assert.equal(alone(P('y/c'), P('x/a'), 80, 'tcp'), 'deny-133');
  });
});

describe('reachability comparison', () => {
  const e = byName('knp: deny all ingress in x (podSelector').expect;
  const observe = (wrong: (o: Observation) => boolean): Observation[] => allConnections().map((c) => {
    const allowed = e(c.from, c.to, c.port, c.proto) === 'allow';
    const o: Observation = { ...c, response: `${c.to.ns}/${c.to.name}`, error: null };
    const seen = wrong(o) ? !allowed : allowed;
    return seen ? o : { ...c, response: null, error: 'timeout' };
  });

  it('finds no mismatch when every probe behaves as expected', () => {
    assert.deepEqual(findMismatches(observe(() => false), e), []);
  });

  it('finds and tabulates unexpected allows and denies, and answers from the wrong pod', () => {
    const obs = observe((o) => o.from.ns === 'y' && o.from.name === 'a' && o.to.ns === 'x' && o.to.name === 'b' && o.port === 80 && o.proto === 'tcp');
    obs.push({ from: P('x/a'), to: P('y/b'), port: 81, proto: 'udp', response: 'y/c', error: null });
    const m = findMismatches(obs, e);
    assert.deepEqual(m.map((x) => [x.expected, x.observed]), [['deny-133', 'allow'], ['allow', 'answered by "y/c"']]);
    const table = formatMismatches(m, e);
    assert.match(table, /^tcp\/80 \(rows: from, columns: to\)/m);
    assert.match(table, /^y\/a {3}X {4}!A /m);
    assert.match(table, /y\/a -> x\/b tcp\/80: expected deny-133, observed allow/);
  });

  it('checks drop reasons in flows: a wrong reason fails, a missing reason fails, a lost flow or two does not', () => {
    const flow = (from: string, to: string, reason: number): Flow => ({
      verdict: 'DROPPED', drop_reason: reason, drop_reason_desc: reason === 133 ? 'POLICY_DENIED' : 'POLICY_DENY', traffic_direction: 'INGRESS',
      l4: { TCP: { source_port: 40000, destination_port: 80 } },
      source: { identity: 1, namespace: from[0]!, pod_name: from[2]! }, destination: { identity: 2, namespace: to[0]!, pod_name: to[2]! },
    } as Flow);
    const conns = allConnections();
    assert.deepEqual(dropReasonProblems([flow('y/a', 'x/b', 133)], conns, e, []), []);
    assert.match(dropReasonProblems([flow('y/a', 'x/b', 181)], conns, e, []).join('\n'), /y\/a -> x\/b tcp\/80: expected drop reason 133, flows say 181/);
    assert.match(dropReasonProblems([], conns, e, []).join('\n'), /no DROPPED flow with reason 133/);
  });
});
