/**
 * GET /v1/agent-events: the agent's events as NDJSON, oldest first, one
 * AgentEventRecord (Hubble's GetAgentEventsResponse: `{agent_event,
 * node_name, time}`) per line. Query, as /v1/flows: number (last N, default
 * 20; 0 = all), first=true (the first N instead), follow=true, since/until
 * (ISO or RFC 3339). A follower that reads too slowly gets a `{"lost_events":
 * {"source": "HUBBLE_RING_BUFFER", "num_events_lost": N}}` line in place of
 * the events it missed.
 */
import type http from 'node:http';
import { MembraneError } from '../common/errors.js';
import {
  type AgentEventLog, type AgentEventRecord, type AgentEventSelection,
  agentEventInTime, agentEventPastUntil, replayedAgentEvents,
} from '../hubble/agent-events.js';
import { lostEventsLine } from '../hubble/lost.js';

/** How far a follower may fall behind before its events are skipped (agent events are small and rare: 1 MiB is thousands). */
const FOLLOWER_BUFFER_BYTES = 1024 * 1024;

/** The query as a selection; throws EINVAL naming the parameter. */
export function agentEventSelectionFromQuery(q: URLSearchParams): AgentEventSelection {
  const numberText = q.get('number');
  const number = numberText === null ? 20 : Number(numberText);
  if (!Number.isSafeInteger(number) || number < 0) throw new MembraneError('EINVAL', `number: "${numberText}" is not a non-negative integer`, { path: 'number' });
  const s: AgentEventSelection = { number, first: q.get('first') === 'true', follow: q.get('follow') === 'true' };
  if (s.first && s.follow) throw new MembraneError('EINVAL', 'first: cannot be combined with follow (as in Hubble)', { path: 'first' });
  for (const name of ['since', 'until'] as const) {
    const v = q.get(name);
    if (!v) continue;
    const t = Date.parse(v);
    if (Number.isNaN(t)) throw new MembraneError('EINVAL', `${name}: "${v}" is not a time (use RFC 3339, e.g. 2026-01-02T15:04:05Z)`, { path: name });
    if (name === 'since') s.sinceMs = t;
    else s.untilMs = t;
  }
  return s;
}

export function streamAgentEvents(log: AgentEventLog, req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
  const sel = agentEventSelectionFromQuery(url.searchParams);
  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  const line = (e: AgentEventRecord) => `${JSON.stringify(e)}\n`;
  for (const e of replayedAgentEvents(log.values(), sel)) res.write(line(e));
  if (!sel.follow) {
    res.end();
    return;
  }
  // A follower of a quiet log must see the response start before its first event.
  res.flushHeaders();
  let blocked = res.writableLength >= FOLLOWER_BUFFER_BYTES;
  let skipped = 0;
  const unfollow = log.follow((e) => {
    if (agentEventPastUntil(e, sel)) {
      unfollow();
      res.end();
      return;
    }
    if (!agentEventInTime(e, sel)) return;
    if (blocked) {
      skipped++;
      log.countFollowerLoss(1);
      return;
    }
    res.write(line(e));
    if (res.writableLength >= FOLLOWER_BUFFER_BYTES) blocked = true;
  });
  res.on('drain', () => {
    blocked = false;
    if (skipped > 0) {
      res.write(lostEventsLine('hubble_ring_buffer', skipped));
      skipped = 0;
    }
  });
  req.on('close', unfollow);
  res.on('close', unfollow);
}
