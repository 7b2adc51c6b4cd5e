/**
 * Trace flows through the real kernel path: a live node, pods made by the
 * CNI plugin, real connections. Checks what a user sees in `observe`: the
 * to-endpoint and to-stack flows of a connection, reported per connection
 * (new connection, new TCP flags) and not per packet at the default level,
 * every packet at `--monitor-aggregation low`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AgentClient } from '../api/client.js';
import { run } from '../common/exec.js';
import { MEMBRANE_BIN, startTestNode } from '../testing/agent.js';
import { requireRoot } from '../testing/names.js';
import { addTestPod, type TestPod } from '../testing/pods.js';
import type { Flow } from './flow.js';

const HTTP_SERVER = `require('http').createServer((q, s) => s.end('x'.repeat(200000))).listen(8080, () => console.log('listening'))`;

async function startNode(podCIDR: string, agentArgs: string[] = []) {
  const node = await startTestNode({ podCIDR, agentArgs });
  const server = await addTestPod(node, 'trace-server', { app: 'trace-server' });
  const client = await addTestPod(node, 'trace-client', { app: 'trace-client' });
  const srv = server.spawn(['node', '-e', HTTP_SERVER]);
  await new Promise<void>((resolve) => srv.stdout!.on('data', (d: Buffer) => { if (String(d).includes('listening')) resolve(); }));
  return { node, server, client, agent: new AgentClient(node.socket) };
}

/** One HTTP request from `client` with a fixed source port: a connection whose flows can be told apart. */
async function request(client: TestPod, server: TestPod, sport: number): Promise<void> {
  const res = await client.exec(['curl', '-sS', '-o', '/dev/null', '--local-port', String(sport), '--max-time', '5', `http://${server.ip}:8080/`], { timeoutMs: 15_000 });
  assert.equal(res.code, 0, res.stderr);
}

/** Pings the pod's gateway (the node) `count` times, one connection; returns the gateway's address. */
async function pingGateway(pod: TestPod, count: number): Promise<string> {
  const gateway = (await run('nsenter', [`--net=${pod.netnsPath}`, 'ip', '-4', 'route', 'show', 'default'])).stdout.split(' ')[2]!;
  const ping = await pod.exec(['ping', '-c', String(count), '-i', '0.2', '-W', '2', gateway], { allowFailure: true, timeoutMs: 15_000 });
  assert.equal(ping.code, 0, `the node answers pings: ${ping.stdout}${ping.stderr}`);
  return gateway;
}

async function flowsOfPort(agent: AgentClient, sport: number): Promise<Flow[]> {
  const flows: Flow[] = [];
  await agent.stream('/v1/flows?number=0', (f) => {
    const fl = f as Flow;
    const tcp = fl.l4?.TCP;
    if (tcp && (tcp.source_port === sport || tcp.destination_port === sport)) flows.push(fl);
  });
  return flows;
}

