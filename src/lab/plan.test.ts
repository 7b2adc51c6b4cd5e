import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MembraneError } from '../common/errors.js';
import { podTemplateHash } from './deployment-naming.js';
import { parseManifests, type DeploymentObject, type PodObject } from './manifest.js';
import { checkApplicable, planDeployment, planPod, scheduleNode } from './plan.js';
import { emptyState, type LabState, type PodRecord } from './state.js';

const podYaml = (labels: string, command = 'pause') => `apiVersion: v1
kind: Pod
metadata: {name: xwing, labels: {${labels}}}
spec: {containers: [{name: c, image: json-mock, command: [${command}]}]}
`;

const deployYaml = (replicas: number, command = 'serve', extraLabel = '') => `apiVersion: apps/v1
kind: Deployment
metadata: {name: deathstar}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {class: deathstar}}
  template:
    metadata: {labels: {class: deathstar${extraLabel}}}
    spec: {containers: [{name: c, image: starwars, command: [${command}]}]}
`;

function record(o: PodObject | { namespace: string; name: string; labels: Record<string, string>; container: PodRecord['container'] }, extra: Partial<PodRecord> = {}): PodRecord {
  const container = 'spec' in o ? o.spec.container : o.container;
  return {
    namespace: o.namespace, name: o.name, uid: '00000000', netns: 'mbr-t-00000000', node: 't-node1', containerId: 'c',
    ip: '10.244.1.2', labels: o.labels, serviceAccount: 'default', containerPorts: [], container, argv: [],
    createdAt: '2025-01-01T00:00:00.000Z', ...extra,
  };
}

function stateWith(pods: PodRecord[]): LabState {
  const s = emptyState('t');
  s.nodes.push({ name: 't-node1', index: 1, netns: 'mbr-t-node1', podCIDR: '10.244.1.0/24', socket: '/s', agent: { pid: 1, startTime: '1' } });
  s.pods.push(...pods);
  return s;
}

const pod = (yaml: string) => parseManifests(yaml)[0] as PodObject;
const deploy = (yaml: string) => parseManifests(yaml)[0] as DeploymentObject;

function deploymentPod(d: DeploymentObject, name: string, createdAt: string, templateHash = podTemplateHash(d.template.spec)): PodRecord {
  return record(
    { namespace: 'default', name, labels: { ...d.template.labels, 'pod-template-hash': templateHash }, container: d.template.spec.container },
    { owner: { deployment: d.name, templateHash }, createdAt },
  );
}

describe('planPod', () => {
  it('creates a pod that does not exist', () => {
    assert.equal(planPod(pod(podYaml('org: alliance')), stateWith([])).action, 'create');
  });

  it('relabels in place when only labels change', () => {
    const before = record(pod(podYaml('org: alliance')));
    assert.equal(planPod(pod(podYaml('org: empire')), stateWith([before])).action, 'relabel');
  });

  it('recreates the pod when its container command changes', () => {
    const before = record(pod(podYaml('org: alliance')));
    assert.equal(planPod(pod(podYaml('org: alliance', 'sleep')), stateWith([before])).action, 'recreate');
  });

  it('leaves an identical pod unchanged', () => {
    const before = record(pod(podYaml('org: alliance')));
    assert.equal(planPod(pod(podYaml('org: alliance')), stateWith([before])).action, 'unchanged');
  });
});

describe('planDeployment', () => {
  it('creates every replica of a new Deployment, labelled with pod-template-hash', () => {
    const d = deploy(deployYaml(2));
    const plan = planDeployment(d, stateWith([]));
    assert.equal(plan.create, 2);
    assert.deepEqual(plan.podLabels, { class: 'deathstar', 'pod-template-hash': podTemplateHash(d.template.spec) });
  });

  it('scales down by removing the newest pods', () => {
    const d = deploy(deployYaml(1));
    const old = deploymentPod(d, 'deathstar-a', '2025-01-01T00:00:00.000Z');
    const young = deploymentPod(d, 'deathstar-b', '2025-01-02T00:00:00.000Z');
    const plan = planDeployment(d, stateWith([young, old]));
    assert.deepEqual(plan.remove.map((p) => p.name), ['deathstar-b']);
    assert.equal(plan.create, 0);
  });

  it('scales up by the missing count', () => {
    const d = deploy(deployYaml(3));
    const plan = planDeployment(d, stateWith([deploymentPod(d, 'deathstar-a', '2025-01-01T00:00:00.000Z')]));
    assert.equal(plan.create, 2);
    assert.equal(plan.remove.length, 0);
  });

  it('replaces every pod when the container changes', () => {
    const before = deploy(deployYaml(2));
    const after = deploy(deployYaml(2, 'serve2'));
    const pods = [deploymentPod(before, 'a', '1'), deploymentPod(before, 'b', '2')];
    const plan = planDeployment(after, stateWith(pods));
    assert.equal(plan.remove.length, 2);
    assert.equal(plan.create, 2);
  });

  it('relabels pods in place when only the template labels change', () => {
    const before = deploy(deployYaml(2));
    const after = deploy(deployYaml(2, 'serve', ', tier: gold'));
    const plan = planDeployment(after, stateWith([deploymentPod(before, 'a', '1'), deploymentPod(before, 'b', '2')]));
    assert.equal(plan.remove.length, 0);
    assert.equal(plan.create, 0);
    assert.deepEqual(plan.relabel.map((p) => p.name), ['a', 'b']);
  });
});

describe('checkApplicable', () => {
  const fails = (fn: () => void, re: RegExp) => assert.throws(fn, (e: unknown) => e instanceof MembraneError && re.test(e.message));

  it('rejects an object in a namespace that does not exist', () => {
    fails(() => checkApplicable(parseManifests(podYaml('a: b'), { defaultNamespace: 'nowhere' }), stateWith([])), /namespaces "nowhere" not found/);
  });

  it('accepts a namespace created by the same manifest', () => {
    const objects = parseManifests(`apiVersion: v1\nkind: Namespace\nmetadata: {name: rebels}\n---\n${podYaml('a: b')}`, { defaultNamespace: 'rebels' });
    checkApplicable(objects, stateWith([]));
  });

  it("rejects a bare Pod that would replace a Deployment's pod", () => {
    const d = deploy(deployYaml(1));
    const owned = deploymentPod(d, 'xwing', '1');
    fails(() => checkApplicable(parseManifests(podYaml('a: b')), stateWith([owned])), /belongs to deployment "deathstar"/);
  });

  it("rejects a change of a Deployment's selector", () => {
    const s = stateWith([]);
    const d = deploy(deployYaml(1));
    s.deployments.push({ ...d, selector: { class: 'other' }, templateHash: 'x', createdAt: '1' });
    fails(() => checkApplicable([d], s), /selector cannot change/);
  });
});

describe('scheduleNode', () => {
  it('puts a pod on the node with the fewest pods', () => {
    const s = stateWith([]);
    s.nodes.push({ ...s.nodes[0]!, name: 't-node2', index: 2 });
    s.pods.push(record(pod(podYaml('a: b'))));
    assert.equal(scheduleNode(s).name, 't-node2');
  });
});
