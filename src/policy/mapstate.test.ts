import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffMapState, keyCovers, MapState, policyKey, policyKeyString, portRangeToPrefixes, type PolicyEntry } from './mapstate.js';

const allow = (cookie = 1): PolicyEntry => ({ deny: false, proxyPort: 0, cookie });
const deny = (cookie = 2): PolicyEntry => ({ deny: true, proxyPort: 0, cookie });

/** The minimal prefix cover, computed independently by splitting the port space in halves. */
function referenceCover(start: number, end: number, base = 0, bits = 16): string[] {
  const size = 2 ** bits;
  const last = base + size - 1;
  if (last < start || base > end) return [];
  if (base >= start && last <= end) return [`${base}/${8 + 16 - bits}`];
  return [...referenceCover(start, end, base, bits - 1), ...referenceCover(start, end, base + size / 2, bits - 1)];
}

function randomRange(seed: number): [number, number] {
  // A small deterministic generator, so a failure can be reproduced.
  let x = seed * 2654435761 >>> 0;
  const next = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
  const a = next() % 65536;
  const len = next() % 4 === 0 ? next() % 65536 : next() % 2000;
  return [a, Math.min(65535, a + len)];
}

describe('policy keys', () => {
  it('clear the port bits below the prefix', () => {
    assert.deepEqual(policyKey(5, false, 6, 0x1234, 20), { identity: 5, egress: false, protocol: 6, port: 0x1230, prefixLen: 20 });
    assert.deepEqual(policyKey(5, false, 6, 80, 8), { identity: 5, egress: false, protocol: 6, port: 0, prefixLen: 8 });
    assert.deepEqual(policyKey(0, true, 6, 80, 0), { identity: 0, egress: true, protocol: 0, port: 0, prefixLen: 0 });
  });

  it('reject prefix lengths that cut the protocol', () => {
    assert.throws(() => policyKey(1, false, 6, 80, 4), RangeError);
    assert.throws(() => policyKey(1, false, 6, 80, 25), RangeError);
  });

  it('have one string per key', () => {
    assert.equal(policyKeyString(policyKey(256, false, 6, 80)), 'ingress/256/6/80/24');
    assert.equal(policyKeyString(policyKey(256, false, 6, 81, 23)), policyKeyString(policyKey(256, false, 6, 80, 23)));
  });

  it('cover keys of the same identity inside their block', () => {
    assert.ok(keyCovers(policyKey(1, false, 0, 0, 0), policyKey(1, false, 6, 80)));
    assert.ok(keyCovers(policyKey(1, false, 6, 0, 8), policyKey(1, false, 6, 80)));
    assert.ok(!keyCovers(policyKey(1, false, 17, 0, 8), policyKey(1, false, 6, 80)));
    assert.ok(!keyCovers(policyKey(2, false, 0, 0, 0), policyKey(1, false, 6, 80)));
    assert.ok(!keyCovers(policyKey(1, false, 6, 80), policyKey(1, false, 6, 0, 8)));
  });
});

describe('portRangeToPrefixes', () => {
  it('gives one exact block for a single port', () => {
    assert.deepEqual(portRangeToPrefixes(80, 80), [{ port: 80, prefixLen: 24 }]);
  });

  it('gives one protocol-wide block for every port', () => {
    assert.deepEqual(portRangeToPrefixes(0, 65535), [{ port: 0, prefixLen: 8 }]);
  });

  it('uses aligned blocks', () => {
    assert.deepEqual(portRangeToPrefixes(80, 81), [{ port: 80, prefixLen: 23 }]);
    assert.deepEqual(portRangeToPrefixes(8080, 8090), [
      { port: 8080, prefixLen: 21 }, { port: 8088, prefixLen: 23 }, { port: 8090, prefixLen: 24 }]);
  });

  it('covers exactly the range with the fewest blocks, for random ranges', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const [start, end] = randomRange(seed);
      const blocks = portRangeToPrefixes(start, end);
      assert.deepEqual(blocks.map((b) => `${b.port}/${b.prefixLen}`), referenceCover(start, end), `range ${start}-${end}`);
      const covered = new Uint8Array(65536);
      for (const b of blocks) {
        const size = 2 ** (24 - b.prefixLen);
        assert.equal(b.port % size, 0, `block ${b.port}/${b.prefixLen} is aligned`);
        for (let p = b.port; p < b.port + size; p++) covered[p]! += 1;
      }
      for (let p = 0; p < 65536; p++) assert.equal(covered[p], p >= start && p <= end ? 1 : 0, `port ${p} of ${start}-${end}`);
    }
  });

  it('rejects empty or out-of-range ranges', () => {
    assert.throws(() => portRangeToPrefixes(90, 80), RangeError);
    assert.throws(() => portRangeToPrefixes(0, 65536), RangeError);
  });
});

describe('MapState', () => {
  it('drops an allow inside a deny of the same identity and keeps a deny inside an allow', () => {
    const s = new MapState();
    s.set(policyKey(7, false, 6, 0, 14), deny());
    s.set(policyKey(7, false, 6, 80), allow());
    s.set(policyKey(7, false, 6, 2000), allow());
    s.set(policyKey(8, false, 6, 80), allow());
    s.set(policyKey(9, false, 0, 0, 0), allow());
    s.set(policyKey(9, false, 6, 22), deny());
    const removed = s.pruneAllowsCoveredByDeny();
    assert.deepEqual(removed.map(policyKeyString), ['ingress/7/6/80/24']);
    assert.equal(s.size, 5);
  });

  it('diffs desired against realized: changed and new entries, deny first; stale keys, allow first', () => {
    const realized = new MapState([
      { key: policyKey(1, false, 6, 80), entry: allow(1) },
      { key: policyKey(2, false, 6, 80), entry: allow(1) },
      { key: policyKey(3, false, 6, 80), entry: deny(1) },
      { key: policyKey(4, false, 6, 80), entry: allow(1) },
    ]);
    const desired = new MapState([
      { key: policyKey(1, false, 6, 80), entry: allow(1) },
      { key: policyKey(2, false, 6, 80), entry: allow(9) },
      { key: policyKey(5, false, 6, 80), entry: deny(1) },
    ]);
    const diff = diffMapState(desired, realized);
    assert.deepEqual(diff.upserts.map((u) => u.key.identity), [5, 2]);
    assert.deepEqual(diff.deletes.map((k) => k.identity), [4, 3]);
    assert.deepEqual(diffMapState(desired, desired), { upserts: [], deletes: [] });
  });
});
