/**
 * The datapath benchmark's results as the report shows them: one row per
 * configuration with its samples, the table (median, range, ratio to the
 * plain veth pair), the per-family curves a chart draws, and the paragraph
 * that states the method. Pure (numbers in, text out).
 */

/**
 * Which curve a configuration belongs to. `baseline`: the plain veth pair;
 * `membrane`: membrane without a rule set that scales (no policy, the L3/L4
 * pair of policies); the others have `ruleCount`.
 */
export type DatapathFamily = 'baseline' | 'membrane' | 'membrane-identities' | 'membrane-cidr' | 'iptables-legacy' | 'iptables-nft' | 'nft-set';

export interface BenchRow {
  name: string;
  family: DatapathFamily;
  /** Peers the rule set lets in, the client's rule included (identities, prefixes + the client's rule, iptables rules, set elements). */
  ruleCount?: number;
  /** TCP_RR-like transactions/s, one sample per repetition. */
  rr: number[];
  /** TCP_CRR-like connections/s. */
  crr: number[];
  /** iperf3, one stream, Gbit/s received. */
  iperf: number[];
}

export type DatapathTest = 'rr' | 'crr' | 'iperf';

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The plain veth pair's row; throws when the rows have none (every ratio is to it). */
export function baselineRow(rows: readonly BenchRow[]): BenchRow {
  const b = rows.find((r) => r.family === 'baseline');
  if (!b) throw new Error('the datapath rows have no plain veth pair (family "baseline") to compare with');
  return b;
}

/** median(row) / median(the veth pair) for one test. */
export function ratioToVeth(row: BenchRow, base: BenchRow, test: DatapathTest): number {
  return median(row[test]) / median(base[test]);
}

const SERIES: readonly { family: DatapathFamily; name: string }[] = [
  { family: 'membrane-identities', name: 'membrane, identities in the peer set' },
  { family: 'membrane-cidr', name: 'membrane, CIDR rules' },
  { family: 'iptables-legacy', name: 'iptables-legacy' },
  { family: 'iptables-nft', name: 'iptables-nft' },
  { family: 'nft-set', name: 'nft set' },
];

export interface DatapathSeries {
  name: string;
  family: DatapathFamily;
  /** x: rule count; y: median / the veth pair's median for the chosen test, ascending x. */
  points: { x: number; y: number }[];
}

/**
 * The rule-scaling curves: per family, (rule count, ratio to the veth pair).
 * The default test is TCP_CRR-like because a new connection is where every
 * rule set is consulted in full (iptables and nft accept later packets on
 * their first, RELATED,ESTABLISHED rule), so it shows best whether a
 * family's cost grows with its rules. Families without rows are left out.
 */
export function datapathSeries(rows: readonly BenchRow[], test: DatapathTest = 'crr'): DatapathSeries[] {
  const base = baselineRow(rows);
  const out: DatapathSeries[] = [];
  for (const s of SERIES) {
    const points = rows.filter((r) => r.family === s.family && r.ruleCount !== undefined)
      .map((r) => ({ x: r.ruleCount!, y: ratioToVeth(r, base, test) }))
      .sort((a, b) => a.x - b.x);
    if (points.length > 0) out.push({ name: s.name, family: s.family, points });
  }
  return out;
}

const num = (x: number) => Math.round(x).toLocaleString('en-US');
const gbit = (x: number) => x.toFixed(2);

function cell(xs: readonly number[], base: readonly number[], f: (x: number) => string): string {
  if (xs.length === 0) return '– | –';
  return `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))}) | ${(median(xs) / median(base)).toFixed(2)}`;
}

/** One line per configuration: median (range) and ratio to the veth pair for TCP_RR-like, TCP_CRR-like and iperf3. */
export function formatDatapathTable(rows: readonly BenchRow[]): string {
  const base = baselineRow(rows);
  const lines = [
    '| configuration | rules | TCP_RR-like trans/s median (range) | × veth | TCP_CRR-like conn/s median (range) | × veth | iperf3 1 stream Gbit/s median (range) | × veth |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(`| ${r.name} | ${r.ruleCount === undefined ? '–' : num(r.ruleCount)} | ${cell(r.rr, base.rr, num)} | ${cell(r.crr, base.crr, num)} | ${cell(r.iperf, base.iperf, gbit)} |`);
  }
  return lines.join('\n');
}

/** The goal of membrane issue 7 (reported, not asserted): every membrane configuration at ≥ 0.95 of the veth pair in every test. */
export const DATAPATH_GOAL = 0.95;

