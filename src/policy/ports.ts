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

/**
 * Named ports by name: one endpoint's (one port a name), or the pods of one
 * identity's (several, when its pods give a name different numbers).
 */
export type NamedPorts = ReadonlyMap<string, NamedPort | readonly NamedPort[]>;

/**
 * The named ports of the pods of each identity, which egress rules resolve a
 * named port against: as Kubernetes defines it, the destination pod's port of
 * that name. Identities of no pod (CIDR, reserved) have none.
 */
export type PeerNamedPorts = ReadonlyMap<number, ReadonlyMap<string, readonly NamedPort[]>>;

/** A container port as pods declare them (ContainerPortModel). */
export interface ContainerPortLike {
  name?: string;
  containerPort: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
}

/** PeerNamedPorts of pods given with their identity; every distinct port of a name is kept, in ascending order. */
export function peerNamedPortsOf(pods: Iterable<{ identity: number; ports: readonly ContainerPortLike[] }>): Map<number, Map<string, NamedPort[]>> {
  const out = new Map<number, Map<string, NamedPort[]>>();
  for (const { identity, ports } of pods) {
    for (const p of ports) {
      if (!p.name) continue;
      let byName = out.get(identity);
      if (!byName) out.set(identity, byName = new Map());
      const list = byName.get(p.name) ?? [];
      if (!list.some((x) => x.port === p.containerPort && x.protocol === p.protocol)) list.push({ port: p.containerPort, protocol: p.protocol });
      byName.set(p.name, list);
    }
  }
  for (const byName of out.values()) for (const list of byName.values()) list.sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
  return out;
}

/**
 * The cluster-wide meaning of each port name, as Cilium resolves an egress
 * named port for every peer: the one number (per protocol) the pods give the
 * name; a name they give different numbers resolves to nothing.
 */
export function clusterNamedPorts(peers: PeerNamedPorts): Map<string, NamedPort[]> {
  const seen = new Map<string, Map<NamedPort['protocol'], Set<number>>>();
  for (const byName of peers.values()) {
    for (const [name, ports] of byName) {
      let byProto = seen.get(name);
      if (!byProto) seen.set(name, byProto = new Map());
      for (const p of ports) {
        let numbers = byProto.get(p.protocol);
        if (!numbers) byProto.set(p.protocol, numbers = new Set());
        numbers.add(p.port);
      }
    }
  }
  const out = new Map<string, NamedPort[]>();
  for (const [name, byProto] of seen) {
    const unique = [...byProto].filter(([, numbers]) => numbers.size === 1).map(([protocol, numbers]) => ({ port: [...numbers][0]!, protocol }));
    if (unique.length > 0) out.set(name, unique);
  }
  return out;
}

/** Whether some port of `toPorts` is a named port. */
export const hasNamedPort = (toPorts: readonly PortRule[] | undefined): boolean =>
  (toPorts ?? []).some((r) => r.ports.some((pp) => typeof pp.port === 'string'));

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
 * A named port yields a block per port `namedPorts` has of that name with a
 * protocol the rule asks for, so nothing when it has none. `namedOnly`: only
 * the blocks of named ports (for a peer whose named ports add to what the
 * numbered ports already give every peer).
 */
export function portBlocks(toPorts: readonly PortRule[] | undefined, namedPorts: NamedPorts, namedOnly = false): L4Block[] {
  if (!toPorts || toPorts.length === 0) return namedOnly ? [] : [EVERYTHING];
  const out: L4Block[] = [];
  for (const rule of toPorts) {
    if (rule.ports.length === 0) {
      if (!namedOnly) out.push(EVERYTHING);
      continue;
    }
    // HTTP is spoken over TCP: the rules apply to its TCP blocks (an empty list of rules is no L7 rule at all).
    const http = rule.rules?.http?.length ? rule.rules.http : undefined;
    const push = (b: L4Block) => out.push(http && b.protocol === PROTOCOL_NUMBERS.TCP ? { ...b, http } : b);
    for (const pp of rule.ports) {
      const protocols = pp.protocol === 'ANY' ? (['TCP', 'UDP', 'SCTP'] as const) : [pp.protocol];
      if (typeof pp.port === 'string') {
        const found = namedPorts.get(pp.port);
        const named: readonly NamedPort[] = found === undefined ? [] : Array.isArray(found) ? found : [found as NamedPort];
        for (const n of named) {
          if (protocols.includes(n.protocol)) push({ protocol: PROTOCOL_NUMBERS[n.protocol], port: n.port, prefixLen: FULL_PREFIX_LEN });
        }
        continue;
      }
      if (namedOnly) continue;
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
