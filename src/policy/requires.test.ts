import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValidationError } from '../common/errors.js';
import { RESERVED_IDENTITIES } from '../identity/reserved.js';
import { LabelSet } from '../labels/labels.js';
import { buildPodLabels } from '../labels/podlabels.js';
import { ruleToJSON } from './render.js';
import { lookupPolicy } from './lookup.js';
import { Proto } from './mapstate.js';
import { parsePolicyText } from './parse.js';
import { PolicyRepository } from './repository.js';
import { resolveEndpointPolicy, type ResolvedPolicy } from './resolve.js';

const pod = (podLabels: Record<string, string>, namespace = 'default', namespaceLabels: Record<string, string> = {}) =>
  buildPodLabels({ namespace, podLabels, namespaceLabels, serviceAccount: 'default', clusterName: 'default' }).identityLabels;

const DB = 256;
const WEB_PROD = 257;
const WEB_DEV = 258;
const WEB_PROD_ELSEWHERE = 259;
const WEB = 260;
const CIDR = 16777217;
const labelsOf: Record<number, LabelSet> = {
  [DB]: pod({ app: 'db', env: 'prod' }),
  [WEB_PROD]: pod({ app: 'web', env: 'prod' }),
  [WEB_DEV]: pod({ app: 'web', env: 'dev' }),
  [WEB_PROD_ELSEWHERE]: pod({ app: 'web', env: 'prod' }, 'other', { team: 'a' }),
  [WEB]: pod({ app: 'web' }),
  [CIDR]: LabelSet.parse(['cidr:198.51.100.0/24', 'reserved:world']),
};
const PEERS = [WEB_PROD, WEB_DEV, WEB_PROD_ELSEWHERE, WEB, CIDR];
const identities = [
  ...RESERVED_IDENTITIES.map((r) => ({ id: r.id, labels: r.labels })),
  ...Object.entries(labelsOf).map(([id, labels]) => ({ id: Number(id), labels })),
];

const cnp = (name: string, body: string, subject = 'db') =>
  `apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: ${name}}\nspec:\n  endpointSelector: {matchLabels: {app: ${subject}}}\n${body}`;
/** Lets web pods (of any namespace whose labels say team a, and of its own) and the CIDR reach the db. */
const ALLOW_WEB = cnp('allow-web', '  ingress:\n  - fromEndpoints: [{matchLabels: {app: web}}, {matchLabels: {app: web, io.cilium.k8s.namespace.labels.team: a}}]\n' +
  '  - fromCIDR: [198.51.100.0/24]\n');
const REQUIRE_PROD = cnp('require-prod', '  ingress:\n  - fromRequires: [{matchLabels: {env: prod}}]\n');

function resolve(texts: string[], subject = DB) {
  const repository = new PolicyRepository();
  for (const t of texts) repository.import(parsePolicyText(t));
  return resolveEndpointPolicy({ endpointLabels: labelsOf[subject]!, repository, identities, enforcement: 'default' });
}
const admitted = (res: ResolvedPolicy, port = 80) => PEERS.filter((id) => lookupPolicy(res.mapState, id, false, Proto.TCP, port).verdict === 'allow');
const reaches = (res: ResolvedPolicy, port = 80) => PEERS.filter((id) => lookupPolicy(res.mapState, id, true, Proto.TCP, port).verdict === 'allow');

