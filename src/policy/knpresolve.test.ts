import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RESERVED_IDENTITIES } from '../identity/reserved.js';
import type { LabelSet } from '../labels/labels.js';
import { buildPodLabels } from '../labels/podlabels.js';
import { lookupPolicy } from './lookup.js';
import { Proto } from './mapstate.js';
import { parsePolicyText } from './parse.js';
import type { NamedPort } from './ports.js';
import { PolicyRepository } from './repository.js';
import { explainVerdict, resolveEndpointPolicy, type ResolvedPolicy } from './resolve.js';

const NAMESPACE_LABELS: Record<string, Record<string, string>> = {
  x: { 'kubernetes.io/metadata.name': 'x', team: 'a' },
  y: { 'kubernetes.io/metadata.name': 'y', team: 'b' },
  z: { 'kubernetes.io/metadata.name': 'z', team: 'a' },
};
const pod = (namespace: string, app: string) =>
  buildPodLabels({ namespace, podLabels: { app }, namespaceLabels: NAMESPACE_LABELS[namespace]!, serviceAccount: 'default' }).identityLabels;

const HOST = 1;
const WORLD = 2;
const DB_X = 300;
const WEB_X = 301;
const CLIENT_X = 302;
const WEB_Y = 310;
const CLIENT_Y = 311;
const CLIENT_Z = 320;
const labelsOf: Record<number, LabelSet> = {
  [DB_X]: pod('x', 'db'), [WEB_X]: pod('x', 'web'), [CLIENT_X]: pod('x', 'client'),
  [WEB_Y]: pod('y', 'web'), [CLIENT_Y]: pod('y', 'client'), [CLIENT_Z]: pod('z', 'client'),
};
const PODS = Object.keys(labelsOf).map(Number);
const identities = [
  ...RESERVED_IDENTITIES.map((r) => ({ id: r.id, labels: r.labels })),
  ...Object.entries(labelsOf).map(([id, labels]) => ({ id: Number(id), labels })),
];

