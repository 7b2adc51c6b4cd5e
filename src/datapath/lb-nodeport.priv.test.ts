/**
 * NodePort on a real agent (`--devices`) with real traffic: a world network
 * namespace joined to the node by a veth pair made after the agent started
 * (as the lab's world is), so the agent must pick up the new node address
 * and device by itself. Connections from the world to nodeIP:nodePort
 * reach both backends and are answered from nodeIP:nodePort, pods reach
 * the NodePort too, the backends' ingress policy applies to the world
 * client, the programs survive an agent restart, and a deleted service's
 * NodePort stops answering. Traffic stays inside the namespaces made here.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { AgentClient } from '../api/client.js';
import type { K8sServiceModel } from '../api/types.js';
import type { Flow } from '../hubble/flow.js';
import { run } from '../common/exec.js';
import { startTestNode, type TestNode } from '../testing/agent.js';
import { requireRoot, uniqueName } from '../testing/names.js';
import { addTestPod, type TestPod } from '../testing/pods.js';
import { waitForLine } from '../testing/tcp.js';

const NODE_IP = '198.51.100.1';
const WORLD_IP = '198.51.100.10';
const NODE_PORT = 30080;
const TARGET_PORT = 8080;

/** `count` sequential TCP connections to ip:port; each backend answers "<name> <client address as it saw it>". */
const connectMany = (ip: string, port: number, count: number) => `
  const net = require('net'); const seen = {};
  const once = () => new Promise((res) => {
    const s = net.connect(${port}, '${ip}'); let d = '';
    s.setTimeout(1500, () => { s.destroy(); res('timeout'); });
    s.on('data', (c) => d += c); s.on('end', () => res(d)); s.on('error', (e) => res('error:' + e.code));
  });
  (async () => { for (let i = 0; i < ${count}; i++) { const r = await once(); seen[r] = (seen[r] || 0) + 1; } console.log(JSON.stringify(seen)); })();`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('NodePort from outside the node and from pods (privileged: a real agent, a world netns, pods and traffic)', () => {
  let node: TestNode | undefined;
  let agent: AgentClient;
  const device = uniqueName('npw');
  const worldNs = uniqueName('npworld');
  const pods: TestPod[] = [];
  const servers: ChildProcess[] = [];
  let svc: K8sServiceModel;

  const fromWorld = async (count: number, ip = NODE_IP, port = NODE_PORT) =>
    JSON.parse((await run('ip', ['netns', 'exec', worldNs, 'node', '-e', connectMany(ip, port, count)], { timeoutMs: 120_000 })).stdout) as Record<string, number>;
  const fromPod = async (pod: TestPod, count: number) =>
    JSON.parse((await pod.exec(['node', '-e', connectMany(NODE_IP, NODE_PORT, count)], { timeoutMs: 120_000 })).stdout) as Record<string, number>;

  /** Waits until the agent lists a frontend on ip:port (it follows node addresses on its own). */
  async function frontendOn(ip: string, port: number, present = true): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const has = (await agent.listServices()).some((f) => f.frontend.ip === ip && f.frontend.port === port);
      if (has === present) return;
      await sleep(100);
    }
    assert.fail(`frontend ${ip}:${port} ${present ? 'never appeared' : 'never went away'}: ${JSON.stringify(await agent.listServices())}`);
  }

  before(async () => {
    requireRoot();
    node = await startTestNode({ podCIDR: '10.244.27.0/24', agentArgs: ['--devices', device] });
    agent = new AgentClient(node.socket);
    for (const name of ['web-a', 'web-b']) {
      const pod = await addTestPod(node, name, { app: 'web' });
      pods.push(pod);
      const srv = pod.spawn(['node', '-e', `require('net').createServer((s) => s.end('${name} ' + s.remoteAddress)).listen(${TARGET_PORT}, '0.0.0.0', () => console.log('listening'))`]);
      servers.push(srv);
      if (!(await waitForLine(srv, /listening/, 10_000))) throw new Error(`server in ${name} did not start`);
    }
    pods.push(await addTestPod(node, 'client', { app: 'client' }));
    svc = {
      namespace: 'default', name: 'web', type: 'NodePort', clusterIP: '10.96.0.60',
      ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: NODE_PORT }],
      backends: pods.slice(0, 2).map((p) => ({ ip: p.ip, ports: { http: TARGET_PORT }, pod: { namespace: 'default', name: p.name } })),
    };
    await agent.putService(svc);
    // The world appears after the agent: its link and the node's address on it are new to the agent.
    await run('ip', ['netns', 'add', worldNs]);
    await run('ip', ['-n', node.nodeNetns, 'link', 'add', device, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', worldNs]);
    await run('ip', ['-n', node.nodeNetns, '-batch', '-'], { input: [`addr add ${NODE_IP}/24 dev ${device}`, `link set ${device} up`].join('\n') + '\n' });
    await run('ip', ['-n', worldNs, '-batch', '-'], {
      input: ['link set lo up', 'link set eth0 up', `addr add ${WORLD_IP}/24 dev eth0`, `route add 10.244.0.0/16 via ${NODE_IP} dev eth0`].join('\n') + '\n',
    });
    await frontendOn(NODE_IP, NODE_PORT);
  });

  after(async () => {
    for (const s of servers) s.kill();
    for (const p of pods) await p.remove();
    await run('ip', ['netns', 'del', worldNs], { allowFailure: true });
    await node?.stop();
  });

  it('spreads ~50 connections from the world to nodeIP:nodePort over both backends, which see the world client\'s own address', async () => {
    const seen = await fromWorld(50);
    assert.deepEqual(Object.keys(seen).sort(), [`web-a ${WORLD_IP}`, `web-b ${WORLD_IP}`], JSON.stringify(seen));
    for (const c of Object.values(seen)) assert.ok(c >= 5, `both backends serve: ${JSON.stringify(seen)}`);
    // The backend's verdict names the service and the frontend the world client dialled.
    let svcFlow: Flow | undefined;
    for (const deadline = Date.now() + 5000; !svcFlow && Date.now() < deadline; await sleep(200)) {
      const out: Flow[] = [];
      await agent.stream('/v1/flows?number=0', (f) => out.push(f as Flow));
      svcFlow = out.find((f) => f.source.labels?.includes('reserved:world') && f.destination_service?.name === 'web');
    }
    assert.ok(svcFlow, 'a flow of a world connection names the service');
    assert.equal(svcFlow.IP.destination_original, NODE_IP);
    assert.equal(svcFlow.l4?.TCP?.destination_port_original, NODE_PORT);
  });

  it('load-balances a pod\'s connections to nodeIP:nodePort like the ClusterIP', async () => {
    const client = pods[2]!;
    const seen = await fromPod(client, 20);
    assert.deepEqual(Object.keys(seen).sort(), [`web-a ${client.ip}`, `web-b ${client.ip}`], JSON.stringify(seen));
  });

  it('applies the backends\' ingress policy to the world client: one that allows only the client pod blocks it', async () => {
    await agent.importPolicies({ text: `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-from-client}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: client}}]
` });
    try {
      assert.deepEqual(await fromWorld(2), { timeout: 2 });
      const seen = await fromPod(pods[2]!, 4);
      assert.equal(Object.keys(seen).filter((k) => k.startsWith('web-')).reduce((n, k) => n + seen[k]!, 0), 4, JSON.stringify(seen));
    } finally {
      await agent.deleteAllPolicies();
    }
    const after = await fromWorld(4);
    assert.equal(Object.keys(after).filter((k) => k.startsWith('web-')).reduce((n, k) => n + after[k]!, 0), 4, `allowed again: ${JSON.stringify(after)}`);
  });

  it('keeps serving the NodePort while the agent is away and after it restarts', async () => {
    const answered = (seen: Record<string, number>) => Object.keys(seen).filter((k) => k.startsWith('web-')).reduce((n, k) => n + seen[k]!, 0);
    await node!.killAgent('SIGTERM');
    const away = await fromWorld(5);
    assert.equal(answered(away), 5, `agent away: ${JSON.stringify(away)}`);
    await node!.restartAgent();
    const seen = await fromWorld(10);
    assert.equal(answered(seen), 10, JSON.stringify(seen));
  });

  it('stops answering on the NodePort of a deleted service', async () => {
    await agent.deleteService('default', 'web');
    await frontendOn(NODE_IP, NODE_PORT, false);
    const seen = await fromWorld(2);
    assert.ok(Object.keys(seen).every((k) => !k.startsWith('web-')), `no backend answers: ${JSON.stringify(seen)}`);
  });
});
