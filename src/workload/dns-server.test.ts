import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import type { Packet } from 'dns-packet';
import { MembraneError, ValidationError } from '../common/errors.js';
import { uniqueName } from '../testing/names.js';
import { Rcode } from './dns-answer.js';
import type { DnsRecordsFile } from './dns-records.js';
import { writeDnsRecords } from './dns-records-file.js';
import { startDns, type RunningDns } from './dns.js';

const RECORDS: DnsRecordsFile = {
  domain: 'cluster.local',
  services: [
    { namespace: 'default', name: 'deathstar', clusterIP: '10.96.0.12', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
    // 30 named ports: an SRV answer over 512 bytes, so UDP answers with TC and the client retries over TCP.
    { namespace: 'default', name: 'big', clusterIP: '10.96.0.13', ports: Array.from({ length: 30 }, (_, i) => ({ name: `p${i}`, port: 1000 + i })) },
  ],
  pods: [{ namespace: 'default', name: 'tiefighter', ip: '10.0.1.5' }],
};

const DEADLINE_MS = 2000;

function resolverFor(port: number): Resolver {
  const resolver = new Resolver({ timeout: DEADLINE_MS, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  return resolver;
}

function query(name: string, type: 'A' | 'AAAA' | 'SRV', id = 99): Packet {
  return { type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type }] };
}

/** Sends `message` in one datagram and resolves with the first datagram back. */
function askUdp(port: number, message: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    const timer = setTimeout(() => { socket.close(); reject(new Error('no UDP answer in time')); }, DEADLINE_MS);
    socket.on('message', (m) => { clearTimeout(timer); socket.close(); resolve(m); });
    socket.send(message, port, '127.0.0.1');
  });
}

/** Writes `chunks` to one TCP connection and resolves with the `count` length-prefixed messages that come back. */
function askTcp(port: number, chunks: Buffer[], count: number): Promise<Packet[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('no TCP answer in time')); }, DEADLINE_MS);
    let pending = Buffer.alloc(0);
    const answers: Packet[] = [];
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        answers.push(dnsPacket.streamDecode(pending));
        pending = pending.subarray(2 + pending.readUInt16BE(0));
      }
      if (answers.length === count) { clearTimeout(timer); socket.end(); resolve(answers); }
    });
    socket.on('error', (err) => { clearTimeout(timer); reject(err); });
    socket.on('connect', async () => {
      for (const c of chunks) {
        socket.write(c);
        await new Promise((r) => setTimeout(r, 20));
      }
    });
  });
}

