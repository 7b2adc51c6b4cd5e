/**
 * flowToProto: membrane's flows as `flow.Flow` messages. Each case checks
 * the enum values (Hubble's flow.proto numbers) and then the message's trip
 * through the real serializer of observer.proto and back, which proves the
 * field names and numbers exist in our .proto as a Hubble client sees them.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Flow, FlowPolicy } from '../flow.js';
import { flowToProto } from './flow-to-proto.js';
import { observerServiceDefinition } from './proto.js';

const TIME = '2024-03-14T09:26:53.589Z';
const nsLabel = 'k8s:io.kubernetes.pod.namespace=default';
const TIEFIGHTER = { ID: 1201, identity: 257, namespace: 'default', pod_name: 'tiefighter', labels: ['k8s:class=tiefighter', nsLabel, 'k8s:org=empire'] };
const DEATHSTAR = { ID: 2756, identity: 256, namespace: 'default', pod_name: 'deathstar-6fb5694d48-5hmds', labels: ['k8s:class=deathstar', nsLabel, 'k8s:org=empire'] };
const RULE1: FlowPolicy = { name: 'rule1', namespace: 'default', kind: 'CiliumNetworkPolicy', revision: 3, labels: ['k8s:io.cilium.k8s.policy.name=rule1'] };

const base = {
  time: TIME, uuid: 'u-1', IP: { source: '10.244.1.10', destination: '10.244.1.20', ipVersion: 'IPv4' as const },
  source: TIEFIGHTER, destination: DEATHSTAR, Type: 'L3_L4' as const, node_name: 'node-1', interface: { index: 7 },
};

const forwarded: Flow = {
  ...base, verdict: 'FORWARDED', traffic_direction: 'INGRESS', event_type: { type: 5 }, policy_match_type: 2, is_reply: false,
  l4: { TCP: { source_port: 41234, destination_port: 80, flags: { SYN: true } } },
  ingress_allowed_by: [RULE1], Summary: 'TCP Flags: SYN',
};

const dropped = (reason: number, desc: string): Flow => ({
  ...base, uuid: `u-${reason}`, verdict: 'DROPPED', drop_reason: reason, drop_reason_desc: desc, traffic_direction: 'INGRESS',
  event_type: { type: 1, sub_type: reason }, l4: { TCP: { source_port: 41234, destination_port: 80, flags: { SYN: true } } },
  Summary: 'TCP Flags: SYN',
});

const reply: Flow = {
  ...base, uuid: 'u-r', IP: { source: '10.244.1.20', destination: '10.244.1.10', ipVersion: 'IPv4' }, source: DEATHSTAR, destination: TIEFIGHTER,
  verdict: 'FORWARDED', traffic_direction: 'EGRESS', event_type: { type: 4, sub_type: 0 }, trace_observation_point: 'TO_ENDPOINT', is_reply: true,
  l4: { TCP: { source_port: 80, destination_port: 41234, flags: { SYN: true, ACK: true } } }, Summary: 'TCP Flags: SYN, ACK',
};

/** Serializes as a GetFlowsResponse and decodes it back (enums as names). */
function roundTrip(flow: ReturnType<typeof flowToProto>): Record<string, any> {
  const method = observerServiceDefinition()['GetFlows']!;
  const bytes = method.responseSerialize({ flow, node_name: 'node-1' });
  const back = method.responseDeserialize(bytes) as Record<string, any>;
  assert.equal(back['node_name'], 'node-1');
  return back['flow'];
}

