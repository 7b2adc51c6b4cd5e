import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MembraneError, ValidationError } from '../common/errors.js';
import { IdentityAllocator } from '../identity/allocator.js';
import { PolicyEngine } from './policy-engine.js';
import { podIdentityLabels } from './labels.js';
import { labelsOfPeer, tracePolicy, type TraceContext, type TraceEndpoint } from './trace.js';
import { validateTraceRequest } from './trace-request.js';
import type { PolicyTraceRequest } from '../api/types.js';

const ok = { from: { pod: { namespace: 'default', name: 'web' } }, to: { ip: '10.0.0.1' }, port: 80, protocol: 'TCP' };

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ValidationError, `a ValidationError, got ${String(err)}`);
    return err.path;
  }
  assert.fail('expected a ValidationError');
}

describe('validateTraceRequest', () => {
  it('accepts pods, addresses and label sets, and upper-cases the protocol', () => {
    assert.deepEqual(validateTraceRequest({ ...ok, protocol: 'udp' }), { ...ok, protocol: 'UDP' });
    const labels = { ...ok, to: { labels: ['k8s:app=db', 'tier=back'] } };
    assert.deepEqual(validateTraceRequest(labels), labels);
    assert.deepEqual(validateTraceRequest({ ...ok, to: { labels: ['reserved:world'] } }).to, { labels: ['reserved:world'] });
  });

  it('names the field of a bad peer', () => {
    assert.equal(fieldOf(() => validateTraceRequest({ ...ok, from: undefined })), 'from');
    assert.equal(fieldOf(() => validateTraceRequest({ ...ok, from: { ip: '10.0.0.1', labels: ['a=b'] } })), 'from');
    assert.equal(fieldOf(() => validateTraceRequest({ ...ok, from: { pod: { namespace: 'Default', name: 'web' } } })), 'from.pod.namespace');
    assert.equal(fieldOf(() => validateTraceRequest({ ...ok, from: { pod: { namespace: 'default', name: 'a/b' } } })), 'from.pod.name');
    assert.equal(fieldOf(() => validateTraceRequest({ ...ok, from: { pod: 'default/web' } })), 'from.pod');
    assert.equal(fieldOf(() => validateTraceRequest({ ...ok, to: { ip: '10.0.0.300' } })), 'to.ip');
    assert.equal(fieldOf(() => validateTraceRequest({ ...ok, to: { labels: [] } })), 'to.labels');
    assert.equal(fieldOf(() => validateTraceRequest({ ...ok, to: { labels: ['app=x', '=y'] } })), 'to.labels[1]');
    assert.equal(fieldOf(() => validateTraceRequest({ ...ok, to: { labels: ['cidr:10.0.0.0/8'] } })), 'to.labels[0]');
    assert.equal(fieldOf(() => validateTraceRequest({ ...ok, to: { labels: ['reserved:nothing'] } })), 'to.labels[0]');
    assert.equal(fieldOf(() => validateTraceRequest({ ...ok, to: { labels: ['reserved:unknown'] } })), 'to.labels[0]');
    assert.equal(fieldOf(() => validateTraceRequest({ ...ok, to: { labels: ['reserved:world', 'app=x'] } })), 'to.labels');
  });

  it('names the port or protocol when they do not fit together', () => {
    assert.equal(fieldOf(() => validateTraceRequest({ ...ok, protocol: 'HTTP' })), 'protocol');
    assert.equal(fieldOf(() => validateTraceRequest({ ...ok, port: 0 })), 'port');
    assert.equal(fieldOf(() => validateTraceRequest({ ...ok, port: 65536 })), 'port');
    assert.equal(fieldOf(() => validateTraceRequest({ ...ok, port: '80' })), 'port');
    assert.equal(fieldOf(() => validateTraceRequest({ ...ok, protocol: 'ICMP', port: 256 })), 'port');
    assert.equal(validateTraceRequest({ ...ok, protocol: 'icmp', port: 0 }).port, 0, 'ICMP type 0 (echo reply) is a type');
    assert.equal(fieldOf(() => validateTraceRequest([ok])), '');
  });
});

