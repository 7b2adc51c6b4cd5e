/**
 * The membrane agent: owns one node's datapath. It allocates pod addresses,
 * turns endpoint labels into identities, resolves every endpoint's policy
 * into map state and writes it to the kernel as a diff, and turns datapath
 * events into flows. All changes run one at a time (a mutex) and are
 * persisted in the state dir; the kernel side lives in pinned maps, so a
 * restarted agent adopts what it finds instead of starting over.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { MembraneError, ValidationError } from '../common/errors.js';
import { Mutex } from '../common/mutex.js';
import { readJsonState, writeJsonState } from '../common/state.js';
import type {
  AgentConfigModel, CniGcRequest, CniGcResponse, EndpointChangeRequest, EndpointModel, IdentityModel, NamespaceModel,
  PodMetaModel, PolicyDeleteResponse, PolicyImportResponse, PolicyListModel, PolicyRef, PolicyTraceResponse, StatusModel,
} from '../api/types.js';
import { LxcDatapath } from '../datapath/loader.js';
import { flowEvent } from '../datapath/layout.js';
import { EventStream } from '../datapath/ringbuf.js';
import { DatapathState } from '../datapath/state.js';
import { type EndpointRecord, type EndpointStatus, EndpointIdAllocator, attachmentKey, toModel } from '../endpoint/endpoint.js';
import { IdentityAllocator, type IdentityInfo } from '../identity/allocator.js';
import { CidrIdentities, type CidrIdentitySnapshot } from '../identity/cidr.js';
import { Ipam, type IpamSnapshot } from '../ipam/ipam.js';
import type { FlowRing } from '../hubble/ring.js';
import type { FlowContext } from '../hubble/flow.js';
import { FlowObserver } from '../hubble/observer.js';
import { type FlowLogOptions, FlowLogWriter } from '../hubble/flowlog.js';
import { DEFAULT_TRACE_CONFIG, type TraceConfig } from '../datapath/trace-config.js';
import {
  AgentEventLog, agentStarted, endpointCreated, endpointDeleted, endpointRegenerated, ipcacheDeleted, ipcacheUpserted, policyChanged, policyRuleCounts,
} from '../hubble/agent-events.js';
import { LbWriteRecorder } from '../hubble/service-events.js';
import { refKey } from '../policy/repository.js';
import { peerNamedPortsOf, type PeerNamedPorts } from '../policy/ports.js';
import { type LostCounts, totalLost } from '../hubble/lost.js';
import { K8sMetadata } from './k8s-metadata.js';
import { linkDetails, listLinks, nodeAddresses, setupNode } from './node.js';
import { takePidLock } from './pidlock.js';
import { requireString, validateEndpointRequest, validateGc, validateNamespace, validatePodMeta } from './validate.js';
import { PolicyEngine, type EnforcementMode, type PersistedPolicies, type ResolvedEndpointPolicy } from './policy-engine.js';
import { podIdentityLabels } from './labels.js';
import { kernelIpcacheIdentity, tracePolicies, tracePolicy, type TraceContext } from './trace.js';
import { validateTraceBatch, validateTraceRequest } from './trace-request.js';
import type { K8sServiceModel, L7ProxyStatusModel, ServiceFrontendModel } from '../api/types.js';
import { ServiceRegistry } from '../service/registry.js';
import { FileServiceStore } from '../service/store.js';
import { L7ProxySupervisor, buildProxyConfig } from './l7-proxy.js';
import { flowFromL7Record } from '../hubble/l7-flow.js';
import type { L7Record } from '../l7/l7-record.js';
import { HostDatapath } from '../datapath/lb-host.js';
import { NodeChangeWatch } from '../datapath/lb-node-watch.js';

export const VERSION = '0.1.0';

export interface AgentOptions {
  node: string;
  clusterName: string;
  podCIDR: string;
  stateDir: string;
  bpffsDir: string;
  mtu: number;
  enforcement: EnforcementMode;
  flowRingCapacity: number;
  /** The on-disk flow log (`--hubble-export-*`); absent: none. Its errors go to `log`. */
  flowExport?: Omit<FlowLogOptions, 'onError'>;
  /** Resolve and sync every endpoint on every change (a benchmark baseline for the incremental default). */
  fullRegeneration?: boolean;
  /** Trace aggregation: which forwarded packets become trace events (default: medium, every TCP flag, 5 s). */
  trace?: TraceConfig;
  log: (msg: string) => void;
  /** The node's external devices (`--devices`): NodePort from outside is served on them (host.bpf.c). */
  devices?: string[];
}

interface PersistedEndpoints {
  endpoints: EndpointRecord[];
}

export class Agent {
  private readonly mutex = new Mutex();
  private readonly startedAt = Date.now();
  private dp!: LxcDatapath;
  private kernel!: DatapathState;
  private ipam!: Ipam;
  private identities!: IdentityAllocator;
  private policy!: PolicyEngine;
  private cidrs!: CidrIdentities;
  private events?: EventStream;
  private adopted = false;
  private readonly observer: FlowObserver;
  private flowLogWriter?: FlowLogWriter;
  /** What the agent did (endpoints, policy, ipcache, services), for Hubble's GetAgentEvents and `observe agent-events`. */
  readonly agentEvents: AgentEventLog;
  /** The load-balancer writes of the service change in progress, announced as agent events once it holds. */
  private readonly lbWrites = new LbWriteRecorder();
  private k8s!: K8sMetadata;
  /** Services and their load-balancer frontends (see the services section). */
  private services!: ServiceRegistry;
  private readonly endpoints = new Map<number, EndpointRecord>();
  private readonly status = new Map<number, EndpointStatus>();
  private readonly endpointIds = new EndpointIdAllocator();
  private readonly wallOffsetMs = Date.now() - Number(process.hrtime.bigint()) / 1e6;
  /** FlowContext.version(): bumped whenever what flows are enriched with may have changed (each regeneration pass, each service change). */
  private flowContextVersion = 0;
  private releaseLock?: () => void;
  /** The endpoints-map value last written per endpoint, to skip rewriting an unchanged one. */
  private readonly endpointStamps = new Map<number, string>();
  /** The resolution each endpoint's policy map was last synced with (see regenerateAll). */
  private readonly syncedPolicy = new Map<number, ResolvedEndpointPolicy>();
  /** The node's own addresses (host identity in the ipcache). */
  private readonly hostIps = new Set<string>();
  /** What the last regeneration did: map writes and deletes, endpoints, distinct resolutions. */
  lastRegeneration = { written: 0, deleted: 0, endpoints: 0, resolutions: 0, groups: 0, endpointsSynced: 0 };

