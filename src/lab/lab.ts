import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import { AgentClient } from '../api/client.js';
import type { EndpointModel } from '../api/types.js';
import { MembraneError, errorMessage } from '../common/errors.js';
import { applyObjects } from './apply.js';
import { clusterDnsObjects } from './cluster-dns.js';
import { consoleOutput, type LabContext, type LabOutput } from './context.js';
import { deleteObjects } from './delete.js';
import { parseManifests } from './manifest.js';
import { isLabNetns, labPaths, netnsPath, podFiles, validateLabName, worldNetnsName } from './names.js';
import { podExecArgv } from './pod-argv.js';
import { deleteNetns, listNetns, netnsPids } from './netns.js';
import { leftoverBpffsDirs, nodeHealthy, removeBpffsDir, startNode, stopNode } from './node.js';
import { deletePod, podEnv, podStatus, type PodPhase } from './pod.js';
import { labelObject, type LabelResult } from './label.js';
import { parseLabelArgs, parseLabelTarget } from './label-args.js';
import { isRunning, stopPids } from './process.js';
import { DEFAULT_SERVICE_CIDR } from './service-ip.js';
import { syncDnsRecords, syncServices } from './service-sync.js';
import { serviceViews, type ServiceView } from './service-view.js';
import { resolveAgentSocket } from './socket.js';
import {
  emptyState, readLabState, removeLabState, withLabLock, writeLabState, type LabState, type NamespaceRecord, type PodRecord,
} from './state.js';
import { defaultToolchain, type LabToolchain } from './toolchain.js';
import { startWorld, stopWorld, worldRunning, WORLD_NODE_DEVICE } from './world.js';

const signalNumbers = osConstants.signals as Record<string, number>;

/** A pod as `lab get pods` shows it. */
export interface PodView {
  namespace: string;
  name: string;
  ready: boolean;
  status: PodPhase;
  ip: string;
  node: string;
  /** Numeric security identity, undefined when the agent has no endpoint for the pod (yet). */
  identity?: number;
  labels: Record<string, string>;
  pid?: number;
  containerId: string;
  netns: string;
  createdAt: string;
  owner?: string;
}

export interface NodeStatus {
  name: string;
  netns: string;
  podCIDR: string;
  socket: string;
  agentPid: number;
  agentRunning: boolean;
  healthy: boolean;
}

export interface WorldStatus {
  netns: string;
  node: string;
  /** The addresses that answer (TCP 80 and 443, UDP 53). */
  addresses: string[];
  /** Pids of its servers (one `workload serve` per address) that run. */
  pids: number[];
  /** Whether all its servers run. */
  running: boolean;
}

export interface LabStatus {
  name: string;
  dir: string;
  up: boolean;
  nodes: NodeStatus[];
  pods: { total: number; running: number };
  namespaces: number;
  policies: number;
  services: number;
  /** The simulated outside world; undefined when the lab has none. */
  world?: WorldStatus;
}

/**
 * One lab: a cluster on this machine, its nodes and pods network namespaces
 * with real processes. Every mutating operation holds the lab's lock and
 * persists the state after each step, so a crash leaves state that `down`
 * (or the next `up`) can clean.
 */
export class Lab {
  readonly name: string;

  constructor(name: string, readonly toolchain: LabToolchain = defaultToolchain(), private readonly out: LabOutput = consoleOutput) {
    this.name = validateLabName(name);
  }

  /**
   * Runs `fn` on the state of a lab that is up, under the lab's lock, then
   * brings the agents' services and the DNS records in line with what it
   * changed (also when it failed half-way: what was done is served).
   */
  private async mutate<T>(fn: (ctx: LabContext) => Promise<T>): Promise<T> {
    return withLabLock(this.name, async () => {
      const state = readLabState(this.name);
      if (!state || state.nodes.length === 0) throw this.notUp();
      const ctx = this.context(state);
      let result: T;
      try {
        result = await fn(ctx);
      } catch (err) {
        await syncServices(ctx).catch((e) => this.out.warn(`warning: updating the services after the failure failed too: ${errorMessage(e)}`));
        throw err;
      }
      await syncServices(ctx);
      return result;
    });
  }

  private context(state: LabState, out: LabOutput = this.out): LabContext {
    const ctx: LabContext = {
      lab: this.name, toolchain: this.toolchain, out, state,
      save: () => writeLabState(ctx.state),
    };
    return ctx;
  }

