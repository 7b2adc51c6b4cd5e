/**
 * CHECK: compares prevResult (what ADD reported) with the live state: the
 * agent still has a healthy endpoint for the attachment, the host end of the
 * veth exists (the same link the agent attached to), and inside the netns
 * CNI_IFNAME exists with the prevResult's addresses. Routes are not checked:
 * the spec lets later plugins of a chain change them.
 *
 * Every difference found is reported at once, with code 100 (membrane's
 * "live state differs from prevResult"; the spec has no code for it).
 */
import type { EndpointModel } from '../api/types.js';
import { MembraneError } from '../common/errors.js';
import type { CniAgentApi } from './agent-client.js';
import type { CommandContext } from './command.js';
import { CniCode, CniError, toCniError } from './errors.js';
import { netnsExists, readIpv4Addresses, readLink } from './links.js';
import { expectedFromPrevResult } from './result.js';
import { vethNames } from './veth.js';

export async function cmdCheck({ env, conf, agent }: CommandContext): Promise<undefined> {
  const expected = expectedFromPrevResult(conf.prevResult, env.ifName);
  if (!netnsExists(env.netns)) {
    throw new CniError(CniCode.UnknownContainer, `the network namespace ${env.netns} (CNI_NETNS) does not exist`);
  }
  const attachment = `${env.containerId}:${env.ifName}`;
  const problems: string[] = [];
  let step = 'asking the agent for the endpoint';
  try {
    const endpoint = await endpointOrUndefined(agent, env.containerId, env.ifName);
    const hostIfName = expected.hostIfName ?? vethNames(env.containerId, env.ifName).host;
    if (!endpoint) {
      problems.push(`the agent has no endpoint for ${attachment}`);
    } else {
      if (endpoint.state === 'disconnecting') problems.push(`endpoint ${endpoint.id} is being deleted by the agent`);
      if (endpoint.hostIfName !== hostIfName) problems.push(`endpoint ${endpoint.id} is attached to ${endpoint.hostIfName}, prevResult names ${hostIfName}`);
      const expectedIps = expected.podAddresses.map((a) => a.split('/')[0]);
      if (!expectedIps.includes(endpoint.ipv4)) problems.push(`endpoint ${endpoint.id} has IP ${endpoint.ipv4}, prevResult has ${expected.podAddresses.join(', ')}`);
    }

    step = `reading link ${hostIfName}`;
    const host = await readLink(hostIfName);
    if (!host) problems.push(`host link ${hostIfName} is missing`);
    else if (endpoint && endpoint.hostIfIndex !== host.ifindex) {
      problems.push(`host link ${hostIfName} has ifindex ${host.ifindex}, the agent's datapath is attached to ${endpoint.hostIfIndex}`);
    }

    step = `reading ${env.ifName} in ${env.netns}`;
    const live = await readIpv4Addresses(env.ifName, env.netns);
    if (!live) problems.push(`interface ${env.ifName} is missing in ${env.netns}`);
    else {
      for (const address of expected.podAddresses) {
        if (!live.includes(address)) problems.push(`interface ${env.ifName} in ${env.netns} lacks address ${address} (has ${live.join(', ') || 'none'})`);
      }
    }
  } catch (err) {
    throw toCniError(err, step, conf.agentSocket);
  }
  if (problems.length > 0) {
    throw new CniError(CniCode.CheckMismatch, `CHECK of ${attachment} failed: ${problems.join('; ')}`);
  }
  return undefined;
}

async function endpointOrUndefined(agent: CniAgentApi, containerId: string, ifName: string): Promise<EndpointModel | undefined> {
  try {
    return await agent.getEndpointByAttachment(containerId, ifName);
  } catch (err) {
    if (err instanceof MembraneError && err.code === 'ENOTFOUND') return undefined;
    throw err;
  }
}
