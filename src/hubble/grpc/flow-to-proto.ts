/**
 * membrane's Flow (Hubble's JSON shape, src/hubble/flow.ts) as the
 * `flow.Flow` protobuf message, in the plain-object form the protobuf
 * serializer takes. Enums are given as their numbers, which are the wire
 * values of Hubble's flow.proto. Pure.
 *
 * membrane's own additions with no Hubble field (`IP.destination_original`,
 * `l4.*.destination_port_original`) are left out: a Hubble client could not
 * read them anyway. The one exception is a policy entry's `rule`: Hubble's
 * Policy message has no field for it, and it is what tells which rule
 * decided, so it travels as one more of the entry's labels,
 * `membrane:rule=<path>` (RULE_LABEL_PREFIX). Hubble's Policy.labels are the
 * labels of the policy rule, so a label naming the rule fits them, and every
 * Hubble client reads it unchanged; no field number is invented.
 */
import type { Flow, FlowEndpoint, FlowPolicy, Layer4, TcpFlags, TrafficDirection, Verdict } from '../flow.js';
import { layer7Of, type Layer7 } from '../l7-flow.js';

export const VERDICT_NUMBER: Record<Verdict, number> = {
  VERDICT_UNKNOWN: 0, FORWARDED: 1, DROPPED: 2, ERROR: 3, AUDIT: 4, REDIRECTED: 5, TRACED: 6, TRANSLATED: 7,
};

export const TRAFFIC_DIRECTION_NUMBER: Record<TrafficDirection, number> = {
  TRAFFIC_DIRECTION_UNKNOWN: 0, INGRESS: 1, EGRESS: 2,
};

export const TRACE_OBSERVATION_POINT_NUMBER: Record<string, number> = {
  UNKNOWN_POINT: 0, TO_PROXY: 1, TO_HOST: 2, TO_STACK: 3, TO_OVERLAY: 4, TO_ENDPOINT: 101, FROM_ENDPOINT: 5,
  FROM_PROXY: 6, FROM_HOST: 7, FROM_STACK: 8, FROM_OVERLAY: 9, FROM_NETWORK: 10, TO_NETWORK: 11, FROM_CRYPTO: 12, TO_CRYPTO: 13,
};

export const TRACE_REASON_NUMBER: Record<string, number> = { TRACE_REASON_UNKNOWN: 0, NEW: 1, ESTABLISHED: 2, REPLY: 3, RELATED: 4 };

export const FLOW_TYPE_NUMBER = { UNKNOWN_TYPE: 0, L3_L4: 1, L7: 2, SOCK: 3 } as const;
/** Hubble's L7FlowType. */
export const L7_FLOW_TYPE_NUMBER: Record<Layer7['type'], number> = { REQUEST: 1, RESPONSE: 2 };
export const IP_VERSION_IPV4 = 1;

/** google.protobuf.Timestamp of an ISO time or epoch milliseconds. */
export interface ProtoTimestamp { seconds: number; nanos: number }

