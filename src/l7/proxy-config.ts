/**
 * What the agent tells its L7 proxy (src/l7/proxy-main.ts), and how the
 * proxy finds, for a connection the datapath handed it, the policy entry
 * that made the datapath redirect it. Plain data that crosses the IPC
 * channel as JSON, and pure functions. No I/O.
 *
 * The lookup follows the datapath's (bpf/lib/policy.h, the reference in
 * src/policy/lookup.ts), restricted to the endpoint's L7 entries:
 *  1. Longest prefix match over (protocol, port) among the entries for
 *     the exact peer identity.
 *  2. The same among the entries for any peer (identity 0); it wins when
 *     step 1 found nothing or its prefix is longer.
 *  3. Otherwise step 1's entry decides.
 * The restriction is safe: the datapath redirected the connection, so its
 * winning entry was an L7 one, and it is the longest of its identity among
 * the L7 entries too, while the other identity's longest L7 entry is no
 * longer than its longest entry of any kind.
 */
import type { HttpRuleRef, PolicyEntry, PolicyKey } from '../policy/mapstate.js';
import { ip4ToInt } from '../datapath/layout.js';

/** The identity of an address the proxy knows nothing about (outside the node's pods, hosts and CIDR identities). */
export const WORLD_IDENTITY = 2;

/** One redirected policy entry of an endpoint, as the datapath's key has it, with its HTTP rules. */
export interface L7Entry {
  egress: boolean;
  /** Peer identity; 0 = any peer. */
  identity: number;
  protocol: number;
  /** Destination port; bits below the prefix are zero. */
  port: number;
  /** Prefix over the 24 bits protocol << 16 | port: 8 = any port of the protocol, 24 = this port. */
  prefixLen: number;
  /** A request passes when any rule matches (src/l7/http-rules.ts); empty: a plain allow, no HTTP rules (proxyEntries). */
  http: readonly HttpRuleRef[];
}

/** A local endpoint with L7 entries. */
/** Two entries' port ranges share a port: one prefix holds the other. */
function portsOverlap(a: Pick<L7Entry, 'protocol' | 'port' | 'prefixLen'>, b: Pick<L7Entry, 'protocol' | 'port' | 'prefixLen'>): boolean {
  const len = Math.min(a.prefixLen, b.prefixLen);
  return masked(((a.protocol & 0xff) << 16) | (a.port & 0xffff), len) === masked(((b.protocol & 0xff) << 16) | (b.port & 0xffff), len);
}

/**
 * The entries the proxy needs of an endpoint's policy map: the allows
 * with HTTP rules, and, when some are on ingress, the endpoint's other
 * ingress allows on ports they share (`http` empty: allowed without HTTP
 * rules). A request the proxy took at a client's egress is checked
 * against the server's ingress too (decide.ts), and there a more
 * specific plain allow (this very client, any method) must win over a
 * wildcard entry with HTTP rules, as it does in the kernel. Denies and
 * audited keys are the kernel's alone.
 */
export function proxyEntries(items: Iterable<{ key: PolicyKey; entry: PolicyEntry }>): L7Entry[] {
  const withRules: L7Entry[] = [];
  const plainIngress: L7Entry[] = [];
  for (const { key, entry } of items) {
    if (entry.deny || key.audit) continue;
    const base = { egress: key.egress, identity: key.identity, protocol: key.protocol, port: key.port, prefixLen: key.prefixLen };
    if (entry.proxyPort && entry.l7) withRules.push({ ...base, http: entry.l7.http });
    else if (!key.egress && !entry.proxyPort) plainIngress.push({ ...base, http: [] });
  }
  const ingressRules = withRules.filter((e) => !e.egress);
  if (ingressRules.length === 0) return withRules;
  return [...withRules, ...plainIngress.filter((p) => ingressRules.some((e) => portsOverlap(p, e)))];
}

export interface L7Endpoint {
  ip: string;
  id: number;
  identity: number;
  entries: readonly L7Entry[];
}

/** The proxy's whole configuration: sent whole whenever any of it changes. */
export interface L7ProxyConfig {
  /** Bumped by the agent on every change sent; the proxy compiles matchers once per revision. */
  revision: number;
  /** The listening ports, per direction of the redirected traffic. */
  ports: { ingress: number; egress: number };
  endpoints: readonly L7Endpoint[];
  /** Addresses with an identity of their own: every local pod and the node's addresses (host, 1). */
  addresses: readonly { ip: string; identity: number }[];
  /** CIDR identities, matched longest prefix first, for peers that are no local address. */
  cidrs: readonly { prefix: string; identity: number }[];
}

/** A proxied connection as the datapath saw it: `client` connected to `original`. */
export interface RedirectedConnection {
  egress: boolean;
  client: { ip: string; port: number };
  original: { ip: string; port: number };
  protocol: number;
}

