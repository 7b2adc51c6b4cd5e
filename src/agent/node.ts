/**
 * The node side of the datapath, in the agent's network namespace: bpffs,
 * forwarding sysctls, the `membrane_host` device that carries the pods'
 * gateway address, and the L7 proxy's local delivery route. Idempotent: a
 * restarted agent finds it in place.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { MembraneError } from '../common/errors.js';
import { ipBatch, run } from '../common/exec.js';
import { MARK_MAGIC_MASK, MARK_MAGIC_TO_PROXY, PROXY_ROUTE_TABLE } from '../datapath/layout.js';

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

/** Prepares the node: forwarding on, reverse-path filtering off, gateway address on membrane_host, the proxy route. */
export async function setupNode(gateway: string): Promise<void> {
  await ensureBpffs();
  sysctl('net.ipv4.ip_forward', '1');
  sysctl('net.ipv4.conf.all.rp_filter', '0');
  sysctl('net.ipv4.conf.default.rp_filter', '0');
  await setupProxyRouting();
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

/** Preference of the proxy's ip rule: before the local table (0), as Cilium's proxy rule. */
export const PROXY_RULE_PREF = 9;
const PROXY_RULE = ['fwmark', `0x${MARK_MAGIC_TO_PROXY.toString(16)}/0x${MARK_MAGIC_MASK.toString(16)}`, 'lookup', String(PROXY_ROUTE_TABLE), 'pref', String(PROXY_RULE_PREF)];
const PROXY_ROUTE = ['local', '0.0.0.0/0', 'dev', 'lo', 'table', String(PROXY_ROUTE_TABLE)];

/**
 * Local delivery of what the datapath hands to the L7 proxy (bpf/lib/proxy.h):
 * packets marked MARK_MAGIC_TO_PROXY look up a table whose one route makes
 * every address local, so they reach the proxy's transparent sockets
 * instead of being forwarded. accept_local lets a packet the datapath
 * hairpins from a veth's egress back into its ingress keep a source
 * address of the node itself (a client in the node's own namespace).
 * TCP early demux is off: it would attach the proxy's upstream socket to
 * the answer of a server beyond the node as the packet comes in, before
 * the datapath can take it to the proxy, and the stack drops a packet it
 * forwards with a socket attached (the node's own TCP sockets are few: the
 * proxy's packets get theirs from the datapath).
 * Idempotent; `teardownProxyRouting` undoes the rule and route.
 */
export async function setupProxyRouting(): Promise<void> {
  sysctl('net.ipv4.conf.all.accept_local', '1');
  sysctl('net.ipv4.tcp_early_demux', '0');
  const rules = await run('ip', ['-j', '-4', 'rule', 'show', 'pref', String(PROXY_RULE_PREF)]);
  const present = (JSON.parse(rules.stdout || '[]') as { table?: string }[]).some((r) => r.table === String(PROXY_ROUTE_TABLE));
  const lines = [`route replace ${PROXY_ROUTE.join(' ')}`];
  if (!present) lines.push(`rule add ${PROXY_RULE.join(' ')}`);
  await ipBatch(lines).catch((cause) => {
    throw new MembraneError('EKERNEL', `setting up the L7 proxy's route (table ${PROXY_ROUTE_TABLE}, fwmark rule pref ${PROXY_RULE_PREF}) failed`, { cause });
  });
}

/** Removes the proxy's ip rule and route; missing pieces are not an error. */
export async function teardownProxyRouting(): Promise<void> {
  await run('ip', ['-4', 'rule', 'del', ...PROXY_RULE], { allowFailure: true });
  await run('ip', ['-4', 'route', 'del', ...PROXY_ROUTE], { allowFailure: true });
}
