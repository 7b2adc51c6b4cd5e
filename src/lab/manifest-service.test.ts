import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MembraneError } from '../common/errors.js';
import { parseManifests, type EndpointSliceObject, type ServiceObject } from './manifest.js';

function service(spec: string, meta = ''): string {
  return `apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n${meta}spec:\n${spec}`;
}

function parseService(spec: string, meta = ''): ServiceObject {
  const [o] = parseManifests(service(spec, meta));
  assert.equal(o?.kind, 'Service');
  return o as ServiceObject;
}

/** The error of a manifest that must be refused: its path and message. */
function refusal(text: string): { path: string; message: string } {
  try {
    parseManifests(text);
  } catch (err) {
    assert.ok(err instanceof MembraneError, String(err));
    assert.equal(err.code, 'EINVAL');
    return { path: err.path ?? '', message: err.message };
  }
  assert.fail('expected the manifest to be refused');
}

const slice = (body: string, labels = '    kubernetes.io/service-name: web\n') =>
  `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-1\n  labels:\n${labels}${body}`;

describe('Service manifests', () => {
  it('reads the deathstar Service: ClusterIP by default, TCP, targetPort = port, random, no affinity', () => {
    const o = parseService('  ports:\n  - port: 80\n  selector: {org: empire, class: deathstar}\n');
    assert.deepEqual(o.spec, {
      type: 'ClusterIP', selector: { org: 'empire', class: 'deathstar' },
      ports: [{ name: '', port: 80, protocol: 'TCP', targetPort: 80 }], affinityTimeoutSeconds: 0, algorithm: 'random',
    });
    assert.equal(o.namespace, 'default');
  });

  it('reads named and numbered targetPorts, UDP and SCTP, a quoted number as a number', () => {
    const o = parseService(`  selector: {app: dns}
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: dns}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: "5353"}
  - {name: sctp, port: 9, protocol: SCTP, targetPort: 9}
`);
    assert.deepEqual(o.spec.ports.map((p) => [p.name, p.protocol, p.targetPort]), [['dns', 'UDP', 'dns'], ['dns-tcp', 'TCP', 5353], ['sctp', 'SCTP', 9]]);
  });

  it('takes sessionAffinity ClientIP with its default (10800 s) or given timeout, and the lb-algorithm annotation', () => {
    assert.equal(parseService('  ports: [{port: 80}]\n  sessionAffinity: ClientIP\n').spec.affinityTimeoutSeconds, 10800);
    const o = parseService('  ports: [{port: 80}]\n  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 30}}\n',
      '  annotations: {service.membrane.io/lb-algorithm: maglev}\n');
    assert.equal(o.spec.affinityTimeoutSeconds, 30);
    assert.equal(o.spec.algorithm, 'maglev');
  });

  it('reads an explicit clusterIP, a headless one, NodePort with and without nodePort, and no selector', () => {
    assert.equal(parseService('  clusterIP: 10.96.5.5\n  ports: [{port: 80}]\n').spec.clusterIP, '10.96.5.5');
    const headless = parseService('  clusterIP: None\n  selector: {app: db}\n');
    assert.equal(headless.spec.clusterIP, 'None');
    assert.deepEqual(headless.spec.ports, []);
    const np = parseService('  type: NodePort\n  ports: [{name: a, port: 80, nodePort: 30080}, {name: b, port: 81}]\n');
    assert.deepEqual(np.spec.ports.map((p) => p.nodePort), [30080, undefined]);
    assert.equal(np.spec.selector, undefined);
    assert.equal(parseService('  selector: {}\n  ports: [{port: 80}]\n').spec.selector, undefined, 'an empty selector is no selector');
  });

  const bad: [string, string, string, RegExp][] = [
    ['no ports', '  selector: {a: b}\n', 'spec.ports', /is required/],
    ['a second port without a name', '  ports: [{name: a, port: 80}, {port: 81}]\n', 'spec.ports[1].name', /more than one port/],
    ['two ports of one name', '  ports: [{name: a, port: 80}, {name: a, port: 81}]\n', 'spec.ports[1].name', /duplicate port name "a"/],
    ['the same port and protocol twice', '  ports: [{name: a, port: 80}, {name: b, port: 80}]\n', 'spec.ports[1]', /duplicate port 80\/TCP/],
    ['port 0', '  ports: [{port: 0}]\n', 'spec.ports[0].port', /integer from 1 to 65535/],
    ['a bad targetPort name', '  ports: [{name: a, port: 80}, {name: b, port: 81, targetPort: Web_Port}]\n', 'spec.ports[1].targetPort', /invalid name/],
    ['a targetPort out of range', '  ports: [{port: 80, targetPort: 70000}]\n', 'spec.ports[0].targetPort', /1 to 65535/],
    ['a list as targetPort', '  ports: [{port: 80, targetPort: [1]}]\n', 'spec.ports[0].targetPort', /port number or a container port's name/],
    ['ICMP', '  ports: [{port: 80, protocol: ICMP}]\n', 'spec.ports[0].protocol', /TCP, UDP or SCTP/],
    ['a nodePort on a ClusterIP service', '  ports: [{port: 80, nodePort: 30001}]\n', 'spec.ports[0].nodePort', /may not be used when `type` is 'ClusterIP'/],
    ['a nodePort out of range', '  type: NodePort\n  ports: [{port: 80, nodePort: 8080}]\n', 'spec.ports[0].nodePort', /30000 to 32767/],
    ['LoadBalancer', '  type: LoadBalancer\n  ports: [{port: 80}]\n', 'spec.type', /not supported by the lab/],
    ['a headless NodePort', '  type: NodePort\n  clusterIP: None\n  ports: [{port: 80}]\n', 'spec.clusterIP', /'None' for NodePort/],
    ['a clusterIP that is no address', '  clusterIP: 10.96.0.300\n  ports: [{port: 80}]\n', 'spec.clusterIP', /not an IPv4 address/],
    ['an unknown affinity', '  sessionAffinity: Cookie\n  ports: [{port: 80}]\n', 'spec.sessionAffinity', /None or ClientIP/],
    ['a timeout above a day', '  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 86401}}\n  ports: [{port: 80}]\n',
      'spec.sessionAffinityConfig.clientIP.timeoutSeconds', /1 to 86400/],
    ['a timeout of 0', '  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 0}}\n  ports: [{port: 80}]\n',
      'spec.sessionAffinityConfig.clientIP.timeoutSeconds', /1 to 86400/],
    ['affinity config without ClientIP', '  sessionAffinityConfig: {clientIP: {timeoutSeconds: 5}}\n  ports: [{port: 80}]\n',
      'spec.sessionAffinityConfig', /must not be set when `sessionAffinity` is None/],
    ['a bad selector value', '  selector: {app: "a b"}\n  ports: [{port: 80}]\n', 'spec.selector.app', /invalid label value/],
  ];
  for (const [what, spec, path, message] of bad) {
    it(`refuses ${what}, naming ${path}`, () => {
      const r = refusal(service(spec));
      assert.equal(r.path, path);
      assert.match(r.message, /^document 1 \(Service "web"\): /);
      assert.match(r.message, message);
    });
  }

  it('refuses an unknown lb-algorithm, naming the annotation', () => {
    const r = refusal(service('  ports: [{port: 80}]\n', '  annotations: {service.membrane.io/lb-algorithm: roundrobin}\n'));
    assert.equal(r.path, 'metadata.annotations.service.membrane.io/lb-algorithm');
    assert.match(r.message, /random or maglev/);
  });

  it('applies nothing of a file with one bad Service among good objects', () => {
    const good = service('  ports: [{port: 80}]\n');
    const r = refusal(`${good}---\n${service('  ports: [{name: a, port: 80}, {port: 81}]\n').replace('name: web', 'name: web2')}`);
    assert.match(r.message, /^document 2 \(Service "web2"\)/);
  });
});

describe('EndpointSlice manifests', () => {
  it('reads addresses, conditions (unset ready = ready, serving = ready), ports and the Pod targetRef', () => {
    const [o] = parseManifests(slice(`addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- addresses: [10.244.1.20]
  targetRef: {kind: Pod, name: web-0}
- addresses: [10.244.1.21, 10.244.1.22]
  conditions: {ready: false, serving: true, terminating: true}
- addresses: [192.0.2.7]
  conditions: {ready: false}
`));
    const s = (o as EndpointSliceObject).slice;
    assert.equal(s.serviceName, 'web');
    assert.deepEqual(s.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
    assert.deepEqual(s.endpoints, [
      { addresses: ['10.244.1.20'], ready: true, serving: true, terminating: false, pod: { namespace: 'default', name: 'web-0' } },
      { addresses: ['10.244.1.21', '10.244.1.22'], ready: false, serving: true, terminating: true },
      { addresses: ['192.0.2.7'], ready: false, serving: false, terminating: false },
    ]);
  });

  const bad: [string, string, string, RegExp][] = [
    ['IPv6', slice('addressType: IPv6\nendpoints: []\n'), 'addressType', /not supported by the lab: use IPv4/],
    ['no addressType', slice('endpoints: []\n'), 'addressType', /is required/],
    ['no service-name label', slice('addressType: IPv4\n', '    app: web\n'), 'metadata.labels.kubernetes.io/service-name', /is required/],
    ['a bad address', slice('addressType: IPv4\nendpoints: [{addresses: [10.0.0.256]}]\n'), 'endpoints[0].addresses[0]', /not an IPv4 address/],
    ['an endpoint without addresses', slice('addressType: IPv4\nendpoints: [{addresses: []}]\n'), 'endpoints[0].addresses', /1 to 100/],
    ['a port without its number', slice('addressType: IPv4\nports: [{name: http}]\n'), 'ports[0].port', /is required/],
    ['a condition that is no boolean', slice('addressType: IPv4\nendpoints: [{addresses: [10.0.0.1], conditions: {ready: "yes"}}]\n'),
      'endpoints[0].conditions.ready', /true or false/],
  ];
  for (const [what, text, path, message] of bad) {
    it(`refuses ${what}, naming ${path}`, () => {
      const r = refusal(text);
      assert.equal(r.path, path);
      assert.match(r.message, message);
    });
  }
});
