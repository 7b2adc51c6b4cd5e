/**
 * L7 flows from the HTTP proxy's records: Hubble's fields, and the compact
 * lines of cilium-semantics.md §1.4 (Star Wars, after the L7 policy).
 * Times print in local time, so the whole file runs in UTC.
 */
process.env.TZ = 'UTC';

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { L7Record, ProxyConnInfo } from '../l7/l7-record.js';
import { formatCompact, formatDict, tableRow } from './compact.js';
import type { FlowContext } from './flow.js';
import { EVENT_L7, flowFromL7Record } from './l7-flow.js';

const TIME_MS = Date.parse('2024-03-14T09:26:53.589Z');
const STAMP = 'Mar 14 09:26:53.589';
const URL_LAND = 'http://deathstar.default.svc.cluster.local/v1/request-landing';
const URL_EXHAUST = 'http://deathstar.default.svc.cluster.local/v1/exhaust-port';

const PODS = new Map([
  ['10.244.1.10', { id: 1201, namespace: 'default', podName: 'tiefighter' }],
  ['10.244.1.20', { id: 2756, namespace: 'default', podName: 'deathstar-6fb5694d48-5hmds' }],
]);
const LABELS = new Map([[31028, ['k8s:class=tiefighter', 'k8s:org=empire']], [16530, ['k8s:class=deathstar', 'k8s:org=empire']]]);
const ctx: FlowContext = {
  nodeName: 'node-1',
  wallTimeMs: (ns) => ns / 1e6,
  endpointByIp: (ip) => PODS.get(ip),
  identityLabels: (id) => LABELS.get(id),
  policiesForCookie: () => [],
  defaultDenyPolicies: () => [],
};

const CONN: ProxyConnInfo = {
  src: { ip: '10.244.1.10', port: 41234 }, dst: { ip: '10.244.1.20', port: 80 }, srcIdentity: 31028, dstIdentity: 16530, direction: 'INGRESS',
};

function rec(over: Partial<L7Record>): L7Record {
  return { type: 'request', timeMs: TIME_MS, conn: CONN, method: 'POST', url: URL_LAND, protocol: 'HTTP/1.1', code: 0, verdict: 'FORWARDED', headers: [], ...over };
}

const TIE = 'default/tiefighter:41234 (ID:31028)';
const DS = 'default/deathstar-6fb5694d48-5hmds:80 (ID:16530)';

