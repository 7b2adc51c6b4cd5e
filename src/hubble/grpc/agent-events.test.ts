/** GetAgentEvents: the request as a selection, and events as the messages of our observer.proto (encoded and decoded). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type * as grpc from '@grpc/grpc-js';
import { MembraneError } from '../../common/errors.js';
import { type AgentEvent, type AgentEventRecord, agentStarted, endpointCreated, ipcacheUpserted, policyChanged, serviceDeleted } from '../agent-events.js';
import { agentEventResponse, agentEventSelectionFromRequest } from './agent-events.js';
import { observerServiceDefinition } from './proto.js';

/** The response as a Hubble client receives it: serialized with our .proto, decoded again. */
function overTheWire(r: AgentEventRecord): Record<string, any> {
  const method = observerServiceDefinition()['GetAgentEvents'] as grpc.MethodDefinition<unknown, unknown>;
  return method.responseDeserialize(method.responseSerialize(agentEventResponse(r))) as Record<string, any>;
}

const record = (agent_event: AgentEvent): AgentEventRecord => ({ agent_event, node_name: 'node-1', time: '2024-11-27T11:52:25.123Z' });

describe('GetAgentEvents requests', () => {
  it('reads number, first, follow, since and until as GetFlows does', () => {
    assert.deepEqual(agentEventSelectionFromRequest({}), { number: 0, first: false, follow: false });
    assert.deepEqual(agentEventSelectionFromRequest({ number: '5', follow: true, since: { seconds: '1732708345', nanos: 123_000_000 }, until: { seconds: 1732708400 } }), {
      number: 5, first: false, follow: true, sinceMs: 1732708345123, untilMs: 1732708400000,
    });
  });

  it('refuses first with follow, naming the field', () => {
    assert.throws(() => agentEventSelectionFromRequest({ number: 1, first: true, follow: true }),
      (e: MembraneError) => e.code === 'EINVAL' && e.path === 'first');
  });
});

describe('GetAgentEventsResponse messages', () => {
  it('carry the event, the node name and the time', () => {
    const got = overTheWire(record(endpointCreated({ id: 123, podNamespace: 'default', podName: 'xwing' }, ['k8s:class=xwing'])));
    assert.equal(got['node_name'], 'node-1');
    assert.deepEqual(got['time'], { seconds: 1732708345, nanos: 123_000_000 });
    assert.equal(got['agent_event']['type'], 'ENDPOINT_CREATED');
    assert.equal(got['agent_event']['notification'], 'endpoint_update');
    assert.deepEqual(got['agent_event']['endpoint_update'], { id: 123, labels: ['k8s:class=xwing'], pod_name: 'xwing', namespace: 'default' });
  });

  it('send the start time as a Timestamp, policy updates with their counts', () => {
    assert.deepEqual(overTheWire(record(agentStarted(Date.UTC(2024, 10, 27, 11, 0, 0, 500))))['agent_event']['agent_start'], { time: { seconds: 1732705200, nanos: 500_000_000 } });
    assert.deepEqual(overTheWire(record(policyChanged('POLICY_UPDATED', ['k8s:io.cilium.k8s.policy.name=a'], 5, 2)))['agent_event']['policy_update'],
      { labels: ['k8s:io.cilium.k8s.policy.name=a'], revision: 5, rule_count: 2 });
  });

  it('send the old identity of an ipcache upsert in its wrapper, and the notifications Hubble added later (105-107)', () => {
    const ip = overTheWire(record(ipcacheUpserted('10.244.1.7/32', 300, { oldIdentity: 299, pod: { podNamespace: 'default', podName: 'xwing' } })))['agent_event'];
    assert.equal(ip['notification'], 'ipcache_update');
    assert.deepEqual(ip['ipcache_update'], { cidr: '10.244.1.7/32', identity: 300, old_identity: { value: 299 }, encrypt_key: 0, namespace: 'default', pod_name: 'xwing' });
    const del = overTheWire(record(serviceDeleted(7)))['agent_event'];
    assert.deepEqual([del['type'], del['notification'], del['service_delete']], ['SERVICE_DELETED', 'service_delete', { id: 7 }]);
  });
});
