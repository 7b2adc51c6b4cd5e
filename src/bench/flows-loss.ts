/**
 * Events lost under load: a sustained TCP_CRR-like load between two lab
 * pods on one membrane node (`bench/pp.c crr`, client and server pinned to
 * CPU 0), with two REST followers of `/v1/flows?follow=true`: one reading
 * as fast as it can (like `membrane observe -f`), one paused throughout (a
 * stuck client). The agent's status before and after gives the events lost
 * per source; the share lost is of every event the datapath emitted.
 */
import http from 'node:http';
import { type ChildProcess, spawn } from 'node:child_process';
import { AgentClient } from '../api/client.js';
import type { StatusModel } from '../api/types.js';
import { run } from '../common/exec.js';
import { startTestNode } from '../testing/agent.js';
import { addTestPod, type TestPod } from '../testing/pods.js';
import { buildPp } from './datapath.js';

const PORT = 5201;

export interface FlowLossResult {
  secs: number;
  connections: number;
  /** Flows that entered the ring during the load. */
  flowsSeen: number;
  lost: { perf_event_ring_buffer: number; observer_events_queue: number; hubble_ring_buffer: number };
  /** Kernel ring + pipeline queue losses over every event the datapath emitted (flows seen + those lost). */
  eventShareLost: number;
  /** Lines the fast follower read (flows and lost_events lines). */
  fastFollowerLines: number;
  /** Lost events the fast follower was told of. */
  fastFollowerLost: number;
}

function follow(socket: string, paused: boolean): { stop: () => void; lines: () => number; lost: () => number } {
  let lines = 0;
  let lost = 0;
  let partial = '';
  const req = http.get({ socketPath: socket, path: '/v1/flows?follow=true&number=0' }, (res) => {
    if (paused) {
      res.pause();
      return;
    }
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop()!;
      for (const l of parts) {
        lines++;
        if (l.startsWith('{"lost_events"')) lost += (JSON.parse(l) as { lost_events: { num_events_lost: number } }).lost_events.num_events_lost;
      }
    });
  });
  req.on('error', () => undefined);
  return { stop: () => req.destroy(), lines: () => lines, lost: () => lost };
}

const lostOf = (s: StatusModel) => s.flows.lostBySource ?? { perf_event_ring_buffer: s.flows.lost, observer_events_queue: 0, hubble_ring_buffer: 0 };

export async function benchFlowLoss(opts: { secs: number; log: (l: string) => void }): Promise<FlowLossResult> {
  const pp = buildPp();
  const node = await startTestNode({ podCIDR: '10.244.21.0/24' });
  const pods: TestPod[] = [];
  let server: ChildProcess | undefined;
  const followers: { stop: () => void }[] = [];
  try {
    const srv = await addTestPod(node, 'loss-server', { app: 'loss-server' });
    pods.push(srv);
    const cli = await addTestPod(node, 'loss-client', { app: 'loss-client' });
    pods.push(cli);
    server = spawn('nsenter', [`--net=${srv.netnsPath}`, 'taskset', '-c', '0', pp, 'server', '0.0.0.0', String(PORT)], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 500));
    const agent = new AgentClient(node.socket);
    const fast = follow(node.socket, false);
    const stuck = follow(node.socket, true);
    followers.push(fast, stuck);
    await new Promise((r) => setTimeout(r, 300));
    const before = await agent.status();
    const res = await run('nsenter', [`--net=${cli.netnsPath}`, 'taskset', '-c', '0', pp, 'crr', srv.ip, String(PORT), String(opts.secs)], { timeoutMs: (opts.secs + 30) * 1000 });
    const m = /= (\d+) conn\/s/.exec(res.stdout);
    if (!m) throw new Error(`pp crr printed no rate: ${res.stdout} ${res.stderr}`);
    await new Promise((r) => setTimeout(r, 1000)); // the pipeline and the fast follower catch up
    const after = await agent.status();
    const lb = lostOf(before);
    const la = lostOf(after);
    const lost = {
      perf_event_ring_buffer: la.perf_event_ring_buffer - lb.perf_event_ring_buffer,
      observer_events_queue: la.observer_events_queue - lb.observer_events_queue,
      hubble_ring_buffer: la.hubble_ring_buffer - lb.hubble_ring_buffer,
    };
    const flowsSeen = after.flows.seen - before.flows.seen;
    const eventsLost = lost.perf_event_ring_buffer + lost.observer_events_queue;
    const out: FlowLossResult = {
      secs: opts.secs, connections: Number(m[1]) * opts.secs, flowsSeen, lost,
      eventShareLost: eventsLost / Math.max(1, flowsSeen + eventsLost), fastFollowerLines: fast.lines(), fastFollowerLost: fast.lost(),
    };
    opts.log(`loss under CRR load: ${JSON.stringify(out)}`);
    return out;
  } finally {
    for (const f of followers) f.stop();
    server?.kill('SIGKILL');
    for (const p of pods.reverse()) await p.remove().catch(() => undefined);
    await node.stop();
  }
}

export function formatFlowLoss(r: FlowLossResult): string {
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  return [
    '| TCP_CRR-like load | connections | flows seen | lost: kernel ring (perf_event_ring_buffer) | lost: pipeline queue (observer_events_queue) | share of events lost | lost by followers (hubble_ring_buffer: the stuck follower and the fast one) | fast follower: lines read, of which lost told |',
    '|---|---|---|---|---|---|---|---|',
    `| ${r.secs} s | ${n(r.connections)} | ${n(r.flowsSeen)} | ${n(r.lost.perf_event_ring_buffer)} | ${n(r.lost.observer_events_queue)} | ${(100 * r.eventShareLost).toFixed(3)}% | ${n(r.lost.hubble_ring_buffer)} | ${n(r.fastFollowerLines)}, ${n(r.fastFollowerLost)} |`,
  ].join('\n');
}

export function flowLossParagraph(): string {
  return 'Events lost under load, live: a TCP_CRR-like load (`bench/pp.c crr`: connect, 1 byte each way, RST close; client and server pinned to CPU 0) ' +
    'between two pods on one membrane node (agent with its defaults, no policy), while two REST followers stream `/v1/flows?follow=true`: ' +
    'one reads as fast as it can, one never reads (a stuck client). Lost counts are the agent\'s status (`flows.lostBySource`) after minus before; ' +
    'the share lost is of every event the datapath emitted (flows seen + events lost in the kernel ring or the pipeline queue). ' +
    'The stuck follower costs only its own skipped flows (counted as hubble_ring_buffer), never memory or the other readers\' flows.';
}
