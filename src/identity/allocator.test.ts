import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LabelSet } from '../labels/labels.js';
import { IdentityAllocator, type IdentitySnapshot } from './allocator.js';
import { ReservedIdentity, reservedIdentityByName, reservedIdentityForLabels } from './reserved.js';

const empire = LabelSet.parse(['k8s:org=empire', 'k8s:io.kubernetes.pod.namespace=default']);
const alliance = LabelSet.parse(['k8s:org=alliance', 'k8s:io.kubernetes.pod.namespace=default']);

describe('reserved identities', () => {
  it('have the numbers and labels Cilium uses', () => {
    const names = ['unknown', 'host', 'world', 'unmanaged', 'health', 'init', 'remote-node', 'kube-apiserver', 'ingress'];
    names.forEach((name, id) => {
      const r = reservedIdentityByName(name);
      assert.equal(r?.id, id);
      assert.deepEqual(r?.labels.toStrings(), [`reserved:${name}`]);
    });
  });

  it('map reserved label sets, the host with extra reserved labels, and the empty set', () => {
    assert.equal(reservedIdentityForLabels(LabelSet.parse(['reserved:world']))?.id, ReservedIdentity.World);
    assert.equal(reservedIdentityForLabels(LabelSet.parse(['reserved:host', 'reserved:kube-apiserver']))?.id, ReservedIdentity.Host);
    assert.equal(reservedIdentityForLabels(LabelSet.EMPTY)?.id, ReservedIdentity.Init);
    assert.equal(reservedIdentityForLabels(empire), undefined);
  });
});

describe('IdentityAllocator', () => {
  it('gives the same labels the same id, starting at 256', () => {
    const a = new IdentityAllocator();
    const first = a.acquire(empire);
    assert.equal(first.identity.id, 256);
    assert.ok(first.created);
    const again = a.acquire(LabelSet.parse(['k8s:io.kubernetes.pod.namespace=default', 'k8s:org=empire']));
    assert.equal(again.identity.id, 256);
    assert.ok(!again.created);
    assert.equal(again.identity.references, 2);
    assert.equal(a.acquire(alliance).identity.id, 257);
  });

  it('gives reserved label sets their reserved id and an endpoint without labels init', () => {
    const a = new IdentityAllocator();
    assert.equal(a.acquire(LabelSet.parse(['reserved:health'])).identity.id, ReservedIdentity.Health);
    const init = a.acquire(LabelSet.EMPTY).identity;
    assert.equal(init.id, ReservedIdentity.Init);
    assert.ok(init.reserved);
    assert.equal(a.lookupById(5)?.references, 1);
  });

  it('counts references and keeps the mapping after the last release until gc', () => {
    const a = new IdentityAllocator();
    const id = a.acquire(empire).identity.id;
    a.acquire(empire);
    assert.equal(a.release(id), 1);
    assert.equal(a.release(id), 0);
    assert.equal(a.lookupByLabels(empire)?.id, id);
    assert.equal(a.acquire(empire).identity.id, id, 'a re-created pod keeps its identity');
    a.release(id);
    assert.deepEqual(a.gc(), [id]);
    assert.equal(a.lookupByLabels(empire), undefined);
  });

  it('refuses to release an identity nobody holds', () => {
    assert.throws(() => new IdentityAllocator().release(256), { code: 'ESTATE' });
  });

  it('reuses the lowest free id after gc, deterministically', () => {
    const a = new IdentityAllocator();
    const x = a.acquire(empire).identity.id;
    a.acquire(alliance);
    a.release(x);
    a.gc();
    assert.equal(a.acquire(LabelSet.parse(['k8s:org=rebels'])).identity.id, 256);
  });

  it('persists the mapping through onChange and restores it after a restart', () => {
    let saved: IdentitySnapshot | undefined;
    const a = new IdentityAllocator({ onChange: (s) => { saved = JSON.parse(JSON.stringify(s)); } });
    a.acquire(empire);
    a.acquire(alliance);
    assert.deepEqual(saved?.identities.map((i) => i.id), [256, 257]);
    const b = new IdentityAllocator({ snapshot: saved });
    assert.equal(b.lookupByLabels(alliance)?.id, 257);
    assert.equal(b.lookupByLabels(alliance)?.references, 0);
    assert.equal(b.acquire(alliance).identity.id, 257);
    assert.equal(b.acquire(LabelSet.parse(['k8s:org=rebels'])).identity.id, 258);
  });

  it('does not call onChange for reference changes', () => {
    let calls = 0;
    const a = new IdentityAllocator({ onChange: () => { calls++; } });
    const id = a.acquire(empire).identity.id;
    a.acquire(empire);
    a.release(id);
    assert.equal(calls, 1);
  });

  it('undoes an allocation when persisting it fails', () => {
    const a = new IdentityAllocator({ onChange: () => { throw new Error('disk full'); } });
    assert.throws(() => a.acquire(empire), /disk full/);
    assert.equal(a.lookupByLabels(empire), undefined);
  });

  it('rejects an inconsistent snapshot', () => {
    const bad: unknown[] = [
      { version: 2, identities: [] },
      { version: 1, identities: [{ id: 12, labels: ['k8s:a=b'] }] },
      { version: 1, identities: [{ id: 300, labels: ['k8s:a=b'] }, { id: 300, labels: ['k8s:c=d'] }] },
      { version: 1, identities: [{ id: 300, labels: ['k8s:a=b'] }, { id: 301, labels: ['k8s:a=b'] }] },
      { version: 1, identities: [{ id: 300, labels: ['reserved:host'] }] },
    ];
    for (const snapshot of bad) assert.throws(() => new IdentityAllocator({ snapshot }), { code: 'ESTATE' });
  });

  it('reclaims unreferenced ids when the range is full and fails when all are in use', () => {
    const a = new IdentityAllocator({ minId: 256, maxId: 257 });
    a.acquire(empire);
    const x = a.acquire(alliance).identity.id;
    a.release(x);
    assert.equal(a.acquire(LabelSet.parse(['k8s:org=rebels'])).identity.id, x);
    assert.throws(() => a.acquire(LabelSet.parse(['k8s:org=hutts'])), { code: 'EEXHAUSTED' });
  });

  it('lists the reserved identities and the allocated ones with labels and references', () => {
    const a = new IdentityAllocator();
    a.acquire(empire);
    const list = a.list();
    assert.deepEqual(list.map((i) => i.id), [1, 2, 3, 4, 5, 6, 7, 8, 256]);
    assert.deepEqual(list.at(-1), { id: 256, labels: empire, reserved: false, references: 1 });
  });
});
