/**
 * The control-plane benchmark end to end at a tiny size: both plugins run,
 * every measurement comes back, and nothing it made is left behind.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { requireRoot } from '../testing/names.js';
import { benchControlPlane, formatControlPlaneTables } from './control-plane.js';

/** This benchmark's names: pod netns `cp<hex>-...`, the node `cpn<hex>`, the reference node `cpref<hex>`. */
const OURS = /^cp(n|ref)?[0-9a-f]{6}(-|$)/;
const netns = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]!).filter((n) => OURS.test(n));
const pins = () => (existsSync('/sys/fs/bpf/membrane') ? readdirSync('/sys/fs/bpf/membrane').filter((n) => OURS.test(n)) : []);
const tmpDirs = () => readdirSync('/tmp').filter((n) => n.startsWith('membrane-bench-host-local-') || /^membrane-test-cpn[0-9a-f]{6}-/.test(n));

describe('control-plane benchmark', () => {
  it('measures both plugins, memory and restarts, and leaves nothing behind', async () => {
    requireRoot();
    const before = { netns: new Set(netns()), pins: new Set(pins()), tmp: new Set(tmpDirs()) };
    const r = await benchControlPlane({ log: () => undefined, pods: 4, batch: 2, concurrentRounds: 1, largeEndpoints: 6, restartReps: 1, versionCalls: 2, settleMs: 0 });
    assert.equal(r.membrane.add.length, 4);
    assert.equal(r.membrane.del.length, 4);
    assert.equal(r.reference.add.length, 4);
    assert.equal(r.reference.del.length, 4);
    assert.equal(r.membrane.version.length, 2);
    assert.equal(r.concurrent.membrane.length, 1);
    assert.equal(r.concurrent.reference.length, 1);
    assert.ok(r.concurrent.membrane[0]!.readyMs >= r.concurrent.membrane[0]!.addsReturnedMs);
    assert.deepEqual(r.rss.map((p) => [p.endpoints, p.afterRestart]), [[0, false], [4, false], [4, true], [6, false], [6, true]]);
    assert.ok(r.rss.every((p) => p.mb > 10));
    assert.deepEqual(r.restarts.map((x) => x.endpoints), [4, 6]);
    const probed = r.restarts[0]!.probe!;
    assert.ok(probed.newOk > 0, 'pod traffic flowed during the restart');
    assert.equal(probed.newFailed, 0, 'no new connection failed during the restart');
    assert.equal(probed.established, true, 'the kept connection stayed open');
    assert.deepEqual(r.apiEndpoints.count, 6);
    assert.match(formatControlPlaneTables(r), /\| membrane \|/);

    assert.deepEqual(netns().filter((n) => !before.netns.has(n)), [], 'network namespaces left');
    assert.deepEqual(pins().filter((n) => !before.pins.has(n)), [], 'bpffs dirs left');
    assert.deepEqual(tmpDirs().filter((n) => !before.tmp.has(n)), [], 'temp dirs left');
  });
});
