import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeRelabel } from './case-kit.js';
import { CASES } from './cases.js';
import { matrixManifest } from './lab-objects.js';
import {
  ALL_PODS, WORLD_ANSWER, WORLD_TARGETS, answerOf, cidr, ipBlock, isPod, passes,
  type Namespace, type PodName, type PodRef, type WorldAddress, type WorldRef,
} from './model.js';
import { dropReasonProblems, flowsOf } from './matrix.js';
import { allConnections, connectionKey, findMismatches, formatMismatches, type Connection, type Observation } from './reachability.js';
import { findTraceDisagreements, formatTraceDisagreements, traceRequestOf, traceVerdictOf, tracedConnections } from './trace-check.js';
import type { PolicyTraceResponse, TraceVerdict } from '../api/types.js';
import type { Flow } from '../hubble/flow.js';
import { WORLD_ADDRESSES as LAB_WORLD_ADDRESSES, WORLD_NAME } from '../lab/world.js';

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
    const o: Observation = { ...c, response: answerOf(c.to), error: null };
    const seen = wrong(o) ? !allowed : allowed;
    return seen ? o : { ...c, response: null, error: 'timeout' };
  });

  it('finds no mismatch when every probe behaves as expected', () => {
    assert.deepEqual(findMismatches(observe(() => false), e), []);
  });

  it('finds and tabulates unexpected allows and denies, and answers from the wrong pod', () => {
    const obs = observe((o) => o.from.ns === 'y' && o.from.name === 'a' && isPod(o.to) && o.to.ns === 'x' && o.to.name === 'b' && o.port === 80 && o.proto === 'tcp');
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

describe('the world, CIDR peers, ipBlocks and audit mode in the model', () => {
  const W = (world: WorldAddress): WorldRef => ({ world });

  it('probes world addresses the lab\'s world answers on, with the name it answers', () => {
    for (const a of WORLD_TARGETS) assert.ok(LAB_WORLD_ADDRESSES.includes(a), a);
    assert.equal(WORLD_ANSWER, WORLD_NAME);
    assert.equal(allConnections().length, 324 + 9 * WORLD_TARGETS.length);
  });

  it('a CIDR peer selects world addresses in the block and out of its excepts, never a pod', () => {
    const sel = cidr('198.51.100.0/24', '198.51.100.200/32');
    assert.deepEqual(WORLD_TARGETS.map((a) => sel(W(a))), [true, true, false, false]);
    assert.equal(cidr('0.0.0.0/0')(P('x/a')), false);
  });

  it('an ipBlock selects pods by IP when it holds the pod range, and refuses to guess one that holds part of it', () => {
    assert.equal(ipBlock('0.0.0.0/0')(P('x/a')), true);
    assert.equal(ipBlock('0.0.0.0/0', '10.244.0.0/16')(P('x/a')), false);
    assert.equal(ipBlock('0.0.0.0/0', '10.244.0.0/16')(W('203.0.113.10')), true);
    assert.equal(ipBlock('198.51.100.0/24')(P('x/a')), false);
    assert.throws(() => ipBlock('10.244.1.0/24'), /part of the pod range/);
  });

  it('expects the world through egress only, and entity cluster not to reach it', () => {
    const e = byName('cnp cluster-entity').expect;
    assert.equal(e(P('x/a'), W('198.51.100.10'), 80, 'tcp'), 'deny-133');
    assert.equal(e(P('y/a'), W('198.51.100.10'), 80, 'tcp'), 'allow');
    assert.equal(byName('knp: deny all ingress in x (podSelector').expect(P('x/a'), W('198.51.100.10'), 80, 'tcp'), 'allow');
  });

  it('audit mode passes what only audited policies drop, and never what an enforced one drops', () => {
    const open = byName('audit: an audited ingress default deny').expect;
    assert.equal(open(P('y/a'), P('x/a'), 80, 'tcp'), 'audit-133');
    assert.equal(open(P('x/b'), P('x/a'), 80, 'tcp'), 'allow');
    const both = byName('audit: an audited deny does not open').expect;
    assert.equal(both(P('x/a'), P('z/a'), 80, 'tcp'), 'deny-133');
    assert.equal(both(P('x/a'), P('y/a'), 80, 'tcp'), 'audit-181');
    assert.equal(passes('audit-181'), true);
    assert.equal(passes('deny-181'), false);
  });
});

describe('policy trace against traffic', () => {
  const side = (verdict: TraceVerdict['verdict'], extra: Partial<TraceVerdict> = {}): TraceVerdict => ({ verdict, matchType: 'all', enforcing: true, ...extra });
  const response = (egress?: TraceVerdict, ingress?: TraceVerdict): PolicyTraceResponse => ({
    from: { identity: 1000, labels: [] }, to: { identity: 1001, labels: [] }, ...(egress ? { egress } : {}), ...(ingress ? { ingress } : {}),
    verdict: 'allowed',
  });

  it('reads the first dropping side, egress first, then the first auditing one', () => {
    assert.equal(traceVerdictOf(response(side('allowed'), side('not enforced'))), 'allow');
    assert.equal(traceVerdictOf(response(side('denied', { dropReason: 133 }), side('denied', { dropReason: 181 }))), 'deny-133');
    assert.equal(traceVerdictOf(response(side('denied', { dropReason: 181, audited: true }), side('denied', { dropReason: 133 }))), 'deny-133');
    assert.equal(traceVerdictOf(response(side('denied', { dropReason: 181, audited: true }), side('allowed'))), 'audit-181');
    assert.equal(traceVerdictOf(response(side('denied', { dropReason: 181 }))), 'deny-181');
  });

  it('asks for pods by name and the world by address, leaving out a pod\'s connection to itself', () => {
    const conns = allConnections();
    const traced = tracedConnections(conns);
    assert.equal(traced.length, conns.length - 9 * 4);
    assert.deepEqual(traceRequestOf({ from: P('x/a'), to: { world: '203.0.113.10' }, port: 80, proto: 'tcp' }),
      { from: { pod: { namespace: 'x', name: 'a' } }, to: { ip: '203.0.113.10' }, port: 80, protocol: 'TCP' });
  });

  it('finds and tabulates where trace and traffic disagree, and a drop reason the flows contradict', () => {
    const a: Connection = { from: P('y/a'), to: P('x/b'), port: 80, proto: 'tcp' };
    const b: Connection = { from: P('x/a'), to: { world: '198.51.100.10' }, port: 80, proto: 'tcp' };
    const c: Connection = { from: P('x/c'), to: P('x/b'), port: 81, proto: 'udp' };
    const traces = [response(side('allowed')), response(side('denied', { dropReason: 133, defaultDenyBy: [{ kind: 'NetworkPolicy', namespace: 'x', name: 'n' }] })),
      response(undefined, side('denied', { dropReason: 133 }))];
    const observed = new Map([[connectionKey(a), 'deny'], [connectionKey(b), 'deny'], [connectionKey(c), 'deny']]);
    const drop = { verdict: 'DROPPED', drop_reason: 181, l4: { UDP: { source_port: 4000, destination_port: 81 } },
      source: { namespace: 'x', pod_name: 'c' }, destination: { namespace: 'x', pod_name: 'b' } } as unknown as Flow;
    const found = findTraceDisagreements([a, b, c], traces, observed, [drop], flowsOf);
    assert.deepEqual(found.map((d) => [connectionKey(d), d.trace, d.observed, d.flowReasons]),
      [[connectionKey(a), 'allow', 'deny', []], [connectionKey(c), 'deny-133', 'deny', [181]]]);
    const table = formatTraceDisagreements(found, () => 'deny-133');
    assert.match(table, /^y\/a {3}X {4}!A /m);
    assert.match(table, /x\/c -> x\/b udp\/81: trace deny-133, traffic deny, flows drop with 181 \(ingress denied 133\)/);
  });
});

describe('service accounts, label sources, services and relabel steps in the model', () => {
  it('runs pods a and b as front and c as default, in the lab manifest as in the model', () => {
    const manifest = matrixManifest();
    assert.equal((manifest.match(/serviceAccountName: front/g) ?? []).length, 6);
    assert.doesNotMatch(manifest, /serviceAccountName: default/);
    const e = byName('ccnp client-with-service-account-egress-to-echo-deny').expect;
    assert.equal(e(P('y/a'), P('z/c'), 81, 'tcp'), 'deny-181');
    assert.equal(e(P('y/a'), P('z/c'), 80, 'tcp'), 'allow');
    assert.equal(e(P('y/c'), P('z/c'), 81, 'tcp'), 'allow');
  });

  it('lets toServices reach the backends of the services it names or selects, in any namespace from a cluster-wide policy', () => {
    const e = byName('ccnp: toServices k8sServiceSelector without a namespace').expect;
    assert.equal(e(P('z/a'), P('y/b'), 81, 'udp'), 'allow');
    assert.equal(e(P('z/a'), { world: '198.51.100.10' }, 80, 'tcp'), 'allow');
    assert.equal(e(P('z/a'), { world: '198.51.100.11' }, 80, 'tcp'), 'deny-133');
    assert.equal(e(P('z/a'), P('y/c'), 80, 'tcp'), 'deny-133');
    assert.match(matrixManifest(), /name: back, namespace: y, labels: \{tier: back\}/);
  });

  it('expects a relabel step\'s second round from its own rules', () => {
    const c = byName('relabel: a namespace that gains a label');
    assert.ok(c.then);
    assert.equal(c.expect(P('z/a'), P('x/a'), 80, 'tcp'), 'deny-133');
    assert.equal(c.then.expect(P('z/a'), P('x/a'), 80, 'tcp'), 'allow');
    assert.equal(c.expect(P('y/c'), P('z/b'), 80, 'tcp'), 'allow');
    assert.equal(c.then.expect(P('y/c'), P('z/b'), 80, 'tcp'), 'deny-181');
    assert.equal(describeRelabel(c.then.relabel), 'relabel namespace z team=blue');
  });

  it('resolves the egress named port at the destination: only y names TCP 81 "web"', () => {
    const e = byName('cnp: an egress named port resolves at the destination').expect;
    assert.equal(e(P('x/a'), P('y/c'), 81, 'tcp'), 'allow');
    assert.equal(e(P('x/a'), P('y/c'), 80, 'tcp'), 'deny-133');
    assert.equal(e(P('x/a'), P('z/c'), 81, 'tcp'), 'deny-133');
    assert.match(matrixManifest(), /namespace: y, labels: \{pod: a\}\}[\s\S]*?- \{name: web, containerPort: 81, protocol: TCP\}/);
  });
});
