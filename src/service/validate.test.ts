/**
 * validateK8sService: a bad service is refused with the path of the field
 * at fault; a good one comes back normalized.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MembraneError } from '../common/errors.js';
import { validateK8sService } from './validate.js';

const GOOD = {
  namespace: 'default', name: 'deathstar', type: 'ClusterIP', clusterIP: '10.96.0.12',
  ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
  backends: [{ ip: '10.244.1.20', ports: { http: 80 }, pod: { namespace: 'default', name: 'deathstar-a' } }],
};

function refused(body: unknown, where?: { namespace: string; name: string }): MembraneError {
  try {
    validateK8sService(body, where);
  } catch (err) {
    assert.ok(err instanceof MembraneError);
    assert.equal(err.code, 'EINVAL');
    return err;
  }
  assert.fail('expected the service to be refused');
}

const edit = (f: (s: typeof GOOD & Record<string, unknown>) => void) => {
  const s = structuredClone(GOOD) as typeof GOOD & Record<string, unknown>;
  f(s);
  return s;
};

describe('validateK8sService', () => {
  it('accepts a service and fills in defaults (type, protocol, unnamed single port)', () => {
    assert.deepEqual(validateK8sService(GOOD), GOOD);
    const minimal = validateK8sService({ clusterIP: '10.96.0.10', ports: [{ port: 53, protocol: 'UDP' }], backends: [{ ip: '10.244.1.5', ports: { '': 53 } }] },
      { namespace: 'kube-system', name: 'kube-dns' });
    assert.deepEqual(minimal, {
      namespace: 'kube-system', name: 'kube-dns', type: 'ClusterIP', clusterIP: '10.96.0.10',
      ports: [{ name: '', port: 53, protocol: 'UDP' }], backends: [{ ip: '10.244.1.5', ports: { '': 53 } }],
    });
    assert.equal(validateK8sService({ ...GOOD, ports: [{ name: 'http', port: 80 }] }).ports[0]!.protocol, 'TCP');
  });

  const cases: [string, unknown, string, RegExp][] = [
    ['a body that is no object', [], '', /JSON object/],
    ['a bad namespace', { ...GOOD, namespace: 'Default' }, 'namespace', /not a valid namespace name/],
    ['a name starting with a digit', { ...GOOD, name: '1deathstar' }, 'name', /DNS-1035/],
    ['an unknown type', { ...GOOD, type: 'LoadBalancer' }, 'type', /not ClusterIP or NodePort/],
    ['a bad cluster IP', { ...GOOD, clusterIP: '10.96.0.256' }, 'clusterIP', /not an IPv4 address/],
    ['a headless service', { ...GOOD, clusterIP: 'None' }, 'clusterIP', /headless/],
    ['an unspecified cluster IP', { ...GOOD, clusterIP: '0.0.0.0' }, 'clusterIP', /cannot be a service/],
    ['no ports', { ...GOOD, ports: [] }, 'ports', /non-empty list/],
    ['a port out of range', edit((s) => { s.ports[0]!.port = 65536; }), 'ports[0].port', /not a port/],
    ['a port that is no integer', edit((s) => { (s.ports[0] as Record<string, unknown>)['port'] = '80'; }), 'ports[0].port', /not a port/],
    ['an unknown protocol', edit((s) => { s.ports[0]!.protocol = 'ICMP'; }), 'ports[0].protocol', /not TCP, UDP or SCTP/],
    ['duplicate port names', edit((s) => { s.ports.push({ name: 'http', port: 81, protocol: 'TCP' }); }), 'ports[1].name', /also the name of ports\[0\]/],
    ['duplicate port and protocol', edit((s) => { s.ports.push({ name: 'web', port: 80, protocol: 'TCP' }); }), 'ports[1].port', /80\/TCP is also ports\[0\]/],
    ['an unnamed port among several', edit((s) => { s.ports.push({ name: '', port: 81, protocol: 'TCP' }); }), 'ports[1].name', /required when a service has more than one port/],
    ['a bad port name', edit((s) => { s.ports[0]!.name = 'HTTP'; }), 'ports[0].name', /not a valid port name/],
    ['a nodePort on a ClusterIP service', edit((s) => { (s.ports[0] as Record<string, unknown>)['nodePort'] = 30080; }), 'ports[0].nodePort', /only a NodePort service/],
    ['a NodePort service without nodePort', { ...GOOD, type: 'NodePort' }, 'ports[0].nodePort', /required for a NodePort service/],
    ['a backend with a bad address', edit((s) => { s.backends[0]!.ip = 'ten'; }), 'backends[0].ip', /not an IPv4 address/],
    ['a backend listed twice', edit((s) => { s.backends.push({ ...s.backends[0]! }); }), 'backends[1].ip', /also backends\[0\]/],
    ['a backend port name the service lacks', edit((s) => { (s.backends[0]!.ports as Record<string, number>)['https'] = 443; }), 'backends[0].ports.https', /not the name of a service port \("http"\)/],
    ['a backend port out of range', edit((s) => { s.backends[0]!.ports.http = 0; }), 'backends[0].ports.http', /not a port/],
    ['a backend without ports', edit((s) => { (s.backends[0] as Record<string, unknown>)['ports'] = [80]; }), 'backends[0].ports', /must map service port names/],
    ['a bad terminating flag', edit((s) => { (s.backends[0] as Record<string, unknown>)['terminating'] = 'yes'; }), 'backends[0].terminating', /true or false/],
    ['a bad backend pod name', edit((s) => { s.backends[0]!.pod.name = 'Pod_A'; }), 'backends[0].pod.name', /not a valid pod name/],
    ['an affinity timeout out of range', { ...GOOD, sessionAffinityTimeoutSeconds: 86401 }, 'sessionAffinityTimeoutSeconds', /between 1 and 86400/],
    ['an unknown algorithm', { ...GOOD, algorithm: 'round-robin' }, 'algorithm', /not random or maglev/],
    ['an SCTP backend on another port', { ...GOOD, ports: [{ name: 'x', port: 9000, protocol: 'SCTP' }], backends: [{ ip: '10.244.1.20', ports: { x: 9001 } }] },
      'backends[0].ports.x', /SCTP backends must use the service port 9000/],
    ['bad labels', { ...GOOD, labels: { 'a b': 'x' } }, 'labels.a b', /not a valid label key/],
  ];
  for (const [what, body, path, message] of cases) {
    it(`refuses ${what}, naming ${path || 'the body'}`, () => {
      const err = refused(body);
      assert.equal(err.path, path);
      assert.match(err.message, message);
    });
  }

  it('refuses a body that contradicts the path', () => {
    const err = refused(GOOD, { namespace: 'default', name: 'other' });
    assert.equal(err.path, 'name');
    assert.match(err.message, /contradicts the path/);
  });
});
