/**
 * The node side of the datapath, in the agent's network namespace: bpffs,
 * forwarding sysctls, and the `membrane_host` device that carries the
 * pods' gateway address. Idempotent: a restarted agent finds it in place.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { MembraneError } from '../common/errors.js';
import { ipBatch, run } from '../common/exec.js';

/** The node-side device holding the pods' gateway address: a veth pair (membrane_host/membrane_net), like Cilium's cilium_host/cilium_net; not every kernel has the dummy device type. */
export const HOST_DEVICE = 'membrane_host';
export const HOST_PEER = 'membrane_net';

export async function ensureBpffs(): Promise<void> {
  const mounts = readFileSync('/proc/mounts', 'utf8');
  if (mounts.split('\n').some((l) => l.split(' ')[1] === '/sys/fs/bpf' && l.split(' ')[2] === 'bpf')) return;
  await run('mount', ['-t', 'bpf', 'bpf', '/sys/fs/bpf']).catch((cause) => {
    throw new MembraneError('EKERNEL', 'mounting bpffs on /sys/fs/bpf failed; the agent needs it to pin its maps', { cause });
  });
}

/** Writes a sysctl of the calling process's network namespace. */
function sysctl(key: string, value: string): void {
  try {
    writeFileSync(`/proc/sys/${key.replaceAll('.', '/')}`, value);
  } catch (cause) {
    throw new MembraneError('EKERNEL', `setting sysctl ${key}=${value} failed`, { cause });
  }
}

export interface LinkInfo {
  ifindex: number;
  ifname: string;
  address?: string;
  operstate?: string;
}

/** Links of the agent's network namespace by name (netlink, not /sys, which may show another namespace). */
export async function listLinks(): Promise<Map<string, LinkInfo>> {
  const res = await run('ip', ['-j', 'link', 'show']);
  const links = JSON.parse(res.stdout || '[]') as LinkInfo[];
  return new Map(links.map((l) => [l.ifname, l]));
}

/** One link of the agent's namespace with its kind (veth, ...), or undefined when there is none by that name. */
export async function linkDetails(name: string): Promise<(LinkInfo & { kind?: string }) | undefined> {
  const res = await run('ip', ['-j', '-d', 'link', 'show', 'dev', name], { allowFailure: true });
  if (res.code !== 0) return undefined;
  const [l] = JSON.parse(res.stdout || '[]') as (LinkInfo & { linkinfo?: { info_kind?: string } })[];
  if (!l) return undefined;
  return { ...l, ...(l.linkinfo?.info_kind ? { kind: l.linkinfo.info_kind } : {}) };
}

/** Prepares the node: forwarding on, reverse-path filtering off, gateway address on membrane_host. */
export async function setupNode(gateway: string): Promise<void> {
  await ensureBpffs();
  sysctl('net.ipv4.ip_forward', '1');
  sysctl('net.ipv4.conf.all.rp_filter', '0');
  sysctl('net.ipv4.conf.default.rp_filter', '0');
  const links = await listLinks();
  const lines: string[] = [];
  if (!links.has(HOST_DEVICE)) lines.push(`link add ${HOST_DEVICE} type veth peer name ${HOST_PEER}`);
  lines.push(`link set ${HOST_DEVICE} addrgenmode none`, `link set ${HOST_PEER} addrgenmode none`);
  lines.push(`link set ${HOST_DEVICE} up`, `link set ${HOST_PEER} up`, 'link set lo up');
  await ipBatch(lines);
  const addrs = await run('ip', ['-j', 'addr', 'show', 'dev', HOST_DEVICE]);
  const has = (JSON.parse(addrs.stdout || '[]') as { addr_info?: { local: string }[] }[])
    .some((l) => (l.addr_info ?? []).some((a) => a.local === gateway));
  if (!has) await run('ip', ['addr', 'add', `${gateway}/32`, 'dev', HOST_DEVICE]);
}

/** IPv4 addresses of the node itself (its namespace), for the ipcache's host identity. */
export async function nodeAddresses(): Promise<string[]> {
  const res = await run('ip', ['-j', '-4', 'addr', 'show']);
  const out: string[] = [];
  for (const l of JSON.parse(res.stdout || '[]') as { addr_info?: { local: string }[] }[]) {
    for (const a of l.addr_info ?? []) if (a.local && !a.local.startsWith('127.')) out.push(a.local);
  }
  return out;
}
