/**
 * Enforcement outlives the agent: killed with SIGKILL, the datapath keeps
 * its pinned state, an established TCP connection keeps working, what was
 * denied stays denied; the restarted agent adopts the pinned maps and still
 * enforces the same policy.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AgentClient } from '../api/client.js';
import { startTestNode, type TestNode } from '../testing/agent.js';
import { requireRoot } from '../testing/names.js';
import { addTestPod, type TestPod } from '../testing/pods.js';
import { openLineClient, startEchoServer } from '../testing/tcp.js';

const PORT = 7000;
const PROBE = (ip: string) =>
  `const s = require('net').connect(${PORT}, '${ip}'); s.setTimeout(1500, () => process.exit(3)); s.on('connect', () => process.exit(0)); s.on('error', () => process.exit(2));`;

describe('agent restart', () => {
  let node: TestNode;
  const pods: TestPod[] = [];
  let server: TestPod, client: TestPod, intruder: TestPod;

  before(async () => {
    requireRoot();
    node = await startTestNode({ podCIDR: '10.244.11.0/24' });
    server = await addTestPod(node, 'server', { app: 'server' });
    client = await addTestPod(node, 'client', { app: 'client' });
    intruder = await addTestPod(node, 'intruder', { app: 'intruder' });
    pods.push(server, client, intruder);
    await new AgentClient(node.socket).importPolicies({
      text: `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: server-from-client}
spec:
  endpointSelector: {matchLabels: {app: server}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: client}}]
    toPorts: [{ports: [{port: "${PORT}", protocol: TCP}]}]
`,
    });
  });

  after(async () => {
    for (const p of pods) await p.remove();
    await node?.stop();
  });

  const probe = async (from: TestPod) => (await from.exec(['node', '-e', PROBE(server.ip)], { allowFailure: true, timeoutMs: 10_000 })).code;

  it('keeps an established connection and the verdicts through SIGKILL and a restart', async () => {
    const srv = await startEchoServer(server, PORT);
    const conn = await openLineClient(client, server.ip, PORT);
    try {
      assert.ok(await conn.roundTrip('before'));
      assert.equal(await probe(intruder), 3, 'the intruder is denied while the agent runs');

      await node.killAgent('SIGKILL');
      assert.ok(await conn.roundTrip('while-down'), 'the established connection survives the agent');
      assert.equal(await probe(intruder), 3, 'the intruder stays denied with the agent gone');
      assert.equal(await probe(client), 0, 'new allowed connections still open with the agent gone');

      await node.restartAgent();
      const status = await new AgentClient(node.socket).status();
      assert.equal(status.datapath.adopted, true, 'the restarted agent adopts the pinned maps');
      assert.equal(status.endpoints, 3);
      assert.equal(status.datapath.programsAttached, 3);
      assert.ok(await conn.roundTrip('after'), 'the connection survives the restart');
      assert.equal(await probe(intruder), 3, 'the intruder is still denied after the restart');
      assert.equal(await probe(client), 0);
      const eps = await new AgentClient(node.socket).listEndpoints();
      assert.equal(eps.find((e) => e.podName === 'server')!.policy.ingressEnforcing, true);
    } finally {
      conn.close();
      srv.kill();
    }
  });
});
