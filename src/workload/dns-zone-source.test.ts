import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { uniqueName } from '../testing/names.js';
import type { DnsRecordsFile } from './dns-records.js';
import { writeDnsRecords } from './dns-records-file.js';
import { openZoneSource } from './dns-zone-source.js';

const RECORDS: DnsRecordsFile = { domain: 'cluster.local', services: [], pods: [{ namespace: 'default', name: 'tiefighter', ip: '10.0.1.5' }] };

async function until(what: string, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('DNS zone source', () => {
  const dir = path.join(os.tmpdir(), uniqueName('membrane-dns-'));
  after(() => fs.rm(dir, { recursive: true, force: true }));

  it('follows the file by polling its stat when no watch events come', async () => {
    const file = path.join(dir, 'poll.json');
    await writeDnsRecords(file, RECORDS);
    const logs: string[] = [];
    const source = await openZoneSource({ file, domain: 'cluster.local', ttl: 5, log: (l) => logs.push(l), pollMs: 30, watch: false });
    try {
      const serial = source.current().soa.data.serial!;
      await writeDnsRecords(file, { ...RECORDS, pods: [] });
      await until('the poll reloads', () => source.current().pods === 0);
      assert.ok(source.current().soa.data.serial! > serial, 'the SOA serial grows');
      assert.match(logs.at(-1)!, /reloaded .*0 pods/);
    } finally {
      source.close();
    }
  });

  it('keeps the previous records when the file goes missing or turns bad, and logs why', async () => {
    const file = path.join(dir, 'keep.json');
    await writeDnsRecords(file, RECORDS);
    const logs: string[] = [];
    const source = await openZoneSource({ file, domain: 'cluster.local', ttl: 5, log: (l) => logs.push(l), watch: false });
    try {
      const before = source.current();
      await fs.rm(file);
      assert.equal(await source.reload(), false);
      assert.match(logs.at(-1)!, /cannot read DNS records .*keeping the previous records/);
      await fs.writeFile(file, JSON.stringify({ ...RECORDS, pods: [{ namespace: 'default', name: 'x', ip: 'nope' }] }));
      assert.equal(await source.reload(), false);
      assert.match(logs.at(-1)!, /pods\[0\]\.ip: "nope" is not an IPv4 or IPv6 address; keeping the previous records/);
      assert.equal(source.current(), before);
      await writeDnsRecords(file, RECORDS);
      assert.equal(await source.reload(), true);
    } finally {
      source.close();
    }
  });
});
