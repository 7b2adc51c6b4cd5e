import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ContainerPortModel } from '../api/types.js';
import type { EndpointSliceSpec, ServiceSpec } from './manifest.js';
import { podKey, resolveTargetPort, selects, serviceBackends, serviceModel, type BackendInputs } from './service-backends.js';
import type { EndpointSliceRecord, PodRecord, ServiceRecord } from './state.js';

function pod(name: string, ip: string, labels: Record<string, string>, containerPorts: ContainerPortModel[] = [], namespace = 'default'): PodRecord {
  return {
    namespace, name, uid: '00000000', netns: 'n', node: 't-node1', containerId: 'c', ip, labels, serviceAccount: 'default',
    containerPorts, container: { name: 'c', image: 'i', env: [], ports: containerPorts }, argv: [], createdAt: '2025-01-01T00:00:00Z',
  };
}

function service(name: string, spec: Partial<ServiceSpec> & { clusterIP: string }, namespace = 'default'): ServiceRecord {
  return {
    namespace, name, labels: { app: name }, object: {}, createdAt: '2025-01-01T00:00:00Z',
    spec: { type: 'ClusterIP', ports: [{ name: '', port: 80, protocol: 'TCP', targetPort: 80 }], affinityTimeoutSeconds: 0, algorithm: 'random', ...spec },
  };
}

function slice(name: string, spec: EndpointSliceSpec, namespace = 'default'): EndpointSliceRecord {
  return { namespace, name, labels: { 'kubernetes.io/service-name': spec.serviceName }, slice: spec, object: {}, createdAt: '2025-01-01T00:00:00Z' };
}

function inputs(pods: PodRecord[], opts: { notReady?: string[]; terminating?: string[]; slices?: EndpointSliceRecord[] } = {}): BackendInputs {
  return {
    pods, slices: opts.slices ?? [],
    isReady: (p) => !(opts.notReady ?? []).includes(p.name),
    terminating: new Set(opts.terminating ?? []),
  };
}

const deathstarSelector = { org: 'empire', class: 'deathstar' };
const deathstar = service('deathstar', { clusterIP: '10.96.1.5', selector: deathstarSelector });
const ds1 = pod('deathstar-1', '10.244.1.3', { ...deathstarSelector, 'pod-template-hash': 'x' });
const ds2 = pod('deathstar-2', '10.244.1.4', { ...deathstarSelector, 'pod-template-hash': 'x' });
const tiefighter = pod('tiefighter', '10.244.1.5', { org: 'empire', class: 'tiefighter' });

