/**
 * Service translation through BPF_PROG_TEST_RUN: the DNAT of a packet for a
 * frontend and the reverse translation of its reply, byte by byte, with
 * checksums verified (real traffic between veths carries partial checksums
 * nobody checks, so this is where wrong ones would show).
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot } from '../testing/names.js';
import { clearServices, installEndpoint } from '../testing/test-datapath.js';
import { CT_DIR_SERVICE, DIR_EGRESS, ctEntry, ctKey, ip4ToInt } from './layout.js';
import type { LbFrontend } from './lb.js';
import { LxcDatapath } from './loader.js';
import { TCP_ACK, TCP_SYN, buildPacket, checksumsValid, fillChecksums } from './packet.js';
import { DatapathState } from './state.js';

const TC_ACT_OK = 0;
const A = { ip: '10.201.0.10', epId: 11, identity: 1001 };
const R1 = { ip: '10.201.1.1', identity: 4001 };
const R2 = { ip: '10.201.1.2', identity: 4002 };
const VIP = '10.96.201.1';

const read = (frame: Buffer) => ({
  saddr: frame.readUInt32BE(26), daddr: frame.readUInt32BE(30), sport: frame.readUInt16BE(34), dport: frame.readUInt16BE(36),
});

describe('service translation (BPF_PROG_TEST_RUN)', () => {
  let dp: LxcDatapath;
  let state: DatapathState;

  before(() => {
    requireRoot();
    dp = LxcDatapath.load();
    state = new DatapathState(dp);
    installEndpoint(state, A);
    for (const p of [R1, R2]) state.upsertIpcache(p.ip, 32, p.identity);
  });
  after(() => dp?.close());
  beforeEach(() => clearServices(state, dp));

  const svc = (over: Partial<LbFrontend> = {}): LbFrontend => ({
    id: 5, vip: VIP, port: 80, protocol: 6, algorithm: 'random', affinityTimeoutSec: 0,
    backends: [{ ip: R1.ip, port: 8080, state: 'active' }], ...over,
  });

  it('DNATs a TCP packet to the backend with right checksums, and remembers the frontend in conntrack', () => {
    state.syncService(svc());
    const syn = fillChecksums(buildPacket({ src: A.ip, dst: VIP, proto: 'tcp', sport: 40000, dport: 80, tcpFlags: TCP_SYN, payload: 13 }));
    const { retval, packet } = dp.testRun('from_container', syn);
    assert.equal(retval, TC_ACT_OK);
    assert.deepEqual(read(packet), { saddr: ip4ToInt(A.ip), daddr: ip4ToInt(R1.ip), sport: 40000, dport: 8080 });
    assert.deepEqual(checksumsValid(packet), { ip: true, l4: true });
    const service = dp.maps.conntrack.lookup(ctKey.encode({ saddr: ip4ToInt(A.ip), daddr: ip4ToInt(VIP), sport: 40000, dport: 80, proto: 6, dir: CT_DIR_SERVICE }));
    assert.equal(ctEntry.decode(service!).backendId, state.realizedServices()[0]!.backends[0]!.id);
    const conn = dp.maps.conntrack.lookup(ctKey.encode({ saddr: ip4ToInt(A.ip), daddr: ip4ToInt(R1.ip), sport: 40000, dport: 8080, proto: 6, dir: DIR_EGRESS }));
    assert.equal(ctEntry.decode(conn!).revNatId, 5);
  });

  it('keeps an established connection on its backend for the established lifetime, not the handshake\'s 60 s', () => {
    state.syncService(svc());
    const pkt = (tcpFlags: number) => fillChecksums(buildPacket({ src: A.ip, dst: VIP, proto: 'tcp', sport: 40009, dport: 80, tcpFlags }));
    const serviceEntry = () => ctEntry.decode(dp.maps.conntrack.lookup(ctKey.encode({ saddr: ip4ToInt(A.ip), daddr: ip4ToInt(VIP), sport: 40009, dport: 80, proto: 6, dir: CT_DIR_SERVICE }))!);
    const secondsLeft = () => (serviceEntry().expiresNs - Number(process.hrtime.bigint())) / 1e9;
    dp.testRun('from_container', pkt(TCP_SYN));
    assert.ok(secondsLeft() <= 60, `after the SYN: ${secondsLeft()} s`);
    dp.testRun('from_container', pkt(TCP_ACK)); // the client's ACK: it has had the SYN-ACK
    assert.ok(secondsLeft() > 3600, `once established: ${secondsLeft()} s`);
  });

  it('rewrites the reply of a remote backend to come from VIP:port on the way into the pod', () => {
    state.syncService(svc());
    dp.testRun('from_container', fillChecksums(buildPacket({ src: A.ip, dst: VIP, proto: 'tcp', sport: 40001, dport: 80, tcpFlags: TCP_SYN })));
    const synack = fillChecksums(buildPacket({ src: R1.ip, dst: A.ip, proto: 'tcp', sport: 8080, dport: 40001, tcpFlags: TCP_SYN | TCP_ACK, payload: 7 }));
    const { retval, packet } = dp.testRun('to_container', synack);
    assert.equal(retval, TC_ACT_OK);
    assert.deepEqual(read(packet), { saddr: ip4ToInt(VIP), daddr: ip4ToInt(A.ip), sport: 80, dport: 40001 });
    assert.deepEqual(checksumsValid(packet), { ip: true, l4: true });
  });

  it('keeps UDP checksums right, and a UDP checksum of 0 (none) at 0', () => {
    state.syncService(svc({ port: 53, protocol: 17, backends: [{ ip: R1.ip, port: 5353, state: 'active' }] }));
    const withSum = dp.testRun('from_container', fillChecksums(buildPacket({ src: A.ip, dst: VIP, proto: 'udp', sport: 40002, dport: 53, payload: 9 }))).packet;
    assert.deepEqual(read(withSum), { saddr: ip4ToInt(A.ip), daddr: ip4ToInt(R1.ip), sport: 40002, dport: 5353 });
    assert.notEqual(withSum.readUInt16BE(40), 0);
    assert.deepEqual(checksumsValid(withSum), { ip: true, l4: true });
    const none = dp.testRun('from_container', fillChecksums(buildPacket({ src: A.ip, dst: VIP, proto: 'udp', sport: 40003, dport: 53, payload: 9 }), true)).packet;
    assert.equal(none.readUInt16BE(40), 0, 'still no checksum');
    assert.deepEqual(checksumsValid(none), { ip: true, l4: true });
    const reply = dp.testRun('to_container', fillChecksums(buildPacket({ src: R1.ip, dst: A.ip, proto: 'udp', sport: 5353, dport: 40003, payload: 3 }), true)).packet;
    assert.deepEqual(read(reply), { saddr: ip4ToInt(VIP), daddr: ip4ToInt(A.ip), sport: 53, dport: 40003 });
    assert.equal(reply.readUInt16BE(40), 0);
  });

  it('translates SCTP without a port change (its CRC32c covers no addresses), and refuses an SCTP port translation', () => {
    state.syncService(svc({ port: 3868, protocol: 132, backends: [{ ip: R1.ip, port: 3868, state: 'active' }] }));
    const out = dp.testRun('from_container', buildPacket({ src: A.ip, dst: VIP, proto: 'sctp', sport: 40004, dport: 3868 })).packet;
    assert.deepEqual(read(out), { saddr: ip4ToInt(A.ip), daddr: ip4ToInt(R1.ip), sport: 40004, dport: 3868 });
    assert.throws(() => state.syncService(svc({ id: 6, port: 3869, protocol: 132 })), /SCTP/);
  });

  it('moves an established connection only when its backend is gone', () => {
    state.syncService(svc({ backends: [{ ip: R1.ip, port: 8080, state: 'active' }] }));
    const pkt = (flags: number) => fillChecksums(buildPacket({ src: A.ip, dst: VIP, proto: 'tcp', sport: 40005, dport: 80, tcpFlags: flags }));
    assert.equal(read(dp.testRun('from_container', pkt(TCP_SYN)).packet).daddr, ip4ToInt(R1.ip));
    state.syncService(svc({ backends: [{ ip: R1.ip, port: 8080, state: 'terminating' }, { ip: R2.ip, port: 8080, state: 'active' }] }));
    assert.equal(read(dp.testRun('from_container', pkt(TCP_ACK)).packet).daddr, ip4ToInt(R1.ip), 'stays on its terminating backend');
    state.syncService(svc({ backends: [{ ip: R2.ip, port: 8080, state: 'active' }] }));
    assert.equal(read(dp.testRun('from_container', pkt(TCP_ACK)).packet).daddr, ip4ToInt(R2.ip), 'its backend is gone: another one');
  });

  it('leaves packets to a frontend\'s address on another port or protocol alone', () => {
    state.syncService(svc());
    const out = dp.testRun('from_container', fillChecksums(buildPacket({ src: A.ip, dst: VIP, proto: 'tcp', sport: 40006, dport: 81 }))).packet;
    assert.equal(read(out).daddr, ip4ToInt(VIP));
    const udp = dp.testRun('from_container', fillChecksums(buildPacket({ src: A.ip, dst: VIP, proto: 'udp', sport: 40006, dport: 80 }))).packet;
    assert.equal(read(udp).daddr, ip4ToInt(VIP));
  });
});
