import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LabelSet } from './labels.js';
import { EndpointSelector, labelSelectorIssues } from './selector.js';

const deathstar = LabelSet.parse(['k8s:org=empire', 'k8s:class=deathstar', 'k8s:io.kubernetes.pod.namespace=default',
  'k8s:app.kubernetes.io/name=deathstar']);
const xwing = LabelSet.parse(['k8s:org=alliance', 'k8s:class=xwing', 'k8s:io.kubernetes.pod.namespace=default']);
const host = LabelSet.parse(['reserved:host']);

const sel = (spec: Parameters<typeof EndpointSelector.fromLabelSelector>[0]) => EndpointSelector.fromLabelSelector(spec);

describe('EndpointSelector', () => {
  it('matches everything when empty', () => {
    const all = sel({});
    assert.ok(all.selectsAll);
    assert.ok(all.matches(deathstar) && all.matches(host) && all.matches(LabelSet.EMPTY));
    assert.equal(all.toString(), '{}');
  });

  it('ANDs matchLabels', () => {
    assert.ok(sel({ matchLabels: { org: 'empire', class: 'deathstar' } }).matches(deathstar));
    assert.ok(!sel({ matchLabels: { org: 'empire', class: 'xwing' } }).matches(deathstar));
  });

  it('matches In when the value is one of the values', () => {
    const s = sel({ matchExpressions: [{ key: 'class', operator: 'In', values: ['xwing', 'deathstar'] }] });
    assert.ok(s.matches(deathstar) && s.matches(xwing));
    assert.ok(!s.matches(host));
  });

  it('matches NotIn when the label is absent or has another value', () => {
    const s = sel({ matchExpressions: [{ key: 'org', operator: 'NotIn', values: ['alliance'] }] });
    assert.ok(s.matches(deathstar));
    assert.ok(!s.matches(xwing));
    assert.ok(s.matches(host));
  });

  it('matches Exists and DoesNotExist on the key alone', () => {
    assert.ok(sel({ matchExpressions: [{ key: 'org', operator: 'Exists' }] }).matches(xwing));
    assert.ok(!sel({ matchExpressions: [{ key: 'org', operator: 'Exists' }] }).matches(host));
    assert.ok(sel({ matchExpressions: [{ key: 'org', operator: 'DoesNotExist' }] }).matches(host));
    assert.ok(!sel({ matchExpressions: [{ key: 'org', operator: 'DoesNotExist' }] }).matches(xwing));
  });

  it('reads a key without a source as any source', () => {
    const s = sel({ matchLabels: { org: 'empire' } });
    assert.equal(s.requirements[0]!.source, 'any');
    assert.ok(s.matches(LabelSet.parse(['container:org=empire'])));
  });

  it('limits a key with a source prefix to that source', () => {
    assert.ok(sel({ matchLabels: { 'k8s:org': 'empire' } }).matches(deathstar));
    assert.ok(!sel({ matchLabels: { 'reserved:org': 'empire' } }).matches(deathstar));
    assert.ok(sel({ matchLabels: { 'reserved:host': '' } }).matches(host));
    assert.ok(sel({ matchLabels: { 'any:org': 'empire' } }).matches(deathstar));
  });

  it('keeps dots and slashes in keys and splits only a known source', () => {
    const s = sel({ matchLabels: { 'k8s:app.kubernetes.io/name': 'deathstar', 'io.kubernetes.pod.namespace': 'default' } });
    assert.ok(s.matches(deathstar));
    assert.deepEqual(s.requirements.map((r) => `${r.source}|${r.key}`).sort(),
      ['any|io.kubernetes.pod.namespace', 'k8s|app.kubernetes.io/name']);
    assert.equal(sel({ matchLabels: { 'foo:bar': 'x' } }).requirements[0]!.key, 'foo:bar');
  });

  it('has the same string form for equivalent selectors', () => {
    const a = sel({ matchLabels: { org: 'empire', class: 'deathstar' } });
    const b = sel({ matchExpressions: [{ key: 'any:class', operator: 'In', values: ['deathstar'] }], matchLabels: { 'any:org': 'empire' } });
    assert.equal(a.toString(), b.toString());
    assert.equal(a.toString(), 'any:class=deathstar,any:org=empire');
  });

  it('renders every operator in its string form', () => {
    const s = sel({ matchExpressions: [
      { key: 'a', operator: 'In', values: ['y', 'x'] }, { key: 'b', operator: 'NotIn', values: ['z'] },
      { key: 'c', operator: 'Exists' }, { key: 'd', operator: 'DoesNotExist' }] });
    assert.equal(s.toString(), '!any:d,any:a in (x,y),any:b notin (z),any:c');
  });

  it('renders back to a LabelSelector with explicit sources', () => {
    const s = sel({ matchLabels: { org: 'empire' }, matchExpressions: [{ key: 'k8s:tier', operator: 'Exists' }] });
    assert.deepEqual(s.toLabelSelector(), { matchLabels: { 'any:org': 'empire' }, matchExpressions: [{ key: 'k8s:tier', operator: 'Exists' }] });
  });

  it('adds requirements with and()', () => {
    const s = sel({}).and('k8s:io.kubernetes.pod.namespace', 'In', ['default']);
    assert.ok(s.matches(deathstar));
    assert.ok(!s.matches(host));
    assert.ok(s.hasKey('io.kubernetes.pod.namespace', ['k8s']));
  });

  it('rejects unknown operators and values that do not fit the operator', () => {
    assert.throws(() => sel({ matchExpressions: [{ key: 'a', operator: 'Equals', values: ['x'] }] }),
      { path: 'matchExpressions[0].operator' });
    assert.throws(() => sel({ matchExpressions: [{ key: 'a', operator: 'In' }] }), { path: 'matchExpressions[0].values' });
    assert.throws(() => sel({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }), { path: 'matchExpressions[0].values' });
    assert.deepEqual(labelSelectorIssues({ matchLabels: { 'k8s:': 'x' } }).map((i) => i.path), [['matchLabels', 'k8s:']]);
  });
});