  /** NodePort from outside: the node-device programs, where they are attached (device name -> ifindex), and the watch that keeps both current. */
  private hostDp?: HostDatapath;
  private readonly attachedDevices = new Map<string, number>();
  private nodeWatch?: NodeChangeWatch;
  /** Set by stop() under the mutex: nothing queued after it touches the datapath. */
  private stopping = false;

  /** The node's L7 proxy process, told each regeneration's L7 rules (see l7-proxy.ts). */
  private readonly l7Proxy: L7ProxySupervisor;

  constructor(readonly opts: AgentOptions) {
    this.observer = new FlowObserver(opts.flowRingCapacity, () => this.flowContext());
    this.agentEvents = new AgentEventLog(opts.node);
    this.l7Proxy = new L7ProxySupervisor({ log: opts.log, onRecords: (records) => this.onL7Records(records) });
  }

  /** Recent flows of this node. */
  get ring(): FlowRing {
    return this.observer.ring;
  }

  /** The node's on-disk flow log, when exporting (set by start()). */
  get flowLog(): FlowLogWriter | undefined {
    return this.flowLogWriter;
  }

  /** Resolves once the datapath's events written up to now are flows in the ring (within one poll round, 50 ms). */
  async flushFlows(): Promise<void> {
    await this.events?.flush();
  }

  /** The L7 proxy's state (metrics read it at scrape time). */
  l7ProxyStatus(): L7ProxyStatusModel {
    return this.l7Proxy.status();
  }

  /** Wall-clock ms the agent started at (Hubble's uptime). */
  get startedAtMs(): number {
    return this.startedAt;
  }

  /** Called after every regeneration pass with its duration in seconds and whether it completed (metrics). */
  readonly regenerationListeners: ((seconds: number, ok: boolean) => void)[] = [];

  /** The flow pipeline, for listeners of every flow (metrics). */
  get flowObserver(): FlowObserver {
    return this.observer;
  }

  /** What the Prometheus metrics read at scrape time (src/metrics/agent-source.ts); each read is cheap. */
  metricsView() {
    return {
      policyRevision: () => this.policy.revision,
      endpointStates: () => [...this.status.values()].map((s) => s.state),
      maps: () => this.dp.maps,
      policyEntries: () => this.kernel.policyEndpointIds().reduce((n, id) => n + this.kernel.realizedPolicy(id).size, 0),
      eventsLost: () => this.kernel.eventsLost(),
      datapathCounters: () => this.kernel.metrics(),
    };
  }

  private file(name: string): string {
    return path.join(this.opts.stateDir, name);
  }

  get gateway(): string {
    return this.ipam.gateway;
  }

  /** Sets up the node, loads (or adopts) the datapath and restores persisted state. */
  async start(): Promise<void> {
    // First, so that what restoring does (endpoints, ipcache, regeneration) reads as after the start.
    this.agentEvents.push(agentStarted(this.startedAt));
    mkdirSync(this.opts.stateDir, { recursive: true, mode: 0o700 });
    this.releaseLock = takePidLock(this.file('agent.pid'));
    this.ipam = new Ipam(this.opts.podCIDR, readJsonState<IpamSnapshot | undefined>(this.file('ipam.json'), undefined),
      (s) => writeJsonState(this.file('ipam.json'), s));
    this.identities = new IdentityAllocator({
      snapshot: readJsonState<unknown>(this.file('identities.json'), undefined),
      onChange: (s) => writeJsonState(this.file('identities.json'), s),
    });
    this.policy = new PolicyEngine(this.opts.enforcement, readJsonState<unknown>(this.file('policies.json'), undefined),
      (s) => writeJsonState(this.file('policies.json'), s));
    this.k8s = new K8sMetadata(this.file('k8s.json'));
    this.cidrs = new CidrIdentities(readJsonState<CidrIdentitySnapshot | undefined>(this.file('cidr-identities.json'), undefined),
      (s) => writeJsonState(this.file('cidr-identities.json'), s));

    await setupNode(this.ipam.gateway);
    this.dp = LxcDatapath.load({ pinDir: this.opts.bpffsDir });
    this.adopted = this.dp.adoptedMaps.length > 0;
    this.kernel = new DatapathState(this.dp);
    this.kernel.writeTraceConfig(this.opts.trace ?? DEFAULT_TRACE_CONFIG);
    for (const ip of [this.ipam.gateway, ...(await nodeAddresses())]) {
      this.hostIps.add(ip);
      this.kernel.upsertIpcache(ip, 32, 1);
    }
    this.startServices();
    this.syncCidrIdentities({ regenerate: false });
    for (const c of this.cidrs.list()) this.upsertCidrIpcache(c.prefix, c.id);

    await this.restoreEndpoints();
    await this.startNodePort();
    if (this.opts.flowExport) await this.openFlowLog(this.opts.flowExport);
    this.events = new EventStream(this.dp.maps.events.fd, flowEvent.size, (batch, count) => this.observer.onRecords(batch, count),
      (err) => this.opts.log(`event reader failed: ${err.message}`));
    this.observer.lostCounters.perfEventRingBuffer = () => this.kernel.eventsLost();
    this.observer.lostCounters.observerEventsQueue = () => this.events?.droppedRecords ?? 0;
    this.opts.log(`agent ready on node ${this.opts.node}: pod CIDR ${this.ipam.podCIDR}, ${this.endpoints.size} endpoints, datapath ${this.adopted ? 'adopted from pinned maps' : 'created'} in ${this.opts.bpffsDir}`);
  }