  private notUp(): MembraneError {
    return new MembraneError('ENOTFOUND', `lab ${this.name} is not up: run "membrane lab up --lab ${this.name}"`);
  }

  /** The lab's state, or a "not up" error. */
  state(): LabState {
    const state = readLabState(this.name);
    if (!state || state.nodes.length === 0) throw this.notUp();
    return state;
  }

  /**
   * Brings the lab up: `nodes` node netns, each with its agent. A healthy lab
   * is left as it is (returns false); the remains of a run that died are
   * cleaned first.
   */
  async up(nodes = 1, agentArgs: string[] = []): Promise<boolean> {
    if (!Number.isInteger(nodes) || nodes < 1) throw new MembraneError('EINVAL', `--nodes must be a positive integer, got ${nodes}`, { path: '--nodes' });
    if (nodes > 1) {
      throw new MembraneError('EINVAL', `--nodes ${nodes}: multi-node labs are not supported yet; a lab has one node for now`, { path: '--nodes' });
    }
    return withLabLock(this.name, async () => {
      const existing = readLabState(this.name);
      if (existing && existing.nodes.length > 0) {
        const health = await Promise.all(existing.nodes.map(nodeHealthy));
        if (health.every(Boolean)) {
          if (!worldRunning(existing.world)) {
            await this.restartWorld(existing);
            this.out.info(`lab ${this.name} is up; its world was not running and was started again`);
            return true;
          }
          this.out.info(`lab ${this.name} is already up (${existing.nodes.length} node${existing.nodes.length > 1 ? 's' : ''}); nothing to do`);
          return false;
        }
        this.out.warn(`lab ${this.name}: an earlier run is half-dead (agent not answering); cleaning it up first`);
      }
      await this.teardown(existing);
      const state = emptyState(this.name);
      try {
        await this.create(state, nodes, agentArgs);
      } catch (err) {
        await this.teardown(state).catch((e) => this.out.warn(`warning: cleaning up lab ${this.name} failed: ${errorMessage(e)}`));
        throw err;
      }
      for (const n of state.nodes) {
        this.out.info(`node ${n.name} is up: netns ${n.netns}, pod CIDR ${n.podCIDR}, agent pid ${n.agent.pid}, socket ${n.socket}`);
      }
      this.out.info(`lab ${this.name} is up`);
      return true;
    });
  }

  /**
   * Starts the nodes, tells their agents about the implicit `default`
   * namespace, makes the world beside node 1 and starts the cluster DNS,
   * saving the state at each step.
   */
  private async create(state: LabState, nodes: number, agentArgs: string[]): Promise<void> {
    fs.mkdirSync(labPaths(this.name).podsDir, { recursive: true });
    state.serviceCIDR = DEFAULT_SERVICE_CIDR;
    for (let i = 1; i <= nodes; i++) {
      state.nodes.push(await startNode(this.name, i, this.toolchain, undefined, agentArgs));
      writeLabState(state);
    }
    const labels = { 'kubernetes.io/metadata.name': 'default' };
    for (const node of state.nodes) await new AgentClient(node.socket).putNamespace({ name: 'default', labels });
    state.namespaces.push({ name: 'default', labels, createdAt: new Date().toISOString() });
    writeLabState(state);
    state.world = await startWorld(this.name, state.nodes[0]!, this.toolchain);
    writeLabState(state);
    await this.startClusterDns(state);
  }

  /**
   * Applies the cluster DNS (cluster-dns.ts) as a manifest, quietly, and
   * waits until it answers. Its records file is there before its server starts.
   */
  private async startClusterDns(state: LabState): Promise<void> {
    const ctx = this.context(state, { info: () => undefined, warn: (line) => this.out.warn(line) });
    await syncDnsRecords(ctx);
    await applyObjects(ctx, clusterDnsObjects(state, labPaths(this.name).dnsRecords));
    await syncServices(ctx);
  }

  /** Makes the world of a lab whose nodes are up (again), e.g. after its process died. */
  private async restartWorld(state: LabState): Promise<void> {
    const node = state.nodes[0]!;
    // Without a record (a crash while it was being made), what is left is found by name.
    const old = state.world ?? { netns: worldNetnsName(this.name), node: node.name, nodeDevice: WORLD_NODE_DEVICE, gateways: [], addresses: [], servers: [] };
    await stopWorld(this.name, old, node);
    delete state.world;
    writeLabState(state);
    state.world = await startWorld(this.name, node, this.toolchain);
    writeLabState(state);
  }

