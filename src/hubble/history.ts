/**
 * Flow history beyond the ring: the replay of a flows request (REST
 * GET /v1/flows, gRPC GetFlows) over the node's on-disk flow log and then
 * its recent-flow ring, with one selection (src/hubble/grpc/select.ts).
 *
 * The log is read only when the request reaches back past the ring: its
 * `since` is older than the ring's oldest flow, and the ring has wrapped or
 * the log holds flows of an earlier run of the agent. Then:
 *
 *   1. At one instant (the writer paused between two writes) the ring is
 *      copied, the queued-but-unwritten flows too, and the log files are
 *      opened with the current one's size noted: later writes and
 *      rotations do not change what this replay reads.
 *   2. Files are read oldest first, line by line; a file whose flows all
 *      lie before `since` or after `until` (by its first and last lines) is
 *      skipped unread.
 *   3. The seam: the log and the ring list flows in the same order (both
 *      are fed by the pipeline in turn), and the ring holds the newest
 *      flows. So the history is every logged flow before the first one the
 *      ring copy also holds (by uuid: times repeat within a millisecond),
 *      and the replay goes on with the ring copy. No duplicate, no gap
 *      (except flows the log dropped or filtered out).
 *
 * The selection (whitelist, blacklist, since, until, first/last number)
 * applies to the merged sequence; `--last N` keeps only N flows in memory.
 *
 * A following request must see every flow pushed after the replay's copy
 * of the ring, although the replay is asynchronous: the replay holds them
 * (bounded; past the bound they are counted as lost, as a slow follower's)
 * until the caller takes them with `takeHeld()` and follows the ring itself,
 * in the same tick.
 */
import type { Flow } from './flow.js';
import type { FlowLogSnapshot } from './flowlog.js';
import { fileTimeRange, flowsOfFile } from './flowlog-read.js';
import type { FlowRing } from './ring.js';
import { type FlowSelection, flowSelected, replayedFlows } from './grpc/select.js';

/** Out-of-order tolerance when skipping a file by its first/last times: events of different CPUs reach the log slightly out of order. */
const SKIP_SLACK_MS = 1_000;

/** What the replay reads the log through (a FlowLogWriter). */
export interface FlowLogSource {
  /** Whether the log held flows when the agent started (written by an earlier run). */
  readonly startedOnEarlierFlows: boolean;
  snapshot<T>(atSeam: () => T): Promise<FlowLogSnapshot<T>>;
}

export interface FlowHistorySource {
  readonly ring: FlowRing;
  /** The node's flow log, when the agent exports one. */
  readonly flowLog?: FlowLogSource | undefined;
}

/** Flows pushed to the ring while a following request's replay was read. */
export interface HeldFlows {
  flows: Flow[];
  /** Flows past the hold's bound, not kept (already counted on the ring as lost to followers). */
  lost: number;
}

export interface FlowReplay extends AsyncIterable<Flow> {
  /** Whether the replay reads the flow log (decided on the first read). */
  readonly readsLog: boolean;
  /**
   * For a following request, after the iteration: the flows pushed to the
   * ring since the replay's copy of it, in order and unfiltered. Stops
   * holding; follow the ring in the same tick to miss nothing.
   */
  takeHeld(): HeldFlows;
  /** Stops holding (a request that ends early); the iteration's own cleanup runs when it ends. */
  close(): void;
}

/** Whether a request reaches back past the ring into the log. */
export function needsFlowLog(ring: FlowRing, log: FlowLogSource | undefined, s: FlowSelection): boolean {
  if (!log || s.sinceMs === undefined) return false;
  if (ring.seen <= ring.size && !log.startedOnEarlierFlows) return false;
  const oldest = ring.values().next();
  return oldest.done === true || s.sinceMs < Date.parse(oldest.value.time);
}

/**
 * The replay of one request, oldest first: see the file's doc. `holdLimit`
 * bounds the flows held for a follower (default the ring's capacity: a
 * follower may lag by up to a ring, as in Hubble).
 */
