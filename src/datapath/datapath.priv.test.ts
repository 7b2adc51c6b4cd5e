/**
 * The endpoint datapath through BPF_PROG_TEST_RUN: build a packet, run the
 * program, assert the verdict, the map changes and the emitted event. No
 * network namespaces: skb->ifindex is loopback (1), so both test endpoints
 * sit "behind" ifindex 1.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot } from '../testing/names.js';
import { TestDatapath } from '../testing/test-datapath.js';
import type { LxcDatapath } from './loader.js';
import {
  DIR_EGRESS, DIR_INGRESS, EVENT_DROP, EVENT_POLICY_VERDICT, EVENT_TRACE, VERDICT_AUDIT, VERDICT_DROPPED, VERDICT_FORWARDED,
  EP_F_AUDIT_DENIES, EP_F_AUDIT_INGRESS, ctKey, ctEntry, endpointInfo, endpointKey, ip4ToInt,
  metricsIndex, metricsValue,
} from './layout.js';
import { BpfMap } from './map.js';
import { TCP_ACK, TCP_RST, TCP_SYN, buildArp, buildPacket } from './packet.js';
import { type PolicyMapKey, encodePolicyKey, encodePolicyValue } from './policymap.js';

const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;
const TC_ACT_REDIRECT = 7;
/* Local endpoints (in the endpoints map) and a remote peer R (only in the ipcache). */
const A = { ip: '10.200.0.10', epId: 11, identity: 1001 };
const B = { ip: '10.200.0.20', epId: 22, identity: 2002 };
const C = { ip: '10.200.0.30', epId: 33, identity: 3003 };
const R = { ip: '10.200.1.40', identity: 4004 };

