import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AgentClient } from '../api/client.js';
import { MembraneError } from '../common/errors.js';
import { run } from '../common/exec.js';
import { MEMBRANE_CNI_BIN, startTestNode, type TestNode } from '../testing/agent.js';
import { requireRoot, uniqueName } from '../testing/names.js';
import { labPaths, nodeName, nodePaths } from './names.js';
import { deleteNetns, listNetns } from './netns.js';
import { createPod, podMeta, type PodDesired } from './pod.js';
import type { NodeRecord } from './state.js';
import { defaultToolchain, type LabToolchain } from './toolchain.js';

/**
 * createPod's rollback against a real agent (a `membrane agent` in a
 * throwaway node netns) and the real CNI plugin: whatever step fails, the
 * pod leaves nothing behind, at the agent included (no pod record, no
 * endpoint, no address, no netns, no veth), and the runtime's DEL follows
 * the failed ADD.
 *
 * Each plugin below is a shell script that logs the CNI command, then runs
 * the real plugin; two of them inject a fault at the plugin boundary, the
 * situation under test being "the runtime's plugin failed".
 */

// A /28 leaves 13 pod addresses: few enough to fill for the refused ADD.
const POD_CIDR = '10.244.21.0/28';

describe('createPod rollback (privileged: a real agent in a node netns, the real CNI plugin)', () => {
  const lab = uniqueName('t');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'membrane-pod-test-'));
  const cniLog = path.join(dir, 'cni.log');
  const realAddResult = path.join(dir, 'real-add.json');
  let testNode: TestNode | undefined;
  let agent: AgentClient;
  let node: NodeRecord;

  const toolchain = (plugin: string): LabToolchain => ({ ...defaultToolchain(), cniBinDir: dir, cniPlugin: plugin });
  const desired: PodDesired = {
    namespace: 'default', name: 'xwing', labels: { class: 'xwing', org: 'alliance' }, serviceAccount: 'default',
    container: { name: 'spaceship', image: 'pause', env: [], ports: [] },
  };
  const cniCommands = (): string[] => (fs.existsSync(cniLog) ? fs.readFileSync(cniLog, 'utf8').trim().split('\n') : []);
  const labNetns = (): string[] => listNetns().filter((n) => n.startsWith(`mbr-${lab}-`));
  const hostVeths = async (): Promise<string[]> => {
    const { stdout } = await run('ip', ['-n', testNode!.nodeNetns, '-o', 'link', 'show']);
    return [...stdout.matchAll(/^\d+: (lxc[0-9a-f]+)@/gm)].map((m) => m[1]!);
  };

  /** A CNI plugin: logs each CNI_COMMAND, runs `body`, and otherwise hands the call (stdin included) to the real plugin. */
  const writePlugin = (name: string, body = ''): void => {
    fs.writeFileSync(path.join(dir, name), `#!/bin/sh\necho "$CNI_COMMAND" >> ${cniLog}\n${body}\nexec ${MEMBRANE_CNI_BIN}\n`, { mode: 0o755 });
  };

  /** What the agent holds after a createPod that failed: exactly what it held before. */
  const assertNothingLeft = async (allocatedBefore: number): Promise<void> => {
    assert.deepEqual(await agent.listPods(), [], 'the agent still has a pod record');
    assert.deepEqual(await agent.listEndpoints(), [], 'the agent still has an endpoint');
    assert.equal((await agent.status()).ipam.allocated, allocatedBefore, 'the agent did not get its address back');
    assert.deepEqual(labNetns(), [], 'a pod netns is left');
    assert.deepEqual(await hostVeths(), [], 'a host veth is left on the node');
  };

  before(async () => {
    requireRoot();
    // ADD succeeds at the real plugin (an address, a veth, an endpoint), but the result the runtime gets has no address.
    writePlugin('addressless-cni', `if [ "$CNI_COMMAND" = ADD ]; then
  out=$(${MEMBRANE_CNI_BIN}) || { echo "$out"; exit 1; }
  echo "$out" > ${realAddResult}
  echo '{"cniVersion":"1.0.0","interfaces":[],"ips":[]}'
  exit 0
fi`);
    writePlugin('membrane-cni');
    testNode = await startTestNode({ podCIDR: POD_CIDR });
    agent = new AgentClient(testNode.socket);
    // The lab reaches a node's agent at the node's socket path (createPod, and agentSocket in the CNI config): point it at this agent.
    const name = nodeName(lab, 1);
    const labSocket = nodePaths(lab, name).socket;
    fs.mkdirSync(path.dirname(labSocket), { recursive: true });
    fs.symlinkSync(testNode.socket, labSocket);
    node = { name, index: 1, netns: testNode.nodeNetns, podCIDR: testNode.podCIDR, socket: labSocket, agent: { pid: testNode.agentPid, startTime: '' } };
  });

  after(async () => {
    for (const ns of labNetns()) await deleteNetns(ns);
    await testNode?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(labPaths(lab).dir, { recursive: true, force: true });
  });

  const reset = () => {
    fs.rmSync(cniLog, { force: true });
    fs.rmSync(realAddResult, { force: true });
  };

  it('takes the pod back from the agent, runs CNI DEL and removes the netns when the agent refuses the endpoint', async () => {
    reset();
    // The refusal: every address of the node's pod CIDR is taken.
    const { allocated, capacity } = (await agent.status()).ipam;
    const fillers: string[] = [];
    try {
      for (let i = allocated; i < capacity; i++) fillers.push((await agent.allocateIp(`filler/${i}`)).ip);
      await assert.rejects(createPod(lab, node, desired, toolchain('membrane-cni')),
        /CNI ADD for pod default\/xwing failed: no free address left in pod CIDR 10\.244\.21\.0\/28 .*\[CNI error 11\]/);
      assert.deepEqual(cniCommands(), ['ADD', 'DEL']);
      await assertNothingLeft(capacity);
    } finally {
      for (const ip of fillers) await agent.releaseIp(ip);
    }
  });

  it('undoes a CNI ADD that succeeded when its result has no address', async () => {
    reset();
    const allocated = (await agent.status()).ipam.allocated;
    await assert.rejects(createPod(lab, node, desired, toolchain('addressless-cni')), /returned no IP address/);
    // The real ADD did give the pod an address (and so a veth and an endpoint): the rollback had something to undo.
    const real = JSON.parse(fs.readFileSync(realAddResult, 'utf8')) as { ips: { address: string }[] };
    assert.match(real.ips[0]!.address, /^10\.244\.21\.\d+\/32$/);
    assert.deepEqual(cniCommands(), ['ADD', 'DEL']);
    await assertNothingLeft(allocated);
  });

  it('reports both failures when the agent is gone before it can take the pod back', async () => {
    reset();
    const allocated = (await agent.status()).ipam.allocated;
    // The agent dies during ADD (SIGKILL, by the pid this test started it with); ADD then fails, as does forgetting the pod.
    const pid = testNode!.agentPid;
    writePlugin('agent-killing-cni', `if [ "$CNI_COMMAND" = ADD ]; then
  kill -KILL ${pid}
  while [ -e /proc/${pid} ] && ! grep -q '^State:[[:space:]]*Z' /proc/${pid}/status 2>/dev/null; do sleep 0.05; done
fi`);
    await assert.rejects(createPod(lab, node, desired, toolchain('agent-killing-cni')), (err: unknown) => {
      assert.ok(err instanceof MembraneError);
      assert.equal(err.code, 'EEXEC');
      assert.match(err.message, /^CNI ADD for pod default\/xwing failed: the membrane agent is not running .*\[CNI error 11\]; and taking pod default\/xwing back from the agent failed too: unable to reach the membrane agent/);
      return true;
    });
    assert.deepEqual(cniCommands(), ['ADD', 'DEL']);
    assert.deepEqual(labNetns(), []);

    // What the error warned of: the restarted agent still has the pod, and nothing else of it.
    await testNode!.restartAgent();
    assert.deepEqual(await agent.listPods(), [podMeta(desired)]);
    await agent.deletePod(desired.namespace, desired.name);
    await assertNothingLeft(allocated);
  });
});
