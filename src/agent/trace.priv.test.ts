/**
 * `policy trace` against a real agent with real pods: for each packet the
 * trace's verdict is the one real traffic gets (a `workload probe` from the
 * source pod to a `workload serve` in the destination pod), and it names the
 * rule or the default deny behind it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AgentClient } from '../api/client.js';
import type { PeerSpec, PolicyTraceResponse } from '../api/types.js';
import { run } from '../common/exec.js';
import { MEMBRANE_BIN, startTestNode, type TestNode } from '../testing/agent.js';
import { requireRoot } from '../testing/names.js';
import { addTestPod, type TestPod } from '../testing/pods.js';
import { waitForLine } from '../testing/tcp.js';
import { rejects } from '../testing/rejects.js';

const POLICIES = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-ingress}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: friend}}]
    toPorts: [{ports: [{port: "80", protocol: TCP}]}]
  - fromEndpoints: [{matchLabels: {app: stranger}}]
    toPorts: [{ports: [{port: "82", protocol: TCP}]}]
  ingressDeny:
  - fromEndpoints: [{matchLabels: {app: friend}}]
    toPorts: [{ports: [{port: "81", protocol: TCP}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: stranger-egress}
spec:
  endpointSelector: {matchLabels: {app: stranger}}
  egress:
  - toEndpoints: [{matchLabels: {app: web}}]
    toPorts: [{ports: [{port: "80", protocol: TCP}]}]
`;


describe('policy trace', () => {
  let node: TestNode;
  let agent: AgentClient;
  const pods: TestPod[] = [];
  let web: TestPod, friend: TestPod, stranger: TestPod;

  before(async () => {
    requireRoot();
    node = await startTestNode({ podCIDR: '10.244.21.0/24' });
    agent = new AgentClient(node.socket);
    web = await addTestPod(node, 'web', { app: 'web' });
    friend = await addTestPod(node, 'friend', { app: 'friend' });
    stranger = await addTestPod(node, 'stranger', { app: 'stranger' });
    pods.push(web, friend, stranger);
    const srv = web.spawn([MEMBRANE_BIN, 'workload', 'serve', '--tcp', '80,81,82', '--name', 'web']);
    if (!(await waitForLine(srv, /^serve: answering/, 15_000))) throw new Error('workload serve did not start in web');
    await agent.importPolicies({ text: POLICIES });
  });

  after(async () => {
    for (const p of pods) await p.remove();
    await node?.stop();
  });

  /** Whether a TCP connection from `from` to web:port gets web's answer. */
  async function reaches(from: TestPod, port: number): Promise<boolean> {
    const r = await from.exec([MEMBRANE_BIN, 'workload', 'probe', '--to', `${web.ip}:${port}`, '--timeout', '1s'], { allowFailure: true, timeoutMs: 20_000 });
    assert.ok(r.code === 0 || r.code === 1, `probe ran: ${r.stderr}`);
    return r.code === 0;
  }

  const pod = (name: string): PeerSpec => ({ pod: { namespace: 'default', name } });
  const trace = (from: PeerSpec, to: PeerSpec, port: number): Promise<PolicyTraceResponse> =>
    agent.tracePolicy({ from, to, port, protocol: 'TCP' });

  const cases: { name: string; from: () => TestPod; to: () => PeerSpec; port: number; check: (t: PolicyTraceResponse) => void }[] = [
    {
      name: 'friend to web:80 is allowed by spec.ingress[0]; friend\'s egress is not enforced',
      from: () => friend, to: () => pod('web'), port: 80,
      check: (t) => {
        assert.equal(t.verdict, 'allowed');
        assert.deepEqual(t.ingress?.rule, { kind: 'CiliumNetworkPolicy', namespace: 'default', name: 'web-ingress', path: 'spec.ingress[0]' });
        assert.equal(t.ingress?.matchType, 'L3-L4');
        assert.equal(t.egress?.verdict, 'not enforced');
      },
    },
    {
      name: 'friend to web:81 is denied by spec.ingressDeny[0] (181)',
      from: () => friend, to: () => pod('web'), port: 81,
      check: (t) => {
        assert.equal(t.verdict, 'denied');
        assert.equal(t.ingress?.dropReason, 181);
        assert.equal(t.ingress?.rule?.path, 'spec.ingressDeny[0]');
      },
    },
    {
      name: 'friend to web:82 (by address) is denied by web-ingress\'s default deny (133)',
      from: () => friend, to: () => ({ ip: web.ip }), port: 82,
      check: (t) => {
        assert.equal(t.verdict, 'denied');
        assert.equal(t.to.endpoint?.podName, 'web');
        assert.equal(t.ingress?.dropReason, 133);
        assert.deepEqual(t.ingress?.defaultDenyBy?.map((r) => r.name), ['web-ingress']);
      },
    },
    {
      name: 'stranger to web:80 passes stranger\'s egress but web\'s ingress denies it',
      from: () => stranger, to: () => pod('web'), port: 80,
      check: (t) => {
        assert.equal(t.verdict, 'denied');
        assert.equal(t.egress?.verdict, 'allowed');
        assert.equal(t.egress?.rule?.name, 'stranger-egress');
        assert.equal(t.ingress?.dropReason, 133);
      },
    },
    {
      name: 'stranger to web:82 is allowed by web\'s spec.ingress[1] but denied by stranger\'s egress default deny',
      from: () => stranger, to: () => pod('web'), port: 82,
      check: (t) => {
        assert.equal(t.verdict, 'denied');
        assert.equal(t.ingress?.verdict, 'allowed');
        assert.equal(t.ingress?.rule?.path, 'spec.ingress[1]');
        assert.equal(t.egress?.dropReason, 133);
        assert.deepEqual(t.egress?.defaultDenyBy?.map((r) => r.name), ['stranger-egress']);
      },
    },
  ];

  for (const c of cases) {
    it(`${c.name}, and real traffic agrees`, async () => {
      const from = c.from();
      const t = await trace(pod(from.name), c.to(), c.port);
      c.check(t);
      assert.equal(t.from.endpoint?.ipv4, from.ip);
      assert.equal(await reaches(from, c.port), t.verdict === 'allowed', `probe ${from.name} -> web:${c.port} matches the trace (${t.verdict})`);
      const byIp = await trace({ ip: from.ip }, c.to(), c.port);
      assert.deepEqual(byIp, t, 'the source by address traces the same');
    });
  }

  it('traces pod labels with the identity they have, and new labels with one they would get, allocating nothing', async () => {
    const friendEp = (await agent.listEndpoints()).find((e) => e.podName === 'friend')!;
    const byLabels = await trace({ labels: ['app=friend'] }, pod('web'), 81);
    assert.equal(byLabels.from.identity, friendEp.identity);
    assert.equal(byLabels.ingress?.dropReason, 181);
    const before = await agent.listIdentities();
    const fresh = await trace({ labels: ['k8s:app=stranger', 'k8s:extra=1'] }, pod('web'), 82);
    assert.equal(fresh.from.unallocated, true);
    assert.equal(fresh.ingress?.rule?.path, 'spec.ingress[1]', 'fromEndpoints app=stranger selects the new identity too');
    assert.equal(fresh.egress?.dropReason, 133, 'and stranger-egress selects a pod with these labels');
    assert.deepEqual(await agent.listIdentities(), before, 'no identity was allocated');
  });

  it('asks the kernel ipcache for other addresses: the gateway is the host, anything else the world', async () => {
    const { gateway } = await agent.config();
    const host = await trace(pod('web'), { ip: gateway }, 80);
    assert.deepEqual(host.to, { identity: 1, labels: ['reserved:host'] });
    assert.equal(host.ingress, undefined);
    assert.equal(host.egress?.verdict, 'not enforced');
    const world = await trace({ ip: '192.0.2.9' }, pod('web'), 80);
    assert.equal(world.from.identity, 2);
    assert.equal(world.ingress?.dropReason, 133);
  });

  it('refuses an unknown pod (ENOTFOUND) and a bad port or protocol (EINVAL), naming them', async () => {
    const ghost = await rejects(trace(pod('ghost'), pod('web'), 80));
    assert.equal(ghost.code, 'ENOTFOUND');
    assert.match(ghost.message, /default\/ghost/);
    const port = await rejects(trace(pod('friend'), pod('web'), 0));
    assert.equal(port.code, 'EINVAL');
    assert.equal(port.path, 'port');
    const proto = await rejects(agent.request('POST', '/v1/policy/trace', { from: pod('friend'), to: pod('web'), port: 80, protocol: 'HTTP' }));
    assert.equal(proto.path, 'protocol');
    const ref = await rejects(trace({ pod: { namespace: 'default', name: '' } }, pod('web'), 80));
    assert.equal(ref.path, 'from.pod.name');
  });

  it('reports a denial of an audited policy as audited and allowed, as the datapath lets it pass', async () => {
    const audited = POLICIES.replace('metadata: {name: web-ingress}', 'metadata:\n  name: web-ingress\n  annotations: {policy.membrane.io/audit-mode: "true"}');
    await agent.importPolicies({ text: audited });
    try {
      const t = await trace(pod('friend'), pod('web'), 81);
      assert.equal(t.ingress?.dropReason, 181);
      assert.equal(t.ingress?.audited, true);
      assert.equal(t.verdict, 'allowed');
      assert.equal(await reaches(friend, 81), true, 'the audited deny lets the connection through');
    } finally {
      await agent.importPolicies({ text: POLICIES });
    }
  });

  it('prints the explanation with `membrane policy trace` and exits 0 for a denial, 2 for bad flags', async () => {
    const cli = (args: string[]) => run(MEMBRANE_BIN, ['--socket', node.socket, 'policy', 'trace', ...args], { allowFailure: true });
    const denied = await cli(['--from', 'default/friend', '--to', 'default/web', '--port', '81/tcp']);
    assert.equal(denied.code, 0, denied.stderr);
    assert.match(denied.stdout, /^Ingress verdict: denied by CiliumNetworkPolicy default\/web-ingress spec\.ingressDeny\[0\] \(181\)$/m);
    assert.match(denied.stdout, /^Final verdict: denied$/m);
    const allowed = await cli(['--from', 'app=friend', '--to', web.ip, '--port', '80', '-o', 'json']);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal((JSON.parse(allowed.stdout) as PolicyTraceResponse).verdict, 'allowed');
    const bad = await cli(['--from', 'default/friend', '--to', 'default/web', '--port', '80/http']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--port/);
    const missing = await cli(['--from', 'default/friend', '--port', '80']);
    assert.equal(missing.code, 2);
  });
});
