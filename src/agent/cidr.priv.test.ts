/**
 * CIDR policy through real traffic: a pod talks to a simulated world
 * (198.51.100.0/24, 203.0.113.0/24 in a namespace the test makes). The
 * longest prefix decides an address's identity, `except` carves addresses
 * out, a CIDR deny wins, and flows say which rule dropped what.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { AgentClient } from '../api/client.js';
import { MEMBRANE_BIN, startTestNode, type TestNode } from '../testing/agent.js';
import { requireRoot } from '../testing/names.js';
import { addTestPod, type TestPod } from '../testing/pods.js';
import { addTestWorld, type TestWorld } from '../testing/world.js';
import type { Flow } from '../hubble/flow.js';

describe('CIDR policy', () => {
  let node: TestNode;
  let client: TestPod;
  let world: TestWorld;
  let serve: ChildProcess;

  before(async () => {
    requireRoot();
    node = await startTestNode({ podCIDR: '10.244.13.0/24' });
    client = await addTestPod(node, 'client', { app: 'client' });
    world = await addTestWorld(node, ['198.51.100.10', '198.51.100.200', '203.0.113.7', '203.0.113.8']);
    serve = await world.serve([80]);
  });

  after(async () => {
    serve?.kill();
    await world?.remove();
    await client?.remove();
    await node?.stop();
  });

  const probe = async (...targets: string[]) => {
    const res = await client.exec([MEMBRANE_BIN, 'workload', 'probe', '--protocol', 'tcp', '--timeout', '1s', ...targets.flatMap((t) => ['--to', `${t}:80`]), '-o', 'json'], { allowFailure: true, timeoutMs: 20_000 });
    return Object.fromEntries(res.stdout.trim().split('\n').map((l) => JSON.parse(l) as { target: string; ok: boolean; error: string | null }).map((r) => [r.target.split(':')[0], r.ok ? 'ok' : r.error]));
  };

  it('reaches the world with no policy', async () => {
    assert.deepEqual(await probe('198.51.100.10', '203.0.113.7'), { '198.51.100.10': 'ok', '203.0.113.7': 'ok' });
  });

  it('allows a CIDR set minus its except, denies a CIDR deny rule, and default-denies the rest of world', async () => {
    const agent = new AgentClient(node.socket);
    await agent.importPolicies({ text: `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: client-out}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress:
  - toCIDRSet: [{cidr: 198.51.100.0/24, except: [198.51.100.128/25]}]
  - toCIDR: [203.0.113.0/24]
  egressDeny:
  - toCIDR: [203.0.113.7/32]
` });
    assert.deepEqual(await probe('198.51.100.10', '198.51.100.200', '203.0.113.7', '203.0.113.8'), {
      '198.51.100.10': 'ok', '198.51.100.200': 'timeout', '203.0.113.7': 'timeout', '203.0.113.8': 'ok',
    });
    const ids = await agent.listIdentities();
    const cidrId = (p: string) => ids.find((i) => i.labels.includes(`cidr:${p}`))?.id;
    for (const p of ['198.51.100.0/24', '198.51.100.128/25', '203.0.113.0/24', '203.0.113.7/32']) {
      assert.ok((cidrId(p) ?? 0) > 2 ** 24, `a local CIDR identity for ${p}`);
    }

    let flows: Flow[] = [];
    for (let i = 0; i < 40; i++) {
      flows = [];
      await agent.stream(`/v1/flows?number=0&whitelist=${encodeURIComponent(JSON.stringify([{ verdict: ['DROPPED'], event_type: [{ type: 1 }] }]))}`, (f) => flows.push(f as Flow));
      if (flows.some((f) => f.IP.destination === '203.0.113.7') && flows.some((f) => f.IP.destination === '198.51.100.200')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const denied = flows.find((f) => f.IP.destination === '203.0.113.7')!;
    assert.equal(denied.drop_reason, 181, 'the CIDR deny rule');
    assert.equal(denied.destination.identity, cidrId('203.0.113.7/32'));
    assert.deepEqual(denied.egress_denied_by?.map((p) => p.name), ['client-out']);
    const excepted = flows.find((f) => f.IP.destination === '198.51.100.200')!;
    assert.equal(excepted.drop_reason, 133, 'the except falls to default deny');
    assert.equal(excepted.destination.identity, cidrId('198.51.100.128/25'), 'the longest prefix decides the identity');
  });

  it('forgets the prefixes when the policy goes, and the world is reachable again', async () => {
    const agent = new AgentClient(node.socket);
    await agent.deleteAllPolicies();
    assert.equal((await agent.listIdentities()).filter((i) => i.labels.some((l) => l.startsWith('cidr:'))).length, 0);
    assert.deepEqual(await probe('198.51.100.200', '203.0.113.7'), { '198.51.100.200': 'ok', '203.0.113.7': 'ok' });
  });
});
