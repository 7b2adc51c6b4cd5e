/**
 * Port values of policies: validation of what users write (`80`, `"80"`,
 * `"http-8080"`, ranges with `endPort`) and their translation into
 * protocol/port blocks of the policy map, with named ports resolved.
 */
import { PROTO_PREFIX_LEN, FULL_PREFIX_LEN, Proto, portRangeToPrefixes } from './mapstate.js';
import type { HttpRule, PortProtocolName, PortRule } from './types.js';

export const PORT_PROTOCOLS: readonly PortProtocolName[] = ['TCP', 'UDP', 'SCTP', 'ANY'];

/** How a `port` field reads: a number (0 = all ports) or a named port, or why it is invalid. */
export type PortValue = { number: number } | { name: string } | { error: string };

/** A Kubernetes port name (IANA_SVC_NAME): up to 15 of a-z, 0-9 and '-', with a letter, no '-' at either end, no '--'. */
export function isPortName(name: string): boolean {
  return /^[a-z0-9](?:[a-z0-9-]{0,13}[a-z0-9])?$/.test(name) && /[a-z]/.test(name) && !name.includes('--');
}

export function readPortValue(port: number | string | undefined): PortValue {
  if (port === undefined || port === '') return { number: 0 };
  if (typeof port === 'number' || /^\d+$/.test(port)) {
    const n = Number(port);
    if (!Number.isInteger(n) || n < 0 || n > 65535) return { error: `${JSON.stringify(port)} is not a port; ports are whole numbers 0-65535` };
    return { number: n };
  }
  const name = port.toLowerCase();
  if (!isPortName(name)) {
    return { error: `${JSON.stringify(port)} is neither a port number (0-65535) nor a port name ` +
      '(up to 15 characters a-z, 0-9 and "-", with at least one letter, like "http-8080")' };
  }
  return { name };
}

export const PROTOCOL_NUMBERS: Readonly<Record<Exclude<PortProtocolName, 'ANY'>, number>> = {
  TCP: Proto.TCP, UDP: Proto.UDP, SCTP: Proto.SCTP,
};

/** A named port of an endpoint (from its pod's container ports). */
export interface NamedPort {
  port: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
}

/** One block of the policy map's protocol/port space. prefixLen 0 = everything. */
export interface L4Block {
  protocol: number;
  port: number;
  prefixLen: number;
  /** TCP blocks of a port rule with HTTP rules: the proxy decides each request. */
  http?: readonly HttpRule[];
}

const EVERYTHING: L4Block = { protocol: 0, port: 0, prefixLen: 0 };

/**
 * The blocks a rule's `toPorts` allow or deny. No toPorts, or a PortRule
 * without ports: every protocol and port. ANY expands to TCP, UDP and SCTP.
 * A named port that `namedPorts` cannot resolve (or that has another
 * protocol than the rule asks for) yields nothing.
 */
export function portBlocks(toPorts: readonly PortRule[] | undefined, namedPorts: ReadonlyMap<string, NamedPort>): L4Block[] {
  if (!toPorts || toPorts.length === 0) return [EVERYTHING];
  const out: L4Block[] = [];
  for (const rule of toPorts) {
    if (rule.ports.length === 0) {
      out.push(EVERYTHING);
      continue;
    }
    // HTTP is spoken over TCP: the rules apply to its TCP blocks (an empty list of rules is no L7 rule at all).
    const http = rule.rules?.http?.length ? rule.rules.http : undefined;
    const push = (b: L4Block) => out.push(http && b.protocol === PROTOCOL_NUMBERS.TCP ? { ...b, http } : b);
    for (const pp of rule.ports) {
      const protocols = pp.protocol === 'ANY' ? (['TCP', 'UDP', 'SCTP'] as const) : [pp.protocol];
      if (typeof pp.port === 'string') {
        const named = namedPorts.get(pp.port);
        if (named && protocols.includes(named.protocol)) {
          push({ protocol: PROTOCOL_NUMBERS[named.protocol], port: named.port, prefixLen: FULL_PREFIX_LEN });
        }
        continue;
      }
      for (const p of protocols) {
        const protocol = PROTOCOL_NUMBERS[p];
        if (pp.port === 0) push({ protocol, port: 0, prefixLen: PROTO_PREFIX_LEN });
        else if (pp.endPort === undefined) push({ protocol, port: pp.port, prefixLen: FULL_PREFIX_LEN });
        else for (const b of portRangeToPrefixes(pp.port, pp.endPort)) push({ protocol, ...b });
      }
    }
  }
  return out;
}
