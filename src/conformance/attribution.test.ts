import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PolicyTraceResponse, TraceVerdict } from '../api/types.js';
import type { Flow, FlowPolicy } from '../hubble/flow.js';
import { findAttributionProblems, formatAttributionProblems, sameDeciders, traceDeciders } from './attribution.js';
import { flowsOf } from './matrix.js';
import type { Namespace, PodName, PodRef } from './model.js';
import type { Connection } from './reachability.js';

const P = (key: string): PodRef => ({ ns: key[0] as Namespace, name: key[2] as PodName });
const conn: Connection = { from: P('x/b'), to: P('x/a'), port: 80, proto: 'tcp' };
const DENY = { kind: 'CiliumNetworkPolicy' as const, namespace: 'x', name: 'deny-b' };
const OPEN = { kind: 'NetworkPolicy' as const, namespace: 'x', name: 'open' };

const side = (verdict: TraceVerdict['verdict'], extra: Partial<TraceVerdict> = {}): TraceVerdict => ({ verdict, matchType: 'all', enforcing: true, ...extra });
const trace = (ingress: TraceVerdict, egress?: TraceVerdict): PolicyTraceResponse => ({
  from: { identity: 1000, labels: [] }, to: { identity: 1001, labels: [] }, ingress, ...(egress ? { egress } : {}), verdict: 'allowed',
});
const policy = (ref: { kind: string; namespace: string; name: string }, rule?: string): FlowPolicy =>
  ({ ...ref, labels: [], revision: 1, ...(rule ? { rule } : {}) } as FlowPolicy);
const flow = (verdict: Flow['verdict'], fields: Partial<Flow> & { policy_log?: string[] }, direction: Flow['traffic_direction'] = 'INGRESS'): Flow => ({
  verdict, traffic_direction: direction, l4: { TCP: { source_port: 40000, destination_port: 80 } },
  source: { identity: 1000, namespace: 'x', pod_name: 'b' }, destination: { identity: 1001, namespace: 'x', pod_name: 'a' }, ...fields,
} as Flow);

describe('attribution of verdict flows against policy trace', () => {
  it('reads the trace\'s deciders: the rule, else for a drop the default deny\'s policies, else none', () => {
    assert.deepEqual(traceDeciders(side('denied', { dropReason: 181, rule: { ...DENY, path: 'spec.ingressDeny[0]' } })),
      [{ ...DENY, rule: 'spec.ingressDeny[0]' }]);
    assert.deepEqual(traceDeciders(side('denied', { dropReason: 133, defaultDenyBy: [OPEN, DENY] })), [OPEN, DENY]);
    assert.deepEqual(traceDeciders(side('allowed', { defaultDenyBy: [OPEN] })), []);
    assert.deepEqual(traceDeciders(side('not enforced', { enforcing: false })), []);
  });

  it('compares rule paths only where both sides give one', () => {
    assert.equal(sameDeciders([DENY], [{ ...DENY, rule: 'spec.ingressDeny[0]' }]), true);
    assert.equal(sameDeciders([{ ...DENY, rule: 'spec.ingressDeny[0]' }], [{ ...DENY, rule: 'spec.ingressDeny[0]' }]), true);
    assert.equal(sameDeciders([{ ...DENY, rule: 'spec.ingressDeny[1]' }], [{ ...DENY, rule: 'spec.ingressDeny[0]' }]), false);
    assert.equal(sameDeciders([OPEN], [DENY]), false);
    assert.equal(sameDeciders([OPEN, DENY], [DENY, OPEN]), true);
    assert.equal(sameDeciders([], [OPEN]), false);
  });

  it('takes a drop\'s denied_by, a forward\'s allowed_by, and tolerates a stray flow beside an agreeing one', () => {
    const t = trace(side('denied', { dropReason: 181, rule: { ...DENY, path: 'spec.ingressDeny[0]' } }));
    const right = flow('DROPPED', { ingress_denied_by: [policy(DENY, 'spec.ingressDeny[0]')] });
    const stray = flow('DROPPED', { ingress_denied_by: [policy(OPEN)] });
    assert.deepEqual(findAttributionProblems([conn], [t], [right, stray], flowsOf), { problems: [], compared: 1 });
    const { problems } = findAttributionProblems([conn], [t], [stray, flow('DROPPED', { ingress_denied_by: [policy(DENY, 'spec.ingressDeny[1]')] })], flowsOf);
    assert.equal(problems.length, 1);
    assert.match(formatAttributionProblems(problems),
      /x\/b -> x\/a tcp\/80 ingress: trace names CiliumNetworkPolicy x\/deny-b spec.ingressDeny\[0\]; flows name DROPPED NetworkPolicy x\/open \| DROPPED CiliumNetworkPolicy x\/deny-b spec.ingressDeny\[1\]/);
  });

  it('compares each side with the flows of its direction and verdict kind only', () => {
    const t = trace(side('allowed', { rule: { ...OPEN, path: 'spec.ingress[0]' } }), side('not enforced', { enforcing: false }));
    const ingressOk = flow('FORWARDED', { ingress_allowed_by: [policy(OPEN)] });
    const egressOk = flow('FORWARDED', {}, 'EGRESS');
    assert.deepEqual(findAttributionProblems([conn], [t], [ingressOk, egressOk], flowsOf), { problems: [], compared: 2 });
    // A forward with no policy where the trace names a rule is a mismatch; a drop flow there is the trace check's business.
    const { problems, compared } = findAttributionProblems([conn], [t], [flow('FORWARDED', {}), flow('DROPPED', { drop_reason: 133 })], flowsOf);
    assert.equal(compared, 1);
    assert.deepEqual(problems.map((p) => p.side), ['ingress']);
  });

  it('checks policy_log once flows carry it: the logging rule\'s flows carry its value, others do not', () => {
    const logs = [{ policy: OPEN, value: 'x-to-a' }];
    const t = trace(side('allowed', { rule: { ...OPEN, path: 'spec.ingress[0]' } }));
    const without = flow('FORWARDED', { ingress_allowed_by: [policy(OPEN)] });
    assert.equal(findAttributionProblems([conn], [t], [without], flowsOf, logs).problems.length, 0, 'flows without policy_log: not landed yet');
    assert.equal(findAttributionProblems([conn], [t], [flow('FORWARDED', { ingress_allowed_by: [policy(OPEN)], policy_log: ['x-to-a'] })], flowsOf, logs).problems.length, 0);
    const missing = findAttributionProblems([conn], [t], [flow('FORWARDED', { ingress_allowed_by: [policy(OPEN)], policy_log: [] })], flowsOf, logs).problems;
    assert.match(formatAttributionProblems(missing), /with log \[x-to-a\]; flows name FORWARDED NetworkPolicy x\/open log \[\]/);
    const dropped = trace(side('denied', { dropReason: 133, defaultDenyBy: [OPEN] }));
    assert.equal(findAttributionProblems([conn], [dropped], [flow('DROPPED', { ingress_denied_by: [policy(OPEN)], policy_log: ['x-to-a'] })], flowsOf, logs).problems.length, 1,
      'a default-deny drop is decided by no rule: it carries no log');
  });
});
