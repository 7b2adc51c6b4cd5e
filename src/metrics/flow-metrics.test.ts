/** Hubble's flow metrics counted from flows, read back through a registry. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { EVENT_DROP } from '../datapath/layout.js';
import { HubbleFlowMetrics } from './flow-metrics.js';
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
});