async function eventually<T>(what: string, attempt: () => Promise<T>, ok: (value: T) => boolean): Promise<T> {
  const until = Date.now() + 5000;
  for (;;) {
    const value = await attempt().catch((err: unknown) => err as T);
    if (ok(value)) return value;
    if (Date.now() > until) assert.fail(`${what}: last result ${String(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('cluster DNS server over loopback', () => {
  const dir = path.join(os.tmpdir(), uniqueName('membrane-dns-'));
  const file = path.join(dir, 'records.json');
  const logs: string[] = [];
  let dns: RunningDns;
  let port: number;

  before(async () => {
    await writeDnsRecords(file, RECORDS);
    dns = await startDns({ records: file, listen: '127.0.0.1', port: 0, domain: 'cluster.local', ttl: 5 }, (line) => logs.push(line));
    port = dns.server.port;
  });
  after(async () => {
    await dns?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("answers node's resolver over UDP: service A and SRV, pod A, NXDOMAIN inside and outside the domain, NODATA for AAAA", async () => {
    const r = resolverFor(port);
    assert.deepEqual(await r.resolve4('deathstar.default.svc.cluster.local'), ['10.96.0.12']);
    assert.deepEqual(await r.resolve4('DEATHSTAR.default.svc.cluster.local'), ['10.96.0.12']);
    assert.deepEqual(await r.resolveSrv('_http._tcp.deathstar.default.svc.cluster.local'),
      [{ name: 'deathstar.default.svc.cluster.local', port: 80, priority: 0, weight: 100 }]);
    assert.deepEqual(await r.resolve4('10-0-1-5.default.pod.cluster.local'), ['10.0.1.5']);
    await assert.rejects(r.resolve4('alderaan.default.svc.cluster.local'), { code: 'ENOTFOUND' });
    await assert.rejects(r.resolve4('example.com'), { code: 'ENOTFOUND' });
    await assert.rejects(r.resolve6('deathstar.default.svc.cluster.local'), { code: 'ENODATA' });
  });

  it("gives node's resolver a truncated UDP answer for a large SRV set, which it completes over TCP", async () => {
    const udp = dnsPacket.decode(await askUdp(port, dnsPacket.encode(query('big.default.svc.cluster.local', 'SRV'))));
    assert.ok(udp.flag_tc, 'the UDP answer is truncated');
    const srv = await resolverFor(port).resolveSrv('big.default.svc.cluster.local');
    assert.equal(srv.length, 30);
  });

  it('answers raw UDP queries, echoing the id, and a FORMERR to garbage without stopping', async () => {
    const answer = dnsPacket.decode(await askUdp(port, dnsPacket.encode(query('deathstar.default.svc.cluster.local', 'A', 4321))));
    assert.equal(answer.id, 4321);
    assert.equal(answer.flag_aa, true);
    const garbage = Buffer.from([0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0x40]);
    const formerr = dnsPacket.decode(await askUdp(port, garbage));
    assert.equal(formerr.id, 0xabcd);
    assert.equal((formerr.flags ?? 0) & 0xf, Rcode.FORMERR);
    assert.deepEqual(await resolverFor(port).resolve4('deathstar.default.svc.cluster.local'), ['10.96.0.12']);
  });

  it('answers several queries on one TCP connection, in order, even when a message arrives in pieces', async () => {
    const first = dnsPacket.streamEncode(query('deathstar.default.svc.cluster.local', 'A', 1));
    const second = dnsPacket.streamEncode(query('nope.default.svc.cluster.local', 'A', 2));
    const third = dnsPacket.streamEncode(query('big.default.svc.cluster.local', 'SRV', 3));
    const answers = await askTcp(port, [Buffer.concat([first, second, third.subarray(0, 1)]), third.subarray(1, 9), third.subarray(9)], 3);
    assert.deepEqual(answers.map((a) => a.id), [1, 2, 3]);
    assert.deepEqual(answers[0]!.answers!.map((a) => (a as { data: unknown }).data), ['10.96.0.12']);
    assert.equal((answers[1]!.flags ?? 0) & 0xf, Rcode.NXDOMAIN);
    assert.equal(answers[2]!.answers!.length, 30, 'TCP is not truncated');
  });

  it('reloads the records when the file changes, and keeps them when the new file is bad, naming the field', async () => {
    const r = resolverFor(port);
    const more: DnsRecordsFile = { ...RECORDS, services: [...RECORDS.services, { namespace: 'empire', name: 'xwing', clusterIP: '10.96.0.40', ports: [] }] };
    await writeDnsRecords(file, more);
    await eventually('the new service resolves', () => r.resolve4('xwing.empire.svc.cluster.local'), (v) => Array.isArray(v) && v[0] === '10.96.0.40');

    const bad = structuredClone(more) as unknown as { services: { clusterIP: string }[] };
    bad.services[2]!.clusterIP = '10.96.0.999';
    await fs.writeFile(file, JSON.stringify(bad)); // in place, not atomically: the server must cope with that too
    await eventually('the error is logged', async () => logs.join('\n'), (text) => text.includes('services[2].clusterIP'));
    assert.match(logs.at(-1)!, /keeping the previous records/);
    assert.deepEqual(await r.resolve4('xwing.empire.svc.cluster.local'), ['10.96.0.40']);

    await writeDnsRecords(file, RECORDS);
    await eventually('the removed service is gone', () => r.resolve4('xwing.empire.svc.cluster.local'), (v) => (v as { code?: string }).code === 'ENOTFOUND');
  });
});

describe('cluster DNS server start-up', () => {
  const dir = path.join(os.tmpdir(), uniqueName('membrane-dns-'));
  after(() => fs.rm(dir, { recursive: true, force: true }));
  const options = (records: string) => ({ records, listen: '127.0.0.1', port: 0, domain: 'cluster.local', ttl: 5 });
  const quiet = (): void => {};

  it('refuses to start without a good records file, or with one for another domain', async () => {
    await assert.rejects(startDns(options(path.join(dir, 'missing.json')), quiet), (e) => e instanceof MembraneError && e.code === 'ENOTFOUND');
    const other = path.join(dir, 'other.json');
    await writeDnsRecords(other, { ...RECORDS, domain: 'lab.example' });
    await assert.rejects(startDns(options(other), quiet), (e) => e instanceof ValidationError && e.path === `${other}: domain`);
  });

  it('checks its flags before binding anything', async () => {
    await assert.rejects(startDns({ ...options('x'), listen: 'localhost' }, quiet), (e) => e instanceof ValidationError && e.path === '--listen');
    await assert.rejects(startDns({ ...options('x'), domain: 'a b' }, quiet), (e) => e instanceof ValidationError && e.path === '--domain');
  });

  it('names the protocol, address and port it cannot bind, and leaves nothing bound', async () => {
    const file = path.join(dir, 'records.json');
    await writeDnsRecords(file, RECORDS);
    const first = await startDns(options(file), quiet);
    try {
      await assert.rejects(startDns({ ...options(file), port: first.server.port }, quiet),
        (e) => e instanceof MembraneError && e.code === 'EKERNEL' && e.message.includes(`udp 127.0.0.1:${first.server.port}`));
    } finally {
      await first.close();
    }
  });
});
