/**
 * STATUS (spec 1.1): the plugin can serve ADD exactly when its agent
 * answers. Success prints nothing; an agent that is down or unhealthy is
 * code 50, "plugin not available".
 */
import { errorMessage } from '../common/errors.js';
import type { CommandContext } from './command.js';
import { CniCode, CniError, agentNotRunningMessage, isAgentUnreachable } from './errors.js';

export async function cmdStatus({ conf, agent }: CommandContext): Promise<undefined> {
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
