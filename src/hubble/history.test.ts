/**
 * Flow history: a replay reaching back past the ring reads the flow log,
 * then goes on with the ring with no duplicate and no gap at the seam,
 * honouring since/until/first/number/filters; a follower misses nothing
 * pushed while the log was read. The ring and the writer are the real ones
 * (a temporary directory), fed as the pipeline feeds them.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Flow } from './flow.js';
import { FlowLogWriter, flowLogLine } from './flowlog.js';
import { type FlowHistorySource, loggedFlows, mergeAtSeam, needsFlowLog, replayFlows, selectFlows } from './history.js';
import { FlowRing } from './ring.js';
import type { FlowSelection } from './grpc/select.js';

const T0 = Date.UTC(2024, 2, 14, 9);

/** Flow n: uuid "f<n>", n ms after T0; DROPPED when n is a multiple of 10. */
function flowN(n: number, over: Partial<Flow> = {}): Flow {
  return {
    time: new Date(T0 + n).toISOString(), uuid: `f${n}`, verdict: n % 10 === 0 ? 'DROPPED' : 'FORWARDED',
    IP: { source: '10.244.1.10', destination: '10.244.1.20', ipVersion: 'IPv4' }, source: { identity: 257 }, destination: { identity: 256 },
    Type: 'L3_L4', node_name: 'node-1', event_type: { type: 5 }, traffic_direction: 'INGRESS', Summary: '', ...over,
  };
}
const at = (n: number) => T0 + n;
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `f${from + i}`);
const uuids = (flows: Flow[]) => flows.map((f) => f.uuid);
const sel = (s: Partial<FlowSelection>): FlowSelection => ({ number: 0, first: false, follow: false, ...s });

async function collect(it: AsyncIterable<Flow>): Promise<Flow[]> {
  const out: Flow[] = [];
  for await (const f of it) out.push(f);
  return out;
}

