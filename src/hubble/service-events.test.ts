/** SERVICE_UPSERTED / SERVICE_DELETED from the load-balancer writes of one service change. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { K8sServiceModel } from '../api/types.js';
import type { ServiceDatapath } from '../service/datapath-port.js';
import type { LbFrontend } from '../service/lb-types.js';
import { LbWriteRecorder } from './service-events.js';

function fakeDatapath(failOn?: number): ServiceDatapath & { writes: string[] } {
  const writes: string[] = [];
  return {
    writes,
    syncService: (f) => {
      if (f.id === failOn) throw new Error(`map full at ${f.id}`);
      writes.push(`sync ${f.id}`);
      return { written: 1, deleted: 0 };
    },
    deleteService: (id) => { writes.push(`delete ${id}`); },
    realizedServices: () => [],
  };
}

const frontend = (id: number, vip: string, port: number): LbFrontend => ({
  id, vip, port, protocol: 6, algorithm: 'random', affinityTimeoutSec: 0,
  backends: [{ ip: '10.244.1.5', port: 80, state: 'active' }, { ip: '10.244.1.6', port: 80, state: 'terminating' }],
});

const svc = { namespace: 'default', name: 'deathstar', type: 'NodePort', clusterIP: '10.96.0.12' } as K8sServiceModel;

describe('LbWriteRecorder', () => {
  it('passes writes through and announces each frontend written, by id, with the service\'s name, then those removed', () => {
    const dp = fakeDatapath();
    const rec = new LbWriteRecorder();
    const tapped = rec.tap(dp);
    rec.record(() => {
      tapped.syncService(frontend(7, '192.168.1.1', 30080));
      tapped.syncService(frontend(3, '10.96.0.12', 80));
      tapped.deleteService(5);
    });
    assert.deepEqual(dp.writes, ['sync 7', 'sync 3', 'delete 5']);
    const events = rec.take('default', 'deathstar', svc);
    assert.deepEqual(events.map((e) => e.type), ['SERVICE_UPSERTED', 'SERVICE_UPSERTED', 'SERVICE_DELETED']);
    assert.deepEqual(events[0], {
      type: 'SERVICE_UPSERTED',
      service_upsert: {
        id: 3, frontend_address: { ip: '10.96.0.12', port: 80 },
        backend_addresses: [{ ip: '10.244.1.5', port: 80 }, { ip: '10.244.1.6', port: 80 }],
        type: 'ClusterIP', traffic_policy: 'Cluster', ext_traffic_policy: 'Cluster', int_traffic_policy: 'Cluster', name: 'deathstar', namespace: 'default',
      },
    });
    assert.equal(events[1]!.service_upsert!.type, 'NodePort', 'a frontend on a node address is the NodePort one');
    assert.deepEqual(events[2], { type: 'SERVICE_DELETED', service_delete: { id: 5 } });
    assert.deepEqual(rec.take('default', 'deathstar', svc), [], 'taken once');
  });

  it('forgets what a failed change wrote (the registry undid it) and what came before the change', () => {
    const rec = new LbWriteRecorder();
    const tapped = rec.tap(fakeDatapath(9));
    tapped.syncService(frontend(1, '10.96.0.1', 443)); // e.g. at start, outside any change
    assert.throws(() => rec.record(() => {
      tapped.syncService(frontend(2, '10.96.0.2', 80));
      tapped.syncService(frontend(9, '10.96.0.9', 80));
    }), /map full/);
    assert.deepEqual(rec.take('default', 'x'), []);
    rec.record(() => tapped.deleteService(2));
    assert.deepEqual(rec.take('default', 'x'), [{ type: 'SERVICE_DELETED', service_delete: { id: 2 } }]);
  });
});
