/**
 * The L7 redirect's decisions through BPF_PROG_TEST_RUN: the verdict and
 * drop events, the conntrack flags, and the proxy's mark. No proxy listens
 * in the test's namespace, so every packet handed to the proxy fails
 * closed here (reason 178); transparent.priv.test.ts (src/l7) runs real
 * traffic through a real proxy.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot } from '../testing/names.js';
import { TestDatapath } from '../testing/test-datapath.js';
import type { LxcDatapath } from './loader.js';
import {
  CT_F_PROXY_REDIRECT, CT_F_PROXY_UPSTREAM, DIR_EGRESS, DIR_INGRESS, EVENT_DROP, EVENT_POLICY_VERDICT, EVENT_TRACE, MARK_MAGIC_FROM_PROXY,
  OBS_TO_PROXY, VERDICT_DROPPED, VERDICT_FORWARDED, VERDICT_REDIRECTED, ctEntry, ctKey, ip4ToInt,
} from './layout.js';
import { TCP_ACK, TCP_SYN, buildPacket } from './packet.js';
import { type PolicyMapKey, encodePolicyKey, encodePolicyValue } from './policymap.js';

const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;
const A = { ip: '10.200.0.10', epId: 11, identity: 1001 };
const B = { ip: '10.200.0.20', epId: 22, identity: 2002 };
const R = { ip: '10.200.1.40', identity: 4004 };
/* Nothing listens on 127.0.0.1:1 in the test's namespace. */
const PROXY_PORT = 1;

