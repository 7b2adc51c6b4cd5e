/**
 * One agent restart, timed: SIGTERM by pid until the agent exited, then the
 * new process started on the same state dir and pinned maps until it
 * answers /v1/healthz and until it lists every endpoint ready again. With a
 * probe, the pod traffic it saw from SIGTERM until 1.1 s after that.
 */
import { AgentClient } from '../api/client.js';
import type { TestNode } from '../testing/agent.js';
import { endpointReady, nowMs, pollEndpoints, sleep } from './control-plane-endpoints.js';
import { probeDelta, type Probe } from './control-plane-probe.js';
import type { RestartRun } from './control-plane-result.js';

export async function measureRestart(node: TestNode, agent: AgentClient, endpoints: number, probe?: Probe): Promise<RestartRun> {
  const before = probe ? await probe.counts() : undefined;
  const tStop = nowMs();
  await node.killAgent('SIGTERM');
  const stopMs = nowMs() - tStop;

  const t0 = nowMs();
  const restarting = node.restartAgent();
  // Our own 10 ms poll: restartAgent polls every 100 ms. Its promise still
  // tells us when the agent died instead of becoming ready.
  let died: unknown;
  restarting.catch((err: unknown) => { died = err; });
  const poll = new AgentClient(node.socket, 1_000);
  let healthzAt: number | undefined;
  while (healthzAt === undefined) {
    if (died !== undefined) throw died;
    if (await poll.healthz().then((h) => h.ok, () => false)) healthzAt = nowMs();
    else await sleep(10);
  }
  await restarting;
  const restoredAt = await pollEndpoints(agent, `${endpoints} endpoints restored after a restart`,
    (eps, rev) => eps.length === endpoints && eps.every((e) => endpointReady(e, rev)));

  const run: RestartRun = { endpoints, stopMs, healthzMs: healthzAt - t0, restoredMs: restoredAt - t0 };
  if (probe && before) {
    // The probe gives a new connection 1 s before calling it failed: wait that out.
    await sleep(1_100);
    run.probe = probeDelta(before, await probe.counts());
  }
  return run;
}
