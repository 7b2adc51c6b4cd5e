import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RESERVED_IDENTITIES } from '../identity/reserved.js';
import { LabelSet } from '../labels/labels.js';
import { buildPodLabels } from '../labels/podlabels.js';
import { lookupPolicy } from './lookup.js';
import { Proto } from './mapstate.js';
import { parsePolicyText } from './parse.js';
import { peerNamedPortsOf, type NamedPort, type PeerNamedPorts } from './ports.js';
import { PolicyRepository } from './repository.js';
import { explainVerdict, resolveEndpointPolicy, type ResolvedPolicy } from './resolve.js';

const pod = (app: string) => buildPodLabels({ namespace: 'default', podLabels: { app }, serviceAccount: 'default', clusterName: 'default' }).identityLabels;

const CLIENT = 256;
const SERVER = 257;
const OTHER = 258;
const WORLD_CIDR = 16777217;
const WORLD = 2;
const labelsOf: Record<number, LabelSet> = {
  [CLIENT]: pod('client'), [SERVER]: pod('server'), [OTHER]: pod('other'),
  [WORLD_CIDR]: LabelSet.parse(['cidr:198.51.100.0/24', 'reserved:world']),
};
const identities = [
  ...RESERVED_IDENTITIES.map((r) => ({ id: r.id, labels: r.labels })),
  ...Object.entries(labelsOf).map(([id, labels]) => ({ id: Number(id), labels })),
];

/** The server's pods name 8080 `http`; the other pods name 9090 so; the client has its own `http` on 7070, which egress must ignore. */
const PEER_PORTS: PeerNamedPorts = peerNamedPortsOf([
  { identity: SERVER, ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'dns', containerPort: 53, protocol: 'UDP' }] },
  { identity: OTHER, ports: [{ name: 'http', containerPort: 9090, protocol: 'TCP' }] },
  { identity: CLIENT, ports: [{ name: 'http', containerPort: 7070, protocol: 'TCP' }] },
]);
const OWN_PORTS = new Map<string, NamedPort>([['http', { port: 7070, protocol: 'TCP' }]]);

const cnp = (name: string, body: string, subject = 'client') =>
  `apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: ${name}}\nspec:\n  endpointSelector: {matchLabels: {app: ${subject}}}\n${body}`;
const toServer = (port: string, section = 'egress') =>
  cnp('p', `  ${section}:\n  - toEndpoints: [{matchLabels: {app: server}}]\n    toPorts: [{ports: [{port: ${port}}]}]\n`);

/** `peerNamedPorts` null: none given. */
function resolve(texts: string[], peerNamedPorts: PeerNamedPorts | null = PEER_PORTS, subject = CLIENT) {
  const repository = new PolicyRepository();
  for (const t of texts) repository.import(parsePolicyText(t));
  const res = resolveEndpointPolicy({ endpointLabels: labelsOf[subject]!, repository, identities, enforcement: 'default', namedPorts: OWN_PORTS,
    ...(peerNamedPorts ? { peerNamedPorts } : {}) });
  return { res, repository };
}

const egress = (res: ResolvedPolicy, peer: number, port: number, proto: number = Proto.TCP) => lookupPolicy(res.mapState, peer, true, proto, port).verdict;
const egressKeys = (res: ResolvedPolicy) =>
  [...res.mapState].filter(({ key }) => key.egress).map(({ key, entry }) => `${entry.deny ? 'deny ' : ''}${key.identity}/${key.protocol}/${key.port}`).sort();

