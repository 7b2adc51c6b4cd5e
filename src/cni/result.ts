/**
 * The CNI result: built from what ADD did, and read back from `prevResult`
 * for CHECK. Pure.
 *
 * 1.0.0 and 1.1.0 share the shape; 1.1.0 adds optional fields, of which
 * membrane fills `interfaces[].mtu`.
 */
import type { CniVersion } from './config.js';
import { CniCode, CniError } from './errors.js';

export interface CniInterface {
  name: string;
  mac?: string;
  /** Since 1.1.0. */
  mtu?: number;
  /** The netns path, for the pod's interface only. */
  sandbox?: string;
}

export interface CniIpConfig {
  address: string; // CIDR
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
}

export interface CniResult {
  cniVersion: CniVersion;
  interfaces: CniInterface[];
  ips: CniIpConfig[];
  routes: CniRoute[];
  dns: Record<string, unknown>;
}

/** What ADD built, as the result needs it. */
export interface Attachment {
  hostIfName: string;
  hostMac: string;
  podIfName: string;
  podMac: string;
  netns: string;
  podIp: string; // no prefix
  gateway: string;
  mtu: number;
}

export function buildAddResult(version: CniVersion, a: Attachment): CniResult {
  const withMtu = version !== '1.0.0';
  const host: CniInterface = { name: a.hostIfName, mac: a.hostMac };
  const pod: CniInterface = { name: a.podIfName, mac: a.podMac };
  if (withMtu) {
    host.mtu = a.mtu;
    pod.mtu = a.mtu;
  }
  pod.sandbox = a.netns;
  return {
    cniVersion: version,
    interfaces: [host, pod],
    // interface: 1 points at the pod's interface, where the address lives.
    ips: [{ address: `${a.podIp}/32`, gateway: a.gateway, interface: 1 }],
    routes: [{ dst: '0.0.0.0/0', gw: a.gateway }],
    dns: {},
  };
}

/** What CHECK expects to find, read from prevResult. */
export interface ExpectedAttachment {
  /** The pod's addresses (CIDR) on CNI_IFNAME. */
  podAddresses: string[];
  /** The host-side interface the result names, if any (no sandbox). */
  hostIfName?: string;
}

const invalid = (path: string, msg: string): never => {
  throw new CniError(CniCode.InvalidNetworkConfig, `prevResult.${path} ${msg}`);
};

/**
 * Reads the interfaces and addresses a previous ADD reported for `ifName`.
 * Code 7 naming the field when prevResult is missing or malformed.
 */
export function expectedFromPrevResult(prev: unknown, ifName: string): ExpectedAttachment {
  if (prev === undefined) throw new CniError(CniCode.InvalidNetworkConfig, 'CHECK needs prevResult in the network configuration');
  if (typeof prev !== 'object' || prev === null || Array.isArray(prev)) {
    throw new CniError(CniCode.InvalidNetworkConfig, 'prevResult must be an object');
  }
  const r = prev as Record<string, unknown>;
  const interfaces = r['interfaces'] ?? [];
  const ips = r['ips'] ?? [];
  if (!Array.isArray(interfaces)) invalid('interfaces', 'must be an array');
  if (!Array.isArray(ips)) invalid('ips', 'must be an array');
  const ifaces = (interfaces as unknown[]).map((item, i) => {
    const o = (item ?? {}) as Record<string, unknown>;
    if (typeof o['name'] !== 'string') invalid(`interfaces[${i}].name`, 'must be a string');
    if (o['sandbox'] !== undefined && typeof o['sandbox'] !== 'string') invalid(`interfaces[${i}].sandbox`, 'must be a string');
    return { name: o['name'] as string, sandbox: (o['sandbox'] as string | undefined) ?? '' };
  });
  const podIndex = ifaces.findIndex((f) => f.name === ifName && f.sandbox !== '');
  if (podIndex < 0) invalid('interfaces', `has no interface "${ifName}" with a sandbox`);
  const podAddresses: string[] = [];
  (ips as unknown[]).forEach((item, i) => {
    const o = (item ?? {}) as Record<string, unknown>;
    const address = o['address'];
    if (typeof address !== 'string' || !(address.includes(':') || /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(address))) {
      invalid(`ips[${i}].address`, `must be an address in CIDR notation, got ${JSON.stringify(address)}`);
    }
    // membrane assigns IPv4 only; an IPv6 address here is some other plugin's to check.
    if (o['interface'] === podIndex && !(address as string).includes(':')) podAddresses.push(address as string);
  });
  if (podAddresses.length === 0) invalid('ips', `has no address for interface ${podIndex} ("${ifName}")`);
  const host = ifaces.find((f) => f.sandbox === '');
  const expected: ExpectedAttachment = { podAddresses };
  if (host) expected.hostIfName = host.name;
  return expected;
}
