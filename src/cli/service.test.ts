/**
 * `membrane service list` prints Cilium's table (cilium-semantics.md §7):
 * `ID  Frontend  Service Type  Backend`, the first backend on the row, the
 * others one per line under Backend, numbered `1 => ip:port/PROTO (state)`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServiceFrontendModel } from '../api/types.js';
import { formatServiceList } from './service.js';

function frontend(id: number, ip: string, port: number, protocol: 'TCP' | 'UDP', type: 'ClusterIP' | 'NodePort',
  backends: [string, number, 'active' | 'terminating'][]): ServiceFrontendModel {
  return {
    id, frontend: { ip, port, protocol }, type, service: { namespace: 'default', name: 'svc', portName: '' }, algorithm: 'random', affinityTimeoutSeconds: 0,
    backends: backends.map(([bip, bport, state], i) => ({ id: i + 1, ip: bip, port: bport, protocol, state })),
  };
}

describe('formatServiceList', () => {
  it('prints Cilium\'s example row', () => {
    assert.equal(formatServiceList([frontend(1, '10.96.0.1', 443, 'TCP', 'ClusterIP', [['172.18.0.3', 6443, 'active']])]), [
      'ID   Frontend            Service Type   Backend',
      '1    10.96.0.1:443/TCP   ClusterIP      1 => 172.18.0.3:6443/TCP (active)',
      '',
    ].join('\n'));
  });

  it('puts every further backend on a line of its own under Backend, numbered, with its state', () => {
    const out = formatServiceList([
      frontend(1, '10.96.0.10', 53, 'UDP', 'ClusterIP', [['10.244.1.5', 53, 'active'], ['10.244.1.6', 53, 'active']]),
      frontend(2, '10.96.0.12', 80, 'TCP', 'ClusterIP', [['10.244.1.20', 80, 'active'], ['10.244.1.21', 80, 'terminating'], ['10.244.1.22', 80, 'active']]),
      frontend(12, '192.168.50.2', 30080, 'TCP', 'NodePort', [['10.244.1.20', 80, 'active']]),
    ]);
    assert.equal(out, [
      'ID   Frontend                 Service Type   Backend',
      '1    10.96.0.10:53/UDP        ClusterIP      1 => 10.244.1.5:53/UDP (active)',
      '                                             2 => 10.244.1.6:53/UDP (active)',
      '2    10.96.0.12:80/TCP        ClusterIP      1 => 10.244.1.20:80/TCP (active)',
      '                                             2 => 10.244.1.21:80/TCP (terminating)',
      '                                             3 => 10.244.1.22:80/TCP (active)',
      '12   192.168.50.2:30080/TCP   NodePort       1 => 10.244.1.20:80/TCP (active)',
      '',
    ].join('\n'));
  });

  it('leaves Backend empty for a frontend without backends, and prints only the header for none', () => {
    assert.equal(formatServiceList([frontend(3, '10.96.0.30', 80, 'TCP', 'ClusterIP', [])]), [
      'ID   Frontend            Service Type   Backend',
      '3    10.96.0.30:80/TCP   ClusterIP',
      '',
    ].join('\n'));
    assert.equal(formatServiceList([]), 'ID   Frontend   Service Type   Backend\n');
  });
});
