import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MembraneError } from '../common/errors.js';
import { parseManifests, type ServiceObject } from './manifest.js';
import {
  allocateClusterIP, allocateNodePort, checkRequestedClusterIP, clusterDnsIP, formatIPv4, kubernetesServiceIP, parseCidr, parseIPv4,
} from './service-ip.js';
import { planServices } from './service-plan.js';
import { emptyState, type LabState, type ServiceRecord } from './state.js';

const cidr = parseCidr('10.96.0.0/12');
const first = () => 0;

function svc(name: string, spec: string, namespace = 'default'): string {
  return `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec:\n${spec}\n---\n`;
}

function record(name: string, clusterIP: string, nodePorts: number[] = []): ServiceRecord {
  return {
    namespace: 'default', name, labels: {}, object: {}, createdAt: '2025-01-01T00:00:00Z',
    spec: {
      type: nodePorts.length > 0 ? 'NodePort' : 'ClusterIP', clusterIP, affinityTimeoutSeconds: 0, algorithm: 'random',
      ports: nodePorts.length > 0
        ? nodePorts.map((n, i) => ({ name: `p${i}`, port: 80 + i, protocol: 'TCP' as const, targetPort: 80, nodePort: n }))
        : [{ name: '', port: 80, protocol: 'TCP', targetPort: 80 }],
    },
  };
}

function stateWith(...services: ServiceRecord[]): LabState {
  const s = emptyState('t');
  s.services.push(...services);
  return s;
}

function plan(text: string, state: LabState, rand: (n: number) => number = first) {
  const objects = parseManifests(text);
  const specs = planServices(objects, state, rand);
  return (name: string) => specs.get(objects.find((o) => o.name === name) as ServiceObject)!;
}

function refusal(fn: () => unknown): MembraneError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MembraneError, String(err));
    return err;
  }
  assert.fail('expected a refusal');
}

describe('service addresses', () => {
  it('parses and prints IPv4 addresses, refusing leading zeros and octets above 255', () => {
    assert.equal(formatIPv4(parseIPv4('10.96.0.10')!), '10.96.0.10');
    assert.equal(parseIPv4('10.96.0.256'), undefined);
    assert.equal(parseIPv4('10.96.0.010'), undefined);
    assert.equal(parseIPv4('10.96.0'), undefined);
  });

  it('reserves 10.96.0.1 for the kubernetes service and puts cluster DNS at 10.96.0.10', () => {
    assert.equal(kubernetesServiceIP(cidr), '10.96.0.1');
    assert.equal(clusterDnsIP(cidr), '10.96.0.10');
    assert.match(refusal(() => checkRequestedClusterIP(cidr, '10.96.0.1', new Set(), 'spec.clusterIP')).message, /reserved for the kubernetes API service/);
    assert.match(refusal(() => checkRequestedClusterIP(cidr, '10.96.0.0', new Set(), 'spec.clusterIP')).message, /network address/);
    assert.match(refusal(() => checkRequestedClusterIP(cidr, '10.111.255.255', new Set(), 'spec.clusterIP')).message, /broadcast address/);
  });

  it('allocates dynamic addresses above the low band (256 addresses of a /12), at random', () => {
    assert.equal(allocateClusterIP(cidr, new Set(), first), '10.96.1.0');
    assert.equal(allocateClusterIP(cidr, new Set(['10.96.1.0']), first), '10.96.1.1');
    const ip = parseIPv4(allocateClusterIP(cidr, new Set(), (n) => n - 1))!;
    assert.equal(formatIPv4(ip), '10.111.255.254', 'never the broadcast address');
  });

  it('falls back to the low band when the rest is full, skipping the reserved addresses', () => {
    const small = parseCidr('10.0.0.0/28'); // 16 addresses, all of them the low band
    const taken = new Set<string>();
    const got: string[] = [];
    for (let i = 0; i < 13; i++) {
      const ip = allocateClusterIP(small, taken, first);
      taken.add(ip);
      got.push(ip);
    }
    assert.equal(got[0], '10.0.0.2');
    assert.ok(!got.includes('10.0.0.1') && !got.includes('10.0.0.15') && !got.includes('10.0.0.0'));
    assert.match(refusal(() => allocateClusterIP(small, taken, first)).message, /no free address left/);
  });

  it('allocates NodePorts from 30000-32767, skipping taken ones', () => {
    assert.equal(allocateNodePort(new Set([30000, 30001]), first), 30002);
    assert.equal(allocateNodePort(new Set([32767]), (n) => n - 1), 30000);
  });
});

