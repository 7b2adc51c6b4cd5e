/** IPv4 CIDR arithmetic (pure). */
import { ValidationError } from '../common/errors.js';
import { intToIp4, ip4ToInt } from '../datapath/layout.js';

export interface Cidr {
  network: number; // host-order integer of the first address
  prefix: number;
}

export function parseCidr(text: string, field = 'cidr'): Cidr {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(text.trim());
  if (!m) throw new ValidationError(field, `"${text}" is not an IPv4 CIDR like 10.244.1.0/24`);
  const prefix = Number(m[2]);
  if (prefix > 32) throw new ValidationError(field, `prefix length ${prefix} is over 32`);
  let addr: number;
  try {
    addr = ip4ToInt(m[1]!);
  } catch {
    throw new ValidationError(field, `"${m[1]}" is not an IPv4 address`);
  }
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { network: (addr & mask) >>> 0, prefix };
}

export function cidrSize(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function cidrContains(c: Cidr, ip: string | number): boolean {
  const n = typeof ip === 'string' ? ip4ToInt(ip) : ip;
  const mask = c.prefix === 0 ? 0 : (0xffffffff << (32 - c.prefix)) >>> 0;
  return ((n & mask) >>> 0) === c.network;
}

export function formatCidr(c: Cidr): string {
  return `${intToIp4(c.network)}/${c.prefix}`;
}

/** The n-th address of the CIDR (0 = network address). */
export function cidrAddress(c: Cidr, n: number): string {
  return intToIp4((c.network + n) >>> 0);
}