  /** Tears the lab down, leaving no netns, link, process, pin or state behind. Returns false when there was nothing to remove. */
  async down(): Promise<boolean> {
    return withLabLock(this.name, async () => {
      const removed = await this.teardown(readLabState(this.name));
      this.out.info(removed ? `lab ${this.name} is down` : `lab ${this.name} is not up; nothing to remove`);
      return removed;
    });
  }

  /**
   * Removes everything of the lab: pods (through CNI when their agent still
   * answers), the world, agents, node netns, pins, state; then whatever a crashed run
   * left that the state does not know (found by name).
   */
  private async teardown(state: LabState | undefined): Promise<boolean> {
    let removed = false;
    if (state) {
      removed = true;
      const healthy = new Map<string, boolean>();
      for (const n of state.nodes) healthy.set(n.name, await nodeHealthy(n));
      for (const pod of state.pods) {
        const node = state.nodes.find((n) => n.name === pod.node);
        const live = node && healthy.get(node.name) ? node : undefined;
        const warnings = await deletePod(this.name, live, pod, this.toolchain, live !== undefined).catch((e) => [errorMessage(e)]);
        for (const w of warnings) this.out.warn(`warning: ${w}`);
      }
      if (state.world) await stopWorld(this.name, state.world, state.nodes.find((n) => n.name === state.world!.node));
      for (const n of state.nodes) await stopNode(this.name, n);
    }
    for (const ns of listNetns().filter((n) => isLabNetns(this.name, n))) {
      removed = true;
      await stopPids(netnsPids(ns));
      await deleteNetns(ns);
    }
    for (const dir of leftoverBpffsDirs(this.name)) {
      removed = true;
      removeBpffsDir(dir);
    }
    if (fs.existsSync(labPaths(this.name).dir)) removed = true;
    removeLabState(this.name);
    return removed;
  }

  async apply(text: string, defaultNamespace?: string): Promise<void> {
    const objects = parseManifests(text, defaultNamespace ? { defaultNamespace } : {});
    await this.mutate((ctx) => applyObjects(ctx, objects));
  }

  /** Returns how many objects were not found (kubectl exits 1 then). */
  async delete(text: string, opts: { defaultNamespace?: string; ignoreNotFound?: boolean } = {}): Promise<number> {
    const objects = parseManifests(text, opts.defaultNamespace ? { defaultNamespace: opts.defaultNamespace } : {});
    const { notFound } = await this.mutate((ctx) => deleteObjects(ctx, objects, opts.ignoreNotFound));
    return notFound;
  }

  /**
   * Changes labels as `kubectl label` does: `target` is `NS/POD`, `POD` (in
   * `defaultNamespace`) or `ns/NAME`; `args` are `key=value` (set) and `key-`
   * (remove); changing an existing value needs `overwrite`. Resolves once
   * the agents enforce the new labels; prints `pod/NAME labeled` (or
   * `namespace/NAME`, or `not labeled` when nothing changed). Throws a
   * ValidationError naming the argument, changing nothing, for bad input.
   */
  async label(target: string, args: string[], opts: { overwrite?: boolean; defaultNamespace?: string } = {}): Promise<LabelResult> {
    const parsedTarget = parseLabelTarget(target, opts.defaultNamespace);
    const changes = parseLabelArgs(args);
    return this.mutate((ctx) => labelObject(ctx, parsedTarget, changes, opts.overwrite ?? false));
  }

