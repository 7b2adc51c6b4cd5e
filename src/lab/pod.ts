import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AgentClient } from '../api/client.js';
import type { PodMetaModel } from '../api/types.js';
import { invokeCni, type CniCommand, type CniOutcome } from '../cni/invoke.js';
import { MembraneError, errorMessage } from '../common/errors.js';
import type { ContainerSpec } from './manifest.js';
import { netnsPath, podFiles, podNetnsName } from './names.js';
import { addNetns, deleteNetns, netnsPids } from './netns.js';
import { nodeNetworkConfig } from './node.js';
import { podLaunchArgv } from './pod-argv.js';
import { podCommand } from './pod-command.js';
import { isListening, isRunning, spawnDetached, stopPids } from './process.js';
import type { NodeRecord, PodOwner, PodRecord } from './state.js';
import type { LabToolchain } from './toolchain.js';

/**
 * A lab pod, made as a container runtime makes one: a network namespace,
 * the CNI plugin's ADD run from the node, then the container's process in
 * that namespace. Deleting it undoes the same steps in reverse.
 */

export interface PodDesired {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  serviceAccount: string;
  container: ContainerSpec;
  owner?: PodOwner;
  /** The pod's /etc/resolv.conf (cluster-dns.ts); without it, the pod sees the machine's. */
  resolvConf?: string;
}

export function podMeta(pod: Pick<PodDesired, 'namespace' | 'name' | 'labels' | 'serviceAccount' | 'container'>): PodMetaModel {
  return {
    namespace: pod.namespace, name: pod.name, labels: pod.labels,
    serviceAccount: pod.serviceAccount, containerPorts: pod.container.ports,
  };
}

/** The environment of a pod's process and of `lab exec` in it: a clean one, as a container has. */
export function podEnv(pod: Pick<PodRecord, 'name' | 'container'>, toolchain: LabToolchain): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: toolchain.podPath, HOSTNAME: pod.name, HOME: '/root' };
  if (process.env['TERM']) env['TERM'] = process.env['TERM'];
  for (const e of pod.container.env) env[e.name] = e.value;
  return env;
}

interface CniTarget {
  namespace: string;
  name: string;
  containerId: string;
  netns: string;
}

async function cni(command: CniCommand, lab: string, node: NodeRecord, pod: CniTarget, toolchain: LabToolchain): Promise<CniOutcome> {
  return invokeCni({
    plugin: `${toolchain.cniBinDir}/${toolchain.cniPlugin}`,
    command,
    config: nodeNetworkConfig(lab, node.name, toolchain),
    containerId: pod.containerId,
    netns: netnsPath(pod.netns),
    ifName: 'eth0',
    args: { IgnoreUnknown: '1', K8S_POD_NAMESPACE: pod.namespace, K8S_POD_NAME: pod.name, K8S_POD_INFRA_CONTAINER_ID: pod.containerId },
    path: [toolchain.cniBinDir],
    runtimeNetns: netnsPath(node.netns),
  });
}

function cniFailure(command: CniCommand, pod: CniTarget, outcome: CniOutcome): MembraneError {
  const detail = outcome.ok ? '' : `${outcome.error.msg}${outcome.error.details ? ` (${outcome.error.details})` : ''} [CNI error ${outcome.error.code}]`;
  return new MembraneError('EEXEC', `CNI ${command} for pod ${pod.namespace}/${pod.name} failed: ${detail}`);
}

function podIp(output: Record<string, unknown> | undefined): string | undefined {
  const ips = output?.['ips'];
  if (!Array.isArray(ips) || ips.length === 0) return undefined;
  const address = (ips[0] as { address?: unknown }).address;
  return typeof address === 'string' ? address.split('/')[0] : undefined;
}

/**
 * Creates the pod on `node`: pushes its metadata to the agent (so the
 * endpoint gets its identity at once), makes its netns, runs CNI ADD and
 * starts its process. When a step fails, undoes every earlier one, the
 * agent's copy of the metadata included, and throws that step's error.
 */
export async function createPod(lab: string, node: NodeRecord, desired: PodDesired, toolchain: LabToolchain): Promise<PodRecord> {
  const agent = new AgentClient(node.socket);
  await agent.putPod(podMeta(desired));
  try {
    return await attachAndStart(lab, node, desired, toolchain);
  } catch (err) {
    // Left behind, the metadata would make the agent believe in a pod the lab does not have.
    const forgotten = await agent.deletePod(desired.namespace, desired.name).then(() => undefined, (e: unknown) => e);
    if (forgotten === undefined || (forgotten instanceof MembraneError && forgotten.code === 'ENOTFOUND')) throw err;
    throw new MembraneError(err instanceof MembraneError ? err.code : 'EEXEC',
      `${errorMessage(err)}; and taking pod ${desired.namespace}/${desired.name} back from the agent failed too: ${errorMessage(forgotten)}`,
      { cause: err });
  }
}

