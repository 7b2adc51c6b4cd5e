import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatLabel, LabelSet, parseLabel } from './labels.js';

describe('labels', () => {
  it('parses source, key and value', () => {
    assert.deepEqual(parseLabel('k8s:app=web'), { source: 'k8s', key: 'app', value: 'web' });
  });

  it('gives a label without a source the default source', () => {
    assert.deepEqual(parseLabel('app=web'), { source: 'unspec', key: 'app', value: 'web' });
    assert.deepEqual(parseLabel('app=web', 'k8s'), { source: 'k8s', key: 'app', value: 'web' });
  });

  it('keeps dots, slashes and unknown colon prefixes in the key', () => {
    assert.deepEqual(parseLabel('k8s:app.kubernetes.io/name=deathstar'), { source: 'k8s', key: 'app.kubernetes.io/name', value: 'deathstar' });
    assert.deepEqual(parseLabel('foo:bar=1', 'k8s'), { source: 'k8s', key: 'foo:bar', value: '1' });
  });

  it('splits the value at the first equals sign only', () => {
    assert.equal(parseLabel('k8s:a=b=c').value, 'b=c');
  });

  it('formats value-less labels without an equals sign', () => {
    assert.equal(formatLabel(parseLabel('reserved:host')), 'reserved:host');
    assert.equal(formatLabel(parseLabel('k8s:app=x')), 'k8s:app=x');
  });

  it('rejects an empty key', () => {
    assert.throws(() => parseLabel('k8s:=x'), { code: 'EINVAL' });
  });
});

describe('LabelSet', () => {
  it('sorts and de-duplicates, the last label of a source and key winning', () => {
    const set = LabelSet.parse(['k8s:org=empire', 'k8s:class=deathstar', 'k8s:org=alliance']);
    assert.deepEqual(set.toStrings(), ['k8s:class=deathstar', 'k8s:org=alliance']);
  });

  it('is equal for the same labels in any order', () => {
    const a = LabelSet.parse(['k8s:a=1', 'k8s:b=2']);
    const b = LabelSet.parse(['k8s:b=2', 'k8s:a=1']);
    assert.ok(a.equals(b));
    assert.equal(a.canonical(), b.canonical());
    assert.ok(!a.equals(LabelSet.parse(['k8s:a=1'])));
  });

  it('keeps labels with the same key from different sources apart', () => {
    const set = LabelSet.parse(['k8s:app=a', 'container:app=b']);
    assert.equal(set.size, 2);
    assert.equal(set.get('app', 'container')?.value, 'b');
    assert.equal(set.getAll('app').length, 2);
    assert.equal(set.getAll('app', 'any').length, 2);
  });

  it('answers has and get by key, source and value', () => {
    const set = LabelSet.parse(['k8s:org=empire', 'reserved:host']);
    assert.ok(set.has('org'));
    assert.ok(set.has('org', 'k8s', 'empire'));
    assert.ok(!set.has('org', 'k8s', 'alliance'));
    assert.ok(!set.has('org', 'reserved'));
    assert.ok(set.has('host', 'reserved'));
    assert.equal(set.get('missing'), undefined);
  });

  it('builds from a record with one source', () => {
    assert.deepEqual(LabelSet.fromRecord({ org: 'empire' }, 'k8s').toStrings(), ['k8s:org=empire']);
  });

  it('is immutable: with() returns a new set', () => {
    const a = LabelSet.parse(['k8s:a=1']);
    const b = a.with([{ source: 'k8s', key: 'b', value: '2' }]);
    assert.equal(a.size, 1);
    assert.equal(b.size, 2);
  });
});
