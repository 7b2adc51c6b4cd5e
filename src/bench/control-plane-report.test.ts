import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { probeDelta } from './control-plane-probe.js';
import { cniAddSeries, controlPlaneParagraph, controlPlaneSeries, formatControlPlaneTables, ms } from './control-plane-report.js';
import type { ControlPlaneResult } from './control-plane-result.js';

const probe = { newOk: 88, newFailed: 0, roundTrips: 88, maxRoundTripMs: 6, established: true };

function result(over: Partial<ControlPlaneResult> = {}): ControlPlaneResult {
  return {
    pods: 100,
    batch: 10,
    membrane: { label: 'membrane', add: Array.from({ length: 100 }, (_, i) => 100 + i), del: Array.from({ length: 100 }, (_, i) => 50 + i), version: [60, 58, 59] },
    reference: { label: 'bridge + host-local', add: Array.from({ length: 100 }, (_, i) => 20 + i / 10), del: Array.from({ length: 100 }, () => 25), version: [5, 5, 6] },
    referenceVersion: '1.1.1+ds1-3+b5',
    concurrent: {
      membrane: [{ addsReturnedMs: 14000, readyMs: 14010, delMs: 9000 }, { addsReturnedMs: 12000, readyMs: 12005, delMs: 8000 }, { addsReturnedMs: 13000, readyMs: 13004, delMs: 8500 }],
      reference: [{ addsReturnedMs: 1500, readyMs: 1500, delMs: 1000 }, { addsReturnedMs: 1300, readyMs: 1300, delMs: 1100 }, { addsReturnedMs: 1400, readyMs: 1400, delMs: 900 }],
    },
    rss: [
      { endpoints: 0, how: 'none (a fresh agent)', afterRestart: false, mb: 110, heapUsedMb: 20, heapTotalMb: 30 },
      { endpoints: 100, how: '100 CNI pods', afterRestart: false, mb: 120, heapUsedMb: 25, heapTotalMb: 35 },
      { endpoints: 100, how: '100 CNI pods, after a restart', afterRestart: true, mb: 115 },
      { endpoints: 1000, how: '1,000 through the API', afterRestart: false, mb: 160 },
      { endpoints: 1000, how: '1,000 through the API, after a restart', afterRestart: true, mb: 140 },
    ],
    restarts: [
      { endpoints: 100, stopMs: 50, healthzMs: 1250, restoredMs: 1260, probe },
      { endpoints: 100, stopMs: 40, healthzMs: 1200, restoredMs: 1210, probe: { ...probe, newFailed: 2, maxRoundTripMs: 900 } },
      { endpoints: 1000, stopMs: 45, healthzMs: 1500, restoredMs: 1560 },
    ],
    apiEndpoints: { count: 1000, ms: 22000 },
    settleMs: 2000,
    policyRules: 20,
    wallMs: 157000,
    phasesMs: { sequential: 36000, concurrent: 68000 },
    ...over,
  };
}

