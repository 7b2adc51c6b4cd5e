/**
 * `policy trace`: the verdict this node's policy gives one packet, with the
 * rule behind it. Both sides are resolved to identities as the datapath sees
 * them (a local endpoint's identity, else the ipcache's answer for an
 * address); then the source's egress and the destination's ingress are
 * decided by PolicyEngine.explain, which runs the very resolution the agent
 * writes to the kernel and the datapath's lookup on it. There is no second
 * implementation of policy here, only the choice of what to ask.
 *
 * A side given as pod labels is a pod that may not exist: its identity is the
 * one those labels have, or would get now (a temporary number, never
 * allocated), and its direction is decided as for a pod with those labels, as
 * Cilium's policy trace did for label sets.
 */
import type { BpfMap } from '../datapath/map.js';
import { ip4ToInt, ipcacheKey, ipcacheValue } from '../datapath/layout.js';
import { MembraneError } from '../common/errors.js';
import type {
  ContainerPortModel, PeerSpec, PolicyTracePeer, PolicyTraceRequest, PolicyTraceResponse, TraceProtocol, TraceVerdict,
} from '../api/types.js';
import type { IdentityInfo } from '../identity/allocator.js';
import { MIN_ALLOCATED_IDENTITY, ReservedIdentity, reservedIdentityForLabels } from '../identity/reserved.js';
import { CLUSTER_LABEL, NAMESPACE_LABELS_PREFIX, POD_NAMESPACE_LABEL, SERVICE_ACCOUNT_LABEL } from '../labels/k8s.js';
import { LabelSet, LabelSource, parseLabel } from '../labels/labels.js';
import { MATCH_TYPE_NAMES } from '../policy/lookup.js';
import { Proto } from '../policy/mapstate.js';
import { peerNamedPortsOf } from '../policy/ports.js';
import type { EndpointVerdict, PolicyEngine, ResolutionCache } from './policy-engine.js';
import { podIdentityLabels } from './labels.js';

/** A local endpoint as the trace needs it. */
export interface TraceEndpoint {
  id: number;
  ipv4: string;
  podNamespace?: string;
  podName?: string;
  identity: number;
  /** Its pod's container ports (named ports), as the agent resolves its policy with. */
  containerPorts: ContainerPortModel[];
}

/** What the trace reads of the agent; nothing here changes. */
export interface TraceContext {
  endpoints: readonly TraceEndpoint[];
  /** Every identity policy can select, as the agent resolves endpoints with them: reserved, endpoint and CIDR identities. */
  identities: readonly IdentityInfo[];
  /** The allocated identity of a pod label set, if there is one. */
  identityOfLabels(labels: LabelSet): IdentityInfo | undefined;
  /** The identity the datapath finds for an address that is no local endpoint. */
  ipcacheIdentity(ip: string): number;
  namespaceLabels(namespace: string): Record<string, string> | undefined;
  clusterName: string;
  policy: Pick<PolicyEngine, 'explain'>;
  /** The IPs of the local endpoints of each identity (NetworkPolicy ipBlocks match pods by IP), as regeneration uses them. */
  podIps?: ReadonlyMap<number, readonly string[]>;
}

const PROTOCOL_NUMBERS: Readonly<Record<TraceProtocol, number>> = { TCP: Proto.TCP, UDP: Proto.UDP, SCTP: Proto.SCTP, ICMP: Proto.ICMP };

/** A resolved side: its identity, and the endpoint (real or from labels) whose policy applies, if any. */
interface Side {
  peer: PolicyTracePeer;
  labels: LabelSet;
  /** Absent for addresses outside this node's endpoints and reserved identities: no policy of this node applies to them. */
  holder?: { ports: ContainerPortModel[] };
}

/**
 * The resolution caches of one batch, one per set of temporary identities a
 * request adds (a resolution depends on the identity list it saw).
 */
type BatchCaches = Map<string, ResolutionCache>;

function cacheFor(caches: BatchCaches, temporary: ReadonlyMap<string, IdentityInfo>): ResolutionCache {
  const key = [...temporary.values()].map((i) => `${i.id}=${i.labels.canonical()}`).sort().join(',');
  let cache = caches.get(key);
  if (!cache) caches.set(key, cache = new Map());
  return cache;
}

/**
 * Traces validated requests (validateTraceBatch) in one pass over the same
 * agent state, each exactly as tracePolicy alone would, resolving every
 * endpoint's policy once rather than per request. Throws the first
 * request's error, its path under `requests[i]`.
 */
