/**
 * The agent's REST API: request and response bodies, shared by the agent
 * (server), the CLI, the CNI plugin and the lab (clients). JSON over HTTP on
 * the agent's root-only unix socket. Paths:
 *
 *   GET    /v1/healthz                                  -> { ok: true }
 *   GET    /v1/config                                   -> AgentConfigModel
 *   GET    /v1/status                                   -> StatusModel
 *   POST   /v1/ipam            IpamRequest              -> IpamResponse
 *   DELETE /v1/ipam/{ip}                                -> 204
 *   PUT    /v1/endpoints       EndpointChangeRequest    -> EndpointModel (returns once enforced)
 *   GET    /v1/endpoints                                -> EndpointModel[]
 *   GET    /v1/endpoints/{id}                           -> EndpointModel
 *   GET    /v1/endpoints/cni/{containerId}/{ifName}     -> EndpointModel
 *   DELETE /v1/endpoints/cni/{containerId}/{ifName}     -> 204 (also when absent)
 *   POST   /v1/cni/gc          CniGcRequest             -> CniGcResponse
 *   POST   /v1/cni             {env, stdin} (CniRequest, src/api/cni-route.ts) -> 200, the CNI plugin's stdout; exit code in header membrane-cni-exit-code
 *   GET    /v1/identities                               -> IdentityModel[]
 *   GET    /v1/policies                                 -> PolicyListModel
 *   PUT    /v1/policies        PolicyImportRequest      -> PolicyImportResponse (returns once enforced)
 *   DELETE /v1/policies?all=true                        -> PolicyDeleteResponse
 *   DELETE /v1/policies/{kind}/{namespace}/{name}       -> PolicyDeleteResponse (namespace "-" for cluster-scoped)
 *   POST   /v1/policy/trace    PolicyTraceRequest       -> PolicyTraceResponse
 *   POST   /v1/policy/traces   PolicyTraceBatchRequest  -> PolicyTraceBatchResponse (one pass, results in order)
 *   GET    /v1/k8s/namespaces                           -> NamespaceModel[] (sorted by name)
 *   PUT    /v1/k8s/namespaces/{name}  NamespaceModel    -> 204 (returns once enforced)
 *   DELETE /v1/k8s/namespaces/{name}                    -> 204
 *   GET    /v1/k8s/pods                                 -> PodMetaModel[] (sorted by namespace, then name)
 *   PUT    /v1/k8s/pods/{ns}/{name}   PodMetaModel      -> 204 (returns once enforced)
 *   DELETE /v1/k8s/pods/{ns}/{name}                     -> 204
 *   GET    /v1/k8s/services                             -> K8sServiceModel[] (sorted by namespace, then name)
 *   PUT    /v1/k8s/services/{ns}/{name} K8sServiceModel -> 204 (returns once the LB maps hold it)
 *   DELETE /v1/k8s/services/{ns}/{name}                 -> 204
 *   GET    /v1/services                                 -> ServiceFrontendModel[] (the load balancer, by id)
 *   GET    /v1/services/{id}                            -> ServiceFrontendModel
 *   GET    /v1/flows?number=N&follow=true               -> NDJSON stream of FlowModel
 *   GET    /v1/agent-events?number=N&follow=true        -> NDJSON stream of AgentEventRecordModel (Hubble's GetAgentEventsResponse)
 *
 * Errors: HTTP 4xx/5xx with ApiErrorBody.
 */

import type { HttpRule } from '../policy/types.js';

/** One agent event as /v1/agent-events streams it: `{agent_event, node_name, time}`, as Hubble's GetAgentEventsResponse. */
export type { AgentEventRecord as AgentEventRecordModel, AgentEvent as AgentEventModel } from '../hubble/agent-events.js';

export interface ApiErrorBody {
  error: { code: string; message: string; path?: string };
}

export interface AgentConfigModel {
  node: string;
  clusterName: string;
  podCIDR: string; // e.g. 10.244.1.0/24
  gateway: string; // the node-side address pods route through, e.g. 10.244.1.1
  mtu: number;
  bpffsDir: string; // /sys/fs/bpf/membrane/<node>
}

