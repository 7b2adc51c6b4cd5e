/**
 * FileServiceStore: one file per service in a directory, the id cursor kept
 * through deletes, unreadable files refused with ESTATE.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { K8sServiceModel } from '../api/types.js';
import { MembraneError } from '../common/errors.js';
import { FileServiceStore } from './store.js';

const root = mkdtempSync(path.join(tmpdir(), 'membrane-svc-store-'));
after(() => rmSync(root, { recursive: true, force: true }));

const svc = (name: string): K8sServiceModel => ({
  namespace: 'default', name, type: 'ClusterIP', clusterIP: '10.96.0.12', ports: [{ name: '', port: 80, protocol: 'TCP' }], backends: [],
});

describe('FileServiceStore', () => {
  it('loads nothing from a new directory', () => {
    assert.deepEqual(new FileServiceStore(path.join(root, 'new')).load(), { services: [], idCursor: 0 });
  });

  it('keeps one file per service and the highest cursor, also once its holder is removed', () => {
    const dir = path.join(root, 'a');
    const store = new FileServiceStore(dir);
    store.load();
    store.save({ service: svc('web'), frontendIds: { '10.96.0.12:80/TCP': 1 } }, 1);
    store.save({ service: svc('api'), frontendIds: { '10.96.0.13:80/TCP': 2 } }, 2);
    assert.deepEqual(readdirSync(dir).sort(), ['default.api.json', 'default.web.json']);
    const loaded = new FileServiceStore(dir).load();
    assert.deepEqual(loaded.services.map((s) => s.service.name), ['api', 'web']);
    assert.deepEqual(loaded.services[1]!.frontendIds, { '10.96.0.12:80/TCP': 1 });
    assert.equal(loaded.idCursor, 2);
    store.remove('default', 'api', 2);
    assert.deepEqual(new FileServiceStore(dir).load().services.map((s) => s.service.name), ['web']);
    assert.equal(new FileServiceStore(dir).load().idCursor, 2);
  });

  it('refuses a file that is no service state', () => {
    const dir = path.join(root, 'bad');
    new FileServiceStore(dir).load();
    writeFileSync(path.join(dir, 'default.web.json'), '{"nope": 1}');
    assert.throws(() => new FileServiceStore(dir).load(), (e: MembraneError) => e.code === 'ESTATE' && /lacks service/.test(e.message));
    writeFileSync(path.join(dir, 'default.web.json'), '{');
    assert.throws(() => new FileServiceStore(dir).load(), (e: MembraneError) => e.code === 'ESTATE');
  });
});