describe('L7 proxy redirect (BPF_PROG_TEST_RUN)', () => {
  let t: TestDatapath;
  let dp: LxcDatapath;

  before(() => {
    requireRoot();
    t = TestDatapath.open();
    dp = t.dp;
  });
  after(() => t?.close());

  beforeEach(() => t.reset([A, B], [R]));

  function entry(epId: number, key: Partial<PolicyMapKey> & { egress: boolean }, proxyPort: number, deny = false): void {
    const k: PolicyMapKey = { identity: 0, protocol: 6, port: 80, prefixLen: 24, ...key };
    dp.maps.policy.update(encodePolicyKey(epId, k), encodePolicyValue(k, { deny, proxyPort, cookie: 77 }));
  }
  const events = () => t.events();
  const ctFlags = (saddr: string, daddr: string, sport: number, dport: number, dir: number) => {
    const v = dp.maps.conntrack.lookup(ctKey.encode({ saddr: ip4ToInt(saddr), daddr: ip4ToInt(daddr), sport, dport, proto: 6, dir }));
    return v ? ctEntry.decode(v).flags : undefined;
  };

  it('reports a new connection on an egress L7 entry REDIRECTED with the proxy port, and fails closed (178) with no proxy', () => {
    entry(A.epId, { egress: true, identity: R.identity }, PROXY_PORT);
    const syn = buildPacket({ src: A.ip, dst: R.ip, proto: 'tcp', sport: 40001, dport: 80, tcpFlags: TCP_SYN });
    assert.equal(dp.testRun('from_container', syn).retval, TC_ACT_SHOT);
    const evs = events().filter((e) => e.type !== EVENT_TRACE);
    assert.deepEqual(evs.map((e) => [e.type, e.verdict, e.reason, e.dir, e.proxyPort, e.cookie]), [
      [EVENT_POLICY_VERDICT, VERDICT_REDIRECTED, 0, DIR_EGRESS, PROXY_PORT, 77],
      [EVENT_DROP, VERDICT_DROPPED, 178, DIR_EGRESS, PROXY_PORT, 0],
    ]);
    assert.equal(ctFlags(A.ip, R.ip, 40001, 80, DIR_EGRESS)! & CT_F_PROXY_REDIRECT, CT_F_PROXY_REDIRECT);
  });

  it('redirects on the server\'s ingress side between two local pods, after the client\'s egress allowed it', () => {
    entry(A.epId, { egress: true }, 0);
    entry(B.epId, { egress: false, identity: A.identity }, PROXY_PORT);
    const syn = buildPacket({ src: A.ip, dst: B.ip, proto: 'tcp', sport: 40002, dport: 80, tcpFlags: TCP_SYN });
    assert.equal(dp.testRun('from_container', syn).retval, TC_ACT_SHOT);
    const evs = events().filter((e) => e.type !== EVENT_TRACE);
    assert.deepEqual(evs.map((e) => [e.type, e.verdict, e.reason, e.dir, e.epId]), [
      [EVENT_POLICY_VERDICT, VERDICT_FORWARDED, 0, DIR_EGRESS, A.epId],
      [EVENT_POLICY_VERDICT, VERDICT_REDIRECTED, 0, DIR_INGRESS, B.epId],
      [EVENT_DROP, VERDICT_DROPPED, 178, DIR_INGRESS, B.epId],
    ]);
    assert.equal(ctFlags(A.ip, B.ip, 40002, 80, DIR_EGRESS), 0, 'the client\'s side is a plain connection');
    assert.equal(ctFlags(A.ip, B.ip, 40002, 80, DIR_INGRESS)! & CT_F_PROXY_REDIRECT, CT_F_PROXY_REDIRECT);
  });

  it('keeps a redirected connection going to the proxy while policy allows it, and cuts it on a deny', () => {
    entry(A.epId, { egress: true }, PROXY_PORT);
    const pkt = (flags: number) => buildPacket({ src: A.ip, dst: R.ip, proto: 'tcp', sport: 40003, dport: 80, tcpFlags: flags });
    dp.testRun('from_container', pkt(TCP_SYN));
    events();
    entry(A.epId, { egress: true }, 0); // the L7 rule is gone; the connection belongs to the proxy still
    assert.equal(dp.testRun('from_container', pkt(TCP_ACK)).retval, TC_ACT_SHOT);
    assert.deepEqual(events().filter((e) => e.type === EVENT_DROP).map((e) => e.reason), [178]);
    entry(A.epId, { egress: true }, 0, true);
    assert.equal(dp.testRun('from_container', pkt(TCP_ACK)).retval, TC_ACT_SHOT);
    assert.deepEqual(events().filter((e) => e.type === EVENT_DROP).map((e) => e.reason), [181]);
  });

  it('never redirects the proxy\'s own upstream again, checks it as the client\'s identity, and sends its replies to the proxy', () => {
    entry(B.epId, { egress: false, identity: R.identity }, PROXY_PORT);
    const syn = buildPacket({ src: R.ip, dst: B.ip, proto: 'tcp', sport: 40004, dport: 80, tcpFlags: TCP_SYN });
    assert.equal(dp.testRun('to_container', syn, 1, MARK_MAGIC_FROM_PROXY).retval, TC_ACT_OK, 'the upstream reaches the server');
    const evs = events().filter((e) => e.type !== EVENT_TRACE);
    assert.deepEqual(evs.map((e) => [e.type, e.verdict, e.dir, e.srcIdentity, e.proxyPort]), [[EVENT_POLICY_VERDICT, VERDICT_FORWARDED, DIR_INGRESS, R.identity, 0]]);
    assert.equal(ctFlags(R.ip, B.ip, 40004, 80, DIR_INGRESS)! & CT_F_PROXY_UPSTREAM, CT_F_PROXY_UPSTREAM);
    // The server's reply is the proxy's: here, with no proxy socket, it is dropped as such.
    const synack = buildPacket({ src: B.ip, dst: R.ip, proto: 'tcp', sport: 80, dport: 40004, tcpFlags: TCP_SYN | TCP_ACK });
    assert.equal(dp.testRun('from_container', synack).retval, TC_ACT_SHOT);
    const [drop] = events().filter((e) => e.type === EVENT_DROP);
    assert.equal(drop!.reason, 178);
    assert.equal(drop!.isReply, 1);
  });

  it('applies a deny of the destination to the proxy\'s upstream', () => {
    entry(B.epId, { egress: false, identity: R.identity }, 0, true);
    const syn = buildPacket({ src: R.ip, dst: B.ip, proto: 'tcp', sport: 40005, dport: 80, tcpFlags: TCP_SYN });
    assert.equal(dp.testRun('to_container', syn, 1, MARK_MAGIC_FROM_PROXY).retval, TC_ACT_SHOT);
    assert.deepEqual(events().filter((e) => e.type === EVENT_DROP).map((e) => e.reason), [181]);
  });

  it('hairpins a connection from the node\'s stack back into the veth for the proxy, with a to-proxy trace', () => {
    entry(B.epId, { egress: false }, PROXY_PORT);
    const syn = buildPacket({ src: R.ip, dst: B.ip, proto: 'tcp', sport: 40006, dport: 80, tcpFlags: TCP_SYN });
    const res = dp.testRun('to_container', syn);
    assert.equal(res.retval, 7 /* TC_ACT_REDIRECT */);
    assert.deepEqual([...res.packet.subarray(0, 6)], [2, 0, 0, 0, 0, 0x0b], 'addressed to the veth itself');
    const evs = events();
    assert.equal(evs.find((e) => e.type === EVENT_POLICY_VERDICT)!.verdict, VERDICT_REDIRECTED);
    const trace = evs.find((e) => e.type === EVENT_TRACE)!;
    assert.equal(trace.obsPoint, OBS_TO_PROXY);
    assert.equal(trace.dir, DIR_INGRESS);
    assert.equal(trace.proxyPort, PROXY_PORT);
  });

  it('refuses to redirect anything but TCP (reason 180)', () => {
    entry(A.epId, { egress: true, protocol: 17, port: 53 }, PROXY_PORT);
    assert.equal(dp.testRun('from_container', buildPacket({ src: A.ip, dst: R.ip, proto: 'udp', sport: 5353, dport: 53 })).retval, TC_ACT_SHOT);
    assert.deepEqual(events().filter((e) => e.type === EVENT_DROP).map((e) => e.reason), [180]);
  });
});