export function tracePolicies(reqs: readonly PolicyTraceRequest[], ctx: TraceContext): PolicyTraceResponse[] {
  const caches: BatchCaches = new Map();
  return reqs.map((req, i) => {
    try {
      return tracePolicy(req, ctx, caches);
    } catch (err) {
      if (!(err instanceof MembraneError)) throw err;
      throw new MembraneError(err.code, `requests[${i}]: ${err.message}`, { cause: err, path: `requests[${i}]${err.path ? `.${err.path}` : ''}` });
    }
  });
}

/**
 * Traces a validated request (validateTraceRequest). Throws ENOTFOUND for a
 * pod that is no endpoint of this node, EINVAL when neither side has policy
 * on this node. `caches`: a batch's (tracePolicies).
 */
export function tracePolicy(req: PolicyTraceRequest, ctx: TraceContext, caches?: BatchCaches): PolicyTraceResponse {
  const temporary = new Map<string, IdentityInfo>();
  const from = resolveSide(req.from, 'from', ctx, temporary);
  const to = resolveSide(req.to, 'to', ctx, temporary);
  if (!from.holder && !to.holder) {
    throw new MembraneError('EINVAL', 'neither from nor to is an endpoint of this node or a pod label set, so no policy of this node ' +
      'applies between them; name a local pod, its address, or pod labels', { path: 'from' });
  }
  // Temporary identities take part in resolution as if allocated, so that selectors see them.
  const identities = [...ctx.identities, ...temporary.values()];
  const protocol = PROTOCOL_NUMBERS[req.protocol];
  const cache = caches && cacheFor(caches, temporary);
  // Egress named ports resolve against the destination's, as regeneration resolves them: the local endpoints' ports by identity.
  const peerNamedPorts = peerNamedPortsOf(ctx.endpoints.map((e) => ({ identity: e.identity, ports: e.containerPorts })));
  const decide = (self: Side, peer: Side, egress: boolean): TraceVerdict | undefined => self.holder &&
    toTraceVerdict(ctx.policy.explain(self.labels, identities, self.holder.ports, peer.peer.identity, egress, protocol, req.port, ctx.podIps, cache, peerNamedPorts));
  const egress = decide(from, to, true);
  const ingress = decide(to, from, false);
  const denied = [egress, ingress].some((v) => v?.verdict === 'denied' && !v.audited);
  return {
    from: from.peer, to: to.peer, ...(egress ? { egress } : {}), ...(ingress ? { ingress } : {}), verdict: denied ? 'denied' : 'allowed',
  };
}

function resolveSide(spec: PeerSpec, path: string, ctx: TraceContext, temporary: Map<string, IdentityInfo>): Side {
  if ('pod' in spec) {
    const { namespace, name } = spec.pod;
    const ep = ctx.endpoints.find((e) => e.podNamespace === namespace && e.podName === name);
    if (!ep) {
      throw new MembraneError('ENOTFOUND', `${path}: pod ${namespace}/${name} is no endpoint of this node; list them with \`membrane endpoint list\``,
        { path: `${path}.pod` });
    }
    return endpointSide(ep, ctx);
  }
  if ('ip' in spec) {
    const ep = ctx.endpoints.find((e) => e.ipv4 === spec.ip);
    if (ep) return endpointSide(ep, ctx);
    const id = ctx.ipcacheIdentity(spec.ip);
    const labels = identityById(ctx, id)?.labels ?? LabelSet.EMPTY;
    return { peer: { identity: id, labels: labels.toStrings() }, labels };
  }
  const labels = labelsOfPeer(spec.labels, ctx);
  const reserved = reservedIdentityForLabels(labels);
  if (reserved) return { peer: { identity: reserved.id, labels: labels.toStrings() }, labels };
  const allocated = ctx.identityOfLabels(labels);
  const identity = allocated ?? temporary.get(labels.canonical()) ?? temporaryIdentity(labels, ctx, temporary);
  return {
    peer: { identity: identity.id, labels: labels.toStrings(), ...(allocated ? {} : { unallocated: true }) },
    labels,
    holder: { ports: [] },
  };
}

const identityById = (ctx: TraceContext, id: number): IdentityInfo | undefined => ctx.identities.find((i) => i.id === id);

