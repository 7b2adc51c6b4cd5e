import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValidationError } from '../common/errors.js';
import { cidrIdentityLabels } from '../identity/cidr.js';
import { RESERVED_IDENTITIES } from '../identity/reserved.js';
import { LabelSet } from '../labels/labels.js';
import { buildPodLabels } from '../labels/podlabels.js';
import { IncrementalResolver } from './incremental.js';
import { parsePolicyText } from './parse.js';
import { ruleToJSON } from './render.js';
import { PolicyRepository } from './repository.js';
import { resolveEndpointPolicy } from './resolve.js';
import type { PolicyService, PolicyServices } from './types.js';

const pod = (podLabels: Record<string, string>, namespace: string) =>
  buildPodLabels({ namespace, podLabels, namespaceLabels: {}, serviceAccount: 'default', clusterName: 'default' }).identityLabels;

const CLIENT = 256;
const WEB = 257;
const WEB_ELSEWHERE = 258;
const OTHER = 259;
const EXTERNAL = 16777217;
const identities = [
  ...RESERVED_IDENTITIES.map((r) => ({ id: r.id, labels: r.labels })),
  { id: CLIENT, labels: pod({ app: 'client' }, 'x') },
  { id: WEB, labels: pod({ app: 'web' }, 'x') },
  { id: WEB_ELSEWHERE, labels: pod({ app: 'web' }, 'y') },
  { id: OTHER, labels: pod({ app: 'other' }, 'x') },
  { id: EXTERNAL, labels: cidrIdentityLabels('198.51.100.10/32') },
];

const service = (namespace: string, name: string, opts: { selector?: Record<string, string>; backendIps?: string[]; labels?: Record<string, string> }): [string, PolicyService] =>
  [`${namespace}/${name}`, {
    namespace, name, labels: LabelSet.fromRecord(opts.labels ?? {}, 'k8s'),
    ...(opts.selector ? { selector: opts.selector } : {}), backendIps: opts.backendIps ?? [],
  }];
const services: PolicyServices = new Map([
  service('x', 'web', { selector: { app: 'web' }, backendIps: ['10.244.1.5'], labels: { tier: 'front' } }),
  service('x', 'external', { backendIps: ['198.51.100.10'], labels: { tier: 'outside' } }),
  service('y', 'web', { selector: { app: 'web' }, labels: { tier: 'front' } }),
]);

const policy = (egress: string, kind = 'CiliumNetworkPolicy', ns = 'x') =>
  `apiVersion: cilium.io/v2\nkind: ${kind}\nmetadata: {name: p${kind === 'CiliumNetworkPolicy' ? `, namespace: ${ns}` : ''}}\nspec:\n  endpointSelector: {matchLabels: {app: client}}\n  egress:\n  - ${egress}\n`;

function egressPeers(text: string, svcs: PolicyServices = services): number[] {
  const repository = new PolicyRepository();
  repository.import(parsePolicyText(text, 'x'));
  const res = resolveEndpointPolicy({ endpointLabels: identities.find((i) => i.id === CLIENT)!.labels, repository, identities, enforcement: 'default', services: svcs });
  return [...new Set([...res.mapState].filter(({ key }) => key.egress).map(({ key }) => key.identity))].sort((a, b) => a - b);
}

describe('toServices', () => {
  it('reaches the pods a selector service picks in its namespace, and nothing else', () => {
    assert.deepEqual(egressPeers(policy('toServices: [{k8sService: {serviceName: web}}]')), [WEB]);
    assert.deepEqual(egressPeers(policy('toServices: [{k8sService: {serviceName: web, namespace: y}}]')), [WEB_ELSEWHERE]);
  });

  it('reaches the backend addresses of a service without a selector, by their CIDR identities', () => {
    assert.deepEqual(egressPeers(policy('toServices: [{k8sService: {serviceName: external}}]')), [EXTERNAL]);
  });

  it('selects services by their labels, in the policy\'s namespace, or in every namespace from a cluster-wide policy', () => {
    assert.deepEqual(egressPeers(policy('toServices: [{k8sServiceSelector: {selector: {matchLabels: {tier: front}}}}]')), [WEB]);
    assert.deepEqual(egressPeers(policy('toServices: [{k8sServiceSelector: {selector: {matchLabels: {tier: front}}}}]', 'CiliumClusterwideNetworkPolicy')), [WEB, WEB_ELSEWHERE]);
    assert.deepEqual(egressPeers(policy('toServices: [{k8sServiceSelector: {selector: {}}}]')), [WEB, EXTERNAL]);
  });

  it('selects nothing while the service does not exist, and still puts egress into default deny', () => {
    assert.deepEqual(egressPeers(policy('toServices: [{k8sService: {serviceName: nowhere}}]')), []);
    assert.deepEqual(egressPeers(policy('toServices: [{k8sService: {serviceName: web}}]'), new Map()), []);
  });

  it('follows the services through the incremental resolver', () => {
    const repository = new PolicyRepository();
    repository.import(parsePolicyText(policy('toServices: [{k8sService: {serviceName: web}}]'), 'x'));
    const resolver = new IncrementalResolver('default', (r) => r);
    const client = identities.find((i) => i.id === CLIENT)!.labels;
    const peersWith = (svcs: PolicyServices) => {
      resolver.begin(repository, identities, new Map(), new Map(), svcs);
      const r = resolver.resolve('client', client, new Map());
      resolver.end();
      return [...r.resolved.mapState].filter(({ key }) => key.egress).map(({ key }) => key.identity);
    };
    assert.deepEqual(peersWith(new Map()), []);
    assert.deepEqual(peersWith(services), [WEB]);
    assert.deepEqual(peersWith(new Map([service('x', 'web', { selector: { app: 'other' } })])), [OTHER]);
  });

  it('renders as written, with the namespace filled in', () => {
    const [p] = parsePolicyText(policy('toServices: [{k8sService: {serviceName: web}}, {k8sServiceSelector: {selector: {matchLabels: {tier: front}}, namespace: y}}]'), 'x');
    assert.deepEqual(ruleToJSON(p!.rules[0]!)['egress'], [{
      toServices: [{ k8sService: { serviceName: 'web', namespace: 'x' } }, { k8sServiceSelector: { selector: { matchLabels: { 'any:tier': 'front' } }, namespace: 'y' } }],
    }]);
  });

  const rejected: [string, string, string][] = [
    ['both forms in one entry', policy('toServices: [{k8sService: {serviceName: a}, k8sServiceSelector: {selector: {}}}]'), 'spec.egress[0].toServices[0]'],
    ['neither form', policy('toServices: [{}]'), 'spec.egress[0].toServices[0]'],
    ['a bad namespace', policy('toServices: [{k8sService: {serviceName: a, namespace: Bad_NS}}]'), 'spec.egress[0].toServices[0].k8sService.namespace'],
    ['toServices beside toEndpoints', policy('toServices: [{k8sService: {serviceName: a}}]\n    toEndpoints: [{}]'), 'spec.egress[0]'],
    ['toServices on ingress', policy('toServices: [{k8sService: {serviceName: a}}]').replace('egress:', 'ingress:'), 'spec.ingress[0].toServices'],
  ];
  for (const [name, text, path] of rejected) {
    it(`rejects ${name}, naming the path`, () => {
      assert.throws(() => parsePolicyText(text, 'x'), (err: unknown) => err instanceof ValidationError && err.path === path);
    });
  }
});