export function replayFlows(src: FlowHistorySource, s: FlowSelection, holdLimit = src.ring.capacity): FlowReplay {
  const ring = src.ring;
  let held: Flow[] = [];
  let lost = 0;
  let unfollow: (() => void) | undefined;
  let readsLog = false;
  const hold = () => {
    if (!s.follow || unfollow) return;
    unfollow = ring.follow((f) => {
      if (held.length < holdLimit) {
        held.push(f);
        return;
      }
      lost++;
      ring.countFollowerLoss(1);
    });
  };
  const stop = () => {
    unfollow?.();
    unfollow = undefined;
  };

  async function* iterate(): AsyncGenerator<Flow> {
    // Following from now only (Hubble's `--follow` without a count): nothing to replay.
    if (s.follow && s.number === 0 && s.sinceMs === undefined && !s.first) {
      hold();
      return;
    }
    const log = src.flowLog;
    if (!needsFlowLog(ring, log, s)) {
      hold();
      yield* replayedFlows(ring.values(), s);
      return;
    }
    readsLog = true;
    const snap = await log!.snapshot(() => {
      hold();
      return [...ring.values()];
    });
    try {
      yield* selectFlows(mergeAtSeam(loggedFlows(snap, s), snap.value), s);
    } finally {
      await snap.release();
    }
  }

  const iterator = iterate();
  return {
    get readsLog() { return readsLog; },
    [Symbol.asyncIterator]: () => iterator,
    takeHeld() {
      stop();
      const out = { flows: held, lost };
      held = [];
      lost = 0;
      return out;
    },
    close: stop,
  };
}

/** The logged flows of a snapshot in order: its files (those that may hold flows in since/until), then the queued flows. */
export async function* loggedFlows(snap: Pick<FlowLogSnapshot<unknown>, 'files' | 'pending'>, s: Pick<FlowSelection, 'sinceMs' | 'untilMs'>): AsyncGenerator<Flow> {
  for (const file of snap.files) {
    const range = await fileTimeRange(file.handle, file.size);
    if (s.sinceMs !== undefined && range.lastMs !== undefined && range.lastMs < s.sinceMs - SKIP_SLACK_MS) continue;
    // Every later file is newer still: nothing more of the log is in range (the ring still may be, for the seam it is not).
    if (s.untilMs !== undefined && range.firstMs !== undefined && range.firstMs > s.untilMs + SKIP_SLACK_MS) return;
    yield* flowsOfFile(file.handle, file.size);
  }
  yield* snap.pending;
}

/**
 * The logged flows that are older than the ring copy (those before the
 * first flow the ring also holds), then the ring copy. Pure but for reading
 * `logged`; stops reading it at the seam.
 */
export async function* mergeAtSeam(logged: AsyncIterable<Flow> | Iterable<Flow>, ring: Flow[]): AsyncGenerator<Flow> {
  const inRing = new Set<string>();
  for (const f of ring) inRing.add(f.uuid);
  for await (const f of logged) {
    if (inRing.has(f.uuid)) break;
    yield f;
  }
  yield* ring;
}

/**
 * The request's selection over a sequence of flows, oldest first:
 * whitelist/blacklist and since/until on each, then the first N (stops
 * reading there), the last N (keeps N in memory) or all (number 0).
 */
export async function* selectFlows(flows: AsyncIterable<Flow> | Iterable<Flow>, s: FlowSelection): AsyncGenerator<Flow> {
  if (s.number === 0) {
    for await (const f of flows) if (flowSelected(f, s)) yield f;
    return;
  }
  if (s.first) {
    let n = 0;
    for await (const f of flows) {
      if (!flowSelected(f, s)) continue;
      yield f;
      if (++n >= s.number) return;
    }
    return;
  }
  // The last N: a ring of N (a huge N from an "all" request only grows with what matches).
  const last: Flow[] = [];
  let next = 0;
  for await (const f of flows) {
    if (!flowSelected(f, s)) continue;
    if (last.length < s.number) last.push(f);
    else {
      last[next] = f;
      next = (next + 1) % s.number;
    }
  }
  for (let i = 0; i < last.length; i++) yield last[(next + i) % last.length]!;
}