  /** The lab's pods with their status and security identity (asked from their agents). */
  async pods(namespace?: string): Promise<PodView[]> {
    const state = this.state();
    const endpoints = new Map<string, EndpointModel[]>();
    await Promise.all(state.nodes.map(async (n) => {
      endpoints.set(n.name, await new AgentClient(n.socket, 5_000).listEndpoints().catch(() => []));
    }));
    return state.pods
      .filter((p) => namespace === undefined || p.namespace === namespace)
      .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name))
      .map((p) => {
        const ep = endpoints.get(p.node)?.find((e) => e.containerId === p.containerId || (e.podNamespace === p.namespace && e.podName === p.name));
        const status = podStatus(this.name, p);
        const view: PodView = {
          namespace: p.namespace, name: p.name, ready: status.ready, status: status.phase, ip: p.ip, node: p.node,
          labels: p.labels, containerId: p.containerId, netns: p.netns, createdAt: p.createdAt,
        };
        if (ep) view.identity = ep.identity;
        if (status.phase === 'Running' && p.process) view.pid = p.process.pid;
        if (p.owner) view.owner = `deployment/${p.owner.deployment}`;
        return view;
      });
  }

  /** The lab's services as `lab get services` shows them. */
  services(namespace?: string): ServiceView[] {
    return serviceViews(this.state(), namespace, (pod) => podStatus(this.name, pod).ready);
  }

  namespaces(): NamespaceRecord[] {
    return [...this.state().namespaces].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Finds a pod by "ns/name" or "name" (in `defaultNamespace`). */
  findPod(ref: string, defaultNamespace = 'default'): PodRecord {
    const slash = ref.indexOf('/');
    const namespace = slash >= 0 ? ref.slice(0, slash) : defaultNamespace;
    const name = slash >= 0 ? ref.slice(slash + 1) : ref;
    const pod = this.state().pods.find((p) => p.namespace === namespace && p.name === name);
    if (!pod) throw new MembraneError('ENOTFOUND', `pod "${name}" not found in namespace ${namespace} of lab ${this.name} (see: membrane lab get pods -A)`);
    return pod;
  }

  /**
   * Runs `argv` in the pod's network namespace, seeing the pod's resolv.conf,
   * with this process's stdio; resolves to its exit code.
   */
  exec(ref: string, argv: string[], defaultNamespace?: string): Promise<number> {
    const pod = this.findPod(ref, defaultNamespace);
    if (!fs.existsSync(netnsPath(pod.netns))) {
      throw new MembraneError('ENOTFOUND', `pod ${pod.namespace}/${pod.name} has no network namespace (${pod.netns}); delete and apply it again`);
    }
    const resolv = podFiles(this.name, pod.namespace, pod.name).resolvConf;
    const full = podExecArgv(pod.netns, fs.existsSync(resolv) ? resolv : undefined, argv);
    return new Promise((resolve, reject) => {
      const child = spawn(full[0]!, full.slice(1), { stdio: 'inherit', env: podEnv(pod, this.toolchain) });
      child.on('error', (cause) => reject(new MembraneError('EEXEC', `could not run ${argv[0]} in pod ${pod.namespace}/${pod.name}`, { cause })));
      child.on('close', (code, signal) => {
        if (code !== null) resolve(code);
        else resolve(128 + (signal ? (signalNumbers[signal] ?? 1) : 1));
      });
    });
  }

  /** The pod process's output so far. */
  logs(ref: string, defaultNamespace?: string): string {
    const pod = this.findPod(ref, defaultNamespace);
    try {
      return fs.readFileSync(podFiles(this.name, pod.namespace, pod.name).log, 'utf8');
    } catch {
      return '';
    }
  }

  async status(): Promise<LabStatus> {
    const state = readLabState(this.name);
    const nodes: NodeStatus[] = [];
    for (const n of state?.nodes ?? []) {
      nodes.push({
        name: n.name, netns: n.netns, podCIDR: n.podCIDR, socket: n.socket, agentPid: n.agent.pid,
        agentRunning: isRunning(n.agent), healthy: await nodeHealthy(n),
      });
    }
    const pods = state?.pods ?? [];
    const result: LabStatus = {
      name: this.name,
      dir: labPaths(this.name).dir,
      up: nodes.length > 0 && nodes.every((n) => n.healthy),
      nodes,
      pods: { total: pods.length, running: pods.filter((p) => isRunning(p.process)).length },
      namespaces: state?.namespaces.length ?? 0,
      policies: state?.policies.length ?? 0,
      services: state?.services.length ?? 0,
    };
    if (state?.world) {
      const w = state.world;
      result.world = {
        netns: w.netns, node: w.node, addresses: w.addresses, running: worldRunning(w),
        pids: w.servers.filter((x) => isRunning(x.process)).map((x) => x.process.pid),
      };
    }
    return result;
  }

  /** The agent socket of a node (the first by default). */
  socket(node?: string): string {
    return resolveAgentSocket(this.name, node);
  }
}