function endpointSide(ep: TraceEndpoint, ctx: TraceContext): Side {
  // The labels regenerateAll resolves the endpoint with: those of its identity.
  const labels = identityById(ctx, ep.identity)?.labels ?? LabelSet.EMPTY;
  const endpoint = { id: ep.id, ipv4: ep.ipv4, ...(ep.podNamespace ? { podNamespace: ep.podNamespace } : {}), ...(ep.podName ? { podName: ep.podName } : {}) };
  return { peer: { identity: ep.identity, labels: labels.toStrings(), endpoint }, labels, holder: { ports: ep.containerPorts } };
}

/** The lowest id the allocator has not handed out (what it would allocate now), for labels without an identity. */
function temporaryIdentity(labels: LabelSet, ctx: TraceContext, temporary: Map<string, IdentityInfo>): IdentityInfo {
  const used = new Set([...ctx.identities, ...temporary.values()].map((i) => i.id));
  let id = MIN_ALLOCATED_IDENTITY;
  while (used.has(id)) id++;
  const info: IdentityInfo = { id, labels, reserved: false, references: 0 };
  temporary.set(labels.canonical(), info);
  return info;
}

/**
 * The identity labels of a pod with these labels, built by the same code as
 * an endpoint's (podIdentityLabels): `io.kubernetes.pod.namespace`, the
 * service account, cluster and namespace labels are read out of the list;
 * namespace labels default to what the agent knows of the namespace.
 * A single reserved label stands for itself.
 */
export function labelsOfPeer(texts: readonly string[], ctx: Pick<TraceContext, 'namespaceLabels' | 'clusterName'>): LabelSet {
  const parsed = texts.map((t) => parseLabel(t, LabelSource.K8s));
  if (parsed.some((l) => l.source === LabelSource.Reserved)) return LabelSet.of(parsed);
  const podLabels: Record<string, string> = {};
  const nsLabels: Record<string, string> = {};
  let namespace = 'default';
  let serviceAccount: string | undefined;
  let clusterName = ctx.clusterName;
  for (const { key, value } of parsed) {
    if (key === POD_NAMESPACE_LABEL) namespace = value;
    else if (key === SERVICE_ACCOUNT_LABEL) serviceAccount = value;
    else if (key === CLUSTER_LABEL) clusterName = value;
    else if (key.startsWith(NAMESPACE_LABELS_PREFIX)) nsLabels[key.slice(NAMESPACE_LABELS_PREFIX.length)] = value;
    else podLabels[key] = value;
  }
  return podIdentityLabels({
    namespace,
    podLabels,
    namespaceLabels: Object.keys(nsLabels).length > 0 ? nsLabels : ctx.namespaceLabels(namespace),
    serviceAccount,
    clusterName,
  });
}

function toTraceVerdict(ev: EndpointVerdict): TraceVerdict {
  const v = ev.verdict;
  const rule = v.rule && { ...v.rule.ref, path: v.rule.path };
  // The allow-all entry of a direction out of default deny carries no rule: nothing was enforced.
  const verdict = v.verdict !== 'allow' ? 'denied' : !ev.enforcing && !rule ? 'not enforced' : 'allowed';
  // As the datapath decides it: a deny entry of an audited policy, or a default deny only audited policies impose.
  const audited = v.verdict === 'deny' ? v.entry?.audit === true : v.verdict === 'default-deny' && ev.auditDefaultDeny;
  return {
    verdict,
    ...(audited ? { audited: true as const } : {}),
    ...(v.dropReason !== undefined ? { dropReason: v.dropReason } : {}),
    matchType: MATCH_TYPE_NAMES[v.matchType],
    ...(rule ? { rule } : {}),
    ...(ev.defaultDenyBy.length > 0 ? { defaultDenyBy: ev.defaultDenyBy } : {}),
    enforcing: ev.enforcing,
    ...(v.verdict === 'allow' && v.entry?.proxyPort ? { l7: { proxyPort: v.entry.proxyPort, http: (v.entry.l7?.http ?? []).map((h) => h.rule) } } : {}),
  };
}

/** The datapath's ipcache answer for an address: the /32 entry's identity, else world, as bpf/lxc.bpf.c looks it up. */
export function kernelIpcacheIdentity(ipcache: BpfMap, ip: string): number {
  const value = ipcache.lookup(ipcacheKey.encode({ prefixlen: 32, ip4: ip4ToInt(ip) }));
  return value ? ipcacheValue.decode(value).identity : ReservedIdentity.World;
}
