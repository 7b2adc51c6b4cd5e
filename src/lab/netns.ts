import fs from 'node:fs';
import { run } from '../common/exec.js';
import { netnsPath } from './names.js';

/**
 * Named network namespaces (`ip netns`), the lab's nodes and pods. Each is a
 * bind mount at /run/netns/<name>.
 */

/** Creates the namespace with its loopback up (a runtime's loopback plugin does the same). */
export async function addNetns(name: string): Promise<void> {
  await run('ip', ['netns', 'add', name]);
  try {
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    await deleteNetns(name);
    throw err;
  }
}

/** Removes the namespace's name; tolerates one already gone. */
export async function deleteNetns(name: string): Promise<void> {
  if (!fs.existsSync(netnsPath(name))) return;
  await run('ip', ['netns', 'delete', name]);
}

/** Names of all named network namespaces. */
export function listNetns(): string[] {
  try {
    return fs.readdirSync('/run/netns');
  } catch {
    return [];
  }
}

/** Pids of the processes whose network namespace is the named one (as `ip netns pids` finds them). */
export function netnsPids(name: string): number[] {
  let target: fs.Stats;
  try {
    target = fs.statSync(netnsPath(name));
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const st = fs.statSync(`/proc/${entry}/ns/net`);
      if (st.ino === target.ino && st.dev === target.dev) pids.push(Number(entry));
    } catch {
      /* exited meanwhile, or a kernel thread */
    }
  }
  return pids;
}
