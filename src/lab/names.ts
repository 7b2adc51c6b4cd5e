import path from 'node:path';
import { ValidationError } from '../common/errors.js';

/**
 * How a lab names and places everything it creates. Pure: every name and
 * path of a lab follows from the lab's name, so a crashed run's leftovers can
 * be found again without its state file.
 */

/** Where every lab keeps its state, one folder per lab. */
export const LAB_ROOT = '/var/run/membrane/lab';

/** Where node agents pin their BPF objects, one folder per node. */
export const BPFFS_ROOT = '/sys/fs/bpf/membrane';

export const DEFAULT_LAB = 'membrane';

// A DNS label kept short: it is part of netns names, node names and socket
// paths (a unix socket path is limited to 107 bytes).
const LAB_NAME = /^[a-z0-9]([-a-z0-9]{0,22}[a-z0-9])?$/;

/** Throws a ValidationError unless `name` can name a lab. */
export function validateLabName(name: string): string {
  if (!LAB_NAME.test(name)) {
    throw new ValidationError('--lab', `invalid lab name "${name}": use 1-24 lowercase letters, digits and "-", starting and ending with a letter or digit`);
  }
  return name;
}

export interface LabPaths {
  dir: string;
  stateFile: string;
  /** The lock (a folder, proper-lockfile's), beside and not inside the lab folder so `lab down` can remove that while locked. */
  lockDir: string;
  podsDir: string;
  /** Output of the world's servers, one log per address. */
  worldDir: string;
  /** The services and pods the cluster DNS answers for (cluster-dns.ts), followed by its server. */
  dnsRecords: string;
}

export function labPaths(lab: string): LabPaths {
  const dir = path.join(LAB_ROOT, lab);
  return {
    dir,
    stateFile: path.join(dir, 'state.json'),
    lockDir: path.join(LAB_ROOT, `${lab}.lock`),
    podsDir: path.join(dir, 'pods'),
    worldDir: path.join(dir, 'world'),
    dnsRecords: path.join(dir, 'dns-records.json'),
  };
}

/** Node `index` (1-based) of a lab. */
export function nodeName(lab: string, index: number): string {
  return `${lab}-node${index}`;
}

export function nodeNetnsName(lab: string, index: number): string {
  return `mbr-${lab}-node${index}`;
}

export function nodePodCidr(index: number): string {
  return `10.244.${index}.0/24`;
}

export interface NodePaths {
  dir: string;
  socket: string;
  stateDir: string;
  bpffsDir: string;
  agentLog: string;
  cniLog: string;
  netConfDir: string;
  conflist: string;
}

export function nodePaths(lab: string, node: string): NodePaths {
  const dir = path.join(LAB_ROOT, lab, node);
  return {
    dir,
    socket: path.join(dir, 'agent.sock'),
    stateDir: path.join(dir, 'state'),
    bpffsDir: path.join(BPFFS_ROOT, node),
    agentLog: path.join(dir, 'agent.log'),
    cniLog: path.join(dir, 'cni.log'),
    netConfDir: path.join(dir, 'net.d'),
    conflist: path.join(dir, 'net.d', '05-membrane.conflist'),
  };
}

/** The agent socket of a lab's node. */
export function labNodeSocket(lab: string, node: string): string {
  return nodePaths(lab, node).socket;
}

export function podNetnsName(lab: string, uid: string): string {
  return `mbr-${lab}-${uid}`;
}

/** The lab's simulated outside world (see world.ts). */
export function worldNetnsName(lab: string): string {
  return `mbr-${lab}-world`;
}

export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

export interface PodFiles {
  log: string;
  exitCode: string;
  /** Bind-mounted over /etc/resolv.conf in the pod's own mount namespace. */
  resolvConf: string;
}

export function podFiles(lab: string, namespace: string, name: string): PodFiles {
  const base = path.join(labPaths(lab).podsDir, `${namespace}_${name}`);
  return { log: `${base}.log`, exitCode: `${base}.exit`, resolvConf: `${base}.resolv.conf` };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Whether a network namespace name belongs to this lab (a node's, a pod's or its world).
 * Exact, so lab "t" never claims lab "t-x"'s namespaces.
 */
export function isLabNetns(lab: string, netns: string): boolean {
  return new RegExp(`^mbr-${escapeRegExp(lab)}-(node\\d+|world|[0-9a-f]{8})$`).test(netns);
}

/** Whether a folder under BPFFS_ROOT belongs to one of this lab's nodes. */
export function isLabBpffsDir(lab: string, entry: string): boolean {
  return new RegExp(`^${escapeRegExp(lab)}-node\\d+$`).test(entry);
}
