import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { MembraneError, ValidationError } from '../common/errors.js';
import { uniqueName } from '../testing/names.js';
import { parseDnsRecords, type DnsRecordsFile } from './dns-records.js';
import { readDnsRecordsFile, writeDnsRecords } from './dns-records-file.js';

const GOOD: DnsRecordsFile = {
  domain: 'cluster.local',
  services: [{ namespace: 'default', name: 'deathstar', clusterIP: '10.96.0.12', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }],
  pods: [{ namespace: 'default', name: 'tiefighter', ip: '10.0.1.5' }],
};

/** A copy of GOOD with `change` applied to it. */
function withChange(change: (f: any) => void): unknown {
  const copy = structuredClone(GOOD);
  change(copy);
  return copy;
}

const failsAt = (path: string, words?: RegExp) => (err: unknown) =>
  err instanceof ValidationError && err.path === path && err.message.startsWith(`${path}: `) && (words === undefined || words.test(err.message));

describe('DNS records file: validation', () => {
  it('accepts the contract example, unnamed ports and a missing protocol', () => {
    assert.deepEqual(parseDnsRecords(GOOD), GOOD);
    const unnamed = withChange((f) => { f.services[0].ports = [{ port: 9153 }, { name: '', port: 8080 }]; });
    assert.deepEqual(parseDnsRecords(unnamed), unnamed);
  });

  it('normalizes the domain to lowercase without a trailing dot', () => {
    assert.equal(parseDnsRecords({ ...GOOD, domain: 'Cluster.Local.' }).domain, 'cluster.local');
  });

  it('names the field of a bad value', () => {
    const cases: [(f: any) => void, string, RegExp?][] = [
      [(f) => { f.domain = 'not a domain'; }, 'domain'],
      [(f) => { f.services[0].clusterIP = '10.96.0.300'; }, 'services[0].clusterIP', /not an IPv4 or IPv6 address/],
      [(f) => { f.services[0].clusterIP = 'none'; }, 'services[0].clusterIP', /"None" \(a headless service\)/],
      [(f) => { f.services[0].name = 'Death_Star'; }, 'services[0].name', /DNS label/],
      [(f) => { f.services[0].namespace = ''; }, 'services[0].namespace'],
      [(f) => { f.services[0].ports[0].port = 0; }, 'services[0].ports[0].port'],
      [(f) => { f.services[0].ports[0].port = '80'; }, 'services[0].ports[0].port'],
      [(f) => { f.services[0].ports[0].protocol = 'tcp'; }, 'services[0].ports[0].protocol'],
      [(f) => { f.services[0].ports[0].name = 'HTTP'; }, 'services[0].ports[0].name', /port name/],
      [(f) => { f.pods[0].ip = 'tiefighter'; }, 'pods[0].ip'],
      [(f) => { delete f.pods[0].namespace; }, 'pods[0].namespace'],
      [(f) => { f.services.push(structuredClone(f.services[0])); }, 'services[1].name', /listed twice/],
      [(f) => { delete f.services; }, 'services'],
    ];
    for (const [change, path, words] of cases) {
      assert.throws(() => parseDnsRecords(withChange(change)), failsAt(path, words), path);
    }
  });

  it('refuses unknown fields, so a typo does not silently drop records', () => {
    assert.throws(() => parseDnsRecords(withChange((f) => { f.services[0].clusterIp = '10.96.0.1'; })), failsAt('services[0]', /clusterIp/));
    assert.throws(() => parseDnsRecords([]), failsAt('(file)'));
  });
});

describe('DNS records file: reading and writing', () => {
  const dir = path.join(os.tmpdir(), uniqueName('membrane-dns-'));
  after(() => fs.rm(dir, { recursive: true, force: true }));

  it('writes atomically (no temporary file left) and reads back what it wrote', async () => {
    const file = path.join(dir, 'sub', 'records.json');
    await writeDnsRecords(file, GOOD);
    assert.deepEqual(await readDnsRecordsFile(file), GOOD);
    await writeDnsRecords(file, { ...GOOD, pods: [] });
    assert.deepEqual((await readDnsRecordsFile(file)).pods, []);
    assert.deepEqual(await fs.readdir(path.dirname(file)), ['records.json']);
  });

  it('writes nothing when the records are bad', async () => {
    const file = path.join(dir, 'bad.json');
    await assert.rejects(writeDnsRecords(file, withChange((f) => { f.pods[0].ip = 'x'; }) as DnsRecordsFile), failsAt('pods[0].ip'));
    await assert.rejects(fs.stat(file), { code: 'ENOENT' });
  });

  it('names the file and the field when a file is bad, and says when it is missing', async () => {
    const file = path.join(dir, 'broken.json');
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(file, JSON.stringify(withChange((f) => { f.services[0].ports[0].port = 70000; })));
    await assert.rejects(readDnsRecordsFile(file), failsAt(`${file}: services[0].ports[0].port`));
    await fs.writeFile(file, '{"domain": ');
    await assert.rejects(readDnsRecordsFile(file), failsAt(file, /not JSON/));
    await assert.rejects(readDnsRecordsFile(path.join(dir, 'missing.json')), (err) => err instanceof MembraneError && err.code === 'ENOTFOUND' && /writeDnsRecords/.test(err.message));
  });
});

describe('DNS records file: headless services', () => {
  it('accepts a headless service with its endpoints and their ports', () => {
    const headless = withChange((f) => {
      f.services.push({ namespace: 'default', name: 'db', clusterIP: 'None', ports: [{ name: 'sql', port: 5432 }], endpoints: [{ ip: '10.0.1.7', ports: { sql: 6432 } }] });
    });
    assert.deepEqual(parseDnsRecords(headless), headless);
  });

  it('refuses endpoints on a service with a cluster IP, and a bad endpoint address, naming the field', () => {
    assert.throws(() => parseDnsRecords(withChange((f) => { f.services[0].endpoints = []; })), failsAt('services[0].endpoints', /headless/));
    assert.throws(() => parseDnsRecords(withChange((f) => {
      f.services[0].clusterIP = 'None';
      f.services[0].endpoints = [{ ip: 'x', ports: {} }];
    })), failsAt('services[0].endpoints[0].ip'));
  });

  it('takes service port names of up to 63 characters, as Kubernetes allows', () => {
    const long = 'a'.repeat(63);
    const file = withChange((f) => { f.services[0].ports[0].name = long; });
    assert.deepEqual(parseDnsRecords(file), file);
  });
});