describe('planServices', () => {
  it('gives each new service a free ClusterIP and keeps an asked-for one', () => {
    const get = plan(svc('a', '  ports: [{port: 80}]') + svc('b', '  clusterIP: 10.96.1.0\n  ports: [{port: 80}]'), stateWith(record('kube-dns', '10.96.0.10')));
    assert.equal(get('b').clusterIP, '10.96.1.0');
    assert.equal(get('a').clusterIP, '10.96.1.1', 'a later document\'s asked-for address is not given away');
  });

  it('keeps the ClusterIP of a service applied again, and refuses to change it', () => {
    const state = stateWith(record('a', '10.97.3.4'));
    assert.equal(plan(svc('a', '  ports: [{port: 8080}]'), state)('a').clusterIP, '10.97.3.4');
    assert.equal(plan(svc('a', '  clusterIP: 10.97.3.4\n  ports: [{port: 80}]'), state)('a').clusterIP, '10.97.3.4');
    const err = refusal(() => plan(svc('a', '  clusterIP: 10.97.3.5\n  ports: [{port: 80}]'), state));
    assert.equal(err.path, 'spec.clusterIP');
    assert.match(err.message, /^document 1 \(Service "a"\): spec\.clusterIP: field is immutable/);
  });

  it('refuses an address outside the service CIDR or already allocated, naming spec.clusterIP', () => {
    const state = stateWith(record('kube-dns', '10.96.0.10'));
    const outside = refusal(() => plan(svc('a', '  clusterIP: 10.0.0.5\n  ports: [{port: 80}]'), state));
    assert.equal(outside.path, 'spec.clusterIP');
    assert.match(outside.message, /not in the valid range\. The range of valid IPs is 10\.96\.0\.0\/12/);
    assert.match(refusal(() => plan(svc('a', '  clusterIP: 10.96.0.10\n  ports: [{port: 80}]'), state)).message, /already allocated/);
    assert.match(refusal(() => plan(svc('a', '  clusterIP: 10.96.2.2\n  ports: [{port: 80}]') + svc('b', '  clusterIP: 10.96.2.2\n  ports: [{port: 80}]'), state)).message,
      /document 2 \(Service "b"\).*already allocated/);
  });

  it('frees nothing and takes nothing for a headless service', () => {
    const get = plan(svc('db', '  clusterIP: None\n  selector: {app: db}'), stateWith());
    assert.equal(get('db').clusterIP, 'None');
  });

  it('allocates NodePorts, keeps them when applied again, and refuses a taken one', () => {
    const state = stateWith(record('other', '10.96.1.0', [30000]));
    const get = plan(svc('np', '  type: NodePort\n  ports: [{name: a, port: 80}, {name: b, port: 81, nodePort: 30001}]'), state);
    assert.deepEqual(get('np').ports.map((p) => p.nodePort), [30002, 30001]);
    state.services.push({ ...record('np', '10.96.1.1'), spec: get('np') });
    const again = plan(svc('np', '  type: NodePort\n  ports: [{name: a, port: 80}, {name: b, port: 81}]'), state, (n) => n - 1);
    assert.deepEqual(again('np').ports.map((p) => p.nodePort), [30002, 30001]);
    const taken = refusal(() => plan(svc('np2', '  type: NodePort\n  ports: [{port: 80, nodePort: 30000}]'), state));
    assert.equal(taken.path, 'spec.ports[0].nodePort');
    assert.match(taken.message, /already allocated/);
  });
});