export interface IpamRequest {
  owner: string; // "<containerId>:<ifName>" or "ns/pod"
}

export interface IpamResponse {
  ip: string; // e.g. 10.244.1.7
  prefixLength: 32;
  podCIDR: string;
  gateway: string;
  mtu: number;
}

export interface EndpointChangeRequest {
  containerId: string;
  ifName: string; // inside the pod, e.g. eth0
  netns: string; // path of the pod's network namespace
  hostIfName: string; // lxc + 12 hex
  hostIfIndex: number;
  hostMac: string;
  containerMac: string;
  ipv4: string;
  podNamespace?: string; // from K8S_POD_NAMESPACE
  podName?: string; // from K8S_POD_NAME
  /** Pod labels for runtimes without an orchestrator (from CNI args); ignored when the pod is known. */
  labels?: Record<string, string>;
}

export type EndpointState = 'waiting-for-identity' | 'regenerating' | 'ready' | 'disconnecting';

export interface EndpointPolicyModel {
  ingressEnforcing: boolean;
  egressEnforcing: boolean;
  revision: number; // policy repository revision last realized
  mapEntries: number; // entries in the endpoint's policy map state
}

export interface EndpointModel {
  id: number;
  containerId: string;
  ifName: string;
  netns: string;
  hostIfName: string;
  hostIfIndex: number;
  hostMac: string;
  containerMac: string;
  ipv4: string;
  podNamespace?: string;
  podName?: string;
  identity: number;
  /** Identity labels, "source:key=value", sorted. */
  labels: string[];
  state: EndpointState;
  policy: EndpointPolicyModel;
}

export interface CniGcRequest {
  /** Attachments that must be kept; every other endpoint is removed. */
  validAttachments: { containerId: string; ifName: string }[];
}

export interface CniGcResponse {
  removed: { containerId: string; ifName: string; hostIfName: string }[];
}

export interface IdentityModel {
  id: number;
  labels: string[]; // "source:key=value", sorted
  reserved: boolean;
  references: number; // endpoints using it
}

export interface PolicyRef {
  /** CiliumCIDRGroup objects are imported, listed and deleted with the policies that reference them. */
  kind: 'CiliumNetworkPolicy' | 'CiliumClusterwideNetworkPolicy' | 'NetworkPolicy' | 'CiliumCIDRGroup';
  namespace: string; // "" for cluster-scoped
  name: string;
}

export interface PolicyModel extends PolicyRef {
  revision: number; // repository revision at which it was last changed
  /** The object as imported (parsed YAML/JSON). */
  object: unknown;
  /** Its rules as enforced: namespace-scoped selectors with explicit label sources, and the derived labels. */
  rules: unknown[];
}

export interface PolicyListModel {
  revision: number;
  policies: PolicyModel[];
}

export interface PolicyImportRequest {
  /** YAML or JSON text, one or more documents (a JSON array is allowed). */
  text: string;
  /** Namespace for namespaced policies whose metadata has none; default "default". */
  defaultNamespace?: string;
}

export interface PolicyImportResponse {
  revision: number;
  results: { ref: PolicyRef; action: 'created' | 'configured' | 'unchanged' }[];
  /**
   * What the imported policies' authors should know, though they were
   * accepted: e.g. an IPv6 peer, which selects no traffic on membrane's
   * IPv4-only datapath. `path` names the field as errors do
   * (`spec.egress[0].toCIDR[1]`, `[1].spec...` when the text had several
   * documents). Absent when there is none.
   */
  warnings?: { path: string; message: string }[];
}

export interface PolicyDeleteResponse {
  revision: number;
  deleted: PolicyRef[];
}

export interface NamespaceModel {
  name: string;
  labels: Record<string, string>;
}

export interface ContainerPortModel {
  name?: string;
  containerPort: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
}

