import fs from 'node:fs';
import { AgentClient } from '../api/client.js';
import { MembraneError, errorMessage } from '../common/errors.js';
import { isLabBpffsDir, netnsPath, nodeName, nodeNetnsName, nodePaths, nodePodCidr, BPFFS_ROOT } from './names.js';
import { addNetns, deleteNetns, netnsPids } from './netns.js';
import { isRunning, spawnDetached, stopPids, stopProcess } from './process.js';
import type { NodeRecord } from './state.js';
import type { LabToolchain } from './toolchain.js';
import { WORLD_NODE_DEVICE } from './world.js';

/**
 * A lab node: a network namespace with a membrane agent running in it. The
 * agent builds the node's datapath itself; the lab only gives it a netns,
 * its flags and a place for its socket, state and pins.
 */

/** The node's CNI network configuration, as a runtime would read it from its conflist. */
export function nodeNetworkConfig(lab: string, node: string, toolchain: LabToolchain): Record<string, unknown> {
  const p = nodePaths(lab, node);
  return { cniVersion: '1.0.0', name: 'membrane', type: toolchain.cniPlugin, agentSocket: p.socket, logFile: p.cniLog };
}

function writeConflist(lab: string, node: string, toolchain: LabToolchain): void {
  const p = nodePaths(lab, node);
  const { cniVersion, name, ...plugin } = nodeNetworkConfig(lab, node, toolchain);
  fs.mkdirSync(p.netConfDir, { recursive: true });
  fs.writeFileSync(p.conflist, JSON.stringify({ cniVersion, name, plugins: [plugin] }, null, 2) + '\n');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function logTail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Whether the node's agent runs and answers its health check. */
export async function nodeHealthy(node: NodeRecord): Promise<boolean> {
  if (!isRunning(node.agent)) return false;
  try {
    const h = await new AgentClient(node.socket, 3_000).healthz();
    return h.ok === true;
  } catch {
    return false;
  }
}

/**
 * Creates node `index` of the lab: its netns, folders and conflist, then
 * starts its agent and waits until it answers. On failure, undoes it all.
 */
export async function startNode(lab: string, index: number, toolchain: LabToolchain, readyTimeoutMs = 90_000, agentArgs: string[] = []): Promise<NodeRecord> {
  const name = nodeName(lab, index);
  const netns = nodeNetnsName(lab, index);
  const p = nodePaths(lab, name);
  const podCIDR = nodePodCidr(index);
  fs.mkdirSync(p.stateDir, { recursive: true });
  writeConflist(lab, name, toolchain);
  await addNetns(netns);
  let record: NodeRecord | undefined;
  try {
    fs.rmSync(p.socket, { force: true });
    const agent = spawnDetached(
      ['nsenter', `--net=${netnsPath(netns)}`, toolchain.membrane, 'agent',
        '--node', name, '--pod-cidr', podCIDR, '--socket', p.socket, '--state-dir', p.stateDir, '--bpffs-dir', p.bpffsDir,
        // The world (world.ts) sits behind node 1: its link is that node's external device, where NodePort answers.
        ...(index === 1 ? ['--devices', WORLD_NODE_DEVICE] : []), ...agentArgs],
      { logFile: p.agentLog, env: { ...process.env, PATH: toolchain.podPath } },
    );
    record = { name, index, netns, podCIDR, socket: p.socket, agent };
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (await nodeHealthy(record)) return record;
      if (!isRunning(agent)) {
        throw new MembraneError('EEXEC', `the agent of node ${name} exited while starting; last lines of ${p.agentLog}:\n${logTail(p.agentLog)}`);
      }
      if (Date.now() > deadline) {
        throw new MembraneError('EAGENT', `the agent of node ${name} did not answer on ${p.socket} within ${readyTimeoutMs / 1000} s; last lines of ${p.agentLog}:\n${logTail(p.agentLog)}`);
      }
      await sleep(200);
    }
  } catch (err) {
    await stopNode(lab, record ?? { name, index, netns, podCIDR, socket: p.socket, agent: { pid: 0, startTime: '' } })
      .catch((e) => process.stderr.write(`warning: cleaning up node ${name} failed: ${errorMessage(e)}\n`));
    throw err;
  }
}

/**
 * Stops the node's agent (SIGTERM, then SIGKILL) and any other process in
 * its netns, removes the netns, the agent's pins and state. Tolerates pieces
 * already gone.
 */
export async function stopNode(lab: string, node: NodeRecord): Promise<void> {
  const p = nodePaths(lab, node.name);
  if (node.agent.pid > 0) await stopProcess(node.agent, 15_000);
  await stopPids(netnsPids(node.netns));
  await deleteNetns(node.netns);
  removeBpffsDir(p.bpffsDir);
  fs.rmSync(p.dir, { recursive: true, force: true });
}

export function removeBpffsDir(dir: string): void {
  // bpffs takes unlink and rmdir, so a recursive removal unpins everything.
  fs.rmSync(dir, { recursive: true, force: true });
}

/** The lab's node pin folders left under /sys/fs/bpf/membrane (by a crashed run). */
export function leftoverBpffsDirs(lab: string): string[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(BPFFS_ROOT);
  } catch {
    return [];
  }
  return entries.filter((e) => isLabBpffsDir(lab, e)).map((e) => `${BPFFS_ROOT}/${e}`);
}