  /** Restores persisted endpoints; those whose link vanished while the agent was away are removed. */
  private async restoreEndpoints(): Promise<void> {
    const saved = readJsonState<PersistedEndpoints>(this.file('endpoints.json'), { endpoints: [] });
    const links = await listLinks();
    for (const r of saved.endpoints) {
      const link = links.get(r.hostIfName);
      if (!link) {
        this.opts.log(`endpoint ${r.id} (${r.containerId.slice(0, 12)}): link ${r.hostIfName} is gone; removing it`);
        this.agentEvents.push(endpointDeleted(r));
        this.ipam.release(r.ipv4);
        this.kernel.deleteEndpoint(r.ipv4);
        this.kernel.deleteIpcache(r.ipv4, 32);
        continue;
      }
      r.hostIfIndex = link.ifindex;
      this.endpoints.set(r.id, r);
      this.endpointIds.take(r.id);
      const labels = this.labelsFor(r);
      const { identity } = this.identities.acquire(labels);
      this.status.set(r.id, newStatus(identity.id, identity.labels.toStrings()));
      this.kernel.upsertIpcache(r.ipv4, 32, identity.id);
    }
    // Kernel state of endpoints the agent no longer knows.
    const known = new Set([...this.endpoints.values()].map((e) => e.ipv4));
    for (const ip of this.kernel.endpointEntries().keys()) if (!known.has(ip)) this.kernel.deleteEndpoint(ip);
    const ids = new Set(this.endpoints.keys());
    for (const epId of this.kernel.policyEndpointIds()) if (!ids.has(epId)) this.kernel.removePolicy(epId);
    this.regenerateAll();
    for (const r of this.endpoints.values()) this.dp.attach(r.hostIfIndex);
    this.saveEndpoints();
  }

  async stop(): Promise<void> {
    // A node change already queued must not touch the maps once they are closed.
    this.nodeWatch?.stop();
    await this.mutex.run(async () => { this.stopping = true; });
    // The node-device programs stay attached, as the endpoints' do: NodePort keeps working from the pinned maps.
    this.hostDp?.close();
    await this.l7Proxy.stop();
    await this.events?.stop();
    await this.flowLogWriter?.close();
    this.dp?.close();
    this.releaseLock?.();
  }

  // ---- labels and identities ----

  private labelsFor(r: EndpointRecord) {
    const pod = this.k8s.pod(r.podNamespace, r.podName);
    return podIdentityLabels({
      namespace: r.podNamespace,
      podLabels: pod ? pod.labels : r.runtimeLabels,
      namespaceLabels: r.podNamespace ? this.k8s.namespaceLabels(r.podNamespace) : undefined,
      serviceAccount: pod?.serviceAccount,
      clusterName: this.opts.clusterName,
    });
  }

  /** Re-resolves an endpoint's identity from its current labels; true when it changed. */
  private refreshIdentity(r: EndpointRecord): boolean {
    const st = this.status.get(r.id)!;
    const labels = this.labelsFor(r);
    const { identity } = this.identities.acquire(labels);
    if (identity.id === st.identity) {
      this.identities.release(identity.id);
      return false;
    }
    this.agentEvents.push(ipcacheUpserted(`${r.ipv4}/32`, identity.id, { oldIdentity: st.identity, pod: r }));
    this.identities.release(st.identity);
    st.identity = identity.id;
    st.labels = identity.labels.toStrings();
    this.kernel.upsertIpcache(r.ipv4, 32, identity.id);
    return true;
  }

  // ---- policy realization ----

  /**
   * Brings every endpoint's policy up to date. Resolution is incremental
   * (policy/incremental.ts): only groups whose policies or peer selections
   * changed are resolved again, and only their endpoints' maps are diffed
   * against the kernel; an endpoint whose policy object is the one it was
   * last synced with is not looked at again.
   */
  private regenerateAll(): { written: number; deleted: number } {
    const started = process.hrtime.bigint();
    let ok = false;
    try {
      const res = this.regenerateEndpoints();
      ok = true;
      this.updateL7Proxy();
      return res;
    } finally {
      // Endpoints, identities, policies and default deny change only with a regeneration pass after them.
      this.flowContextVersion++;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      for (const listener of this.regenerationListeners) listener(seconds, ok);
    }
  }

  /** One regeneration pass, untimed (regenerateAll times it). */
  private regenerateEndpoints(): { written: number; deleted: number } {
    const total = { written: 0, deleted: 0 };
    if (this.opts.fullRegeneration) {
      this.policy.forgetResolutions();
      this.syncedPolicy.clear();
    }
    this.policy.beginPass(this.allIdentities(), this.podIpsByIdentity(), this.namedPortsByIdentity());
    let synced = 0;
    for (const r of this.endpoints.values()) {
      const st = this.status.get(r.id)!;
      const ports = this.k8s.pod(r.podNamespace, r.podName)?.containerPorts ?? [];
      const { policy: res } = this.policy.resolveGroup(this.identities.lookupById(st.identity)!.labels, ports);
      st.policyRevision = this.policy.revision;
      const resync = this.syncedPolicy.get(r.id) !== res || st.state !== 'ready';
      if (resync) {
        const stats = this.syncEndpointPolicy(r, st, res.entries);
        total.written += stats.written;
        total.deleted += stats.deleted;
        synced += 1;
      }
      // Policy first, then the endpoint entry that may switch its audit flags.
      const value = { ifindex: r.hostIfIndex, identity: st.identity, epId: r.id, flags: res.auditFlags, mac: r.containerMac, nodeMac: r.hostMac };
      const stamp = `${value.ifindex}|${value.identity}|${value.flags}|${value.mac}|${value.nodeMac}`;
      if (this.endpointStamps.get(r.id) !== stamp) {
        this.kernel.upsertEndpoint(r.ipv4, value);
        this.endpointStamps.set(r.id, stamp);
      }
      this.syncedPolicy.set(r.id, res);
      st.ingressEnforcing = res.ingressEnforcing;
      st.egressEnforcing = res.egressEnforcing;
      st.mapEntries = res.entries.size;
      st.defaultDenyBy = res.defaultDenyBy;
      st.state = 'ready';
      if (resync) this.agentEvents.push(endpointRegenerated(r, st.labels));
    }
    const pass = this.policy.endPass();
    this.lastRegeneration = { ...total, endpoints: this.endpoints.size, resolutions: pass.resolved, groups: pass.groups, endpointsSynced: synced };
    return total;
  }

