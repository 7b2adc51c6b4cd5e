/**
 * Control-plane benchmark: what it costs to start and stop pods on a
 * membrane node, against the reference `bridge` + `host-local` CNI plugins
 * in the same run; the agent's memory at 0, 100 and 1,000 endpoints; and an
 * agent restart, with pod traffic running through it. The method is spelled
 * out in controlPlaneParagraph (control-plane-report.ts).
 *
 * Phases, on one test node and one reference node:
 *   1. VERSION calls (the cost of executing each plugin at all);
 *   2. `pods` sequential ADDs per plugin, alternating in batches, then as many DELs;
 *   3. rounds of `pods` ADDs started at once, then their DELs at once;
 *      membrane's last round keeps its pods for
 *   4. RSS and agent restarts with a pod-to-pod probe, before its DELs;
 *   5. `largeEndpoints` endpoints through the API: RSS, restarts.
 * Everything made (netns, links, bridge, host-local dir, processes, the
 * agent) is removed in `finally`, after a failure too.
 */
import { dirname } from 'node:path';
import { AgentClient } from '../api/client.js';
import { MEMBRANE_CNI_BIN, startTestNode, type TestNode } from '../testing/agent.js';
import { uniqueName } from '../testing/names.js';
import { PodNetnsSet, netnsPath, referencePluginsVersion, startReferenceNode, timedCni, type CniCall, type CniTarget, type ReferenceNode } from './control-plane-cni.js';
import { benchContainerId, membraneNetConf } from './control-plane-config.js';
import { addApiEndpoints, agentRssMb, allReady, endpointReady, nowMs, pollEndpoints, sleep } from './control-plane-endpoints.js';
import { startProbe, type Probe } from './control-plane-probe.js';
import { measureRestart } from './control-plane-restart.js';
import type { ConcurrentRun, ControlPlaneResult, PluginLatency, RestartRun, RssPoint } from './control-plane-result.js';
import { policyText } from './policy.js';

export { controlPlaneParagraph, controlPlaneSeries, cniAddSeries, formatControlPlaneTables, type Series } from './control-plane-report.js';
export type { ControlPlaneResult } from './control-plane-result.js';

export interface ControlPlaneBenchOptions {
  log: (line: string) => void;
  /** Pods per plugin, sequential and concurrent. Default 100. */
  pods?: number;
  /** Sequential calls per plugin before switching to the other. Default 10. */
  batch?: number;
  /** Rounds of `pods` concurrent ADDs (and DELs) per plugin. Default 3. */
  concurrentRounds?: number;
  /** Endpoints (through the API) for the largest memory and restart point; 0 leaves it out. Default 1,000. */
  largeEndpoints?: number;
  /** Agent restarts at each size. Default 3. */
  restartReps?: number;
  /** VERSION calls per plugin. Default 20. */
  versionCalls?: number;
  /** Wait before reading RSS. Default 2,000 ms. */
  settleMs?: number;
}

/** membrane's pod CIDR (room for the largest size) and the reference's pool: each in its own node netns. */
const MEMBRANE_POD_CIDR = '10.252.0.0/20';
const REFERENCE_SUBNET = '10.251.0.0/16';
/** One rule per group: group g_i lets g_(7i+3 mod 20) in on TCP 1000+i (policy.ts's policyText). */
const POLICY_RULES = 20;
const GROUPS = 20;
const labelsOf = (i: number) => ({ app: `g${i % GROUPS}` });
/** Probe pods: pod 0 (g0) serves on 1000, which rule 0 opens to g3, i.e. pod 3. */
const PROBE = { server: 0, client: 3, port: 1000 } as const;

interface Plugin {
  /** One letter for names: container ids and pod netns. */
  letter: 'm' | 'b';
  target: CniTarget;
  latency: PluginLatency;
  /** Before ADD (untimed): what the orchestrator tells the node about the pod. */
  prepare(i: number, podName: string): Promise<void>;
  /** After DEL (untimed). */
  forget(podNames: string[]): Promise<void>;
  args(podName: string): Record<string, string> | undefined;
}

