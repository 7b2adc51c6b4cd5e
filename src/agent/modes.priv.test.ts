/**
 * Enforcement modes (`--enable-policy default|always|never`) and audit mode
 * per policy, through real traffic: what an audited policy would drop
 * passes and is reported as AUDIT, naming the policy.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AgentClient } from '../api/client.js';
import { MEMBRANE_BIN, startTestNode } from '../testing/agent.js';
import { requireRoot } from '../testing/names.js';
import { addTestPod } from '../testing/pods.js';
import type { Flow } from '../hubble/flow.js';

const WEB_ONLY_FRIEND = (audit: boolean) => `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: web-only-friend
${audit ? '  annotations: {policy.membrane.io/audit-mode: "true"}\n' : ''}spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress: [{fromEndpoints: [{matchLabels: {app: friend}}]}]
`;

async function setUp(podCIDR: string, agentArgs: string[] = []) {
  const node = await startTestNode({ podCIDR, agentArgs });
  const web = await addTestPod(node, 'web', { app: 'web' });
  const client = await addTestPod(node, 'client', { app: 'client' });
  const server = web.spawn([MEMBRANE_BIN, 'workload', 'serve', '--tcp', '80', '--name', 'web']);
  await new Promise<void>((resolve) => server.stdout!.on('data', (d: Buffer) => { if (String(d).includes('answering')) resolve(); }));
  const probe = async () => (await client.exec([MEMBRANE_BIN, 'workload', 'probe', '--timeout', '1s', '--to', `${web.ip}:80`], { allowFailure: true, timeoutMs: 15_000 })).code === 0;
  const teardown = async () => {
    await web.remove();
    await client.remove();
    await node.stop();
  };
  return { node, web, client, probe, teardown, agent: new AgentClient(node.socket) };
}

async function flowsWhere(agent: AgentClient, pred: (f: Flow) => boolean): Promise<Flow[]> {
  for (let i = 0; i < 40; i++) {
    const flows: Flow[] = [];
    await agent.stream('/v1/flows?number=0', (f) => flows.push(f as Flow));
    const hits = flows.filter(pred);
    if (hits.length) return hits;
    await new Promise((r) => setTimeout(r, 100));
  }
  return [];
}

describe('enforcement and audit modes', () => {
  const teardowns: (() => Promise<void>)[] = [];
  after(async () => { for (const t of teardowns) await t(); });

  it('lets what an audited policy would drop through, reported as AUDIT with the policy named, and drops once audit is off', async () => {
    requireRoot();
    const s = await setUp('10.244.14.0/24');
    teardowns.push(s.teardown);
    await s.agent.importPolicies({ text: WEB_ONLY_FRIEND(true) });
    const ep = (await s.agent.listEndpoints()).find((e) => e.podName === 'web')!;
    assert.equal(ep.policy.ingressEnforcing, true);
    assert.equal(await s.probe(), true, 'the audited default deny lets the client in');
    const audits = await flowsWhere(s.agent, (f) => f.verdict === 'AUDIT' && f.source.pod_name === 'client');
    assert.ok(audits.length > 0, 'an AUDIT flow for the client');
    assert.equal(audits[0]!.traffic_direction, 'INGRESS');
    assert.deepEqual(audits[0]!.ingress_denied_by?.map((p) => p.name), ['web-only-friend']);

    await s.agent.importPolicies({ text: WEB_ONLY_FRIEND(false) });
    assert.equal(await s.probe(), false, 'without audit the same policy drops');
  });

  it('enforces default deny on every endpoint with --enable-policy always, even with no policy', async () => {
    const s = await setUp('10.244.15.0/24', ['--enable-policy', 'always']);
    teardowns.push(s.teardown);
    const eps = await s.agent.listEndpoints();
    assert.ok(eps.every((e) => e.policy.ingressEnforcing && e.policy.egressEnforcing));
    assert.equal(await s.probe(), false);
    const drops = await flowsWhere(s.agent, (f) => f.event_type.type === 1 && f.source.pod_name === 'client');
    assert.equal(drops[0]?.drop_reason, 133);
  });

  it('enforces nothing with --enable-policy never, whatever the policies say', async () => {
    const s = await setUp('10.244.16.0/24', ['--enable-policy', 'never']);
    teardowns.push(s.teardown);
    await s.agent.importPolicies({ text: WEB_ONLY_FRIEND(false) });
    assert.equal(await s.probe(), true);
    assert.ok((await s.agent.listEndpoints()).every((e) => !e.policy.ingressEnforcing && !e.policy.egressEnforcing));
  });
});
