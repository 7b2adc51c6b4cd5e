/**
 * Agent events: what the agent did (started, an endpoint created,
 * regenerated or deleted, a policy imported or deleted, an ipcache entry or
 * a load-balancer frontend written or removed), kept in a bounded ring and
 * streamed to followers, as Hubble serves them through GetAgentEvents.
 *
 * The events are Hubble's `flow.AgentEvent` as JSON (flow.proto's field
 * names, enum names as strings, times as RFC 3339, wrapper values as plain
 * numbers); a stored one is the GetAgentEventsResponse it is sent as, with
 * the node's name and the time it happened.
 *
 * Nothing here waits on a reader: the agent pushes an event and goes on.
 * Followers are called synchronously and must skip (and count, through
 * countFollowerLoss) what their client is too slow to take.
 */
import { Ring } from './ring.js';

/** Hubble's AgentEventType (flow.proto; 1 is reserved there). */
export const AGENT_EVENT_TYPES = [
  'AGENT_EVENT_UNKNOWN', 'AGENT_STARTED', 'POLICY_UPDATED', 'POLICY_DELETED',
  'ENDPOINT_REGENERATE_SUCCESS', 'ENDPOINT_REGENERATE_FAILURE', 'ENDPOINT_CREATED', 'ENDPOINT_DELETED',
  'IPCACHE_UPSERTED', 'IPCACHE_DELETED', 'SERVICE_UPSERTED', 'SERVICE_DELETED',
] as const;
export type AgentEventType = (typeof AGENT_EVENT_TYPES)[number];

export interface PolicyUpdateNotification { labels: string[]; revision: number; rule_count: number }
export interface EndpointRegenNotification { id: number; labels: string[]; error?: string }
export interface EndpointUpdateNotification { id: number; labels: string[]; error?: string; pod_name?: string; namespace?: string }
export interface IPCacheNotification {
  cidr: string; identity: number; old_identity?: number; host_ip?: string; old_host_ip?: string; encrypt_key: number;
  namespace?: string; pod_name?: string;
}
export interface ServiceUpsertNotificationAddr { ip: string; port: number }
export interface ServiceUpsertNotification {
  id: number; frontend_address: ServiceUpsertNotificationAddr; backend_addresses: ServiceUpsertNotificationAddr[];
  type: string; name: string; namespace: string;
  /** Deprecated in Hubble for the two below; still what `hubble observe agent-events` prints. */
  traffic_policy?: string; ext_traffic_policy?: string; int_traffic_policy?: string;
}

/** Hubble's `flow.AgentEvent`: the type and the one notification that goes with it. */
export interface AgentEvent {
  type: AgentEventType;
  unknown?: { type: string; notification: string };
  agent_start?: { time: string };
  policy_update?: PolicyUpdateNotification;
  endpoint_regenerate?: EndpointRegenNotification;
  endpoint_update?: EndpointUpdateNotification;
  ipcache_update?: IPCacheNotification;
  service_upsert?: ServiceUpsertNotification;
  service_delete?: { id: number };
}

/** One stored event: Hubble's GetAgentEventsResponse (also a line of the REST stream). */
export interface AgentEventRecord {
  agent_event: AgentEvent;
  node_name: string;
  /** When it happened, RFC 3339 with milliseconds. */
  time: string;
}

/** The default ring size, as Hubble's flow ring. */
export const DEFAULT_AGENT_EVENT_CAPACITY = 4095;

/** The agent's recent events, with followers. */
export class AgentEventLog {
  private readonly ring: Ring<AgentEventRecord>;

  constructor(readonly nodeName: string, readonly capacity = DEFAULT_AGENT_EVENT_CAPACITY, private readonly now: () => number = Date.now) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`agent event capacity ${capacity} is not a positive integer`);
    this.ring = new Ring(capacity);
  }

  /** Records events (stamped now) and hands them to every follower; never throws for a follower. */
  push(...events: AgentEvent[]): void {
    for (const agent_event of events) this.ring.push({ agent_event, node_name: this.nodeName, time: new Date(this.now()).toISOString() });
  }

  get size(): number { return this.ring.size; }
  get seen(): number { return this.ring.seen; }
  /** Events followers skipped because their client read too slowly. */
  get lostToFollowers(): number { return this.ring.lostToFollowers; }

  countFollowerLoss(n: number): void {
    this.ring.countFollowerLoss(n);
  }

  /** Events oldest first. */
  values(): Generator<AgentEventRecord> {
    return this.ring.values();
  }

  /** Calls `fn` with every event pushed from now on; returns the unfollow function. */
  follow(fn: (e: AgentEventRecord) => void): () => void {
    return this.ring.follow(fn);
  }
}

// ---- which events a request returns (GetAgentEvents, GET /v1/agent-events) ----

/**
 * As GetFlows selects flows (grpc/select.ts), without filters: `number` is
 * the last N events (the first N with `first`), 0 all of them, except with
 * `follow` and neither `since` nor `first`, where it means none: only new
 * events are sent. since/until bound the event time, inclusive.
 */
export interface AgentEventSelection {
  number: number;
  first: boolean;
  follow: boolean;
  sinceMs?: number;
  untilMs?: number;
}

export function agentEventInTime(e: AgentEventRecord, s: AgentEventSelection): boolean {
  if (s.sinceMs === undefined && s.untilMs === undefined) return true;
  const t = Date.parse(e.time);
  return (s.sinceMs === undefined || t >= s.sinceMs) && (s.untilMs === undefined || t <= s.untilMs);
}

