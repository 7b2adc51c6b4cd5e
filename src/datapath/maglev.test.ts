import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { maglevTable } from './maglev.js';

const backends = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({ key: `10.0.${(i + from) >> 8}.${(i + from) & 255}:80/6`, id: i + from + 1 }));

function shares(table: Uint32Array): Map<number, number> {
  const m = new Map<number, number>();
  for (const id of table) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
}

describe('maglev table', () => {
  it('fills every entry, with every backend getting about M/N of them', () => {
    for (const n of [1, 2, 3, 7, 50]) {
      const t = maglevTable(backends(n), 1021);
      assert.equal(t.length, 1021);
      const s = shares(t);
      assert.equal(s.size, n, `all ${n} backends have entries`);
      const fair = 1021 / n;
      for (const [id, c] of s) assert.ok(c >= Math.floor(fair) - 1 && c <= Math.ceil(fair) + 1, `backend ${id}: ${c} entries, fair share ${fair.toFixed(1)}`);
    }
  });

  it('is empty without backends', () => {
    assert.equal(maglevTable([]).length, 0);
  });

  it('does not depend on the order the backends are given in', () => {
    const b = backends(5);
    assert.deepEqual(maglevTable(b), maglevTable([...b].reverse()));
  });

  it('moves few entries when one backend goes: mostly just the removed one\'s', () => {
    const b = backends(10);
    const before = maglevTable(b, 1021);
    const after = maglevTable(b.filter((x) => x.id !== 4), 1021);
    let moved = 0;
    for (let i = 0; i < before.length; i++) if (before[i] !== 4 && before[i] !== after[i]) moved++;
    assert.ok(moved < 1021 * 0.06, `${moved} entries of remaining backends moved`);
  });

  it('moves few entries when a backend is added', () => {
    const before = maglevTable(backends(10), 1021);
    const after = maglevTable(backends(11), 1021);
    let moved = 0;
    for (let i = 0; i < before.length; i++) if (after[i] !== 11 && before[i] !== after[i]) moved++;
    assert.ok(moved < 1021 * 0.06, `${moved} entries moved between old backends`);
  });
});
