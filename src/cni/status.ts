/**
 * STATUS (spec 1.1): the plugin can serve ADD exactly when its agent
 * answers. Success prints nothing; an agent that is down or unhealthy is
 * code 50, "plugin not available".
 */
import { errorMessage } from '../common/errors.js';
import { CniAgentClient } from './agent-client.js';
import type { CommandContext } from './command.js';
import { CniCode, CniError, agentNotRunningMessage, isAgentUnreachable } from './errors.js';

/** STATUS is polled by runtimes; a wedged agent must not hang it. */
const STATUS_TIMEOUT_MS = 10_000;

export async function cmdStatus({ conf }: CommandContext): Promise<undefined> {
  const agent = new CniAgentClient(conf.agentSocket, STATUS_TIMEOUT_MS);
  let healthy: boolean;
  try {
    healthy = (await agent.healthz()).ok === true;
  } catch (err) {
    const msg = isAgentUnreachable(err) ? agentNotRunningMessage(conf.agentSocket) : `the membrane agent is not healthy: ${errorMessage(err)}`;
    throw new CniError(CniCode.PluginNotAvailable, msg, errorMessage(err), { cause: err });
  }
  if (!healthy) throw new CniError(CniCode.PluginNotAvailable, 'the membrane agent reports that it is not healthy');
  return undefined;
}
