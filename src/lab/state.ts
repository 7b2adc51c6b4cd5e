import fs from 'node:fs';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import type { ContainerPortModel, PolicyRef } from '../api/types.js';
import { MembraneError, errorMessage } from '../common/errors.js';
import type { ContainerSpec, EndpointSliceSpec, PodTemplate, ServiceSpec } from './manifest.js';
import { LAB_ROOT, labPaths } from './names.js';

/**
 * A lab's persisted state: what it created (nodes, pods and their processes)
 * and the objects applied to it. One JSON file per lab, written atomically
 * (temp file + rename), so readers never see half a file; writers take the
 * lab's lock first (`withLabLock`).
 */

/** A process the lab started. `startTime` (from /proc) guards against pid reuse. */
export interface ProcessRef {
  pid: number;
  startTime: string;
}

export interface NodeRecord {
  name: string;
  index: number;
  netns: string;
  podCIDR: string;
  socket: string;
  agent: ProcessRef;
}

/** The lab's simulated outside world: a netns joined to one node, answering on documentation addresses. */
export interface WorldRecord {
  netns: string;
  /** The node it is joined to. */
  node: string;
  /** Its device in the node's netns (the world's own end is eth0). */
  nodeDevice: string;
  /** The node side's addresses (CIDR notation): the world's gateways. */
  gateways: string[];
  /** The addresses that answer (plain IPv4, each in a /24). */
  addresses: string[];
  /** One `membrane workload serve` per address. */
  servers: WorldServer[];
}

export interface WorldServer {
  address: string;
  process: ProcessRef;
}

export interface NamespaceRecord {
  name: string;
  /** Labels as applied, plus kubernetes.io/metadata.name. */
  labels: Record<string, string>;
  createdAt: string;
}

export interface PodOwner {
  deployment: string;
  templateHash: string;
}

export interface PodRecord {
  namespace: string;
  name: string;
  /** 8 hex characters, the pod's netns suffix. */
  uid: string;
  netns: string;
  node: string;
  containerId: string;
  ip: string;
  labels: Record<string, string>;
  serviceAccount: string;
  containerPorts: ContainerPortModel[];
  container: ContainerSpec;
  /** The argv actually run (the container's, or a built-in workload's). */
  argv: string[];
  /** TCP port the pod is ready once listening on (built-in workloads). */
  readinessPort?: number;
  process?: ProcessRef;
  owner?: PodOwner;
  createdAt: string;
}

export interface DeploymentRecord {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  replicas: number;
  selector: Record<string, string>;
  template: PodTemplate;
  templateHash: string;
  createdAt: string;
}

export interface ServiceRecord {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  /** The spec as applied, with its clusterIP (or "None") and NodePorts allocated. */
  spec: ServiceSpec & { clusterIP: string };
  /** The document as applied (to tell `configured` from `unchanged`). */
  object: unknown;
  createdAt: string;
  /** Digest of what the agents were last given for it (service-sync.ts); unset until then. */
  pushed?: string;
}

export interface EndpointSliceRecord {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  slice: EndpointSliceSpec;
  object: unknown;
  createdAt: string;
}

export interface PolicyRecord {
  ref: PolicyRef;
  object: unknown;
}

export interface LabState {
  version: 1;
  name: string;
  createdAt: string;
  nodes: NodeRecord[];
  namespaces: NamespaceRecord[];
  deployments: DeploymentRecord[];
  pods: PodRecord[];
  services: ServiceRecord[];
  endpointSlices: EndpointSliceRecord[];
  policies: PolicyRecord[];
  /** Where ClusterIPs come from (service-ip.ts); absent in the state of a lab brought up before labs had services. */
  serviceCIDR?: string;
  /** Absent in the state of a lab brought up before labs had a world, and while it is being made. */
  world?: WorldRecord;
}

export function emptyState(name: string, now = new Date()): LabState {
  return {
    version: 1, name, createdAt: now.toISOString(),
    nodes: [], namespaces: [], deployments: [], pods: [], services: [], endpointSlices: [], policies: [],
  };
}

/** Reads a lab's state; undefined when the lab has none. Throws ESTATE when the file is unreadable. */
export function readLabState(lab: string): LabState | undefined {
  const file = labPaths(lab).stateFile;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new MembraneError('ESTATE', `cannot read lab state ${file}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    const state = JSON.parse(text) as LabState;
    if (state.version !== 1) throw new Error(`unknown version ${String(state.version)}`);
    // A lab brought up before labs had services: its Service records (never load-balanced) are dropped.
    state.endpointSlices ??= [];
    state.services = (state.services ?? []).filter((s) => s.spec?.clusterIP !== undefined);
    return state;
  } catch (err) {
    throw new MembraneError('ESTATE', `lab state ${file} is corrupt (${errorMessage(err)}); run "membrane lab down --lab ${lab}" to clean up`, { cause: err });
  }
}

/** Writes a lab's state atomically. Call only while holding the lab's lock. */
export function writeLabState(state: LabState): void {
  const file = labPaths(state.name).stateFile;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
}

export function removeLabState(lab: string): void {
  fs.rmSync(labPaths(lab).dir, { recursive: true, force: true });
}

/**
 * Runs `fn` holding the lab's lock, so concurrent lab commands on the same lab
 * take turns instead of corrupting its state. Waits up to ~10 minutes for a
 * long command (an `up` or an `apply`) to finish.
 */
export async function withLabLock<T>(lab: string, fn: () => Promise<T>): Promise<T> {
  fs.mkdirSync(LAB_ROOT, { recursive: true });
  const { dir, lockDir } = labPaths(lab);
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(dir, {
      realpath: false,
      lockfilePath: lockDir,
      stale: 20_000,
      retries: { retries: 1200, factor: 1.2, minTimeout: 100, maxTimeout: 500 },
      onCompromised: (err) => process.stderr.write(`warning: lost the lock of lab ${lab}: ${err.message}\n`),
    });
  } catch (err) {
    throw new MembraneError('ESTATE', `lab ${lab} is locked by another membrane command (lock ${lockDir}); try again when it has finished`, { cause: err });
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => { /* already released or compromised: nothing to undo */ });
  }
}
