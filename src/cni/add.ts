/**
 * ADD: give the pod an address from the agent, wire a veth pair into its
 * netns, and register the endpoint with the agent, which answers once the
 * pod's policy is enforced in the kernel. Every side effect is recorded on an
 * undo stack; when a later step fails, everything done so far is undone in
 * reverse and the runtime gets a CNI error.
 */
import { AgentClient } from '../api/client.js';
import type { EndpointChangeRequest } from '../api/types.js';
import { podLabels } from './cni-args.js';
import type { CommandContext } from './command.js';
import type { Invocation } from './config.js';
import { CniCode, CniError, toCniError } from './errors.js';
import { deleteLinkIfExists, isOwnNetns, netnsExists, readLink, runIpBatch, type LinkInfo } from './links.js';
import { buildAddResult, type CniResult } from './result.js';
import { Rollback } from './rollback.js';
import { createPairLines, hostSideLines, podSideLines, vethNames, type VethPlan } from './veth.js';

export async function cmdAdd({ env, conf, note }: CommandContext): Promise<CniResult> {
  if (!netnsExists(env.netns)) {
    throw new CniError(CniCode.UnknownContainer, `the network namespace ${env.netns} (CNI_NETNS) does not exist`);
  }
  if (isOwnNetns(env.netns)) {
    throw new CniError(CniCode.InvalidEnvironment, `CNI_NETNS ${env.netns} is the node's own network namespace, not a pod's`,
      'the runtime must create a network namespace for the pod and pass its path');
  }
  const agent = new AgentClient(conf.agentSocket);
  const names = vethNames(env.containerId, env.ifName);
  const attachment = `${env.containerId}:${env.ifName}`;
  const rollback = new Rollback();
  let step = 'allocating an IP address from the agent';
  try {
    // The agent first: when it is down, nothing has been touched.
    const ipam = await agent.allocateIp(attachment);
    const releaseIp = rollback.push(`release IP ${ipam.ip}`, () => agent.releaseIp(ipam.ip));

    // Leftovers of an interrupted earlier ADD would make the create or the
    // rename fail; remove them first, as Cilium does with a stale eth0.
    step = 'removing stale interfaces';
    await deleteLinkIfExists(names.pod, env.netns);
    await deleteLinkIfExists(names.host);

    const plan: VethPlan = { names, netns: env.netns, mtu: conf.mtu ?? ipam.mtu, podIp: ipam.ip, gateway: ipam.gateway };
    // Registered before creating: a half-done batch may already have made the
    // pair, and deleting the host end removes the peer wherever it is.
    rollback.push(`delete link ${names.host}`, () => deleteLinkIfExists(names.host));
    step = `creating the veth pair ${names.host} / ${names.tmpPeer}`;
    await runIpBatch(createPairLines(plan));
    step = `configuring ${names.pod} in ${env.netns}`;
    await runIpBatch(podSideLines(plan), env.netns);
    step = `configuring ${names.host}`;
    await runIpBatch(hostSideLines(plan));

    step = 'reading the veth pair';
    const host = await mustReadLink(names.host);
    const pod = await mustReadLink(names.pod, env.netns);

    step = 'creating the endpoint in the agent';
    await agent.putEndpoint(endpointRequest(env, conf.labels, plan, host, pod));
    // The endpoint now owns the address: deleting it releases the IP too. An
    // endpoint the agent refused does not exist; one whose answer got lost is
    // removed by the DEL the runtime always sends after a failed ADD.
    releaseIp.dismiss();
    // Nothing below can fail today; this keeps any step added later covered.
    rollback.push(`delete endpoint ${attachment}`, () => agent.deleteEndpointByAttachment(env.containerId, env.ifName));

    return buildAddResult(conf.cniVersion, {
      hostIfName: host.name, hostMac: host.mac, podIfName: pod.name, podMac: pod.mac,
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

async function mustReadLink(name: string, netns?: string): Promise<LinkInfo> {
  const link = await readLink(name, netns);
  if (!link) throw new CniError(CniCode.IoFailure, `link ${name} vanished right after it was created${netns ? ` in ${netns}` : ''}`);
  return link;
}

function endpointRequest(
  env: Invocation['env'], configLabels: Record<string, string>, plan: VethPlan, host: LinkInfo, pod: LinkInfo,
): EndpointChangeRequest {
  const req: EndpointChangeRequest = {
    containerId: env.containerId,
    ifName: env.ifName,
    netns: env.netns,
    hostIfName: host.name,
    hostIfIndex: host.ifindex,
    hostMac: host.mac,
    containerMac: pod.mac,
    ipv4: plan.podIp,
  };
  if (env.podArgs.podNamespace) req.podNamespace = env.podArgs.podNamespace;
  if (env.podArgs.podName) req.podName = env.podArgs.podName;
  const labels = podLabels(configLabels, env.podArgs);
  if (Object.keys(labels).length > 0) req.labels = labels;
  return req;
}
