/**
 * ICMP rules and NetworkPolicy ipBlocks through real traffic on a test node:
 * `icmps` lets one pod ping another and not a third; an ipBlock lets a pod
 * reach a world address but not one in its except or outside it, and admits
 * a pod by its IP, as Kubernetes defines ipBlock.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { AgentClient } from '../api/client.js';
import { MEMBRANE_BIN, startTestNode, type TestNode } from '../testing/agent.js';
import { requireRoot } from '../testing/names.js';
import { addTestPod, type TestPod } from '../testing/pods.js';
import { addTestWorld, type TestWorld } from '../testing/world.js';
import { formatCidr, parseCidr } from './cidr.js';

/** The largest block holding `ip` but not `other`: `ip`'s prefix one bit longer than what the two share. */
function blockOf(ip: string, other: string): string {
  const a = parseCidr(ip)!.address;
  const b = parseCidr(other)!.address;
  let shared = 0;
  while (shared < 32 && ((a >> BigInt(31 - shared)) & 1n) === ((b >> BigInt(31 - shared)) & 1n)) shared++;
  return formatCidr(parseCidr(`${ip}/${shared + 1}`)!);
}

describe('ICMP rules and NetworkPolicy ipBlocks', () => {
  let node: TestNode;
  let agent: AgentClient;
  let server: TestPod;
  let other: TestPod;
  let client: TestPod;
  let world: TestWorld;
  const serves: ChildProcess[] = [];

  before(async () => {
    requireRoot();
    node = await startTestNode({ podCIDR: '10.244.15.0/24' });
    agent = new AgentClient(node.socket);
    // In this order, so that client's address has a neighbour block of its own (see blockOf).
    server = await addTestPod(node, 'server', { app: 'server' });
    other = await addTestPod(node, 'other', { app: 'other' });
    client = await addTestPod(node, 'client', { app: 'client' });
    world = await addTestWorld(node, ['198.51.100.10', '198.51.100.200', '203.0.113.7']);
    serves.push(await world.serve([80]));
    const s = server.spawn([MEMBRANE_BIN, 'workload', 'serve', '--tcp', '80', '--name', 'server']);
    serves.push(s);
    await new Promise<void>((resolve, reject) => {
      s.stdout!.on('data', (d: Buffer) => { if (String(d).includes('answering')) resolve(); });
      s.once('exit', (code) => reject(new Error(`server serve exited ${code}`)));
    });
  });

  after(async () => {
    for (const s of serves) s.kill();
    await world?.remove();
    for (const p of [client, other, server]) await p?.remove();
    await node?.stop();
  });

  const ping = async (from: TestPod, to: string) =>
    ((await from.exec(['ping', '-c1', '-W1', to], { allowFailure: true, timeoutMs: 10_000 })).code === 0 ? 'ok' : 'no answer');

  const probe = async (from: TestPod, ...targets: string[]) => {
    const res = await from.exec([MEMBRANE_BIN, 'workload', 'probe', '--protocol', 'tcp', '--timeout', '1s', ...targets.flatMap((t) => ['--to', `${t}:80`]), '-o', 'json'],
      { allowFailure: true, timeoutMs: 20_000 });
    return Object.fromEntries(res.stdout.trim().split('\n').map((l) => JSON.parse(l) as { target: string; ok: boolean; error: string | null })
      .map((r) => [r.target.split(':')[0], r.ok ? 'ok' : r.error]));
  };

  it('allows an echo request by icmps type from one pod and not another, and nothing else', async () => {
    assert.deepEqual([await ping(client, server.ip), await ping(other, server.ip)], ['ok', 'ok'], 'no policy yet');
    await agent.importPolicies({ text: `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: server-icmp}
spec:
  endpointSelector: {matchLabels: {app: server}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: client}}]
    icmps: [{fields: [{type: EchoRequest}]}]
` });
    assert.equal(await ping(client, server.ip), 'ok');
    assert.equal(await ping(other, server.ip), 'no answer');
    assert.deepEqual(await probe(client, server.ip), { [server.ip]: 'timeout' }, 'icmps allows no TCP');
    await agent.deleteAllPolicies();
    assert.equal(await ping(other, server.ip), 'ok');
  });

  it('enforces the ICMPv4 field of a mixed-family icmps rule (client-ingress-icmp), warning about the ICMPv6 one, which lets no ping in', async () => {
    const policy = (fields: string) => `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: client-ingress-icmp}
spec:
  endpointSelector: {matchLabels: {app: server}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: client}}]
    icmps: [{fields: [${fields}]}]
`;
    const res = await agent.importPolicies({ text: policy('{type: 8, family: IPv4}, {type: 128, family: IPv6}') });
    assert.deepEqual(res.warnings?.map((w) => w.path), ['spec.ingress[0].icmps[0].fields[1]']);
    assert.match(res.warnings![0]!.message, /^ICMPv6 type 128 selects no traffic: .*IPv4-only.*DROP_UNKNOWN_L3/);
    assert.equal(await ping(client, server.ip), 'ok');
    assert.equal(await ping(other, server.ip), 'no answer');
    const v6only = await agent.importPolicies({ text: policy('{type: EchoRequest, family: IPv6}') });
    assert.match(v6only.warnings![0]!.message, /this rule allows nothing/);
    assert.equal(await ping(client, server.ip), 'no answer', 'an ICMPv6-only rule allows nothing, not every protocol');
    assert.deepEqual(await probe(client, server.ip), { [server.ip]: 'timeout' });
    await agent.deleteAllPolicies();
    assert.equal(await ping(client, server.ip), 'ok');
  });

  it('lets an ipBlock egress rule reach a world address, not its except nor an address outside it', async () => {
    await agent.importPolicies({ text: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-out, namespace: default}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 198.51.100.0/24, except: [198.51.100.128/25]}}]
    ports: [{port: 80}]
` });
    assert.deepEqual(await probe(client, '198.51.100.10', '198.51.100.200', '203.0.113.7'),
      { '198.51.100.10': 'ok', '198.51.100.200': 'timeout', '203.0.113.7': 'timeout' });
    const ids = await agent.listIdentities();
    for (const p of ['198.51.100.0/24', '198.51.100.128/25']) assert.ok(ids.some((i) => i.labels.includes(`cidr:${p}`)), `a CIDR identity for ${p}`);
    await agent.deleteAllPolicies();
  });

  it('admits a pod by its IP through an ipBlock ingress rule, and not a pod outside the block', async () => {
    const block = blockOf(client.ip, other.ip);
    assert.ok(!block.endsWith('/32'), `client ${client.ip} and other ${other.ip} need a block between them, got ${block}`);
    await agent.importPolicies({ text: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: server-in, namespace: default}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress:
  - from: [{ipBlock: {cidr: ${block}}}]
    ports: [{port: 80}]
` });
    assert.deepEqual(await probe(client, server.ip), { [server.ip]: 'ok' }, `client ${client.ip} is in ${block}`);
    assert.deepEqual(await probe(other, server.ip), { [server.ip]: 'timeout' }, `other ${other.ip} is not in ${block}`);
    await agent.deleteAllPolicies();
    assert.deepEqual(await probe(other, server.ip), { [server.ip]: 'ok' });
  });
});
