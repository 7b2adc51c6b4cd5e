/**
 * What the datapath benchmark's rule-scaling configurations load, as text:
 * the addresses the rules name, the membrane policies, the iptables-restore
 * input and the nft script; and the parsers of what its tools print. Pure
 * (no I/O), so every rule set can be checked without root.
 *
 * Every configuration lets the same traffic in with one rule per peer: TCP
 * to the benchmark's ports (BENCH_PORTS, one range so that it is one policy
 * map entry, one iptables rule and one nft match per peer) from N peers, the
 * client being one of them. The other N - 1 are match data only: addresses
 * no namespace of the benchmark has and nothing routes to.
 */

import { ip4ToInt } from '../datapath/layout.js';

/** The ports every rule allows: pp's server listens on PP_PORT, iperf3's on IPERF_PORT. 5200-5203 is one port prefix (/14). */
export const BENCH_PORTS = { first: 5200, last: 5203 } as const;
export const PP_PORT = 5201;
export const IPERF_PORT = 5202;

/** Documentation ranges first (RFC 5737), then 10.201.0.0/16, which no namespace of the benchmark uses. */
const FILLER_RANGES: readonly { base: string; size: number }[] = [
  { base: '198.51.100.0', size: 256 },
  { base: '203.0.113.0', size: 256 },
  { base: '10.201.0.0', size: 65_536 },
];
const FILLER_CAPACITY = FILLER_RANGES.reduce((n, r) => n + r.size, 0);

function intToIp4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/**
 * `count` distinct addresses for the rules that do not match the client:
 * 198.51.100.0/24, then 203.0.113.0/24, then 10.201.0.0/16, skipping
 * `exclude` (the client's own address, should it fall there).
 * Throws RangeError beyond the ranges' 66,048 addresses.
 */
export function fillerAddresses(count: number, exclude: readonly string[] = []): string[] {
  if (!Number.isInteger(count) || count < 0 || count > FILLER_CAPACITY - exclude.length) {
    throw new RangeError(`${count} filler addresses asked for; there are ${FILLER_CAPACITY} (198.51.100.0/24, 203.0.113.0/24, 10.201.0.0/16)`);
  }
  const skip = new Set(exclude);
  const out: string[] = [];
  for (const r of FILLER_RANGES) {
    const base = ip4ToInt(r.base);
    for (let i = 0; i < r.size && out.length < count; i++) {
      const ip = intToIp4(base + i);
      if (!skip.has(ip)) out.push(ip);
    }
  }
  return out;
}

/**
 * The source addresses of an N-rule firewall: N - 1 fillers, then the
 * client's address last, so a new connection from the client walks every
 * rule (iptables' worst case; an nft set does not care about order).
 */
export function firewallSources(rules: number, clientIp: string): string[] {
  if (!Number.isInteger(rules) || rules < 1) throw new RangeError(`a firewall needs at least 1 rule (the client's), not ${rules}`);
  return [...fillerAddresses(rules - 1, [clientIp]), clientIp];
}

/**
 * iptables-restore input for the server's filter table: INPUT drops by
 * default; its first rule accepts packets of connections conntrack already
 * knows (RELATED,ESTABLISHED), as real firewalls are written, so only the
 * first packet of a connection walks the per-source rules; then one rule
 * per source, in order. Loaded into a fresh namespace (no --noflush needed).
 */
