import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run } from '../common/exec.js';
import { labCli } from '../testing/lab-cli.js';
import { requireRoot, uniqueName } from '../testing/names.js';
import { BPFFS_ROOT, labPaths, nodeName, nodeNetnsName, worldNetnsName } from './names.js';
import { netnsPids } from './netns.js';
import { processStartTime } from './process.js';
import { readLabState } from './state.js';

/**
 * The lab end to end, through the `membrane lab` CLI with the real agent and
 * CNI plugin: pods as network namespaces with real processes and real traffic.
 */


const APP = `apiVersion: v1
kind: Namespace
metadata:
  name: galaxy
  labels: {region: outer-rim}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: deathstar, namespace: galaxy}
spec:
  replicas: 2
  selector: {matchLabels: {class: deathstar}}
  template:
    metadata: {labels: {class: deathstar, org: empire}}
    spec: {containers: [{name: deathstar, image: quay.io/cilium/starwars:v2.1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: xwing, namespace: galaxy, labels: {class: xwing, org: alliance}}
spec: {containers: [{name: spaceship, image: quay.io/cilium/json-mock:v1.3.8}]}
---
apiVersion: v1
kind: Pod
metadata: {name: probe, namespace: galaxy}
spec:
  containers:
  - name: probe
    image: none
    command: [sh, -c, 'echo "probe says $GREETING"; ip -4 -o addr show dev eth0; sleep 3600']
    env: [{name: GREETING, value: hello}]
`;

/** The node's own devices (the gateway's veth pair, the world's end); they belong in the node netns only. */
const NODE_DEVICES = ['membrane_host', 'membrane_net', 'membrane_world'];

const WORLD_ADDRESSES = ['198.51.100.10', '198.51.100.11', '198.51.100.200', '203.0.113.10', '203.0.113.11'];

interface StatusJson {
  up: boolean;
  nodes: { name: string; netns: string; agentPid: number }[];
  world?: { netns: string; node: string; addresses: string[]; pids: number[]; running: boolean };
}

interface LinkJson {
  ifindex: number;
  ifname: string;
  address?: string;
}

/** The links of a named netns, or of the root netns. */
async function linksIn(netns: string | undefined): Promise<LinkJson[]> {
  const res = await run('ip', [...(netns ? ['-n', netns] : []), '-j', 'link', 'show']);
  return JSON.parse(res.stdout) as LinkJson[];
}

