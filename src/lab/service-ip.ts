import { ValidationError } from '../common/errors.js';

/**
 * The lab's service addresses, as Kubernetes hands them out: ClusterIPs
 * from the service CIDR (10.96.0.0/12 by default), NodePorts from
 * 30000-32767. Two addresses are reserved, as in a kubeadm cluster: the first
 * for the API server's `kubernetes` service, the tenth for cluster DNS. Pure:
 * the caller passes what is taken and a random source.
 */

export const DEFAULT_SERVICE_CIDR = '10.96.0.0/12';
export const NODE_PORT_MIN = 30000;
export const NODE_PORT_MAX = 32767;

/** Parses a dotted IPv4 address to its 32-bit value; undefined when it is not one. */
export function parseIPv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p, i) => p > 255 || (m[i + 1]!.length > 1 && m[i + 1]!.startsWith('0')))) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function formatIPv4(value: number): string {
  return [24, 16, 8, 0].map((s) => (value >>> s) & 0xff).join('.');
}

export interface Cidr {
  base: number;
  bits: number;
  /** Number of addresses. */
  size: number;
  text: string;
}

export function parseCidr(text: string): Cidr {
  const [addr, len] = text.split('/');
  const base = addr === undefined ? undefined : parseIPv4(addr);
  const bits = Number(len);
  if (base === undefined || !Number.isInteger(bits) || bits < 8 || bits > 30) {
    throw new ValidationError('serviceCIDR', `"${text}" is not an IPv4 CIDR from /8 to /30`);
  }
  const size = 2 ** (32 - bits);
  if (base % size !== 0) throw new ValidationError('serviceCIDR', `"${text}" has host bits set`);
  return { base, bits, size, text };
}

export function cidrContains(cidr: Cidr, ip: number): boolean {
  return ip >= cidr.base && ip < cidr.base + cidr.size;
}

/** The address of the `kubernetes` service: the CIDR's first host address (10.96.0.1). */
export function kubernetesServiceIP(cidr: Cidr): string {
  return formatIPv4(cidr.base + 1);
}

/** The cluster DNS service's address: the CIDR's tenth (10.96.0.10), as kubeadm makes it. */
export function clusterDnsIP(cidr: Cidr): string {
  return formatIPv4(cidr.base + 10);
}

/**
 * The addresses no service may take by asking or be given: the network and
 * broadcast addresses and the kubernetes service's. (Cluster DNS's is taken
 * by the kube-dns service itself.)
 */
function reservedReason(cidr: Cidr, ip: number): string | undefined {
  if (ip === cidr.base) return 'it is the network address of the service CIDR';
  if (ip === cidr.base + cidr.size - 1) return 'it is the broadcast address of the service CIDR';
  if (ip === cidr.base + 1) return 'it is reserved for the kubernetes API service';
  return undefined;
}

/**
 * Checks a requested `spec.clusterIP` against the CIDR and the addresses in
 * use, as the API server does; returns it.
 */
export function checkRequestedClusterIP(cidr: Cidr, requested: string, taken: ReadonlySet<string>, path: string): string {
  const ip = parseIPv4(requested);
  if (ip === undefined) throw new ValidationError(path, `"${requested}" is not an IPv4 address (or "None" for a headless service)`);
  if (!cidrContains(cidr, ip)) {
    throw new ValidationError(path, `"${requested}": provided IP is not in the valid range. The range of valid IPs is ${cidr.text}`);
  }
  const reserved = reservedReason(cidr, ip);
  if (reserved) throw new ValidationError(path, `"${requested}": ${reserved}`);
  if (taken.has(requested)) throw new ValidationError(path, `"${requested}": provided IP is already allocated`);
  return requested;
}

/**
 * A free ClusterIP. As the API server does, dynamic addresses come from
 * above the low band (min(max(16, size/16), 256) addresses) kept for
 * addresses asked by name, at random; the low band only when the rest is full.
 */
export function allocateClusterIP(cidr: Cidr, taken: ReadonlySet<string>, rand: (n: number) => number): string {
  const usable = (ip: number) => reservedReason(cidr, ip) === undefined && !taken.has(formatIPv4(ip));
  const low = Math.min(Math.max(16, cidr.size / 16), 256);
  const bands: [number, number][] = [[cidr.base + low, cidr.base + cidr.size - 1], [cidr.base + 1, cidr.base + low]];
  for (const [from, to] of bands) {
    const count = to - from;
    if (count <= 0) continue;
    // A random start, then the next free one: a full band is found in one pass.
    const start = rand(count);
    for (let i = 0; i < count; i++) {
      const ip = from + ((start + i) % count);
      if (usable(ip)) return formatIPv4(ip);
    }
  }
  throw new ValidationError('spec.clusterIP', `the service CIDR ${cidr.text} has no free address left: delete a service`);
}

/** A free NodePort (30000-32767), at random as the API server picks one. */
export function allocateNodePort(taken: ReadonlySet<number>, rand: (n: number) => number): number {
  const count = NODE_PORT_MAX - NODE_PORT_MIN + 1;
  const start = rand(count);
  for (let i = 0; i < count; i++) {
    const port = NODE_PORT_MIN + ((start + i) % count);
    if (!taken.has(port)) return port;
  }
  throw new ValidationError('spec.ports', `no free node port left in ${NODE_PORT_MIN}-${NODE_PORT_MAX}: delete a NodePort service`);
}