export function iptablesRestoreText(sources: readonly string[]): string {
  const lines = [
    '*filter',
    ':INPUT DROP [0:0]',
    ':FORWARD DROP [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    '-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    ...sources.map((s) => `-A INPUT -s ${s}/32 -p tcp -m tcp --dport ${BENCH_PORTS.first}:${BENCH_PORTS.last} -j ACCEPT`),
    'COMMIT',
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * An `nft -f` script with the same policy as one set lookup: a table
 * `table` holding the sources as a set of IPv4 addresses, and an input
 * chain that drops by default, accepts known connections first, then
 * `ip saddr @allowed tcp dport 5200-5203 accept`.
 */
export function nftSetText(table: string, sources: readonly string[]): string {
  if (!/^[a-z][a-z0-9_]*$/.test(table)) throw new RangeError(`"${table}" is not a usable nft table name`);
  if (sources.length === 0) throw new RangeError('an nft set needs at least one element');
  return [
    `table ip ${table} {`,
    '  set allowed {',
    '    type ipv4_addr',
    `    elements = { ${sources.join(', ')} }`,
    '  }',
    '  chain input {',
    '    type filter hook input priority filter; policy drop;',
    '    ct state established,related accept',
    `    ip saddr @allowed tcp dport ${BENCH_PORTS.first}-${BENCH_PORTS.last} accept`,
    '  }',
    '}',
    '',
  ].join('\n');
}

// ---- membrane policies (JSON, which the agent's import takes as YAML's subset) ----

/** The pod label that puts the client (and the seeded peer identities) into the peer set of size `peers`. */
export function peerSetLabel(peers: number): string {
  return `peers-${peers}`;
}

const benchPorts = () => [{ ports: [{ port: String(BENCH_PORTS.first), endPort: BENCH_PORTS.last, protocol: 'TCP' }] }];

function cnp(name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata: { name }, spec };
}

/** The existing L3/L4 configuration: the server lets the client in, the client may reach the server, on the benchmark's ports. */
export function l3l4PolicyText(server: Record<string, string>, client: Record<string, string>): string {
  return JSON.stringify([
    cnp('bench-server', { endpointSelector: { matchLabels: server }, ingress: [{ fromEndpoints: [{ matchLabels: client }], toPorts: benchPorts() }] }),
    cnp('bench-client', { endpointSelector: { matchLabels: client }, egress: [{ toEndpoints: [{ matchLabels: server }], toPorts: benchPorts() }] }),
  ]);
}

/** The server lets in every identity labelled peers-N=yes (N identities, the client one of them), on the benchmark's ports. */
export function identityPolicyText(server: Record<string, string>, peers: number): string {
  return JSON.stringify([
    cnp('bench-server', { endpointSelector: { matchLabels: server }, ingress: [{ fromEndpoints: [{ matchLabels: { [peerSetLabel(peers)]: 'yes' } }], toPorts: benchPorts() }] }),
  ]);
}

/**
 * The server lets in `prefixes` (fromCIDR, one /32 each) and the client
 * (fromEndpoints: pods have identities of their own, which CIDR rules do
 * not match), on the benchmark's ports.
 */
export function cidrPolicyText(server: Record<string, string>, client: Record<string, string>, prefixes: readonly string[]): string {
  return JSON.stringify([
    cnp('bench-server', {
      endpointSelector: { matchLabels: server },
      ingress: [
        { fromCIDR: prefixes.map((p) => (p.includes('/') ? p : `${p}/32`)), toPorts: benchPorts() },
        { fromEndpoints: [{ matchLabels: client }], toPorts: benchPorts() },
      ],
    }),
  ]);
}

// ---- seeded peer identities ----

/** An identity snapshot as the agent persists it (identities.json). */
export interface IdentitySnapshotFile {
  version: 1;
  identities: { id: number; labels: string[] }[];
}

/**
 * The labels of seeded peer `index` (0-based), derived from the client's
 * identity labels so they read as pods of the same namespace, cluster and
 * service account: `k8s:app=bench-peer`, `k8s:bench-peer=<index>`, and
 * `k8s:peers-N=yes` for each N in `peerSets` with index < N - 1 (the
 * client, with every peers-N label, is the N-th member).
 */
export function seededPeerLabels(clientLabels: readonly string[], index: number, peerSets: readonly number[]): string[] {
  const kept = clientLabels.filter((l) => !l.startsWith('k8s:app=') && !/^k8s:peers-\d+=/.test(l));
  const extra = ['k8s:app=bench-peer', `k8s:bench-peer=${index}`, ...peerSets.filter((n) => index < n - 1).map((n) => `k8s:${peerSetLabel(n)}=yes`)];
  return [...kept, ...extra].sort();
}

/**
 * `snapshot` with `count` seeded peers added at the lowest free ids from 256
 * (the allocator's range), as the agent would have allocated them.
 */
export function withSeededPeers(snapshot: IdentitySnapshotFile | undefined, clientLabels: readonly string[], count: number, peerSets: readonly number[]): IdentitySnapshotFile {
  const identities = [...(snapshot?.identities ?? [])];
  const used = new Set(identities.map((i) => i.id));
  let next = 256;
  for (let i = 0; i < count; i++) {
    while (used.has(next)) next++;
    if (next > 65535) throw new RangeError(`no identity id left for seeded peer ${i}`);
    used.add(next);
    identities.push({ id: next, labels: seededPeerLabels(clientLabels, i, peerSets) });
  }
  return { version: 1, identities: identities.sort((a, b) => a.id - b.id) };
}

// ---- tool output ----

/** pp's rate (`= 12345 trans/s` or `conn/s`); throws naming the output when there is none. */
export function parsePpRate(stdout: string): number {
  const m = /= (\d+) (trans|conn)\/s/.exec(stdout);
  if (!m) throw new Error(`pp printed no rate: ${stdout.trim().slice(0, 200)}`);
  return Number(m[1]);
}

/**
 * The receiver's throughput in Gbit/s from `iperf3 -c ... -J` (end.sum_received,
 * what arrived, rather than what the sender wrote into its socket). Throws
 * with iperf3's own error when the test failed.
 */
export function parseIperf3Json(text: string): number {
  let doc: { error?: string; end?: { sum_received?: { bits_per_second?: number } } };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch {
    throw new Error(`iperf3 printed no JSON: ${text.trim().slice(0, 200)}`);
  }
  if (doc.error) throw new Error(`iperf3 failed: ${doc.error}`);
  const bps = doc.end?.sum_received?.bits_per_second;
  if (typeof bps !== 'number' || !Number.isFinite(bps)) throw new Error('iperf3 JSON has no end.sum_received.bits_per_second');
  return bps / 1e9;
}
