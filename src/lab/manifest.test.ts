import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { MembraneError } from '../common/errors.js';
import { parseManifests, type DeploymentObject, type PodObject } from './manifest.js';
import { repoRoot } from './toolchain.js';

const example = (file: string) => fs.readFileSync(path.join(repoRoot(), 'examples', 'starwars', file), 'utf8');

function parseError(text: string): MembraneError {
  try {
    parseManifests(text);
  } catch (err) {
    assert.ok(err instanceof MembraneError);
    assert.equal(err.code, 'EINVAL');
    return err;
  }
  assert.fail('expected a validation error');
}

const pod = (extra = '') => `apiVersion: v1
kind: Pod
metadata:
  name: p1
spec:
  containers:
  - name: c
    image: busybox
${extra}`;

describe('parseManifests', () => {
  it('reads the Star Wars app: a Service, a Deployment of 2 and two Pods in default', () => {
    const objects = parseManifests(example('http-sw-app.yaml'));
    assert.deepEqual(objects.map((o) => `${o.kind}/${o.name}`), ['Service/deathstar', 'Deployment/deathstar', 'Pod/tiefighter', 'Pod/xwing']);
    const deploy = objects[1] as DeploymentObject;
    assert.equal(deploy.replicas, 2);
    assert.equal(deploy.namespace, 'default');
    assert.deepEqual(deploy.selector, { org: 'empire', class: 'deathstar' });
    assert.deepEqual(deploy.template.labels, { org: 'empire', class: 'deathstar', 'app.kubernetes.io/name': 'deathstar' });
    assert.match(deploy.template.spec.container.image, /starwars/);
    const xwing = objects[3] as PodObject;
    assert.deepEqual(xwing.labels, { 'app.kubernetes.io/name': 'xwing', org: 'alliance', class: 'xwing' });
    assert.equal(xwing.spec.serviceAccount, 'default');
  });

  it('reads both Star Wars policies as CiliumNetworkPolicy rule1 in default', () => {
    for (const file of ['sw_l3_l4_policy.yaml', 'sw_l3_l4_l7_policy.yaml']) {
      const [p] = parseManifests(example(file));
      assert.equal(p?.kind, 'CiliumNetworkPolicy');
      assert.equal(p?.name, 'rule1');
      assert.equal(p && 'namespace' in p ? p.namespace : undefined, 'default');
    }
  });

  it('gives every Namespace its kubernetes.io/metadata.name label', () => {
    const [ns] = parseManifests('apiVersion: v1\nkind: Namespace\nmetadata:\n  name: empire\n  labels:\n    side: dark\n');
    assert.deepEqual(ns && 'labels' in ns ? ns.labels : undefined, { side: 'dark', 'kubernetes.io/metadata.name': 'empire' });
  });

  it('puts objects without a namespace in the default namespace given', () => {
    const [p] = parseManifests(pod(), { defaultNamespace: 'rebels' });
    assert.equal((p as PodObject).namespace, 'rebels');
  });

  it('reads command, args, env, ports and the service account of the container', () => {
    const [p] = parseManifests(`apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  serviceAccountName: builder
  containers:
  - name: web
    image: any
    command: [sh, -c]
    args: ["echo hi"]
    env: [{name: GREETING, value: hello}]
    ports: [{name: http, containerPort: 8080}, {containerPort: 53, protocol: UDP}]
`) as PodObject[];
    assert.deepEqual(p!.spec, {
      serviceAccount: 'builder',
      container: {
        name: 'web', image: 'any', command: ['sh', '-c'], args: ['echo hi'], env: [{ name: 'GREETING', value: 'hello' }],
        ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { containerPort: 53, protocol: 'UDP' }],
      },
    });
  });

  it('skips empty documents', () => {
    assert.equal(parseManifests(`---\n---\n${pod()}---\n`).length, 1);
  });

  it('names the document and the field of a bad port', () => {
    const err = parseError(`${pod()}---\n${pod('    ports: [{containerPort: 70000}]').replace('name: p1', 'name: p2')}`);
    assert.equal(err.path, 'spec.containers[0].ports[0].containerPort');
    assert.match(err.message, /^document 2 \(Pod "p2"\): spec\.containers\[0\]\.ports\[0\]\.containerPort: must be an integer from 1 to 65535/);
  });

  it('rejects an unsupported kind, naming the kinds it takes', () => {
    const err = parseError('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n');
    assert.equal(err.path, 'kind');
    assert.match(err.message, /document 1 \(ConfigMap "x"\): kind: unsupported kind "ConfigMap"/);
  });

  it('rejects a wrong apiVersion', () => {
    const err = parseError(pod().replace('apiVersion: v1', 'apiVersion: apps/v1'));
    assert.equal(err.path, 'apiVersion');
  });

  it('rejects a label value that is not a string, with a hint to quote it', () => {
    const err = parseError(pod().replace('name: p1', 'name: p1\n  labels:\n    version: 2'));
    assert.equal(err.path, 'metadata.labels.version');
    assert.match(err.message, /quote it/);
  });

  it('rejects a pod with no container, and one with two', () => {
    assert.equal(parseError('apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n').path, 'spec.containers');
    assert.equal(parseError(`${pod()}  - name: d\n    image: x\n`).path, 'spec.containers');
  });

  it('rejects a Deployment whose template labels do not match its selector', () => {
    const err = parseError(`apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: b}}
    spec: {containers: [{name: c, image: i}]}
`);
    assert.equal(err.path, 'spec.template.metadata.labels');
  });

  it('rejects an invalid object name', () => {
    assert.equal(parseError(pod().replace('name: p1', 'name: Bad_Name')).path, 'metadata.name');
  });

  it('rejects the same object twice in one file', () => {
    assert.match(parseError(`${pod()}---\n${pod()}`).message, /same object as document 1/);
  });

  it('rejects a policy without a spec, and a cluster-wide policy with a namespace', () => {
    assert.equal(parseError('apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: r}\n').path, 'spec');
    assert.equal(parseError('apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: r, namespace: x}\nspec: {}\n').path, 'metadata.namespace');
  });

  it('reports YAML syntax errors with the document number', () => {
    const err = parseError(`${pod()}---\nkind: [unclosed\n`);
    assert.match(err.message, /^document 2: invalid YAML/);
  });

  it('reads a TCP readiness probe by port number or container port name, and refuses a name the container lacks', () => {
    const ports = '    ports: [{name: web, containerPort: 8080}]\n';
    const byName = parseManifests(pod(`${ports}    readinessProbe: {tcpSocket: {port: web}}\n`))[0] as PodObject;
    assert.equal(byName.spec.container.readinessPort, 8080);
    const byNumber = parseManifests(pod('    readinessProbe: {httpGet: {path: /healthz, port: 9000}}\n'))[0] as PodObject;
    assert.equal(byNumber.spec.container.readinessPort, 9000);
    assert.equal((parseManifests(pod('    readinessProbe: {exec: {command: [true]}}\n'))[0] as PodObject).spec.container.readinessPort, undefined);
    const err = parseError(pod('    readinessProbe: {tcpSocket: {port: metrics}}\n'));
    assert.equal(err.path, 'spec.containers[0].readinessProbe.tcpSocket.port');
  });
});
