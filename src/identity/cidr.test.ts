import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CidrIdentities, type CidrIdentitySnapshot, LOCAL_IDENTITY_SCOPE } from './cidr.js';
import { parsePolicyText } from '../policy/parse.js';
import { PolicyRepository } from '../policy/repository.js';
import { referencedCidrs } from '../policy/cidrs.js';
import { resolveEndpointPolicy } from '../policy/resolve.js';
import { lookupPolicy } from '../policy/lookup.js';
import { LabelSet } from '../labels/labels.js';
import { RESERVED_IDENTITIES } from './reserved.js';

describe('CIDR identities', () => {
  it('gives each prefix a local identity labelled cidr:<prefix> and reserved:world', () => {
    const c = new CidrIdentities(undefined, () => {});
    const { added } = c.sync(['10.0.0.0/8', '198.51.100.0/24']);
    assert.deepEqual(added.map((a) => a.id), [LOCAL_IDENTITY_SCOPE + 1, LOCAL_IDENTITY_SCOPE + 2]);
    assert.deepEqual(added[0]!.labels.toStrings(), ['cidr:10.0.0.0/8', 'reserved:world']);
  });

  it('keeps ids for prefixes still in use, releases the rest and reuses their ids', () => {
    const c = new CidrIdentities(undefined, () => {});
    c.sync(['10.0.0.0/8', '198.51.100.0/24']);
    const { added, removed } = c.sync(['198.51.100.0/24', '203.0.113.0/24']);
    assert.deepEqual(removed.map((r) => r.prefix), ['10.0.0.0/8']);
    assert.deepEqual(added.map((a) => [a.prefix, a.id]), [['203.0.113.0/24', LOCAL_IDENTITY_SCOPE + 1]]);
    assert.equal(c.list().find((x) => x.prefix === '198.51.100.0/24')!.id, LOCAL_IDENTITY_SCOPE + 2);
  });

  it('persists before it changes and restores the same ids', () => {
    let saved: CidrIdentitySnapshot | undefined;
    const c = new CidrIdentities(undefined, (s) => { saved = s; });
    c.sync(['10.0.0.0/8']);
    const again = new CidrIdentities(saved, () => {});
    assert.deepEqual(again.list().map((x) => [x.prefix, x.id]), [['10.0.0.0/8', LOCAL_IDENTITY_SCOPE + 1]]);
    assert.deepEqual(again.sync(['10.0.0.0/8']), { added: [], removed: [] });
  });

  it('resolves toCIDRSet with except to the prefix identities the rule covers, longest prefix deciding', () => {
    const repo = new PolicyRepository();
    repo.import(parsePolicyText(`apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: out}
spec:
  endpointSelector: {matchLabels: {app: c}}
  egress:
  - toCIDRSet: [{cidr: 198.51.100.0/24, except: [198.51.100.128/25]}]
  - toCIDR: [203.0.113.7/32]
`));
    assert.deepEqual(referencedCidrs(repo), ['198.51.100.0/24', '198.51.100.128/25', '203.0.113.7/32']);
    const cidrs = new CidrIdentities(undefined, () => {});
    cidrs.sync(referencedCidrs(repo));
    const id = (p: string) => cidrs.list().find((x) => x.prefix === p)!.id;
    const me = LabelSet.parse(['k8s:app=c', 'k8s:io.kubernetes.pod.namespace=default']);
    const identities = [
      ...RESERVED_IDENTITIES.map((r) => ({ id: r.id, labels: r.labels })),
      { id: 300, labels: me },
      ...cidrs.list().map((c) => ({ id: c.id, labels: c.labels })),
    ];
    const res = resolveEndpointPolicy({ endpointLabels: me, repository: repo, identities, enforcement: 'default' });
    const verdict = (identity: number) => lookupPolicy(res.mapState, identity, true, 6, 80).verdict;
    assert.equal(verdict(id('198.51.100.0/24')), 'allow');
    assert.equal(verdict(id('198.51.100.128/25')), 'default-deny', 'the except is carved out');
    assert.equal(verdict(id('203.0.113.7/32')), 'allow');
    assert.equal(verdict(2), 'default-deny', 'the rest of world is not allowed');
  });
});
