/**
 * ADD: give the pod an address from the agent, wire a veth pair into its
 * netns, and register the endpoint with the agent, which answers once the
 * pod's policy is enforced in the kernel. Every side effect is recorded on an
 * undo stack; when a later step fails, everything done so far is undone in
 * reverse and the runtime gets a CNI error.
 *
 * ADD is on every pod's start-up path, so it runs as few helper processes
 * as it can: one `ip -batch` on the node (the pair, the host end, the host
 * route, and the host end's ifindex and MAC), then the pod side's batch and
 * the agent's endpoint at the same time (they do not depend on each other:
 * the agent attaches to the host end, and the plugin picks the pod end's MAC).
 */
import { randomBytes } from 'node:crypto';
import type { EndpointChangeRequest } from '../api/types.js';
import { MembraneError, errorMessage } from '../common/errors.js';
import { podLabels } from './cni-args.js';
import type { CommandContext } from './command.js';
import type { Invocation } from './config.js';
import { CniCode, CniError, toCniError } from './errors.js';
import { deleteLinkIfExists, isOwnNetns, netnsExists, runIpBatch, shownLink, type LinkInfo } from './links.js';
import { buildAddResult, type CniResult } from './result.js';
import { Rollback } from './rollback.js';
import { hostSideLines, localUnicastMac, podSideLines, vethNames, type VethPlan } from './veth.js';

export async function cmdAdd({ env, conf, agent, note, timed }: CommandContext): Promise<CniResult> {
  if (!netnsExists(env.netns)) {
    throw new CniError(CniCode.UnknownContainer, `the network namespace ${env.netns} (CNI_NETNS) does not exist`);
  }
  if (isOwnNetns(env.netns)) {
    throw new CniError(CniCode.InvalidEnvironment, `CNI_NETNS ${env.netns} is the node's own network namespace, not a pod's`,
      'the runtime must create a network namespace for the pod and pass its path');
  }
  const names = vethNames(env.containerId, env.ifName);
  const attachment = `${env.containerId}:${env.ifName}`;
  const rollback = new Rollback();
  let step = 'allocating an IP address from the agent';
  try {
    // The agent first: when it is down, nothing has been touched.
    const ipam = await timed('ipam', () => agent.allocateIp(attachment));
    const releaseIp = rollback.push(`release IP ${ipam.ip}`, () => agent.releaseIp(ipam.ip));

    const plan: VethPlan = {
      names, netns: env.netns, mtu: conf.mtu ?? ipam.mtu, podIp: ipam.ip, gateway: ipam.gateway, podMac: localUnicastMac(randomBytes(6)),
    };
    // Registered before creating: a half-done batch may already have made the
    // pair, and deleting the host end removes the peer wherever it is.
    rollback.push(`delete link ${names.host}`, () => deleteLinkIfExists(names.host));
    step = `creating the veth pair ${names.host} / ${names.pod} in ${env.netns}`;
    const host = await timed('hostSide', () => createPair(plan, note));

    step = `configuring ${names.pod} in ${env.netns} and creating the endpoint in the agent`;
    const [podSide, endpoint] = await Promise.allSettled([
      timed('podSide', () => runIpBatch(podSideLines(plan), env.netns)),
      timed('endpoint', () => agent.putEndpoint(endpointRequest(env, conf.labels, plan, host))),
    ]);
    if (endpoint.status === 'fulfilled') {
      // The endpoint now owns the address: deleting it releases the IP too. An
      // endpoint the agent refused does not exist; one whose answer got lost is
      // removed by the DEL the runtime always sends after a failed ADD.
      releaseIp.dismiss();
      rollback.push(`delete endpoint ${attachment}`, () => agent.deleteEndpointByAttachment(env.containerId, env.ifName));
    }
    if (podSide.status === 'rejected') {
      step = `configuring ${names.pod} in ${env.netns}`;
      if (endpoint.status === 'rejected') note(`creating the endpoint in the agent failed too: ${errorMessage(endpoint.reason)}`);
      throw podSide.reason;
    }
    if (endpoint.status === 'rejected') {
      step = 'creating the endpoint in the agent';
      throw endpoint.reason;
    }

    return buildAddResult(conf.cniVersion, {
      hostIfName: host.name, hostMac: host.mac, podIfName: names.pod, podMac: plan.podMac,
      netns: env.netns, podIp: ipam.ip, gateway: ipam.gateway, mtu: plan.mtu,
    });
  } catch (err) {
    const failures = await rollback.run();
    note(`rolled back after a failure while ${step}`);
    failures.forEach(note);
    const cniErr = toCniError(err, step, conf.agentSocket);
    if (failures.length === 0) throw cniErr;
    throw new CniError(cniErr.code, cniErr.message, [cniErr.details, ...failures].filter(Boolean).join('\n'), { cause: err });
  }
}

/**
 * Creates the pair and configures its host end (hostSideLines); returns the
 * host end. Leftovers of an interrupted earlier ADD carry the same names and
 * make the create fail with EEXIST: then they are removed, as Cilium removes
 * a stale eth0, and the create runs once more. Checking first would cost two
 * helper processes on every ADD for a case that is rare.
 */
async function createPair(plan: VethPlan, note: (line: string) => void): Promise<LinkInfo> {
  const lines = hostSideLines(plan);
  try {
    return shownLink(await runIpBatch(lines), plan.names.host);
  } catch (err) {
    if (!(err instanceof MembraneError && err.code === 'EEXIST')) throw err;
  }
  const { pod, host } = plan.names;
  const removed: string[] = [];
  if (await deleteLinkIfExists(pod, plan.netns)) removed.push(`${pod} in ${plan.netns}`);
  if (await deleteLinkIfExists(host)) removed.push(host);
  note(`removed leftovers of an earlier ADD: ${removed.join(', ') || 'none (they went away meanwhile)'}`);
  return shownLink(await runIpBatch(lines), host);
}

function endpointRequest(
  env: Invocation['env'], configLabels: Record<string, string>, plan: VethPlan, host: LinkInfo,
): EndpointChangeRequest {
  const req: EndpointChangeRequest = {
    containerId: env.containerId,
    ifName: env.ifName,
    netns: env.netns,
    hostIfName: host.name,
    hostIfIndex: host.ifindex,
    hostMac: host.mac,
    containerMac: plan.podMac,
    ipv4: plan.podIp,
  };
  if (env.podArgs.podNamespace) req.podNamespace = env.podArgs.podNamespace;
  if (env.podArgs.podName) req.podName = env.podArgs.podName;
  const labels = podLabels(configLabels, env.podArgs);
  if (Object.keys(labels).length > 0) req.labels = labels;
  return req;
}
