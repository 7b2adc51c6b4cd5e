import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatAge, formatPods, formatServices, formatStatus, formatTable, podsJson } from './format.js';
import type { LabStatus, PodView } from './lab.js';
import type { ServiceView } from './service-view.js';

const view: PodView = {
  namespace: 'default', name: 'xwing', ready: true, status: 'Running', ip: '10.244.1.7', node: 'starwars-node1',
  identity: 22654, labels: { org: 'alliance', class: 'xwing' }, pid: 42, containerId: 'c', netns: 'mbr-starwars-0a1b2c3d',
  createdAt: '2025-01-01T00:00:00.000Z',
};

describe('lab output', () => {
  it('aligns columns three spaces apart, as kubectl does', () => {
    assert.equal(formatTable(['NAME', 'STATUS'], [['a', 'Running'], ['longer', 'Failed']]), 'NAME     STATUS\na        Running\nlonger   Failed\n');
  });

  it('prints pods with READY, STATUS, IP, NODE and IDENTITY, and NAMESPACE only for -A', () => {
    const text = formatPods([view, { ...view, name: 'tiefighter', ready: false, identity: undefined }], { allNamespaces: false, wide: false });
    assert.deepEqual(text.split('\n')[0]!.split(/\s+/), ['NAME', 'READY', 'STATUS', 'IP', 'NODE', 'IDENTITY']);
    assert.match(text, /^xwing\s+1\/1\s+Running\s+10\.244\.1\.7\s+starwars-node1\s+22654$/m);
    assert.match(text, /^tiefighter\s+0\/1\s+Running\s+10\.244\.1\.7\s+starwars-node1\s+<none>$/m);
    assert.match(formatPods([view], { allNamespaces: true, wide: false }), /^NAMESPACE\s+NAME/);
    assert.match(formatPods([view], { allNamespaces: false, wide: true, now: Date.parse(view.createdAt) + 5000 }), /5s\s+42\s+class=xwing,org=alliance$/m);
  });

  it('prints pods as JSON with namespace, name, ip, node, identity, status and labels', () => {
    const [p] = JSON.parse(podsJson([view])) as Record<string, unknown>[];
    assert.deepEqual(
      { namespace: p!['namespace'], name: p!['name'], ip: p!['ip'], node: p!['node'], identity: p!['identity'], status: p!['status'], labels: p!['labels'] },
      { namespace: 'default', name: 'xwing', ip: '10.244.1.7', node: 'starwars-node1', identity: 22654, status: 'Running', labels: view.labels },
    );
  });

  it("shows the world's addresses in the status, and says when its server is not running", () => {
    const status: LabStatus = {
      name: 'starwars', dir: '/var/run/membrane/lab/starwars', up: true, pods: { total: 0, running: 0 }, namespaces: 1, policies: 0, services: 1,
      nodes: [{ name: 'starwars-node1', netns: 'mbr-starwars-node1', podCIDR: '10.244.1.0/24', socket: 's', agentPid: 7, agentRunning: true, healthy: true }],
      world: { netns: 'mbr-starwars-world', node: 'starwars-node1', addresses: ['198.51.100.10', '203.0.113.10'], pids: [9, 10], running: true },
    };
    assert.match(formatStatus(status), /^World:\s+198\.51\.100\.10 203\.0\.113\.10 \(netns mbr-starwars-world, via starwars-node1; serve pids 9 10\)$/m);
    assert.match(formatStatus({ ...status, world: { ...status.world!, running: false } }), /^World:.*NOT all its servers run/m);
  });

  it('prints services as kubectl does: PORT(S) with node ports, <none> for EXTERNAL-IP, SELECTOR when wide', () => {
    const now = Date.parse('2024-01-01T00:10:00Z');
    const svc = (name: string, over: Partial<ServiceView>): ServiceView => ({
      namespace: 'default', name, type: 'ClusterIP', clusterIP: '10.96.0.12', ports: '80/TCP', sessionAffinity: 'None', algorithm: 'random',
      labels: {}, createdAt: '2024-01-01T00:00:00Z', backends: [], ...over,
    });
    const list = [
      svc('deathstar', { selector: 'class=deathstar,org=empire' }),
      svc('kube-dns', { namespace: 'kube-system', clusterIP: '10.96.0.10', ports: '53/UDP,53/TCP', selector: 'k8s-app=kube-dns' }),
      svc('outside', { type: 'NodePort', ports: '80:30080/TCP' }),
    ];
    assert.equal(formatServices(list, { allNamespaces: false, wide: false, now }), [
      'NAME        TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)         AGE',
      'deathstar   ClusterIP   10.96.0.12   <none>        80/TCP          10m',
      'kube-dns    ClusterIP   10.96.0.10   <none>        53/UDP,53/TCP   10m',
      'outside     NodePort    10.96.0.12   <none>        80:30080/TCP    10m',
      '',
    ].join('\n'));
    const wide = formatServices(list, { allNamespaces: true, wide: true, now });
    assert.match(wide, /^NAMESPACE\s+NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE\s+SELECTOR$/m);
    assert.match(wide, /^kube-system\s+kube-dns\s.*\sk8s-app=kube-dns$/m);
    assert.match(wide, /^default\s+outside\s.*\s<none>$/m);
  });

  it('shortens ages as kubectl does', () => {
    assert.equal(formatAge(42_000), '42s');
    assert.equal(formatAge(5 * 60_000 + 12_000), '5m12s');
    assert.equal(formatAge(42 * 60_000), '42m');
    assert.equal(formatAge(3 * 3600_000 + 20 * 60_000), '3h20m');
    assert.equal(formatAge(50 * 3600_000), '2d2h');
  });
});
