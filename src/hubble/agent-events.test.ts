/** The agent event log, which events a request selects, and the events as the agent builds them. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  AgentEventLog, type AgentEventRecord, type AgentEventSelection, agentEventPastUntil, agentStarted, endpointCreated, endpointDeleted,
  endpointRegenerated, ipcacheDeleted, ipcacheUpserted, policyChanged, policyRuleCounts, replayedAgentEvents, serviceDeleted,
} from './agent-events.js';

const T0 = Date.UTC(2024, 10, 27, 11, 52, 25, 123);

/** A log whose clock starts at T0 and moves 1 s per event, holding `count` SERVICE_DELETED events with ids 1..count. */
function logWith(capacity: number, count: number): AgentEventLog {
  let t = T0;
  const log = new AgentEventLog('node-1', capacity, () => (t += 1000) - 1000);
  for (let id = 1; id <= count; id++) log.push(serviceDeleted(id));
  return log;
}

const ids = (events: Iterable<AgentEventRecord>) => [...events].map((e) => e.agent_event.service_delete!.id);
const sel = (s: Partial<AgentEventSelection>): AgentEventSelection => ({ number: 0, first: false, follow: false, ...s });

describe('AgentEventLog', () => {
  it('holds 4095 events by default, as Hubble\'s ring does', () => {
    assert.equal(new AgentEventLog('n').capacity, 4095);
  });

  it('stamps each event with the node name and the time it was pushed', () => {
    const log = logWith(10, 1);
    assert.deepEqual([...log.values()], [{ agent_event: { type: 'SERVICE_DELETED', service_delete: { id: 1 } }, node_name: 'node-1', time: new Date(T0).toISOString() }]);
  });

  it('keeps the newest `capacity` events, oldest first, and counts every one seen', () => {
    const log = logWith(3, 5);
    assert.deepEqual(ids(log.values()), [3, 4, 5]);
    assert.equal(log.size, 3);
    assert.equal(log.seen, 5);
  });

  it('refuses a capacity that is no positive integer', () => {
    assert.throws(() => new AgentEventLog('n', 0), RangeError);
  });

  it('hands new events to followers until they unfollow, and drops a follower that throws without stopping the others', () => {
    const log = logWith(10, 1);
    const seen: number[] = [];
    const unfollow = log.follow((e) => seen.push(e.agent_event.service_delete!.id));
    let calls = 0;
    log.follow(() => { calls++; throw new Error('stream closed'); });
    log.push(serviceDeleted(2), serviceDeleted(3));
    unfollow();
    log.push(serviceDeleted(4));
    assert.deepEqual(seen, [2, 3]);
    assert.equal(calls, 1, 'the throwing follower is gone after its first failure');
    assert.equal(log.size, 4);
  });

  it('sums what followers report they skipped', () => {
    const log = logWith(10, 0);
    log.countFollowerLoss(2);
    log.countFollowerLoss(3);
    assert.equal(log.lostToFollowers, 5);
  });
});

describe('which stored events a request returns (GetFlows\' number/first/follow/since/until)', () => {
  const log = logWith(100, 10); // times T0 .. T0+9s
  const at = (n: number) => T0 + (n - 1) * 1000; // the time of event n
  const table: [string, Partial<AgentEventSelection>, number[]][] = [
    ['number 0: all of them', {}, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]],
    ['number N: the last N, oldest first', { number: 3 }, [8, 9, 10]],
    ['first: the first N', { number: 2, first: true }, [1, 2]],
    ['since and until bound the time, inclusive', { sinceMs: at(4), untilMs: at(6) }, [4, 5, 6]],
    ['number with since: the last N of those since', { number: 2, sinceMs: at(4) }, [9, 10]],
    ['follow with number 0: none, only new events', { follow: true }, []],
    ['follow with number N: the last N, then new ones', { follow: true, number: 1 }, [10]],
    ['follow with since: those since, then new ones', { follow: true, sinceMs: at(9) }, [9, 10]],
  ];
  for (const [name, s, want] of table) {
    it(name, () => assert.deepEqual(ids(replayedAgentEvents(log.values(), sel(s))), want));
  }

  it('a followed stream is over at the first event past until', () => {
    const [e9, e10] = [...log.values()].slice(-2);
    assert.equal(agentEventPastUntil(e9!, sel({ untilMs: at(9) })), false);
    assert.equal(agentEventPastUntil(e10!, sel({ untilMs: at(9) })), true);
    assert.equal(agentEventPastUntil(e10!, sel({})), false);
  });
});

