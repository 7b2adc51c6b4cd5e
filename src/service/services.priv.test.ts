/**
 * Services through the agent's API, on a real agent and datapath: a
 * ClusterIP service with two backend pods is listed as one frontend with
 * both backends, real connections from a client pod to the VIP reach both,
 * flows name the service, a restarted agent keeps the same ids and maps,
 * a service without backends drops with reason 158, and a deleted service
 * leaves no entry in the LB maps.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { AgentClient } from '../api/client.js';
import type { K8sServiceModel } from '../api/types.js';
import { run } from '../common/exec.js';
import type { Flow } from '../hubble/flow.js';
import { startTestNode, type TestNode } from '../testing/agent.js';
import { requireRoot } from '../testing/names.js';
import { addTestPod, type TestPod } from '../testing/pods.js';
import { rejects } from '../testing/rejects.js';
import { waitForLine } from '../testing/tcp.js';

const VIP = '10.96.0.50';
const EMPTY_VIP = '10.96.0.51';
const TARGET_PORT = 8080;

/** `count` sequential connections to ip:port from `pod`; each answers with its backend's name. */
async function connectMany(pod: TestPod, ip: string, port: number, count: number): Promise<Record<string, number>> {
  const script = `
    const net = require('net'); const seen = {};
    const once = () => new Promise((res) => {
      const s = net.connect(${port}, '${ip}'); let d = '';
      s.setTimeout(2000, () => { s.destroy(); res('timeout'); });
      s.on('data', (c) => d += c); s.on('end', () => res(d)); s.on('error', (e) => res('error:' + e.code));
    });
    (async () => { for (let i = 0; i < ${count}; i++) { const r = await once(); seen[r] = (seen[r] || 0) + 1; } console.log(JSON.stringify(seen)); })();`;
  const res = await pod.exec(['node', '-e', script], { timeoutMs: 60_000 });
  return JSON.parse(res.stdout.trim()) as Record<string, number>;
}

async function lbMapEntries(node: TestNode, name: string): Promise<number> {
  const res = await run('bpftool', ['-j', 'map', 'dump', 'pinned', `${node.bpffsDir}/${name}`]);
  return (JSON.parse(res.stdout || '[]') as unknown[]).length;
}

async function flows(agent: AgentClient): Promise<Flow[]> {
  const out: Flow[] = [];
  await agent.stream('/v1/flows?number=0', (f) => out.push(f as Flow));
  return out;
}