describe('fromRequires and toRequires', () => {
  it('AND a requirement of one policy into the endpoint peers of every policy selecting the endpoint', () => {
    assert.deepEqual(admitted(resolve([ALLOW_WEB])), [WEB_PROD, WEB_DEV, WEB_PROD_ELSEWHERE, WEB, CIDR]);
    const res = resolve([ALLOW_WEB, REQUIRE_PROD]);
    assert.equal(res.ingressEnforcing, true);
    assert.deepEqual(admitted(res), [WEB_PROD, CIDR], 'CIDR peers are not endpoint selectors; the requirement is scoped to the policy\'s namespace');
  });

  it('take requirements from the rules of the other sections of one policy and from several rules, all ANDed', () => {
    const both = cnp('both', '  ingress:\n  - fromRequires: [{matchLabels: {env: prod}}]\n  - fromRequires: [{matchExpressions: [{key: app, operator: In, values: [web]}]}]\n');
    assert.deepEqual(admitted(resolve([ALLOW_WEB, both])), [WEB_PROD, CIDR]);
    assert.deepEqual(admitted(resolve([ALLOW_WEB, cnp('dev', '  ingress:\n  - fromRequires: [{matchLabels: {env: dev}}]\n'), REQUIRE_PROD])), [CIDR]);
  });

  it('apply only to the endpoints the requiring rule selects', () => {
    const forAll = ALLOW_WEB.replace('{matchLabels: {app: db}}', '{}');
    const res = resolve([forAll, REQUIRE_PROD], WEB);
    assert.deepEqual(admitted(res), [WEB_PROD, WEB_DEV, WEB_PROD_ELSEWHERE, WEB, CIDR]);
  });

  it('keep allow and deny sections apart', () => {
    const denyWeb = cnp('deny-web', '  ingressDeny:\n  - fromEndpoints: [{matchLabels: {app: web}}]\n    toPorts: [{ports: [{port: "81", protocol: TCP}]}]\n');
    const requireDevForDenies = cnp('deny-requires', '  ingressDeny:\n  - fromRequires: [{matchLabels: {env: dev}}]\n');
    const res = resolve([ALLOW_WEB, denyWeb, requireDevForDenies, REQUIRE_PROD]);
    assert.deepEqual(admitted(res, 80), [WEB_PROD, CIDR], 'the allow requirement (prod) only');
    assert.deepEqual(admitted(res, 81), [WEB_PROD, CIDR], 'the deny requirement (dev) limits the deny to dev pods; the prod pod is not denied');
    assert.equal(lookupPolicy(res.mapState, WEB_DEV, false, Proto.TCP, 81).verdict, 'deny');
    assert.equal(lookupPolicy(res.mapState, WEB, false, Proto.TCP, 81).verdict, 'default-deny', 'neither allowed (not prod) nor denied (not dev)');
  });

  it('leave a rule without L3 peer a wildcard, unless the rule has requires of its own', () => {
    const l4Only = cnp('l4', '  ingress:\n  - toPorts: [{ports: [{port: "80", protocol: TCP}]}]\n');
    assert.deepEqual(admitted(resolve([l4Only, REQUIRE_PROD])), PEERS, 'another rule\'s requirement does not touch the wildcard');
    const own = cnp('own', '  ingress:\n  - fromRequires: [{matchLabels: {env: prod}}]\n    toPorts: [{ports: [{port: "80", protocol: TCP}]}]\n');
    const res = resolve([own]);
    assert.equal(res.ingressEnforcing, true);
    assert.deepEqual(admitted(res), []);
    assert.equal([...res.mapState].filter(({ key }) => !key.egress).length, 0);
  });

  it('work the same for egress with toRequires', () => {
    const toWeb = cnp('to-web', '  egress:\n  - toEndpoints: [{matchLabels: {app: web}}]\n  - toCIDR: [198.51.100.0/24]\n');
    const requireProd = cnp('to-prod', '  egress:\n  - toRequires: [{matchLabels: {env: prod}}]\n');
    assert.deepEqual(reaches(resolve([toWeb])), [WEB_PROD, WEB_DEV, WEB, CIDR]);
    const res = resolve([toWeb, requireProd]);
    assert.equal(res.egressEnforcing, true);
    assert.deepEqual(reaches(res), [WEB_PROD, CIDR]);
    assert.equal(res.ingressEnforcing, false, 'toRequires says nothing of ingress');
  });

  it('are parsed namespace-scoped and shown by policy get', () => {
    const rule = parsePolicyText(cnp('p', '  ingress:\n  - fromEndpoints: [{}]\n    fromRequires: [{matchLabels: {env: prod}}]\n'))[0]!.rules[0]!;
    assert.deepEqual(rule.ingress[0]!.requires?.map(String), ['any:env=prod,k8s:io.kubernetes.pod.namespace=default']);
    assert.deepEqual((ruleToJSON(rule)['ingress'] as Record<string, unknown>[])[0]!['fromRequires'],
      [{ matchLabels: { 'any:env': 'prod', 'k8s:io.kubernetes.pod.namespace': 'default' } }]);
    const ccnp = parsePolicyText('apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: c}\nspec:\n  endpointSelector: {}\n' +
      '  egressDeny:\n  - toRequires: [{matchLabels: {env: prod}}]\n')[0]!.rules[0]!;
    assert.deepEqual(ccnp.egressDeny[0]!.requires?.map(String), ['any:env=prod,k8s:io.kubernetes.pod.namespace']);
  });

  const rejected: [string, string, string, RegExp][] = [
    ['a bad operator', '  ingress:\n  - fromRequires: [{matchExpressions: [{key: env, operator: Equals, values: [prod]}]}]\n',
      'spec.ingress[0].fromRequires[0].matchExpressions[0].operator', /operator/],
    ['a selector that is not a mapping', '  egressDeny:\n  - toRequires: [env=prod]\n', 'spec.egressDeny[0].toRequires[0]', /mapping/],
    ['a list that is not a list', '  ingressDeny:\n  - fromRequires: {matchLabels: {env: prod}}\n', 'spec.ingressDeny[0].fromRequires', /list/],
    ['an unknown field in the selector', '  egress:\n  - toRequires: [{matchLabel: {env: prod}}]\n', 'spec.egress[0].toRequires[0].matchLabel', /did you mean `matchLabels`/],
    ['fromRequires in an egress rule', '  egress:\n  - fromRequires: [{}]\n', 'spec.egress[0].fromRequires', /belongs in ingress rules; here write `toRequires`/],
    ['toRequires in an ingress rule', '  ingress:\n  - toRequires: [{}]\n', 'spec.ingress[0].toRequires', /belongs in egress rules; here write `fromRequires`/],
  ];
  for (const [name, body, path, message] of rejected) {
    it(`refuses ${name}, naming ${path}`, () => {
      assert.throws(() => parsePolicyText(cnp('p', body)), (err: unknown) => {
        assert.ok(err instanceof ValidationError, String(err));
        assert.equal(err.path, path);
        assert.match(err.message, message);
        return true;
      });
    });
  }
});
