/**
 * The control-plane benchmark's runtime side: CNI plugins executed exactly as
 * a container runtime executes them (src/cni/invoke.ts: CNI_* environment,
 * the network configuration on stdin, run from the node's netns), each
 * call timed from spawn to exit; the pods' network namespaces; and the
 * reference plugins' own throwaway "node" netns.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MembraneError } from '../common/errors.js';
import { run } from '../common/exec.js';
import { invokeCni, type CniCommand, type CniOutcome } from '../cni/invoke.js';
import { uniqueName } from '../testing/names.js';
import { referenceNetConf } from './control-plane-config.js';

/** One plugin as a runtime on a node is configured to call it. */
export interface CniTarget {
  /** Shown in tables and logs. */
  label: string;
  plugin: string;
  config: Record<string, unknown>;
  /** CNI_PATH. */
  path: string[];
  /** The node's netns (path): the plugin runs in it, as the runtime's would. */
  runtimeNetns: string;
}

export interface CniCall {
  containerId: string;
  /** Path of the pod's netns. */
  netns: string;
  /** CNI_ARGS, e.g. K8S_POD_NAMESPACE / K8S_POD_NAME. */
  args?: Record<string, string>;
}

function outcomeError(target: CniTarget, command: CniCommand, call: CniCall, out: CniOutcome): MembraneError {
  const detail = out.ok ? '' : `${out.error.msg}${out.error.details ? ` (${out.error.details})` : ''} [CNI error ${out.error.code}]`;
  return new MembraneError('EEXEC', `${target.label}: CNI ${command} of ${call.containerId.slice(0, 20)}… into ${call.netns} failed: ${detail}`);
}

/**
 * Runs one CNI command and returns its wall time in ms, from spawning the
 * plugin to its exit. Throws (MembraneError EEXEC, with the plugin's CNI
 * error) when the plugin fails: a benchmark of failing calls means nothing.
 */
export async function timedCni(target: CniTarget, command: 'ADD' | 'DEL' | 'VERSION', call?: CniCall): Promise<number> {
  const t0 = process.hrtime.bigint();
  const out = await invokeCni({
    plugin: target.plugin, command, config: target.config, path: target.path, runtimeNetns: target.runtimeNetns,
    ...(call ? { containerId: call.containerId, netns: call.netns, ifName: 'eth0', ...(call.args ? { args: call.args } : {}) } : {}),
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (!out.ok) throw outcomeError(target, command, call ?? { containerId: '-', netns: '-' }, out);
  return ms;
}

/**
 * Pod network namespaces, made and removed with one `ip -batch` each. The
 * set remembers every name it made so `removeAll()` (idempotent, never
 * throws) can run from a finally.
 */
export class PodNetnsSet {
  private readonly made = new Set<string>();

  /** Creates `names` (in /run/netns); throws when any could not be made (those that were are remembered). */
  async add(names: string[]): Promise<void> {
    if (names.length === 0) return;
    for (const n of names) this.made.add(n);
    await run('ip', ['-batch', '-'], { input: names.map((n) => `netns add ${n}\n`).join('') });
  }

  /** Deletes `names`, carrying on past any already gone. */
  async remove(names: string[]): Promise<void> {
    if (names.length === 0) return;
    await run('ip', ['-force', '-batch', '-'], { input: names.map((n) => `netns del ${n}\n`).join(''), allowFailure: true });
    for (const n of names) this.made.delete(n);
  }

  async removeAll(): Promise<void> {
    await this.remove([...this.made]);
  }
}

export const netnsPath = (name: string): string => `/run/netns/${name}`;

/** Where Debian's containernetworking-plugins (or an upstream install) put `bridge` and `host-local`. */
const REFERENCE_PLUGIN_DIRS = ['/usr/lib/cni', '/opt/cni/bin'];

export function findReferencePluginDir(): string {
  const dir = REFERENCE_PLUGIN_DIRS.find((d) => existsSync(join(d, 'bridge')) && existsSync(join(d, 'host-local')));
  if (!dir) {
    throw new MembraneError('ENOTFOUND', `the reference CNI plugins (bridge, host-local) are in none of ${REFERENCE_PLUGIN_DIRS.join(', ')}`
      + '; install Debian\'s containernetworking-plugins (scripts/setup.sh does)');
  }
  return dir;
}

/** The installed containernetworking-plugins version, for the report ("" when dpkg does not know it). */
export async function referencePluginsVersion(): Promise<string> {
  const res = await run('dpkg-query', ['-W', '-f=${Version}', 'containernetworking-plugins'], { allowFailure: true });
  return res.code === 0 ? res.stdout.trim() : '';
}

export interface ReferenceNode {
  target: CniTarget;
  /** Removes the node netns (its bridge and host ends go with it) and host-local's data dir. Idempotent, never throws. */
  remove(): Promise<void>;
}

/**
 * A throwaway node for the reference plugins: a netns of its own (the
 * bridge plugin creates its bridge in the netns it runs in, so it must never
 * run in the machine's) and a host-local data dir of its own.
 */
export async function startReferenceNode(subnet: string): Promise<ReferenceNode> {
  const dir = findReferencePluginDir();
  const name = uniqueName('cpref');
  const dataDir = mkdtempSync('/tmp/membrane-bench-host-local-');
  let removed = false;
  const remove = async (): Promise<void> => {
    if (removed) return;
    removed = true;
    await run('ip', ['netns', 'del', name], { allowFailure: true });
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await run('ip', ['netns', 'add', name]);
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    await remove();
    throw err;
  }
  return {
    target: {
      label: 'bridge + host-local',
      plugin: join(dir, 'bridge'),
      config: referenceNetConf({ bridge: uniqueName('cpbr'), subnet, dataDir }),
      path: [dir],
      runtimeNetns: netnsPath(name),
    },
    remove,
  };
}
