/** The agent's metrics, read from a fake source at scrape time, and the /metrics server on loopback. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { AgentMetrics, type AgentMetricsSource } from './agent-metrics.js';
import { MetricsServer, parseServeAddress } from './server.js';
import { readMapPressure } from './map-pressure.js';

function fakeSource(): AgentMetricsSource & { reads: number; packets: number } {
  const src = {
    reads: 0,
    packets: 10,
    datapathCounters() {
      src.reads++;
      return [
        { reason: 0, direction: 'ingress' as const, packets: src.packets, bytes: src.packets * 100 },
        { reason: 0, direction: 'egress' as const, packets: 7, bytes: 700 },
        { reason: 133, direction: 'ingress' as const, packets: 3, bytes: 180 },
      ];
    },
    endpointStates: () => ['ready' as const, 'ready' as const, 'regenerating' as const],
    policyRevision: () => 42,
    mapPressure: () => [{ map: 'endpoints', entries: 3, maxEntries: 65536 }],
    lostEvents: () => ({ perf_event_ring_buffer: 5 }),
    agentEventsLost: () => 4,
    l7RecordsDropped: () => 6,
  };
  return src;
}

describe('AgentMetrics', () => {
  it('exposes the kernel totals under Cilium-style names, read once per scrape', async () => {
    const reg = new Registry();
    const src = fakeSource();
    const m = new AgentMetrics(reg, src);
    m.observeRegeneration(0.004, true);
    m.observeApiRequest('GET', '/v1/endpoints/{id}', 200, 0.001);
    const text = await reg.metrics();
    assert.match(text, /^membrane_forward_count_total\{direction="INGRESS"\} 10$/m);
    assert.match(text, /^membrane_forward_bytes_total\{direction="EGRESS"\} 700$/m);
    assert.match(text, /^membrane_drop_count_total\{reason="Policy denied",direction="INGRESS"\} 3$/m);
    assert.match(text, /^membrane_drop_bytes_total\{reason="Policy denied",direction="INGRESS"\} 180$/m);
    assert.match(text, /^membrane_endpoint_state\{endpoint_state="ready"\} 2$/m);
    assert.match(text, /^membrane_endpoint_state\{endpoint_state="disconnecting"\} 0$/m);
    assert.match(text, /^membrane_policy_max_revision 42$/m);
    assert.match(text, /^membrane_bpf_map_pressure\{map_name="endpoints"\} 0\.0000457763671875$/m);
    assert.match(text, /^hubble_lost_events_total\{source="perf_event_ring_buffer"\} 5$/m);
    assert.match(text, /^hubble_lost_events_total\{source="observer_events_queue"\} 0$/m);
    assert.match(text, /^membrane_agent_events_lost_total 4$/m);
    assert.match(text, /^membrane_l7_proxy_flows_dropped_total 6$/m);
    assert.match(text, /^membrane_endpoint_regeneration_time_stats_seconds_count\{scope="total",status="success"\} 1$/m);
    assert.match(text, /^membrane_agent_api_process_time_seconds_count\{method="GET",path="\/v1\/endpoints\/\{id\}",return_code="200"\} 1$/m);
    assert.match(text, /^# TYPE membrane_drop_count_total counter$/m);
    assert.equal(src.reads, 1, 'the four datapath counters share one read of the kernel');
    src.packets = 25;
    await new Promise((r) => setImmediate(r));
    assert.match(await reg.metrics(), /^membrane_forward_count_total\{direction="INGRESS"\} 25$/m, 'the next scrape reads afresh');
  });
});

describe('readMapPressure', () => {
  it('walks the cheap maps, takes the policy count as given and skips conntrack', () => {
    const map = (n: number, max: number) => ({ maxEntries: max, keys: () => Array.from({ length: n }, (_, i) => i) });
    const broken = { maxEntries: 10, keys: (): number[] => { throw new Error('EPERM'); } };
    const errors: string[] = [];
    const out = readMapPressure({ policy: map(0, 100), endpoints: map(2, 10), conntrack: map(5, 10), lb_services: broken }, 40, (name) => errors.push(name));
    assert.deepEqual(out, [{ map: 'policy', entries: 40, maxEntries: 100 }, { map: 'endpoints', entries: 2, maxEntries: 10 }]);
    assert.deepEqual(errors, ['lb_services']);
  });
});

describe('parseServeAddress', () => {
  it('accepts host:port, [v6]:port and :port, and "" as disabled', () => {
    assert.deepEqual(parseServeAddress('127.0.0.1:9962'), { host: '127.0.0.1', port: 9962 });
    assert.deepEqual(parseServeAddress('[::1]:9962'), { host: '::1', port: 9962 });
    assert.deepEqual(parseServeAddress(':9962'), { port: 9962 });
    assert.equal(parseServeAddress(''), undefined);
  });
  it('refuses bad addresses naming the flag', () => {
    for (const bad of ['9962', '127.0.0.1', '127.0.0.1:0', 'h:70000', '[zz]:1', 'a:b:c']) {
      assert.throws(() => parseServeAddress(bad), (e: Error & { code?: string }) => e.code === 'EINVAL' && /--prometheus-serve-addr/.test(e.message), bad);
    }
  });
});

describe('MetricsServer', () => {
  it('serves GET /metrics with the exposition content type and 404 elsewhere', async () => {
    const reg = new Registry();
    new AgentMetrics(reg, fakeSource());
    const server = new MetricsServer(reg);
    // Port 0 on loopback: the kernel picks a free port, so runs never collide.
    await server.listen({ host: '127.0.0.1', port: 0 });
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const ok = await fetch(`${base}/metrics`);
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get('content-type'), reg.contentType);
      assert.match(await ok.text(), /membrane_forward_count_total/);
      assert.equal((await fetch(`${base}/`)).status, 404);
      assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
    } finally {
      await server.close();
    }
  });
  it('fails to listen on an address in use, naming the flag', async () => {
    const a = new MetricsServer(new Registry());
    await a.listen({ host: '127.0.0.1', port: 0 });
    try {
      const b = new MetricsServer(new Registry());
      await assert.rejects(b.listen({ host: '127.0.0.1', port: a.port! }), /--prometheus-serve-addr: cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
    } finally {
      await a.close();
    }
  });
});
