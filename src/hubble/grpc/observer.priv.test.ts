/**
 * The Hubble Observer gRPC API of a real agent, with real pods and traffic,
 * read by a client built only from our .proto files (proto-loader +
 * grpc-js, its own loader options), as a Hubble client would: over the
 * agent's unix socket (`hubble.sock` beside the API socket).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { AgentClient } from '../../api/client.js';
import { run } from '../../common/exec.js';
import { startTestNode, type TestNode } from '../../testing/agent.js';
import { requireRoot } from '../../testing/names.js';
import { addTestPod, type TestPod } from '../../testing/pods.js';
import { PROTO_DIR } from './proto.js';

const HTTP_SERVER = `require('http').createServer((q, s) => s.end('ok\\n')).listen(8080, () => console.log('listening'))`;

type Msg = Record<string, any>;

/** An Observer client that knows only the .proto (64-bit integers as strings, as many clients decode them). */
function observerClient(address: string): grpc.Client & Record<string, any> {
  const def = protoLoader.loadSync('observer/observer.proto', { includeDirs: [PROTO_DIR], keepCase: true, enums: String, longs: String, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as any;
  return new pkg.observer.Observer(address, grpc.credentials.createInsecure());
}

function unary(client: Msg, method: string, req: Msg = {}): Promise<Msg> {
  return new Promise((resolve, reject) => client[method](req, { deadline: Date.now() + 10_000 }, (err: Error | null, res: Msg) => (err ? reject(err) : resolve(res))));
}

/** All responses of a finite GetFlows call. */
function getFlows(client: Msg, req: Msg): Promise<Msg[]> {
  return new Promise((resolve, reject) => {
    const out: Msg[] = [];
    const call = client['GetFlows'](req, { deadline: Date.now() + 10_000 });
    call.on('data', (r: Msg) => out.push(r));
    call.on('error', reject);
    call.on('end', () => resolve(out));
  });
}

describe('Hubble Observer gRPC API', () => {
  let node: TestNode;
  let client: grpc.Client & Msg;
  const pods: TestPod[] = [];
  let web: TestPod, friend: TestPod, stranger: TestPod;
  const curl = async (from: TestPod) =>
    (await from.exec(['curl', '-s', '--connect-timeout', '1', `http://${web.ip}:8080/`], { allowFailure: true, timeoutMs: 10_000 })).code;

  before(async () => {
    requireRoot();
    node = await startTestNode({ podCIDR: '10.244.13.0/24' });
    web = await addTestPod(node, 'web', { app: 'web' });
    friend = await addTestPod(node, 'friend', { app: 'friend' });
    stranger = await addTestPod(node, 'stranger', { app: 'stranger' });
    pods.push(web, friend, stranger);
    const srv = web.spawn(['node', '-e', HTTP_SERVER]);
    await new Promise<void>((resolve) => srv.stdout!.on('data', (d: Buffer) => { if (String(d).includes('listening')) resolve(); }));
    await new AgentClient(node.socket).importPolicies({
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
    assert.equal(await curl(friend), 0);
    assert.equal(await curl(stranger), 28, 'the stranger\'s SYN is dropped');
    client = observerClient(`unix://${path.join(path.dirname(node.socket), 'hubble.sock')}`);
  });

  after(async () => {
    client?.close();
    for (const p of pods) await p.remove();
    await node?.stop();
  });

  it('serves ServerStatus, GetNodes and GetNamespaces', async () => {
    // The event reader runs asynchronously: wait for the drop to reach the ring.
    let status: Msg = {};
    for (let i = 0; i < 50; i++) {
      status = await unary(client, 'ServerStatus');
      if (Number(status['seen_flows']) >= 3) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(Number(status['seen_flows']) >= 3, `seen_flows ${status['seen_flows']}`);
    assert.equal(status['max_flows'], '4095');
    assert.ok(Number(status['num_flows']) > 0 && Number(status['num_flows']) <= 4095);
    assert.ok(Number(status['uptime_ns']) > 0);
    assert.match(status['version'], /^membrane /);

    const nodes = (await unary(client, 'GetNodes'))['nodes'] as Msg[];
    assert.equal(nodes.length, 1);
    assert.equal(nodes[0]!['name'], node.name);
    assert.equal(nodes[0]!['state'], 'NODE_CONNECTED');

    const namespaces = ((await unary(client, 'GetNamespaces'))['namespaces'] as Msg[]).map((n) => n['namespace']);
    assert.ok(namespaces.includes('default'), `namespaces ${namespaces.join(',')}`);
  });

  it('returns the last `number` flows', async () => {
    const res = await getFlows(client, { number: 2 });
    assert.equal(res.length, 2);
    for (const r of res) {
      assert.equal(r['response_types'], 'flow');
      assert.equal(r['node_name'], node.name);
      assert.equal(r['flow']['node_name'], node.name);
    }
    const all = await getFlows(client, {});
    assert.ok(all.length >= 3);
    assert.deepEqual(res.map((r) => r['flow']['uuid']), all.slice(-2).map((r) => r['flow']['uuid']), 'the most recent two, oldest first');
  });

  it('returns only the flows a whitelist matches, with Hubble field values', async () => {
    const drops = (await getFlows(client, { whitelist: [{ verdict: ['DROPPED'], source_pod: ['default/stranger'] }] })).map((r) => r['flow']);
    assert.ok(drops.length > 0, 'the stranger\'s drops are there');
    for (const f of drops) {
      assert.equal(f['verdict'], 'DROPPED');
      assert.equal(f['source']['pod_name'], 'stranger');
      assert.equal(f['destination']['pod_name'], 'web');
      assert.equal(f['drop_reason_desc'], 'POLICY_DENIED');
      assert.equal(f['traffic_direction'], 'INGRESS');
      assert.equal(f['IP']['destination'], web.ip);
      assert.equal(f['l4']['TCP']['destination_port'], 8080);
    }
    assert.ok(drops.some((f) => f['event_type']['type'] === 1 && f['event_type']['sub_type'] === 133), 'the drop event itself');
    assert.ok(drops.some((f) => (f['ingress_denied_by'] ?? []).some((p: Msg) => p['name'] === 'web-from-friend')));

    const toWeb = (await getFlows(client, { whitelist: [{ destination_pod: ['default/web'] }], blacklist: [{ verdict: ['DROPPED'] }] })).map((r) => r['flow']);
    assert.ok(toWeb.length > 0);
    for (const f of toWeb) {
      assert.equal(f['destination']['pod_name'], 'web');
      assert.equal(f['verdict'], 'FORWARDED');
    }
  });

  it('follows: a flow produced after the call started arrives', async () => {
    const started = Date.now();
    const call = client['GetFlows']({ number: 1, follow: true, whitelist: [{ source_pod: ['default/stranger'] }] });
    try {
      // One listener for the whole call: a flowing stream drops data nobody listens to.
      const seen: Msg[] = [];
      call.on('data', (r: Msg) => { if (r['flow']) seen.push(r['flow']); });
      call.on('error', () => undefined);
      const arrived = async (pred: (f: Msg) => boolean, ms: number) => {
        for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
          if (seen.some(pred)) return true;
        }
        return false;
      };
      // The replayed flow proves the server holds our subscription.
      assert.ok(await arrived(() => true, 10_000), 'the last matching flow is replayed first');
      assert.equal(seen.length, 1, 'number=1: one flow replayed');
      assert.equal(await curl(stranger), 28);
      const fresh = (f: Msg) => Number(f['time']['seconds']) * 1000 + f['time']['nanos'] / 1e6 >= started - 5 && f['verdict'] === 'DROPPED';
      assert.ok(await arrived(fresh, 10_000), 'the new drop arrives on the open stream');
      assert.ok(seen.every((f) => f['source']['pod_name'] === 'stranger'), 'and only flows the whitelist matches');
    } finally {
      call.cancel();
    }
  });

  it('refuses a filter it cannot evaluate with INVALID_ARGUMENT naming the field; GetAgentEvents is UNIMPLEMENTED', async () => {
    await assert.rejects(getFlows(client, { whitelist: [{ dns_query: ['kube.*local'] }] }),
      (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /whitelist\[0\]\.dns_query/.test(e.details));
    await assert.rejects(new Promise((resolve, reject) => {
      const call = client['GetAgentEvents']({});
      call.on('data', () => undefined);
      call.on('error', reject);
      call.on('end', resolve);
    }), (e: grpc.ServiceError) => e.code === grpc.status.UNIMPLEMENTED);
  });

  it('listens on 127.0.0.1:4244 in the node\'s network namespace', async () => {
    const ss = await run('nsenter', [`--net=${node.nodeNetnsPath}`, 'ss', '-Hltn', 'sport = :4244']);
    assert.match(ss.stdout, /127\.0\.0\.1:4244/);
  });
});
