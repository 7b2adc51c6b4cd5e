/**
 * Pods for privileged tests on a test node (src/testing/agent.ts): a netns
 * wired through the real CNI plugin, the pod's metadata pushed to the agent
 * first, exactly as the lab does. `remove()` undoes everything.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { AgentClient } from '../api/client.js';
import { run, type RunResult } from '../common/exec.js';
import { invokeCni } from '../cni/invoke.js';
import { MEMBRANE_CNI_BIN, type TestNode } from './agent.js';
import { uniqueName } from './names.js';

export interface TestPod {
  name: string;
  ip: string;
  netnsPath: string;
  /** Runs a command in the pod's netns and waits for it. */
  exec(cmd: string[], opts?: { allowFailure?: boolean; timeoutMs?: number; input?: string }): Promise<RunResult>;
  /** Starts a long-running process in the pod's netns; it is killed by remove(). */
  spawn(cmd: string[]): ChildProcess;
  remove(): Promise<void>;
}

export async function addTestPod(node: TestNode, name: string, labels: Record<string, string>, namespace = 'default'): Promise<TestPod> {
  const client = new AgentClient(node.socket);
  const netnsName = uniqueName('mp');
  const netnsPath = `/run/netns/${netnsName}`;
  const containerId = uniqueName('c').padEnd(64, '0');
  const config = { cniVersion: '1.0.0', name: 'membrane', type: 'membrane-cni', agentSocket: node.socket };
  const children: ChildProcess[] = [];
  await client.putNamespace({ name: namespace, labels: { 'kubernetes.io/metadata.name': namespace } });
  await client.putPod({ namespace, name, labels, serviceAccount: 'default', containerPorts: [] });
  await run('ip', ['netns', 'add', netnsName]);
  const common = { plugin: MEMBRANE_CNI_BIN, config, containerId, netns: netnsPath, ifName: 'eth0', runtimeNetns: node.nodeNetnsPath };
  const res = await invokeCni({ ...common, command: 'ADD', args: { IgnoreUnknown: '1', K8S_POD_NAMESPACE: namespace, K8S_POD_NAME: name } });
  if (!res.ok) {
    await run('ip', ['netns', 'del', netnsName], { allowFailure: true });
    throw new Error(`CNI ADD of test pod ${name} failed: ${JSON.stringify(res.error)}`);
  }
  const ip = ((res.output?.['ips'] as { address: string }[])[0]!.address).split('/')[0]!;
  return {
    name, ip, netnsPath,
    exec: (cmd, opts = {}) => run('nsenter', [`--net=${netnsPath}`, ...cmd], opts),
    spawn: (cmd) => {
      const c = spawn('nsenter', [`--net=${netnsPath}`, ...cmd], { stdio: ['pipe', 'pipe', 'pipe'] });
      children.push(c);
      return c;
    },
    async remove() {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      await invokeCni({ ...common, command: 'DEL' });
      await run('ip', ['netns', 'del', netnsName], { allowFailure: true });
      await client.deletePod(namespace, name).catch(() => undefined);
    },
  };
}
