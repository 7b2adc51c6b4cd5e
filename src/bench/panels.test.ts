import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergePanels, panelsInOrder, policyPanels } from './panels.js';
import type { PolicyBenchRow } from './policy.js';

const panel = (title: string) => ({ title, xLabel: 'x', yLabel: 'y', series: [] });

test('a partial run replaces its sections\' panels and keeps the others', () => {
  const old = JSON.stringify({ Services: [panel('old services')], Datapath: [panel('datapath')] });
  const merged = mergePanels(old, { Services: [panel('new services')] });
  assert.deepEqual(Object.keys(merged).sort(), ['Datapath', 'Services']);
  assert.equal(merged['Services']![0]!.title, 'new services');
  assert.equal(merged['Datapath']![0]!.title, 'datapath');
});

test('an unreadable store counts as none rather than failing the run', () => {
  assert.deepEqual(mergePanels('{not json', { A: [panel('a')] }), { A: [panel('a')] });
  assert.deepEqual(mergePanels('[1,2]', {}), {});
  assert.deepEqual(mergePanels(undefined, {}), {});
});

test('panels follow the document\'s section order, unknown sections last', () => {
  const store = { Extra: [panel('e')], Services: [panel('s')], Datapath: [panel('d1'), panel('d2')] };
  assert.deepEqual(panelsInOrder(store, ['Datapath', 'Policy', 'Services']).map((p) => p.title), ['d1', 'd2', 's', 'e']);
});

test('policy curves: import time by rule count per endpoint count, incremental regeneration only, medians', () => {
  const row = (endpoints: number, rules: number, importMs: number[], regeneration: 'incremental' | 'full' = 'incremental'): PolicyBenchRow => ({
    regeneration, endpoints, rules, importMs, importWrites: 0, changeMs: [1, 2, 3], changeWrites: 0, changeSynced: 0, newPodMs: [], newPodWrites: 0, newPodSynced: 0, rssMb: 0,
  });
  const [imp, change] = policyPanels([row(100, 100, [5, 7, 9]), row(100, 10, [1, 2, 3]), row(1000, 10, [10, 20, 30]), row(100, 10, [99], 'full')]);
  assert.deepEqual(imp!.series.map((s) => s.name), ['100 endpoints', '1,000 endpoints']);
  assert.deepEqual(imp!.series[0]!.points, [{ x: 10, y: 2 }, { x: 100, y: 7 }]);
  assert.equal(change!.goal?.y, 100);
});
