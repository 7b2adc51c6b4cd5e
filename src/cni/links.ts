/**
 * The plugin's kernel I/O: reading, deleting and configuring links with
 * iproute2, in the current (node) network namespace or inside a pod's
 * (through `nsenter --net=<path>`, a helper process, so the plugin itself
 * never switches namespaces). Every function throws MembraneError (EEXEC)
 * naming the command and its stderr; runIpBatch throws EEXIST when a line
 * failed because what it creates already exists.
 */
import { statSync } from 'node:fs';
import { MembraneError } from '../common/errors.js';
import { run, type RunResult } from '../common/exec.js';

export interface LinkInfo {
  name: string;
  ifindex: number;
  mac: string;
}

function ip(args: string[], netns?: string): Promise<RunResult> {
  if (netns) return run('nsenter', [`--net=${netns}`, 'ip', ...args], { allowFailure: true });
  return run('ip', args, { allowFailure: true });
}

// iproute2's wording for a missing device: "Device "x" does not exist." / "Cannot find device "x"".
const NO_SUCH_DEVICE = /does not exist|Cannot find device/;

function failure(what: string, res: RunResult): MembraneError {
  return new MembraneError('EEXEC', `${what} failed (exit ${res.code}): ${res.stderr.trim() || res.stdout.trim()}`);
}

/** True when `path` names an existing file (a netns bind mount or /proc/<pid>/ns/net). */
export function netnsExists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * True when `path` is the network namespace this process runs in (the
 * node's). ADD refuses it: it would delete and re-create the node's own
 * interface named CNI_IFNAME.
 */
export function isOwnNetns(path: string): boolean {
  try {
    const target = statSync(path);
    const own = statSync('/proc/self/ns/net');
    return target.dev === own.dev && target.ino === own.ino;
  } catch {
    return false;
  }
}

/**
 * Runs `ip -json -batch` lines in `netns` (a path) or the current namespace
 * and returns what they printed (the JSON of their `show` lines). Stops at
 * the first failing line and throws a MembraneError naming it: EEXIST when
 * it failed because what it creates already exists, EEXEC otherwise.
 */
export async function runIpBatch(lines: string[], netns?: string): Promise<string> {
  const input = lines.join('\n') + '\n';
  const argv = ['-json', '-batch', '-'];
  const res = netns
    ? await run('nsenter', [`--net=${netns}`, 'ip', ...argv], { input, allowFailure: true })
    : await run('ip', argv, { input, allowFailure: true });
  if (res.code === 0) return res.stdout;
  // iproute2 names the failing line: "Command failed -:<n>".
  const lineNo = Number(/Command failed -:(\d+)/.exec(res.stderr)?.[1] ?? 0);
  const what = lines[lineNo - 1] ?? lines.join('; ');
  const where = netns ? ` in ${netns}` : '';
  const code = FILE_EXISTS.test(res.stderr) ? 'EEXIST' : 'EEXEC';
  throw new MembraneError(code, `ip ${what}${where} failed (exit ${res.code}): ${res.stderr.trim() || res.stdout.trim()}`);
}

const FILE_EXISTS = /File exists/;

/** The link printed by a batch whose last line is `link show dev <name>` (ip -json). */
export function shownLink(stdout: string, name: string): LinkInfo {
  // Each `show` line prints one JSON array on a line of its own; other lines print nothing.
  const last = stdout.trim().split('\n').pop() ?? '';
  let link: { ifindex?: unknown; ifname?: unknown; address?: unknown } | undefined;
  try {
    [link] = JSON.parse(last) as typeof link[];
  } catch {
    link = undefined;
  }
  if (!link || typeof link.ifindex !== 'number' || link.ifname !== name || typeof link.address !== 'string') {
    throw new MembraneError('EEXEC', `ip link show dev ${name} printed no such link: ${JSON.stringify(stdout.slice(0, 300))}`);
  }
  return { name, ifindex: link.ifindex, mac: link.address };
}

/** The link's index and MAC, or undefined when there is no such link. */
export async function readLink(name: string, netns?: string): Promise<LinkInfo | undefined> {
  const res = await ip(['-j', 'link', 'show', 'dev', name], netns);
  if (res.code !== 0) {
    if (NO_SUCH_DEVICE.test(res.stderr)) return undefined;
    throw failure(`reading link ${name}`, res);
  }
  const [link] = JSON.parse(res.stdout) as { ifindex: number; ifname: string; address: string }[];
  if (!link) return undefined;
  return { name: link.ifname, ifindex: link.ifindex, mac: link.address };
}

/** Deletes a link (a veth end takes its peer with it). Returns false when it did not exist. */
export async function deleteLinkIfExists(name: string, netns?: string): Promise<boolean> {
  const res = await ip(['link', 'del', 'dev', name], netns);
  if (res.code === 0) return true;
  if (NO_SUCH_DEVICE.test(res.stderr)) return false;
  throw failure(`deleting link ${name}`, res);
}

/** The link's IPv4 addresses as "a.b.c.d/len", or undefined when there is no such link. */
export async function readIpv4Addresses(name: string, netns?: string): Promise<string[] | undefined> {
  // Not `ip -4`: it would omit a link without IPv4 addresses, which is not a missing link.
  const res = await ip(['-j', 'addr', 'show', 'dev', name], netns);
  if (res.code !== 0) {
    if (NO_SUCH_DEVICE.test(res.stderr)) return undefined;
    throw failure(`reading the addresses of ${name}`, res);
  }
  const [link] = JSON.parse(res.stdout) as { addr_info?: { family: string; local: string; prefixlen: number }[] }[];
  if (!link) return undefined;
  return (link.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
}