describe('egress named ports', () => {
  it('resolve against the destination pod\'s container ports, not the source\'s', () => {
    const { res } = resolve([toServer('http')]);
    assert.equal(egress(res, SERVER, 8080), 'allow');
    assert.equal(egress(res, SERVER, 7070), 'default-deny', 'the client\'s own port of that name is no part of it');
    assert.equal(egress(res, SERVER, 9090), 'default-deny');
    assert.equal(egress(res, OTHER, 9090), 'default-deny', 'a peer the rule does not select');
  });

  it('match nothing when the peers\' named ports are not known (the client\'s own are never used)', () => {
    const { res } = resolve([toServer('http')], null);
    assert.equal(res.egressEnforcing, true);
    assert.deepEqual(egressKeys(res), []);
  });

  it('give each port of the name when the pods of one identity give it different numbers', () => {
    const ports = peerNamedPortsOf([
      { identity: SERVER, ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] },
      { identity: SERVER, ports: [{ name: 'http', containerPort: 8081, protocol: 'TCP' }] },
      { identity: SERVER, ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] },
    ]);
    assert.deepEqual(ports.get(SERVER)?.get('http'), [{ port: 8080, protocol: 'TCP' }, { port: 8081, protocol: 'TCP' }]);
    const { res } = resolve([toServer('http')], ports);
    assert.deepEqual([8080, 8081, 8082].map((p) => egress(res, SERVER, p)), ['allow', 'allow', 'default-deny']);
  });

  it('keep the protocol of the destination\'s port and of the rule', () => {
    const { res } = resolve([cnp('p', '  egress:\n  - toEndpoints: [{matchLabels: {app: server}}]\n    toPorts: [{ports: [{port: dns}, {port: http, protocol: UDP}]}]\n')]);
    assert.equal(egress(res, SERVER, 53, Proto.UDP), 'allow');
    assert.equal(egress(res, SERVER, 53, Proto.TCP), 'default-deny');
    assert.equal(egress(res, SERVER, 8080, Proto.TCP), 'default-deny', 'http is TCP, the rule asks for UDP');
  });

  it('stand, towards peers that are no pods (CIDR, entities) in a Cilium policy, for the number the pods agree on, and for nothing when they disagree', () => {
    const { res } = resolve([cnp('p', '  egress:\n  - toCIDR: [198.51.100.0/24]\n    toPorts: [{ports: [{port: http}, {port: dns, protocol: UDP}]}]\n' +
      '  - toEntities: [world]\n    toPorts: [{ports: [{port: http}, {port: "443", protocol: TCP}]}]\n')]);
    // `http` is 8080, 9090 and 7070 on different pods: ambiguous, as Cilium refuses it; `dns` is 53/UDP wherever it is named.
    assert.deepEqual(egressKeys(res), [`${WORLD_CIDR}/17/53`, `${WORLD_CIDR}/6/443`, `${WORLD}/6/443`]);
  });

  it('match nothing towards peers that are no pods in a NetworkPolicy (a named port is a pod\'s)', () => {
    const knp = 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: k}\nspec:\n  podSelector: {matchLabels: {app: client}}\n' +
      '  policyTypes: [Egress]\n  egress:\n  - to: [{ipBlock: {cidr: 198.51.100.0/24}}]\n    ports: [{port: dns, protocol: UDP}, {port: 443}]\n';
    const { res } = resolve([knp]);
    assert.equal(egress(res, WORLD_CIDR, 443), 'allow');
    assert.equal(egress(res, WORLD_CIDR, 53, Proto.UDP), 'default-deny');
  });

  it('stand, for a rule without L3 peer, for every pod identity with a port of that name, and numbered ports for any peer', () => {
    const { res } = resolve([cnp('p', '  egress:\n  - toPorts: [{ports: [{port: http}, {port: "53", protocol: UDP}]}]\n')]);
    assert.deepEqual(egressKeys(res), [`0/17/53`, `${CLIENT}/6/7070`, `${SERVER}/6/8080`, `${OTHER}/6/9090`]);
    assert.equal(egress(res, SERVER, 9090), 'default-deny', 'another pod\'s number of the name');
    assert.equal(egress(res, WORLD, 8080), 'default-deny');
    assert.equal(egress(res, WORLD, 53, Proto.UDP), 'allow');
  });

  it('deny per destination in an egressDeny rule, and the rule explains the verdict', () => {
    const allowAll = cnp('all', '  egress:\n  - toEntities: [all]\n');
    const { res, repository } = resolve([allowAll, toServer('http', 'egressDeny')]);
    assert.equal(egress(res, SERVER, 8080), 'deny');
    assert.equal(egress(res, SERVER, 9090), 'allow');
    assert.equal(egress(res, OTHER, 8080), 'allow');
    assert.equal(explainVerdict(res.mapState, repository, SERVER, true, Proto.TCP, 8080).rule?.path, 'spec.egressDeny[0]');
  });

  it('resolve per destination in a NetworkPolicy egress rule too', () => {
    const knp = 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: k}\nspec:\n  podSelector: {matchLabels: {app: client}}\n' +
      '  policyTypes: [Egress]\n  egress:\n  - to: [{podSelector: {matchLabels: {app: server}}}]\n    ports: [{port: http}]\n  - ports: [{port: http}]\n';
    const { res } = resolve([knp]);
    assert.equal(egress(res, SERVER, 8080), 'allow');
    assert.equal(egress(res, OTHER, 9090), 'allow', 'the rule without `to` reaches every pod on its own port of that name');
    assert.equal(egress(res, OTHER, 8080), 'default-deny');
    assert.equal(egress(res, WORLD, 8080), 'default-deny');
  });

  it('leave ingress named ports to the endpoint\'s own container ports', () => {
    const { res } = resolve([cnp('p', '  ingress:\n  - fromEndpoints: [{matchLabels: {app: server}}]\n    toPorts: [{ports: [{port: http}]}]\n')]);
    assert.equal(lookupPolicy(res.mapState, SERVER, false, Proto.TCP, 7070).verdict, 'allow');
    assert.equal(lookupPolicy(res.mapState, SERVER, false, Proto.TCP, 8080).verdict, 'default-deny');
  });
});
