import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import type { Flow } from '../hubble/flow.js';
import { EVENT_L7, type Layer7 } from '../hubble/l7-flow.js';
import { HubbleHttpMetrics, httpMethodLabel, httpProtocolLabel, httpStatusLabel } from './http-metrics.js';
import { testFlow } from './test-flow.js';

function l7Flow(type: Layer7['type'], http: Partial<Layer7['http']>, over: Partial<Flow> = {}): Flow {
  const l7: Layer7 = {
    type, latency_ns: 2_000_000,
    http: { code: 200, method: 'POST', url: 'http://deathstar/v1/request-landing', protocol: 'HTTP/1.1', headers: [], ...http },
  };
  return { ...testFlow({ Type: 'L7', event_type: { type: EVENT_L7 }, ...over }), l7 } as Flow;
}

async function metricLines(registry: Registry): Promise<string[]> {
  return (await registry.metrics()).split('\n').filter((l) => l.startsWith('hubble_http'));
}

describe('HubbleHttpMetrics', () => {
  it('counts each response as a request with its status, a response, and a duration', async () => {
    const registry = new Registry();
    const m = new HubbleHttpMetrics(registry);
    m.observe(l7Flow('REQUEST', {}));
    m.observe(l7Flow('RESPONSE', {}));
    m.observe(l7Flow('RESPONSE', { method: 'PUT', code: 403 }));
    m.observe(l7Flow('RESPONSE', { method: 'PUT', code: 403 }, { traffic_direction: 'EGRESS' }));
    m.observe(testFlow());
    const lines = await metricLines(registry);
    assert.ok(lines.includes('hubble_http_requests_total{method="POST",protocol="HTTP/1.1",status="200",reporter="server"} 1'), lines.join('\n'));
    assert.ok(lines.includes('hubble_http_requests_total{method="PUT",protocol="HTTP/1.1",status="403",reporter="server"} 1'));
    assert.ok(lines.includes('hubble_http_requests_total{method="PUT",protocol="HTTP/1.1",status="403",reporter="client"} 1'));
    assert.ok(lines.includes('hubble_http_responses_total{method="PUT",status="403",reporter="server"} 1'));
    assert.ok(lines.includes('hubble_http_request_duration_seconds_bucket{le="0.005",method="POST",reporter="server"} 1'));
    assert.ok(lines.includes('hubble_http_request_duration_seconds_count{method="POST",reporter="server"} 1'));
  });

  it('keeps label values bounded', () => {
    assert.equal(httpMethodLabel('GET'), 'GET');
    assert.equal(httpMethodLabel('BREW'), 'other');
    assert.equal(httpMethodLabel('get'), 'other');
    assert.equal(httpProtocolLabel('HTTP/1.0'), 'HTTP/1.0');
    assert.equal(httpProtocolLabel('HTTP/9'), 'other');
    assert.equal(httpStatusLabel(503), '503');
    assert.equal(httpStatusLabel(0), '0');
    assert.equal(httpStatusLabel(999), 'other');
  });

  it('makes one series of every unknown method', async () => {
    const registry = new Registry();
    const m = new HubbleHttpMetrics(registry);
    for (let i = 0; i < 100; i++) m.observe(l7Flow('RESPONSE', { method: `X${i}` }));
    const requests = (await metricLines(registry)).filter((l) => l.startsWith('hubble_http_requests_total{'));
    assert.deepEqual(requests, ['hubble_http_requests_total{method="other",protocol="HTTP/1.1",status="200",reporter="server"} 100']);
  });
});
