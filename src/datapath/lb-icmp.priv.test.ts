/**
 * ICMP errors about service connections, reverse-translated so the client
 * recognises them: first byte by byte through BPF_PROG_TEST_RUN (outer
 * source, quoted destination and port, every checksum), then with real
 * traffic (a connected UDP socket to a ClusterIP whose backend port is
 * closed gets ECONNREFUSED).
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot } from '../testing/names.js';
import { clearServices, installEndpoint } from '../testing/test-datapath.js';
import { ip4ToInt, LB_LOOPBACK_IP } from './layout.js';
import type { LbFrontend } from './lb.js';
import { LxcDatapath } from './loader.js';
import { type PacketSpec, TCP_SYN, buildPacket, fillChecksums } from './packet.js';
import { DatapathState } from './state.js';
import { type NetPod, TestNet } from './testnet.js';

const TC_ACT_OK = 0;
const TC_ACT_REDIRECT = 7;
const ICMP_DEST_UNREACH = 3;
const ICMP_PORT_UNREACH = 3;
const ICMP_TIME_EXCEEDED = 11;
const A = { ip: '10.202.0.10', epId: 21, identity: 1101 };
const B = { ip: '10.202.0.11', epId: 22, identity: 1102 };
const R1 = { ip: '10.202.1.1', identity: 4101 };
/** A third pod, without any allow: what it sends is judged by its (default-deny) policy. */
const X = { ip: '10.202.0.12', epId: 23, identity: 1103 };
const TC_ACT_SHOT = 2;
const VIP = '10.96.202.1';

const OUTER = 14;
const ICMP = OUTER + 20;
const INNER = ICMP + 8;

