import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { kbToMb, parseVmRssKb, percentile, ratioCell, summarize } from './control-plane-stats.js';

describe('control-plane benchmark statistics', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted on purpose

  it('takes nearest-rank percentiles: p50 of 100 samples is the 50th smallest, p99 the 99th', () => {
    assert.equal(percentile(hundred, 50), 50);
    assert.equal(percentile(hundred, 99), 99);
    assert.equal(percentile(hundred, 100), 100);
    assert.equal(percentile(hundred, 1), 1);
  });

  it('always answers a measured sample, never an interpolation', () => {
    assert.equal(percentile([10, 20], 50), 10);
    assert.equal(percentile([10, 20, 30], 50), 20);
    assert.equal(percentile([7], 99), 7);
    assert.equal(percentile([1, 2, 3, 4, 1000], 99), 1000);
  });

  it('does not reorder the caller\'s samples', () => {
    const xs = [3, 1, 2];
    percentile(xs, 50);
    assert.deepEqual(xs, [3, 1, 2]);
  });

  it('refuses no samples and a p outside (0, 100]', () => {
    assert.throws(() => percentile([], 50), /no samples/);
    assert.throws(() => percentile([1], 0), /p must be in \(0, 100\], got 0/);
    assert.throws(() => percentile([1], 101), /got 101/);
    assert.throws(() => percentile([1], NaN), /got NaN/);
  });

  it('summarizes p50, p99 and range', () => {
    assert.deepEqual(summarize(hundred), { n: 100, p50: 50, p99: 99, min: 1, max: 100 });
  });

  it('reads VmRSS from /proc/<pid>/status', () => {
    const status = 'Name:\tnode\nVmPeak:\t 1234567 kB\nVmHWM:\t  200000 kB\nVmRSS:\t  153600 kB\nRssAnon:\t  100000 kB\n';
    assert.equal(parseVmRssKb(status), 153600);
    assert.equal(kbToMb(153600), 150);
    assert.equal(kbToMb(1000), 1);
  });

  it('fails on a status without VmRSS (a kernel thread, or a process that exited)', () => {
    assert.throws(() => parseVmRssKb('Name:\tkworker/0:1\nState:\tI (idle)\n'), /no VmRSS line/);
  });

  it('writes ratios as table cells', () => {
    assert.equal(ratioCell(202, 19.6), '×10.31');
    assert.equal(ratioCell(1, 2), '×0.50');
    assert.equal(ratioCell(1, 0), '–');
  });
});
