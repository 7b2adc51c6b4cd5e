import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDnsRecords } from '../workload/dns-records.js';
import { clusterDnsObjects, dnsRecords, podResolvConf } from './cluster-dns.js';
import type { DeploymentObject, ServiceObject } from './manifest.js';
import { podCommand } from './pod-command.js';
import { emptyState, type LabState } from './state.js';

function state(): LabState {
  const s = emptyState('t');
  s.serviceCIDR = '10.96.0.0/12';
  return s;
}

describe('cluster DNS', () => {
  it('is a kube-system coredns Deployment (k8s-app=kube-dns) and the kube-dns Service at 10.96.0.10, 53/UDP and 53/TCP', () => {
    const objects = clusterDnsObjects(state(), '/var/run/membrane/lab/t/dns-records.json');
    assert.deepEqual(objects.map((o) => `${o.kind}/${'namespace' in o ? o.namespace : ''}/${o.name}`),
      ['Namespace//kube-system', 'Deployment/kube-system/coredns', 'Service/kube-system/kube-dns']);
    const deploy = objects[1] as DeploymentObject;
    assert.deepEqual(deploy.template.labels, { 'k8s-app': 'kube-dns' });
    const cmd = podCommand(deploy.template.spec.container);
    assert.deepEqual(cmd.argv.slice(0, 6), ['membrane', 'workload', 'dns', '--records', '/var/run/membrane/lab/t/dns-records.json', '--listen']);
    assert.equal(cmd.readinessPort, 53, 'ready once it listens on TCP 53');
    const svc = objects[2] as ServiceObject;
    assert.equal(svc.spec.clusterIP, '10.96.0.10');
    assert.deepEqual(svc.spec.selector, { 'k8s-app': 'kube-dns' });
    assert.deepEqual(svc.spec.ports.map((p) => `${p.name} ${p.port}/${p.protocol} -> ${p.targetPort}`), ['dns 53/UDP -> dns', 'dns-tcp 53/TCP -> dns-tcp']);
  });

  it('writes records of every service and every pod, sorted, in the format the server reads', () => {
    const s = state();
    const spec = (clusterIP: string) => ({
      type: 'ClusterIP' as const, clusterIP, affinityTimeoutSeconds: 0, algorithm: 'random' as const,
      ports: [{ name: 'http', port: 80, protocol: 'TCP' as const, targetPort: 8080 }],
    });
    s.services.push(
      { namespace: 'kube-system', name: 'kube-dns', labels: {}, object: {}, createdAt: '', spec: spec('10.96.0.10') },
      { namespace: 'default', name: 'deathstar', labels: {}, object: {}, createdAt: '', spec: spec('10.96.1.5') },
      { namespace: 'default', name: 'db', labels: {}, object: {}, createdAt: '', spec: { ...spec('None'), ports: [] } },
    );
    s.pods.push({
      namespace: 'default', name: 'tiefighter', uid: '0', netns: 'n', node: 'n1', containerId: 'c', ip: '10.244.1.5', labels: {},
      serviceAccount: 'default', containerPorts: [], container: { name: 'c', image: 'i', env: [], ports: [] }, argv: [], createdAt: '',
    });
    const records = dnsRecords(s, { pods: s.pods, slices: [], isReady: () => true });
    assert.deepEqual(records, {
      domain: 'cluster.local',
      services: [
        { namespace: 'default', name: 'db', clusterIP: 'None', ports: [], endpoints: [] },
        { namespace: 'default', name: 'deathstar', clusterIP: '10.96.1.5', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
        { namespace: 'kube-system', name: 'kube-dns', clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
      ],
      pods: [{ namespace: 'default', name: 'tiefighter', ip: '10.244.1.5' }],
    });
    assert.deepEqual(parseDnsRecords(records), records);
  });

  it('lists the ready backends of a headless service, their ports resolved, leaving out unready and terminating pods', () => {
    const s = state();
    s.services.push({
      namespace: 'default', name: 'db', labels: {}, object: {}, createdAt: '',
      spec: {
        type: 'ClusterIP', clusterIP: 'None', affinityTimeoutSeconds: 0, algorithm: 'random', selector: { app: 'db' },
        ports: [{ name: 'sql', port: 5432, protocol: 'TCP', targetPort: 'pg' }],
      },
    });
    const pod = (name: string, ip: string) => ({
      namespace: 'default', name, uid: '0', netns: 'n', node: 'n1', containerId: 'c', ip, labels: { app: 'db' }, serviceAccount: 'default',
      containerPorts: [{ name: 'pg', containerPort: 6432, protocol: 'TCP' as const }], container: { name: 'c', image: 'i', env: [], ports: [] }, argv: [], createdAt: '',
    });
    s.pods.push(pod('db-1', '10.244.1.7'), pod('db-0', '10.244.1.6'), pod('db-2', '10.244.1.8'), pod('db-3', '10.244.1.9'));
    const records = dnsRecords(s, {
      pods: s.pods, slices: [], isReady: (p) => p.name !== 'db-2', terminating: new Set(['default/db-3']),
    });
    assert.deepEqual(records.services, [{
      namespace: 'default', name: 'db', clusterIP: 'None', ports: [{ name: 'sql', port: 5432, protocol: 'TCP' }],
      endpoints: [{ ip: '10.244.1.6', ports: { sql: 6432 } }, { ip: '10.244.1.7', ports: { sql: 6432 } }],
    }]);
    assert.deepEqual(parseDnsRecords(records), records);
  });

  it("gives pods the cluster DNS server and their namespace's search list", () => {
    assert.equal(podResolvConf(state(), 'galaxy'),
      'nameserver 10.96.0.10\nsearch galaxy.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n');
  });
});
