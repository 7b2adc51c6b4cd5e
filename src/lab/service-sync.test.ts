import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MembraneError } from '../common/errors.js';
import { uniqueName } from '../testing/names.js';
import type { LabContext } from './context.js';
import { labPaths } from './names.js';
import { syncServices } from './service-sync.js';
import { emptyState, type NodeRecord, type ServiceRecord } from './state.js';

/**
 * The lab's service sync against a fake agent on a unix socket: a service
 * the agent refuses (though the lab checked it with the agents' rules; the
 * fake refuses one more) is not kept half-applied.
 */

function record(name: string, clusterIP: string): ServiceRecord {
  return {
    namespace: 'default', name, labels: {}, object: {}, createdAt: '',
    spec: { type: 'ClusterIP', clusterIP, affinityTimeoutSeconds: 0, algorithm: 'random', ports: [{ name: '', port: 80, protocol: 'TCP', targetPort: 80 }] },
  };
}

describe('service sync: an agent refusing a service', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'membrane-sync-'));
  const socket = path.join(dir, 'agent.sock');
  const lab = uniqueName('sy');
  /** What the fake agent holds, by "ns/name". */
  const held = new Set<string>();
  const server = http.createServer((req, res) => {
    const [, , , , ns, name] = (req.url ?? '').split('/');
    const key = `${ns}/${name}`;
    req.resume();
    req.on('end', () => {
      if (req.method === 'PUT' && name === 'refused') {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'EINVAL', message: 'ports[0].port: refused by this agent', path: 'ports[0].port' } }));
        return;
      }
      if (req.method === 'PUT') held.add(key);
      if (req.method === 'DELETE') held.delete(key);
      res.writeHead(204);
      res.end();
    });
  });

  before(async () => {
    await new Promise<void>((resolve) => server.listen(socket, resolve));
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(labPaths(lab).dir, { recursive: true, force: true });
  });

  it('drops the refused service from the lab and every agent, syncs the others, then throws naming it', async () => {
    const state = emptyState(lab);
    state.nodes.push({ name: 'n1', index: 1, netns: 'x', podCIDR: '10.244.1.0/24', socket } as NodeRecord);
    state.services.push(record('good', '10.96.0.20'), record('refused', '10.96.0.21'), record('later', '10.96.0.22'));
    let saves = 0;
    const warnings: string[] = [];
    const ctx: LabContext = { lab, toolchain: {} as LabContext['toolchain'], state, save: () => { saves++; }, out: { info: () => undefined, warn: (l) => warnings.push(l) } };

    await assert.rejects(syncServices(ctx), (err: unknown) => {
      assert.ok(err instanceof MembraneError && err.code === 'EINVAL', String(err));
      assert.match(err.message, /^service default\/refused is not applied: the agent of n1 refused it: ports\[0\]\.port: refused by this agent/);
      return true;
    });
    assert.deepEqual(state.services.map((s) => s.name), ['good', 'later'], 'the refused service is not kept');
    assert.ok(state.services.every((s) => s.pushed !== undefined), 'the others reached the agent');
    assert.deepEqual([...held].sort(), ['default/good', 'default/later']);
    assert.ok(saves > 0);
    assert.deepEqual(warnings, []);
    const records = JSON.parse(fs.readFileSync(labPaths(lab).dnsRecords, 'utf8')) as { services: { name: string }[] };
    assert.deepEqual(records.services.map((s) => s.name), ['good', 'later'], 'nor served by the DNS');

    await syncServices(ctx);
    assert.deepEqual(state.services.map((s) => s.name), ['good', 'later'], 'the next command goes through');
  });
});
