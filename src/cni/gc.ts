/**
 * GC (spec 1.1): the runtime lists the attachments that are still valid; the
 * agent removes every other endpoint (releasing their IPs) and tells which
 * host links they had, and those links are deleted here. As the spec asks,
 * GC removes as much as it can and reports the failures at the end. Prints
 * nothing on success.
 */
import { errorMessage } from '../common/errors.js';
import type { CommandContext } from './command.js';
import { CniCode, CniError, toCniError } from './errors.js';
import { deleteLinkIfExists } from './links.js';

/** Only links membrane names (see veth.ts) are ever deleted, whatever the agent reports. */
const MEMBRANE_HOST_LINK = /^lxc[0-9a-f]{12}$/;

export async function cmdGc({ conf, agent, note }: CommandContext): Promise<undefined> {
  let removed;
  try {
    ({ removed } = await agent.cniGc({ validAttachments: conf.validAttachments ?? [] }));
  } catch (err) {
    throw toCniError(err, 'garbage-collecting endpoints in the agent', conf.agentSocket);
  }
  const failures: string[] = [];
  for (const r of removed) {
    const attachment = `${r.containerId}:${r.ifName}`;
    if (!MEMBRANE_HOST_LINK.test(r.hostIfName)) {
      note(`removed ${attachment}; its link "${r.hostIfName}" is not a membrane link and was left alone`);
      continue;
    }
    try {
      const deleted = await deleteLinkIfExists(r.hostIfName);
      note(`removed ${attachment} (${r.hostIfName}${deleted ? '' : ', link already gone'})`);
    } catch (err) {
      failures.push(`deleting link ${r.hostIfName} of ${attachment}: ${errorMessage(err)}`);
    }
  }
  if (failures.length > 0) {
    throw new CniError(CniCode.IoFailure, `GC removed ${removed.length - failures.length} of ${removed.length} stale attachments`, failures.join('\n'));
  }
  return undefined;
}