async function netnsNames(): Promise<string[]> {
  return (await run('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
}

interface PodJson {
  namespace: string;
  name: string;
  ip: string;
  node: string;
  identity: number | null;
  status: string;
  ready: boolean;
  labels: Record<string, string>;
  pid: number | null;
  netns: string;
}

describe('lab (privileged, real agent and CNI plugin)', () => {
  const lab = uniqueName('t');
  const node = nodeName(lab, 1);
  const nodeNetns = nodeNetnsName(lab, 1);
  const seenPids = new Set<number>();
  const seenNetns = new Set<string>();
  /** Links of the root netns before the lab came up (an lxc one among them is another run's leftover, not ours). */
  const rootLinksBefore = new Set<string>();

  const { membrane, ok } = labCli(lab);
  const allPods = async (): Promise<PodJson[]> => JSON.parse((await ok(['lab', 'get', 'pods', '-A', '-o', 'json'])).stdout) as PodJson[];
  /** The pods the tests applied: all but the lab's own cluster DNS in kube-system. */
  const pods = async (): Promise<PodJson[]> => (await allPods()).filter((p) => p.namespace !== 'kube-system');
  const remember = (list: PodJson[]) => {
    for (const p of list) {
      if (p.pid !== null) seenPids.add(p.pid);
      seenNetns.add(p.netns);
    }
  };

  before(async () => {
    requireRoot();
    for (const l of await linksIn(undefined)) rootLinksBefore.add(l.ifname);
    await ok(['lab', 'up']);
  });

  after(async () => {
    await membrane(['lab', 'down']);
  });

  it('brings up a node: a netns with a healthy agent, and the CNI conflist', async () => {
    const status = JSON.parse((await ok(['lab', 'status', '-o', 'json'])).stdout) as { up: boolean; nodes: { name: string; agentPid: number }[] };
    assert.equal(status.up, true);
    assert.equal(status.nodes[0]?.name, node);
    seenPids.add(status.nodes[0]!.agentPid);
    assert.ok((await netnsNames()).includes(nodeNetns));
    const conflist = JSON.parse(fs.readFileSync(path.join(labPaths(lab).dir, node, 'net.d', '05-membrane.conflist'), 'utf8')) as { plugins: { type: string }[] };
    assert.equal(conflist.plugins[0]?.type, 'membrane-cni');
    assert.equal((await ok(['lab', 'socket'])).stdout.trim(), path.join(labPaths(lab).dir, node, 'agent.sock'));
  });

  it('says so and changes nothing when brought up again', async () => {
    const pid = readLabState(lab)!.nodes[0]!.agent.pid;
    assert.match((await ok(['lab', 'up'])).stdout, /already up/);
    assert.equal(readLabState(lab)!.nodes[0]!.agent.pid, pid);
  });

  it('rejects a bad manifest naming the document and field, and applies nothing of it', async () => {
    const bad = APP.replace('name: probe', 'name: Probe!');
    const res = await membrane(['lab', 'apply', '-f', '-'], bad);
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /document 4 \(Pod "Probe!"\): metadata\.name/);
    assert.deepEqual(await pods(), []);
  });

  it('applies a manifest and prints kubectl-like lines', async () => {
    const res = await ok(['lab', 'apply', '-f', '-'], APP);
    assert.deepEqual(res.stdout.trim().split('\n'), [
      'namespace/galaxy created', 'deployment.apps/deathstar created', 'pod/xwing created', 'pod/probe created',
    ]);
    assert.match((await ok(['lab', 'get', 'namespaces'])).stdout, /^galaxy\s+Active/m);
  });

  it('lists the pods Running with their IP, node and identity', async () => {
    const list = await pods();
    remember(list);
    assert.equal(list.length, 4);
    for (const p of list) {
      assert.equal(p.status, 'Running', `${p.name} is ${p.status}`);
      assert.equal(p.node, node);
      assert.match(p.ip, /^10\.244\.1\.\d+$/);
      assert.ok(typeof p.identity === 'number' && p.identity >= 256, `${p.name} has identity ${p.identity}`);
      assert.ok(p.pid !== null && processStartTime(p.pid) !== undefined, `${p.name}'s process is alive`);
    }
    const deathstars = list.filter((p) => p.labels['class'] === 'deathstar');
    assert.equal(deathstars.length, 2);
    for (const d of deathstars) assert.match(d.name, /^deathstar-[a-z0-9]{10}-[a-z0-9]{5}$/);
    assert.equal(deathstars[0]!.identity, deathstars[1]!.identity, 'replicas share one identity');
    const table = (await ok(['lab', 'get', 'pods', '-n', 'galaxy'])).stdout;
    assert.match(table, /^NAME\s+READY\s+STATUS\s+IP\s+NODE\s+IDENTITY$/m);
    assert.match(table, new RegExp(`^xwing\\s+1/1\\s+Running\\s+10\\.244\\.1\\.\\d+\\s+${node}\\s+\\d+$`, 'm'));
  });

  it('runs commands in the pod netns and passes their exit code through', async () => {
    const addr = await ok(['lab', 'exec', 'galaxy/xwing', '--', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    const xwing = (await pods()).find((p) => p.name === 'xwing')!;
    assert.ok(addr.stdout.includes(`${xwing.ip}/32`));
    assert.equal((await membrane(['lab', 'exec', '-n', 'galaxy', 'xwing', '--', 'sh', '-c', 'exit 7'])).code, 7);
  });

  it('carries real traffic from a pod to the deathstar workload of another', async () => {
    const deathstar = (await pods()).find((p) => p.labels['class'] === 'deathstar')!;
    const res = await ok(['lab', 'exec', 'galaxy/xwing', '--', 'curl', '-s', '--connect-timeout', '5', '-XPOST', `http://${deathstar.ip}/v1/request-landing`]);
    assert.equal(res.stdout, 'Ship landed\n');
  });

  it('has a simulated world beside the node that pods reach on TCP and UDP, and shows it in the status', async () => {
    const status = JSON.parse((await ok(['lab', 'status', '-o', 'json'])).stdout) as StatusJson;
    assert.deepEqual(status.world && { netns: status.world.netns, node: status.world.node, addresses: status.world.addresses, running: status.world.running },
      { netns: worldNetnsName(lab), node, addresses: WORLD_ADDRESSES, running: true });
    for (const pid of status.world!.pids) seenPids.add(pid);
    assert.match((await ok(['lab', 'status'])).stdout, /^World:\s+198\.51\.100\.10 198\.51\.100\.11 198\.51\.100\.200 203\.0\.113\.10 203\.0\.113\.11 /m);
    const nodeAddrs = (await run('ip', ['-n', nodeNetns, '-4', '-o', 'addr', 'show', 'dev', 'membrane_world'])).stdout;
    assert.match(nodeAddrs, /inet 198\.51\.100\.1\/24/);
    assert.match(nodeAddrs, /inet 203\.0\.113\.1\/24/);
    for (const [protocol, port] of [['tcp', '80'], ['tcp', '443'], ['udp', '53']] as const) {
      const res = await ok(['lab', 'exec', 'galaxy/xwing', '--', 'membrane', 'workload', 'probe', '--protocol', protocol, '--timeout', '2s',
        ...WORLD_ADDRESSES.flatMap((a) => ['--to', `${a}:${port}`])]);
      for (const a of WORLD_ADDRESSES) assert.match(res.stdout, new RegExp(`^${a.replace(/\./g, '\\.')}:${port} ok world$`, 'm'), `${protocol} ${a}:${port}`);
    }
  });

  it("shows a pod's output with logs", async () => {
    const res = await ok(['lab', 'logs', 'galaxy/probe']);
    assert.match(res.stdout, /^probe says hello$/m);
    assert.match(res.stdout, /eth0\s+inet 10\.244\.1\.\d+\/32/);
  });

  it('relabels a pod in place: a new identity, the same process', async () => {
    const before = (await pods()).find((p) => p.name === 'xwing')!;
    const res = await ok(['lab', 'apply', '-f', '-'], APP.replace('{class: xwing, org: alliance}', '{class: xwing, org: empire}'));
    assert.match(res.stdout, /^pod\/xwing configured$/m);
    assert.match(res.stdout, /^pod\/probe unchanged$/m);
    const after = (await pods()).find((p) => p.name === 'xwing')!;
    assert.equal(after.labels['org'], 'empire');
    assert.equal(after.pid, before.pid, 'the pod was not restarted');
    assert.equal(after.ip, before.ip);
    assert.notEqual(after.identity, before.identity, 'the identity follows the labels');
  });

  it('scales a Deployment down and up', async () => {
    await ok(['lab', 'apply', '-f', '-'], APP.replace('replicas: 2', 'replicas: 1'));
    assert.equal((await pods()).filter((p) => p.labels['class'] === 'deathstar').length, 1);
    await ok(['lab', 'apply', '-f', '-'], APP.replace('replicas: 2', 'replicas: 3'));
    const list = await pods();
    remember(list);
    assert.equal(list.filter((p) => p.labels['class'] === 'deathstar' && p.status === 'Running').length, 3);
  });

  it('deletes objects of a manifest, and reports one that does not exist', async () => {
    const probe = APP.split('---\n')[3]!;
    assert.equal((await ok(['lab', 'delete', '-f', '-'], probe)).stdout.trim(), 'pod "probe" deleted');
    const again = await membrane(['lab', 'delete', '-f', '-'], probe);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /NotFound.*"probe" not found/);
    assert.equal((await pods()).some((p) => p.name === 'probe'), false);
  });

  it('lets concurrent lab commands take turns on the lock, losing nothing', async () => {
    const pod = (name: string) => `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: galaxy}\nspec: {containers: [{name: c, image: pause}]}\n`;
    const results = await Promise.all(['ywing', 'awing', 'bwing'].map((n) => membrane(['lab', 'apply', '-f', '-'], pod(n))));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const names = (await pods()).map((p) => p.name);
    for (const n of ['ywing', 'awing', 'bwing']) assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
  });

  it('cleans up the remains of a crashed run on the next up', async () => {
    const before = (await linksIn(nodeNetns)).filter((l) => l.ifname.startsWith('lxc')).map((l) => l.ifname);
    assert.ok(before.length >= 4, `lxc links in the node: ${before.join(', ')}`);
    remember(await allPods());
    const agent = readLabState(lab)!.nodes[0]!.agent;
    process.kill(agent.pid, 'SIGKILL');
    while (processStartTime(agent.pid) !== undefined) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await membrane(['lab', 'status'])).code, 1, 'a lab with a dead agent is not up');
    const res = await ok(['lab', 'up']);
    assert.match(res.stderr, /cleaning it up/);
    assert.deepEqual(await pods(), []);
    for (const pid of seenPids) if (pid !== agent.pid) assert.equal(processStartTime(pid), undefined, `pid ${pid} was stopped`);
    const netns = await netnsNames();
    for (const ns of seenNetns) assert.ok(!netns.includes(ns), `netns ${ns} was removed`);
    // The new node netns has the old one's name: none of the old pods' links may be in it.
    const now = (await linksIn(nodeNetns)).map((l) => l.ifname);
    for (const link of before) assert.ok(!now.includes(link), `link ${link} of a pod of the crashed run is still in the node`);
  });

  it('lists pods of every namespace with a NAMESPACE column for -A', async () => {
    await ok(['lab', 'apply', '-f', '-'], APP);
    const table = (await ok(['lab', 'get', 'pods', '-A'])).stdout;
    assert.match(table, /^NAMESPACE\s+NAME\s+READY\s+STATUS\s+IP\s+NODE\s+IDENTITY$/m);
    assert.match(table, /^galaxy\s+xwing\s+1\/1\s+Running\s/m);
    assert.match((await ok(['lab', 'get', 'pods', '-n', 'galaxy'])).stdout, /^NAME\s+READY/);
  });

  it('names the missing pod when exec cannot find it', async () => {
    const res = await membrane(['lab', 'exec', 'galaxy/ghost', '--', 'true']);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /pod "ghost" not found in namespace galaxy/);
    const bare = await membrane(['lab', 'exec', 'ghost', '--', 'true']);
    assert.match(bare.stderr, /pod "ghost" not found in namespace default/);
  });

  it('tears down leaving no netns, link, process, pinned map or state', async () => {
    // What the lab made, seen from inside it before it goes.
    const status = JSON.parse((await ok(['lab', 'status', '-o', 'json'])).stdout) as StatusJson;
    const nodeNs = status.nodes[0]!.netns;
    const worldNs = status.world!.netns;
    assert.equal(worldNs, worldNetnsName(lab));
    assert.equal(nodeNs, nodeNetns);
    await ok(['lab', 'apply', '-f', '-'], APP);
    const list = await allPods();
    assert.equal(list.length, 5, `pods (4 and coredns): ${list.map((p) => p.name).join(', ')}`);
    const podNetns = list.map((p) => p.netns);
    const netnsBefore = await netnsNames();
    for (const ns of [nodeNs, worldNs, ...podNetns]) assert.ok(netnsBefore.includes(ns), `netns ${ns} exists while the lab is up`);
    const nodeLinks = (await linksIn(nodeNs)).filter((l) => l.ifname.startsWith('lxc') || NODE_DEVICES.includes(l.ifname));
    assert.equal(nodeLinks.filter((l) => l.ifname.startsWith('lxc')).length, list.length, `one lxc link per pod: ${nodeLinks.map((l) => l.ifname).join(', ')}`);
    assert.ok(list.every((p) => p.pid !== null), 'every pod has a running process');
    assert.equal(status.world!.pids.length, WORLD_ADDRESSES.length, 'one world server per address');
    const processes = [status.nodes[0]!.agentPid, ...list.map((p) => p.pid!), ...status.world!.pids];
    for (const ns of [nodeNs, worldNs, ...podNetns]) processes.push(...netnsPids(ns));
    const started = new Map(processes.map((pid) => [pid, processStartTime(pid)] as const));
    for (const [pid, start] of started) assert.ok(start !== undefined, `process ${pid} runs while the lab is up`);

    assert.match((await ok(['lab', 'down'])).stdout, /is down/);

    const netnsAfter = await netnsNames();
    for (const ns of [nodeNs, worldNs, ...podNetns]) assert.ok(!netnsAfter.includes(ns), `netns ${ns} left behind:\n${netnsAfter.join('\n')}`);
    const rootLinks = await linksIn(undefined);
    for (const l of rootLinks) {
      const ours = nodeLinks.find((n) => n.ifname === l.ifname || n.address === l.address);
      assert.ok(!ours, `link ${l.ifname} (${l.address}), ifindex ${ours?.ifindex} ${ours?.ifname} in the node, is in the root netns`);
      assert.ok(!NODE_DEVICES.includes(l.ifname), `${l.ifname} is in the root netns`);
      assert.ok(!l.ifname.startsWith('lxc') || rootLinksBefore.has(l.ifname), `link ${l.ifname} appeared in the root netns`);
    }
    for (const [pid, start] of started) assert.notEqual(processStartTime(pid), start, `process ${pid} left running`);
    assert.ok(!fs.existsSync(path.join(BPFFS_ROOT, node)), `pinned objects left in ${path.join(BPFFS_ROOT, node)}`);
    assert.ok(!fs.existsSync(labPaths(lab).dir), `lab state left in ${labPaths(lab).dir}`);
    assert.ok(!fs.existsSync(labPaths(lab).lockDir), `lab lock left at ${labPaths(lab).lockDir}`);
    assert.match((await ok(['lab', 'down'])).stdout, /not up/);
    assert.ok(!fs.existsSync(labPaths(lab).dir) && !fs.existsSync(labPaths(lab).lockDir), 'a second down leaves no state or lock');
  });
});