  /** Tells the L7 proxy the endpoints' redirected entries as this pass resolved them (sent only when they changed). */
  private updateL7Proxy(): void {
    const endpoints = [...this.endpoints.values()].map((r) => ({
      ip: r.ipv4, id: r.id, identity: this.status.get(r.id)!.identity, l7: this.syncedPolicy.get(r.id)?.l7 ?? [],
    }));
    this.l7Proxy.update(buildProxyConfig({ endpoints, hostIps: this.hostIps, cidrs: this.cidrs.list() }));
  }

  /** The proxy's records as L7 flows, through the pipeline like the datapath's. */
  private onL7Records(records: L7Record[]): void {
    const ctx = this.flowContext();
    for (const r of records) this.observer.pushFlow(flowFromL7Record(r, ctx));
  }

  /** Writes one endpoint's policy map; a failure is that endpoint's regeneration failure (an agent event) before it propagates. */
  private syncEndpointPolicy(r: EndpointRecord, st: EndpointStatus, entries: ResolvedEndpointPolicy['entries']): { written: number; deleted: number } {
    try {
      return this.kernel.syncPolicy(r.id, entries);
    } catch (err) {
      this.agentEvents.push(endpointRegenerated(r, st.labels, err));
      throw err;
    }
  }

  /** NetworkPolicy ipBlocks match pods by IP: the IPs of the local endpoints of each identity. */
  private podIpsByIdentity(): Map<number, string[]> {
    const podIps = new Map<number, string[]>();
    for (const r of this.endpoints.values()) {
      const id = this.status.get(r.id)!.identity;
      const ips = podIps.get(id);
      if (ips) ips.push(r.ipv4);
      else podIps.set(id, [r.ipv4]);
    }
    return podIps;
  }

  /** Egress named ports resolve against the destination's (policy/resolve.ts): the named ports of the local endpoints of each identity. */
  private namedPortsByIdentity(): PeerNamedPorts {
    return peerNamedPortsOf([...this.endpoints.values()].map((r) => ({
      identity: this.status.get(r.id)!.identity, ports: this.k8s.pod(r.podNamespace, r.podName)?.containerPorts ?? [],
    })));
  }

  /** Whether an address has an ipcache entry of its own (a local endpoint or the node), which a CIDR /32 must not overwrite. */
  private ownsIpcacheEntry(ip: string): boolean {
    if (this.hostIps.has(ip)) return true;
    for (const r of this.endpoints.values()) if (r.ipv4 === ip) return true;
    return false;
  }

  /** Every identity policy can select: reserved, endpoint and CIDR identities. */
  private allIdentities(): IdentityInfo[] {
    return [...this.identities.list(), ...this.cidrs.list().map((c) => ({ id: c.id, labels: c.labels, reserved: false, references: 0 }))];
  }

  /** Writes a CIDR identity's ipcache entry; a /32 of a pod or the node keeps that one's identity, as in Cilium. */
  private upsertCidrIpcache(prefix: string, id: number): void {
    const [ip, len] = prefix.split('/');
    if (len === '32' && this.ownsIpcacheEntry(ip!)) return;
    this.kernel.upsertIpcache(ip!, Number(len), id);
    this.agentEvents.push(ipcacheUpserted(prefix, id));
  }

  /**
   * Gives every prefix the policies name a CIDR identity and an ipcache
   * entry. New prefixes: policy first, then the ipcache, so no address
   * moves to an identity the policy maps do not know yet; gone prefixes:
   * the ipcache first, then policy.
   */
  private syncCidrIdentities(opts: { regenerate: boolean }): void {
    const { added, removed } = this.cidrs.sync(this.policy.referencedCidrs());
    for (const c of removed) {
      const [ip, len] = c.prefix.split('/');
      if (len === '32' && this.ownsIpcacheEntry(ip!)) continue;
      this.kernel.deleteIpcache(ip!, Number(len));
      this.agentEvents.push(ipcacheDeleted(c.prefix, c.id));
    }
    if (opts.regenerate) this.regenerateAll();
    for (const c of added) this.upsertCidrIpcache(c.prefix, c.id);
  }

  private saveEndpoints(): void {
    writeJsonState(this.file('endpoints.json'), { endpoints: [...this.endpoints.values()] } satisfies PersistedEndpoints);
  }

  // ---- API operations ----

  config(): AgentConfigModel {
    return { node: this.opts.node, clusterName: this.opts.clusterName, podCIDR: this.ipam.podCIDR, gateway: this.ipam.gateway, mtu: this.opts.mtu, bpffsDir: this.opts.bpffsDir };
  }

  allocateIp(owner: string) {
    return this.mutex.run(() => {
      requireString(owner, 'owner');
      const ip = this.ipam.allocate(owner);
      return { ip, prefixLength: 32 as const, podCIDR: this.ipam.podCIDR, gateway: this.ipam.gateway, mtu: this.opts.mtu };
    });
  }