describe('the events the agent emits', () => {
  const pod = { id: 123, podNamespace: 'default', podName: 'xwing', ipv4: '10.244.1.7' };

  it('AGENT_STARTED carries the start time', () => {
    assert.deepEqual(agentStarted(T0), { type: 'AGENT_STARTED', agent_start: { time: '2024-11-27T11:52:25.123Z' } });
  });

  it('ENDPOINT_CREATED and ENDPOINT_DELETED name the endpoint, its pod and labels', () => {
    assert.deepEqual(endpointCreated(pod, ['k8s:class=xwing']), {
      type: 'ENDPOINT_CREATED', endpoint_update: { id: 123, labels: ['k8s:class=xwing'], pod_name: 'xwing', namespace: 'default' },
    });
    assert.deepEqual(endpointDeleted({ id: 9 }), { type: 'ENDPOINT_DELETED', endpoint_update: { id: 9, labels: [] } });
  });

  it('a regeneration succeeds without an error and fails with the error\'s message', () => {
    assert.deepEqual(endpointRegenerated(pod, ['k8s:a=b']), { type: 'ENDPOINT_REGENERATE_SUCCESS', endpoint_regenerate: { id: 123, labels: ['k8s:a=b'] } });
    assert.deepEqual(endpointRegenerated(pod, [], new Error('policy map full')), {
      type: 'ENDPOINT_REGENERATE_FAILURE', endpoint_regenerate: { id: 123, labels: [], error: 'policy map full' },
    });
  });

  it('POLICY_UPDATED and POLICY_DELETED carry labels, revision and rule count', () => {
    assert.deepEqual(policyChanged('POLICY_DELETED', ['k8s:io.cilium.k8s.policy.name=rule1'], 5, 2), {
      type: 'POLICY_DELETED', policy_update: { labels: ['k8s:io.cilium.k8s.policy.name=rule1'], revision: 5, rule_count: 2 },
    });
  });

  it('an ipcache upsert names the old identity only when there was one, and the pod of a pod\'s address', () => {
    assert.deepEqual(ipcacheUpserted('10.244.1.7/32', 300, { oldIdentity: 299, pod }), {
      type: 'IPCACHE_UPSERTED',
      ipcache_update: { cidr: '10.244.1.7/32', identity: 300, old_identity: 299, encrypt_key: 0, namespace: 'default', pod_name: 'xwing' },
    });
    assert.deepEqual(ipcacheUpserted('192.0.2.0/24', 16777217), { type: 'IPCACHE_UPSERTED', ipcache_update: { cidr: '192.0.2.0/24', identity: 16777217, encrypt_key: 0 } });
    assert.deepEqual(ipcacheDeleted('192.0.2.0/24', 16777217), { type: 'IPCACHE_DELETED', ipcache_update: { cidr: '192.0.2.0/24', identity: 16777217, encrypt_key: 0 } });
  });

  it('counts a Cilium policy\'s spec and specs as rules, a NetworkPolicy as one, keyed as the repository keys policies', () => {
    const counts = policyRuleCounts([
      { object: { kind: 'CiliumNetworkPolicy', metadata: { name: 'a' }, spec: {} }, namespace: 'default' },
      { object: { kind: 'CiliumNetworkPolicy', metadata: { name: 'b' }, spec: {}, specs: [{}, {}] }, namespace: 'ns1' },
      { object: { kind: 'CiliumClusterwideNetworkPolicy', metadata: { name: 'c' }, specs: [{}] }, namespace: '' },
      { object: { kind: 'NetworkPolicy', metadata: { name: 'd' }, spec: { podSelector: {} } }, namespace: 'default' },
      { object: 'not an object', namespace: 'default' },
    ]);
    assert.deepEqual([...counts], [
      ['CiliumNetworkPolicy/default/a', 1], ['CiliumNetworkPolicy/ns1/b', 3], ['CiliumClusterwideNetworkPolicy//c', 1], ['NetworkPolicy/default/d', 1],
    ]);
  });
});
