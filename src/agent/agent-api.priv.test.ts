/**
 * The agent through its API with real pods and traffic: bad input is
 * refused with the field named and changes nothing; concurrent CNI ADDs
 * never share an address; flows name the policy that allowed or denied.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AgentClient } from '../api/client.js';
import { invokeCni } from '../cni/invoke.js';
import { run } from '../common/exec.js';
import { MEMBRANE_CNI_BIN, startTestNode, type TestNode } from '../testing/agent.js';
import { requireRoot, uniqueName } from '../testing/names.js';
import { addTestPod, type TestPod } from '../testing/pods.js';
import { startEchoServer, openLineClient } from '../testing/tcp.js';
import type { Flow } from '../hubble/flow.js';
import { rejects } from '../testing/rejects.js';

const HTTP_SERVER = `require('http').createServer((q, s) => s.end('ok\\n')).listen(8080, () => console.log('listening'))`;


describe('agent API', () => {
  let node: TestNode;
  let agent: AgentClient;
  const pods: TestPod[] = [];
  let web: TestPod, friend: TestPod, stranger: TestPod;

  before(async () => {
    requireRoot();
    node = await startTestNode({ podCIDR: '10.244.12.0/24' });
    agent = new AgentClient(node.socket);
    web = await addTestPod(node, 'web', { app: 'web' });
    friend = await addTestPod(node, 'friend', { app: 'friend' });
    stranger = await addTestPod(node, 'stranger', { app: 'stranger' });
    pods.push(web, friend, stranger);
    const srv = web.spawn(['node', '-e', HTTP_SERVER]);
    await new Promise<void>((resolve) => srv.stdout!.on('data', (d: Buffer) => { if (String(d).includes('listening')) resolve(); }));
  });

  after(async () => {
    for (const p of pods) await p.remove();
    await node?.stop();
  });

  const curl = async (from: TestPod) =>
    (await from.exec(['curl', '-s', '--connect-timeout', '1', `http://${web.ip}:8080/`], { allowFailure: true, timeoutMs: 10_000 })).code;

  it('refuses a malformed policy with the path of the bad field and changes nothing', async () => {
    const before = await agent.listPolicies();
    const err = await rejects(agent.importPolicies({
      text: `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: good}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress: [{fromEndpoints: [{matchLabels: {app: friend}}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: bad}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - toPorts: [{ports: [{port: "99999", protocol: TCP}]}]
`,
    }));
    assert.equal(err.code, 'EINVAL');
    assert.match(err.message, /\[1\]\.spec\.ingress\[0\]\.toPorts\[0\]\.ports\[0\]\.port/);
    const after = await agent.listPolicies();
    assert.equal(after.revision, before.revision, 'the revision did not move');
    assert.deepEqual(after.policies, before.policies, 'the valid document was not applied either');
    assert.equal(await curl(stranger), 0, 'traffic is as before');
    assert.equal((await agent.healthz()).ok, true, 'the agent stays up');
  });

  it('refuses an endpoint with a bad label and a request body that is not JSON, naming the field', async () => {
    const err = await rejects(agent.request('PUT', '/v1/k8s/pods/default/x', { labels: { 'bad key': 'v' } }));
    assert.equal(err.code, 'EINVAL');
    assert.match(err.message, /labels\.bad key/);
    const err2 = await rejects(agent.request('POST', '/v1/ipam', { owner: '' }));
    assert.equal(err2.code, 'EINVAL');
    assert.match(err2.message, /owner/);
  });

  it('enforces an imported policy, names it in flows, and lifts it on delete', async () => {
    const res = await agent.importPolicies({
      text: `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-from-friend}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: friend}}]
    toPorts: [{ports: [{port: "8080", protocol: TCP}]}]
`,
    });
    assert.deepEqual(res.results.map((r) => [r.ref.name, r.action]), [['web-from-friend', 'created']]);
    assert.equal(await curl(friend), 0);
    assert.equal(await curl(stranger), 28, 'curl times out: the SYN is dropped');
    const webEp = (await agent.listEndpoints()).find((e) => e.podName === 'web')!;
    assert.equal(webEp.policy.ingressEnforcing, true);
    assert.equal(webEp.policy.egressEnforcing, false);

    let flows: Flow[] = [];
    for (let i = 0; i < 40 && !flows.some((f) => f.verdict === 'DROPPED' && f.source.pod_name === 'stranger'); i++) {
      flows = [];
      await agent.stream('/v1/flows?number=0', (f) => flows.push(f as Flow));
      await new Promise((r) => setTimeout(r, 100));
    }
    const allowed = flows.find((f) => f.source.pod_name === 'friend' && f.traffic_direction === 'INGRESS' && f.verdict === 'FORWARDED')!;
    assert.ok(allowed, 'an allowed ingress verdict for the friend');
    assert.equal(allowed.policy_match_type, 2 /* L3-L4 */);
    assert.deepEqual(allowed.ingress_allowed_by?.map((p) => [p.kind, p.namespace, p.name]), [['CiliumNetworkPolicy', 'default', 'web-from-friend']]);
    const drop = flows.find((f) => f.source.pod_name === 'stranger' && f.event_type.type === 1)!;
    assert.ok(drop, 'a drop flow for the stranger');
    assert.equal(drop.drop_reason, 133);
    assert.equal(drop.drop_reason_desc, 'POLICY_DENIED');
    assert.equal(drop.destination.pod_name, 'web');
    assert.deepEqual(drop.ingress_denied_by?.map((p) => p.name), ['web-from-friend'], 'the default deny names the policy that caused it');

    const del = await agent.deletePolicy({ kind: 'CiliumNetworkPolicy', namespace: 'default', name: 'web-from-friend' });
    assert.equal(del.deleted.length, 1);
    assert.equal(await curl(stranger), 0, 'with the policy gone the stranger gets through');
  });

  it('refuses malformed bodies on every mutating path and stays up', async () => {
    const cases: [string, string, unknown, RegExp][] = [
      ['POST', '/v1/ipam', { owner: {} }, /owner/],
      ['POST', '/v1/cni/gc', { validAttachments: [5] }, /validAttachments\[0\]/],
      ['PUT', '/v1/k8s/pods/default/p', { labels: {}, containerPorts: 'x' }, /containerPorts/],
      ['PUT', '/v1/k8s/pods/default/p', { labels: {}, serviceAccount: 123 }, /serviceAccount/],
      ['PUT', '/v1/k8s/pods/Bad_Ns/p', { labels: {} }, /namespace/],
      ['PUT', '/v1/k8s/namespaces/x', { labels: { a: 'not ok' } }, /labels\.a/],
      ['PUT', '/v1/endpoints', { containerId: 'c1', ifName: 'eth0', netns: '/x', hostIfName: 'lo', hostIfIndex: 1, hostMac: '00:00:00:00:00:00', containerMac: '00:00:00:00:00:00', ipv4: '10.244.12.50' }, /hostIfName/],
      ['GET', `/v1/flows?follow=true&whitelist=${encodeURIComponent('[{"source_identity":5}]')}`, undefined, /whitelist\[0\]\.source_identity/],
      ['GET', `/v1/flows?whitelist=${encodeURIComponent('[{"nope":[]}]')}`, undefined, /nope/],
    ];
    const before = await agent.status();
    for (const [method, path, body, re] of cases) {
      const err = await rejects(agent.request(method, path, body));
      assert.equal(err.code, 'EINVAL', `${method} ${path}: ${err.message}`);
      assert.match(err.message, re, `${method} ${path}`);
    }
    const after = await agent.status();
    assert.equal(after.ipam.allocated, before.ipam.allocated);
    assert.equal(after.endpoints, before.endpoints);
    assert.equal(await curl(friend), 0, 'the agent and the datapath are fine');
  });

  it('cuts an open connection when a new policy denies it', async () => {
    const echo = await startEchoServer(web, 7000);
    const conn = await openLineClient(stranger, web.ip, 7000);
    try {
      assert.ok(await conn.roundTrip('one'), 'the connection works before the policy');
      await agent.importPolicies({ text: `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-only-friend}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress: [{fromEndpoints: [{matchLabels: {app: friend}}]}]
` });
      assert.equal(await conn.roundTrip('two', 2000), false, 'the established connection is cut by the new policy');
    } finally {
      await agent.deletePolicy({ kind: 'CiliumNetworkPolicy', namespace: 'default', name: 'web-only-friend' });
      conn.close();
      echo.kill();
    }
  });

  it('keeps one address per attachment when a runtime repeats ADD', async () => {
    const ns = uniqueName('mr');
    const containerId = `${ns}${'1'.repeat(58)}`.slice(0, 64);
    const config = { cniVersion: '1.0.0', name: 'membrane', type: 'membrane-cni', agentSocket: node.socket };
    const common = { plugin: MEMBRANE_CNI_BIN, config, containerId, netns: `/run/netns/${ns}`, ifName: 'eth0', runtimeNetns: node.nodeNetnsPath };
    const before = (await agent.status()).ipam.allocated;
    await run('ip', ['netns', 'add', ns]);
    try {
      const args = { IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: 'again' };
      const first = await invokeCni({ ...common, command: 'ADD', args });
      const second = await invokeCni({ ...common, command: 'ADD', args });
      assert.ok(first.ok && second.ok);
      const ip = (r: typeof first) => (r.ok ? (r.output!['ips'] as { address: string }[])[0]!.address : '');
      assert.equal(ip(second), ip(first), 'the repeated ADD keeps the address');
      assert.equal((await agent.status()).ipam.allocated, before + 1, 'and holds exactly one');
      const ep = await agent.getEndpointByAttachment(containerId, 'eth0');
      assert.equal(`${ep.ipv4}/32`, ip(first));
    } finally {
      await invokeCni({ ...common, command: 'DEL' });
      await run('ip', ['netns', 'del', ns], { allowFailure: true });
    }
    assert.equal((await agent.status()).ipam.allocated, before);
  });

  it('gives a pod of a runtime without an orchestrator its identity from CNI args labels', async () => {
    const ns = uniqueName('ml');
    const containerId = `${ns}${'2'.repeat(58)}`.slice(0, 64);
    const config = { cniVersion: '1.1.0', name: 'membrane', type: 'membrane-cni', agentSocket: node.socket, args: { labels: { app: 'standalone', tier: 'x' } } };
    const common = { plugin: MEMBRANE_CNI_BIN, config, containerId, netns: `/run/netns/${ns}`, ifName: 'eth0', runtimeNetns: node.nodeNetnsPath };
    await run('ip', ['netns', 'add', ns]);
    try {
      const res = await invokeCni({ ...common, command: 'ADD', args: { MEMBRANE_LABELS: 'tier=y' } });
      assert.ok(res.ok, JSON.stringify(!res.ok && res.error));
      const ep = await agent.getEndpointByAttachment(containerId, 'eth0');
      assert.ok(ep.labels.includes('k8s:app=standalone'), ep.labels.join(' '));
      assert.ok(ep.labels.includes('k8s:tier=y'), 'MEMBRANE_LABELS overrides the config args');
      assert.ok(ep.identity >= 256);
      const same = (await agent.listIdentities()).find((i) => i.id === ep.identity)!;
      assert.deepEqual(same.labels, ep.labels);
    } finally {
      await invokeCni({ ...common, command: 'DEL' });
      await run('ip', ['netns', 'del', ns], { allowFailure: true });
    }
  });

  it('gives every one of many concurrent CNI ADDs its own address', async () => {
    const n = 12;
    const config = { cniVersion: '1.1.0', name: 'membrane', type: 'membrane-cni', agentSocket: node.socket };
    const names = Array.from({ length: n }, () => uniqueName('mc'));
    const created: { netns: string; containerId: string }[] = [];
    try {
      for (const ns of names) await run('ip', ['netns', 'add', ns]);
      const results = await Promise.all(names.map((ns, i) => {
        const containerId = `${ns}${'0'.repeat(56)}`.slice(0, 64);
        created.push({ netns: ns, containerId });
        return invokeCni({ plugin: MEMBRANE_CNI_BIN, command: 'ADD', config, containerId, netns: `/run/netns/${ns}`, ifName: 'eth0',
          args: { IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: `burst-${i}` }, runtimeNetns: node.nodeNetnsPath });
      }));
      const ips = results.map((r) => {
        assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
        return ((r.output!['ips'] as { address: string }[])[0]!.address);
      });
      assert.equal(new Set(ips).size, n, `distinct addresses: ${ips.join(' ')}`);
      const eps = await agent.listEndpoints();
      assert.equal(eps.filter((e) => e.podName?.startsWith('burst-')).length, n);
    } finally {
      await Promise.all(created.map((c) => invokeCni({ plugin: MEMBRANE_CNI_BIN, command: 'DEL', config, containerId: c.containerId,
        netns: `/run/netns/${c.netns}`, ifName: 'eth0', runtimeNetns: node.nodeNetnsPath })));
      for (const ns of names) await run('ip', ['netns', 'del', ns], { allowFailure: true });
    }
    assert.equal((await agent.listEndpoints()).filter((e) => e.podName?.startsWith('burst-')).length, 0);
    assert.equal((await agent.status()).ipam.allocated, 3, 'only the three test pods keep addresses');
  });
});
