import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { L7ProxySupervisor, buildProxyConfig } from './l7-proxy.js';
import type { L7Entry } from '../l7/proxy-config.js';

const l7: L7Entry[] = [{ egress: false, identity: 0, protocol: 6, port: 80, prefixLen: 24, http: [{ rule: { method: 'POST', path: '/v1/request-landing' }, cookie: 3 }] }];

describe('buildProxyConfig', () => {
  it('lists the endpoints with L7 entries, every address with its identity, and the CIDR identities, sorted', () => {
    const config = buildProxyConfig({
      endpoints: [
        { ip: '10.0.0.12', id: 12, identity: 1002, l7: [] },
        { ip: '10.0.0.10', id: 10, identity: 1000, l7 },
      ],
      hostIps: ['10.0.0.1'],
      cidrs: [{ prefix: '192.168.0.0/16', id: 16777217 }],
    });
    assert.deepEqual(config, {
      revision: 0,
      ports: { ingress: 15001, egress: 15002 },
      endpoints: [{ ip: '10.0.0.10', id: 10, identity: 1000, entries: l7 }],
      addresses: [{ ip: '10.0.0.1', identity: 1 }, { ip: '10.0.0.10', identity: 1000 }, { ip: '10.0.0.12', identity: 1002 }],
      cidrs: [{ prefix: '192.168.0.0/16', identity: 16777217 }],
    });
  });

  it('takes the proxy ports given', () => {
    const config = buildProxyConfig({ ports: { ingress: 1, egress: 2 }, endpoints: [], hostIps: [], cidrs: [] });
    assert.deepEqual(config.ports, { ingress: 1, egress: 2 });
  });
});

describe('L7ProxySupervisor', () => {
  /** A stand-in proxy: reports each config it gets as a log message; exits when told to die. */
  const FAKE = `process.on('message', (m) => {
  if (m.type === 'config') process.send({ type: 'log', message: 'config ' + m.config.revision + ' ' + m.config.endpoints.length });
  if (m.type === 'config' && m.config.endpoints.some((e) => e.ip === 'die')) process.exit(3);
  if (m.type === 'stop') process.exit(0);
});
process.send({ type: 'stats', stats: { connections: 2, accepted: 5, recordsDropped: 0, revision: 0, listening: [15001, 15002] } });`;

  async function withFake(fn: (script: string) => Promise<void>): Promise<void> {
    const dir = mkdtempSync(path.join(tmpdir(), 'membrane-l7-'));
    const script = path.join(dir, 'fake-proxy.cjs');
    writeFileSync(script, FAKE);
    try {
      await fn(script);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const until = async (cond: () => boolean, ms = 5_000) => {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  const config = (ip: string) => buildProxyConfig({ endpoints: [{ ip, id: 1, identity: 1000, l7 }], hostIps: [], cidrs: [] });

  it('starts the proxy only once some endpoint has L7 entries, and sends only changes', async (t) => {
    await withFake(async (script) => {
      const logs: string[] = [];
      const sup = new L7ProxySupervisor({ script, log: (m) => logs.push(m), onRecords: () => undefined });
      t.after(() => sup.stop());
      sup.update(buildProxyConfig({ endpoints: [{ ip: '10.0.0.1', id: 1, identity: 1000, l7: [] }], hostIps: [], cidrs: [] }));
      assert.equal(sup.status().enabled, false);
      assert.equal(sup.status().running, false);
      sup.update(config('10.0.0.1'));
      await until(() => logs.some((l) => l.includes('config 1 1')));
      sup.update(config('10.0.0.1'));
      sup.update(config('10.0.0.2'));
      await until(() => logs.some((l) => l.includes('config 2 1')));
      await until(() => sup.status().connections === 2);
      assert.equal(logs.filter((l) => l.includes('L7 proxy: config')).length, 2, logs.join('\n'));
      assert.deepEqual(sup.status().listening, [15001, 15002]);
      await sup.stop();
      assert.equal(sup.status().running, false);
    });
  });

  it('starts a proxy that died again after a backoff, with the current configuration', async (t) => {
    await withFake(async (script) => {
      const logs: string[] = [];
      const sup = new L7ProxySupervisor({ script, log: (m) => logs.push(m), onRecords: () => undefined, backoff: { initialMs: 50, maxMs: 200, resetAfterMs: 60_000 } });
      t.after(() => sup.stop());
      sup.update(config('10.0.0.1'));
      await until(() => sup.status().running && logs.some((l) => l.includes('config 1')));
      const first = sup.status().pid;
      sup.update(config('die'));
      await until(() => sup.status().restarts >= 2);
      assert.ok(logs.some((l) => /ended \(exit code 3\).*again in 50 ms/.test(l)), logs.join('\n'));
      assert.ok(logs.some((l) => /again in 100 ms/.test(l)), 'the backoff doubles');
      sup.update(config('10.0.0.3'));
      await until(() => sup.status().running && logs.some((l) => l.includes('config 3 1')));
      assert.notEqual(sup.status().pid, first);
      await sup.stop();
      const restarts = sup.status().restarts;
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(sup.status().restarts, restarts, 'no restart after stop');
    });
  });
});
