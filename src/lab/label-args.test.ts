import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MembraneError } from '../common/errors.js';
import { parseLabelArgs, parseLabelTarget, updateLabels } from './label-args.js';

function inputError(fn: () => unknown): MembraneError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MembraneError && err.code === 'EINVAL', `an EINVAL MembraneError, got ${String(err)}`);
    return err;
  }
  assert.fail('did not throw');
}

describe('lab label arguments', () => {
  it('reads NS/POD, a bare POD in the default namespace, and ns/NAME as a namespace', () => {
    assert.deepEqual(parseLabelTarget('galaxy/xwing'), { kind: 'pod', namespace: 'galaxy', name: 'xwing' });
    assert.deepEqual(parseLabelTarget('xwing'), { kind: 'pod', namespace: 'default', name: 'xwing' });
    assert.deepEqual(parseLabelTarget('xwing', 'galaxy'), { kind: 'pod', namespace: 'galaxy', name: 'xwing' });
    for (const prefix of ['ns', 'namespace', 'namespaces']) {
      assert.deepEqual(parseLabelTarget(`${prefix}/galaxy`), { kind: 'namespace', name: 'galaxy' });
    }
    assert.match(inputError(() => parseLabelTarget('a/b/c')).message, /"a\/b\/c" is neither/);
    assert.equal(inputError(() => parseLabelTarget('galaxy/')).path, 'target');
  });

  it('reads key=value as a set, key- as a removal, and an empty value as a value', () => {
    assert.deepEqual(parseLabelArgs(['org=empire', 'example.com/tier=', 'class-']), [
      { key: 'org', value: 'empire', arg: 'org=empire' },
      { key: 'example.com/tier', value: '', arg: 'example.com/tier=' },
      { key: 'class', value: undefined, arg: 'class-' },
    ]);
  });

  it('names the argument of a bad key, a bad value or a bad form', () => {
    assert.equal(inputError(() => parseLabelArgs(['ok=1', 'Bad Key=x'])).path, 'label argument "Bad Key=x"');
    assert.match(inputError(() => parseLabelArgs(['org=not ok'])).message, /^label argument "org=not ok": invalid label value "not ok"/);
    assert.match(inputError(() => parseLabelArgs(['org=a=b'])).message, /invalid label value "a=b"/);
    assert.match(inputError(() => parseLabelArgs(['org'])).message, /^label argument "org": is neither key=value/);
    assert.match(inputError(() => parseLabelArgs(['-'])).message, /invalid label key ""/);
    assert.match(inputError(() => parseLabelArgs([])).message, /at least one label update/);
  });

  it('refuses to set and remove, or set twice differently, the same key in one command', () => {
    assert.match(inputError(() => parseLabelArgs(['org=a', 'org-'])).message, /label argument "org-": conflicts with "org=a"/);
    assert.match(inputError(() => parseLabelArgs(['org=a', 'org=b'])).message, /conflicts/);
    assert.equal(parseLabelArgs(['org=a', 'org=a']).length, 1);
  });

  it('adds and removes labels, and needs --overwrite to change a value, as kubectl does', () => {
    const current = { class: 'xwing', org: 'alliance' };
    assert.deepEqual(updateLabels(current, parseLabelArgs(['color=red', 'class-']), { overwrite: false }),
      { labels: { org: 'alliance', color: 'red' }, changed: true, missing: [] });
    const refused = inputError(() => updateLabels(current, parseLabelArgs(['org=empire']), { overwrite: false }));
    assert.equal(refused.path, 'label argument "org=empire"');
    assert.match(refused.message, /already has the value "alliance": pass --overwrite/);
    assert.deepEqual(current, { class: 'xwing', org: 'alliance' }, 'nothing changed');
    assert.equal(updateLabels(current, parseLabelArgs(['org=empire']), { overwrite: true }).labels['org'], 'empire');
  });

  it('reports no change for a value already set, and the keys to remove that were not there', () => {
    const current = { org: 'alliance' };
    assert.deepEqual(updateLabels(current, parseLabelArgs(['org=alliance', 'ghost-']), { overwrite: false }),
      { labels: current, changed: false, missing: ['ghost'] });
  });

  it('refuses to touch a reserved key, saying why', () => {
    const reserved = { 'kubernetes.io/metadata.name': 'it always holds the namespace\'s name' };
    for (const arg of ['kubernetes.io/metadata.name-', 'kubernetes.io/metadata.name=x']) {
      const err = inputError(() => updateLabels({ 'kubernetes.io/metadata.name': 'galaxy' }, parseLabelArgs([arg]), { overwrite: true, reserved }));
      assert.match(err.message, /cannot be changed: it always holds the namespace's name/);
    }
  });
});
