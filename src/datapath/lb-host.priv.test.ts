/**
 * The node-device programs through BPF_PROG_TEST_RUN, sharing the endpoint
 * datapath's maps through pins: from_netdev DNATs a connection to a
 * NodePort and records it, the backend's to_container names the service
 * in its verdict, to_netdev rewrites the reply and an ICMP error about the
 * connection to come from nodeIP:nodePort; checksums verified.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { requireRoot, uniqueName } from '../testing/names.js';
import { installEndpoint } from '../testing/test-datapath.js';
import { EVENT_POLICY_VERDICT, MARK_MAGIC_NODEPORT, flowEvent, ip4ToInt } from './layout.js';
import { HostDatapath } from './lb-host.js';
import { BPFFS_ROOT, LxcDatapath } from './loader.js';
import { TCP_ACK, TCP_SYN, buildPacket, checksumsValid, fillChecksums } from './packet.js';
import { RingBuf } from './ringbuf.js';
import { DatapathState } from './state.js';

const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;
const NODE_IP = '198.51.100.1';
const CLIENT = '198.51.100.10';
const B = { ip: '10.203.0.11', epId: 31, identity: 1201 };
const NODE_PORT = 30080;

const read = (frame: Buffer) => ({
  saddr: frame.readUInt32BE(26), daddr: frame.readUInt32BE(30), sport: frame.readUInt16BE(34), dport: frame.readUInt16BE(36),
});

describe('NodePort on the node\'s device (BPF_PROG_TEST_RUN)', () => {
  const pinDir = path.join(BPFFS_ROOT, 'membrane', uniqueName('lbhost'));
  let dp: LxcDatapath;
  let host: HostDatapath;
  let state: DatapathState;
  let rb: RingBuf;

  before(() => {
    requireRoot();
    dp = LxcDatapath.load({ pinDir });
    host = HostDatapath.load(pinDir);
    state = new DatapathState(dp);
    rb = new RingBuf(dp.maps.events.fd);
    installEndpoint(state, B);
    state.upsertIpcache(NODE_IP, 32, 1);
    state.syncService({ id: 9, vip: NODE_IP, port: NODE_PORT, protocol: 6, algorithm: 'random', affinityTimeoutSec: 0, backends: [{ ip: B.ip, port: 8080, state: 'active' }] });
    state.syncService({ id: 10, vip: '10.96.203.1', port: 80, protocol: 6, algorithm: 'random', affinityTimeoutSec: 0, backends: [{ ip: B.ip, port: 8080, state: 'active' }] });
  });
  after(() => {
    rb?.free();
    host?.close();
    dp?.close();
    rmSync(pinDir, { recursive: true, force: true });
  });

  it('DNATs a connection to nodeIP:nodePort, names the service in the backend\'s verdict, and rewrites the reply back', () => {
    const syn = fillChecksums(buildPacket({ src: CLIENT, dst: NODE_IP, proto: 'tcp', sport: 41000, dport: NODE_PORT, tcpFlags: TCP_SYN }));
    const inbound = host.testRun('from_netdev', syn);
    assert.equal(inbound.retval, TC_ACT_OK);
    assert.deepEqual(read(inbound.packet), { saddr: ip4ToInt(CLIENT), daddr: ip4ToInt(B.ip), sport: 41000, dport: 8080 });
    assert.deepEqual(checksumsValid(inbound.packet), { ip: true, l4: true });

    rb.consume();
    assert.equal(inbound.mark, MARK_MAGIC_NODEPORT, 'from_netdev marks what it translated');
    assert.equal(dp.testRun('to_container', inbound.packet, 1, inbound.mark).retval, TC_ACT_OK);
    const verdict = rb.consume().map((b) => flowEvent.decode(b)).find((e) => e.type === EVENT_POLICY_VERDICT)!;
    assert.equal(verdict.svcId, 9);
    assert.equal(verdict.origDaddr, NODE_IP);
    assert.equal(verdict.origDport, NODE_PORT);

    const synack = fillChecksums(buildPacket({ src: B.ip, dst: CLIENT, proto: 'tcp', sport: 8080, dport: 41000, tcpFlags: TCP_SYN | TCP_ACK }));
    const fromPod = dp.testRun('from_container', synack);
    assert.deepEqual(read(fromPod.packet), read(synack), 'the backend\'s veth leaves the reply to the node\'s device');
    const outbound = host.testRun('to_netdev', fromPod.packet);
    assert.equal(outbound.retval, TC_ACT_OK);
    assert.deepEqual(read(outbound.packet), { saddr: ip4ToInt(NODE_IP), daddr: ip4ToInt(CLIENT), sport: NODE_PORT, dport: 41000 });
    assert.deepEqual(checksumsValid(outbound.packet), { ip: true, l4: true });
  });

  it('rewrites an ICMP error about a NodePort connection to come from nodeIP and quote nodeIP:nodePort', () => {
    host.testRun('from_netdev', fillChecksums(buildPacket({ src: CLIENT, dst: NODE_IP, proto: 'tcp', sport: 41002, dport: NODE_PORT, tcpFlags: TCP_SYN })));
    const err = buildPacket({ src: B.ip, dst: CLIENT, proto: 'icmp', icmpType: 3, quoted: { src: CLIENT, dst: B.ip, proto: 'tcp', sport: 41002, dport: 8080 } });
    const out = host.testRun('to_netdev', err).packet;
    assert.equal(out.readUInt32BE(26), ip4ToInt(NODE_IP));
    assert.equal(out.readUInt32BE(42 + 16), ip4ToInt(NODE_IP), 'quoted destination');
    assert.equal(out.readUInt16BE(42 + 22), NODE_PORT, 'quoted port');
  });

  it('hands an ICMP error from a router on the client\'s path (about a reply from nodeIP:nodePort) to the backend, which takes it as related', () => {
    const syn = host.testRun('from_netdev', fillChecksums(buildPacket({ src: CLIENT, dst: NODE_IP, proto: 'tcp', sport: 41008, dport: NODE_PORT, tcpFlags: TCP_SYN })));
    assert.equal(dp.testRun('to_container', syn.packet, 1, syn.mark).retval, TC_ACT_OK); // the backend's side of the connection
    const ROUTER = '198.51.100.254';
    const fragNeeded = fillChecksums(buildPacket({
      src: ROUTER, dst: NODE_IP, proto: 'icmp', icmpType: 3, quoted: { src: NODE_IP, dst: CLIENT, proto: 'tcp', sport: NODE_PORT, dport: 41008 },
    }));
    fragNeeded.writeUInt8(4, 35); // code 4: fragmentation needed
    fillChecksums(fragNeeded);
    const inbound = host.testRun('from_netdev', fragNeeded);
    assert.equal(inbound.retval, TC_ACT_OK);
    assert.equal(inbound.packet.readUInt32BE(30), ip4ToInt(B.ip), 'outer destination: the backend');
    assert.equal(inbound.packet.readUInt32BE(42 + 12), ip4ToInt(B.ip), 'quoted source: the backend');
    assert.equal(inbound.packet.readUInt16BE(42 + 20), 8080, 'quoted source port: the backend\'s');
    assert.deepEqual(checksumsValid(inbound.packet), { ip: true, l4: true });
    rb.consume();
    assert.equal(dp.testRun('to_container', inbound.packet).retval, TC_ACT_OK);
    assert.ok(!rb.consume().map((b) => flowEvent.decode(b)).some((e) => e.type === EVENT_POLICY_VERDICT), 'related: no policy verdict of its own');
    // An error about a connection that is not one leaves the node's device as it came.
    const stray = fillChecksums(buildPacket({ src: ROUTER, dst: NODE_IP, proto: 'icmp', icmpType: 3, quoted: { src: NODE_IP, dst: CLIENT, proto: 'tcp', sport: NODE_PORT, dport: 41999 } }));
    assert.deepEqual(host.testRun('from_netdev', stray).packet, stray);
  });

  it('leaves a ClusterIP alone on the node\'s device (only frontends on node addresses are served from outside)', () => {
    const syn = fillChecksums(buildPacket({ src: CLIENT, dst: '10.96.203.1', proto: 'tcp', sport: 41003, dport: 80, tcpFlags: TCP_SYN }));
    const res = host.testRun('from_netdev', syn);
    assert.equal(res.retval, TC_ACT_OK);
    assert.deepEqual(res.packet, syn);
  });

  it('drops what comes in from outside claiming to be a pod of the node, the node itself or the hairpin address', () => {
    for (const src of [B.ip, NODE_IP, '169.254.42.1']) {
      const spoofed = fillChecksums(buildPacket({ src, dst: NODE_IP, proto: 'tcp', sport: 41006, dport: NODE_PORT, tcpFlags: TCP_SYN }));
      assert.equal(host.testRun('from_netdev', spoofed).retval, TC_ACT_SHOT, src);
      const direct = fillChecksums(buildPacket({ src, dst: B.ip, proto: 'tcp', sport: 41007, dport: 8080, tcpFlags: TCP_SYN }));
      assert.equal(host.testRun('from_netdev', direct).retval, TC_ACT_SHOT, `${src}, straight to a pod`);
    }
  });

  it('passes traffic that is not for a NodePort untouched, both ways', () => {
    const inbound = fillChecksums(buildPacket({ src: CLIENT, dst: B.ip, proto: 'tcp', sport: 41004, dport: 8080, tcpFlags: TCP_ACK }));
    assert.deepEqual(host.testRun('from_netdev', inbound).packet, inbound);
    const outbound = fillChecksums(buildPacket({ src: B.ip, dst: CLIENT, proto: 'tcp', sport: 8080, dport: 41005, tcpFlags: TCP_ACK }));
    assert.deepEqual(host.testRun('to_netdev', outbound).packet, outbound);
  });
});