  releaseIp(ip: string) {
    return this.mutex.run(() => {
      const inUse = [...this.endpoints.values()].some((e) => e.ipv4 === ip);
      if (!inUse) this.ipam.release(ip);
    });
  }

  putEndpoint(req: EndpointChangeRequest): Promise<EndpointModel> {
    return this.mutex.run(async () => {
      validateEndpointRequest(req);
      if (!this.ipam.contains(req.ipv4)) throw new ValidationError('ipv4', `${req.ipv4} is not in this node's pod CIDR ${this.ipam.podCIDR}`);
      const key = attachmentKey(req.containerId, req.ifName);
      const holder = this.ipam.ownerOf(req.ipv4);
      if (holder !== undefined && holder !== key) throw new ValidationError('ipv4', `${req.ipv4} is allocated to ${holder}, not to ${key}`);
      const link = await linkDetails(req.hostIfName);
      if (!link) throw new ValidationError('hostIfName', `no link ${req.hostIfName} on node ${this.opts.node}`);
      if (link.kind !== 'veth') throw new ValidationError('hostIfName', `${req.hostIfName} is a ${link.kind ?? 'plain'} link, not a veth`);
      if (link.ifindex !== req.hostIfIndex) throw new ValidationError('hostIfIndex', `${req.hostIfName} has ifindex ${link.ifindex}, not ${req.hostIfIndex}`);

      // A repeated ADD replaces the endpoint but keeps its address.
      const existing = this.findByAttachment(req.containerId, req.ifName);
      if (existing) {
        this.agentEvents.push(endpointDeleted(existing, this.status.get(existing.id)?.labels));
        this.removeEndpoint(existing, { keepIp: existing.ipv4 === req.ipv4 });
      }
      this.ipam.assign(req.ipv4, key);
      const id = this.endpointIds.allocate();
      const r: EndpointRecord = {
        id, containerId: req.containerId, ifName: req.ifName, netns: req.netns, hostIfName: req.hostIfName, hostIfIndex: link.ifindex,
        hostMac: req.hostMac, containerMac: req.containerMac, ipv4: req.ipv4, createdAt: new Date().toISOString(),
        ...(req.podNamespace ? { podNamespace: req.podNamespace } : {}),
        ...(req.podName ? { podName: req.podName } : {}),
        ...(req.labels ? { runtimeLabels: req.labels } : {}),
      };
      try {
        this.endpoints.set(id, r);
        const { identity } = this.identities.acquire(this.labelsFor(r));
        this.status.set(id, newStatus(identity.id, identity.labels.toStrings()));
        this.agentEvents.push(endpointCreated(r, this.status.get(id)!.labels));
        this.kernel.upsertIpcache(r.ipv4, 32, identity.id);
        this.agentEvents.push(ipcacheUpserted(`${r.ipv4}/32`, identity.id, { pod: r }));
        this.regenerateAll();
        this.dp.attach(r.hostIfIndex);
        this.saveEndpoints();
      } catch (err) {
        if (this.status.has(id)) this.agentEvents.push(endpointDeleted(r, this.status.get(id)!.labels));
        this.removeEndpoint(r);
        this.regenerateAll();
        this.saveEndpoints();
        throw err;
      }
      this.opts.log(`endpoint ${id} created: ${r.podNamespace ?? ''}/${r.podName ?? r.containerId.slice(0, 12)} ${r.ipv4} identity ${this.status.get(id)!.identity}`);
      return toModel(r, this.status.get(id)!);
    });
  }

  private findByAttachment(containerId: string, ifName: string): EndpointRecord | undefined {
    for (const r of this.endpoints.values()) if (r.containerId === containerId && r.ifName === ifName) return r;
    return undefined;
  }

  /**
   * Removes an endpoint from the kernel and from memory (not persisted
   * here), with its connections: a later pod on the same address must not
   * inherit them.
   */
  private removeEndpoint(r: EndpointRecord, opts: { keepIp?: boolean } = {}): void {
    const st = this.status.get(r.id);
    this.kernel.deleteEndpoint(r.ipv4);
    this.kernel.removePolicy(r.id);
    this.kernel.deleteIpcache(r.ipv4, 32);
    if (st) this.agentEvents.push(ipcacheDeleted(`${r.ipv4}/32`, st.identity, { pod: r }));
    this.kernel.flushConntrack(r.ipv4);
    this.endpointStamps.delete(r.id);
    this.syncedPolicy.delete(r.id);
    try {
      this.dp.detach(r.hostIfIndex);
    } catch {
      // the link may already be gone, taking its filters with it
    }
    if (st) this.identities.release(st.identity);
    if (!opts.keepIp) this.ipam.release(r.ipv4);
    this.endpoints.delete(r.id);
    this.status.delete(r.id);
    this.endpointIds.release(r.id);
    // A CIDR identity for this very address takes its ipcache entry back.
    const cidr = this.cidrs.list().find((c) => c.prefix === `${r.ipv4}/32`);
    if (cidr) this.upsertCidrIpcache(cidr.prefix, cidr.id);
  }

  deleteEndpointByAttachment(containerId: string, ifName: string): Promise<void> {
    return this.mutex.run(() => {
      const r = this.findByAttachment(containerId, ifName);
      if (!r) {
        const owner = attachmentKey(containerId, ifName);
        for (const [ip, o] of Object.entries(this.ipam.snapshot().allocations)) if (o === owner) this.ipam.release(ip);
        return;
      }
      this.agentEvents.push(endpointDeleted(r, this.status.get(r.id)?.labels));
      this.removeEndpoint(r);
      this.regenerateAll();
      this.saveEndpoints();
      this.opts.log(`endpoint ${r.id} deleted`);
    });
  }