/** The Internet checksum (RFC 1071) of `buf`; 0 when `buf` holds a right checksum. */
function inetChecksum(buf: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length % 2) sum += buf[buf.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An ICMP error from `src` to `dst` quoting `quoted` (its IP header and first 8 bytes, checksums as sent), all checksums right. */
function icmpError(src: string, dst: string, type: number, code: number, quoted: PacketSpec): Buffer {
  const frame = buildPacket({ src, dst, proto: 'icmp', icmpType: type, quoted });
  frame.writeUInt8(code, ICMP + 1);
  fillChecksums(buildPacket(quoted)).subarray(OUTER, OUTER + 28).copy(frame, INNER);
  frame.writeUInt16BE(0, OUTER + 10);
  frame.writeUInt16BE(inetChecksum(frame.subarray(OUTER, ICMP)), OUTER + 10);
  frame.writeUInt16BE(0, ICMP + 2);
  frame.writeUInt16BE(inetChecksum(frame.subarray(ICMP)), ICMP + 2);
  return frame;
}

/** What a test checks of an ICMP error: outer addresses, the quoted tuple and whether each checksum holds. */
function readError(frame: Buffer) {
  return {
    saddr: frame.readUInt32BE(OUTER + 12), daddr: frame.readUInt32BE(OUTER + 16),
    inner: {
      saddr: frame.readUInt32BE(INNER + 12), daddr: frame.readUInt32BE(INNER + 16),
      sport: frame.readUInt16BE(INNER + 20), dport: frame.readUInt16BE(INNER + 22),
    },
    checksums: {
      ip: inetChecksum(frame.subarray(OUTER, ICMP)) === 0,
      icmp: inetChecksum(frame.subarray(ICMP)) === 0,
      innerIp: inetChecksum(frame.subarray(INNER, INNER + 20)) === 0,
    },
  };
}

const allValid = { ip: true, icmp: true, innerIp: true };

describe('ICMP errors about service connections (BPF_PROG_TEST_RUN)', () => {
  let dp: LxcDatapath;
  let state: DatapathState;

  before(() => {
    requireRoot();
    dp = LxcDatapath.load();
    state = new DatapathState(dp);
    installEndpoint(state, A);
    installEndpoint(state, B);
    installEndpoint(state, X, false);
    state.upsertIpcache(R1.ip, 32, R1.identity);
  });
  after(() => dp?.close());
  beforeEach(() => clearServices(state, dp));

  const udpService = (backend: string, over: Partial<LbFrontend> = {}): LbFrontend => ({
    id: 7, vip: VIP, port: 53, protocol: 17, algorithm: 'random', affinityTimeoutSec: 0,
    backends: [{ ip: backend, port: 5353, state: 'active' }], ...over,
  });
  const send = (sport: number) => fillChecksums(buildPacket({ src: A.ip, dst: VIP, proto: 'udp', sport, dport: 53, payload: 5 }));

  it('rewrites a remote backend\'s port unreachable to come from the VIP and quote VIP:port, with right checksums', () => {
    state.syncService(udpService(R1.ip));
    assert.equal(dp.testRun('from_container', send(40100)).retval, TC_ACT_OK);
    const quoted: PacketSpec = { src: A.ip, dst: R1.ip, proto: 'udp', sport: 40100, dport: 5353, payload: 5 };
    const err = icmpError(R1.ip, A.ip, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, quoted);
    const innerUdpSum = err.readUInt16BE(INNER + 26);
    const { retval, packet } = dp.testRun('to_container', err);
    assert.equal(retval, TC_ACT_OK);
    assert.deepEqual(readError(packet), {
      saddr: ip4ToInt(VIP), daddr: ip4ToInt(A.ip),
      inner: { saddr: ip4ToInt(A.ip), daddr: ip4ToInt(VIP), sport: 40100, dport: 53 },
      checksums: allValid,
    });
    assert.equal(packet.readUInt16BE(INNER + 26), innerUdpSum, 'the quoted UDP checksum is left as sent');
  });

  it('rewrites a time exceeded about a TCP service connection the same way', () => {
    state.syncService(udpService(R1.ip, { port: 80, protocol: 6, backends: [{ ip: R1.ip, port: 8080, state: 'active' }] }));
    dp.testRun('from_container', fillChecksums(buildPacket({ src: A.ip, dst: VIP, proto: 'tcp', sport: 40101, dport: 80, tcpFlags: TCP_SYN })));
    const err = icmpError(R1.ip, A.ip, ICMP_TIME_EXCEEDED, 0, { src: A.ip, dst: R1.ip, proto: 'tcp', sport: 40101, dport: 8080, tcpFlags: TCP_SYN });
    const { retval, packet } = dp.testRun('to_container', err);
    assert.equal(retval, TC_ACT_OK);
    assert.deepEqual(readError(packet), {
      saddr: ip4ToInt(VIP), daddr: ip4ToInt(A.ip),
      inner: { saddr: ip4ToInt(A.ip), daddr: ip4ToInt(VIP), sport: 40101, dport: 80 },
      checksums: allValid,
    });
  });

  it('rewrites a local backend\'s error on its way out of the backend, before it goes straight into the client', () => {
    state.syncService(udpService(B.ip));
    assert.equal(dp.testRun('from_container', send(40102)).retval, TC_ACT_REDIRECT);
    const err = icmpError(B.ip, A.ip, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, { src: A.ip, dst: B.ip, proto: 'udp', sport: 40102, dport: 5353, payload: 5 });
    const { retval, packet } = dp.testRun('from_container', err);
    assert.equal(retval, TC_ACT_REDIRECT);
    assert.deepEqual(readError(packet), {
      saddr: ip4ToInt(VIP), daddr: ip4ToInt(A.ip),
      inner: { saddr: ip4ToInt(A.ip), daddr: ip4ToInt(VIP), sport: 40102, dport: 53 },
      checksums: allValid,
    });
  });

  it('sends a hairpin error back to the client\'s own address, quoting its own address and VIP:port', () => {
    state.syncService(udpService(A.ip));
    dp.testRun('from_container', send(40103));
    const err = icmpError(A.ip, LB_LOOPBACK_IP, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, { src: LB_LOOPBACK_IP, dst: A.ip, proto: 'udp', sport: 40103, dport: 5353, payload: 5 });
    const { retval, packet } = dp.testRun('from_container', err);
    assert.equal(retval, TC_ACT_REDIRECT);
    assert.deepEqual(readError(packet), {
      saddr: ip4ToInt(VIP), daddr: ip4ToInt(A.ip),
      inner: { saddr: ip4ToInt(A.ip), daddr: ip4ToInt(VIP), sport: 40103, dport: 53 },
      checksums: allValid,
    });
  });

  it('never takes an error another pod forges about a connection it is no part of for related: its policy judges it, and nothing is rewritten', () => {
    state.syncService(udpService(B.ip));
    assert.equal(dp.testRun('from_container', send(40105)).retval, TC_ACT_REDIRECT);
    const quoted: PacketSpec = { src: A.ip, dst: B.ip, proto: 'udp', sport: 40105, dport: 5353, payload: 5 };
    // X's own side: B's entry of the connection is not X's, so X's default deny drops it.
    assert.equal(dp.testRun('from_container', icmpError(X.ip, A.ip, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, quoted)).retval, TC_ACT_SHOT);
    // A's side: an error from a local pod that is not the connection's peer goes to A's policy (allow-all here), untranslated.
    const forged = icmpError(X.ip, A.ip, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, quoted);
    const { retval, packet } = dp.testRun('to_container', forged);
    assert.equal(retval, TC_ACT_OK);
    assert.deepEqual(packet, forged, 'not rewritten to come from the VIP');
  });

  it('leaves an error about a connection that was not translated as it is', () => {
    state.syncService(udpService(R1.ip));
    dp.testRun('from_container', fillChecksums(buildPacket({ src: A.ip, dst: R1.ip, proto: 'udp', sport: 40104, dport: 5353 })));
    const err = icmpError(R1.ip, A.ip, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, { src: A.ip, dst: R1.ip, proto: 'udp', sport: 40104, dport: 5353 });
    const { retval, packet } = dp.testRun('to_container', err);
    assert.equal(retval, TC_ACT_OK);
    assert.deepEqual(packet, err);
  });
});

/** Sends from a connected UDP socket; prints the error code the socket gets, the reply, or "timeout". */
const connectedUdp = (ip: string, port: number) => `const u = require('dgram').createSocket('udp4');
u.on('error', (e) => { console.log(e.code); process.exit(0); });
u.on('message', (m) => { console.log('reply ' + m); process.exit(0); });
u.connect(${port}, '${ip}', () => { u.send('hi'); setInterval(() => u.send('hi'), 300); });
setTimeout(() => { console.log('timeout'); process.exit(0); }, 2000);`;

describe('ICMP errors about service connections (real traffic)', () => {
  let net: TestNet;
  let client: NetPod;
  let backend: NetPod;
  const vip = '10.96.214.10';

  before(async () => {
    requireRoot();
    net = await TestNet.create('10.214.7');
    client = await net.addPod('client', 5101);
    backend = await net.addPod('backend', 5102);
  });
  after(async () => {
    await net?.destroy();
  });

  it('gives a connected UDP socket to a ClusterIP whose backend port is closed ECONNREFUSED', async () => {
    net.state.syncService({
      id: 1, vip, port: 53, protocol: 17, algorithm: 'random', affinityTimeoutSec: 0,
      backends: [{ ip: backend.ip, port: 5999, state: 'active' }],
    });
    const res = await client.exec(['node', '-e', connectedUdp(vip, 53)]);
    assert.equal(res.stdout.trim(), 'ECONNREFUSED');
  });

  it('does the same when the client is its own backend (hairpin)', async () => {
    net.state.syncService({
      id: 2, vip, port: 54, protocol: 17, algorithm: 'random', affinityTimeoutSec: 0,
      backends: [{ ip: client.ip, port: 5999, state: 'active' }],
    });
    const res = await client.exec(['node', '-e', connectedUdp(vip, 54)]);
    assert.equal(res.stdout.trim(), 'ECONNREFUSED');
  });
});
