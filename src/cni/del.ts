/**
 * DEL: idempotent, and tolerant of missing pieces. The agent forgets the
 * endpoint (and releases its IP); the host end of the veth goes, taking the
 * pod end with it. Succeeds when the agent is down (it garbage-collects
 * endpoints whose links are gone when it starts), when the netns is gone or
 * CNI_NETNS is empty, and when the links are already gone.
 *
 * One after the other, not at once: the agent detaches the datapath (tc,
 * under the kernel's rtnl lock) while the link still exists, and the link
 * deletion then runs alone. Run together they contend for that lock, and
 * measured slower: a 45-50 ms link deletion one time in two, against 20-25.
 */
import { errorMessage } from '../common/errors.js';
import type { CommandContext } from './command.js';
import { isAgentUnreachable, toCniError } from './errors.js';
import { deleteLinkIfExists } from './links.js';
import { vethNames } from './veth.js';

export async function cmdDel({ env, conf, agent, note, timed }: CommandContext): Promise<undefined> {
  let agentError: unknown;
  try {
    await timed('endpoint', () => agent.deleteEndpointByAttachment(env.containerId, env.ifName));
  } catch (err) {
    if (isAgentUnreachable(err)) note(`agent unreachable, endpoint left for its garbage collection: ${errorMessage(err)}`);
    else agentError = err;
  }
  const { host } = vethNames(env.containerId, env.ifName);
  try {
    if (!(await timed('link', () => deleteLinkIfExists(host)))) note(`link ${host} already gone`);
  } catch (err) {
    throw toCniError(err, `deleting link ${host}`, conf.agentSocket);
  }
  // An agent that answered with an error (not one that is down) fails DEL,
  // after the local cleanup, so the runtime retries it.
  if (agentError !== undefined) throw toCniError(agentError, 'deleting the endpoint in the agent', conf.agentSocket);
  return undefined;
}
