/**
 * `POST /v1/policy/traces` against a real agent with real pods: a batch
 * answers every request exactly as `POST /v1/policy/trace` answers it alone,
 * in order, and refuses a bad or failing request by naming `requests[i]`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AgentClient } from '../api/client.js';
import type { PeerSpec, PolicyTraceRequest } from '../api/types.js';
import { startTestNode, type TestNode } from '../testing/agent.js';
import { requireRoot } from '../testing/names.js';
import { addTestPod, type TestPod } from '../testing/pods.js';
import { rejects } from '../testing/rejects.js';

const POLICIES = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-ingress}
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
  - toCIDRSet: [{cidr: 198.51.100.0/24, except: [198.51.100.200/32]}]
    toPorts: [{ports: [{port: "80", protocol: TCP}]}]
`;


describe('policy traces (batch)', () => {
  let node: TestNode;
  let agent: AgentClient;
  const pods: TestPod[] = [];
  let web: TestPod;

  before(async () => {
    requireRoot();
    node = await startTestNode({ podCIDR: '10.244.41.0/24' });
    agent = new AgentClient(node.socket);
    web = await addTestPod(node, 'web', { app: 'web' });
    pods.push(web, await addTestPod(node, 'friend', { app: 'friend' }), await addTestPod(node, 'other', { app: 'other' }));
    await agent.importPolicies({ text: POLICIES });
  });

  after(async () => {
    for (const p of pods) await p.remove();
    await node?.stop();
  });

  const pod = (name: string): PeerSpec => ({ pod: { namespace: 'default', name } });

  /** Every pair of sides (pods, a pod's address, labels old and new, world addresses) on a few ports of both protocols. */
  function requests(): PolicyTraceRequest[] {
    const froms: PeerSpec[] = [pod('web'), pod('friend'), pod('other'), { labels: ['app=friend'] }, { labels: ['app=newcomer'] }];
    const tos: PeerSpec[] = [pod('web'), pod('friend'), { ip: web.ip }, { ip: '198.51.100.10' }, { ip: '198.51.100.200' }, { ip: '203.0.113.10' }];
    const out: PolicyTraceRequest[] = [];
    for (const from of froms) {
      for (const to of tos) {
        for (const port of [80, 81]) for (const protocol of ['TCP', 'UDP'] as const) out.push({ from, to, port, protocol });
      }
    }
    return out;
  }

  it('answers each request as the single trace does, in order', async () => {
    const reqs = requests();
    const batch = await agent.tracePolicies(reqs);
    assert.equal(batch.length, reqs.length);
    for (const [i, req] of reqs.entries()) {
      assert.deepEqual(batch[i], await agent.tracePolicy(req), `requests[${i}]: ${JSON.stringify(req)}`);
    }
    const verdicts = new Set(batch.map((t) => `${t.verdict} ${t.egress?.dropReason ?? ''} ${t.ingress?.dropReason ?? ''}`));
    assert.ok(verdicts.size >= 4, `the batch covers allowed, 133 and 181 on both sides: ${[...verdicts].join(' | ')}`);
  });

  it('answers an empty batch with no results', async () => {
    assert.deepEqual(await agent.tracePolicies([]), []);
  });

  it('names the bad request and its field', async () => {
    const good: PolicyTraceRequest = { from: pod('friend'), to: pod('web'), port: 80, protocol: 'TCP' };
    const badName = await rejects(agent.tracePolicies([good, { ...good, from: { pod: { namespace: 'default', name: 'Bad_Name' } } }]));
    assert.equal(badName.code, 'EINVAL');
    assert.equal(badName.path, 'requests[1].from.pod.name');
    const badPort = await rejects(agent.tracePolicies([good, good, { ...good, port: 70000 }]));
    assert.equal(badPort.path, 'requests[2].port');
    const notObject = await rejects(agent.request('POST', '/v1/policy/traces', { requests: [good, 'x'] }));
    assert.equal(notObject.path, 'requests[1]');
    const noList = await rejects(agent.request('POST', '/v1/policy/traces', { from: pod('friend') }));
    assert.equal(noList.path, 'requests');
    const tooMany = await rejects(agent.tracePolicies(Array.from({ length: 10_001 }, () => good)));
    assert.equal(tooMany.path, 'requests');
  });

  it('refuses a pod that is no endpoint here (ENOTFOUND), naming requests[i].from.pod', async () => {
    const ghost = await rejects(agent.tracePolicies([
      { from: pod('friend'), to: pod('web'), port: 80, protocol: 'TCP' },
      { from: pod('ghost'), to: pod('web'), port: 80, protocol: 'TCP' },
    ]));
    assert.equal(ghost.code, 'ENOTFOUND');
    assert.equal(ghost.path, 'requests[1].from.pod');
    assert.match(ghost.message, /^requests\[1\]: .*default\/ghost/);
  });
});
