/** FlowRing: the most recent flows, oldest first, and live followers. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Flow } from './flow.js';
import { FlowRing } from './ring.js';

/** A flow told apart by its uuid ("f1", "f2", ...). */
function flowN(n: number): Flow {
  return {
    time: new Date(Date.UTC(2024, 2, 14) + n).toISOString(), uuid: `f${n}`, verdict: 'FORWARDED',
    IP: { source: '10.244.1.10', destination: '10.244.1.20', ipVersion: 'IPv4' }, source: { identity: 257 }, destination: { identity: 256 },
    Type: 'L3_L4', node_name: 'node-1', event_type: { type: 5 }, traffic_direction: 'INGRESS', Summary: '',
  };
}

function ringWith(capacity: number, count: number): FlowRing {
  const ring = new FlowRing(capacity);
  for (let n = 1; n <= count; n++) ring.push(flowN(n));
  return ring;
}

const uuids = (ring: FlowRing) => [...ring.values()].map((f) => f.uuid);

describe('FlowRing', () => {
  it('holds 4095 flows by default, as Hubble\'s ring does', () => {
    assert.equal(new FlowRing().capacity, 4095);
  });

  const table: [string, number, number, string[], number][] = [
    ['an empty ring yields nothing', 3, 0, [], 0],
    ['below capacity it yields every flow, oldest first', 3, 2, ['f1', 'f2'], 2],
    ['at capacity it yields every flow, oldest first', 3, 3, ['f1', 'f2', 'f3'], 3],
    ['past capacity it keeps the newest, oldest of them first', 3, 4, ['f2', 'f3', 'f4'], 3],
    ['after wrapping several times it still keeps the newest in order', 3, 11, ['f9', 'f10', 'f11'], 3],
    ['a ring of one keeps the last flow', 1, 5, ['f5'], 1],
  ];
  for (const [spec, capacity, pushed, expected, size] of table) {
    it(`${spec} (capacity ${capacity}, ${pushed} pushed)`, () => {
      const ring = ringWith(capacity, pushed);
      assert.deepEqual(uuids(ring), expected);
      assert.equal(ring.size, size);
      assert.equal(ring.seen, pushed, 'seen counts every flow ever pushed');
    });
  }

  it('calls every follower with each new flow, synchronously and in order', () => {
    const ring = ringWith(2, 1);
    const a: string[] = [];
    const b: string[] = [];
    ring.follow((f) => a.push(f.uuid));
    ring.follow((f) => b.push(f.uuid));
    ring.push(flowN(2));
    ring.push(flowN(3));
    assert.deepEqual(a, ['f2', 'f3'], 'followers see only flows pushed after they started');
    assert.deepEqual(b, ['f2', 'f3']);
  });

  it('stops calling a follower once it unfollows, and keeps the others', () => {
    const ring = new FlowRing(4);
    const gone: string[] = [];
    const kept: string[] = [];
    const unfollow = ring.follow((f) => gone.push(f.uuid));
    ring.follow((f) => kept.push(f.uuid));
    ring.push(flowN(1));
    unfollow();
    ring.push(flowN(2));
    assert.deepEqual(gone, ['f1']);
    assert.deepEqual(kept, ['f1', 'f2']);
  });

  it('lets a follower unfollow from inside its own callback', () => {
    const ring = new FlowRing(4);
    const seen: string[] = [];
    const unfollow = ring.follow((f) => {
      seen.push(f.uuid);
      unfollow();
    });
    ring.push(flowN(1));
    ring.push(flowN(2));
    assert.deepEqual(seen, ['f1']);
  });
});
