/**
 * Flows: the datapath's events turned into Hubble's Flow shape (field names
 * as in Hubble's JSON output, proto names), enriched with what the agent
 * knows: pods, namespaces, identity labels, the policies that decided, and
 * the service a load-balanced connection was addressed to.
 * Pure: enrichment data comes in through the `FlowContext` interface.
 *
 * Service flows. The datapath translates a connection to a service's VIP to
 * one of its backends before policy sees it, so a flow's `IP.destination`
 * and destination port are the backend's (as in Hubble with Cilium's load
 * balancer). Hubble's `destination_service` names the service; membrane adds
 * what was translated away, which Hubble has no field for:
 *   - `IP.destination_original`: the VIP the client addressed;
 *   - `l4.<TCP|UDP|SCTP>.destination_port_original`: the service port.
 * Both are present only when the destination was translated; a drop because
 * a service has no backend (reason 158) carries `destination_service` with
 * the VIP as `IP.destination`.
 */
import {
  DIR_EGRESS, DIR_INGRESS, EVENT_DROP, EVENT_POLICY_VERDICT, EVENT_TRACE, OBS_FROM_ENDPOINT, OBS_TO_ENDPOINT, OBS_TO_PROXY, OBS_TO_STACK, VERDICT_AUDIT, VERDICT_REDIRECTED, VERDICT_DROPPED, VERDICT_FORWARDED,
  type FlowEventRecord, intToIp4,
} from '../datapath/layout.js';
import { reasonDescription, reasonHubbleName } from '../datapath/reasons.js';
import { randomBytes } from 'node:crypto';

export type Verdict = 'VERDICT_UNKNOWN' | 'FORWARDED' | 'DROPPED' | 'ERROR' | 'AUDIT' | 'REDIRECTED' | 'TRACED' | 'TRANSLATED';
export type TrafficDirection = 'TRAFFIC_DIRECTION_UNKNOWN' | 'INGRESS' | 'EGRESS';

export interface TcpFlags { FIN?: boolean; SYN?: boolean; RST?: boolean; PSH?: boolean; ACK?: boolean; URG?: boolean; ECE?: boolean; CWR?: boolean }

/** `destination_port_original`: membrane's, the service port before translation (see the file comment). */
export interface Layer4 {
  TCP?: { source_port: number; destination_port: number; destination_port_original?: number; flags?: TcpFlags };
  UDP?: { source_port: number; destination_port: number; destination_port_original?: number };
  SCTP?: { source_port: number; destination_port: number; destination_port_original?: number };
  ICMPv4?: { type: number; code: number };
}

export interface FlowEndpoint {
  ID?: number;
  identity: number;
  cluster_name?: string;
  namespace?: string;
  labels?: string[];
  pod_name?: string;
  workloads?: { name: string; kind: string }[];
}

/**
 * One entry of a flow's `*_allowed_by` / `*_denied_by`: Hubble's Policy
 * (name, namespace, labels, revision, kind) and, membrane's addition, the
 * `rule` that decided: where it is written in the policy object, e.g.
 * `spec.ingress[0]` or `specs[1].egressDeny[0]`, the same string `policy
 * trace` prints as the rule's `path`. Absent on the entries of a default-deny
 * drop: no rule decided, the policies only put the endpoint in default deny.
 */
export interface FlowPolicy {
  name: string;
  namespace: string;
  labels: string[];
  revision: number;
  kind: string;
  rule?: string;
}

