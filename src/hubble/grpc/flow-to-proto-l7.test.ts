/**
 * flowToProto of L7 flows: Hubble's Layer7 (field 15) with its HTTP record
 * (101), through the real serializer of observer.proto and back.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { flowFromL7Record } from '../l7-flow.js';
import type { FlowContext } from '../flow.js';
import { flowToProto } from './flow-to-proto.js';
import { observerServiceDefinition } from './proto.js';

const ctx: FlowContext = {
  nodeName: 'node-1', wallTimeMs: (ns: number) => ns / 1e6, endpointByIp: () => undefined, identityLabels: () => undefined,
  policiesForCookie: () => [], serviceById: () => undefined, defaultDenyPolicies: () => [],
} as unknown as FlowContext;

function roundTrip(flow: ReturnType<typeof flowToProto>): Record<string, any> {
  const method = observerServiceDefinition()['GetFlows']!;
  const back = method.responseDeserialize(method.responseSerialize({ flow, node_name: 'node-1' })) as Record<string, any>;
  return back['flow'];
}

describe('flowToProto (L7)', () => {
  const conn = { src: { ip: '10.244.1.10', port: 41234 }, dst: { ip: '10.244.1.20', port: 80 }, srcIdentity: 257, dstIdentity: 256, direction: 'INGRESS' as const };
  const url = 'http://deathstar.default.svc.cluster.local/v1/exhaust-port';

  it('carries an HTTP response: type, latency, code, method, URL, protocol, headers', () => {
    const flow = flowFromL7Record({
      type: 'response', timeMs: 1_710_408_413_589, conn, method: 'PUT', url, protocol: 'HTTP/1.1', code: 403, latencyNs: 1_500_000,
      verdict: 'FORWARDED', headers: [{ key: 'content-type', value: 'text/plain' }],
    }, ctx);
    const p = flowToProto(flow);
    assert.deepEqual(p.l7, {
      type: 2, latency_ns: 1_500_000,
      http: { code: 403, method: 'PUT', url, protocol: 'HTTP/1.1', headers: [{ key: 'content-type', value: 'text/plain' }] },
    });
    assert.equal(p.Type, 2);
    const w = roundTrip(p);
    assert.equal(w['l7'].type, 'RESPONSE');
    assert.equal(w['l7'].latency_ns, 1_500_000);
    assert.equal(w['l7'].record, 'http');
    assert.deepEqual(w['l7'].http, { code: 403, method: 'PUT', url, protocol: 'HTTP/1.1', headers: [{ key: 'content-type', value: 'text/plain' }] });
    assert.equal(w['Type'], 'L7');
    assert.equal(w['event_type'].type, 129);
  });

  it('carries a request with type REQUEST and no code', () => {
    const flow = flowFromL7Record({ type: 'request', timeMs: 1_710_408_413_589, conn, method: 'PUT', url, protocol: 'HTTP/1.1', code: 0, verdict: 'DROPPED', headers: [] }, ctx);
    const w = roundTrip(flowToProto(flow));
    assert.equal(w['l7'].type, 'REQUEST');
    assert.equal(w['verdict'], 'DROPPED');
    assert.equal(w['l7'].http.method, 'PUT');
  });

  it('leaves l7 out of L3/L4 flows', () => {
    const flow = flowFromL7Record({ type: 'request', timeMs: 0, conn, method: 'GET', url, protocol: 'HTTP/1.1', code: 0, verdict: 'FORWARDED', headers: [] }, ctx);
    const { l7: _l7, ...plain } = flow;
    assert.equal(flowToProto({ ...plain, Type: 'L3_L4' }).l7, undefined);
  });
});
