/**
 * The datapath benchmark's membrane configurations hold what they claim:
 * seeded identities join the peer sets, each configuration's server policy
 * map holds one entry per peer (and the ipcache one prefix per CIDR rule),
 * the client is let in and a pod outside the peer set is not.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { run } from '../common/exec.js';
import { requireRoot } from '../testing/names.js';
import { addTestPod, type TestPod } from '../testing/pods.js';
import { buildPp } from './datapath.js';
import {
  applyMembranePolicy, cidrPolicy, countCidrIpcacheEntries, countPeerEntries, identityPolicy, l3l4Policy, type MembraneNode, noPolicy, startMembraneNode,
} from './datapath-membrane.js';
import { PP_PORT } from './datapath-rules.js';

describe('datapath benchmark membrane node', () => {
  let m: MembraneNode;
  let outsider: TestPod;
  let removed = false;
  const lines: string[] = [];

  before(async () => {
    requireRoot();
    m = await startMembraneNode({ podCIDR: '10.244.23.0/24', peerSets: [5, 20], log: (l) => lines.push(l) });
    outsider = await addTestPod(m.node, 'outsider', { app: 'outsider' });
    m.server.spawn([buildPp(), 'server', '0.0.0.0', String(PP_PORT)]);
    for (let i = 0; i < 50 && !(await m.server.exec(['ss', '-Hltn'])).stdout.includes(`:${PP_PORT} `); i++) await new Promise((r) => setTimeout(r, 100));
  });

  after(async () => {
    if (removed) return;
    await outsider?.remove();
    await m?.remove();
  });

  const reachable = async (from: TestPod) => {
    const res = await from.exec([buildPp(), 'rr', m.server.ip, String(PP_PORT), '0.2'], { allowFailure: true, timeoutMs: 3_000 });
    return res.code === 0 && /trans\/s/.test(res.stdout);
  };

  it('seeds the largest peer set minus the client', async () => {
    assert.equal(m.seeded, 19);
    assert.match(lines.join('\n'), /19 peer identities seeded/);
    const identities = await m.agent.listIdentities();
    assert.equal(identities.filter((i) => i.labels.includes('k8s:peers-5=yes')).length, 5);
    assert.equal(identities.filter((i) => i.labels.includes('k8s:peers-20=yes')).length, 20);
  });

  for (const peers of [5, 20]) {
    it(`${peers} identities: ${peers} entries in the server's map, the client in, an outsider out`, async () => {
      const { check } = await applyMembranePolicy(m, identityPolicy(peers), true);
      assert.match(check!, new RegExp(`${peers} peer entries`));
      assert.equal(countPeerEntries(m.node.bpffsDir, m.serverEndpointId), peers);
      assert.equal(await reachable(m.client), true);
      assert.equal(await reachable(outsider), false);
    });
  }

  it('CIDR rules: one ipcache prefix and one map entry per rule, the client in through its own rule', async () => {
    await applyMembranePolicy(m, cidrPolicy(10), true);
    assert.equal(countCidrIpcacheEntries(m.node.bpffsDir), 9);
    assert.equal(countPeerEntries(m.node.bpffsDir, m.serverEndpointId), 10);
    assert.equal(await reachable(m.client), true);
    assert.equal(await reachable(outsider), false);
  });

  it('switching configurations leaves only the current one in the maps', async () => {
    await applyMembranePolicy(m, l3l4Policy(), true);
    assert.equal(countCidrIpcacheEntries(m.node.bpffsDir), 0);
    assert.equal(await reachable(m.client), true);
    await applyMembranePolicy(m, noPolicy(), true);
    assert.equal(countPeerEntries(m.node.bpffsDir, m.serverEndpointId), 0);
    assert.equal(await reachable(outsider), true);
  });

  it('a configuration that does not hold what it claims fails the check', async () => {
    await assert.rejects(applyMembranePolicy(m, { ...identityPolicy(5), peerEntries: 6 }, true), /holds 5 ingress entries for TCP 5200-5203, not 6/);
  });

  it('removing the node leaves no namespace behind', async () => {
    removed = true;
    await outsider.remove();
    await m.remove();
    await m.remove();
    const names = (await run('ip', ['netns', 'list'])).stdout;
    assert.ok(!names.includes(m.node.name), names);
    assert.ok(!names.includes(m.server.netnsPath.split('/').pop()!), names);
  });
});
