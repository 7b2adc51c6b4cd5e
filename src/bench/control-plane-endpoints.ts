/**
 * The agent side of the control-plane benchmark: when endpoints count as
 * ready, and endpoints made straight through the agent's API (a host-side
 * veth each, no pod netns or process) for the sizes where creating pods
 * through the CNI plugin one by one would take minutes.
 */
import { readFileSync } from 'node:fs';
import type { AgentClient } from '../api/client.js';
import type { EndpointModel } from '../api/types.js';
import { run } from '../common/exec.js';
import { vethNames } from '../cni/veth.js';
import { parseVmRssKb, kbToMb } from './control-plane-stats.js';

/** The agent's resident memory now (VmRSS), MB. */
export function agentRssMb(pid: number): number {
  return kbToMb(parseVmRssKb(readFileSync(`/proc/${pid}/status`, 'utf8')));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/**
 * Ready as the agent reports it: state `ready`, and the endpoint's realized
 * policy revision at least the repository's, i.e. its policy is in the kernel.
 */
export function endpointReady(ep: EndpointModel, policyRevision: number): boolean {
  return ep.state === 'ready' && ep.policy.revision >= policyRevision;
}

/**
 * Polls GET /v1/endpoints (and the status' policy revision) every
 * `intervalMs` until `done(endpoints, revision)` holds; resolves with the
 * time it first held (nowMs()). Throws after `timeoutMs`, naming `what`.
 */
export async function pollEndpoints(agent: AgentClient, what: string,
  done: (eps: EndpointModel[], policyRevision: number) => boolean, opts: { intervalMs?: number; timeoutMs?: number } = {}): Promise<number> {
  const deadline = nowMs() + (opts.timeoutMs ?? 120_000);
  for (;;) {
    const [eps, status] = await Promise.all([agent.listEndpoints(), agent.status()]);
    if (done(eps, status.policyRevision)) return nowMs();
    if (nowMs() > deadline) throw new Error(`timed out waiting for ${what} (${eps.length} endpoints, ${eps.filter((e) => endpointReady(e, status.policyRevision)).length} ready)`);
    await sleep(opts.intervalMs ?? 10);
  }
}

/** True when every container in `ids` has an endpoint that is ready. */
export function allReady(ids: ReadonlySet<string>, eps: EndpointModel[], policyRevision: number): boolean {
  let ready = 0;
  for (const ep of eps) if (ids.has(ep.containerId) && endpointReady(ep, policyRevision)) ready++;
  return ready === ids.size;
}

/**
 * Adds `count` endpoints through the agent's API, as the policy benchmark
 * does: pod metadata (labels from `labels(i)`), an address, and an endpoint
 * on a host-side veth in the node netns whose peer stays there too. The
 * agent attaches its programs and writes the maps as for a CNI pod; nothing
 * runs behind them. `parallel` requests in flight at once (set-up speed
 * only, nothing here is timed per endpoint). The veths go with the node's
 * netns.
 */
export async function addApiEndpoints(opts: {
  agent: AgentClient; nodeNetns: string; tag: string; from: number; count: number; parallel: number;
  labels: (i: number) => Record<string, string>;
}): Promise<void> {
  const items = Array.from({ length: opts.count }, (_, k) => {
    const i = opts.from + k;
    const cid = `${opts.tag}api${String(i).padStart(7, '0')}`.padEnd(64, '0');
    return { i, cid, host: vethNames(cid, 'eth0').host, peer: `cpq${i}` };
  });
  const lines = items.flatMap((n) => [`link add ${n.host} type veth peer name ${n.peer}`, `link set ${n.host} up`]);
  await run('ip', ['-n', opts.nodeNetns, '-batch', '-'], { input: lines.join('\n') + '\n' });
  const links = JSON.parse((await run('ip', ['-n', opts.nodeNetns, '-j', 'link', 'show'])).stdout) as { ifname: string; ifindex: number; address: string }[];
  const byName = new Map(links.map((l) => [l.ifname, l]));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const n = items[next++]!;
      const podName = `api${n.i}`;
      await opts.agent.putPod({ namespace: 'default', name: podName, labels: opts.labels(n.i), serviceAccount: 'default', containerPorts: [] });
      const { ip } = await opts.agent.allocateIp(`${n.cid}:eth0`);
      const host = byName.get(n.host)!;
      await opts.agent.putEndpoint({
        containerId: n.cid, ifName: 'eth0', netns: '/proc/1/ns/net', hostIfName: n.host, hostIfIndex: host.ifindex, hostMac: host.address,
        containerMac: byName.get(n.peer)!.address, ipv4: ip, podNamespace: 'default', podName,
      });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.parallel) }, worker));
}