describe('trace flows, live', () => {
  requireRoot();

  describe('at the default level (medium)', () => {
    let env: Awaited<ReturnType<typeof startNode>>;
    before(async () => { env = await startNode('10.244.41.0/24'); });
    after(async () => {
      for (const p of [env?.client, env?.server]) await p?.remove().catch(() => undefined);
      await env?.node.stop();
    });

    it('reports a connection to-endpoint at both ends: its first packets and new TCP flags, not each of its packets', async () => {
      const sport = 42011;
      await request(env.client, env.server, sport);
      const flows = await flowsOfPort(env.agent, sport);
      const traces = flows.filter((f) => f.event_type.type === 4);
      assert.ok(traces.every((f) => f.trace_observation_point === 'TO_ENDPOINT' && f.verdict === 'FORWARDED'), 'pod to pod on one node: to-endpoint only');
      const toServer = traces.filter((f) => f.destination.pod_name === 'trace-server');
      const toClient = traces.filter((f) => f.destination.pod_name === 'trace-client');
      assert.equal(toServer[0]?.trace_reason, 'NEW');
      assert.deepEqual(toServer[0]?.l4?.TCP?.flags, { SYN: true });
      assert.equal(toServer[0]?.is_reply, false);
      assert.equal(toServer[0]?.traffic_direction, 'INGRESS');
      assert.equal(toClient[0]?.trace_reason, 'REPLY');
      assert.equal(toClient[0]?.is_reply, true);
      assert.equal(toClient[0]?.traffic_direction, 'EGRESS', 'the reply belongs to the client\'s egress connection');
      assert.ok(toClient.some((f) => f.l4?.TCP?.flags?.FIN), 'the server\'s FIN is reported');
      // 200 kB of response is well over a hundred packets to the client; each new flag is reported once per direction.
      const counters = await env.agent.status();
      assert.ok(toClient.length <= 6, `${toClient.length} to-endpoint flows towards the client, for over a hundred packets`);
      assert.ok(toServer.length <= 6, `${toServer.length} to-endpoint flows towards the server`);
      assert.ok(counters.flows.seen > 0);
      // The policy verdicts are still there, as before the traces.
      assert.equal(flows.filter((f) => f.event_type.type === 5).length, 2, 'one policy verdict at each end');
    });

    it('reports to-stack for traffic leaving for the node once per connection, and `observe --type trace:to-stack` finds it', async () => {
      const gateway = await pingGateway(env.client, 5);
      const out = await run(MEMBRANE_BIN, ['--socket', env.node.socket, 'observe', '--type', 'trace:to-stack', '--to-ip', gateway, '--last', '10', '-o', 'json']);
      const flows = out.stdout.trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { flow: Flow }).flow);
      assert.equal(flows.length, 1, `one to-stack flow for 5 echo requests of one connection: ${out.stdout}`);
      assert.equal(flows[0]!.trace_observation_point, 'TO_STACK');
      assert.equal(flows[0]!.source.pod_name, 'trace-client');
      assert.equal(flows[0]!.trace_reason, 'NEW');
      const compact = await run(MEMBRANE_BIN, ['--socket', env.node.socket, 'observe', '--type', 'trace', '--from-pod', 'default/trace-client', '--to-ip', gateway, '--last', '1']);
      assert.match(compact.stdout, / to-stack FORWARDED \(ICMPv4 EchoRequest\)/);
      const replies = await run(MEMBRANE_BIN, ['--socket', env.node.socket, 'observe', '--type', 'trace:to-endpoint', '--from-ip', gateway, '--last', '10', '-o', 'json']);
      assert.equal(replies.stdout.trim().split('\n').filter(Boolean).length, 1, `one to-endpoint flow for the 5 replies: ${replies.stdout}`);
    });
  });

  describe('at --monitor-aggregation low', () => {
    let env: Awaited<ReturnType<typeof startNode>>;
    before(async () => { env = await startNode('10.244.42.0/24', ['--monitor-aggregation', 'low']); });
    after(async () => {
      for (const p of [env?.client, env?.server]) await p?.remove().catch(() => undefined);
      await env?.node.stop();
    });

    it('reports every packet', async () => {
      const gateway = await pingGateway(env.client, 5);
      const requests = await run(MEMBRANE_BIN, ['--socket', env.node.socket, 'observe', '--type', 'trace:to-stack', '--to-ip', gateway, '--last', '10', '-o', 'json']);
      assert.equal(requests.stdout.trim().split('\n').filter(Boolean).length, 5, `a to-stack flow per echo request: ${requests.stdout}`);
      const replies = await run(MEMBRANE_BIN, ['--socket', env.node.socket, 'observe', '--type', 'trace:to-endpoint', '--from-ip', gateway, '--last', '10', '-o', 'json']);
      assert.equal(replies.stdout.trim().split('\n').filter(Boolean).length, 5, `a to-endpoint flow per echo reply: ${replies.stdout}`);
    });
  });
});
