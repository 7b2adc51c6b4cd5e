/**
 * The datapath benchmark's table, curves and paragraph (no kernel involved).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type BenchRow, datapathGoalLine, datapathParagraph, datapathSeries, formatDatapathTable, median, ratioToVeth } from './datapath-report.js';

const samples = (x: number) => [x * 0.9, x, x * 1.1];
const bench = (name: string, family: BenchRow['family'], scale: number, ruleCount?: number): BenchRow => ({
  name, family, ...(ruleCount === undefined ? {} : { ruleCount }), rr: samples(60_000 * scale), crr: samples(14_000 * scale), iperf: samples(16 * scale),
});

const rows: BenchRow[] = [
  bench('plain veth pair (baseline)', 'baseline', 1),
  bench('membrane, no policy', 'membrane', 0.96),
  bench('membrane, 10,000 identities in the peer set', 'membrane-identities', 0.94, 10_000),
  bench('membrane, 10 identities in the peer set', 'membrane-identities', 0.97, 10),
  bench('iptables-nft, 1,000 rules (client\'s last)', 'iptables-nft', 0.9, 1000),
  bench('iptables-nft, 10,000 rules (client\'s last)', 'iptables-nft', 0.3, 10_000),
  bench('nft set of 10,000 addresses', 'nft-set', 1, 10_000),
];

describe('datapath benchmark report', () => {
  it('takes the median of odd and even samples', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.ok(Number.isNaN(median([])));
  });

  it('compares every row with the veth pair, wherever that row is', () => {
    const shuffled = [rows[2]!, rows[0]!, rows[1]!];
    assert.equal(ratioToVeth(shuffled[0]!, rows[0]!, 'crr').toFixed(2), '0.94');
    assert.match(formatDatapathTable(shuffled), /\| membrane, 10,000 identities in the peer set \| 10,000 \| 56,400 \(50,760–62,040\) \| 0\.94 \|/);
    assert.throws(() => formatDatapathTable([rows[1]!]), /no plain veth pair/);
  });

  it('shows all three tests with ranges and ratios', () => {
    const table = formatDatapathTable(rows).split('\n');
    assert.equal(table.length, rows.length + 2);
    assert.equal(table[2], '| plain veth pair (baseline) | – | 60,000 (54,000–66,000) | 1.00 | 14,000 (12,600–15,400) | 1.00 | 16.00 (14.40–17.60) | 1.00 |');
    assert.equal(table[7], '| iptables-nft, 10,000 rules (client\'s last) | 10,000 | 18,000 (16,200–19,800) | 0.30 | 4,200 (3,780–4,620) | 0.30 | 4.80 (4.32–5.28) | 0.30 |');
  });

  it('gives one curve per family with rule counts, ascending, as CRR ratios by default', () => {
    const series = datapathSeries(rows);
    assert.deepEqual(series.map((s) => s.family), ['membrane-identities', 'iptables-nft', 'nft-set']);
    const ids = series[0]!;
    assert.deepEqual(ids.points.map((p) => p.x), [10, 10_000]);
    assert.deepEqual(ids.points.map((p) => p.y.toFixed(2)), ['0.97', '0.94']);
    assert.deepEqual(series[1]!.points.map((p) => [p.x, p.y.toFixed(2)]), [[1000, '0.90'], [10_000, '0.30']]);
    assert.equal(datapathSeries(rows, 'iperf')[2]!.points[0]!.y, 1);
  });

  it('reports whether membrane met the 0.95 goal and where it fell lowest', () => {
    assert.match(datapathGoalLine(rows), /not met; lowest ratio 0\.94 \(TCP_RR-like, membrane, 10,000 identities in the peer set\)/);
    assert.match(datapathGoalLine([rows[0]!, rows[1]!]), /— met; lowest ratio 0\.96/);
  });

  it('states the method with the repetitions and the sample length', () => {
    const p = datapathParagraph(5, 1);
    assert.match(p, /5 repetitions/);
    assert.match(p, /1 s of TCP_RR-like/);
    assert.match(p, /-t 1 -J/);
    for (const word of ['plain veth pair', 'iptables-legacy', 'iptables-nft', 'nft set', 'CIDR', 'identities', 'taskset -c 0', 'RELATED,ESTABLISHED']) assert.ok(p.includes(word), word);
  });
});
