/**
 * The datapath's view of services: frontends (VIP, port, protocol) with
 * their backends, as the control plane hands them over, and the pure rules
 * that turn one into map entries (validation, slot layout). The kernel side
 * is in lbmaps.ts; bpf/lib/lb.h is the program that reads the entries.
 */
import { ValidationError } from '../common/errors.js';
import { ip4ToInt } from './layout.js';

export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_SCTP = 132;

export interface LbBackend {
  ip: string;
  port: number;
  state: 'active' | 'terminating';
}

export interface LbFrontend {
  /** Reverse-NAT index, 1..65535, chosen by the control plane. */
  id: number;
  vip: string;
  port: number;
  /** IPPROTO_TCP/UDP/SCTP. */
  protocol: number;
  algorithm: 'random' | 'maglev';
  /** Session affinity timeout in seconds; 0 = none. */
  affinityTimeoutSec: number;
  /** All of them; terminating ones get no new connections. */
  backends: LbBackend[];
}

export interface RealizedFrontend extends LbFrontend {
  backends: (LbBackend & { id: number })[];
}

/** The name a backend is shared under between frontends (and hashed by Maglev). */
export function backendKey(ip: string, port: number, protocol: number): string {
  return `${ip}:${port}/${protocol}`;
}

/** The frontend's address as a key: two frontends may not share it. */
export function frontendAddress(f: Pick<LbFrontend, 'vip' | 'port' | 'protocol'>): string {
  return backendKey(f.vip, f.port, f.protocol);
}

function checkIp(path: string, ip: unknown): void {
  let n: number;
  try {
    n = ip4ToInt(ip as string);
  } catch {
    throw new ValidationError(path, `"${String(ip)}" is not an IPv4 address; give a dotted quad like 10.96.0.10`);
  }
  if (n === 0) throw new ValidationError(path, '0.0.0.0 cannot be a service or backend address');
}

function checkInt(path: string, v: unknown, min: number, max: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ValidationError(path, `${String(v)} is out of range; expected an integer in ${min}..${max}`);
  }
}

/**
 * Throws a ValidationError naming the field when the frontend cannot be
 * realized. SCTP frontends must not translate the port: rewriting an SCTP
 * port needs its CRC32c recomputed, which the datapath does not do.
 */
export function validateFrontend(f: LbFrontend): void {
  checkInt('id', f.id, 1, 65535);
  checkIp('vip', f.vip);
  checkInt('port', f.port, 1, 65535);
  if (![IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP].includes(f.protocol)) {
    throw new ValidationError('protocol', `${String(f.protocol)} is not a service protocol; expected 6 (TCP), 17 (UDP) or 132 (SCTP)`);
  }
  if (f.algorithm !== 'random' && f.algorithm !== 'maglev') {
    throw new ValidationError('algorithm', `"${String(f.algorithm)}" is not a selection algorithm; expected "random" or "maglev"`);
  }
  checkInt('affinityTimeoutSec', f.affinityTimeoutSec, 0, 0xffffffff);
  if (!Array.isArray(f.backends)) throw new ValidationError('backends', 'expected a list of backends');
  if (f.backends.length > 65535) throw new ValidationError('backends', `${f.backends.length} backends; at most 65535 fit a frontend`);
  f.backends.forEach((b, i) => {
    checkIp(`backends[${i}].ip`, b.ip);
    checkInt(`backends[${i}].port`, b.port, 1, 65535);
    if (b.state !== 'active' && b.state !== 'terminating') {
      throw new ValidationError(`backends[${i}].state`, `"${String(b.state)}" is not a backend state; expected "active" or "terminating"`);
    }
    if (f.protocol === IPPROTO_SCTP && b.port !== f.port) {
      throw new ValidationError(`backends[${i}].port`, `SCTP backends must use the frontend's port ${f.port}: the datapath does not translate SCTP ports`);
    }
  });
}

/**
 * The frontend's backends in slot order: the active ones (the only ones
 * new connections pick, slots 1..active.length), then the terminating ones.
 * A backend listed twice counts once, active if either listing is.
 */
export function slotOrder(f: LbFrontend): { active: LbBackend[]; terminating: LbBackend[] } {
  const byKey = new Map<string, LbBackend>();
  for (const b of f.backends) {
    const k = backendKey(b.ip, b.port, f.protocol);
    const seen = byKey.get(k);
    if (!seen || (seen.state === 'terminating' && b.state === 'active')) byKey.set(k, { ip: b.ip, port: b.port, state: b.state });
  }
  const all = [...byKey.values()];
  return { active: all.filter((b) => b.state === 'active'), terminating: all.filter((b) => b.state === 'terminating') };
}