describe('services through the agent API (privileged: a real agent, pods and traffic)', () => {
  let node: TestNode | undefined;
  let agent: AgentClient;
  const pods: TestPod[] = [];
  const servers: ChildProcess[] = [];
  let web: K8sServiceModel;

  before(async () => {
    requireRoot();
    node = await startTestNode({ podCIDR: '10.244.17.0/24' });
    agent = new AgentClient(node.socket);
    for (const name of ['web-a', 'web-b']) {
      const pod = await addTestPod(node, name, { app: 'web' });
      pods.push(pod);
      const srv = pod.spawn(['node', '-e', `require('net').createServer((s) => s.end('${name}')).listen(${TARGET_PORT}, () => console.log('listening'))`]);
      servers.push(srv);
      if (!(await waitForLine(srv, /listening/, 10_000))) throw new Error(`server in ${name} did not start`);
    }
    pods.push(await addTestPod(node, 'client', { app: 'client' }));
    web = {
      namespace: 'default', name: 'web', type: 'ClusterIP', clusterIP: VIP,
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
      backends: pods.slice(0, 2).map((p) => ({ ip: p.ip, ports: { http: TARGET_PORT }, pod: { namespace: 'default', name: p.name } })),
    };
  });

  after(async () => {
    for (const s of servers) s.kill();
    for (const p of pods) await p.remove();
    await node?.stop();
  });

  const client = () => pods[2]!;

  it('lists a service put through the API as one frontend with both backends', async () => {
    await agent.putService(web);
    assert.deepEqual(await agent.listK8sServices(), [web]);
    const list = await agent.listServices();
    assert.equal(list.length, 1);
    const [f] = list;
    assert.ok(f!.id >= 1 && f!.id <= 65535);
    assert.deepEqual(f!.frontend, { ip: VIP, port: 80, protocol: 'TCP' });
    assert.equal(f!.type, 'ClusterIP');
    assert.deepEqual(f!.service, { namespace: 'default', name: 'web', portName: 'http' });
    assert.deepEqual(f!.backends.map((b) => `${b.ip}:${b.port}/${b.protocol} ${b.state} ${b.pod?.name}`).sort(),
      pods.slice(0, 2).map((p) => `${p.ip}:${TARGET_PORT}/TCP active ${p.name}`).sort());
    assert.ok(f!.backends.every((b) => b.id > 0), 'backend ids from the kernel');
    assert.deepEqual(await agent.getService(f!.id), f);
    assert.equal((await rejects(agent.getService(f!.id + 1000))).code, 'ENOTFOUND');
  });

  it('refuses a bad service naming the field, and changes nothing', async () => {
    const before = await agent.listServices();
    const err = await rejects(agent.putService({ ...web, ports: [{ name: 'http', port: 70000, protocol: 'TCP' }] }));
    assert.equal(err.code, 'EINVAL');
    assert.equal(err.path, 'ports[0].port');
    const other = await rejects(agent.putService({ ...web, name: 'copy' }));
    assert.equal(other.path, 'ports[0].port');
    assert.match(other.message, /already a frontend of service default\/web/);
    assert.deepEqual(await agent.listServices(), before);
  });

  it('balances real connections to the VIP over both backends, and flows name the service', async () => {
    const seen = await connectMany(client(), VIP, 80, 40);
    assert.deepEqual(Object.keys(seen).sort(), ['web-a', 'web-b'], `answers: ${JSON.stringify(seen)}`);
    // The agent reads the datapath's events in batches: give them a moment to arrive.
    let svcFlow: Flow | undefined;
    for (const deadline = Date.now() + 5000; !svcFlow && Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
      svcFlow = (await flows(agent)).find((f) => f.destination_service?.name === 'web');
    }
    assert.ok(svcFlow, 'a flow names the service');
    assert.deepEqual(svcFlow.destination_service, { name: 'web', namespace: 'default' });
    assert.equal(svcFlow.IP.destination_original, VIP);
    assert.equal(svcFlow.l4?.TCP?.destination_port_original, 80);
    assert.ok(['web-a', 'web-b'].includes(svcFlow.destination.pod_name ?? ''), 'the destination is the backend pod');
  });

  it('keeps ids and maps through an agent restart, serving all along', async () => {
    const before = await agent.listServices();
    await node!.killAgent('SIGKILL');
    assert.deepEqual(Object.keys(await connectMany(client(), VIP, 80, 20)).sort(), ['web-a', 'web-b'], 'the datapath serves with the agent gone');
    await node!.restartAgent();
    assert.deepEqual(await agent.listServices(), before, 'same frontend id, same backend ids');
    assert.deepEqual(await agent.listK8sServices(), [web]);
    assert.deepEqual(Object.keys(await connectMany(client(), VIP, 80, 20)).sort(), ['web-a', 'web-b']);
  });

  it('follows backend changes: one removed takes no more connections, a terminating one none either', async () => {
    const id = (await agent.listServices())[0]!.id;
    await agent.putService({ ...web, backends: [web.backends[0]!] });
    assert.deepEqual(await connectMany(client(), VIP, 80, 10), { 'web-a': 10 });
    await agent.putService({ ...web, backends: [{ ...web.backends[0]!, terminating: true }, web.backends[1]!] });
    const f = await agent.getService(id);
    assert.deepEqual(f.backends.map((b) => `${b.pod?.name} ${b.state}`).sort(), ['web-a terminating', 'web-b active']);
    assert.deepEqual(await connectMany(client(), VIP, 80, 10), { 'web-b': 10 });
    await agent.putService(web);
    assert.equal((await agent.listServices())[0]!.id, id, 'the frontend keeps its id through changes');
  });

  it('drops connections to a service without backends with reason 158, naming the service', async () => {
    await agent.putService({ ...web, name: 'empty', clusterIP: EMPTY_VIP, backends: [] });
    const seen = await connectMany(client(), EMPTY_VIP, 80, 1);
    assert.equal(seen['web-a'] ?? seen['web-b'], undefined, `no answer: ${JSON.stringify(seen)}`);
    let drop: Flow | undefined;
    for (let i = 0; i < 20 && !drop; i++) {
      drop = (await flows(agent)).find((f) => f.drop_reason === 158);
      if (!drop) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(drop, 'a drop flow with reason 158');
    assert.deepEqual(drop.destination_service, { name: 'empty', namespace: 'default' });
    await agent.deleteService('default', 'empty');
  });

  it('leaves no LB map entry once the services are deleted', async () => {
    await agent.deleteService('default', 'web');
    await agent.deleteService('default', 'web'); // deleting again is fine
    assert.deepEqual(await agent.listServices(), []);
    assert.deepEqual(await agent.listK8sServices(), []);
    for (const map of ['lb_services', 'lb_backends', 'lb_rev_nat']) assert.equal(await lbMapEntries(node!, map), 0, `${map} is empty`);
    const seen = await connectMany(client(), VIP, 80, 1);
    assert.equal(seen['web-a'] ?? seen['web-b'], undefined, 'the VIP no longer answers');
  });
});