describe('flowToProto', () => {
  it('gives a forwarded policy verdict Hubble enum values and survives the wire', () => {
    const p = flowToProto(forwarded);
    assert.equal(p.verdict, 1);
    assert.equal(p.traffic_direction, 1);
    assert.equal(p.Type, 1);
    assert.equal(p.IP.ipVersion, 1);
    assert.deepEqual(p.event_type, { type: 5, sub_type: 0 });
    assert.deepEqual(p.is_reply, { value: false });
    assert.equal(p.drop_reason_desc, undefined);
    assert.deepEqual(p.time, { seconds: Date.parse(TIME) / 1000 - 0.589, nanos: 589_000_000 });

    const w = roundTrip(p);
    assert.equal(w['verdict'], 'FORWARDED');
    assert.equal(w['traffic_direction'], 'INGRESS');
    assert.equal(w['Type'], 'L3_L4');
    assert.equal(w['uuid'], 'u-1');
    assert.equal(w['policy_match_type'], 2);
    assert.deepEqual(w['is_reply'], { value: false });
    assert.equal(w['source']['pod_name'], 'tiefighter');
    assert.equal(w['source']['ID'], 1201);
    assert.equal(w['destination']['identity'], 256);
    assert.deepEqual(w['destination']['labels'], DEATHSTAR.labels);
    assert.equal(w['l4']['TCP']['destination_port'], 80);
    assert.equal(w['l4']['TCP']['flags']['SYN'], true);
    assert.equal(w['l4']['protocol'], 'TCP');
    assert.equal(w['ingress_allowed_by'][0]['name'], 'rule1');
    assert.equal(w['ingress_allowed_by'][0]['revision'], 3);
    assert.equal(w['interface']['index'], 7);
    assert.equal(w['Summary'], 'TCP Flags: SYN');
    assert.equal(w['time']['seconds'], Math.floor(Date.parse(TIME) / 1000));
    assert.equal(w['time']['nanos'], 589_000_000);
  });

  for (const [code, name] of [[133, 'POLICY_DENIED'], [181, 'POLICY_DENY']] as const) {
    it(`gives a drop with reason ${code} verdict DROPPED and drop_reason_desc ${name}`, () => {
      const p = flowToProto(dropped(code, name));
      assert.equal(p.verdict, 2);
      assert.equal(p.drop_reason, code);
      assert.equal(p.drop_reason_desc, code);
      assert.deepEqual(p.event_type, { type: 1, sub_type: code });
      assert.equal(p.is_reply, undefined, 'a drop does not know its direction: is_reply stays absent');
      const w = roundTrip(p);
      assert.equal(w['verdict'], 'DROPPED');
      assert.equal(w['drop_reason_desc'], name);
      assert.equal(w['drop_reason'], code);
      assert.deepEqual(w['event_type'], { type: 1, sub_type: code });
      assert.equal(w['is_reply'], undefined);
    });
  }

  it('marks a reply with is_reply and the trace observation point', () => {
    const p = flowToProto(reply);
    assert.deepEqual(p.is_reply, { value: true });
    assert.equal(p.reply, true);
    assert.equal(p.traffic_direction, 2);
    assert.equal(p.trace_observation_point, 101);
    const w = roundTrip(p);
    assert.deepEqual(w['is_reply'], { value: true });
    assert.equal(w['reply'], true);
    assert.equal(w['trace_observation_point'], 'TO_ENDPOINT');
    assert.equal(w['traffic_direction'], 'EGRESS');
    assert.deepEqual(w['l4']['TCP']['flags'], { SYN: true, ACK: true });
  });

  it('leaves out membrane-only fields a Hubble client has no place for', () => {
    const p = flowToProto({
      ...forwarded, IP: { ...forwarded.IP, destination_original: '10.96.0.10' },
      l4: { TCP: { source_port: 1, destination_port: 80, destination_port_original: 8080 } },
      destination_service: { name: 'deathstar', namespace: 'default' },
    });
    assert.deepEqual(p.IP, { source: '10.244.1.10', destination: '10.244.1.20', ipVersion: 1 });
    assert.deepEqual(p.l4, { TCP: { source_port: 1, destination_port: 80 } });
    assert.deepEqual(roundTrip(p)['destination_service'], { name: 'deathstar', namespace: 'default' });
  });

  it('carries a policy entry\'s rule as the label membrane:rule=<path> (Hubble\'s Policy has no field for it), and policy_log as field 21006', () => {
    const denied: Flow = {
      ...dropped(181, 'POLICY_DENY'),
      ingress_denied_by: [{ ...RULE1, rule: 'specs[1].ingressDeny[0]' }, { ...RULE1, name: 'default-deny' }],
      policy_log: ['denied: xwing', 'second'],
    };
    const p = flowToProto(denied);
    assert.deepEqual(p.ingress_denied_by, [
      { name: 'rule1', namespace: 'default', labels: ['k8s:io.cilium.k8s.policy.name=rule1', 'membrane:rule=specs[1].ingressDeny[0]'], revision: 3, kind: 'CiliumNetworkPolicy' },
      { name: 'default-deny', namespace: 'default', labels: ['k8s:io.cilium.k8s.policy.name=rule1'], revision: 3, kind: 'CiliumNetworkPolicy' },
    ]);
    assert.deepEqual(p.policy_log, ['denied: xwing', 'second']);
    const w = roundTrip(p);
    assert.deepEqual(Object.keys(w['ingress_denied_by'][0]).sort(), ['kind', 'labels', 'name', 'namespace', 'revision'], 'only Hubble\'s Policy fields');
    assert.deepEqual(w['ingress_denied_by'][0]['labels'], ['k8s:io.cilium.k8s.policy.name=rule1', 'membrane:rule=specs[1].ingressDeny[0]']);
    assert.deepEqual(w['policy_log'], ['denied: xwing', 'second']);
    assert.deepEqual(RULE1.labels, ['k8s:io.cilium.k8s.policy.name=rule1'], 'the flow\'s own labels are left as they were');
  });

  it('puts policy_log at field number 21006 on the wire (repeated string)', () => {
    const method = observerServiceDefinition()['GetFlows']!;
    const withLog = method.responseSerialize({ flow: flowToProto({ ...forwarded, policy_log: ['x'] }), node_name: 'n' });
    const without = method.responseSerialize({ flow: flowToProto(forwarded), node_name: 'n' });
    // Field 21006, wire type 2 (length-delimited): tag (21006 << 3) | 2 as a varint, then length 1 and "x".
    const tag = (21006 << 3) | 2;
    const varint = [(tag & 0x7f) | 0x80, ((tag >> 7) & 0x7f) | 0x80, tag >> 14];
    assert.ok(withLog.includes(Buffer.from([...varint, 1, 0x78])), 'tag 21006 with the value');
    assert.equal(withLog.length - without.length, varint.length + 2 + 0, 'nothing else changed');
    assert.equal(flowToProto(forwarded).policy_log, undefined);
  });
});