describe('L7 flows: compact lines as in §1.4', () => {
  const golden: [string, L7Record, string][] = [
    ['a forwarded request', rec({}), `${STAMP}: ${TIE} -> ${DS} http-request FORWARDED (HTTP/1.1 POST ${URL_LAND})`],
    ['its response, client <- server, with the latency in whole ms',
      rec({ type: 'response', code: 200, latencyNs: 6_912_345 }), `${STAMP}: ${TIE} <- ${DS} http-response FORWARDED (HTTP/1.1 200 6ms (POST ${URL_LAND}))`],
    ['a denied request', rec({ method: 'PUT', url: URL_EXHAUST, code: 403, verdict: 'DROPPED', reason: 'denied' }),
      `${STAMP}: ${TIE} -> ${DS} http-request DROPPED (HTTP/1.1 PUT ${URL_EXHAUST})`],
    ['the proxy\'s 403 to it, in 0ms', rec({ type: 'response', method: 'PUT', url: URL_EXHAUST, code: 403, latencyNs: 312_000, reason: 'denied' }),
      `${STAMP}: ${TIE} <- ${DS} http-response FORWARDED (HTTP/1.1 403 0ms (PUT ${URL_EXHAUST}))`],
  ];
  for (const [what, record, line] of golden) {
    it(what, () => assert.equal(formatCompact(flowFromL7Record(record, ctx)), line));
  }

  it('names the type http-request / http-response in -o dict and -o table', () => {
    const f = flowFromL7Record(rec({ type: 'response', code: 200, latencyNs: 1e6 }), ctx);
    assert.match(formatDict(f), /\n {7}TYPE: http-response\n {4}VERDICT: FORWARDED\n {4}SUMMARY: HTTP\/1\.1 200 1ms \(POST http:\/\/deathstar/);
    assert.equal(tableRow(f)[3], 'http-response');
  });
});

describe('L7 flows: Hubble fields', () => {
  it('a request: Type L7, event type 129, l7.http, sides client to server, not a reply', () => {
    const headers = [{ key: 'Accept', value: '*/*' }, { key: 'User-Agent', value: 'curl/8.5.0' }];
    const f = flowFromL7Record(rec({ headers }), ctx);
    assert.equal(f.Type, 'L7');
    assert.deepEqual(f.event_type, { type: EVENT_L7 });
    assert.deepEqual(f.l7, { type: 'REQUEST', latency_ns: 0, http: { code: 0, method: 'POST', url: URL_LAND, protocol: 'HTTP/1.1', headers } });
    assert.deepEqual(f.IP, { source: '10.244.1.10', destination: '10.244.1.20', ipVersion: 'IPv4' });
    assert.deepEqual(f.l4, { TCP: { source_port: 41234, destination_port: 80 } });
    assert.deepEqual(f.source, { ID: 1201, identity: 31028, namespace: 'default', pod_name: 'tiefighter', labels: ['k8s:class=tiefighter', 'k8s:org=empire'] });
    assert.equal(f.destination.pod_name, 'deathstar-6fb5694d48-5hmds');
    assert.equal(f.traffic_direction, 'INGRESS');
    assert.equal(f.is_reply, false);
    assert.equal(f.verdict, 'FORWARDED');
    assert.equal(f.node_name, 'node-1');
    assert.equal(f.time, '2024-03-14T09:26:53.589Z');
    assert.equal(f.Summary, `HTTP/1.1 POST ${URL_LAND}`);
  });

  it('a response: sides server to client, a reply, with code and latency', () => {
    const f = flowFromL7Record(rec({ type: 'response', code: 200, latencyNs: 1_234_567 }), ctx);
    assert.deepEqual(f.IP, { source: '10.244.1.20', destination: '10.244.1.10', ipVersion: 'IPv4' });
    assert.deepEqual(f.l4, { TCP: { source_port: 80, destination_port: 41234 } });
    assert.deepEqual([f.source.identity, f.destination.identity], [16530, 31028]);
    assert.equal(f.is_reply, true);
    assert.deepEqual([f.l7.type, f.l7.latency_ns, f.l7.http.code], ['RESPONSE', 1_234_567, 200]);
  });

  it('keeps the direction of egress L7 rules', () => {
    assert.equal(flowFromL7Record(rec({ conn: { ...CONN, direction: 'EGRESS' } }), ctx).traffic_direction, 'EGRESS');
  });
});

describe('L7 flows: the policy behind each decision', () => {
  const policy = { namespace: 'default', kind: 'CiliumNetworkPolicy', revision: 3, labels: [] };
  const RULE1 = { ...policy, name: 'rule1', rule: 'spec.ingress[0]' };
  const RULE1_AGAIN = { ...policy, name: 'rule1', rule: 'spec.ingress[0]' }; // another cookie of the same rule (another port of its toPorts)
  const RULE1_SECOND = { ...policy, name: 'rule1', rule: 'spec.ingress[1]' };
  const OTHER = { ...policy, name: 'other', rule: 'specs[1].ingress[0]' };
  const POLICIES = new Map([[7, [RULE1]], [8, [OTHER]], [9, [RULE1_AGAIN]], [10, [RULE1_SECOND]]]);
  const LOGS = new Map([[7, 'rule1 http'], [8, 'other http'], [10, 'rule1 http']]);
  const withPolicies: FlowContext = { ...ctx, policiesForCookie: (c) => POLICIES.get(c) ?? [], policyLogForCookie: (c) => LOGS.get(c) };

  it('an allowed request names the rule that let it through; a denied one every rule of its port, once each', () => {
    const allowed = flowFromL7Record(rec({ cookies: [7] }), withPolicies);
    assert.deepEqual(allowed.ingress_allowed_by, [RULE1]);
    assert.equal(allowed.ingress_denied_by, undefined);
    const denied = flowFromL7Record(rec({ method: 'PUT', url: URL_EXHAUST, verdict: 'DROPPED', reason: 'denied', cookies: [7, 8, 9, 10] }), withPolicies);
    assert.deepEqual(denied.ingress_denied_by, [RULE1, OTHER, RULE1_SECOND]);
    const egress = flowFromL7Record(rec({ conn: { ...CONN, direction: 'EGRESS' }, cookies: [8] }), withPolicies);
    assert.deepEqual(egress.egress_allowed_by, [OTHER]);
  });

  it('carries the deciding rules\' log values as policy_log, each value once', () => {
    assert.deepEqual(flowFromL7Record(rec({ cookies: [7] }), withPolicies).policy_log, ['rule1 http']);
    const denied = flowFromL7Record(rec({ method: 'PUT', url: URL_EXHAUST, verdict: 'DROPPED', reason: 'denied', cookies: [7, 8, 9, 10] }), withPolicies);
    assert.deepEqual(denied.policy_log, ['rule1 http', 'other http']);
    assert.equal(flowFromL7Record(rec({ cookies: [9] }), withPolicies).policy_log, undefined, 'a rule without a log value adds none');
    assert.equal(flowFromL7Record(rec({ cookies: [7] }), { ...ctx, policiesForCookie: (c) => POLICIES.get(c) ?? [] }).policy_log, undefined);
  });

  it('responses and requests without a policy decision name no policy', () => {
    assert.equal(flowFromL7Record(rec({ type: 'response', code: 200, latencyNs: 1e6, cookies: [7] }), withPolicies).ingress_allowed_by, undefined);
    assert.equal(flowFromL7Record(rec({ verdict: 'DROPPED', reason: 'malformed' }), withPolicies).ingress_denied_by, undefined);
  });
});
