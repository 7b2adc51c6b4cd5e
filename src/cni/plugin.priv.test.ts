/**
 * The real plugin binary (bin/membrane-cni), executed exactly as a runtime
 * does (src/cni/invoke.ts), against a real agent on a throwaway node netns
 * (src/testing/agent.ts), for every supported spec version. Each version
 * gets one node; each test its own pod netns(es), removed at the end.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AgentClient } from '../api/client.js';
import { MembraneError } from '../common/errors.js';
import { run } from '../common/exec.js';
import { MEMBRANE_CNI_BIN, startTestNode, type TestNode } from '../testing/agent.js';
import { requireRoot, uniqueName } from '../testing/names.js';
import { CniAgentClient } from './agent-client.js';
import { invokeCni, type CniCommand, type CniOutcome } from './invoke.js';
import { vethNames } from './veth.js';

requireRoot();
const startNode = startTestNode;

interface Pod {
  netnsName: string;
  netns: string; // path
  containerId: string;
}

async function ipJson<T>(args: string[]): Promise<T> {
  return JSON.parse((await run('ip', ['-j', ...args])).stdout || '[]') as T;
}

async function linkExists(netnsName: string, dev: string): Promise<boolean> {
  return (await run('ip', ['-n', netnsName, 'link', 'show', 'dev', dev], { allowFailure: true })).code === 0;
}

function assertOk(out: CniOutcome, what: string): asserts out is Extract<CniOutcome, { ok: true }> {
  assert.ok(out.ok, `${what} failed: ${JSON.stringify(out.ok ? {} : out.error)}\n${out.stderr}`);
}

function assertError(out: CniOutcome, code: number, msgPattern?: RegExp): Extract<CniOutcome, { ok: false }> {
  assert.ok(!out.ok, `expected CNI error ${code}, got success: ${JSON.stringify(out.ok ? out.output : {})}`);
  assert.notEqual(out.exitCode, 0);
  assert.equal(out.error.code, code, `expected code ${code}: ${JSON.stringify(out.error)}`);
  if (msgPattern) assert.match(out.error.msg, msgPattern);
  return out;
}

for (const version of ['1.0.0', '1.1.0'] as const) {
  describe(`membrane-cni, spec ${version}`, () => {
    let node: TestNode;
    const pods: Pod[] = [];
    const tmp = mkdtempSync('/tmp/membrane-cni-test-');

    before(async () => {
      node = await startNode();
    });
    after(async () => {
      for (const pod of pods) await run('ip', ['netns', 'del', pod.netnsName], { allowFailure: true });
      await node?.stop();
      rmSync(tmp, { recursive: true, force: true });
    });

    async function newPod(): Promise<Pod> {
      const netnsName = uniqueName('mp');
      await run('ip', ['netns', 'add', netnsName]);
      const pod = { netnsName, netns: `/run/netns/${netnsName}`, containerId: uniqueName('ctr') };
      pods.push(pod);
      return pod;
    }

    const netConf = (extra: Record<string, unknown> = {}): Record<string, unknown> =>
      ({ cniVersion: version, name: 'membrane', type: 'membrane-cni', agentSocket: node.socket, ...extra });

    const cni = (command: CniCommand, pod: Pod | undefined, opts: { config?: Record<string, unknown>; netns?: string; args?: Record<string, string> } = {}) =>
      invokeCni({
        plugin: MEMBRANE_CNI_BIN,
        command,
        config: opts.config ?? netConf(),
        ...(pod ? { containerId: pod.containerId, ifName: 'eth0', netns: opts.netns ?? pod.netns } : {}),
        args: opts.args ?? { IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: pod?.containerId ?? 'none' },
        runtimeNetns: node.nodeNetnsPath,
      });

    const agent = () => new AgentClient(node.socket);
    const hostLink = (pod: Pod) => vethNames(pod.containerId, 'eth0').host;

    async function endpointGone(pod: Pod): Promise<boolean> {
      try {
        await agent().getEndpointByAttachment(pod.containerId, 'eth0');
        return false;
      } catch (err) {
        if (err instanceof MembraneError && err.code === 'ENOTFOUND') return true;
        throw err;
      }
    }

    it('VERSION answers the requested version and lists 1.0.0 and 1.1.0', async () => {
      const out = await cni('VERSION', undefined, { config: { cniVersion: version } });
      assertOk(out, 'VERSION');
      assert.deepEqual(out.output, { cniVersion: version, supportedVersions: ['1.0.0', '1.1.0'] });
    });

    it('ADD wires the pod, CHECK passes, CHECK fails once the address is gone, DEL twice succeeds', async () => {
      const pod = await newPod();
      const logFile = join(tmp, `${pod.containerId}.log`);
      const config = netConf({ logFile });
      const add = await cni('ADD', pod, { config });
      assertOk(add, 'ADD');
      const result = add.output as {
        cniVersion: string; interfaces: { name: string; mac: string; mtu?: number; sandbox?: string }[];
        ips: { address: string; gateway: string; interface: number }[]; routes: { dst: string; gw: string }[]; dns: object;
      };
      const host = hostLink(pod);
      assert.equal(result.cniVersion, version);
      assert.equal(result.interfaces.length, 2);
      assert.equal(result.interfaces[0]!.name, host);
      assert.equal(result.interfaces[1]!.name, 'eth0');
      assert.equal(result.interfaces[1]!.sandbox, pod.netns);
      assert.equal(result.interfaces[0]!.sandbox, undefined);
      assert.equal(result.interfaces[1]!.mtu !== undefined, version === '1.1.0', 'interfaces[].mtu is a 1.1.0 field');
      assert.equal(result.ips.length, 1);
      const ip = result.ips[0]!;
      assert.match(ip.address, /^\d+\.\d+\.\d+\.\d+\/32$/);
      assert.equal(ip.interface, 1);
      assert.deepEqual(result.routes, [{ dst: '0.0.0.0/0', gw: ip.gateway }]);
      const podIp = ip.address.split('/')[0]!;

      // Pod side: renamed, addressed, up, with the two routes; lo up.
      const [eth0] = await ipJson<{ address: string; flags: string[]; addr_info: { local: string; prefixlen: number; family: string }[] }[]>(
        ['-n', pod.netnsName, 'addr', 'show', 'dev', 'eth0']);
      assert.ok(eth0, 'eth0 exists in the pod netns');
      assert.ok(eth0.flags.includes('UP'));
      assert.equal(eth0.address, result.interfaces[1]!.mac);
      assert.deepEqual(eth0.addr_info.map((a) => `${a.family} ${a.local}/${a.prefixlen}`), [`inet ${podIp}/32`],
        'only the /32 (addrgenmode none: no IPv6 link-local)');
      const routes = await ipJson<{ dst: string; gateway?: string; dev: string; scope?: string }[]>(['-n', pod.netnsName, 'route', 'show']);
      assert.ok(routes.some((r) => r.dst === 'default' && r.gateway === ip.gateway && r.dev === 'eth0'), JSON.stringify(routes));
      assert.ok(routes.some((r) => r.dst === ip.gateway && r.dev === 'eth0' && r.scope === 'link'), JSON.stringify(routes));
      const [lo] = await ipJson<{ flags: string[] }[]>(['-n', pod.netnsName, 'link', 'show', 'dev', 'lo']);
      assert.ok(lo!.flags.includes('UP'));

      // Node side: the host end, up, with the host route to the pod.
      const [lxc] = await ipJson<{ address: string; flags: string[]; ifindex: number }[]>(['-n', node.nodeNetns, 'link', 'show', 'dev', host]);
      assert.ok(lxc && lxc.flags.includes('UP'));
      assert.equal(lxc.address, result.interfaces[0]!.mac);
      const nodeRoutes = await ipJson<{ dst: string; dev: string }[]>(['-n', node.nodeNetns, 'route', 'show']);
      assert.ok(nodeRoutes.some((r) => r.dst === podIp && r.dev === host), JSON.stringify(nodeRoutes));

      // The agent knows the endpoint, with what the plugin saw.
      const ep = await agent().getEndpointByAttachment(pod.containerId, 'eth0');
      assert.equal(ep.ipv4, podIp);
      assert.equal(ep.hostIfName, host);
      assert.equal(ep.hostIfIndex, lxc.ifindex);

      const check = await cni('CHECK', pod, { config: { ...config, prevResult: result } });
      assertOk(check, 'CHECK');
      assert.equal(check.output, undefined, 'CHECK prints nothing on success');

      await run('ip', ['-n', pod.netnsName, 'addr', 'del', `${podIp}/32`, 'dev', 'eth0']);
      const broken = await cni('CHECK', pod, { config: { ...config, prevResult: result } });
      assertError(broken, 100, new RegExp(`lacks address ${podIp.replace(/\./g, '\\.')}/32`));

      const del = await cni('DEL', pod, { config: { ...config, prevResult: result } });
      assertOk(del, 'DEL');
      assert.equal(del.output, undefined);
      assert.equal(await linkExists(node.nodeNetns, host), false, 'host link removed');
      assert.equal(await linkExists(pod.netnsName, 'eth0'), false, 'pod end removed with it');
      assert.ok(await endpointGone(pod), 'agent forgot the endpoint');

      assertOk(await cni('DEL', pod, { config }), 'second DEL');

      const log = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(log.map((e) => `${e['command']} ${e['outcome']}`), ['ADD ok', 'CHECK ok', 'CHECK error', 'DEL ok', 'DEL ok']);
      assert.equal(log[0]!['containerId'], pod.containerId);
      assert.equal(typeof log[0]!['durationMs'], 'number');
    });

    it('DEL succeeds when the netns is already gone, and the agent forgets the endpoint', async () => {
      const pod = await newPod();
      assertOk(await cni('ADD', pod), 'ADD');
      await run('ip', ['netns', 'del', pod.netnsName]);
      assertOk(await cni('DEL', pod), 'DEL with the netns gone');
      assert.ok(await endpointGone(pod));
      assert.equal(await linkExists(node.nodeNetns, hostLink(pod)), false);
      assertOk(await cni('DEL', pod, { netns: '' }), 'DEL without CNI_NETNS');
    });

    it('DEL succeeds and removes the host link when the agent is unreachable', async () => {
      const pod = await newPod();
      assertOk(await cni('ADD', pod), 'ADD');
      const unreachable = netConf({ agentSocket: join(tmp, 'no-agent.sock') });
      assertOk(await cni('DEL', pod, { config: unreachable }), 'DEL without agent');
      assert.equal(await linkExists(node.nodeNetns, hostLink(pod)), false);
      // The agent still has it until it garbage-collects; a DEL it can see finishes the job.
      assertOk(await cni('DEL', pod), 'DEL with agent');
      assert.ok(await endpointGone(pod));
    });

    it('ADD undoes everything when the agent refuses the endpoint (no link left, IP released)', async () => {
      const pod = await newPod();
      const allocatedBefore = (await agent().status()).ipam.allocated;
      const refused = await cni('ADD', pod, { config: netConf({ args: { labels: { 'bad key': 'x' } } }) });
      const err = assertError(refused, 7);
      assert.match(err.error.msg, /bad key/, 'the agent\'s own message is passed on');
      assert.equal(await linkExists(node.nodeNetns, hostLink(pod)), false, 'host link removed');
      const podLinks = await ipJson<{ ifname: string }[]>(['-n', pod.netnsName, 'link', 'show']);
      assert.deepEqual(podLinks.map((l) => l.ifname), ['lo'], 'nothing left in the pod netns');
      assert.equal((await agent().status()).ipam.allocated, allocatedBefore, 'IP released');
      assert.ok(await endpointGone(pod));
    });

    it('ADD fails with 11 and touches nothing when the agent is not running', async () => {
      const pod = await newPod();
      const out = await cni('ADD', pod, { config: netConf({ agentSocket: join(tmp, 'no-agent.sock') }) });
      assertError(out, 11, /agent is not running/);
      const podLinks = await ipJson<{ ifname: string }[]>(['-n', pod.netnsName, 'link', 'show']);
      assert.deepEqual(podLinks.map((l) => l.ifname), ['lo']);
    });

    it('ADD fails with 3 when the netns does not exist', async () => {
      const pod: Pod = { netnsName: 'none', netns: `/run/netns/${uniqueName('gone')}`, containerId: uniqueName('ctr') };
      assertError(await cni('ADD', pod), 3, /does not exist/);
    });

    it('ADD removes the leftovers of an interrupted ADD (its host link, a stale eth0) and wires the pod', async () => {
      const staleHost = await newPod();
      const staleEth0 = await newPod();
      // An interrupted ADD can leave the host end on the node with no peer in the pod, or an eth0 in the pod.
      await run('ip', ['-n', node.nodeNetns, 'link', 'add', hostLink(staleHost), 'type', 'veth', 'peer', 'name', uniqueName('lo')]);
      await run('ip', ['-n', staleEth0.netnsName, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth9']);
      for (const pod of [staleHost, staleEth0]) {
        const logFile = join(tmp, `${pod.containerId}.log`);
        const add = await cni('ADD', pod, { config: netConf({ logFile }) });
        assertOk(add, 'ADD over leftovers');
        const podMac = ((add.output as { interfaces: { mac: string }[] }).interfaces[1]!).mac;
        const [eth0] = await ipJson<{ address: string }[]>(['-n', pod.netnsName, 'link', 'show', 'dev', 'eth0']);
        assert.equal(eth0?.address, podMac, 'eth0 is the new pod end');
        const ep = await agent().getEndpointByAttachment(pod.containerId, 'eth0');
        const [lxc] = await ipJson<{ ifindex: number }[]>(['-n', node.nodeNetns, 'link', 'show', 'dev', hostLink(pod)]);
        assert.equal(ep.hostIfIndex, lxc!.ifindex, 'the agent attached to the new host end');
        const [entry] = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { notes?: string[] });
        assert.ok(entry!.notes?.some((n) => n.startsWith('removed leftovers of an earlier ADD')), JSON.stringify(entry));
        assertOk(await cni('DEL', pod), 'DEL');
      }
    });

    it('ADDs at once all succeed, each pod with its own link and address', async () => {
      const many = await Promise.all(Array.from({ length: 12 }, () => newPod()));
      const adds = await Promise.all(many.map((pod) => cni('ADD', pod)));
      adds.forEach((out, i) => assertOk(out, `ADD ${i}`));
      const ips = adds.map((out) => ((out as Extract<CniOutcome, { ok: true }>).output as { ips: { address: string }[] }).ips[0]!.address);
      assert.equal(new Set(ips).size, many.length);
      const dels = await Promise.all(many.map((pod) => cni('DEL', pod)));
      dels.forEach((out, i) => assertOk(out, `DEL ${i}`));
      for (const pod of many) assert.equal(await linkExists(node.nodeNetns, hostLink(pod)), false);
    });

    it('a mistyped field is error 7 naming it, an unknown CNI_ARGS key without IgnoreUnknown is 4, an unsupported version is 1', async () => {
      const pod = await newPod();
      assertError(await cni('ADD', pod, { config: netConf({ mtu: 'big' }) }), 7, /^mtu /);
      assertError(await cni('ADD', pod, { args: { FOO: 'bar' } }), 4, /unknown argument "FOO"/);
      // (Bad JSON, 6, is covered by main.test.ts: invokeCni always sends JSON.)
      assertError(await cni('ADD', pod, { config: netConf({ cniVersion: '0.4.0' }) }), 1);
    });

    if (version === '1.1.0') {
      it('STATUS succeeds silently with the agent up, and is 50 without it', async () => {
        const ok = await cni('STATUS', undefined);
        assertOk(ok, 'STATUS');
        assert.equal(ok.output, undefined);
        assertError(await cni('STATUS', undefined, { config: netConf({ agentSocket: join(tmp, 'no-agent.sock') }) }), 50, /not running/);
      });

      it('GC removes the attachments not listed as valid, with their links', async () => {
        const keep = await newPod();
        const stale = await newPod();
        assertOk(await cni('ADD', keep), 'ADD keep');
        assertOk(await cni('ADD', stale), 'ADD stale');
        const gc = await cni('GC', undefined, {
          config: netConf({ 'cni.dev/valid-attachments': [{ containerID: keep.containerId, ifname: 'eth0' }] }),
        });
        assertOk(gc, 'GC');
        assert.equal(gc.output, undefined);
        assert.ok(await endpointGone(stale));
        assert.equal(await linkExists(node.nodeNetns, hostLink(stale)), false);
        assert.equal(await linkExists(node.nodeNetns, hostLink(keep)), true);
        assert.equal((await agent().getEndpointByAttachment(keep.containerId, 'eth0')).hostIfName, hostLink(keep));
        assertOk(await cni('DEL', keep), 'DEL keep');
      });

      it('the compiled shim has the agent run ADD and DEL (POST /v1/cni), and the Node plugin runs them when the agent is down', async () => {
        const pod = await newPod();
        const logFile = join(tmp, `${pod.containerId}.log`);
        const served = (): unknown[] => readFileSync(logFile, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { servedBy?: unknown }).servedBy);
        assertOk(await cni('ADD', pod, { config: netConf({ logFile }) }), 'ADD');
        assertOk(await cni('DEL', pod, { config: netConf({ logFile }) }), 'DEL');
        assert.deepEqual(served(), ['agent', 'agent'], 'bin/membrane-cni runs the shim, which the agent answered');
        const down = netConf({ logFile, agentSocket: join(tmp, 'no-agent.sock') });
        assertError(await cni('ADD', pod, { config: down }), 11, /agent is not running/);
        assertOk(await cni('DEL', pod, { config: down }), 'DEL without agent');
        assert.deepEqual(served(), ['agent', 'agent', 'plugin', 'plugin'], 'the shim fell back to the Node plugin');
      });

      it('POST /v1/cni refuses a malformed invocation with EINVAL naming the field', async () => {
        const raw = new CniAgentClient(node.socket);
        const refused = async (body: unknown, path: string): Promise<void> => {
          await assert.rejects(raw.request('POST', '/v1/cni', body), (err: unknown) =>
            err instanceof MembraneError && err.code === 'EINVAL' && err.path === path && err.message.includes(path));
        };
        await refused({ env: { CNI_COMMAND: 1 }, stdin: '{}' }, 'env.CNI_COMMAND');
        await refused({ env: { PATH: '/bin' }, stdin: '{}' }, 'env.PATH');
        await refused({ env: {}, stdin: { cniVersion: '1.1.0' } }, 'stdin');
        await refused({ stdin: '' }, 'env');
      });
    } else {
      it('STATUS and GC are refused with 1 for a 1.0.0 configuration', async () => {
        assertError(await cni('STATUS', undefined), 1, /needs cniVersion 1\.1\.0/);
        assertError(await cni('GC', undefined, { config: netConf({ 'cni.dev/valid-attachments': [] }) }), 1);
      });
    }
  });
}