/** The steps of createPod after the agent knows the pod: netns, CNI ADD, process. Undoes its own steps on failure. */
async function attachAndStart(lab: string, node: NodeRecord, desired: PodDesired, toolchain: LabToolchain): Promise<PodRecord> {
  const uid = randomBytes(4).toString('hex');
  const target: CniTarget = {
    namespace: desired.namespace, name: desired.name,
    containerId: randomBytes(32).toString('hex'), netns: podNetnsName(lab, uid),
  };
  const files = podFiles(lab, desired.namespace, desired.name);
  await addNetns(target.netns);
  try {
    const outcome = await cni('ADD', lab, node, target, toolchain);
    if (!outcome.ok) throw cniFailure('ADD', target, outcome);
    const ip = podIp(outcome.output);
    if (!ip) throw new MembraneError('EEXEC', `CNI ADD for pod ${desired.namespace}/${desired.name} returned no IP address: ${JSON.stringify(outcome.output)}`);
    const command = podCommand(desired.container);
    fs.mkdirSync(path.dirname(files.log), { recursive: true });
    fs.rmSync(files.log, { force: true });
    fs.rmSync(files.exitCode, { force: true });
    if (desired.resolvConf !== undefined) fs.writeFileSync(files.resolvConf, desired.resolvConf, { mode: 0o644 });
    else fs.rmSync(files.resolvConf, { force: true });
    const record: PodRecord = {
      namespace: desired.namespace, name: desired.name, uid, netns: target.netns, node: node.name,
      containerId: target.containerId, ip, labels: desired.labels, serviceAccount: desired.serviceAccount,
      containerPorts: desired.container.ports, container: desired.container, argv: command.argv,
      createdAt: new Date().toISOString(),
    };
    if (command.readinessPort !== undefined) record.readinessPort = command.readinessPort;
    if (desired.owner) record.owner = desired.owner;
    record.process = spawnDetached(
      podLaunchArgv(target.netns, files.exitCode, desired.resolvConf === undefined ? undefined : files.resolvConf, command.argv),
      { logFile: files.log, env: podEnv(record, toolchain) },
    );
    return record;
  } catch (err) {
    await stopPids(netnsPids(target.netns));
    // DEL also after a failed ADD, as runtimes do: an ADD cut short may have left pieces, and DEL tolerates missing ones.
    await cni('DEL', lab, node, target, toolchain).catch(() => undefined);
    await deleteNetns(target.netns).catch(() => undefined);
    fs.rmSync(files.resolvConf, { force: true });
    throw err; // the pod's log stays: the error may point at it
  }
}

/**
 * Deletes the pod: ends every process in its netns, runs CNI DEL, removes
 * the netns, tells the agent the pod is gone. Goes on past failures (a
 * half-made pod must still go away) and returns them as warnings.
 */
export async function deletePod(lab: string, node: NodeRecord | undefined, pod: PodRecord, toolchain: LabToolchain, tellAgent = true): Promise<string[]> {
  const warnings: string[] = [];
  await stopPids(netnsPids(pod.netns));
  if (node) {
    const outcome = await cni('DEL', lab, node, pod, toolchain).catch((e: unknown) => e);
    if (outcome instanceof Error) warnings.push(`CNI DEL for pod ${pod.namespace}/${pod.name}: ${errorMessage(outcome)}`);
    else if (!(outcome as CniOutcome).ok) warnings.push(cniFailure('DEL', pod, outcome as CniOutcome).message);
  }
  await deleteNetns(pod.netns).catch((e) => warnings.push(errorMessage(e)));
  if (node && tellAgent) {
    await new AgentClient(node.socket, 30_000).deletePod(pod.namespace, pod.name).catch((e: unknown) => {
      if (!(e instanceof MembraneError && e.code === 'ENOTFOUND')) warnings.push(`telling the agent pod ${pod.namespace}/${pod.name} is gone: ${errorMessage(e)}`);
    });
  }
  const files = podFiles(lab, pod.namespace, pod.name);
  fs.rmSync(files.log, { force: true });
  fs.rmSync(files.exitCode, { force: true });
  fs.rmSync(files.resolvConf, { force: true });
  return warnings;
}

export type PodPhase = 'Running' | 'Completed' | 'Failed';

export interface PodStatus {
  phase: PodPhase;
  ready: boolean;
  exitCode?: number;
}

export function podStatus(lab: string, pod: PodRecord): PodStatus {
  if (isRunning(pod.process)) {
    const ready = pod.readinessPort === undefined || isListening(pod.process!.pid, pod.readinessPort);
    return { phase: 'Running', ready };
  }
  let code: number | undefined;
  try {
    code = Number(fs.readFileSync(podFiles(lab, pod.namespace, pod.name).exitCode, 'utf8').trim());
  } catch {
    code = undefined;
  }
  const status: PodStatus = { phase: code === 0 ? 'Completed' : 'Failed', ready: false };
  if (code !== undefined && !Number.isNaN(code)) status.exitCode = code;
  return status;
}
