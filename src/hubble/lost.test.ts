/**
 * Nothing unbounded: a follower that stops reading while the pipeline is
 * flooded costs counted flows (HUBBLE_RING_BUFFER), never memory or a
 * stalled pipeline, and learns how many it missed from a lost_events line.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Agent } from '../agent/agent.js';
import { ApiServer } from '../api/server.js';
import type { StatusModel } from '../api/types.js';
import { syntheticPipeline } from '../bench/flows.js';
import { formatStatus } from '../cli/format.js';
import { lostEventsLine, totalLost } from './lost.js';
import { FlowObserver } from './observer.js';

const tick = () => new Promise((r) => setImmediate(r));
/** Live heap after a full collection: what is retained, not garbage awaiting a collection. */
function retainedHeap(): number {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
  return process.memoryUsage().heapUsed;
}

describe('lost events', () => {
  it('are counted per source: the kernel\'s and the queue\'s through readers, the followers\' by the ring', () => {
    const syn = syntheticPipeline(30, 16);
    const observer = new FlowObserver(64, () => syn.ctx);
    assert.deepEqual(observer.lostEvents(), { perf_event_ring_buffer: 0, observer_events_queue: 0, hubble_ring_buffer: 0 });
    observer.lostCounters.perfEventRingBuffer = () => 5;
    observer.lostCounters.observerEventsQueue = () => 7;
    observer.ring.countFollowerLoss(3);
    observer.ring.countFollowerLoss(1);
    const lost = observer.lostEvents();
    assert.deepEqual(lost, { perf_event_ring_buffer: 5, observer_events_queue: 7, hubble_ring_buffer: 4 });
    assert.equal(totalLost(lost), 16);
  });

  it('print as Hubble\'s JSON output shows them', () => {
    assert.equal(lostEventsLine('hubble_ring_buffer', 42), '{"lost_events":{"source":"HUBBLE_RING_BUFFER","num_events_lost":42}}\n');
  });

  it('show in status per source', () => {
    const flows: StatusModel['flows'] = { current: 10, max: 4095, seen: 99, lost: 6, lostBySource: { perf_event_ring_buffer: 1, observer_events_queue: 2, hubble_ring_buffer: 3 } };
    const s = { node: 'n', version: 'v', uptimeSeconds: 1, datapath: { pinnedDir: '/x', programsAttached: 0, adopted: false },
      ipam: { podCIDR: '10.0.0.0/24', allocated: 0, capacity: 254 }, endpoints: 0, identities: 0, policyRevision: 1,
      lastRegeneration: { written: 0, deleted: 0, endpoints: 0, resolutions: 0, groups: 0, endpointsSynced: 0 }, flows } satisfies StatusModel;
    assert.match(formatStatus(s), /^Flows: +Current\/Max Flows: 10\/4095 \(0\.24%\), seen 99, lost 6 \(perf_event_ring_buffer 1, observer_events_queue 2, hubble_ring_buffer 3\)$/m);
  });

  it('a paused REST follower under a flood: loss counted and reported, memory bounded, the pipeline never waits', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'membrane-lost-'));
    const socket = path.join(dir, 'api.sock');
    const syn = syntheticPipeline(300, 1024);
    const observer = new FlowObserver(4095, () => syn.ctx);
    const server = new ApiServer({ ring: observer.ring, flushFlows: async () => undefined } as unknown as Agent, socket, () => undefined);
    await server.listen();
    let res: http.IncomingMessage | undefined;
    try {
      res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        http.get({ socketPath: socket, path: '/v1/flows?follow=true&number=0' }, resolve).on('error', reject);
      });
      res.pause();
      await tick();

      // The flood: 300 batches of 1,024 events (≈ 330,000 flows, ≈ 300 MB of JSON had they been buffered).
      const heapBefore = retainedHeap();
      let longestBatchMs = 0;
      for (let b = 0; b < 300; b++) {
        const t0 = performance.now();
        observer.onRecords(syn.records, syn.count);
        longestBatchMs = Math.max(longestBatchMs, performance.now() - t0);
        if (b % 10 === 0) await tick(); // let the socket push back as it would between ring buffer batches
      }
      const heapGrowth = retainedHeap() - heapBefore;
      const lost = observer.lostEvents().hubble_ring_buffer;
      assert.ok(observer.ring.seen > 300_000, `flows seen: ${observer.ring.seen}`);
      assert.ok(lost > observer.ring.seen * 0.9, `a paused reader misses nearly every flow: ${lost} of ${observer.ring.seen} counted lost`);
      assert.ok(heapGrowth < 64 * 2 ** 20, `heap grew ${(heapGrowth / 2 ** 20).toFixed(0)} MiB: the follower was buffered`);
      assert.ok(longestBatchMs < 2000, `a batch took ${longestBatchMs.toFixed(0)} ms`);

      // The reader resumes: it gets what was sent, then one line with the count of what it missed.
      const lines: string[] = [];
      let partial = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const parts = (partial + chunk).split('\n');
        partial = parts.pop()!;
        lines.push(...parts);
      });
      res.resume();
      const deadline = Date.now() + 10_000;
      let reported = 0;
      while (Date.now() < deadline) {
        reported = lines.filter((l) => l.startsWith('{"lost_events"')).reduce((n, l) => n + (JSON.parse(l) as { lost_events: { num_events_lost: number } }).lost_events.num_events_lost, 0);
        if (reported === lost) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(reported, lost, 'the lost_events lines add up to the counted loss');
      const flowLines = lines.filter((l) => !l.startsWith('{"lost_events"'));
      assert.equal(flowLines.length + lost, observer.ring.seen, 'every flow was either sent or counted lost');
      const lostLine = lines.find((l) => l.startsWith('{"lost_events"'))!;
      assert.equal(JSON.parse(lostLine).lost_events.source, 'HUBBLE_RING_BUFFER');
    } finally {
      res?.destroy();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