export interface Flow {
  time: string;
  uuid: string;
  verdict: Verdict;
  drop_reason?: number;
  drop_reason_desc?: string;
  /** `destination_original`: membrane's, the VIP before translation (see the file comment). */
  IP: { source: string; destination: string; ipVersion: 'IPv4'; destination_original?: string };
  l4?: Layer4;
  source: FlowEndpoint;
  destination: FlowEndpoint;
  Type: 'L3_L4' | 'L7';
  node_name: string;
  event_type: { type: number; sub_type?: number };
  traffic_direction: TrafficDirection;
  trace_observation_point?: string;
  /** Trace flows: what conntrack knew of the packet (NEW, ESTABLISHED, REPLY, RELATED), as Hubble's TraceReason. */
  trace_reason?: TraceReason;
  policy_match_type?: number;
  /** The L7 proxy port a redirected connection was handed to (REDIRECTED verdicts, to-proxy traces, proxy drops), as Hubble's proxy_port. */
  proxy_port?: number;
  is_reply?: boolean;
  interface?: { index: number; name?: string };
  ingress_allowed_by?: FlowPolicy[];
  egress_allowed_by?: FlowPolicy[];
  ingress_denied_by?: FlowPolicy[];
  egress_denied_by?: FlowPolicy[];
  /** Hubble's policy_log: the `log.value` of the rules that decided (rules without one add nothing); absent when none has one. */
  policy_log?: readonly string[];
  /** The service the connection was addressed to (Hubble's field). */
  /** Hubble's source_service: on a reply's trace flow, the service whose backend answers (before the reply is rewritten to come from the frontend). */
  source_service?: FlowService;
  destination_service?: FlowService;
  Summary: string;
}

export type TraceReason = 'TRACE_REASON_UNKNOWN' | 'NEW' | 'ESTABLISHED' | 'REPLY' | 'RELATED';
const TRACE_REASONS: TraceReason[] = ['TRACE_REASON_UNKNOWN', 'NEW', 'ESTABLISHED', 'REPLY', 'RELATED'];

/** Hubble's TraceReason of a trace event's reason byte (conntrack's verdict, 1..4); 0 has none. */
export function traceReason(reason: number): TraceReason {
  return TRACE_REASONS[reason] ?? 'TRACE_REASON_UNKNOWN';
}

/**
 * Trace observation points the datapath reports (flow_event.obs_point,
 * Hubble's numbering): Hubble's name, and the monitor's trace sub-type
 * that goes in event_type.sub_type (the `--type trace:to-endpoint` filter).
 */
const TRACE_POINTS = new Map<number, { name: string; subType: number }>([
  [OBS_TO_ENDPOINT, { name: 'TO_ENDPOINT', subType: 0 }],
  [OBS_TO_PROXY, { name: 'TO_PROXY', subType: 1 }],
  [OBS_TO_STACK, { name: 'TO_STACK', subType: 3 }],
  [OBS_FROM_ENDPOINT, { name: 'FROM_ENDPOINT', subType: 5 }],
]);
const UNKNOWN_POINT = { name: 'UNKNOWN_POINT', subType: 0 };

/** A trace observation point's name and sub-type; unknown points are UNKNOWN_POINT with sub-type 0. */
export function tracePoint(obsPoint: number): { name: string; subType: number } {
  return TRACE_POINTS.get(obsPoint) ?? UNKNOWN_POINT;
}

export interface FlowService {
  name: string;
  namespace: string;
}

/**
 * What the agent knows, for enrichment. The flow pipeline's fast path
 * (flow-builder.ts) keeps what these return, shared by every flow that
 * needs it, for as long as `version()` stays the same: the agent bumps the
 * version whenever endpoints, identities, policies or services change, and
 * the objects returned must not be mutated afterwards. A context without
 * `version()` is a snapshot: what it returned is kept while the same
 * context object is in use (one batch, for a context made per batch).
 */
export interface FlowContext {
  nodeName: string;
  /** Changes whenever any answer of the lookups below may have changed. */
  version?(): number;
  /** Monotonic-to-wall clock: wall ms of a bpf_ktime_get_ns() value. */
  wallTimeMs(monotonicNs: number): number;
  /** The local endpoint or known pod behind an IP. */
  endpointByIp(ip: string): { id: number; namespace?: string; podName?: string; workloads?: { name: string; kind: string }[] } | undefined;
  identityLabels(identity: number): string[] | undefined;
  /** The policies behind a rule cookie, each with the rule's path (empty for 0). */
  policiesForCookie(cookie: number): FlowPolicy[];
  /** The `log.value` of the rule behind a cookie, when it has one (Hubble's policy_log); absent: flows carry no policy_log. */
  policyLogForCookie?(cookie: number): string | undefined;
  /** For a default-deny drop: the policies that put the endpoint in default deny for the direction. */
  defaultDenyPolicies(endpointId: number, ingress: boolean): FlowPolicy[];
  /** The service behind a load-balancer frontend id (the event's svcId); absent: flows name no service. */
  serviceById?(id: number): FlowService | undefined;
}