export function timestampFromMs(ms: number): ProtoTimestamp {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

export function timestampToMs(t: { seconds?: number | string; nanos?: number } | null | undefined): number | undefined {
  if (!t) return undefined;
  return Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}

export interface ProtoEndpoint {
  ID: number; identity: number; cluster_name?: string; namespace?: string; labels: string[]; pod_name?: string;
  workloads: { name: string; kind: string }[];
}

export interface ProtoPolicy { name: string; namespace: string; labels: string[]; revision: number; kind: string }

/** The `flow.Flow` message; see flow.proto for the field numbers. */
export interface ProtoFlow {
  time: ProtoTimestamp;
  uuid: string;
  verdict: number;
  drop_reason?: number;
  drop_reason_desc?: number;
  IP: { source: string; destination: string; ipVersion: number };
  l4?: {
    TCP?: { source_port: number; destination_port: number; flags?: TcpFlags };
    UDP?: { source_port: number; destination_port: number };
    SCTP?: { source_port: number; destination_port: number };
    ICMPv4?: { type: number; code: number };
  };
  source: ProtoEndpoint;
  destination: ProtoEndpoint;
  Type: number;
  node_name: string;
  reply?: boolean;
  is_reply?: { value: boolean };
  event_type: { type: number; sub_type: number };
  source_service?: { name: string; namespace: string };
  destination_service?: { name: string; namespace: string };
  traffic_direction: number;
  trace_reason?: number;
  policy_match_type?: number;
  trace_observation_point?: number;
  proxy_port?: number;
  interface?: { index: number; name?: string };
  /** Layer7 (field 15): `http` is the `record` oneof's HTTP (101). */
  l7?: {
    type: number; latency_ns: number;
    http: { code: number; method: string; url: string; protocol: string; headers: { key: string; value: string }[] };
  };
  Summary: string;
  ingress_allowed_by?: ProtoPolicy[];
  egress_allowed_by?: ProtoPolicy[];
  ingress_denied_by?: ProtoPolicy[];
  egress_denied_by?: ProtoPolicy[];
  /** Field 21006: the deciding rules' log values. */
  policy_log?: string[];
}

function endpointToProto(e: FlowEndpoint): ProtoEndpoint {
  return {
    ID: e.ID ?? 0,
    identity: e.identity,
    ...(e.cluster_name ? { cluster_name: e.cluster_name } : {}),
    ...(e.namespace ? { namespace: e.namespace } : {}),
    labels: e.labels ?? [],
    ...(e.pod_name ? { pod_name: e.pod_name } : {}),
    workloads: e.workloads ?? [],
  };
}

function l4ToProto(l4: Layer4): ProtoFlow['l4'] {
  const ports = (p: { source_port: number; destination_port: number }) => ({ source_port: p.source_port, destination_port: p.destination_port });
  if (l4.TCP) return { TCP: { ...ports(l4.TCP), ...(l4.TCP.flags ? { flags: l4.TCP.flags } : {}) } };
  if (l4.UDP) return { UDP: ports(l4.UDP) };
  if (l4.SCTP) return { SCTP: ports(l4.SCTP) };
  if (l4.ICMPv4) return { ICMPv4: { type: l4.ICMPv4.type, code: l4.ICMPv4.code } };
  return undefined;
}

/** The label that carries a policy entry's rule path in gRPC (see the file comment): `membrane:rule=spec.ingress[0]`. */
export const RULE_LABEL_PREFIX = 'membrane:rule=';

function policiesToProto(list: FlowPolicy[] | undefined): ProtoPolicy[] | undefined {
  return list?.map((p) => ({
    name: p.name, namespace: p.namespace, labels: p.rule ? [...p.labels, `${RULE_LABEL_PREFIX}${p.rule}`] : p.labels, revision: p.revision, kind: p.kind,
  }));
}

export function flowToProto(f: Flow): ProtoFlow {
  const l4 = f.l4 ? l4ToProto(f.l4) : undefined;
  const out: ProtoFlow = {
    time: timestampFromMs(Date.parse(f.time)),
    uuid: f.uuid,
    verdict: VERDICT_NUMBER[f.verdict] ?? 0,
    IP: { source: f.IP.source, destination: f.IP.destination, ipVersion: IP_VERSION_IPV4 },
    source: endpointToProto(f.source),
    destination: endpointToProto(f.destination),
    Type: FLOW_TYPE_NUMBER[f.Type] ?? 0,
    node_name: f.node_name,
    event_type: { type: f.event_type.type, sub_type: f.event_type.sub_type ?? 0 },
    traffic_direction: TRAFFIC_DIRECTION_NUMBER[f.traffic_direction] ?? 0,
    Summary: f.Summary,
  };
  if (l4) out.l4 = l4;
  // DropReason's values are the datapath's drop codes, so the code is the enum value.
  if (f.drop_reason !== undefined) {
    out.drop_reason = f.drop_reason;
    out.drop_reason_desc = f.drop_reason;
  }
  if (f.is_reply !== undefined) {
    out.is_reply = { value: f.is_reply };
    out.reply = f.is_reply;
  }
  if (f.source_service) out.source_service = { name: f.source_service.name, namespace: f.source_service.namespace };
  if (f.destination_service) out.destination_service = { name: f.destination_service.name, namespace: f.destination_service.namespace };
  if (f.policy_match_type !== undefined) out.policy_match_type = f.policy_match_type;
  if (f.trace_observation_point !== undefined) out.trace_observation_point = TRACE_OBSERVATION_POINT_NUMBER[f.trace_observation_point] ?? 0;
  if (f.proxy_port !== undefined) out.proxy_port = f.proxy_port;
  if (f.trace_reason !== undefined) out.trace_reason = TRACE_REASON_NUMBER[f.trace_reason] ?? 0;
  if (f.interface) out.interface = { index: f.interface.index, ...(f.interface.name ? { name: f.interface.name } : {}) };
  const l7 = layer7Of(f);
  if (l7) {
    const { code, method, url, protocol, headers } = l7.http;
    out.l7 = {
      type: L7_FLOW_TYPE_NUMBER[l7.type] ?? 0, latency_ns: l7.latency_ns,
      http: { code, method, url, protocol, headers: headers.map((h) => ({ key: h.key, value: h.value })) },
    };
  }
  for (const key of ['ingress_allowed_by', 'egress_allowed_by', 'ingress_denied_by', 'egress_denied_by'] as const) {
    const list = policiesToProto(f[key]);
    if (list) out[key] = list;
  }
  if (f.policy_log?.length) out.policy_log = [...f.policy_log];
  return out;
}