const root = mkdtempSync(path.join(tmpdir(), 'membrane-history-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;

/** A ring of `capacity` and a flow log (small files: rotation in play), both fed flows 1..count as the pipeline does. */
async function node(capacity: number, count: number, opts: { maxBackups?: number; denylist?: FlowFilterList } = {}) {
  const ring = new FlowRing(capacity);
  const writer = await FlowLogWriter.open({
    path: path.join(root, `d${++dirs}`, 'flows.log'), maxSizeBytes: 40 * 1024, maxBackups: opts.maxBackups ?? 50,
    ...(opts.denylist ? { denylist: opts.denylist } : {}),
  });
  const push = (from: number, to: number) => {
    for (let n = from; n <= to; n++) {
      const f = flowN(n);
      ring.push(f);
      writer.onFlow(f);
    }
  };
  push(1, count);
  await writer.flush();
  const src: FlowHistorySource = { ring, flowLog: writer };
  return { ring, writer, src, push };
}
type FlowFilterList = NonNullable<Parameters<typeof FlowLogWriter.open>[0]['denylist']>;

describe('selectFlows and mergeAtSeam (pure)', () => {
  const flows = Array.from({ length: 10 }, (_, i) => flowN(i + 1));
  it('number 0 is every selected flow; first N stops reading at N; last N keeps the newest N, oldest first', async () => {
    assert.deepEqual(uuids(await collect(selectFlows(flows, sel({})))), range(1, 10));
    assert.deepEqual(uuids(await collect(selectFlows(flows, sel({ number: 3, first: true })))), range(1, 3));
    assert.deepEqual(uuids(await collect(selectFlows(flows, sel({ number: 3 })))), range(8, 10));
    assert.deepEqual(uuids(await collect(selectFlows(flows, sel({ number: 30 })))), range(1, 10));
    assert.deepEqual(uuids(await collect(selectFlows(flows, sel({ number: 2, sinceMs: at(3), untilMs: at(6) })))), ['f5', 'f6']);
    assert.deepEqual(uuids(await collect(selectFlows(flows, sel({ whitelist: [{ verdict: ['DROPPED'] }] })))), ['f10']);
  });

  it('the history ends before the first flow the ring holds, even when times repeat within a millisecond', async () => {
    const same = (n: number) => flowN(n, { time: new Date(at(5)).toISOString() });
    const logged = [flowN(1), flowN(2), same(3), same(4), same(5), same(6), flowN(7)];
    const ring = [same(5), same(6), flowN(7), flowN(8)];
    assert.deepEqual(uuids(await collect(mergeAtSeam(logged, ring))), ['f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7', 'f8']);
  });

  it('stops reading the log at the seam', async () => {
    let read = 0;
    async function* logged() {
      for (let n = 1; n <= 100; n++) {
        read++;
        yield flowN(n);
      }
    }
    await collect(mergeAtSeam(logged(), [flowN(10), flowN(11)]));
    assert.equal(read, 10);
  });
});

describe('replayFlows over the log and the ring', () => {
  it('a since before the ring reads the log up to the ring, then the ring: every flow once, in order', async () => {
    const { src, writer } = await node(50, 2_000);
    const replay = replayFlows(src, sel({ sinceMs: at(0) }));
    assert.deepEqual(uuids(await collect(replay)), range(1, 2_000));
    assert.equal(replay.readsLog, true);
    await writer.close();
  });

  it('honours since, until, first and number across the seam', async () => {
    const { src, writer } = await node(50, 2_000);
    // The ring holds 1951..2000.
    assert.deepEqual(uuids(await collect(replayFlows(src, sel({ sinceMs: at(1_900), untilMs: at(1_960) })))), range(1_900, 1_960));
    assert.deepEqual(uuids(await collect(replayFlows(src, sel({ sinceMs: at(1_940), number: 5, first: true })))), range(1_940, 1_944));
    assert.deepEqual(uuids(await collect(replayFlows(src, sel({ sinceMs: at(1_000), untilMs: at(1_953), number: 5 })))), range(1_949, 1_953));
    assert.deepEqual(uuids(await collect(replayFlows(src, sel({ sinceMs: at(100), untilMs: at(104) })))), range(100, 104));
    assert.deepEqual(uuids(await collect(replayFlows(src, sel({ sinceMs: at(1_930), whitelist: [{ verdict: ['DROPPED'] }] })))),
      ['f1930', 'f1940', 'f1950', 'f1960', 'f1970', 'f1980', 'f1990', 'f2000']);
    await writer.close();
  });

  it('reads only the ring when it reaches back far enough, or has not wrapped and the log holds no earlier run', async () => {
    const wrapped = await node(50, 200);
    assert.equal(needsFlowLog(wrapped.ring, wrapped.writer, sel({ sinceMs: at(160) })), false, 'since within the ring');
    assert.equal(needsFlowLog(wrapped.ring, wrapped.writer, sel({ number: 20 })), false, 'no since');
    assert.equal(needsFlowLog(wrapped.ring, wrapped.writer, sel({ sinceMs: at(140) })), true);
    const unwrapped = await node(500, 200);
    const replay = replayFlows(unwrapped.src, sel({ sinceMs: at(0) }));
    assert.deepEqual(uuids(await collect(replay)), range(1, 200));
    assert.equal(replay.readsLog, false);
    await wrapped.writer.close();
    await unwrapped.writer.close();
  });

  it('after a restart (an empty ring, a log of the earlier run) the history comes from the log, then the new ring', async () => {
    const before = await node(50, 300);
    await before.writer.close();
    const writer = await FlowLogWriter.open({ path: (before.writer.stats.path), maxSizeBytes: 40 * 1024, maxBackups: 50 });
    const ring = new FlowRing(50);
    const src = { ring, flowLog: writer };
    assert.deepEqual(uuids(await collect(replayFlows(src, sel({ sinceMs: at(290) })))), range(290, 300));
    for (let n = 301; n <= 310; n++) {
      ring.push(flowN(n));
      writer.onFlow(flowN(n));
    }
    assert.deepEqual(uuids(await collect(replayFlows(src, sel({ sinceMs: at(295) })))), range(295, 310));
    await writer.close();
  });

  it('includes flows still queued for the disk, and finds the seam when the log leaves some flows out', async () => {
    const { src, writer, push } = await node(20, 300, { denylist: [{ verdict: ['DROPPED'] }] });
    // Queued, not yet written (the writer writes on the next tick).
    push(301, 330);
    const got = uuids(await collect(replayFlows(src, sel({ sinceMs: at(250) }))));
    const expected = range(250, 330).filter((u, i) => i + 250 > 310 || !u.endsWith('0'));
    assert.deepEqual(got, expected, 'logged flows (no DROPPED) up to the ring, then the ring (with them)');
    await writer.close();
  });

  it('skips a file whose first and last flows lie before since, without reading it', async () => {
    const p = path.join(root, `skip${++dirs}.log`);
    // A file whose middle line claims a time in range: it shows whether the file was read.
    const lines = [flowN(1), flowN(50_000, { uuid: 'inside' }), flowN(2)].map(flowLogLine).join('');
    writeFileSync(`${p}.1`, lines);
    writeFileSync(p, [flowN(60_000), flowN(60_001)].map(flowLogLine).join(''));
    const handles = await Promise.all([`${p}.1`, p].map((n) => open(n, 'r')));
    const files = await Promise.all(handles.map(async (handle, i) => ({ name: String(i), handle, size: (await handle.stat()).size })));
    try {
      assert.deepEqual(uuids(await collect(loggedFlows({ files, pending: [] }, { sinceMs: at(40_000) }))), ['f60000', 'f60001']);
      assert.deepEqual(uuids(await collect(loggedFlows({ files, pending: [] }, {}))), ['f1', 'inside', 'f2', 'f60000', 'f60001']);
      assert.deepEqual(uuids(await collect(loggedFlows({ files, pending: [] }, { untilMs: at(10) }))), ['f1', 'inside', 'f2'], 'a file starting after until ends the read');
    } finally {
      for (const h of handles) await h.close();
    }
  });

  it('a follower gets the flows pushed while the log was read, none twice, then follows the ring itself', async () => {
    const { ring, src, writer, push } = await node(30, 500);
    const replay = replayFlows(src, sel({ sinceMs: at(400), follow: true }), 100);
    const got: string[] = [];
    let pushedDuringRead = false;
    for await (const f of replay) {
      got.push(f.uuid);
      if (!pushedDuringRead) {
        // Flows arrive (and wrap the ring) while the replay is being read.
        push(501, 560);
        pushedDuringRead = true;
      }
    }
    const held = replay.takeHeld();
    assert.equal(held.lost, 0);
    got.push(...uuids(held.flows));
    const stop = ring.follow((f) => got.push(f.uuid));
    push(561, 565);
    stop();
    assert.deepEqual(got, range(400, 565));
    await writer.close();
  });

  it('holds at most holdLimit flows for a follower, counting the rest as lost to followers', async () => {
    const { ring, src, writer, push } = await node(30, 100);
    const replay = replayFlows(src, sel({ sinceMs: at(50), follow: true }), 10);
    let pushed = false;
    for await (const _ of replay) {
      if (!pushed) push(101, 125);
      pushed = true;
    }
    const held = replay.takeHeld();
    assert.deepEqual(uuids(held.flows), range(101, 110));
    assert.equal(held.lost, 15);
    assert.equal(ring.lostToFollowers, 15);
    await writer.close();
  });

  it('following without since or a count replays nothing (as GetFlows), and holds from the start', async () => {
    const { src, writer, push } = await node(30, 100);
    const replay = replayFlows(src, sel({ follow: true }));
    assert.deepEqual(await collect(replay), []);
    push(101, 102);
    assert.deepEqual(uuids(replay.takeHeld().flows), ['f101', 'f102']);
    await writer.close();
  });
});