  cniGc(req: CniGcRequest): Promise<CniGcResponse> {
    return this.mutex.run(() => {
      validateGc(req);
      const keep = new Set(req.validAttachments.map((a) => attachmentKey(a.containerId, a.ifName)));
      const removed: CniGcResponse['removed'] = [];
      for (const r of [...this.endpoints.values()]) {
        if (keep.has(attachmentKey(r.containerId, r.ifName))) continue;
        this.agentEvents.push(endpointDeleted(r, this.status.get(r.id)?.labels));
        this.removeEndpoint(r);
        removed.push({ containerId: r.containerId, ifName: r.ifName, hostIfName: r.hostIfName });
      }
      for (const [ip, owner] of Object.entries(this.ipam.snapshot().allocations)) {
        if (typeof owner === 'string' && owner.includes(':') && !keep.has(owner) && ![...this.endpoints.values()].some((e) => e.ipv4 === ip)) this.ipam.release(ip);
      }
      if (removed.length) {
        this.regenerateAll();
        this.saveEndpoints();
      }
      return { removed };
    });
  }

  listEndpoints(): EndpointModel[] {
    return [...this.endpoints.values()].sort((a, b) => a.id - b.id).map((r) => toModel(r, this.status.get(r.id)!));
  }

  getEndpoint(id: number): EndpointModel {
    const r = this.endpoints.get(id);
    if (!r) throw new MembraneError('ENOTFOUND', `endpoint ${id} not found`);
    return toModel(r, this.status.get(id)!);
  }

  getEndpointByAttachment(containerId: string, ifName: string): EndpointModel {
    const r = this.findByAttachment(containerId, ifName);
    if (!r) throw new MembraneError('ENOTFOUND', `no endpoint for container ${containerId} interface ${ifName}`);
    return toModel(r, this.status.get(r.id)!);
  }

  listIdentities(): IdentityModel[] {
    return this.allIdentities().map((i) => ({ id: i.id, labels: i.labels.toStrings(), reserved: i.reserved, references: i.references }));
  }

  listPolicies(): PolicyListModel {
    return this.policy.list();
  }

  importPolicies(text: string, defaultNamespace: string): Promise<PolicyImportResponse> {
    return this.mutex.run(() => this.changePolicy(() => {
      const res = this.policy.import(text, defaultNamespace);
      this.pushPolicyEvents('POLICY_UPDATED', res.results.filter((r) => r.action !== 'unchanged').map((r) => r.ref), res.revision, this.policy.snapshot());
      return res;
    }));
  }

  deletePolicies(ref: PolicyRef | 'all'): Promise<PolicyDeleteResponse> {
    return this.mutex.run(() => this.changePolicy(() => {
      const before = this.policy.snapshot();
      const res = this.policy.delete(ref);
      this.pushPolicyEvents('POLICY_DELETED', res.deleted, res.revision, before);
      return res;
    }));
  }

  /**
   * An agent event per policy changed (CIDR groups are no policies), with its
   * labels as Cilium's and its rule count in `policies`; sent before the
   * endpoints regenerate, as Cilium sends it, so a failed regeneration
   * follows it as ENDPOINT_REGENERATE_FAILURE.
   */
  private pushPolicyEvents(type: 'POLICY_UPDATED' | 'POLICY_DELETED', refs: PolicyRef[], revision: number, policies: PersistedPolicies): void {
    const rules = policyRuleCounts(policies.policies);
    for (const ref of refs) if (ref.kind !== 'CiliumCIDRGroup') this.agentEvents.push(policyChanged(type, this.policy.flowPolicy(ref).labels, revision, rules.get(refKey(ref)) ?? 0));
  }

  /**
   * Applies a repository change and realizes it on every endpoint. When the
   * kernel refuses part of it (a full map), the repository goes back to what
   * it was and the endpoints with it: a policy is in force everywhere or
   * nowhere.
   */
  private changePolicy<T>(change: () => T): T {
    const before = this.policy.snapshot();
    const res = change();
    try {
      this.syncCidrIdentities({ regenerate: true });
    } catch (err) {
      this.policy.restore(before);
      this.syncCidrIdentities({ regenerate: true });
      throw err;
    }
    return res;
  }

  /**
   * `policy trace` (see trace.ts): the verdict one packet gets from this
   * node's policy, resolved as regenerateAll resolves it. Throws EINVAL for a
   * bad request, ENOTFOUND for a pod that is no endpoint here. Changes nothing.
   */
  tracePolicy(body: unknown): Promise<PolicyTraceResponse> {
    const req = validateTraceRequest(body);
    return this.mutex.run(() => tracePolicy(req, this.traceContext()));
  }

  /**
   * `POST /v1/policy/traces`: many traces in one pass over the same state,
   * each as tracePolicy would answer it, every endpoint resolved once.
   * Throws for the first bad or failing request, naming `requests[i]`.
   */
  tracePolicies(body: unknown): Promise<PolicyTraceResponse[]> {
    const reqs = validateTraceBatch(body);
    return this.mutex.run(() => tracePolicies(reqs, this.traceContext()));
  }

  /** What the trace reads of the agent, as regenerateAll sees it; call under the mutex. */
  private traceContext(): TraceContext {
    return {
      endpoints: [...this.endpoints.values()].map((r) => ({
        ...r, identity: this.status.get(r.id)!.identity, containerPorts: this.k8s.pod(r.podNamespace, r.podName)?.containerPorts ?? [],
      })),
      identities: this.allIdentities(),
      identityOfLabels: (labels) => this.identities.lookupByLabels(labels),
      ipcacheIdentity: (ip) => kernelIpcacheIdentity(this.dp.maps.ipcache, ip),
      podIps: this.podIpsByIdentity(),
      namespaceLabels: (ns) => this.k8s.namespaceLabels(ns),
      clusterName: this.opts.clusterName,
      policy: this.policy,
    };
  }