describe('endpoint datapath (BPF_PROG_TEST_RUN)', () => {
  let t: TestDatapath;
  let dp: LxcDatapath;

  before(() => {
    requireRoot();
    t = TestDatapath.open();
    dp = t.dp;
  });
  after(() => t?.close());

  beforeEach(() => t.reset([A, B, C], [R]));

  function allow(epId: number, key: Partial<PolicyMapKey> & { egress: boolean }, cookie = 7, deny = false, audit = false): void {
    const k: PolicyMapKey = { identity: 0, protocol: 0, port: 0, prefixLen: 0, ...key, ...(audit ? { audit: true } : {}) };
    dp.maps.policy.update(encodePolicyKey(epId, k), encodePolicyValue(k, { deny, audit, proxyPort: 0, cookie }));
  }
  const deny = (epId: number, key: Partial<PolicyMapKey> & { egress: boolean }, cookie = 9) => allow(epId, key, cookie, true);

  /** The verdict and drop events since the last call (trace events have their own tests: trace.priv.test.ts). */
  function events() {
    return t.events().filter((e) => e.type !== EVENT_TRACE);
  }

  it('drops a new connection with no allow entry (default deny, reason 133) and says so in one event', () => {
    const pkt = buildPacket({ src: A.ip, dst: R.ip, proto: 'tcp', sport: 40001, dport: 80, tcpFlags: TCP_SYN });
    assert.equal(dp.testRun('from_container', pkt).retval, TC_ACT_SHOT);
    const evs = events();
    assert.equal(evs.length, 1);
    const ev = evs[0]!;
    assert.equal(ev.type, EVENT_DROP);
    assert.equal(ev.verdict, VERDICT_DROPPED);
    assert.equal(ev.reason, 133);
    assert.equal(ev.dir, DIR_EGRESS);
    assert.equal(ev.srcIdentity, A.identity);
    assert.equal(ev.dstIdentity, R.identity);
    assert.equal(ev.epId, A.epId);
    assert.equal(ev.saddr, ip4ToInt(A.ip));
    assert.equal(ev.daddr, ip4ToInt(R.ip));
    assert.equal(ev.sport, 40001);
    assert.equal(ev.dport, 80);
    assert.equal(ev.proto, 6);
    assert.equal(ev.tcpFlags, TCP_SYN);
    assert.equal(ev.isReply, 0);
    assert.equal(ev.matchType, 0);
    assert.equal(ev.cookie, 0);
    assert.equal(ev.ifindex, 1);
    assert.ok(ev.tsNs > 0);
    assert.equal(ev.len, pkt.length);
  });

  it('allows an L3/L4 match, records the connection and reports the rule and match type', () => {
    allow(A.epId, { egress: true, identity: R.identity, protocol: 6, port: 80, prefixLen: 24 }, 4242);
    const pkt = buildPacket({ src: A.ip, dst: R.ip, proto: 'tcp', sport: 40002, dport: 80 });
    assert.equal(dp.testRun('from_container', pkt).retval, TC_ACT_OK, 'a non-local destination continues into the node stack');
    const [ev] = events();
    assert.equal(ev!.type, EVENT_POLICY_VERDICT);
    assert.equal(ev!.verdict, VERDICT_FORWARDED);
    assert.equal(ev!.reason, 0);
    assert.equal(ev!.cookie, 4242);
    assert.equal(ev!.matchType, 2 /* L3_L4 */);
    const ct = dp.maps.conntrack.lookup(ctKey.encode({ saddr: ip4ToInt(A.ip), daddr: ip4ToInt(R.ip), sport: 40002, dport: 80, proto: 6, dir: DIR_EGRESS }));
    assert.ok(ct, 'a conntrack entry exists for the new connection');
    const e = ctEntry.decode(ct);
    assert.equal(e.cookie, 4242);
    assert.equal(e.peerIdentity, R.identity);
    assert.equal(e.packetsFwd, 1);
  });

  it('denies on another port or protocol of the same peer', () => {
    allow(A.epId, { egress: true, identity: R.identity, protocol: 6, port: 80, prefixLen: 24 });
    assert.equal(dp.testRun('from_container', buildPacket({ src: A.ip, dst: R.ip, proto: 'tcp', dport: 81 })).retval, TC_ACT_SHOT);
    assert.equal(dp.testRun('from_container', buildPacket({ src: A.ip, dst: R.ip, proto: 'udp', dport: 80 })).retval, TC_ACT_SHOT);
  });

  it('matches a port range expressed as an LPM prefix', () => {
    allow(A.epId, { egress: true, identity: R.identity, protocol: 6, port: 8080, prefixLen: 8 + 13 }); // 8080-8087
    for (const [port, want] of [[8079, TC_ACT_SHOT], [8080, TC_ACT_OK], [8087, TC_ACT_OK], [8088, TC_ACT_SHOT]] as const) {
      assert.equal(dp.testRun('from_container', buildPacket({ src: A.ip, dst: R.ip, proto: 'tcp', sport: 41000 + port, dport: port })).retval, want, `port ${port}`);
    }
  });

  it('lets the L4-only (any peer) entry serve every identity', () => {
    allow(B.epId, { egress: false, identity: 0, protocol: 6, port: 80, prefixLen: 24 }, 5);
    assert.equal(dp.testRun('to_container', buildPacket({ src: R.ip, dst: B.ip, proto: 'tcp', dport: 80 })).retval, TC_ACT_OK);
    assert.equal(dp.testRun('to_container', buildPacket({ src: '198.51.100.7', dst: B.ip, proto: 'tcp', dport: 80 })).retval, TC_ACT_OK);
    const evs = events();
    assert.equal(evs[0]!.matchType, 3 /* L4_ONLY */);
    assert.equal(evs[0]!.dir, DIR_INGRESS);
    assert.equal(evs[1]!.srcIdentity, 2 /* world: not in the ipcache */);
  });

  it('gives a deny on the exact peer precedence over an allow for any peer (reason 181)', () => {
    allow(B.epId, { egress: false, identity: 0, protocol: 0, port: 0, prefixLen: 0 }, 1);
    deny(B.epId, { egress: false, identity: R.identity, protocol: 6, port: 80, prefixLen: 24 }, 99);
    assert.equal(dp.testRun('to_container', buildPacket({ src: R.ip, dst: B.ip, proto: 'tcp', dport: 80 })).retval, TC_ACT_SHOT);
    const [ev] = events();
    assert.equal(ev!.reason, 181);
    assert.equal(ev!.cookie, 99);
    assert.equal(ev!.dir, DIR_INGRESS);
    assert.equal(dp.testRun('to_container', buildPacket({ src: '198.51.100.8', dst: B.ip, proto: 'tcp', dport: 80 })).retval, TC_ACT_OK);
  });

  it('gives an any-peer deny precedence over an exact-peer allow', () => {
    allow(B.epId, { egress: false, identity: R.identity, protocol: 6, port: 80, prefixLen: 24 }, 1);
    deny(B.epId, { egress: false, identity: 0, protocol: 6, port: 80, prefixLen: 24 }, 2);
    assert.equal(dp.testRun('to_container', buildPacket({ src: R.ip, dst: B.ip, proto: 'tcp', dport: 80 })).retval, TC_ACT_SHOT);
    assert.equal(events()[0]!.reason, 181);
  });

  it('prefers the longer prefix between the exact-peer and any-peer allows, for attribution', () => {
    allow(B.epId, { egress: false, identity: R.identity }, 10); // L3 only
    allow(B.epId, { egress: false, identity: 0, protocol: 6, port: 80, prefixLen: 24 }, 20); // L4 only
    assert.equal(dp.testRun('to_container', buildPacket({ src: R.ip, dst: B.ip, proto: 'tcp', dport: 80 })).retval, TC_ACT_OK);
    const [ev] = events();
    assert.equal(ev!.cookie, 20);
    assert.equal(ev!.matchType, 3);
  });

  it('between two local endpoints, applies the sender\'s egress and the receiver\'s ingress policy and delivers straight into the pod', () => {
    allow(A.epId, { egress: true, identity: B.identity, protocol: 6, port: 80, prefixLen: 24 }, 1);
    const syn = buildPacket({ src: A.ip, dst: B.ip, proto: 'tcp', sport: 40005, dport: 80, tcpFlags: TCP_SYN });
    assert.equal(dp.testRun('from_container', syn).retval, TC_ACT_SHOT, 'B\'s ingress has no allow entry');
    let evs = events();
    assert.deepEqual(evs.map((e) => [e.type, e.dir, e.reason, e.epId]), [[EVENT_POLICY_VERDICT, DIR_EGRESS, 0, A.epId], [EVENT_DROP, DIR_INGRESS, 133, B.epId]]);
    allow(B.epId, { egress: false, identity: A.identity, protocol: 6, port: 80, prefixLen: 24 }, 2);
    const syn2 = buildPacket({ src: A.ip, dst: B.ip, proto: 'tcp', sport: 40006, dport: 80, tcpFlags: TCP_SYN });
    assert.equal(dp.testRun('from_container', syn2).retval, TC_ACT_REDIRECT);
    evs = events();
    assert.deepEqual(evs.map((e) => [e.type, e.dir, e.cookie]), [[EVENT_POLICY_VERDICT, DIR_EGRESS, 1], [EVENT_POLICY_VERDICT, DIR_INGRESS, 2]]);
  });

  it('lets replies of an allowed connection through both ends without a policy entry or an event', () => {
    allow(A.epId, { egress: true, identity: B.identity, protocol: 6, port: 80, prefixLen: 24 });
    allow(B.epId, { egress: false, identity: A.identity, protocol: 6, port: 80, prefixLen: 24 });
    const syn = buildPacket({ src: A.ip, dst: B.ip, proto: 'tcp', sport: 40010, dport: 80, tcpFlags: TCP_SYN });
    assert.equal(dp.testRun('from_container', syn).retval, TC_ACT_REDIRECT);
    assert.equal(events().length, 2);
    const synack = buildPacket({ src: B.ip, dst: A.ip, proto: 'tcp', sport: 80, dport: 40010, tcpFlags: TCP_SYN | TCP_ACK });
    assert.equal(dp.testRun('from_container', synack).retval, TC_ACT_REDIRECT, 'B may answer and A hears it');
    const ack = buildPacket({ src: A.ip, dst: B.ip, proto: 'tcp', sport: 40010, dport: 80, tcpFlags: TCP_ACK });
    assert.equal(dp.testRun('from_container', ack).retval, TC_ACT_REDIRECT);
    assert.equal(events().length, 0, 'established packets are counted, not evented');
    const e = ctEntry.decode(dp.maps.conntrack.lookup(ctKey.encode({ saddr: ip4ToInt(A.ip), daddr: ip4ToInt(B.ip), sport: 40010, dport: 80, proto: 6, dir: DIR_EGRESS }))!);
    assert.equal(e.packetsFwd, 2);
    assert.equal(e.packetsRev, 1);
    // B may not open its own connection towards A.
    const other = buildPacket({ src: B.ip, dst: A.ip, proto: 'tcp', sport: 80, dport: 40011, tcpFlags: TCP_SYN });
    assert.equal(dp.testRun('from_container', other).retval, TC_ACT_SHOT);
  });

  it('checks established connections against the current policy: a new deny cuts them', () => {
    allow(A.epId, { egress: true, identity: R.identity, protocol: 6, port: 80, prefixLen: 24 }, 5);
    const pkt = (flags: number) => buildPacket({ src: A.ip, dst: R.ip, proto: 'tcp', sport: 40030, dport: 80, tcpFlags: flags });
    assert.equal(dp.testRun('from_container', pkt(TCP_SYN)).retval, TC_ACT_OK);
    assert.equal(dp.testRun('from_container', pkt(TCP_ACK)).retval, TC_ACT_OK);
    events();
    deny(A.epId, { egress: true, identity: 0, protocol: 6, port: 80, prefixLen: 24 }, 6);
    assert.equal(dp.testRun('from_container', pkt(TCP_ACK)).retval, TC_ACT_SHOT, 'the open connection is cut');
    const [ev] = events();
    assert.equal(ev!.reason, 181);
    assert.equal(ev!.cookie, 6);
  });

  it('lets replies from the node stack reach the pod that opened the connection', () => {
    allow(A.epId, { egress: true, identity: R.identity, protocol: 17, port: 53, prefixLen: 24 });
    assert.equal(dp.testRun('from_container', buildPacket({ src: A.ip, dst: R.ip, proto: 'udp', sport: 5353, dport: 53 })).retval, TC_ACT_OK);
    assert.equal(dp.testRun('to_container', buildPacket({ src: R.ip, dst: A.ip, proto: 'udp', sport: 53, dport: 5353 })).retval, TC_ACT_OK);
    assert.equal(dp.testRun('to_container', buildPacket({ src: R.ip, dst: A.ip, proto: 'udp', sport: 53, dport: 5354 })).retval, TC_ACT_SHOT, 'but not unsolicited packets');
  });

  it('tracks ICMP echo: the reply passes, an unsolicited reply does not', () => {
    allow(A.epId, { egress: true, identity: R.identity }, 3);
    assert.equal(dp.testRun('from_container', buildPacket({ src: A.ip, dst: R.ip, proto: 'icmp', icmpType: 8, icmpId: 77 })).retval, TC_ACT_OK);
    assert.equal(dp.testRun('to_container', buildPacket({ src: R.ip, dst: A.ip, proto: 'icmp', icmpType: 0, icmpId: 77 })).retval, TC_ACT_OK);
    assert.equal(dp.testRun('to_container', buildPacket({ src: R.ip, dst: A.ip, proto: 'icmp', icmpType: 0, icmpId: 78 })).retval, TC_ACT_SHOT);
  });

  it('lets an ICMP error about a tracked connection through, and drops one about nothing it knows', () => {
    allow(A.epId, { egress: true, identity: R.identity, protocol: 17, port: 9999, prefixLen: 24 });
    const probe = { src: A.ip, dst: R.ip, proto: 'udp' as const, sport: 33000, dport: 9999 };
    assert.equal(dp.testRun('from_container', buildPacket(probe)).retval, TC_ACT_OK);
    events();
    const unreachable = buildPacket({ src: R.ip, dst: A.ip, proto: 'icmp', icmpType: 3, quoted: probe });
    assert.equal(dp.testRun('to_container', unreachable).retval, TC_ACT_OK, 'port unreachable for the probe reaches A');
    assert.equal(events().length, 0, 'a related packet is counted, not evented');
    const stray = buildPacket({ src: R.ip, dst: A.ip, proto: 'icmp', icmpType: 3, quoted: { ...probe, sport: 33001 } });
    assert.equal(dp.testRun('to_container', stray).retval, TC_ACT_SHOT);
    assert.equal(events()[0]!.reason, 133);
  });

  it('starts over after a RST when the same tuple opens again', () => {
    allow(A.epId, { egress: true, identity: R.identity, protocol: 6, port: 80, prefixLen: 24 });
    const syn = buildPacket({ src: A.ip, dst: R.ip, proto: 'tcp', sport: 40020, dport: 80, tcpFlags: TCP_SYN });
    assert.equal(dp.testRun('from_container', syn).retval, TC_ACT_OK);
    assert.equal(dp.testRun('from_container', buildPacket({ src: A.ip, dst: R.ip, proto: 'tcp', sport: 40020, dport: 80, tcpFlags: TCP_RST })).retval, TC_ACT_OK);
    events();
    assert.equal(dp.testRun('from_container', syn).retval, TC_ACT_OK);
    assert.equal(events().length, 1, 'the reopened connection gets a fresh verdict');
  });

  it('drops a spoofed source address (132) and a packet for an unknown local target (150)', () => {
    assert.equal(dp.testRun('from_container', buildPacket({ src: '10.200.0.99', dst: R.ip, proto: 'udp' })).retval, TC_ACT_SHOT);
    assert.equal(dp.testRun('to_container', buildPacket({ src: R.ip, dst: '10.200.0.99', proto: 'udp' })).retval, TC_ACT_SHOT);
    assert.deepEqual(events().map((e) => e.reason), [132, 150]);
  });

  it('passes ARP and drops IPv4 fragments (157)', () => {
    assert.equal(dp.testRun('from_container', buildArp()).retval, TC_ACT_OK);
    allow(A.epId, { egress: true, identity: R.identity });
    assert.equal(dp.testRun('from_container', buildPacket({ src: A.ip, dst: R.ip, proto: 'udp', fragOff: 0x2000 })).retval, TC_ACT_SHOT);
    assert.equal(events()[0]!.reason, 157);
  });

  it('reports what an audited policy would deny among allowed packets as AUDIT (181), and never opens what enforced entries drop', () => {
    dp.maps.endpoints.update(endpointKey.encode({ ip4: ip4ToInt(B.ip) }), endpointInfo.encode({ ifindex: 1, identity: B.identity, epId: B.epId, flags: EP_F_AUDIT_DENIES, mac: '02:00:00:00:00:0a', nodeMac: '02:00:00:00:00:0b' }));
    allow(B.epId, { egress: false, identity: R.identity, protocol: 6, port: 80, prefixLen: 24 }, 1);
    allow(B.epId, { egress: false, identity: R.identity }, 8, true, true); // audited deny of everything from R
    assert.equal(dp.testRun('to_container', buildPacket({ src: R.ip, dst: B.ip, proto: 'tcp', dport: 80 })).retval, TC_ACT_OK);
    const [ev] = events();
    assert.deepEqual([ev!.verdict, ev!.reason, ev!.cookie], [VERDICT_AUDIT, 181, 8]);
    assert.equal(dp.testRun('to_container', buildPacket({ src: R.ip, dst: B.ip, proto: 'tcp', dport: 81 })).retval, TC_ACT_SHOT,
      'port 81 has no enforced allow: the audited deny does not open it');
    assert.equal(events()[0]!.reason, 133);
  });

  it('does not let the default-deny audit flag excuse a deny rule', () => {
    dp.maps.endpoints.update(endpointKey.encode({ ip4: ip4ToInt(B.ip) }), endpointInfo.encode({ ifindex: 1, identity: B.identity, epId: B.epId, flags: EP_F_AUDIT_INGRESS, mac: '02:00:00:00:00:0a', nodeMac: '02:00:00:00:00:0b' }));
    deny(B.epId, { egress: false, identity: R.identity }, 9);
    assert.equal(dp.testRun('to_container', buildPacket({ src: R.ip, dst: B.ip, proto: 'tcp', dport: 80 })).retval, TC_ACT_SHOT);
    assert.equal(events()[0]!.reason, 181);
  });

  it('lets an audited default deny through with an AUDIT verdict naming the reason it would have dropped', () => {
    dp.maps.endpoints.update(endpointKey.encode({ ip4: ip4ToInt(B.ip) }), endpointInfo.encode({ ifindex: 1, identity: B.identity, epId: B.epId, flags: EP_F_AUDIT_INGRESS, mac: '02:00:00:00:00:0a', nodeMac: '02:00:00:00:00:0b' }));
    assert.equal(dp.testRun('to_container', buildPacket({ src: R.ip, dst: B.ip, proto: 'tcp', dport: 80 })).retval, TC_ACT_OK);
    const [ev] = events();
    assert.equal(ev!.verdict, VERDICT_AUDIT);
    assert.equal(ev!.reason, 133);
  });

  it('counts packets and bytes per reason and direction', () => {
    const sum = (reason: number, dir: number) => {
      const v = dp.maps.metrics.lookup(Buffer.from(new Uint32Array([metricsIndex(reason, dir)]).buffer))!;
      return BpfMap.perCpuSlots(v, 16).map((s) => metricsValue.decode(s)).reduce((a, x) => a + x.packets, 0);
    };
    const before133 = sum(133, DIR_EGRESS);
    const beforeFwd = sum(0, DIR_EGRESS);
    dp.testRun('from_container', buildPacket({ src: A.ip, dst: R.ip, proto: 'tcp', sport: 40100 }));
    allow(A.epId, { egress: true, identity: R.identity });
    dp.testRun('from_container', buildPacket({ src: A.ip, dst: R.ip, proto: 'tcp', sport: 40101 }));
    assert.equal(sum(133, DIR_EGRESS), before133 + 1);
    assert.equal(sum(0, DIR_EGRESS), beforeFwd + 1);
  });
});