export interface PodMetaModel {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  serviceAccount: string; // "default" when unset
  containerPorts: ContainerPortModel[];
}

export interface StatusModel {
  node: string;
  version: string;
  uptimeSeconds: number;
  /** The agent process's memory in MiB (Node's process.memoryUsage); absent from older agents. */
  memory?: { rssMiB: number; heapUsedMiB: number; heapTotalMiB: number; externalMiB: number; arrayBuffersMiB: number };
  datapath: { pinnedDir: string; programsAttached: number; adopted: boolean };
  ipam: { podCIDR: string; allocated: number; capacity: number };
  endpoints: number;
  identities: number;
  policyRevision: number;
  /** The last policy regeneration: policy-map entries written and deleted, endpoints covered, distinct resolutions. */
  /** The last policy regeneration: map entries written and deleted, endpoint groups resolved again (of `groups`), endpoints whose maps were diffed. */
  lastRegeneration: { written: number; deleted: number; endpoints: number; resolutions: number; groups: number; endpointsSynced: number };
  /**
   * The flow ring (current/max flows, flows seen) and events lost: `lost` is
   * the total; `lostBySource` per source, with Hubble's names (absent from
   * agents older than the count, whose `lost` is the kernel's only).
   */
  flows: {
    current: number; max: number; seen: number; lost: number;
    lostBySource?: { perf_event_ring_buffer: number; observer_events_queue: number; hubble_ring_buffer: number };
    /** The on-disk flow log (--hubble-export-file-path), when on: flows written, and dropped (disk slower than the flows, or a write failed). */
    export?: { path: string; written: number; dropped: number };
  };
  /** The L7 proxy process; absent from agents before it. */
  l7Proxy?: L7ProxyStatusModel;
  /** The agent events ring (GetAgentEvents): events kept and its capacity, events since start, events slow followers skipped. */
  agentEvents?: { current: number; max: number; seen: number; lostToFollowers: number };
}

/** The node's L7 proxy (a process of the agent's, started once some endpoint has HTTP rules). */
export interface L7ProxyStatusModel {
  /** Some endpoint has had L7 rules, so the proxy is kept running. */
  enabled: boolean;
  running: boolean;
  pid?: number;
  /** Times it was started again after it died. */
  restarts: number;
  /** Client connections open now, and accepted since it started (its last report). */
  connections: number;
  accepted: number;
  /** The ports it listens on. */
  listening: number[];
  /** The configuration revision it enforces. */
  revision: number;
  /** L7 records (flows) the proxy dropped because the agent did not take them in time, over all its runs. */
  recordsDropped: number;
  /** How it last ended, when it did. */
  lastExit?: string;
}

/** A side of a policy trace: a pod by name, the identity of a label set, or an address. */
export type PeerSpec =
  | { pod: { namespace: string; name: string } }
  /** Pod labels, `k8s:app=x` or `app=x`; the namespace from `io.kubernetes.pod.namespace` (default "default"); or one `reserved:` label. */
  | { labels: string[] }
  | { ip: string };

export type TraceProtocol = 'TCP' | 'UDP' | 'SCTP' | 'ICMP';

export interface PolicyTraceRequest {
  from: PeerSpec;
  to: PeerSpec;
  /** Destination port; for ICMP the ICMP type (8 = echo request), as the datapath matches it. */
  port: number;
  protocol: TraceProtocol;
}

export interface PolicyTracePeer {
  identity: number;
  /** Identity labels, "source:key=value", sorted. */
  labels: string[];
  /** The local endpoint, when the peer is one. */
  endpoint?: { id: number; ipv4: string; podNamespace?: string; podName?: string };
  /** True when no identity is allocated for these labels yet: `identity` is the one they would get now. */
  unallocated?: boolean;
}