/** A NetworkPolicy in namespace x selecting the db pods, with `spec` after its podSelector. */
const dbPolicy = (spec: string, name = 'p') =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: ${name}, namespace: x}\nspec:\n  podSelector: {matchLabels: {app: db}}\n${spec}`;

function resolve(texts: string[], subject = DB_X, namedPorts?: Map<string, NamedPort>) {
  const repository = new PolicyRepository();
  for (const t of texts) repository.import(parsePolicyText(t));
  const res = resolveEndpointPolicy({ endpointLabels: labelsOf[subject]!, repository, identities, enforcement: 'default',
    ...(namedPorts ? { namedPorts } : {}) });
  return { res, repository };
}

const ingress = (res: ResolvedPolicy, peer: number, port = 80, proto: number = Proto.TCP) => lookupPolicy(res.mapState, peer, false, proto, port).verdict;
const egress = (res: ResolvedPolicy, peer: number, port = 80, proto: number = Proto.TCP) => lookupPolicy(res.mapState, peer, true, proto, port).verdict;
/** The pods (and host, world) allowed in on TCP 80. */
const admitted = (res: ResolvedPolicy) => [HOST, WORLD, ...PODS].filter((id) => ingress(res, id) === 'allow');
const from = (peers: string) => dbPolicy(`  ingress:\n  - from:\n${peers}`);

describe('resolving a Kubernetes NetworkPolicy', () => {
  it('admits the pods of its own namespace that a lone podSelector selects', () => {
    const { res } = resolve([from('    - podSelector: {matchLabels: {app: client}}\n')]);
    assert.equal(res.ingressEnforcing, true);
    assert.equal(res.egressEnforcing, false);
    assert.deepEqual(admitted(res), [CLIENT_X]);
    assert.equal(egress(res, WORLD), 'allow', 'egress is not restricted without policyTypes Egress');
  });

  it('admits every pod of the namespaces a lone namespaceSelector selects, but not host or world', () => {
    const { res } = resolve([from('    - namespaceSelector: {matchLabels: {team: a}}\n')]);
    assert.deepEqual(admitted(res), [DB_X, WEB_X, CLIENT_X, CLIENT_Z]);
  });

  it('ANDs podSelector and namespaceSelector in one peer', () => {
    const { res } = resolve([from('    - namespaceSelector: {matchLabels: {team: a}}\n      podSelector: {matchLabels: {app: client}}\n')]);
    assert.deepEqual(admitted(res), [CLIENT_X, CLIENT_Z]);
  });

  it('ORs separate peers', () => {
    const { res } = resolve([from('    - namespaceSelector: {matchLabels: {team: b}}\n    - podSelector: {matchLabels: {app: web}}\n')]);
    assert.deepEqual(admitted(res), [WEB_X, WEB_Y, CLIENT_Y]);
  });

  it('admits every pod of every namespace with namespaceSelector: {}, but not host or world', () => {
    const { res } = resolve([from('    - namespaceSelector: {}\n')]);
    assert.deepEqual(admitted(res), PODS);
  });

  it('allows all ingress with ingress: [{}], world and every protocol included (unlike a CiliumNetworkPolicy)', () => {
    const { res } = resolve([dbPolicy('  ingress: [{}]\n')]);
    assert.equal(res.ingressEnforcing, true);
    assert.deepEqual(admitted(res), [HOST, WORLD, ...PODS]);
    assert.equal(ingress(res, WORLD, 0, Proto.ICMP), 'allow');
  });

  it('allows any peer on the given ports with a rule that has only ports', () => {
    const { res } = resolve([dbPolicy('  ingress: [{ports: [{port: 5432}]}]\n')]);
    assert.equal(ingress(res, WORLD, 5432), 'allow');
    assert.equal(ingress(res, CLIENT_Y, 5432), 'allow');
    assert.equal(ingress(res, CLIENT_Y, 5432, Proto.UDP), 'default-deny', 'TCP by default');
    assert.equal(ingress(res, CLIENT_Y, 80), 'default-deny');
  });

  it('allows every port with a rule that has from but no ports', () => {
    const { res } = resolve([from('    - podSelector: {matchLabels: {app: client}}\n')]);
    for (const [port, proto] of [[1, Proto.TCP], [65535, Proto.UDP], [0, Proto.ICMP]] as const) assert.equal(ingress(res, CLIENT_X, port, proto), 'allow');
  });

  it('denies all ingress with policyTypes: [Ingress] and no rules, leaving egress open', () => {
    const { res } = resolve([dbPolicy('  policyTypes: [Ingress]\n')]);
    assert.equal(res.ingressEnforcing, true);
    assert.deepEqual(admitted(res), []);
    assert.deepEqual(res.defaultDenyBy.ingress, [{ kind: 'NetworkPolicy', namespace: 'x', name: 'p' }]);
    assert.equal(egress(res, WORLD, 443), 'allow');
  });

  it('denies all egress with policyTypes: [Egress] and no rules, leaving ingress open even with ingress rules', () => {
    const { res } = resolve([dbPolicy('  policyTypes: [Egress]\n  ingress: [{from: [{podSelector: {}}]}]\n')]);
    assert.equal(res.ingressEnforcing, false);
    assert.equal(res.egressEnforcing, true);
    assert.equal(egress(res, CLIENT_X, 53, Proto.UDP), 'default-deny');
    assert.equal(egress(res, WORLD, 443), 'default-deny');
    assert.equal(ingress(res, WORLD), 'allow');
  });

  it('enforces both directions when egress has rules and policyTypes is left out', () => {
    const { res } = resolve([dbPolicy('  egress:\n  - to: [{namespaceSelector: {matchLabels: {team: b}}}]\n    ports: [{port: 53, protocol: UDP}]\n')]);
    assert.equal(res.ingressEnforcing, true);
    assert.equal(res.egressEnforcing, true);
    assert.equal(egress(res, CLIENT_Y, 53, Proto.UDP), 'allow');
    assert.equal(egress(res, CLIENT_Y, 53, Proto.TCP), 'default-deny');
    assert.equal(egress(res, CLIENT_X, 53, Proto.UDP), 'default-deny');
    assert.deepEqual(admitted(res), []);
  });

  it('resolves named ports through the pod ports', () => {
    const namedPorts = new Map<string, NamedPort>([['pg', { port: 5432, protocol: 'TCP' }], ['stats', { port: 9000, protocol: 'UDP' }]]);
    const { res } = resolve([dbPolicy('  ingress: [{ports: [{port: pg}, {port: stats}, {port: stats, protocol: UDP}]}]\n')], DB_X, namedPorts);
    assert.equal(ingress(res, CLIENT_X, 5432), 'allow');
    assert.equal(ingress(res, CLIENT_X, 9000, Proto.UDP), 'allow');
    assert.equal(ingress(res, CLIENT_X, 9000, Proto.TCP), 'default-deny', 'a TCP named port does not resolve to a UDP port');
  });

  it('allows a port range with endPort, both ends included', () => {
    const { res } = resolve([dbPolicy('  ingress: [{ports: [{port: 8000, endPort: 8010}]}]\n')]);
    assert.deepEqual([7999, 8000, 8005, 8010, 8011].map((p) => ingress(res, CLIENT_X, p)),
      ['default-deny', 'allow', 'allow', 'allow', 'default-deny']);
  });

  it('does not select pods of another namespace', () => {
    const everyPod = 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: x}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress]\n';
    const inY = resolve([everyPod], WEB_Y).res;
    assert.equal(inY.ingressEnforcing, false);
    assert.equal(inY.egressEnforcing, false);
    assert.deepEqual(inY.selectedBy, []);
    const inX = resolve([everyPod], WEB_X).res;
    assert.deepEqual([inX.ingressEnforcing, inX.egressEnforcing], [true, true]);
  });

  it('adds up with other policies selecting the same pod, and names the rule behind a verdict', () => {
    const first = from('    - podSelector: {matchLabels: {app: client}}\n');
    const second = dbPolicy('  ingress:\n  - from: [{podSelector: {matchLabels: {app: web}}}]\n  - from: [{namespaceSelector: {matchLabels: {team: b}}}]\n', 'second');
    const { res, repository } = resolve([first, second]);
    assert.deepEqual(admitted(res), [WEB_X, CLIENT_X, WEB_Y, CLIENT_Y]);
    const explained = explainVerdict(res.mapState, repository, CLIENT_Y, false, Proto.TCP, 80);
    assert.deepEqual([explained.verdict, explained.rule?.ref.name, explained.rule?.path], ['allow', 'second', 'spec.ingress[1]']);
  });
});