describe('control-plane benchmark report', () => {
  it('writes ms with one decimal below 100 and whole above', () => {
    assert.equal(ms(5.06), '5.1');
    assert.equal(ms(99.94), '99.9');
    assert.equal(ms(1234.4), '1,234');
  });

  it('reports ADD and DEL p50/p99 with their ratio to the reference, and the ADD goal', () => {
    const text = formatControlPlaneTables(result());
    assert.match(text, /\| membrane \| 149 \| 198 \| 100–199 \| 99\.0 \| 148 \| 50\.0–149 \| 59\.0 \|/);
    assert.match(text, /\| bridge \+ host-local \| 24\.9 \| 29\.8 \| 20\.0–29\.9 \| 25\.0 \| 25\.0 \| 25\.0–25\.0 \| 5\.0 \|/);
    assert.match(text, /\| ratio membrane \/ reference \| ×5\.98 \| ×6\.64 \| \| ×3\.96 \| ×5\.92 \| \| ×11\.80 \|/);
    assert.match(text, /ADD p50 no slower than the bridge plugin's — \*\*not met\*\* \(149 vs 24\.9 ms, ×5\.98\)/);
  });

  it('says the ADD goal is met when membrane is not slower', () => {
    const r = result();
    const text = formatControlPlaneTables(result({ membrane: { ...r.membrane, add: r.reference.add } }));
    assert.match(text, /\*\*met\*\* \(24\.9 vs 24\.9 ms, ×1\.00\)/);
  });

  it('reports concurrent rounds as median (range) and the ratio of medians', () => {
    const text = formatControlPlaneTables(result());
    assert.match(text, /100 pods at once, 3 rounds/);
    assert.match(text, /\| membrane \| 13,000 \(12,000–14,000\) \| 13,004 \(12,005–14,010\) \| 8,500 \(8,000–9,000\) \|/);
    assert.match(text, /\| ratio membrane \/ reference \(medians\) \| ×9\.29 \| ×9\.29 \| ×8\.50 \|/);
  });

  it('reports RSS per size with the growth per endpoint, the heap, and the 150 MB goal at the largest size', () => {
    const text = formatControlPlaneTables(result());
    assert.match(text, /\| 0 \| none \(a fresh agent\) \| 110\.0 \|  \| 20 \/ 30 \|  \|/);
    assert.match(text, /\| 100 \| 100 CNI pods \| 120\.0 \| 102 \| 25 \/ 35 \|  \|/);
    assert.match(text, /\| 1,000 \| 1,000 through the API \| 160\.0 \| 51 \| – \| \*\*not met\*\* \|/);
    assert.match(text, /\| 1,000 \| 1,000 through the API, after a restart \| 140\.0 \| 31 \| – \| met \|/);
  });

  it('reports restarts per size, and the probe over every probed restart', () => {
    const text = formatControlPlaneTables(result());
    assert.match(text, /\| 100 \| 2 \| 45\.0 \(40\.0–50\.0\) \| 1,225 \(1,200–1,250\) \| 1,235 \(1,210–1,260\) \| 2 of 178 \| stayed open, 176 round trips, slowest 900 ms \|/);
    assert.match(text, /\| 1,000 \| 1 \| 45\.0 \| 1,500 \| 1,560 \| – \| – \|/);
    assert.match(text, /Wall time of this area: 157 s \(sequential 36 s, concurrent 68 s\)/);
  });

  it('flags a kept connection that closed during a restart', () => {
    const r = result();
    const text = formatControlPlaneTables(result({ restarts: [{ ...r.restarts[0]!, probe: { ...probe, established: false } }] }));
    assert.match(text, /\*\*closed\*\*/);
  });

  it('describes the method with this run\'s parameters', () => {
    const p = controlPlaneParagraph(result());
    assert.match(p, /containernetworking-plugins 1\.1\.1\+ds1-3\+b5/);
    assert.match(p, /100 ADDs per plugin, one after another, alternating between the plugins every 10 calls/);
    assert.match(p, /2 s of settling/);
    assert.match(p, /1,000 endpoints added through the agent's API/);
    assert.match(p, /22 s for all of them/);
    assert.match(p, /ADD p50 of 149 ms the same through CNI would take about 149 s/);
    assert.doesNotMatch(controlPlaneParagraph(result({ apiEndpoints: { count: 0, ms: 0 } })), /through the agent's API/);
  });

  it('gives RSS curves that both start at the fresh agent', () => {
    assert.deepEqual(controlPlaneSeries(result()), [
      { name: 'membrane agent RSS, MB', points: [{ x: 0, y: 110 }, { x: 100, y: 120 }, { x: 1000, y: 160 }] },
      { name: 'membrane agent RSS after a restart, MB', points: [{ x: 0, y: 110 }, { x: 100, y: 115 }, { x: 1000, y: 140 }] },
    ]);
  });

  it('gives ADD latency against pods already on the node, the reference dashed', () => {
    const [m, b] = cniAddSeries(result());
    assert.equal(m!.points.length, 100);
    assert.deepEqual(m!.points[3], { x: 3, y: 103 });
    assert.equal(b!.dashed, true);
    assert.equal(b!.name, 'bridge + host-local CNI ADD, ms');
  });

  it('counts what a probe saw between two reports', () => {
    assert.deepEqual(probeDelta({ ...probe, newOk: 10, newFailed: 1, roundTrips: 10 }, { ...probe, newOk: 100, newFailed: 3, roundTrips: 95, maxRoundTripMs: 40 }),
      { newOk: 90, newFailed: 2, roundTrips: 85, maxRoundTripMs: 40, established: true });
    assert.equal(probeDelta(probe, { ...probe, established: false }).established, false);
  });
});
