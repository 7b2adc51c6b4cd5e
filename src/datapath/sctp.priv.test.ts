/**
 * SCTP through the endpoint datapath (BPF_PROG_TEST_RUN): policy entries of
 * protocol 132 allow and deny SCTP packets by port as they do TCP and UDP,
 * with the same drop reasons. No network namespaces (test-datapath.ts).
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot } from '../testing/names.js';
import { TestDatapath } from '../testing/test-datapath.js';
import { DIR_EGRESS, DIR_INGRESS, EVENT_DROP, EVENT_POLICY_VERDICT, EVENT_TRACE, VERDICT_DROPPED, VERDICT_FORWARDED } from './layout.js';
import { buildPacket } from './packet.js';
import { type PolicyMapKey, encodePolicyKey, encodePolicyValue } from './policymap.js';

const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;
const SCTP = 132;
const DROP_POLICY = 133;
const DROP_POLICY_DENY = 181;
/* A local endpoint and a remote peer (only in the ipcache). */
const A = { ip: '10.200.0.10', epId: 11, identity: 1001 };
const R = { ip: '10.200.1.40', identity: 4004 };

describe('SCTP in the endpoint datapath (BPF_PROG_TEST_RUN)', () => {
  let t: TestDatapath;

  before(() => {
    requireRoot();
    t = TestDatapath.open();
  });
  after(() => t?.close());

  beforeEach(() => t.reset([A], [R]));

  function entry(key: Partial<PolicyMapKey> & { egress: boolean }, cookie: number, deny = false): void {
    const k: PolicyMapKey = { identity: 0, protocol: 0, port: 0, prefixLen: 0, ...key };
    t.dp.maps.policy.update(encodePolicyKey(A.epId, k), encodePolicyValue(k, { deny, audit: false, proxyPort: 0, cookie }));
  }
  const sctp = (dir: 'out' | 'in', dport: number, sport = 40000 + dport) =>
    dir === 'out' ? buildPacket({ src: A.ip, dst: R.ip, proto: 'sctp', sport, dport }) : buildPacket({ src: R.ip, dst: A.ip, proto: 'sctp', sport, dport });
  const verdicts = () => t.events().filter((e) => e.type !== EVENT_TRACE);

  it('passes an SCTP packet to an allowed port and reports the rule', () => {
    entry({ egress: true, identity: R.identity, protocol: SCTP, port: 3868, prefixLen: 24 }, 4242);
    assert.equal(t.dp.testRun('from_container', sctp('out', 3868)).retval, TC_ACT_OK);
    const [ev, ...rest] = verdicts();
    assert.equal(rest.length, 0);
    assert.equal(ev!.type, EVENT_POLICY_VERDICT);
    assert.equal(ev!.verdict, VERDICT_FORWARDED);
    assert.equal(ev!.proto, SCTP);
    assert.equal(ev!.dport, 3868);
    assert.equal(ev!.cookie, 4242);
    assert.equal(ev!.dir, DIR_EGRESS);
  });

  it('drops SCTP to another port, and to the allowed port over TCP or UDP, by default deny (133)', () => {
    entry({ egress: true, identity: R.identity, protocol: SCTP, port: 3868, prefixLen: 24 }, 4242);
    assert.equal(t.dp.testRun('from_container', sctp('out', 3869)).retval, TC_ACT_SHOT);
    const [ev] = verdicts();
    assert.equal(ev!.type, EVENT_DROP);
    assert.equal(ev!.verdict, VERDICT_DROPPED);
    assert.equal(ev!.reason, DROP_POLICY);
    assert.equal(ev!.proto, SCTP);
    assert.equal(ev!.dport, 3869);
    for (const proto of ['tcp', 'udp'] as const) {
      assert.equal(t.dp.testRun('from_container', buildPacket({ src: A.ip, dst: R.ip, proto, dport: 3868 })).retval, TC_ACT_SHOT, proto);
    }
  });

  it('drops SCTP on a deny entry (181) over an allow of every protocol, on ingress', () => {
    entry({ egress: false, identity: 0, protocol: 0, port: 0, prefixLen: 0 }, 1);
    entry({ egress: false, identity: R.identity, protocol: SCTP, port: 9899, prefixLen: 24 }, 99, true);
    assert.equal(t.dp.testRun('to_container', sctp('in', 9899)).retval, TC_ACT_SHOT);
    const [ev] = verdicts();
    assert.equal(ev!.type, EVENT_DROP);
    assert.equal(ev!.reason, DROP_POLICY_DENY);
    assert.equal(ev!.cookie, 99);
    assert.equal(ev!.dir, DIR_INGRESS);
    assert.equal(ev!.proto, SCTP);
    assert.notEqual(t.dp.testRun('to_container', sctp('in', 9900)).retval, TC_ACT_SHOT, 'another SCTP port is allowed');
  });
});