export async function benchControlPlane(opts: ControlPlaneBenchOptions): Promise<ControlPlaneResult> {
  const started = nowMs();
  const pods = opts.pods ?? 100;
  const batch = opts.batch ?? 10;
  const rounds = opts.concurrentRounds ?? 3;
  const largest = opts.largeEndpoints ?? 1000;
  const restartReps = opts.restartReps ?? 3;
  const settleMs = opts.settleMs ?? 2000;
  const log = opts.log;
  if (!(pods >= 1 && batch >= 1 && rounds >= 1 && restartReps >= 1)) {
    throw new RangeError(`benchControlPlane: pods, batch, concurrentRounds and restartReps must be at least 1 (got ${pods}, ${batch}, ${rounds}, ${restartReps})`);
  }
  const phasesMs: Record<string, number> = {};
  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t = nowMs();
    try {
      return await fn();
    } finally {
      phasesMs[name] = nowMs() - t;
    }
  };

  const tag = uniqueName('cp');
  const netns = new PodNetnsSet();
  let node: TestNode | undefined;
  let ref: ReferenceNode | undefined;
  let probe: Probe | undefined;
  try {
    const referenceVersion = await phase('set-up', async () => {
      node = await startTestNode({ name: uniqueName('cpn'), podCIDR: MEMBRANE_POD_CIDR });
      ref = await startReferenceNode(REFERENCE_SUBNET);
      return referencePluginsVersion();
    });
    const n = node!;
    const agent = new AgentClient(n.socket, 600_000);
    await agent.putNamespace({ name: 'default', labels: { 'kubernetes.io/metadata.name': 'default' } });
    await agent.importPolicies({ text: policyText(POLICY_RULES) });
    const rss: RssPoint[] = [];
    const measureRss = async (endpoints: number, how: string, afterRestart: boolean) => {
      await sleep(settleMs);
      const mb = agentRssMb(n.agentPid);
      const heap = (await agent.status()).memory;
      rss.push({ endpoints, how, afterRestart, mb, ...(heap ? { heapUsedMb: heap.heapUsedMiB, heapTotalMb: heap.heapTotalMiB } : {}) });
      log(`control-plane: agent RSS ${mb} MB at ${endpoints} endpoints, ${how}${heap ? `, heap ${heap.heapUsedMiB}/${heap.heapTotalMiB} MiB` : ''}`);
    };
    await measureRss(0, 'none (a fresh agent)', false);

    const membrane: Plugin = {
      letter: 'm',
      target: { label: 'membrane', plugin: MEMBRANE_CNI_BIN, config: membraneNetConf(n.socket), path: [dirname(MEMBRANE_CNI_BIN)], runtimeNetns: n.nodeNetnsPath },
      latency: { label: 'membrane', add: [], del: [], version: [] },
      prepare: (i, podName) => agent.putPod({ namespace: 'default', name: podName, labels: labelsOf(i), serviceAccount: 'default', containerPorts: [] }),
      forget: async (names) => { await Promise.all(names.map((p) => agent.deletePod('default', p))); },
      args: (podName) => ({ IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: podName }),
    };
    const reference: Plugin = {
      letter: 'b',
      target: ref!.target,
      latency: { label: ref!.target.label, add: [], del: [], version: [] },
      prepare: async () => undefined,
      forget: async () => undefined,
      args: () => undefined,
    };
    const both = [membrane, reference];
    /** The two plugins, the first one alternating with `k`. */
    const alternate = (k: number) => (k % 2 === 0 ? both : [reference, membrane]);
    /** Pod i of `kind` (a phase: "s", "c0", ...) has netns `nsName` and container id benchContainerId. */
    const nsName = (p: Plugin, kind: string, i: number) => `${tag}-${p.letter}${kind}-${i}`;
    const nsNames = (p: Plugin, kind: string, count: number) => Array.from({ length: count }, (_, i) => nsName(p, kind, i));
    const call = (p: Plugin, kind: string, i: number, podName: string): CniCall => {
      const args = p.args(podName);
      return { containerId: benchContainerId(tag, `${p.letter}${kind}`, i), netns: netnsPath(nsName(p, kind, i)), ...(args ? { args } : {}) };
    };

    await phase('version', async () => {
      for (let k = 0; k < (opts.versionCalls ?? 20); k++) for (const p of alternate(k)) p.latency.version.push(await timedCni(p.target, 'VERSION'));
    });

    await phase('sequential', async () => {
      for (const p of both) await netns.add(nsNames(p, 's', pods));
      for (const command of ['ADD', 'DEL'] as const) {
        for (let from = 0, k = 0; from < pods; from += batch, k++) {
          for (const p of alternate(k)) {
            for (let i = from; i < Math.min(pods, from + batch); i++) {
              const podName = `s${i}`;
              if (command === 'ADD') await p.prepare(i, podName);
              (command === 'ADD' ? p.latency.add : p.latency.del).push(await timedCni(p.target, command, call(p, 's', i, podName)));
            }
          }
        }
        log(`control-plane: ${pods} sequential ${command}s per plugin done`);
      }
      for (const p of both) {
        await p.forget(Array.from({ length: pods }, (_, i) => `s${i}`));
        await netns.remove(nsNames(p, 's', pods));
      }
    });

    /** `pods` ADDs of `p` at once; kind names the round. Resolves with the times and the container ids. */
    const concurrentAdd = async (p: Plugin, kind: string) => {
      const podNames = Array.from({ length: pods }, (_, i) => `${kind}x${i}`);
      await netns.add(nsNames(p, kind, pods));
      for (let i = 0; i < pods; i++) await p.prepare(i, podNames[i]!);
      const calls = podNames.map((name, i) => call(p, kind, i, name));
      const ids = new Set(calls.map((c) => c.containerId));
      const t0 = nowMs();
      await Promise.all(calls.map((c) => timedCni(p.target, 'ADD', c)));
      const addsReturnedMs = nowMs() - t0;
      const readyMs = p === membrane
        ? (await pollEndpoints(agent, `${pods} concurrent pods ready`, (eps, rev) => allReady(ids, eps, rev))) - t0
        : addsReturnedMs;
      return { addsReturnedMs, readyMs, calls, ids, podNames };
    };

    type Added = Awaited<ReturnType<typeof concurrentAdd>>;
    const concurrent: { membrane: ConcurrentRun[]; reference: ConcurrentRun[] } = { membrane: [], reference: [] };
    /** The round's `pods` DELs at once, then the round's result. */
    const concurrentDel = async (p: Plugin, kind: string, add: Added, round: number): Promise<void> => {
      const t0 = nowMs();
      await Promise.all(add.calls.map((c) => timedCni(p.target, 'DEL', c)));
      const delMs = (p === membrane
        ? await pollEndpoints(agent, `${pods} concurrent pods gone`, (eps) => !eps.some((e) => add.ids.has(e.containerId)))
        : nowMs()) - t0;
      await p.forget(add.podNames);
      await netns.remove(nsNames(p, kind, pods));
      const run = { addsReturnedMs: add.addsReturnedMs, readyMs: add.readyMs, delMs };
      (p === membrane ? concurrent.membrane : concurrent.reference).push(run);
      log(`control-plane: round ${round + 1}/${rounds} ${p.target.label}: ${pods} ADDs at once returned in ${Math.round(run.addsReturnedMs)} ms, ` +
        `ready in ${Math.round(run.readyMs)} ms; DELs done in ${Math.round(delMs)} ms`);
    };

    // membrane's pods of the last round stay for the memory and restart measurements; their DELs come after those.
    let kept: { add: Added; kind: string } | undefined;
    await phase('concurrent', async () => {
      for (let r = 0; r < rounds; r++) {
        for (const p of alternate(r)) {
          const kind = `c${r}`;
          const add = await concurrentAdd(p, kind);
          if (p === membrane && r === rounds - 1) kept = { add, kind };
          else await concurrentDel(p, kind, add, r);
        }
      }
    });

    const restarts: RestartRun[] = [];
    const restart = async (endpoints: number, withProbe: boolean): Promise<void> => {
      for (let k = 0; k < restartReps; k++) {
        const run = await measureRestart(n, agent, endpoints, withProbe ? probe : undefined);
        restarts.push(run);
        log(`control-plane: restart with ${endpoints} endpoints: stopped in ${Math.round(run.stopMs)} ms, healthz after ${Math.round(run.healthzMs)} ms, ` +
          `all ready after ${Math.round(run.restoredMs)} ms${run.probe ? `; probe ${JSON.stringify(run.probe)}` : ''}`);
      }
    };

    await phase(`${pods} CNI pods`, async () => {
      const { add, kind } = kept!;
      await measureRss(pods, `${pods} CNI pods`, false);
      if (pods > Math.max(PROBE.server, PROBE.client)) {
        const eps = await agent.listEndpoints();
        const ipOf = (i: number) => eps.find((e) => e.containerId === add.calls[i]!.containerId)!.ipv4;
        probe = await startProbe({ serverNetns: add.calls[PROBE.server]!.netns, clientNetns: add.calls[PROBE.client]!.netns, serverIp: ipOf(PROBE.server), port: PROBE.port });
      }
      await restart(pods, true);
      probe?.stop();
      await measureRss(pods, `${pods} CNI pods, after a restart`, true);
      await concurrentDel(membrane, kind, add, rounds - 1);
    });

    let apiEndpoints = { count: 0, ms: 0 };
    if (largest > 0) {
      await phase(`${largest} API endpoints`, async () => {
        const t0 = nowMs();
        await addApiEndpoints({ agent, nodeNetns: n.nodeNetns, tag, from: 0, count: largest, parallel: 4, labels: labelsOf });
        await pollEndpoints(agent, `${largest} endpoints ready`, (eps, rev) => eps.length === largest && eps.every((e) => endpointReady(e, rev)));
        apiEndpoints = { count: largest, ms: nowMs() - t0 };
        log(`control-plane: ${largest} endpoints added through the API in ${Math.round(apiEndpoints.ms)} ms`);
        const how = `${largest.toLocaleString('en-US')} through the API`;
        await measureRss(largest, how, false);
        await restart(largest, false);
        await measureRss(largest, `${how}, after a restart`, true);
      });
    }

    return {
      pods, batch, membrane: membrane.latency, reference: reference.latency, referenceVersion,
      concurrent, rss, restarts, apiEndpoints,
      settleMs, policyRules: POLICY_RULES, wallMs: nowMs() - started, phasesMs,
    };
  } finally {
    probe?.stop();
    await netns.removeAll();
    await ref?.remove();
    await node?.stop();
  }
}
