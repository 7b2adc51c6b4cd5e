/**
 * Service load balancing with real traffic: pods in their own network
 * namespaces, the datapath attached to their veths, services written
 * through DatapathState.syncService, and real TCP/UDP clients connecting
 * to the VIP.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { requireRoot } from '../testing/names.js';
import { waitForLine } from '../testing/tcp.js';
import { CT_DIR_SERVICE, EVENT_DROP, EVENT_POLICY_VERDICT, ctEntry, ctKey, flowEvent, intToIp4, ip4ToInt, LB_LOOPBACK_IP } from './layout.js';
import type { LbBackend, LbFrontend } from './lb.js';
import { RingBuf } from './ringbuf.js';
import { type NetPod, TestNet } from './testnet.js';

const VIP = '10.96.213.10';
const TCP_PORT = 8080;
const UDP_PORT = 5353;
const ECHO_PORT = 9000;

/** Each backend answers a TCP connection or UDP datagram with "<name> <peer address>", and echoes lines on ECHO_PORT. */
const server = (name: string) => `const net = require('net'), dgram = require('dgram');
net.createServer((s) => { s.on('error', () => {}); s.end('${name} ' + s.remoteAddress + '\\n'); }).listen(${TCP_PORT}, '0.0.0.0');
net.createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(${ECHO_PORT}, '0.0.0.0');
const u = dgram.createSocket('udp4');
u.on('message', (m, r) => u.send('${name} ' + r.address, r.port, r.address));
u.bind(${UDP_PORT}, () => console.log('listening'));`;

/** Opens `n` TCP connections one after another; prints {backend name: connections}. */
const tcpClient = (ip: string, port: number, n: number) => `const net = require('net'); const counts = {};
(async () => { for (let i = 0; i < ${n}; i++) {
  const r = await new Promise((res) => { const s = net.connect(${port}, '${ip}'); let b = '';
    s.setTimeout(1500, () => { s.destroy(); res('timeout'); }); s.on('data', (d) => b += d);
    s.on('close', () => res(b.trim() || 'empty')); s.on('error', () => res('error')); });
  counts[r] = (counts[r] || 0) + 1; }
  console.log(JSON.stringify(counts)); })();`;

/** Sends one datagram from a connected UDP socket (which accepts replies only from ip:port); prints the reply or "timeout". */
const udpClient = (ip: string, port: number, sport = 0) => `const u = require('dgram').createSocket('udp4');
u.bind(${sport}, () => u.connect(${port}, '${ip}', () => u.send('hi')));
u.on('message', (m) => { console.log(String(m)); process.exit(0); });
setTimeout(() => { console.log('timeout'); process.exit(0); }, 1500);`;