/** Whether membrane met DATAPATH_GOAL, with its lowest ratio and where. */
export function datapathGoalLine(rows: readonly BenchRow[]): string {
  const base = baselineRow(rows);
  const label: Record<DatapathTest, string> = { rr: 'TCP_RR-like', crr: 'TCP_CRR-like', iperf: 'iperf3' };
  let worst: { ratio: number; row: BenchRow; test: DatapathTest } | undefined;
  for (const row of rows.filter((r) => r.family.startsWith('membrane'))) {
    for (const test of ['rr', 'crr', 'iperf'] as const) {
      if (row[test].length === 0) continue;
      const ratio = ratioToVeth(row, base, test);
      if (!worst || ratio < worst.ratio) worst = { ratio, row, test };
    }
  }
  if (!worst) return 'No membrane configuration was measured.';
  const met = worst.ratio >= DATAPATH_GOAL;
  return `Goal (reported, not asserted): membrane at ≥ ${DATAPATH_GOAL.toFixed(2)}× the plain veth pair in every configuration and test — ` +
    `${met ? 'met' : 'not met'}; lowest ratio ${worst.ratio.toFixed(2)} (${label[worst.test]}, ${worst.row.name}).`;
}

/** The method, for the report: what each configuration is, pinning, interleaving, repetitions, the ratio. */
export function datapathParagraph(reps: number, secs: number): string {
  return [
    'Two pods on one node, client and server pinned to CPU 0 (`taskset -c 0`: cross-CPU wake-ups cost about 100 µs a round trip on this VM), ' +
    `every configuration interleaved (A B C … A B C …), ${reps} repetitions; in each, ${secs} s of TCP_RR-like (\`bench/pp.c\`: 1-byte ping-pong on one connection, TCP_NODELAY), ` +
    `${secs} s of TCP_CRR-like (connect, 1 byte each way, RST close) and ${secs} s of \`iperf3 -c … -t ${secs} -J\` (one stream, the receiver's rate; a long-lived \`iperf3 -s\` pinned to CPU 0 in the server's namespace). ` +
    'Figures are the median (range) of the repetitions; × veth = median / the plain veth pair\'s median in the same run.',
    '',
    '- **plain veth pair** (the baseline): two namespaces joined by one veth pair, no programs, no rules.',
    '- **membrane**: a test node (node netns, a real agent, server and client pods through the CNI plugin); with no policy, and with the L3/L4 pair of policies ' +
    '(the server lets the client in, the client may reach the server) on the benchmark\'s ports 5200–5203 (pp on 5201, iperf3 on 5202; one range, one policy-map entry per peer). ' +
    'A packet between the pods crosses two veth pairs and the node namespace\'s routing, so the ratio to the single veth pair holds that topology as well as membrane\'s programs.',
    '- **membrane, N identities**: the server lets in, on those ports, every identity labelled `peers-N=yes`: the client and N − 1 identities of pods of the same namespace elsewhere in the cluster. ' +
    'Those are seeded into the agent\'s persisted identity allocations and adopted by a restart (the agent keeps an allocation without endpoints, as it keeps a remote pod\'s identity; ' +
    'no veth per identity), so the selector matches them all and the server\'s policy map holds an entry per identity — counted in the kernel map before the first measurement; ' +
    'they have no ipcache entries, as no packet comes from them.',
    '- **membrane, N CIDR rules**: the server lets in N − 1 /32 prefixes (`fromCIDR`: 198.51.100.0/24, 203.0.113.0/24, then 10.201.0.0/16, where nothing is) and the client (`fromEndpoints`, since a CIDR rule does not match a pod), ' +
    'so the ipcache holds N − 1 more prefixes, each a CIDR identity, and the policy map an entry for each (both counted in the kernel maps). ' +
    'This configuration has a node of its own (same set-up), its policy imported once before the repetitions: the agent takes over a minute to import 10,000 prefixes, too long to repeat. ' +
    'On the first node, each configuration\'s policies are imported before each of its turns and the previous ones deleted, so the maps hold only its entries.',
    '- **iptables-legacy, iptables-nft**: a plain veth pair of its own, the server\'s namespace holding filter rules loaded with `iptables-legacy-restore` / `iptables-nft-restore`: INPUT policy DROP, ' +
    'first `-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT` (as real firewalls are written: only a connection\'s first packet walks the list, so TCP_CRR-like shows the cost, TCP_RR-like and iperf3 barely), ' +
    'then N `-s ADDR/32 -p tcp --dport 5200:5203 -j ACCEPT` rules with the client\'s last (the worst case). membrane, unlike this, looks up the policy map for every packet of a connection in its original direction.',
    '- **nft set**: the same in one `nft -f` table: a set of N IPv4 addresses, `ct state established,related accept`, then `ip saddr @allowed tcp dport 5200-5203 accept`, policy drop.',
    '',
    'N counts every peer a configuration lets in, the client included.',
  ].join('\n');
}