  listNamespaces(): NamespaceModel[] {
    return this.k8s.listNamespaces();
  }

  listPods(): PodMetaModel[] {
    return this.k8s.listPods();
  }

  putNamespace(ns: NamespaceModel): Promise<void> {
    return this.mutex.run(() => {
      validateNamespace(ns);
      this.k8s.putNamespace(ns);
      let changed = false;
      for (const r of this.endpoints.values()) if (r.podNamespace === ns.name && this.refreshIdentity(r)) changed = true;
      if (changed) this.saveEndpoints();
      this.regenerateAll();
    });
  }

  deleteNamespace(name: string): Promise<void> {
    return this.mutex.run(() => {
      this.k8s.deleteNamespace(name);
    });
  }

  putPod(pod: PodMetaModel): Promise<void> {
    return this.mutex.run(() => {
      validatePodMeta(pod);
      this.k8s.putPod(pod);
      for (const r of this.endpoints.values()) if (r.podNamespace === pod.namespace && r.podName === pod.name) this.refreshIdentity(r);
      this.regenerateAll();
    });
  }

  deletePod(namespace: string, name: string): Promise<void> {
    return this.mutex.run(() => {
      this.k8s.deletePod(namespace, name);
    });
  }

  statusModel(): StatusModel {
    const attached = [...this.endpoints.values()].filter((r) => this.dp.isAttached(r.hostIfIndex)).length;
    return {
      node: this.opts.node,
      version: VERSION,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      memory: agentMemory(),
      datapath: { pinnedDir: this.opts.bpffsDir, programsAttached: attached, adopted: this.adopted },
      ipam: { podCIDR: this.ipam.podCIDR, allocated: this.ipam.allocated, capacity: this.ipam.capacity },
      endpoints: this.endpoints.size,
      identities: this.identities.list().length,
      policyRevision: this.policy.revision,
      lastRegeneration: this.lastRegeneration,
      flows: {
        current: this.ring.size, max: this.ring.capacity, seen: this.ring.seen, ...this.lostFlowEvents(),
        ...(this.flowLogWriter ? { export: this.flowLogWriter.stats } : {}),
      },
      l7Proxy: this.l7Proxy.status(),
      agentEvents: { current: this.agentEvents.size, max: this.agentEvents.capacity, seen: this.agentEvents.seen, lostToFollowers: this.agentEvents.lostToFollowers },
    };
  }

  metrics() {
    return this.kernel.metrics();
  }

  // ---- services ----

  /**
   * Loads the persisted services and makes the LB maps hold exactly their
   * frontends: what the kernel kept while the agent was away is adopted
   * under the same ids, what it no longer knows is removed. NodePort
   * frontends listen on the node's own addresses (not the pods' gateway).
   */
  private startServices(): void {
    this.services = new ServiceRegistry({
      datapath: this.lbWrites.tap(this.kernel),
      nodeIps: [...this.hostIps].filter((ip) => ip !== this.ipam.gateway),
      store: new FileServiceStore(this.file('services')),
    });
    const { written, deleted } = this.services.reconcile();
    if (written || deleted) this.opts.log(`services: ${written} frontends written, ${deleted} stale ones removed from the LB maps`);
    this.policy.setServices(this.services.listK8s());
  }

  /**
   * NodePort: loads the node-device programs when --devices names any,
   * takes them off devices a previous run served and this one does not,
   * then keeps the node's addresses (NodePort frontends, host identity) and
   * the devices' attachment current as links and addresses come and go.
   */
  private async startNodePort(): Promise<void> {
    const devices = this.opts.devices ?? [];
    const previous = readJsonState<{ devices: string[] }>(this.file('devices.json'), { devices: [] }).devices;
    const links = await listLinks();
    for (const name of previous) {
      const link = links.get(name);
      if (!devices.includes(name) && link) HostDatapath.detach(link.ifindex);
    }
    writeJsonState(this.file('devices.json'), { devices });
    if (devices.length > 0) this.hostDp = HostDatapath.load(this.opts.bpffsDir);
    this.nodeWatch = new NodeChangeWatch({
      log: this.opts.log,
      onChange: () => void this.mutex.run(() => this.syncNode()).catch((err: Error) => this.opts.log(`following the node's links and addresses failed: ${err.message}`)),
    });
    await this.mutex.run(() => this.syncNode());
  }

  /**
   * Brings the node's addresses and devices up to date: a new address gets
   * the host identity and NodePort frontends (the service registry is
   * rebuilt from its store for the new address set, as at a restart), a
   * gone one loses them; each --devices link present gets the node-device
   * programs (again, when it came back under a new ifindex).
   */
  private async syncNode(): Promise<void> {
    if (this.stopping) return;
    const fresh = new Set([this.ipam.gateway, ...(await nodeAddresses())]);
    const same = fresh.size === this.hostIps.size && [...fresh].every((ip) => this.hostIps.has(ip));
    if (!same) {
      for (const ip of this.hostIps) {
        if (fresh.has(ip)) continue;
        this.hostIps.delete(ip);
        this.kernel.deleteIpcache(ip, 32);
      }
      for (const ip of fresh) {
        if (this.hostIps.has(ip)) continue;
        this.hostIps.add(ip);
        this.kernel.upsertIpcache(ip, 32, 1);
      }
      this.startServices();
      this.flowContextVersion++;
      this.opts.log(`node addresses: ${[...this.hostIps].join(', ')}; NodePort frontends follow them`);
    }
    if (!this.hostDp) return;
    const links = await listLinks();
    for (const name of this.opts.devices ?? []) {
      const link = links.get(name);
      if (!link) {
        this.attachedDevices.delete(name);
        continue;
      }
      if (this.attachedDevices.get(name) === link.ifindex) continue;
      this.hostDp.attach(link.ifindex);
      this.attachedDevices.set(name, link.ifindex);
      this.opts.log(`NodePort: serving on device ${name} (ifindex ${link.ifindex})`);
    }
  }