const POLICIES = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-from-friend}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: friend}}]
    toPorts: [{ports: [{port: "80", protocol: TCP}]}]
  ingressDeny:
  - fromEndpoints: [{matchLabels: {app: friend}}]
    toPorts: [{ports: [{port: "81", protocol: TCP}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: friend-egress}
spec:
  endpointSelector: {matchLabels: {app: friend}}
  egress:
  - toEndpoints: [{matchLabels: {app: web}}]
`;

/** A node with the endpoints web (1) and friend (2), and the policies above, without a kernel. */
function fixture() {
  const identities = new IdentityAllocator();
  const policy = new PolicyEngine('default', undefined, () => {});
  policy.import(POLICIES, 'default');
  const labels = (app: string) => podIdentityLabels({
    namespace: 'default', podLabels: { app }, namespaceLabels: undefined, serviceAccount: undefined, clusterName: 'default',
  });
  const endpoint = (id: number, app: string, ipv4: string): TraceEndpoint =>
    ({ id, ipv4, podNamespace: 'default', podName: app, identity: identities.acquire(labels(app)).identity.id, containerPorts: [] });
  const endpoints = [endpoint(1, 'web', '10.244.0.10'), endpoint(2, 'friend', '10.244.0.11')];
  const ctx: TraceContext = {
    endpoints, policy, clusterName: 'default',
    get identities() { return identities.list(); },
    identityOfLabels: (l) => identities.lookupByLabels(l),
    ipcacheIdentity: () => 2,
    namespaceLabels: (ns) => ({ 'kubernetes.io/metadata.name': ns }),
  };
  const trace = (from: PolicyTraceRequest['from'], to: PolicyTraceRequest['to'], port: number, protocol: PolicyTraceRequest['protocol'] = 'TCP') =>
    tracePolicy({ from, to, port, protocol }, ctx);
  return { ctx, identities, trace, web: endpoints[0]!, friend: endpoints[1]! };
}

const pod = (name: string) => ({ pod: { namespace: 'default', name } });

describe('tracePolicy', () => {
  it('allows a port the ingress rule names, with the rule of each direction', () => {
    const { trace, friend } = fixture();
    const res = trace(pod('friend'), pod('web'), 80);
    assert.equal(res.verdict, 'allowed');
    assert.equal(res.from.identity, friend.identity);
    assert.deepEqual(res.to.endpoint, { id: 1, ipv4: '10.244.0.10', podNamespace: 'default', podName: 'web' });
    assert.ok(res.to.labels.includes('k8s:app=web'));
    assert.deepEqual(res.egress, {
      verdict: 'allowed', matchType: 'L3-Only', enforcing: true,
      rule: { kind: 'CiliumNetworkPolicy', namespace: 'default', name: 'friend-egress', path: 'spec.egress[0]' },
      defaultDenyBy: [{ kind: 'CiliumNetworkPolicy', namespace: 'default', name: 'friend-egress' }],
    });
    assert.equal(res.ingress?.verdict, 'allowed');
    assert.equal(res.ingress?.matchType, 'L3-L4');
    assert.equal(res.ingress?.rule?.path, 'spec.ingress[0]');
  });

  it('denies a port of a deny rule with 181 and its rule, and any other port by default deny with 133', () => {
    const { trace } = fixture();
    const deny = trace(pod('friend'), pod('web'), 81);
    assert.equal(deny.verdict, 'denied');
    assert.equal(deny.ingress?.verdict, 'denied');
    assert.equal(deny.ingress?.dropReason, 181);
    assert.equal(deny.ingress?.rule?.path, 'spec.ingressDeny[0]');
    const other = trace(pod('friend'), pod('web'), 82);
    assert.equal(other.ingress?.verdict, 'denied');
    assert.equal(other.ingress?.dropReason, 133);
    assert.equal(other.ingress?.matchType, 'none');
    assert.equal(other.ingress?.rule, undefined);
    assert.deepEqual(other.ingress?.defaultDenyBy?.map((r) => r.name), ['web-from-friend']);
    assert.equal(other.egress?.verdict, 'allowed', 'the egress side allows it; the final verdict is still denied');
    assert.equal(other.verdict, 'denied');
  });

  it('says "not enforced" for a direction no policy puts into default deny', () => {
    const { trace } = fixture();
    const res = trace(pod('web'), pod('friend'), 80);
    assert.deepEqual(res.egress, { verdict: 'not enforced', matchType: 'all', enforcing: false });
    assert.equal(res.ingress?.verdict, 'not enforced');
    assert.equal(res.verdict, 'allowed');
  });

  it('finds endpoints by address and asks the ipcache for other addresses, checking only the local side', () => {
    const { trace, friend } = fixture();
    const byIp = trace({ ip: '10.244.0.11' }, { ip: '10.244.0.10' }, 80);
    assert.equal(byIp.from.identity, friend.identity);
    assert.equal(byIp.ingress?.verdict, 'allowed');
    const world = trace({ ip: '192.0.2.1' }, pod('web'), 80);
    assert.deepEqual(world.from, { identity: 2, labels: ['reserved:world'] });
    assert.equal(world.egress, undefined, 'the world has no egress policy on this node');
    assert.equal(world.ingress?.dropReason, 133);
    const out = trace(pod('friend'), { ip: '192.0.2.1' }, 443);
    assert.equal(out.egress?.dropReason, 133, 'friend may only talk to web');
    assert.equal(out.ingress, undefined);
  });

  it('traces labels with the identity they have, or a temporary one they would get, without allocating it', () => {
    const { trace, identities, friend } = fixture();
    const known = trace({ labels: ['app=friend'] }, pod('web'), 80);
    assert.equal(known.from.identity, friend.identity);
    assert.equal(known.from.unallocated, undefined);
    assert.equal(known.egress?.verdict, 'allowed', 'a pod with these labels gets friend-egress too');
    const before = identities.list().length;
    const stranger = trace({ labels: ['k8s:app=stranger'] }, pod('web'), 80);
    assert.equal(stranger.from.unallocated, true);
    assert.ok(!identities.list().some((i) => i.id === stranger.from.identity), 'a number no identity has');
    assert.equal(stranger.ingress?.dropReason, 133);
    assert.equal(identities.list().length, before, 'nothing was allocated');
    const both = trace({ labels: ['app=a'] }, { labels: ['app=b'] }, 80);
    assert.notEqual(both.from.identity, both.to.identity, 'two new label sets get two numbers');
  });

  it('selects a temporary identity by its labels, as an allocated one would be', () => {
    const { ctx, trace } = fixture();
    ctx.policy = new PolicyEngine('default', undefined, () => {});
    (ctx.policy as PolicyEngine).import(`apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-from-new}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress: [{fromEndpoints: [{matchLabels: {app: new}}]}]
`, 'default');
    const res = trace({ labels: ['app=new'] }, pod('web'), 8080);
    assert.equal(res.from.unallocated, true);
    assert.equal(res.ingress?.verdict, 'allowed');
    assert.equal(res.ingress?.rule?.name, 'web-from-new');
  });

  it('marks denials of audited policies, which let the packet pass, and then allows in the final verdict', () => {
    const { ctx, trace } = fixture();
    const audited = new PolicyEngine('default', undefined, () => {});
    audited.import(POLICIES.replace(/metadata: \{name: web-from-friend\}/, 'metadata:\n  name: web-from-friend\n  annotations: {policy.membrane.io/audit-mode: "true"}'), 'default');
    ctx.policy = audited;
    const deny = trace(pod('friend'), pod('web'), 81);
    assert.equal(deny.ingress?.dropReason, 181);
    assert.equal(deny.ingress?.audited, true);
    assert.equal(deny.verdict, 'allowed');
    const byDefault = trace(pod('friend'), pod('web'), 82);
    assert.equal(byDefault.ingress?.dropReason, 133);
    assert.equal(byDefault.ingress?.audited, true, 'only the audited policy puts web into default deny');
    assert.equal(byDefault.verdict, 'allowed');
    const enforced = trace(pod('friend'), { ip: '192.0.2.1' }, 80);
    assert.equal(enforced.egress?.audited, undefined, 'friend-egress is enforced');
    assert.equal(enforced.verdict, 'denied');
  });

  it('refuses an unknown pod with ENOTFOUND naming it, and a trace where no side has policy here', () => {
    const { trace } = fixture();
    assert.throws(() => trace(pod('ghost'), pod('web'), 80), (err: MembraneError) =>
      err.code === 'ENOTFOUND' && /default\/ghost/.test(err.message) && err.path === 'from.pod');
    assert.throws(() => trace({ ip: '192.0.2.1' }, { labels: ['reserved:host'] }, 80), (err: MembraneError) => err.code === 'EINVAL');
  });
});

describe('labelsOfPeer', () => {
  const ctx = { clusterName: 'c1', namespaceLabels: (ns: string) => (ns === 'prod' ? { 'kubernetes.io/metadata.name': 'prod', team: 'a' } : undefined) };

  it('builds the identity labels a pod with these labels would have', () => {
    const labels = labelsOfPeer(['app=web', 'k8s:io.kubernetes.pod.namespace=prod'], ctx).toStrings();
    assert.deepEqual(labels, podIdentityLabels({
      namespace: 'prod', podLabels: { app: 'web' }, namespaceLabels: ctx.namespaceLabels('prod'), serviceAccount: undefined, clusterName: 'c1',
    }).toStrings());
    assert.ok(labels.includes('k8s:io.cilium.k8s.namespace.labels.team=a'));
    assert.ok(labels.includes('k8s:io.kubernetes.pod.namespace=prod'));
  });

  it('takes the service account and namespace labels given, and defaults the namespace to default', () => {
    const labels = labelsOfPeer(['app=x', 'io.cilium.k8s.policy.serviceaccount=sa', 'io.cilium.k8s.namespace.labels.env=dev'], ctx).toStrings();
    assert.ok(labels.includes('k8s:io.kubernetes.pod.namespace=default'));
    assert.ok(labels.includes('k8s:io.cilium.k8s.policy.serviceaccount=sa'));
    assert.ok(labels.includes('k8s:io.cilium.k8s.namespace.labels.env=dev'));
  });
});
