/**
 * `observer.Observer/GetAgentEvents` over the agent's event log: the
 * request read as an AgentEventSelection (GetFlows' number/first/follow/
 * since/until semantics), events as GetAgentEventsResponse messages.
 *
 * A follower whose client reads slower than events come is not buffered
 * without limit: once the transport pushes back, its events are skipped and
 * counted on the log until the client drains (GetAgentEventsResponse has no
 * lost-events message to tell it).
 */
import * as grpc from '@grpc/grpc-js';
import { MembraneError, errorMessage } from '../../common/errors.js';
import {
  type AgentEvent, type AgentEventLog, type AgentEventRecord, type AgentEventSelection,
  agentEventInTime, agentEventPastUntil, replayedAgentEvents,
} from '../agent-events.js';
import { timestampFromMs, timestampToMs } from './flow-to-proto.js';

type ProtoTimestamp = { seconds?: number | string; nanos?: number } | null;

/** Hubble's GetAgentEventsRequest as the loader decodes it. */
export interface GetAgentEventsRequest {
  number?: number | string; first?: boolean; follow?: boolean; since?: ProtoTimestamp; until?: ProtoTimestamp;
}

/** A GetAgentEvents request as a selection; throws EINVAL naming the field, as GetFlows does. */
export function agentEventSelectionFromRequest(req: GetAgentEventsRequest): AgentEventSelection {
  const s: AgentEventSelection = { number: Number(req.number ?? 0), first: req.first ?? false, follow: req.follow ?? false };
  if (!Number.isSafeInteger(s.number) || s.number < 0) throw new MembraneError('EINVAL', `number: ${String(req.number)} is not a count`, { path: 'number' });
  if (s.first && s.follow) throw new MembraneError('EINVAL', 'first: cannot be combined with follow (as in Hubble)', { path: 'first' });
  const since = timestampToMs(req.since);
  const until = timestampToMs(req.until);
  if (since !== undefined) s.sinceMs = since;
  if (until !== undefined) s.untilMs = until;
  return s;
}

/** A `flow.AgentEvent` message: times as Timestamps, old_identity as its UInt32Value wrapper. */
export function agentEventToProto(e: AgentEvent): Record<string, unknown> {
  const out: Record<string, unknown> = { ...e };
  if (e.agent_start) out['agent_start'] = { time: timestampFromMs(Date.parse(e.agent_start.time)) };
  const ip = e.ipcache_update;
  if (ip?.old_identity !== undefined) out['ipcache_update'] = { ...ip, old_identity: { value: ip.old_identity } };
  return out;
}

/** The GetAgentEventsResponse of a stored event. */
export function agentEventResponse(r: AgentEventRecord): Record<string, unknown> {
  return { agent_event: agentEventToProto(r.agent_event), node_name: r.node_name, time: timestampFromMs(Date.parse(r.time)) };
}

/**
 * Serves one GetAgentEvents call: the stored events the request selects,
 * then (with follow) new ones until the client cancels, an event is past
 * `until`, or the server closes. `followers` holds the stop function of
 * every open follow stream, for the service's close().
 */
export function serveGetAgentEvents(call: grpc.ServerWritableStream<GetAgentEventsRequest, unknown>, log: AgentEventLog, followers: Set<() => void>): void {
  let sel: AgentEventSelection;
  try {
    sel = agentEventSelectionFromRequest(call.request);
  } catch (err) {
    const invalid = err instanceof MembraneError && err.code === 'EINVAL';
    call.emit('error', { code: invalid ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL, details: errorMessage(err) });
    return;
  }
  for (const e of replayedAgentEvents(log.values(), sel)) call.write(agentEventResponse(e));
  if (!sel.follow) {
    call.end();
    return;
  }

  let blocked = false;
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    unfollow();
    followers.delete(finish);
  };
  const unfollow = log.follow((e) => {
    if (done) return;
    if (agentEventPastUntil(e, sel)) {
      finish();
      call.end();
      return;
    }
    if (!agentEventInTime(e, sel)) return;
    if (blocked) {
      log.countFollowerLoss(1);
      return;
    }
    if (!call.write(agentEventResponse(e))) blocked = true;
  });
  call.on('drain', () => { blocked = false; });
  followers.add(finish);
  call.on('cancelled', finish);
  call.on('close', finish);
  call.on('error', finish);
}