/** What the lookup found: the endpoint whose policy redirected, the peer's identity, and the entry (none: deny). */
export interface L7Match {
  endpoint?: L7Endpoint;
  peerIdentity: number;
  entry?: L7Entry;
}

const FULL_PREFIX_LEN = 24;

function masked(value: number, prefixLen: number): number {
  if (prefixLen === 0) return 0;
  return value & ((0xffffff << (FULL_PREFIX_LEN - prefixLen)) & 0xffffff);
}

/** The longest-prefix entry of one identity among `entries` (one direction), or undefined. */
function longestMatch(entries: readonly L7Entry[], identity: number, protocol: number, port: number): L7Entry | undefined {
  const value = ((protocol & 0xff) << 16) | (port & 0xffff);
  let best: L7Entry | undefined;
  for (const e of entries) {
    if (e.identity !== identity) continue;
    if (masked(value, e.prefixLen) !== masked(((e.protocol & 0xff) << 16) | (e.port & 0xffff), e.prefixLen)) continue;
    if (!best || e.prefixLen > best.prefixLen) best = e;
  }
  return best;
}

/** The entry the datapath's lookup (steps 1-3 above) picks for a peer among an endpoint's L7 entries of one direction. */
export function lookupL7Entry(entries: readonly L7Entry[], egress: boolean, peerIdentity: number, protocol: number, port: number): L7Entry | undefined {
  const mine = entries.filter((e) => e.egress === egress);
  const exact = peerIdentity !== 0 ? longestMatch(mine, peerIdentity, protocol, port) : undefined;
  const any = longestMatch(mine, 0, protocol, port);
  if (any && (!exact || any.prefixLen > exact.prefixLen)) return any;
  return exact;
}

/**
 * A view of a configuration for lookups: endpoints and addresses by IP,
 * CIDRs by prefix length, built once per configuration.
 */
export class L7ConfigView {
  private readonly endpoints = new Map<string, L7Endpoint>();
  private readonly addresses = new Map<string, number>();
  /** Longest prefix first: [prefixLen, network -> identity]. */
  private readonly cidrs: [number, Map<number, number>][] = [];

  constructor(readonly config: L7ProxyConfig) {
    for (const e of config.endpoints) this.endpoints.set(e.ip, e);
    for (const a of config.addresses) this.addresses.set(a.ip, a.identity);
    const byLen = new Map<number, Map<number, number>>();
    for (const c of config.cidrs) {
      const [ip, lenText] = c.prefix.split('/');
      const len = Number(lenText);
      let net: number;
      try {
        net = ip4ToInt(ip!);
      } catch {
        continue; // an IPv6 prefix: the proxy sees IPv4 connections only
      }
      if (!Number.isInteger(len) || len < 0 || len > 32) continue;
      let m = byLen.get(len);
      if (!m) byLen.set(len, (m = new Map()));
      m.set(maskIp(net, len), c.identity);
    }
    this.cidrs = [...byLen].sort((a, b) => b[0] - a[0]);
  }

  /** The identity the datapath gives an address: a pod's or the node's own, else the longest CIDR, else world. */
  identityOf(ip: string): number {
    const own = this.addresses.get(ip);
    if (own !== undefined) return own;
    if (this.cidrs.length > 0) {
      let n: number;
      try {
        n = ip4ToInt(ip);
      } catch {
        return WORLD_IDENTITY;
      }
      for (const [len, nets] of this.cidrs) {
        const id = nets.get(maskIp(n, len));
        if (id !== undefined) return id;
      }
    }
    return WORLD_IDENTITY;
  }

  /**
   * Finds the endpoint, peer identity and entry of a redirected connection:
   * ingress at the endpoint the client connected to, egress at the client's.
   */
  match(c: RedirectedConnection): L7Match {
    const [local, peer] = c.egress ? [c.client.ip, c.original.ip] : [c.original.ip, c.client.ip];
    const endpoint = this.endpoints.get(local);
    const peerIdentity = this.identityOf(peer);
    if (!endpoint) return { peerIdentity };
    const entry = lookupL7Entry(endpoint.entries, c.egress, peerIdentity, c.protocol, c.original.port);
    return entry ? { endpoint, peerIdentity, entry } : { endpoint, peerIdentity };
  }
}

function maskIp(n: number, len: number): number {
  return len === 0 ? 0 : (n & (0xffffffff << (32 - len))) >>> 0;
}

/** Whether two configurations say the same, revision aside (the agent sends only changes). */
export function sameProxyConfig(a: L7ProxyConfig, b: L7ProxyConfig): boolean {
  const strip = (c: L7ProxyConfig) => JSON.stringify({ ports: c.ports, endpoints: c.endpoints, addresses: c.addresses, cidrs: c.cidrs });
  return strip(a) === strip(b);
}

/** Whether any endpoint has an L7 entry: the proxy is needed. */
export function hasL7Entries(c: Pick<L7ProxyConfig, 'endpoints'>): boolean {
  return c.endpoints.some((e) => e.entries.some((x) => x.http.length > 0));
}