describe('service backends', () => {
  it('selects by every label of a non-empty selector; an empty one selects nothing', () => {
    assert.equal(selects(deathstarSelector, ds1.labels), true);
    assert.equal(selects(deathstarSelector, tiefighter.labels), false);
    assert.equal(selects({}, ds1.labels), false);
    assert.equal(selects(undefined, ds1.labels), false);
  });

  it('are the ready pods the selector picks in the service\'s namespace, sorted by address', () => {
    const other = pod('deathstar-x', '10.244.1.2', deathstarSelector, [], 'galaxy');
    const got = serviceBackends(deathstar, inputs([ds2, tiefighter, ds1, other]));
    assert.deepEqual(got, [
      { ip: '10.244.1.3', ports: { '': 80 }, pod: { namespace: 'default', name: 'deathstar-1' } },
      { ip: '10.244.1.4', ports: { '': 80 }, pod: { namespace: 'default', name: 'deathstar-2' } },
    ]);
    assert.deepEqual(serviceBackends(deathstar, inputs([ds1, ds2], { notReady: ['deathstar-2'] })).map((b) => b.ip), ['10.244.1.3']);
  });

  it('follows labels: a relabelled pod leaves, a newly matching one joins', () => {
    const relabelled = { ...ds2, labels: { org: 'alliance', class: 'deathstar' } };
    assert.deepEqual(serviceBackends(deathstar, inputs([ds1, relabelled])).map((b) => b.pod?.name), ['deathstar-1']);
    const joined = { ...tiefighter, labels: { ...tiefighter.labels, class: 'deathstar' } };
    assert.deepEqual(serviceBackends(deathstar, inputs([ds1, joined])).map((b) => b.pod?.name), ['deathstar-1', 'tiefighter']);
  });

  it('marks a pod being deleted terminating', () => {
    const got = serviceBackends(deathstar, inputs([ds1, ds2], { terminating: [podKey(ds1)] }));
    assert.deepEqual(got.map((b) => [b.pod?.name, b.terminating ?? false]), [['deathstar-1', true], ['deathstar-2', false]]);
  });

  it('resolves a named targetPort per pod, by name and protocol; a pod without it is no backend for that port', () => {
    const web = service('web', {
      clusterIP: '10.96.1.6', selector: { app: 'web' },
      ports: [
        { name: 'http', port: 80, protocol: 'TCP', targetPort: 'web' },
        { name: 'metrics', port: 9090, protocol: 'TCP', targetPort: 9100 },
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 'web' },
      ],
    });
    const a = pod('a', '10.244.1.10', { app: 'web' }, [{ name: 'web', containerPort: 8080, protocol: 'TCP' }]);
    const b = pod('b', '10.244.1.11', { app: 'web' }, [{ name: 'web', containerPort: 8081, protocol: 'TCP' }, { name: 'web', containerPort: 5353, protocol: 'UDP' }]);
    const c = pod('c', '10.244.1.12', { app: 'web' });
    assert.equal(resolveTargetPort(web.spec.ports[0]!, a), 8080);
    assert.equal(resolveTargetPort(web.spec.ports[2]!, a), undefined);
    assert.deepEqual(serviceBackends(web, inputs([a, b, c])).map((x) => [x.pod?.name, x.ports]), [
      ['a', { http: 8080, metrics: 9100 }],
      ['b', { http: 8081, metrics: 9100, dns: 5353 }],
      ['c', { metrics: 9100 }],
    ]);
    const onlyNamed = { ...web, spec: { ...web.spec, ports: [web.spec.ports[0]!] } };
    assert.deepEqual(serviceBackends(onlyNamed, inputs([a, c])).map((x) => x.pod?.name), ['a'], 'a pod with none of the ports is left out');
  });

  it('come from the EndpointSlices of a service without a selector: ready ones, terminating-and-serving ones, ports by name', () => {
    const ext = service('ext', { clusterIP: '10.96.1.7', ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 80 }] });
    const s1 = slice('ext-1', {
      serviceName: 'ext', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'other', port: 1, protocol: 'TCP' }],
      endpoints: [
        { addresses: ['10.244.1.21'], ready: true, serving: true, terminating: false, pod: { namespace: 'default', name: 'x' } },
        { addresses: ['10.244.1.22'], ready: false, serving: true, terminating: true },
        { addresses: ['10.244.1.23'], ready: false, serving: false, terminating: false },
      ],
    });
    const s2 = slice('ext-2', { serviceName: 'ext', ports: [{ name: 'http', port: 9090, protocol: 'TCP' }], endpoints: [{ addresses: ['10.244.1.20'], ready: true, serving: true, terminating: false }] });
    const elsewhere = slice('ext-3', { serviceName: 'ext', ports: [{ name: 'http', port: 1, protocol: 'TCP' }], endpoints: [{ addresses: ['10.244.1.99'], ready: true, serving: true, terminating: false }] }, 'galaxy');
    const wrongPort = slice('ext-4', { serviceName: 'ext', ports: [{ name: 'grpc', port: 1, protocol: 'TCP' }], endpoints: [{ addresses: ['10.244.1.98'], ready: true, serving: true, terminating: false }] });
    assert.deepEqual(serviceBackends(ext, inputs([], { slices: [s1, s2, elsewhere, wrongPort] })), [
      { ip: '10.244.1.20', ports: { http: 9090 } },
      { ip: '10.244.1.21', ports: { http: 8080 }, pod: { namespace: 'default', name: 'x' } },
      { ip: '10.244.1.22', ports: { http: 8080 }, terminating: true },
    ]);
  });

  it('make the model the agents get: one per service with a ClusterIP, none for a headless one', () => {
    const affinity = { ...deathstar, spec: { ...deathstar.spec, affinityTimeoutSeconds: 30, algorithm: 'maglev' as const } };
    assert.deepEqual(serviceModel(affinity, inputs([ds1])), {
      namespace: 'default', name: 'deathstar', type: 'ClusterIP', clusterIP: '10.96.1.5',
      ports: [{ name: '', port: 80, protocol: 'TCP' }], algorithm: 'maglev', labels: { app: 'deathstar' }, sessionAffinityTimeoutSeconds: 30,
      selector: { class: 'deathstar', org: 'empire' },
      backends: [{ ip: '10.244.1.3', ports: { '': 80 }, pod: { namespace: 'default', name: 'deathstar-1' } }],
    });
    const np = service('np', { type: 'NodePort', clusterIP: '10.96.1.8', ports: [{ name: '', port: 80, protocol: 'TCP', targetPort: 80, nodePort: 30080 }] });
    assert.deepEqual(serviceModel(np, inputs([]))?.ports, [{ name: '', port: 80, protocol: 'TCP', nodePort: 30080 }]);
    assert.equal(serviceModel(service('db', { clusterIP: 'None', selector: { app: 'db' } }), inputs([])), undefined);
  });

  it('leaves out of an SCTP port a pod whose named targetPort is another port (the agents do not translate SCTP ports)', () => {
    const svc = service('assoc', {
      clusterIP: '10.96.0.20', selector: { app: 'assoc' },
      ports: [{ name: 'diameter', port: 3868, protocol: 'SCTP', targetPort: 'diameter' }],
    });
    const same = pod('same', '10.244.1.5', { app: 'assoc' }, [{ name: 'diameter', containerPort: 3868, protocol: 'SCTP' }]);
    const other = pod('other', '10.244.1.6', { app: 'assoc' }, [{ name: 'diameter', containerPort: 3869, protocol: 'SCTP' }]);
    assert.deepEqual(serviceBackends(svc, inputs([same, other])).map((b) => b.ip), ['10.244.1.5']);
    const fromSlice = slice('assoc-1', {
      serviceName: 'assoc', ports: [{ name: 'diameter', port: 3869, protocol: 'SCTP' }],
      endpoints: [{ addresses: ['10.244.1.9'], ready: true, serving: true, terminating: false }],
    });
    assert.deepEqual(serviceBackends({ ...svc, spec: { ...svc.spec, selector: undefined } }, inputs([], { slices: [fromSlice] })), []);
    // A headless service is DNS only: both pods are its backends, each on its own port.
    const headless = serviceBackends({ ...svc, spec: { ...svc.spec, clusterIP: 'None' } }, inputs([same, other]));
    assert.deepEqual(headless.map((b) => [b.ip, b.ports['diameter']]), [['10.244.1.5', 3868], ['10.244.1.6', 3869]]);
  });
});
