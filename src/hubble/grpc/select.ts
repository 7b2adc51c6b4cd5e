/**
 * Which flows a GetFlows request returns, as Hubble decides it. Pure.
 *
 *   - whitelist/blacklist: a flow passes when it matches any whitelist
 *     filter (or there is none) and no blacklist filter;
 *   - since/until: flow time bounds, inclusive;
 *   - number: the last N matching flows of the ring (the first N with
 *     `first`); 0 means all of them, except with `follow` and neither
 *     `since` nor `first`, where it means none: only new flows are sent,
 *     as `hubble observe --follow` expects.
 */
import { type FlowFilter, type FlowPredicate, flowPasses } from '../filter.js';
import type { Flow } from '../flow.js';

export interface FlowSelection {
  number: number;
  first: boolean;
  follow: boolean;
  sinceMs?: number;
  untilMs?: number;
  whitelist?: FlowFilter[];
  blacklist?: FlowFilter[];
}

/** `passes`: the selection's filters compiled once (compileFlowFilters), for a follower that tests every flow. */
export function flowSelected(f: Flow, s: FlowSelection, passes?: FlowPredicate): boolean {
  if (s.sinceMs !== undefined || s.untilMs !== undefined) {
    const t = Date.parse(f.time);
    if (s.sinceMs !== undefined && t < s.sinceMs) return false;
    if (s.untilMs !== undefined && t > s.untilMs) return false;
  }
  return passes ? passes(f) : flowPasses(f, s.whitelist, s.blacklist);
}

/** The flows already in the ring that the request returns, oldest first. */
export function replayedFlows(ring: Iterable<Flow>, s: FlowSelection): Flow[] {
  if (s.follow && s.number === 0 && s.sinceMs === undefined && !s.first) return [];
  const matched: Flow[] = [];
  for (const f of ring) if (flowSelected(f, s)) matched.push(f);
  if (s.number === 0) return matched;
  return s.first ? matched.slice(0, s.number) : matched.slice(-s.number);
}

/** Whether a followed stream is over: the flow is past `until`. */
export function pastUntil(f: Flow, s: FlowSelection): boolean {
  return s.untilMs !== undefined && Date.parse(f.time) > s.untilMs;
}
