import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CidrIdentities } from '../identity/cidr.js';
import { RESERVED_IDENTITIES } from '../identity/reserved.js';
import { LabelSet } from '../labels/labels.js';
import { referencedCidrs } from './cidrs.js';
import { lookupPolicy } from './lookup.js';
import { Proto } from './mapstate.js';
import { parsePolicyText } from './parse.js';
import type { PodIpsByIdentity } from './peers.js';
import { PolicyRepository } from './repository.js';
import { resolveEndpointPolicy } from './resolve.js';

const pod = (app: string) => LabelSet.parse([`k8s:app=${app}`, 'k8s:io.kubernetes.pod.namespace=x']);
const DB = 300;
const IN = 301;
const OUT = 302;
const SPLIT = 303;
const ELSEWHERE = 304;
const WORLD = 2;
const HOST = 1;
const POD_IPS: PodIpsByIdentity = new Map([
  [DB, ['10.1.0.2']],
  [IN, ['10.1.0.10', '10.1.0.11']],
  [OUT, ['10.2.0.10']],
  [SPLIT, ['10.1.0.20', '10.1.9.20']],
  // ELSEWHERE has no local pod.
]);
const PODS = { [DB]: pod('db'), [IN]: pod('in'), [OUT]: pod('out'), [SPLIT]: pod('split'), [ELSEWHERE]: pod('elsewhere') };

const header = (kind: string) => (kind === 'NetworkPolicy'
  ? 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\n'
  : 'apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: c, namespace: x}\n');
const knp = (spec: string) => `${header('NetworkPolicy')}spec:\n  podSelector: {matchLabels: {app: db}}\n${spec}`;
const cnp = (spec: string) => `${header('cnp')}spec:\n  endpointSelector: {matchLabels: {app: db}}\n${spec}`;

/** Resolves for the db pod, with CIDR identities for every prefix the policies name, as the agent gives them. */
function resolve(texts: string[], podIps: PodIpsByIdentity | null = POD_IPS) {
  const repository = new PolicyRepository();
  for (const t of texts) repository.import(parsePolicyText(t));
  const cidrs = new CidrIdentities(undefined, () => {});
  cidrs.sync(referencedCidrs(repository));
  const identities = [
    ...RESERVED_IDENTITIES.map((r) => ({ id: r.id, labels: r.labels })),
    ...Object.entries(PODS).map(([id, labels]) => ({ id: Number(id), labels })),
    ...cidrs.list().map((c) => ({ id: c.id, labels: c.labels })),
  ];
  const res = resolveEndpointPolicy({ endpointLabels: PODS[DB], repository, identities, enforcement: 'default', ...(podIps ? { podIps } : {}) });
  const cidr = (prefix: string) => cidrs.list().find((c) => c.prefix === prefix)!.id;
  const ingress = (peer: number, port = 80) => lookupPolicy(res.mapState, peer, false, Proto.TCP, port).verdict;
  const egress = (peer: number, port = 80) => lookupPolicy(res.mapState, peer, true, Proto.TCP, port).verdict;
  return { res, cidr, ingress, egress };
}

describe('resolving a NetworkPolicy ipBlock', () => {
  it('admits the CIDR identities of the block minus its excepts, not the rest of world', () => {
    const { cidr, ingress } = resolve([knp('  ingress:\n  - from: [{ipBlock: {cidr: 198.51.100.0/24, except: [198.51.100.128/25]}}]\n')]);
    assert.equal(ingress(cidr('198.51.100.0/24')), 'allow');
    assert.equal(ingress(cidr('198.51.100.128/25')), 'default-deny', 'the except is carved out');
    assert.equal(ingress(WORLD), 'default-deny');
    assert.equal(ingress(HOST), 'default-deny');
  });

  it('admits a pod identity whose pods all have IPs in the block, and not one whose pods are outside it', () => {
    const { cidr, ingress } = resolve([knp('  ingress:\n  - from: [{ipBlock: {cidr: 10.1.0.0/24}}]\n    ports: [{port: 80}]\n')]);
    assert.equal(ingress(IN), 'allow');
    assert.equal(ingress(IN, 81), 'default-deny', 'the ports of the rule apply');
    assert.equal(ingress(OUT), 'default-deny');
    assert.equal(ingress(cidr('10.1.0.0/24')), 'allow', 'addresses of the block that are not pods');
  });

  it('does not admit an identity with pods both inside and outside the block, nor one without local pods', () => {
    const { ingress } = resolve([knp('  ingress:\n  - from: [{ipBlock: {cidr: 10.1.0.0/24}}]\n')]);
    assert.equal(ingress(SPLIT), 'default-deny', 'one of its pods is outside: allowing it would allow more than written');
    assert.equal(ingress(ELSEWHERE), 'default-deny');
  });

  it('leaves out pods whose IP is in an except', () => {
    const { egress } = resolve([knp('  egress:\n  - to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.10/32]}}]\n')]);
    assert.equal(egress(IN), 'default-deny', 'one of its pods is in the except');
    assert.equal(egress(OUT), 'allow');
    assert.equal(egress(SPLIT), 'allow');
  });

  it('admits pods covered by the union of the blocks of one rule', () => {
    const { ingress } = resolve([knp('  ingress:\n  - from: [{ipBlock: {cidr: 10.1.0.0/24}}, {ipBlock: {cidr: 10.1.9.0/24}}]\n')]);
    assert.equal(ingress(SPLIT), 'allow');
  });

  it('ORs an ipBlock with a podSelector peer of the same rule', () => {
    const { cidr, ingress } = resolve([knp('  ingress:\n  - from: [{podSelector: {matchLabels: {app: out}}}, {ipBlock: {cidr: 203.0.113.0/24}}]\n')]);
    assert.equal(ingress(OUT), 'allow');
    assert.equal(ingress(cidr('203.0.113.0/24')), 'allow');
    assert.equal(ingress(IN), 'default-deny');
  });

  it('matches no pod without the pod IPs', () => {
    const { ingress } = resolve([knp('  ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.0/8}}]\n')], null);
    assert.equal(ingress(IN), 'default-deny');
  });

  it('keeps Cilium semantics for fromCIDR and fromCIDRSet: pods never match', () => {
    const { cidr, ingress } = resolve([cnp('  ingress:\n  - fromCIDR: [10.1.0.0/24]\n  - fromCIDRSet: [{cidr: 10.0.0.0/8}]\n')]);
    assert.equal(ingress(IN), 'default-deny');
    assert.equal(ingress(OUT), 'default-deny');
    assert.equal(ingress(cidr('10.1.0.0/24')), 'allow');
  });
});