/**
 * The event's service fields (flow_event's svc_id, orig_daddr, orig_dport):
 * read as optional so flows decode events of a datapath without them too.
 */
interface ServiceEventFields {
  svcId?: number;
  /** Dotted, or the raw address (0 = none). */
  origDaddr?: string | number;
  origDport?: number;
}

function originalDestination(ev: FlowEventRecord & ServiceEventFields): { ip: string; port: number } | undefined {
  if (!ev.svcId) return undefined;
  const raw = ev.origDaddr;
  const ip = typeof raw === 'number' ? (raw === 0 ? undefined : intToIp4(raw)) : raw;
  if (ip === undefined) return undefined;
  const port = ev.origDport ?? ev.dport;
  return ip === intToIp4(ev.daddr) && port === ev.dport ? undefined : { ip, port };
}

const TCP_FLAG_NAMES: [number, keyof TcpFlags][] = [[0x01, 'FIN'], [0x02, 'SYN'], [0x04, 'RST'], [0x08, 'PSH'], [0x10, 'ACK'], [0x20, 'URG'], [0x40, 'ECE'], [0x80, 'CWR']];

export function tcpFlags(bits: number): TcpFlags {
  const f: TcpFlags = {};
  for (const [bit, name] of TCP_FLAG_NAMES) if (bits & bit) f[name] = true;
  return f;
}

/** "TCP Flags: SYN, ACK" in Hubble's order. */
export function tcpFlagsSummary(flags: TcpFlags): string {
  const order: (keyof TcpFlags)[] = ['SYN', 'ACK', 'RST', 'FIN', 'PSH', 'URG', 'ECE', 'CWR'];
  return `TCP Flags: ${order.filter((k) => flags[k]).join(', ')}`;
}

function layer4(ev: FlowEventRecord): Layer4 | undefined {
  switch (ev.proto) {
    case 6: return { TCP: { source_port: ev.sport, destination_port: ev.dport, flags: tcpFlags(ev.tcpFlags) } };
    case 17: return { UDP: { source_port: ev.sport, destination_port: ev.dport } };
    case 132: return { SCTP: { source_port: ev.sport, destination_port: ev.dport } };
    case 1: return { ICMPv4: { type: ev.icmpType, code: 0 } };
    default: return undefined;
  }
}

function summary(l4: Layer4 | undefined): string {
  if (l4?.TCP) return tcpFlagsSummary(l4.TCP.flags ?? {});
  if (l4?.UDP) return 'UDP';
  if (l4?.SCTP) return 'SCTP';
  if (l4?.ICMPv4) return `ICMPv4 ${icmpTypeName(l4.ICMPv4.type)}`;
  return 'IPv4';
}

const ICMP_NAMES: Record<number, string> = { 0: 'EchoReply', 3: 'DestinationUnreachable', 8: 'EchoRequest', 11: 'TimeExceeded' };
export function icmpTypeName(t: number): string {
  return ICMP_NAMES[t] ?? `Type${t}`;
}

/** The enriched endpoint of one side of a flow: pod, namespace, workloads of the IP; labels of the identity. */
export function endpointFor(ctx: FlowContext, ip: string, identity: number): FlowEndpoint {
  const ep: FlowEndpoint = { identity };
  const known = ctx.endpointByIp(ip);
  if (known) {
    ep.ID = known.id;
    if (known.namespace) ep.namespace = known.namespace;
    if (known.podName) ep.pod_name = known.podName;
    if (known.workloads?.length) ep.workloads = known.workloads;
  }
  const labels = ctx.identityLabels(identity);
  if (labels) ep.labels = labels;
  return ep;
}