/** The stored events the request returns, oldest first. */
export function replayedAgentEvents(events: Iterable<AgentEventRecord>, s: AgentEventSelection): AgentEventRecord[] {
  if (s.follow && s.number === 0 && s.sinceMs === undefined && !s.first) return [];
  const matched: AgentEventRecord[] = [];
  for (const e of events) if (agentEventInTime(e, s)) matched.push(e);
  if (s.number === 0) return matched;
  return s.first ? matched.slice(0, s.number) : matched.slice(-s.number);
}

/** Whether a followed stream is over: the event is past `until`. */
export function agentEventPastUntil(e: AgentEventRecord, s: AgentEventSelection): boolean {
  return s.untilMs !== undefined && Date.parse(e.time) > s.untilMs;
}

// ---- the events, as the agent emits them ----

/** What an endpoint event names: its id and, for a pod, namespace and name (an EndpointRecord fits). */
export interface EndpointRef { id: number; podNamespace?: string; podName?: string }
/** The pod an ipcache entry belongs to, if any (an EndpointRecord fits). */
export interface PodRef { podNamespace?: string; podName?: string }

export function agentStarted(atMs: number): AgentEvent {
  return { type: 'AGENT_STARTED', agent_start: { time: new Date(atMs).toISOString() } };
}

/** POLICY_UPDATED or POLICY_DELETED; `labels` are the policy's (io.cilium.k8s.policy.name, ...). */
export function policyChanged(type: 'POLICY_UPDATED' | 'POLICY_DELETED', labels: readonly string[], revision: number, ruleCount: number): AgentEvent {
  return { type, policy_update: { labels: [...labels], revision, rule_count: ruleCount } };
}

function endpointUpdate(type: 'ENDPOINT_CREATED' | 'ENDPOINT_DELETED', e: EndpointRef, labels: readonly string[]): AgentEvent {
  return {
    type,
    endpoint_update: { id: e.id, labels: [...labels], ...(e.podName ? { pod_name: e.podName } : {}), ...(e.podNamespace ? { namespace: e.podNamespace } : {}) },
  };
}

export function endpointCreated(e: EndpointRef, labels: readonly string[] = []): AgentEvent {
  return endpointUpdate('ENDPOINT_CREATED', e, labels);
}

export function endpointDeleted(e: EndpointRef, labels: readonly string[] = []): AgentEvent {
  return endpointUpdate('ENDPOINT_DELETED', e, labels);
}

/** ENDPOINT_REGENERATE_SUCCESS, or ENDPOINT_REGENERATE_FAILURE with the error's message when there is one. */
export function endpointRegenerated(e: { id: number }, labels: readonly string[], error?: unknown): AgentEvent {
  if (error === undefined) return { type: 'ENDPOINT_REGENERATE_SUCCESS', endpoint_regenerate: { id: e.id, labels: [...labels] } };
  const message = error instanceof Error ? error.message : String(error);
  return { type: 'ENDPOINT_REGENERATE_FAILURE', endpoint_regenerate: { id: e.id, labels: [...labels], error: message } };
}

function podFields(pod: PodRef | undefined): { namespace?: string; pod_name?: string } {
  return { ...(pod?.podNamespace ? { namespace: pod.podNamespace } : {}), ...(pod?.podName ? { pod_name: pod.podName } : {}) };
}

/** An ipcache entry written: `cidr` (a pod's is ip/32) now maps to `identity`, `oldIdentity` when it mapped to another one. */
export function ipcacheUpserted(cidr: string, identity: number, more: { oldIdentity?: number; pod?: PodRef } = {}): AgentEvent {
  return {
    type: 'IPCACHE_UPSERTED',
    ipcache_update: {
      cidr, identity, ...(more.oldIdentity !== undefined ? { old_identity: more.oldIdentity } : {}), encrypt_key: 0, ...podFields(more.pod),
    },
  };
}

export function ipcacheDeleted(cidr: string, identity: number, more: { pod?: PodRef } = {}): AgentEvent {
  return { type: 'IPCACHE_DELETED', ipcache_update: { cidr, identity, encrypt_key: 0, ...podFields(more.pod) } };
}

export function serviceUpserted(n: ServiceUpsertNotification): AgentEvent {
  return { type: 'SERVICE_UPSERTED', service_upsert: n };
}

export function serviceDeleted(id: number): AgentEvent {
  return { type: 'SERVICE_DELETED', service_delete: { id } };
}

/**
 * Rules per policy, keyed `kind/namespace/name` (as the policy repository
 * keys them), from the policies as persisted: a Cilium policy has a rule
 * for `spec` and one for each of `specs`, a NetworkPolicy is one rule.
 */
export function policyRuleCounts(policies: readonly { object: unknown; namespace: string }[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { object, namespace } of policies) {
    const o = (object ?? {}) as { kind?: unknown; metadata?: { name?: unknown }; spec?: unknown; specs?: unknown };
    if (typeof o.kind !== 'string' || typeof o.metadata?.name !== 'string') continue;
    const rules = o.kind === 'NetworkPolicy' ? 1 : (o.spec ? 1 : 0) + (Array.isArray(o.specs) ? o.specs.length : 0);
    counts.set(`${o.kind}/${namespace}/${o.metadata.name}`, rules);
  }
  return counts;
}
