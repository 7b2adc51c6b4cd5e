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
import { MEMBRANE_BIN, startTestNode, type TestNode } from '../../testing/agent.js';
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

/**
 * The responses of a GetAgentEvents call: all of a finite one; with follow,
 * those until `until` holds for one, `seen` filling as they come.
 */
function getAgentEvents(client: Msg, req: Msg, until?: (e: Msg) => boolean, seen: Msg[] = []): Promise<Msg[]> {
  return new Promise((resolve, reject) => {
    const call = client['GetAgentEvents'](req, { deadline: Date.now() + 20_000 });
    call.on('data', (r: Msg) => {
      seen.push(r);
      if (until?.(r['agent_event'])) {
        call.cancel();
        resolve(seen);
      }
    });
    call.on('error', (e: grpc.ServiceError) => (e.code === grpc.status.CANCELLED ? resolve(seen) : reject(e)));
    call.on('end', () => resolve(seen));
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
  log: {value: "web from friend"}
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

  it('names the rule that allowed a flow as the label membrane:rule=<path>, and carries the rule\'s log value as policy_log', async () => {
    const verdicts = (await getFlows(client, { whitelist: [{ source_pod: ['default/friend'], destination_pod: ['default/web'], event_type: [{ type: 5 }] }] }))
      .map((r) => r['flow']);
    // The friend's egress verdict (no policy selects it) names nothing; web's ingress verdict names the rule.
    const allowed = verdicts.find((f) => f['traffic_direction'] === 'INGRESS');
    assert.ok(allowed, 'web\'s ingress policy verdict for the friend is there');
    assert.deepEqual(allowed['ingress_allowed_by'].map((p: Msg) => [p['name'], p['labels'].filter((l: string) => l.startsWith('membrane:'))]),
      [['web-from-friend', ['membrane:rule=spec.ingress[0]']]]);
    assert.deepEqual(allowed['policy_log'], ['web from friend']);
    // The stranger's drop has no rule: default deny names the policy only, and no log value.
    const denied = (await getFlows(client, { whitelist: [{ source_pod: ['default/stranger'], event_type: [{ type: 5 }], verdict: ['DROPPED'] }] })).map((r) => r['flow']);
    assert.ok(denied.length > 0);
    assert.deepEqual(denied[0]['ingress_denied_by'].map((p: Msg) => p['labels'].filter((l: string) => l.startsWith('membrane:'))), [[]]);
    assert.deepEqual(denied[0]['policy_log'] ?? [], []);
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

  it('refuses a filter it cannot evaluate with INVALID_ARGUMENT naming the field', async () => {
    await assert.rejects(getFlows(client, { whitelist: [{ dns_query: ['kube.*local'] }] }),
      (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /whitelist\[0\]\.dns_query/.test(e.details));
  });

  it('GetAgentEvents: the agent started, the pods\' endpoints created, the policy imported, the endpoint it selects regenerated', async () => {
    const res = await getAgentEvents(client, {});
    assert.ok(res.every((r) => r['node_name'] === node.name && Number(r['time']['seconds']) > 0), 'each response names the node and the time');
    const events = res.map((r) => r['agent_event']);
    assert.equal(events[0]['type'], 'AGENT_STARTED');
    assert.ok(Number(events[0]['agent_start']['time']['seconds']) > 0);

    const created = events.find((e) => e['type'] === 'ENDPOINT_CREATED' && e['endpoint_update']['pod_name'] === 'web')?.['endpoint_update'];
    assert.ok(created, `ENDPOINT_CREATED of web among ${events.map((e) => e['type']).join(', ')}`);
    assert.equal(created['namespace'], 'default');
    assert.ok(Number(created['id']) > 0);
    assert.ok(created['labels'].includes('k8s:app=web'), created['labels'].join(','));
    const ipcache = events.find((e) => e['type'] === 'IPCACHE_UPSERTED' && e['ipcache_update']['cidr'] === `${web.ip}/32`)?.['ipcache_update'];
    assert.equal(ipcache?.['pod_name'], 'web');

    const policyAt = events.findIndex((e) => e['type'] === 'POLICY_UPDATED');
    const policy = events[policyAt]?.['policy_update'];
    assert.ok(policy, 'POLICY_UPDATED');
    assert.deepEqual(policy['labels'], [
      'k8s:io.cilium.k8s.policy.derived-from=CiliumNetworkPolicy', 'k8s:io.cilium.k8s.policy.name=web-from-friend', 'k8s:io.cilium.k8s.policy.namespace=default',
    ]);
    assert.equal(policy['rule_count'], '1');
    assert.ok(Number(policy['revision']) >= 2);
    const regenerated = events.slice(policyAt).find((e) => e['type'] === 'ENDPOINT_REGENERATE_SUCCESS' && e['endpoint_regenerate']['id'] === created['id']);
    assert.ok(regenerated, 'web\'s endpoint regenerates after the policy selecting it');
    assert.ok(regenerated['endpoint_regenerate']['labels'].includes('k8s:app=web'));

    const last2 = await getAgentEvents(client, { number: 2 });
    assert.deepEqual(last2.map((r) => r['agent_event']), events.slice(-2), 'number=2: the last two, oldest first');
  });

  it('GetAgentEvents follows policy and service changes made after the call started; the CLI prints them as Hubble does', async () => {
    const api = new AgentClient(node.socket);
    const seen: Msg[] = [];
    const follow = getAgentEvents(client, { number: 1, follow: true }, (e) => e['type'] === 'SERVICE_DELETED', seen);
    // The replayed event proves the server holds the subscription before anything changes.
    for (const deadline = Date.now() + 10_000; seen.length === 0 && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 20));
    assert.equal(seen.length, 1, 'number=1: the last event replayed first');
    await api.importPolicies({ text: 'apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: friend-to-web}\nspec:\n  endpointSelector: {matchLabels: {app: friend}}\n  egress:\n  - toEndpoints: [{matchLabels: {app: web}}]\n' });
    await api.deletePolicy({ kind: 'CiliumNetworkPolicy', namespace: 'default', name: 'friend-to-web' });
    await api.putService({
      namespace: 'default', name: 'websvc', type: 'ClusterIP', clusterIP: '10.96.0.50',
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }], backends: [{ ip: web.ip, ports: { http: 8080 } }],
    });
    await api.deleteService('default', 'websvc');
    const events = (await follow).map((r) => r['agent_event']);
    const types = events.map((e) => e['type']);
    assert.ok(events.length >= 5, types.join(', '));
    const nameOf = (e: Msg) => e['policy_update']['labels'].find((l: string) => l.startsWith('k8s:io.cilium.k8s.policy.name='));
    assert.ok(events.some((e) => e['type'] === 'POLICY_UPDATED' && nameOf(e) === 'k8s:io.cilium.k8s.policy.name=friend-to-web'), types.join(', '));
    const deleted = events.find((e) => e['type'] === 'POLICY_DELETED');
    assert.equal(nameOf(deleted), 'k8s:io.cilium.k8s.policy.name=friend-to-web');
    assert.equal(deleted['policy_update']['rule_count'], '1');
    const endpoints = await api.listEndpoints();
    const friendEp = endpoints.find((e) => e.podName === 'friend')!;
    const webEp = endpoints.find((e) => e.podName === 'web')!;
    assert.ok(events.some((e) => e['type'] === 'ENDPOINT_REGENERATE_SUCCESS' && Number(e['endpoint_regenerate']['id']) === friendEp.id), 'friend regenerates');
    const svc = events.find((e) => e['type'] === 'SERVICE_UPSERTED')?.['service_upsert'];
    assert.deepEqual([svc?.['name'], svc?.['namespace'], svc?.['type'], svc?.['frontend_address']], ['websvc', 'default', 'ClusterIP', { ip: '10.96.0.50', port: 80 }]);
    assert.deepEqual(svc['backend_addresses'], [{ ip: web.ip, port: 8080 }]);
    assert.equal(events.at(-1)['service_delete']['id'], svc['id']);

    const cli = await run(MEMBRANE_BIN, ['--socket', node.socket, 'observe', 'agent-events', '--all']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^\w{3} [ \d]\d \d\d:\d\d:\d\d\.\d{3}: AGENT_STARTED \(start time: /);
    assert.match(cli.stdout, new RegExp(`: ENDPOINT_CREATED \\(id: ${webEp.id}, namespace: default, pod name: web\\)\n`));
    assert.match(cli.stdout, /: POLICY_DELETED \(labels: \[k8s:io\.cilium\.k8s\.policy\.derived-from=CiliumNetworkPolicy,k8s:io\.cilium\.k8s\.policy\.name=friend-to-web,k8s:io\.cilium\.k8s\.policy\.namespace=default\], revision: \d+, count: 1\)\n/);
    assert.match(cli.stdout, new RegExp(`: SERVICE_UPSERTED \\(id: ${svc['id']}, frontend: 10\\.96\\.0\\.50:80, backends: \\[${web.ip.replace(/\./g, '\\.')}:8080\\], type: ClusterIP, traffic policy: Cluster, namespace: default, name: websvc\\)\n`));
  });

  it('listens on 127.0.0.1:4244 in the node\'s network namespace', async () => {
    const ss = await run('nsenter', [`--net=${node.nodeNetnsPath}`, 'ss', '-Hltn', 'sport = :4244']);
    assert.match(ss.stdout, /127\.0\.0\.1:4244/);
  });
});
