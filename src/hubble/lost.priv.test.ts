/**
 * Lost events with a real agent: a REST follower that never reads while
 * pods open connections as fast as they can. Its skipped flows are counted
 * (status and hubble_lost_events_total{source="hubble_ring_buffer"}), the
 * agent's memory stays bounded, and the pipeline keeps up (flows seen grow,
 * other readers are served).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { type ChildProcess, spawn } from 'node:child_process';
import { AgentClient } from '../api/client.js';
import { run } from '../common/exec.js';
import { buildPp } from '../bench/datapath.js';
import { startTestNode, type TestNode } from '../testing/agent.js';
import { requireRoot } from '../testing/names.js';
import { addTestPod, type TestPod } from '../testing/pods.js';

const PORT = 5201;
const rssKiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

describe('lost events, live', () => {
  let node: TestNode;
  const pods: TestPod[] = [];
  let server: ChildProcess | undefined;

  before(async () => {
    requireRoot();
    node = await startTestNode({ podCIDR: '10.244.32.0/24' });
    pods.push(await addTestPod(node, 'lost-server', { app: 'lost-server' }));
    pods.push(await addTestPod(node, 'lost-client', { app: 'lost-client' }));
  });

  after(async () => {
    server?.kill('SIGKILL');
    for (const p of pods.reverse()) await p.remove().catch(() => undefined);
    await node?.stop();
  });

  it('a stuck follower under a TCP_CRR-like flood: its loss is counted, the agent stays bounded and keeps observing', async () => {
    const pp = buildPp();
    const [srv, cli] = pods as [TestPod, TestPod];
    server = spawn('nsenter', [`--net=${srv.netnsPath}`, pp, 'server', '0.0.0.0', String(PORT)], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 300));
    const agent = new AgentClient(node.socket);
    // Warm-up without followers: the agent's heap grows to its working size under load whatever the readers.
    await run('nsenter', [`--net=${cli.netnsPath}`, pp, 'crr', srv.ip, String(PORT), '2'], { timeoutMs: 60_000 });
    const stuck = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get({ socketPath: node.socket, path: '/v1/flows?follow=true&number=0' }, resolve).on('error', reject);
    });
    stuck.pause();
    try {
      const before = await agent.status();
      const rssBefore = rssKiB(node.agentPid);
      await run('nsenter', [`--net=${cli.netnsPath}`, pp, 'crr', srv.ip, String(PORT), '4'], { timeoutMs: 60_000 });
      await new Promise((r) => setTimeout(r, 500));
      const after = await agent.status();
      const rssGrowthMiB = (rssKiB(node.agentPid) - rssBefore) / 1024;

      const seen = after.flows.seen - before.flows.seen;
      assert.ok(seen > 10_000, `the pipeline kept observing: ${seen} flows seen`);
      const lost = after.flows.lostBySource;
      assert.ok(lost, 'status reports lost events per source');
      assert.ok(lost.hubble_ring_buffer > seen / 2, `the stuck follower's skipped flows are counted: ${lost.hubble_ring_buffer} of ${seen}`);
      assert.equal(after.flows.lost, lost.perf_event_ring_buffer + lost.observer_events_queue + lost.hubble_ring_buffer);
      assert.ok(rssGrowthMiB < 100, `after a warm-up, agent RSS grew ${rssGrowthMiB.toFixed(0)} MiB with a stuck follower`);

      // Another reader is served meanwhile, and the metric carries the count.
      const recent = await agent.status();
      assert.ok(recent.flows.current > 0);
      const metrics = await run('nsenter', [`--net=${node.nodeNetnsPath}`, 'curl', '-sS', '--fail', '--max-time', '5', 'http://127.0.0.1:9962/metrics']);
      const m = /^hubble_lost_events_total\{source="hubble_ring_buffer"\} (\d+)$/m.exec(metrics.stdout);
      assert.ok(m, 'hubble_lost_events_total has a hubble_ring_buffer series');
      assert.ok(Number(m[1]) >= lost.hubble_ring_buffer, `metric ${m[1]} >= status ${lost.hubble_ring_buffer}`);
      assert.match(metrics.stdout, /^hubble_lost_events_total\{source="observer_events_queue"\} \d+$/m);
      assert.match(metrics.stdout, /^hubble_lost_events_total\{source="perf_event_ring_buffer"\} \d+$/m);
    } finally {
      stuck.destroy();
    }
  });
});