export interface TraceVerdict {
  /** `not enforced`: the direction is not in default deny and no rule decided. */
  verdict: 'allowed' | 'denied' | 'not enforced';
  /** A denial of an audited policy (policy.membrane.io/audit-mode): the packet passes and its flow says AUDIT. */
  audited?: true;
  /** 181 for an explicit deny, 133 for default deny. */
  dropReason?: 133 | 181;
  /** How the deciding map entry matched, as flows print it: `L3-L4`, `L4-Only`, `all`, ... (`none` for default deny). */
  matchType: string;
  /** The rule behind the deciding entry. */
  rule?: PolicyRef & { path: string };
  /** The policies that put this direction into default deny, in repository order. */
  defaultDenyBy?: PolicyRef[];
  enforcing: boolean;
  /** Allowed at L3/L4 and redirected to the node's L7 proxy (this port), which passes a request when one of these HTTP rules matches it. */
  l7?: { proxyPort: number; http: HttpRule[] };
}

export interface PolicyTraceResponse {
  from: PolicyTracePeer;
  to: PolicyTracePeer;
  /** The source's egress verdict: present when the source is a local endpoint or a pod label set. */
  egress?: TraceVerdict;
  /** The destination's ingress verdict: present when the destination is a local endpoint or a pod label set. */
  ingress?: TraceVerdict;
  /** Denied when either direction denies, unless that denial is audited. */
  verdict: 'allowed' | 'denied';
}

/** Many traces at once (at most 10000), each answered as `POST /v1/policy/trace` would; a bad one fails the call, naming `requests[i]`. */
export interface PolicyTraceBatchRequest {
  requests: PolicyTraceRequest[];
}

export interface PolicyTraceBatchResponse {
  results: PolicyTraceResponse[];
}

// ---- services ----

export type L4Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface ServicePortModel {
  /** "" only for a service with a single unnamed port. */
  name: string;
  port: number;
  protocol: L4Protocol;
  /** NodePort services only. */
  nodePort?: number;
}

/** One backend address of a service, as an EndpointSlice endpoint carries it. */
export interface ServiceBackendModel {
  ip: string;
  /** The backend's port per service port name (targetPort already resolved, named ones through the pod's container ports). */
  ports: Record<string, number>;
  /** EndpointSlice `conditions.terminating`: keeps its established connections, takes no new ones. */
  terminating?: boolean;
  /** The pod behind the address (EndpointSlice targetRef), when there is one. */
  pod?: { namespace: string; name: string };
}

/**
 * A Kubernetes Service with its endpoints, as the agent's watcher sees it
 * (Service + EndpointSlices). The agent turns it into one frontend per port.
 */
export interface K8sServiceModel {
  namespace: string;
  name: string;
  type: 'ClusterIP' | 'NodePort';
  /** IPv4; headless services ("None") are not sent to the agent. */
  clusterIP: string;
  ports: ServicePortModel[];
  /** `sessionAffinity: ClientIP`, with `sessionAffinityConfig.clientIP.timeoutSeconds` (default 10800). */
  sessionAffinityTimeoutSeconds?: number;
  /** Backend selection for new connections; annotation `service.membrane.io/lb-algorithm` (default random). */
  algorithm?: 'random' | 'maglev';
  labels?: Record<string, string>;
  /** `spec.selector`; absent for a service without one (its backends come from EndpointSlices). Policy's `toServices` reads it. */
  selector?: Record<string, string>;
  backends: ServiceBackendModel[];
}

export interface ServiceFrontendBackendModel {
  id: number;
  ip: string;
  port: number;
  protocol: L4Protocol;
  state: 'active' | 'terminating';
  pod?: { namespace: string; name: string };
}

/** One load-balancer frontend (VIP, port, protocol), as `membrane service list` shows it. */
export interface ServiceFrontendModel {
  /** The frontend's id, also its reverse-NAT index in the datapath. */
  id: number;
  frontend: { ip: string; port: number; protocol: L4Protocol };
  type: 'ClusterIP' | 'NodePort';
  service: { namespace: string; name: string; portName: string };
  algorithm: 'random' | 'maglev';
  /** 0: no session affinity. */
  affinityTimeoutSeconds: number;
  backends: ServiceFrontendBackendModel[];
}