describe('service load balancing (real traffic)', () => {
  let net: TestNet;
  let rb: RingBuf;
  let client: NetPod;
  const backends: NetPod[] = [];

  before(async () => {
    requireRoot();
    net = await TestNet.create('10.213.7');
    rb = new RingBuf(net.dp.maps.events.fd);
    client = await net.addPod('client', 5001);
    for (let i = 1; i <= 3; i++) backends.push(await net.addPod(`web${i}`, 6000 + i));
    for (const pod of [client, ...backends]) {
      const srv = pod.spawn(['node', '-e', server(pod.name)]);
      if (!(await waitForLine(srv, /listening/, 10_000))) throw new Error(`server in ${pod.name} did not start`);
    }
  });

  after(async () => {
    rb?.free();
    await net?.destroy();
  });

  beforeEach(() => {
    for (const f of net.state.realizedServices()) net.state.deleteService(f.id);
    for (const m of [net.dp.maps.conntrack, net.dp.maps.lb_affinity]) for (const k of [...m.keys()]) m.delete(k);
    rb.consume();
  });

  const active = (...pods: NetPod[]): LbBackend[] => pods.map((p) => ({ ip: p.ip, port: TCP_PORT, state: 'active' }));
  const frontend = (over: Partial<LbFrontend>): LbFrontend => ({
    id: 1, vip: VIP, port: 80, protocol: 6, algorithm: 'random', affinityTimeoutSec: 0, backends: [], ...over,
  });

  async function connections(from: NetPod, n: number, port = 80): Promise<Record<string, number>> {
    const res = await from.exec(['node', '-e', tcpClient(VIP, port, n)], { timeoutMs: 120_000 });
    return JSON.parse(res.stdout) as Record<string, number>;
  }

  /** Connections per backend name (the reply's first word); asserts every one got an answer. */
  function byBackend(counts: Record<string, number>, n: number): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [reply, c] of Object.entries(counts)) {
      const name = reply.split(' ')[0]!;
      out[name] = (out[name] ?? 0) + c;
    }
    assert.equal(Object.entries(out).filter(([k]) => k.startsWith('web') || k === 'client').reduce((a, [, c]) => a + c, 0), n,
      `every connection answered: ${JSON.stringify(counts)}`);
    return out;
  }

  function assertSpread(per: Record<string, number>, pods: NetPod[], n: number): void {
    for (const p of pods) {
      const share = (per[p.name] ?? 0) / n;
      assert.ok(share >= 0.15 && share <= 0.6, `${p.name} got ${(share * 100).toFixed(0)}% of ${n}: ${JSON.stringify(per)}`);
    }
  }

  it('spreads 200 new connections over 2 and over 3 backends (each 15%-60%), the backends seeing the client\'s own address', async () => {
    net.state.syncService(frontend({ backends: active(backends[0]!, backends[1]!) }));
    const two = await connections(client, 200);
    assertSpread(byBackend(two, 200), backends.slice(0, 2), 200);
    assert.ok(Object.keys(two).every((r) => r.endsWith(` ${client.ip}`)), `no source NAT: ${Object.keys(two).join(', ')}`);
    net.state.syncService(frontend({ backends: active(...backends) }));
    assertSpread(byBackend(await connections(client, 200), 200), backends, 200);
  });

  it('spreads connections with Maglev, and sends the same 5-tuple to the same backend every time', async () => {
    net.state.syncService(frontend({ algorithm: 'maglev', backends: active(...backends) }));
    assertSpread(byBackend(await connections(client, 200), 200), backends, 200);
    net.state.syncService(frontend({ id: 2, port: 53, protocol: 17, algorithm: 'maglev', backends: backends.map((p) => ({ ip: p.ip, port: UDP_PORT, state: 'active' as const })) }));
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      // Forget the connection (its service entry would keep the backend anyway): the table alone decides.
      for (const k of [...net.dp.maps.conntrack.keys()]) net.dp.maps.conntrack.delete(k);
      const res = await client.exec(['node', '-e', udpClient(VIP, 53, 40123)]);
      seen.add(res.stdout.trim().split(' ')[0]!);
    }
    assert.equal(seen.size, 1, `one backend for one 5-tuple: ${[...seen].join(', ')}`);
    assert.ok([...seen][0]!.startsWith('web'));
  });

  it('keeps a client on one backend with session affinity', async () => {
    net.state.syncService(frontend({ affinityTimeoutSec: 60, backends: active(...backends) }));
    const per = byBackend(await connections(client, 30), 30);
    assert.equal(Object.keys(per).length, 1, `one backend for all: ${JSON.stringify(per)}`);
  });

  it('keeps a long-lived connection on its backend while others come and go and it turns terminating; terminating takes no new connections', async () => {
    net.state.syncService(frontend({ port: 90, backends: backends.map((p) => ({ ip: p.ip, port: ECHO_PORT, state: 'active' as const })) }));
    const conn: ChildProcess = client.spawn(['node', '-e',
      `const s = require('net').connect(90, '${VIP}', () => console.log('connected')); s.setNoDelay(true);` +
      `process.stdin.on('data', (d) => s.write(d)); s.on('data', (d) => process.stdout.write('echo:' + d)); s.on('close', () => process.exit(1));`]);
    assert.ok(await waitForLine(conn, /connected/, 5000), 'connected through the VIP');
    const roundTrip = async (line: string) => {
      const echoed = waitForLine(conn, new RegExp(`^echo:${line}$`), 3000);
      conn.stdin!.write(`${line}\n`);
      return echoed;
    };
    assert.ok(await roundTrip('one'));
    // Which backend: the service conntrack entry of the client's connection remembers it.
    const svcEntries = [...net.dp.maps.conntrack.entries()].filter(([k]) => {
      const key = ctKey.decode(k);
      return key.dir === CT_DIR_SERVICE && key.saddr === ip4ToInt(client.ip) && key.dport === 90;
    });
    assert.equal(svcEntries.length, 1);
    const backendId = ctEntry.decode(svcEntries[0]![1]).backendId;
    const mine = net.state.realizedServices()[0]!.backends.find((b) => b.id === backendId)!;
    const own = backends.find((p) => p.ip === mine.ip)!;
    const others = backends.filter((p) => p !== own);

    net.state.syncService(frontend({ port: 90, backends: [own, others[0]!].map((p) => ({ ip: p.ip, port: ECHO_PORT, state: 'active' as const })) }));
    assert.ok(await roundTrip('two'), 'after another backend was removed');
    net.state.syncService(frontend({ port: 90, backends: [own, ...others].map((p) => ({ ip: p.ip, port: ECHO_PORT, state: 'active' as const })) }));
    assert.ok(await roundTrip('three'), 'after a backend was added');
    net.state.syncService(frontend({ port: 90, backends: [{ ip: own.ip, port: ECHO_PORT, state: 'terminating' }, ...others.map((p) => ({ ip: p.ip, port: ECHO_PORT, state: 'active' as const }))] }));
    assert.ok(await roundTrip('four'), 'after its own backend turned terminating');

    // New connections avoid the terminating backend (port 80 frontend with the same states).
    net.state.syncService(frontend({ id: 2, backends: [{ ip: own.ip, port: TCP_PORT, state: 'terminating' }, ...active(...others)] }));
    const per = byBackend(await connections(client, 40), 40);
    assert.equal(per[own.name] ?? 0, 0, `the terminating backend got none: ${JSON.stringify(per)}`);
    conn.kill();
  });

  it('drops with reason 158 and a flow naming the service when it has no backend', async () => {
    net.state.syncService(frontend({ id: 42, backends: [] }));
    const per = await connections(client, 1);
    assert.deepEqual(per, { timeout: 1 });
    const ev = rb.consume().map((b) => flowEvent.decode(b)).find((e) => e.type === EVENT_DROP && e.proto === 6)!;
    assert.ok(ev, 'a drop event for the connection');
    assert.equal(ev.reason, 158);
    assert.equal(ev.svcId, 42);
    assert.equal(ev.origDaddr, VIP);
    assert.equal(ev.origDport, 80);
    assert.equal(intToIp4(ev.saddr), client.ip);
    // Only terminating backends: no backend for new connections either.
    net.state.syncService(frontend({ id: 42, backends: [{ ip: backends[0]!.ip, port: TCP_PORT, state: 'terminating' }] }));
    assert.deepEqual(await connections(client, 1), { timeout: 1 });
  });

  it('lets a pod reach itself through its own service (hairpin), from the loopback address', async () => {
    net.state.syncService(frontend({ backends: active(client) }));
    const per = await connections(client, 5);
    assert.deepEqual(per, { [`client ${LB_LOOPBACK_IP}`]: 5 });
  });

  it('answers UDP from the VIP (a connected socket accepts only that) and reports the original destination in flows', async () => {
    net.state.syncService(frontend({ id: 3, port: 53, protocol: 17, backends: [{ ip: backends[1]!.ip, port: UDP_PORT, state: 'active' }] }));
    const res = await client.exec(['node', '-e', udpClient(VIP, 53)]);
    assert.equal(res.stdout.trim(), `web2 ${client.ip}`);
    const verdict = rb.consume().map((b) => flowEvent.decode(b)).find((e) => e.type === EVENT_POLICY_VERDICT && e.proto === 17)!;
    assert.equal(verdict.svcId, 3);
    assert.equal(verdict.origDaddr, VIP);
    assert.equal(verdict.origDport, 53);
    assert.equal(intToIp4(verdict.daddr), backends[1]!.ip, 'the flow shows the translated destination');
    assert.equal(verdict.dport, UDP_PORT);
  });

  it('applies policy to the backend\'s identity after translation', async () => {
    const web = backends[2]!;
    net.state.syncService(frontend({ backends: active(web) }));
    const anyEgress = { egress: true, identity: 0, protocol: 0, port: 0, prefixLen: 0 };
    const toWeb = { egress: true, identity: web.identity, protocol: 6, port: TCP_PORT, prefixLen: 24 };
    net.setPolicy(client.epId, anyEgress, true);
    try {
      net.setPolicy(client.epId, toWeb);
      assert.deepEqual(byBackend(await connections(client, 3), 3), { web3: 3 }, 'allowed: the entry names the backend\'s identity and port');
      net.setPolicy(client.epId, toWeb, true);
      rb.consume();
      assert.deepEqual(await connections(client, 1), { timeout: 1 });
      // The refused connection's SYN: a late packet of the allowed connections (a FIN or ACK after the entry went)
      // may be dropped too, before it.
      const drop = rb.consume().map((b) => flowEvent.decode(b)).find((e) => e.type === EVENT_DROP && e.proto === 6 && (e.tcpFlags & 0x12) === 0x02)!;
      assert.ok(drop, 'the refused SYN was reported');
      assert.equal(drop.reason, 133);
      assert.equal(drop.dstIdentity, web.identity);
      assert.equal(drop.svcId, 1);
    } finally {
      net.setPolicy(client.epId, toWeb, true);
      net.setPolicy(client.epId, anyEgress);
    }
  });

  it('adopts the services from the pins in a second datapath instance, as a restarted agent does', async () => {
    net.state.syncService(frontend({ id: 9, algorithm: 'maglev', affinityTimeoutSec: 10, backends: [...active(backends[0]!), { ip: backends[1]!.ip, port: TCP_PORT, state: 'terminating' }] }));
    const { LxcDatapath } = await import('./loader.js');
    const { DatapathState } = await import('./state.js');
    const dp2 = LxcDatapath.load({ pinDir: net.pinDir });
    try {
      assert.deepEqual(new DatapathState(dp2).realizedServices(), net.state.realizedServices());
    } finally {
      dp2.close();
    }
  });
});
