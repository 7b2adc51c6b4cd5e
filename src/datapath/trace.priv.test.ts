/**
 * Trace events through BPF_PROG_TEST_RUN: which forwarded packets the
 * datapath reports at which observation point, per trace aggregation level
 * (bpf/lib/trace.h). As in datapath.priv.test.ts, skb->ifindex is loopback.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot } from '../testing/names.js';
import { TestDatapath } from '../testing/test-datapath.js';
import type { LxcDatapath } from './loader.js';
import {
  DIR_EGRESS, DIR_INGRESS, EVENT_TRACE, type FlowEventRecord, OBS_FROM_ENDPOINT, OBS_TO_ENDPOINT, OBS_TO_STACK, VERDICT_FORWARDED,
} from './layout.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN, buildPacket } from './packet.js';
import { encodePolicyKey, encodePolicyValue } from './policymap.js';
import { DEFAULT_TRACE_CONFIG, type TraceConfig, encodeTraceConfig } from './trace-config.js';

const TC_ACT_OK = 0;
const TC_ACT_REDIRECT = 7;
const REASON_NEW = 1;
const REASON_ESTABLISHED = 2;
const REASON_REPLY = 3;
const A = { ip: '10.201.0.10', epId: 11, identity: 1001 };
const B = { ip: '10.201.0.20', epId: 22, identity: 2002 };
const R = { ip: '10.201.1.40', identity: 4004 };

describe('trace events and their aggregation (BPF_PROG_TEST_RUN)', () => {
  let t: TestDatapath;
  let dp: LxcDatapath;

  before(() => {
    requireRoot();
    t = TestDatapath.open();
    dp = t.dp;
  });
  after(() => t?.close());

  const configure = (c: Partial<TraceConfig>) =>
    dp.maps.config.update(Buffer.from(new Uint32Array([0]).buffer), encodeTraceConfig({ ...DEFAULT_TRACE_CONFIG, ...c }));

  beforeEach(() => {
    t.reset([A, B], [R]);
    // A may reach B and R on TCP and UDP; B admits A.
    for (const [epId, egress] of [[A.epId, true], [B.epId, false]] as const) {
      const k = { identity: 0, protocol: 0, port: 0, prefixLen: 0, egress };
      dp.maps.policy.update(encodePolicyKey(epId, k), encodePolicyValue(k, { deny: false, audit: false, proxyPort: 0, cookie: 1 }));
    }
  });

  function traces(): FlowEventRecord[] {
    return t.events().filter((e) => e.type === EVENT_TRACE);
  }
  /** Compact view of traces: [observation point, endpoint, reason, is_reply, direction]. */
  const view = (evs: FlowEventRecord[]) => evs.map((e) => [e.obsPoint, e.epId, e.reason, e.isReply, e.dir]);

  const ab = (flags: number, sport = 41000) => buildPacket({ src: A.ip, dst: B.ip, proto: 'tcp', sport, dport: 80, tcpFlags: flags });
  const ba = (flags: number, sport = 41000) => buildPacket({ src: B.ip, dst: A.ip, proto: 'tcp', sport: 80, dport: sport, tcpFlags: flags });
  const run = (prog: 'from_container' | 'to_container', pkt: Buffer, expect: number) => assert.equal(dp.testRun(prog, pkt).retval, expect);

  it('medium (the default): a local connection is reported to-endpoint on its first packets and each new TCP flag, not on every packet', () => {
    run('from_container', ab(TCP_SYN), TC_ACT_REDIRECT);
    let t = traces();
    assert.deepEqual(view(t), [[OBS_TO_ENDPOINT, B.epId, REASON_NEW, 0, DIR_INGRESS]]);
    assert.equal(t[0]!.verdict, VERDICT_FORWARDED);
    assert.equal(t[0]!.srcIdentity, A.identity);
    assert.equal(t[0]!.dstIdentity, B.identity);
    assert.equal(t[0]!.tcpFlags, TCP_SYN);
    run('from_container', ba(TCP_SYN | TCP_ACK), TC_ACT_REDIRECT);
    assert.deepEqual(view(traces()), [[OBS_TO_ENDPOINT, A.epId, REASON_REPLY, 1, DIR_EGRESS]], 'the reply reaches A, whose connection it is');
    run('from_container', ab(TCP_ACK), TC_ACT_REDIRECT);
    assert.deepEqual(view(traces()), [[OBS_TO_ENDPOINT, B.epId, REASON_ESTABLISHED, 0, DIR_INGRESS]], 'ACK is new in the original direction');
    run('from_container', ab(TCP_ACK), TC_ACT_REDIRECT);
    run('from_container', ba(TCP_ACK), TC_ACT_REDIRECT);
    assert.deepEqual(traces(), [], 'nothing new: only counted');
    run('from_container', ab(TCP_ACK | TCP_PSH), TC_ACT_REDIRECT);
    run('from_container', ab(TCP_ACK | TCP_PSH), TC_ACT_REDIRECT);
    run('from_container', ab(TCP_ACK | TCP_FIN), TC_ACT_REDIRECT);
    assert.deepEqual(view(traces()).map((v) => v[2]), [REASON_ESTABLISHED, REASON_ESTABLISHED], 'PSH once, then FIN');
  });

  it('reports to-stack for a destination outside the node, and to-endpoint for its reply from the stack', () => {
    run('from_container', buildPacket({ src: A.ip, dst: R.ip, proto: 'udp', sport: 5353, dport: 53 }), TC_ACT_OK);
    const [out] = traces();
    assert.deepEqual(view([out!]), [[OBS_TO_STACK, A.epId, REASON_NEW, 0, DIR_EGRESS]]);
    assert.equal(out!.dstIdentity, R.identity);
    run('to_container', buildPacket({ src: R.ip, dst: A.ip, proto: 'udp', sport: 53, dport: 5353 }), TC_ACT_OK);
    assert.deepEqual(view(traces()), [[OBS_TO_ENDPOINT, A.epId, REASON_REPLY, 1, DIR_EGRESS]]);
    run('to_container', buildPacket({ src: R.ip, dst: A.ip, proto: 'udp', sport: 53, dport: 5353 }), TC_ACT_OK);
    assert.deepEqual(traces(), [], 'a second reply within the interval is only counted');
  });

  it('medium reports a quiet direction again after the interval; maximum does not', async () => {
    configure({ level: 'medium', intervalS: 1 });
    run('from_container', ab(TCP_SYN, 41001), TC_ACT_REDIRECT);
    run('from_container', ab(TCP_ACK, 41001), TC_ACT_REDIRECT);
    traces();
    await new Promise((r) => setTimeout(r, 1100));
    run('from_container', ab(TCP_ACK, 41001), TC_ACT_REDIRECT);
    assert.equal(traces().length, 1, 'medium: the periodic report');
    configure({ level: 'maximum', intervalS: 1 });
    await new Promise((r) => setTimeout(r, 1100));
    run('from_container', ab(TCP_ACK, 41001), TC_ACT_REDIRECT);
    assert.equal(traces().length, 0, 'maximum: no periodic report');
  });

  it('a flag mask limits which new TCP flags are reported', () => {
    configure({ flags: TCP_SYN | TCP_FIN });
    run('from_container', ab(TCP_SYN, 41002), TC_ACT_REDIRECT);
    run('from_container', ab(TCP_ACK, 41002), TC_ACT_REDIRECT);
    run('from_container', ab(TCP_ACK | TCP_PSH, 41002), TC_ACT_REDIRECT);
    run('from_container', ab(TCP_ACK | TCP_FIN, 41002), TC_ACT_REDIRECT);
    assert.deepEqual(view(traces()).map((v) => v[2]), [REASON_NEW, REASON_ESTABLISHED], 'the SYN, then only the FIN');
  });

  it('low reports every forwarded packet at to-* points; none also reports from-endpoint', () => {
    configure({ level: 'low' });
    run('from_container', ab(TCP_SYN, 41003), TC_ACT_REDIRECT);
    run('from_container', ab(TCP_ACK, 41003), TC_ACT_REDIRECT);
    run('from_container', ab(TCP_ACK, 41003), TC_ACT_REDIRECT);
    assert.deepEqual(view(traces()).map((v) => v[0]), [OBS_TO_ENDPOINT, OBS_TO_ENDPOINT, OBS_TO_ENDPOINT]);
    configure({ level: 'none' });
    run('from_container', ab(TCP_ACK, 41003), TC_ACT_REDIRECT);
    const t = traces();
    assert.deepEqual(view(t), [[OBS_FROM_ENDPOINT, A.epId, 0, 0, 0], [OBS_TO_ENDPOINT, B.epId, REASON_ESTABLISHED, 0, DIR_INGRESS]]);
  });
});
