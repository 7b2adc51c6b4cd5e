/**
 * Metric labels: Hubble's and Cilium's spellings, and the bounds that keep
 * the number of series fixed whatever the traffic.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EVENT_DROP, EVENT_TRACE } from '../datapath/layout.js';
import type { Flow } from '../hubble/flow.js';
import { testFlow } from './test-flow.js';
import {
  OTHER_PORT, PortLabels, apiRequestLabels, datapathDirectionLabel, datapathReasonLabel, flowProcessedLabels, flowProtocolLabel,
  hubbleDropReasonLabel, policyVerdictLabels, portDistributionLabels, tcpFlagLabels,
} from './labels.js';

const drop = (reason: number, desc: string, over: Partial<Flow> = {}) =>
  testFlow({ verdict: 'DROPPED', drop_reason: reason, drop_reason_desc: desc, event_type: { type: EVENT_DROP, sub_type: reason }, ...over });

describe('datapath counter labels', () => {
  it('names a drop reason by its description, as cilium_drop_count_total does', () => {
    assert.equal(datapathReasonLabel(133), 'Policy denied');
    assert.equal(datapathReasonLabel(181), 'Policy denied by denylist');
  });
  it('names an unknown code by number, a bounded set since codes come from a fixed-size map', () => {
    assert.equal(datapathReasonLabel(250), 'Unknown reason 250');
  });
  it('spells directions in upper case', () => {
    assert.equal(datapathDirectionLabel('ingress'), 'INGRESS');
    assert.equal(datapathDirectionLabel('egress'), 'EGRESS');
  });
});

describe('hubble_flows_processed_total labels', () => {
  it('names policy verdicts, drops and traces as Hubble does', () => {
    assert.deepEqual(flowProcessedLabels(testFlow()), { type: 'PolicyVerdict', subtype: '', verdict: 'FORWARDED' });
    assert.deepEqual(flowProcessedLabels(drop(133, 'POLICY_DENIED')), { type: 'Drop', subtype: '', verdict: 'DROPPED' });
    assert.deepEqual(flowProcessedLabels(testFlow({ event_type: { type: EVENT_TRACE }, trace_observation_point: 'TO_ENDPOINT' })),
      { type: 'Trace', subtype: 'to-endpoint', verdict: 'FORWARDED' });
  });
  it('bounds trace points and event types it does not know', () => {
    assert.equal(flowProcessedLabels(testFlow({ event_type: { type: EVENT_TRACE }, trace_observation_point: 'SOMEWHERE_10.1.2.3' })).subtype, 'unknown');
    assert.deepEqual(flowProcessedLabels(testFlow({ event_type: { type: 77 } })), { type: 'Unknown', subtype: '77', verdict: 'FORWARDED' });
    assert.equal(flowProcessedLabels(testFlow({ event_type: { type: 1e9 } })).subtype, 'other');
    assert.equal(flowProcessedLabels(testFlow({ verdict: 'BOGUS' as Flow['verdict'] })).verdict, 'VERDICT_UNKNOWN');
  });
});

describe('hubble_drop_total labels', () => {
  it('uses Hubble\'s enum names (POLICY_DENIED, POLICY_DENY) and the protocol', () => {
    assert.equal(hubbleDropReasonLabel(drop(133, 'POLICY_DENIED')), 'POLICY_DENIED');
    assert.equal(hubbleDropReasonLabel(drop(181, 'POLICY_DENY')), 'POLICY_DENY');
    assert.equal(flowProtocolLabel(drop(133, 'POLICY_DENIED')), 'TCP');
    assert.equal(flowProtocolLabel(testFlow({ l4: { UDP: { source_port: 1, destination_port: 53 } } })), 'UDP');
    assert.equal(flowProtocolLabel(testFlow({ l4: { ICMPv4: { type: 8, code: 0 } } })), 'ICMPv4');
    const { l4: _, ...noL4 } = testFlow();
    assert.equal(flowProtocolLabel(noL4), 'Unknown flow');
  });
  it('maps a reason name outside the reason table to DROP_REASON_UNKNOWN', () => {
    assert.equal(hubbleDropReasonLabel(drop(999, 'made up by someone')), 'DROP_REASON_UNKNOWN');
  });
});

describe('hubble_policy_verdicts_total labels', () => {
  it('lower-cases direction, match type and action', () => {
    assert.deepEqual(policyVerdictLabels(testFlow()), { direction: 'ingress', match: 'l3-l4', action: 'forwarded' });
    assert.deepEqual(policyVerdictLabels(testFlow({ verdict: 'DROPPED', traffic_direction: 'EGRESS', policy_match_type: 0 })),
      { direction: 'egress', match: 'none', action: 'dropped' });
    assert.deepEqual(policyVerdictLabels(testFlow({ verdict: 'AUDIT', policy_match_type: 4 })), { direction: 'ingress', match: 'all', action: 'audit' });
  });
  it('counts only policy-verdict flows', () => {
    assert.equal(policyVerdictLabels(drop(133, 'POLICY_DENIED')), undefined);
  });
});

describe('hubble_tcp_flags_total labels', () => {
  it('counts SYN, SYN-ACK, FIN and RST of forwarded flows', () => {
    assert.deepEqual(tcpFlagLabels(testFlow()), [{ flag: 'SYN', family: 'IPv4' }]);
    const synAck = testFlow({ l4: { TCP: { source_port: 80, destination_port: 40000, flags: { SYN: true, ACK: true } } } });
    assert.deepEqual(tcpFlagLabels(synAck), [{ flag: 'SYN-ACK', family: 'IPv4' }]);
    const finRst = testFlow({ l4: { TCP: { source_port: 1, destination_port: 2, flags: { FIN: true, RST: true, PSH: true } } } });
    assert.deepEqual(tcpFlagLabels(finRst).map((l) => l.flag), ['FIN', 'RST']);
  });
  it('ignores dropped flows and flows without TCP', () => {
    assert.deepEqual(tcpFlagLabels(drop(133, 'POLICY_DENIED')), []);
    assert.deepEqual(tcpFlagLabels(testFlow({ l4: { UDP: { source_port: 1, destination_port: 2 } } })), []);
  });
});

describe('hubble_port_distribution_total labels', () => {
  it('labels forwarded, non-reply flows by protocol and destination port', () => {
    const ports = new PortLabels();
    assert.deepEqual(portDistributionLabels(testFlow(), ports), { protocol: 'TCP', port: '80' });
    assert.deepEqual(portDistributionLabels(testFlow({ l4: { ICMPv4: { type: 8, code: 0 } } }), ports), { protocol: 'ICMPv4', port: '0' });
    assert.equal(portDistributionLabels(testFlow({ is_reply: true }), ports), undefined);
    assert.equal(portDistributionLabels(drop(133, 'POLICY_DENIED'), ports), undefined);
  });
  it('puts ephemeral ports and ports past the bound into "other"', () => {
    const ports = new PortLabels(3);
    assert.equal(ports.label(40000), OTHER_PORT);
    assert.equal(ports.label(-1), OTHER_PORT);
    assert.equal(ports.label(80), '80');
    assert.equal(ports.label(443), '443');
    assert.equal(ports.label(8080), '8080');
    assert.equal(ports.label(9090), OTHER_PORT, 'a fourth distinct port is past the bound');
    assert.equal(ports.label(80), '80', 'ports already seen keep their label');
  });
  it('never has more than maxPorts + 1 distinct values under a port scan', () => {
    const ports = new PortLabels(100);
    const values = new Set<string>();
    for (let p = 0; p < 65536; p++) values.add(ports.label(p));
    assert.equal(values.size, 101);
  });
});

describe('API request labels', () => {
  it('uses the route template, never the raw path', () => {
    assert.deepEqual(apiRequestLabels('GET', '/v1/endpoints/{id}', 200), { method: 'GET', path: '/v1/endpoints/{id}', return_code: '200' });
  });
  it('bounds methods, unmatched paths and odd status codes', () => {
    assert.deepEqual(apiRequestLabels('BREW', undefined, 404), { method: 'OTHER', path: 'unmatched', return_code: '404' });
    assert.equal(apiRequestLabels(undefined, undefined, 0).return_code, 'other');
  });
});
