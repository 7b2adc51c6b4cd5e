import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rollback } from './rollback.js';

describe('Rollback', () => {
  it('undoes in reverse order', async () => {
    const done: string[] = [];
    const r = new Rollback();
    r.push('a', async () => done.push('a'));
    r.push('b', async () => done.push('b'));
    r.push('c', async () => done.push('c'));
    assert.deepEqual(await r.run(), []);
    assert.deepEqual(done, ['c', 'b', 'a']);
  });

  it('keeps going when an undo fails, and reports it', async () => {
    const done: string[] = [];
    const r = new Rollback();
    r.push('release IP 10.0.0.7', async () => done.push('ip'));
    r.push('delete link lxc1', async () => { throw new Error('busy'); });
    assert.deepEqual(await r.run(), ['rollback: could not delete link lxc1: busy']);
    assert.deepEqual(done, ['ip']);
  });

  it('skips a dismissed undo, and runs each undo only once', async () => {
    let count = 0;
    const r = new Rollback();
    const h = r.push('x', async () => { count += 100; });
    r.push('y', async () => { count += 1; });
    h.dismiss();
    await r.run();
    await r.run();
    assert.equal(count, 1);
  });
});
