/** filterFromProto: GetFlows whitelist/blacklist messages as membrane filters with Hubble's semantics. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../../common/errors.js';
import { flowPasses } from '../filter.js';
import type { Flow } from '../flow.js';
import { filterFromProto, filtersFromProto } from './filter-from-proto.js';
import { observerServiceDefinition } from './proto.js';
import { selectionFromRequest } from './observer-service.js';
import { replayedFlows } from './select.js';

const flow = (over: Partial<Flow>): Flow => ({
  time: '2024-03-14T09:26:53.589Z', uuid: 'u', verdict: 'FORWARDED', IP: { source: '10.0.0.1', destination: '10.0.0.2', ipVersion: 'IPv4' },
  source: { identity: 257, namespace: 'default', pod_name: 'tiefighter', labels: ['k8s:org=empire'] },
  destination: { identity: 256, namespace: 'default', pod_name: 'deathstar-1', labels: ['k8s:class=deathstar'] },
  Type: 'L3_L4', node_name: 'n1', event_type: { type: 5 }, traffic_direction: 'INGRESS', Summary: '',
  l4: { TCP: { source_port: 40000, destination_port: 80 } }, ...over,
});
const DROP = flow({ uuid: 'd', verdict: 'DROPPED', drop_reason: 133, drop_reason_desc: 'POLICY_DENIED', event_type: { type: 1, sub_type: 133 } });
const OK = flow({ uuid: 'f' });

/** A GetFlowsRequest as a client sends it, through the real (de)serializer. */
function wireRequest(req: Record<string, unknown>): Record<string, any> {
  const m = observerServiceDefinition()['GetFlows']!;
  return m.requestDeserialize(m.requestSerialize(req)) as Record<string, any>;
}

describe('filterFromProto', () => {
  it('maps enum names and fields from the wire', () => {
    const req = wireRequest({
      whitelist: [{ verdict: ['DROPPED'], drop_reason_desc: ['POLICY_DENIED'], destination_pod: ['default/deathstar'], traffic_direction: ['INGRESS'],
        event_type: [{ type: 1, match_sub_type: true, sub_type: 133 }], source_identity: [257], protocol: ['tcp'], destination_port: ['80'] }],
    });
    const f = filterFromProto(req['whitelist'][0], 'whitelist[0]');
    assert.deepEqual(f, {
      verdict: ['DROPPED'], drop_reason_desc: ['POLICY_DENIED'], destination_pod: ['default/deathstar'], traffic_direction: ['INGRESS'],
      event_type: [{ type: 1, sub_type: 133 }], source_identity: [257], protocol: ['tcp'], destination_port: ['80'],
    });
    assert.equal(flowPasses(DROP, [f], undefined), true);
    assert.equal(flowPasses(OK, [f], undefined), false);
  });

  it('matches any sub_type unless match_sub_type is set (0 is a valid sub_type)', () => {
    const req = wireRequest({ whitelist: [{ event_type: [{ type: 1 }] }, { event_type: [{ type: 5, match_sub_type: true, sub_type: 0 }] }] });
    const [any, exact] = filtersFromProto(req['whitelist'], 'whitelist')!;
    assert.deepEqual(any, { event_type: [{ type: 1 }] });
    assert.deepEqual(exact, { event_type: [{ type: 5, sub_type: 0 }] });
  });

  it('treats an empty filter list as absent', () => {
    assert.equal(filtersFromProto([], 'whitelist'), undefined);
    assert.equal(filtersFromProto(wireRequest({})['blacklist'], 'blacklist'), undefined);
  });

  it('reads service filters as namespace/name', () => {
    const req = wireRequest({ whitelist: [{ destination_service: ['default/deathstar'] }] });
    assert.deepEqual(filtersFromProto(req['whitelist'], 'whitelist'), [{ destination_service: ['default/deathstar'] }]);
  });

  it('refuses a filter field membrane cannot evaluate, naming it', () => {
    const req = wireRequest({ whitelist: [{ verdict: ['DROPPED'] }, { dns_query: ['kube.*local'] }] });
    assert.throws(() => filtersFromProto(req['whitelist'], 'whitelist'),
      (e: unknown) => e instanceof ValidationError && /^whitelist\[1\]\.dns_query: /.test(e.message));
  });
});

describe('GetFlows selection', () => {
  const ring = [OK, DROP, flow({ uuid: 'f2' }), flow({ uuid: 'd2', verdict: 'DROPPED', drop_reason: 181, drop_reason_desc: 'POLICY_DENY' })];
  const uuids = (req: Record<string, unknown>) => replayedFlows(ring, selectionFromRequest(wireRequest(req))).map((f) => f.uuid);

  it('returns the last N, the first N, or all', () => {
    assert.deepEqual(uuids({ number: 2 }), ['f2', 'd2']);
    assert.deepEqual(uuids({ number: 2, first: true }), ['f', 'd']);
    assert.deepEqual(uuids({}), ['f', 'd', 'f2', 'd2']);
  });

  it('applies whitelist minus blacklist before counting', () => {
    assert.deepEqual(uuids({ number: 1, whitelist: [{ verdict: ['DROPPED'] }] }), ['d2']);
    assert.deepEqual(uuids({ whitelist: [{ verdict: ['DROPPED'] }], blacklist: [{ drop_reason_desc: ['POLICY_DENY'] }] }), ['d']);
  });

  it('with follow and no number sends only new flows', () => {
    assert.deepEqual(uuids({ follow: true }), []);
    assert.deepEqual(uuids({ follow: true, number: 1 }), ['d2']);
  });

  it('bounds by since/until', () => {
    const t = Date.parse(OK.time) / 1000;
    assert.deepEqual(uuids({ since: { seconds: t + 1 } }), []);
    assert.deepEqual(uuids({ until: { seconds: t + 1 }, number: 1 }), ['d2']);
  });

  it('refuses first with follow', () => {
    assert.throws(() => selectionFromRequest(wireRequest({ first: true, follow: true })), /first: cannot be combined with follow/);
  });
});
