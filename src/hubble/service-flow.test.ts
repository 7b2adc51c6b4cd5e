/**
 * Flows of load-balanced connections: Hubble's `destination_service`, and
 * membrane's original (pre-translation) destination, in JSON and in the
 * compact line; a drop for a service without backends (reason 158) names
 * the service. Flows of other connections look as they always did.
 */
process.env.TZ = 'UTC';

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  DIR_EGRESS, DIR_INGRESS, EVENT_DROP, EVENT_POLICY_VERDICT, EVENT_TRACE, OBS_TO_ENDPOINT, VERDICT_DROPPED, VERDICT_FORWARDED, type FlowEventRecord, flowEvent, ip4ToInt,
} from '../datapath/layout.js';
import { formatCompact } from './compact.js';
import { type FlowContext, flowsFromEvent } from './flow.js';

const STAMP = 'Mar 14 09:26:53.589';
const VIP = '10.96.0.12';
const SVC_ID = 7;
const PODS = new Map([
  ['10.244.1.10', { id: 1201, namespace: 'default', podName: 'tiefighter' }],
  ['10.244.1.20', { id: 2756, namespace: 'default', podName: 'deathstar-6fb5694d48-5hmds' }],
]);

const ctx: FlowContext = {
  nodeName: 'node-1',
  wallTimeMs: (ns) => Date.UTC(2024, 2, 14, 9, 26, 53) + ns / 1e6,
  endpointByIp: (ip) => PODS.get(ip),
  identityLabels: () => undefined,
  policiesForCookie: () => [],
  defaultDenyPolicies: () => [],
  serviceById: (id) => (id === SVC_ID ? { namespace: 'default', name: 'deathstar' } : undefined),
};

/** An event record with the service fields (svcId, origDaddr, origDport) as the datapath decodes them. */
function event(fields: Partial<FlowEventRecord>, service: { svcId: number; origDaddr?: string; origDport?: number }): FlowEventRecord {
  const base = flowEvent.decode(flowEvent.encode({
    tsNs: 589_000_000, saddr: ip4ToInt('10.244.1.10'), sport: 41234, proto: 6, tcpFlags: 0x02, srcIdentity: 257, dstIdentity: 256, ...fields,
  }));
  return { ...base, ...service } as FlowEventRecord;
}

const TRANSLATED = event(
  { daddr: ip4ToInt('10.244.1.20'), dport: 8080, type: EVENT_POLICY_VERDICT, verdict: VERDICT_FORWARDED, dir: DIR_INGRESS, matchType: 2, epId: 2756 },
  { svcId: SVC_ID, origDaddr: VIP, origDport: 80 },
);

