/** Hubble's flow metrics counted from flows, read back through a registry. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { EVENT_DROP, EVENT_POLICY_VERDICT, EVENT_TRACE } from '../datapath/layout.js';
import type { Flow } from '../hubble/flow.js';
import { HubbleFlowMetrics } from './flow-metrics.js';
import {
  PortLabels, flowProcessedLabels, flowProtocolLabel, hubbleDropReasonLabel, policyVerdictLabels, portDistributionLabels, tcpFlagLabels,
} from './labels.js';
import { testFlow } from './test-flow.js';

async function values(reg: Registry, name: string): Promise<{ labels: Record<string, string | number>; value: number }[]> {
  const m = (await reg.getMetricsAsJSON()).find((x) => x.name === name);
  return (m?.values ?? []).map((v) => ({ labels: v.labels as Record<string, string | number>, value: v.value }));
}

describe('HubbleFlowMetrics', () => {
  it('counts a forwarded policy verdict and a policy drop', async () => {
    const reg = new Registry();
    const m = new HubbleFlowMetrics(reg);
    m.observe(testFlow());
    const denied = { verdict: 'DROPPED' as const, drop_reason: 133, drop_reason_desc: 'POLICY_DENIED', policy_match_type: 0 };
    m.observe(testFlow(denied));
    m.observe(testFlow({ ...denied, event_type: { type: EVENT_DROP, sub_type: 133 } }));
    assert.deepEqual(await values(reg, 'hubble_flows_processed_total'), [
      { labels: { type: 'PolicyVerdict', subtype: '', verdict: 'FORWARDED' }, value: 1 },
      { labels: { type: 'PolicyVerdict', subtype: '', verdict: 'DROPPED' }, value: 1 },
      { labels: { type: 'Drop', subtype: '', verdict: 'DROPPED' }, value: 1 },
    ]);
    assert.deepEqual(await values(reg, 'hubble_drop_total'), [{ labels: { reason: 'POLICY_DENIED', protocol: 'TCP' }, value: 1 }],
      'the drop is counted once, not once per flow of it');
    assert.deepEqual(await values(reg, 'hubble_policy_verdicts_total'), [
      { labels: { direction: 'ingress', match: 'l3-l4', action: 'forwarded' }, value: 1 },
      { labels: { direction: 'ingress', match: 'none', action: 'dropped' }, value: 1 },
    ]);
    assert.deepEqual(await values(reg, 'hubble_tcp_flags_total'), [{ labels: { flag: 'SYN', family: 'IPv4' }, value: 1 }]);
    assert.deepEqual(await values(reg, 'hubble_port_distribution_total'), [{ labels: { protocol: 'TCP', port: '80' }, value: 1 }]);
  });

  it('keeps the series count bounded when every flow goes to a new port', async () => {
    const reg = new Registry();
    const m = new HubbleFlowMetrics(reg, { maxPorts: 10 });
    for (let p = 1; p < 65536; p++) m.observe(testFlow({ l4: { TCP: { source_port: 40000, destination_port: p, flags: { SYN: true } } } }));
    const ports = await values(reg, 'hubble_port_distribution_total');
    assert.equal(ports.length, 11);
    assert.equal(ports.find((v) => v.labels['port'] === 'other')?.value, 65535 - 10);
  });

  it('counts, for flows of every kind and odd shapes, what the label functions of labels.ts say', async () => {
    const flows: Flow[] = [];
    const verdicts = ['FORWARDED', 'DROPPED', 'AUDIT', 'REDIRECTED', 'BOGUS'] as Flow['verdict'][];
    const kinds: Partial<Flow>[] = [
      { event_type: { type: EVENT_POLICY_VERDICT } }, { event_type: { type: EVENT_POLICY_VERDICT }, policy_match_type: undefined },
      { event_type: { type: EVENT_POLICY_VERDICT }, policy_match_type: 9 }, { event_type: { type: EVENT_POLICY_VERDICT }, traffic_direction: 'EGRESS' },
      { event_type: { type: EVENT_DROP, sub_type: 133 }, drop_reason_desc: 'POLICY_DENIED' }, { event_type: { type: EVENT_DROP, sub_type: 1 }, drop_reason_desc: 'NOT_A_REASON' },
      { event_type: { type: EVENT_TRACE, sub_type: 0 }, trace_observation_point: 'TO_ENDPOINT' }, { event_type: { type: EVENT_TRACE, sub_type: 3 }, trace_observation_point: 'TO_STACK' },
      { event_type: { type: EVENT_TRACE, sub_type: 0 }, trace_observation_point: 'SOMEWHERE' }, { event_type: { type: EVENT_TRACE, sub_type: 0 } },
      { event_type: { type: 9 } }, { event_type: { type: 3.5 } }, { Type: 'L7' },
    ];
    const l4s: Partial<Flow>[] = [
      {}, { l4: { TCP: { source_port: 1, destination_port: 443, flags: { SYN: true, ACK: true } } } }, { l4: { TCP: { source_port: 1, destination_port: 50000, flags: { FIN: true, RST: true } } } },
      { l4: { UDP: { source_port: 1, destination_port: 53 } }, is_reply: true }, { l4: { ICMPv4: { type: 8, code: 0 } } }, { l4: undefined }, { l4: { SCTP: { source_port: 1, destination_port: 9 } } },
    ];
    for (const v of verdicts) for (const k of kinds) for (const l of l4s) flows.push(testFlow({ verdict: v, ...k, ...l }));
    const reg = new Registry();
    const m = new HubbleFlowMetrics(reg, { maxPorts: 3 });
    const expected = new Map<string, Map<string, number>>();
    const tally = (name: string, labels: object | undefined) => {
      if (!labels) return;
      const byName = expected.get(name) ?? new Map<string, number>();
      expected.set(name, byName);
      const key = JSON.stringify(labels);
      byName.set(key, (byName.get(key) ?? 0) + 1);
    };
    const ports = new PortLabels(3);
    for (let round = 0; round < 2; round++) {
      for (const f of flows) {
        m.observe(f);
        tally('hubble_flows_processed_total', flowProcessedLabels(f));
        if (f.event_type.type === EVENT_DROP) tally('hubble_drop_total', { reason: hubbleDropReasonLabel(f), protocol: flowProtocolLabel(f) });
        tally('hubble_policy_verdicts_total', policyVerdictLabels(f));
        for (const t of tcpFlagLabels(f)) tally('hubble_tcp_flags_total', t);
        tally('hubble_port_distribution_total', portDistributionLabels(f, ports));
      }
      for (const [name, want] of expected) {
        const got = new Map((await values(reg, name)).map((x) => [JSON.stringify(x.labels), x.value]));
        const sortedKeys = (o: object) => JSON.stringify(Object.fromEntries(Object.entries(o).sort()));
        assert.deepEqual(new Map([...got].map(([k, n]) => [sortedKeys(JSON.parse(k)), n])), new Map([...want].map(([k, n]) => [sortedKeys(JSON.parse(k)), n])), `${name}, round ${round}`);
      }
    }
  });
});