// Flow uuids: a random prefix per process (version 4, variant 1 as Hubble's
// random uuids) and a 48-bit sequence number, so uuids stay unique across
// agent restarts (the flow log keeps flows of earlier runs). Hex digits by
// table, and the first 34 characters made once per 256 flows: the pipeline
// makes a uuid per flow, and building 36 characters per flow cost more than
// the rest of a flow's fields together (docs/benchmarks.md, "Flow pipeline").
const HEX1 = '0123456789abcdef'.split('');
const HEX2 = Array.from({ length: 256 }, (_, i) => HEX1[i >>> 4]! + HEX1[i & 15]!);
const UUID_PREFIX = ((r: Buffer) => {
  const h = [...r].map((b) => HEX2[b]!).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${HEX1[8 + (r[8]! & 3)]}${h.slice(17, 20)}-`;
})(randomBytes(10));
let uuidSeq = 0;
let uuidHeadOf = -1;
let uuidHead = '';

/** A new flow uuid: `xxxxxxxx-xxxx-4xxx-Vxxx-` (random, per process) then the sequence number in 12 hex digits. */
export function nextFlowUuid(): string {
  const n = uuidSeq;
  uuidSeq = n + 1 < 2 ** 48 ? n + 1 : 0;
  const high = Math.floor(n / 256);
  if (high !== uuidHeadOf) {
    uuidHeadOf = high;
    const top = Math.floor(high / 2 ** 32);
    uuidHead = UUID_PREFIX + HEX2[top & 255]! + HEX2[(high >>> 24) & 255]! + HEX2[(high >>> 16) & 255]! + HEX2[(high >>> 8) & 255]! + HEX2[high & 255]!;
  }
  return uuidHead + HEX2[n & 255]!;
}

// Flows of one millisecond share their time string (toISOString has millisecond resolution).
let lastTimeMs = Number.NaN;
let lastTime = '';
/** A flow's `time`: the ISO string of a wall-clock ms (fractions dropped, as toISOString does). */
/** Hubble's policy_log of the rules behind `cookies`: their distinct log values; undefined when none has one. */
export function policyLogOf(ctx: FlowContext, cookies: readonly number[]): string[] | undefined {
  const logs = [...new Set(cookies.map((c) => ctx.policyLogForCookie?.(c)).filter((v): v is string => !!v))];
  return logs.length > 0 ? logs : undefined;
}

export function isoTime(ms: number): string {
  const whole = Math.trunc(ms);
  if (whole !== lastTimeMs) {
    lastTime = new Date(whole).toISOString();
    lastTimeMs = whole;
  }
  return lastTime;
}

/**
 * Turns one datapath event into flows, as Hubble shows them: a new
 * connection's verdict is one policy-verdict flow; a drop is a
 * policy-verdict flow (when policy decided) followed by the drop flow; a
 * trace event is one trace flow (to-endpoint, to-stack, from-endpoint).
 */
export function flowsFromEvent(ev: FlowEventRecord, ctx: FlowContext): Flow[] {
  const src = intToIp4(ev.saddr);
  const dst = intToIp4(ev.daddr);
  const l4 = layer4(ev);
  const ingress = ev.dir === DIR_INGRESS;
  const direction: TrafficDirection = ev.dir === DIR_INGRESS ? 'INGRESS' : ev.dir === DIR_EGRESS ? 'EGRESS' : 'TRAFFIC_DIRECTION_UNKNOWN';
  const time = isoTime(ctx.wallTimeMs(ev.tsNs));
  const svcEv = ev as FlowEventRecord & ServiceEventFields;
  const service = svcEv.svcId ? ctx.serviceById?.(svcEv.svcId) : undefined;
  const original = originalDestination(svcEv);
  const l4Proto = l4?.TCP ?? l4?.UDP ?? l4?.SCTP;
  if (original && l4Proto) l4Proto.destination_port_original = original.port;
  const IP: Flow['IP'] = { source: src, destination: dst, ipVersion: 'IPv4' };
  if (original) IP.destination_original = original.ip;
  const source = endpointFor(ctx, src, ev.srcIdentity);
  const destination = endpointFor(ctx, dst, ev.dstIdentity);
  const iface = { index: ev.ifindex };
  const Summary = summary(l4);
  // The flows of one event share these (as they did as a spread base); fields are
  // added in Hubble's JSON order. Built by assignment, not spreads: this is the
  // pipeline's hottest code (docs/benchmarks.md, "Flow pipeline").
  const newFlow = (uuid: string, verdict: Verdict): Flow => {
    const f: Flow = {
      time, uuid, verdict, IP, source, destination, Type: 'L3_L4', node_name: ctx.nodeName, traffic_direction: direction, interface: iface, Summary,
    } as Flow;
    if (l4) f.l4 = l4;
    if (service) {
      // A reply's trace names the service it answers for; everything else the service it was addressed to.
      if (ev.type === EVENT_TRACE && ev.isReply) f.source_service = { name: service.name, namespace: service.namespace };
      else f.destination_service = { name: service.name, namespace: service.namespace };
    }
    return f;
  };
  const policyDecided = ev.reason === 0 || ev.reason === 133 || ev.reason === 181 || ev.verdict === VERDICT_AUDIT;
  const attribute = (f: Flow): void => {
    const denied = ev.verdict === VERDICT_DROPPED || ev.verdict === VERDICT_AUDIT;
    const policies = ev.cookie !== 0 ? ctx.policiesForCookie(ev.cookie) : denied ? ctx.defaultDenyPolicies(ev.epId, ingress) : [];
    if (policies.length === 0) return;
    if (ingress) {
      if (denied) f.ingress_denied_by = policies;
      else f.ingress_allowed_by = policies;
    } else if (denied) f.egress_denied_by = policies;
    else f.egress_allowed_by = policies;
    // A default-deny drop has no rule, so no log value either.
    const logs = policyLogOf(ctx, ev.cookie !== 0 ? [ev.cookie] : []);
    if (logs) f.policy_log = logs;
  };

  const out: Flow[] = [];
  if (ev.type === EVENT_TRACE) {
    const point = tracePoint(ev.obsPoint);
    const f = newFlow(nextFlowUuid(), 'FORWARDED');
    f.event_type = { type: EVENT_TRACE, sub_type: point.subType };
    f.trace_observation_point = point.name;
    if (ev.reason > 0) f.trace_reason = traceReason(ev.reason);
    // At from-endpoint the packet has not met conntrack yet: whether it is a reply is unknown.
    if (ev.obsPoint !== OBS_FROM_ENDPOINT) f.is_reply = ev.isReply === 1;
    if (ev.proxyPort) f.proxy_port = ev.proxyPort;
    out.push(f);
    return out;
  }
  if (ev.type === EVENT_POLICY_VERDICT || (ev.type === EVENT_DROP && policyDecided)) {
    const verdict: Verdict = ev.verdict === VERDICT_FORWARDED ? 'FORWARDED' : ev.verdict === VERDICT_AUDIT ? 'AUDIT'
      : ev.verdict === VERDICT_REDIRECTED ? 'REDIRECTED' : 'DROPPED';
    const f = newFlow(nextFlowUuid(), verdict);
    if (verdict === 'DROPPED') {
      f.drop_reason = ev.reason;
      f.drop_reason_desc = reasonHubbleName(ev.reason);
    }
    f.event_type = { type: EVENT_POLICY_VERDICT };
    f.policy_match_type = ev.matchType;
    if (verdict !== 'DROPPED') f.is_reply = false;
    attribute(f);
    if (ev.proxyPort) f.proxy_port = ev.proxyPort;
    out.push(f);
  }
  if (ev.type === EVENT_DROP) {
    const f = newFlow(nextFlowUuid(), 'DROPPED');
    f.drop_reason = ev.reason;
    f.drop_reason_desc = reasonHubbleName(ev.reason);
    f.event_type = { type: EVENT_DROP, sub_type: ev.reason };
    if (policyDecided) attribute(f);
    if (ev.proxyPort) f.proxy_port = ev.proxyPort;
    out.push(f);
  }
  return out;
}

export function dropDescription(flow: Flow): string {
  return flow.drop_reason !== undefined ? reasonDescription(flow.drop_reason) : '';
}