describe('service flows', () => {
  it('name the service and keep the address and port the client addressed', () => {
    const [flow] = flowsFromEvent(TRANSLATED, ctx);
    assert.deepEqual(flow!.destination_service, { name: 'deathstar', namespace: 'default' });
    assert.deepEqual(flow!.IP, { source: '10.244.1.10', destination: '10.244.1.20', ipVersion: 'IPv4', destination_original: VIP });
    assert.equal(flow!.l4!.TCP!.destination_port, 8080);
    assert.equal(flow!.l4!.TCP!.destination_port_original, 80);
    assert.equal(flow!.destination.pod_name, 'deathstar-6fb5694d48-5hmds');
  });

  it('print the service and its address after the pair in the compact line', () => {
    const [flow] = flowsFromEvent(TRANSLATED, ctx);
    assert.equal(formatCompact(flow!),
      `${STAMP}: default/tiefighter:41234 (ID:257) -> default/deathstar-6fb5694d48-5hmds:8080 (ID:256) via default/deathstar (10.96.0.12:80) policy-verdict:L3-L4 INGRESS ALLOWED (TCP Flags: SYN)`);
  });

  it('print the address alone when the service is not known (any more)', () => {
    const [flow] = flowsFromEvent(event(
      { daddr: ip4ToInt('10.244.1.20'), dport: 80, type: EVENT_POLICY_VERDICT, verdict: VERDICT_FORWARDED, dir: DIR_INGRESS, matchType: 2 },
      { svcId: 99, origDaddr: VIP, origDport: 80 },
    ), ctx);
    assert.equal(flow!.destination_service, undefined);
    assert.match(formatCompact(flow!), / \(ID:256\) via 10\.96\.0\.12:80 policy-verdict/);
  });

  it('read a raw original address as the datapath may decode it (a number, 0 = none)', () => {
    const raw = { ...TRANSLATED, origDaddr: ip4ToInt(VIP) } as unknown as FlowEventRecord;
    assert.equal(flowsFromEvent(raw, ctx)[0]!.IP.destination_original, VIP);
    const none = { ...TRANSLATED, origDaddr: 0 } as unknown as FlowEventRecord;
    assert.equal(flowsFromEvent(none, ctx)[0]!.IP.destination_original, undefined);
  });

  it('render a drop for a service without backends (158) with the service as the destination', () => {
    const flows = flowsFromEvent(event(
      { daddr: ip4ToInt(VIP), dport: 80, type: EVENT_DROP, verdict: VERDICT_DROPPED, reason: 158, dir: DIR_EGRESS, epId: 1201 },
      { svcId: SVC_ID, origDaddr: VIP, origDport: 80 },
    ), ctx);
    assert.equal(flows.length, 1, 'no policy decided: only the drop');
    const [drop] = flows;
    assert.equal(drop!.drop_reason, 158);
    assert.equal(drop!.drop_reason_desc, 'SERVICE_BACKEND_NOT_FOUND');
    assert.deepEqual(drop!.destination_service, { name: 'deathstar', namespace: 'default' });
    assert.equal(drop!.IP.destination_original, undefined, 'nothing was translated');
    assert.equal(formatCompact(drop!),
      `${STAMP}: default/tiefighter:41234 (ID:257) <> default/deathstar:80 (ID:256) Service backend not found DROPPED (TCP Flags: SYN)`);
  });

  it('leave flows of other connections as they were', () => {
    const plain = event(
      { daddr: ip4ToInt('10.244.1.20'), dport: 80, type: EVENT_POLICY_VERDICT, verdict: VERDICT_FORWARDED, dir: DIR_INGRESS, matchType: 2 },
      { svcId: 0 },
    );
    const [flow] = flowsFromEvent(plain, ctx);
    assert.equal('destination_service' in flow!, false);
    assert.equal('destination_original' in flow!.IP, false);
    assert.equal('destination_port_original' in flow!.l4!.TCP!, false);
    assert.equal(formatCompact(flow!),
      `${STAMP}: default/tiefighter:41234 (ID:257) -> default/deathstar-6fb5694d48-5hmds:80 (ID:256) policy-verdict:L3-L4 INGRESS ALLOWED (TCP Flags: SYN)`);
  });

  it('name the service on a reply\'s trace as its source: the backend answers for it', () => {
    const reply = event(
      { saddr: ip4ToInt('10.244.1.20'), sport: 8080, daddr: ip4ToInt('10.244.1.10'), dport: 41234, tcpFlags: 0x12, srcIdentity: 256, dstIdentity: 257,
        type: EVENT_TRACE, verdict: VERDICT_FORWARDED, reason: 3, dir: DIR_EGRESS, isReply: 1, obsPoint: OBS_TO_ENDPOINT, epId: 1201 },
      { svcId: SVC_ID },
    );
    const [flow] = flowsFromEvent(reply, ctx);
    assert.deepEqual(flow!.source_service, { name: 'deathstar', namespace: 'default' });
    assert.equal(flow!.destination_service, undefined);
    assert.equal(formatCompact(flow!),
      `${STAMP}: default/tiefighter:41234 (ID:257) <- default/deathstar-6fb5694d48-5hmds:8080 (ID:256) to-endpoint FORWARDED (TCP Flags: SYN, ACK)`);
  });
});