  /**
   * Policy's `toServices` follows the services: new selections, and CIDR
   * identities for the backends of services without a selector. Only the
   * one service is looked at, and policy is regenerated only when some rule
   * has toServices, so a change costs the same with 10 or 10,000 services.
   */
  private serviceChanged(namespace: string, name: string): void {
    this.flowContextVersion++;
    const svc = this.services.get(namespace, name);
    if (this.policy.updateService(namespace, name, svc) && this.policy.usesServices()) this.syncCidrIdentities({ regenerate: true });
  }

  /** PUT /v1/k8s/services/{ns}/{name}: validated, then applied all-or-nothing; resolves once the LB maps hold it. */
  putService(body: unknown, where: { namespace: string; name: string }): Promise<void> {
    return this.mutex.run(() => {
      const stats = this.lbWrites.record(() => this.services.put(body, where));
      this.agentEvents.push(...this.lbWrites.take(where.namespace, where.name, this.services.get(where.namespace, where.name)));
      if (stats.written || stats.deleted) this.opts.log(`service ${where.namespace}/${where.name}: ${stats.written} frontends written, ${stats.deleted} removed`);
      this.serviceChanged(where.namespace, where.name);
    });
  }

  /** DELETE /v1/k8s/services/{ns}/{name}: also when there is none. */
  deleteService(namespace: string, name: string): Promise<void> {
    return this.mutex.run(() => {
      if (this.lbWrites.record(() => this.services.delete(namespace, name))) {
        this.agentEvents.push(...this.lbWrites.take(namespace, name));
        this.opts.log(`service ${namespace}/${name} deleted`);
        this.serviceChanged(namespace, name);
      }
    });
  }

  listK8sServices(): K8sServiceModel[] {
    return this.services.listK8s();
  }

  /** The frontends by id, backend ids as the kernel holds them. */
  listServices(): ServiceFrontendModel[] {
    return this.services.listFrontends(this.kernel.realizedServices());
  }

  /** Throws ENOTFOUND. */
  getService(id: number): ServiceFrontendModel {
    return this.services.getFrontend(id, this.kernel.realizedServices());
  }

  // ---- flows ----

  /** Events lost per source (kernel ring, pipeline queue, slow followers) and their total, for status. */
  private lostFlowEvents(): { lost: number; lostBySource: LostCounts } {
    const lostBySource = this.observer.lostEvents();
    return { lost: totalLost(lostBySource), lostBySource };
  }

  /** Opens the flow log and feeds it every flow; throws (the agent does not start) when the path is unusable. */
  private async openFlowLog(opts: Omit<FlowLogOptions, 'onError'>): Promise<void> {
    let lastErrorAt = 0;
    this.flowLogWriter = await FlowLogWriter.open({
      ...opts,
      // At most one line a minute: a full disk fails every batch.
      onError: (err) => {
        if (Date.now() - lastErrorAt < 60_000) return;
        lastErrorAt = Date.now();
        this.opts.log(`${err.message} (the count of dropped flows is in status and membrane_flow_export_dropped_total)`);
      },
    });
    this.observer.flowListeners.push(this.flowLogWriter.onFlow);
    this.opts.log(`flow log: ${opts.path} (rotated at ${(opts.maxSizeBytes / 1048576).toFixed(1)} MB, ${opts.maxBackups} backups)`);
  }

  /** Endpoints by address for flow enrichment, rebuilt only when the flow context's version moved (not per batch). */
  private flowEndpointsByIp = { version: -1, byIp: new Map<string, EndpointRecord>() };

  private flowContext(): FlowContext {
    if (this.flowEndpointsByIp.version !== this.flowContextVersion) {
      const fresh = new Map<string, EndpointRecord>();
      for (const r of this.endpoints.values()) fresh.set(r.ipv4, r);
      this.flowEndpointsByIp = { version: this.flowContextVersion, byIp: fresh };
    }
    const byIp = this.flowEndpointsByIp.byIp;
    return {
      nodeName: this.opts.node,
      version: () => this.flowContextVersion,
      wallTimeMs: (ns) => this.wallOffsetMs + ns / 1e6,
      endpointByIp: (ip) => {
        const r = byIp.get(ip);
        if (!r) return undefined;
        return { id: r.id, ...(r.podNamespace ? { namespace: r.podNamespace } : {}), ...(r.podName ? { podName: r.podName } : {}) };
      },
      identityLabels: (id) => (this.identities.lookupById(id) ?? this.cidrs.lookupById(id))?.labels.toStrings(),
      policiesForCookie: (cookie) => this.policy.policiesForCookie(cookie),
      policyLogForCookie: (cookie) => this.policy.policyLogForCookie(cookie),
      serviceById: (id) => this.services.serviceById(id),
      defaultDenyPolicies: (epId, ingress) => {
        const st = this.status.get(epId);
        if (!st) return [];
        return (ingress ? st.defaultDenyBy.ingress : st.defaultDenyBy.egress).map((r) => this.policy.flowPolicy(r));
      },
    };
  }

}

function newStatus(identity: number, labels: string[]): EndpointStatus {
  return {
    identity, labels, state: 'regenerating', ingressEnforcing: false, egressEnforcing: false, policyRevision: 0, mapEntries: 0,
    defaultDenyBy: { ingress: [], egress: [] },
  };
}

/** The agent process's memory, in MiB (`membrane status`). */
function agentMemory(): StatusModel['memory'] {
  const m = process.memoryUsage();
  const mib = (n: number) => Math.round((n / 2 ** 20) * 10) / 10;
  return { rssMiB: mib(m.rss), heapUsedMiB: mib(m.heapUsed), heapTotalMiB: mib(m.heapTotal), externalMiB: mib(m.external), arrayBuffersMiB: mib(m.arrayBuffers) };
}
