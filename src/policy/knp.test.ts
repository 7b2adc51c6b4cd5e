import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { referencedCidrs } from './cidrs.js';
import { parsePolicyText } from './parse.js';
import { ruleToJSON } from './render.js';
import { PolicyRepository } from './repository.js';
import { SW_L3_L4 } from './starwars.testdata.js';
import type { PeerRule } from './types.js';
import { rejectsPolicy } from '../testing/policy-parse.js';

const knp = (spec: string, meta = 'name: p\n  namespace: x') =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  ${meta}\nspec:\n${spec}`;

const parseOne = (text: string) => parsePolicyText(text)[0]!;
const selectorsOf = (r: PeerRule | undefined) => (r?.peer?.kind === 'endpoints' ? r.peer.selectors.map(String) : undefined);

const rejects = rejectsPolicy;

describe('parsing a Kubernetes NetworkPolicy', () => {
  it('names it NetworkPolicy in its namespace, else the default namespace, with the derived labels', () => {
    const p = parseOne(knp('  podSelector: {}\n'));
    assert.deepEqual(p.ref, { kind: 'NetworkPolicy', namespace: 'x', name: 'p' });
    assert.equal(parsePolicyText(knp('  podSelector: {}\n', 'name: p'), 'team-a')[0]!.ref.namespace, 'team-a');
    const rule = p.rules[0]!;
    assert.ok(rule.labels.has('io.cilium.k8s.policy.derived-from', 'k8s', 'NetworkPolicy'));
    assert.ok(rule.labels.has('io.cilium.k8s.policy.name', 'k8s', 'p'));
    assert.ok(rule.labels.has('io.cilium.k8s.policy.namespace', 'k8s', 'x'));
  });

  it('scopes podSelector to the policy namespace with k8s: keys; an absent one is every pod of the namespace', () => {
    const sel = (spec: string) => parseOne(knp(spec)).rules[0]!.endpointSelector.toString();
    assert.equal(sel('  podSelector: {matchLabels: {app: db}}\n'), 'k8s:app=db,k8s:io.kubernetes.pod.namespace=x');
    assert.equal(sel('  podSelector: {}\n'), 'k8s:io.kubernetes.pod.namespace=x');
    assert.equal(sel('  ingress: []\n'), 'k8s:io.kubernetes.pod.namespace=x');
    assert.equal(sel('  podSelector: {matchExpressions: [{key: tier, operator: NotIn, values: [web]}]}\n'),
      'k8s:io.kubernetes.pod.namespace=x,k8s:tier notin (web)');
  });

  it('translates peers: podSelector in the namespace, namespaceSelector on namespace labels, both ANDed, peers ORed', () => {
    const rule = parseOne(knp('  podSelector: {}\n  ingress:\n  - from:\n    - podSelector: {matchLabels: {app: client}}\n' +
      '    - namespaceSelector: {matchLabels: {team: a}}\n    - namespaceSelector: {matchExpressions: [{key: env, operator: In, values: [prod]}]}\n' +
      '      podSelector: {matchLabels: {app: client}}\n    - namespaceSelector: {}\n    - podSelector: {}\n')).rules[0]!;
    assert.deepEqual(selectorsOf(rule.ingress[0]), [
      'k8s:app=client,k8s:io.kubernetes.pod.namespace=x',
      'k8s:io.cilium.k8s.namespace.labels.team=a',
      'k8s:app=client,k8s:io.cilium.k8s.namespace.labels.env=prod',
      'k8s:io.kubernetes.pod.namespace',
      'k8s:io.kubernetes.pod.namespace=x',
    ]);
    assert.equal(rule.ingress[0]!.peer?.kind === 'endpoints' && rule.ingress[0]!.peer.field, 'fromEndpoints');
  });

  it('reads a missing or empty from/to as any peer, and a missing or empty ports as every port', () => {
    const rule = parseOne(knp('  podSelector: {}\n  ingress: [{}, {from: [], ports: []}]\n  egress: [{ports: [{port: 53, protocol: UDP}]}]\n')).rules[0]!;
    assert.deepEqual(rule.ingress.map(selectorsOf), [['{}'], ['{}']]);
    assert.deepEqual(rule.ingress.map((r) => r.toPorts), [undefined, undefined]);
    assert.deepEqual(selectorsOf(rule.egress[0]), ['{}']);
    assert.deepEqual(rule.egress[0]!.toPorts, [{ ports: [{ port: 53, protocol: 'UDP' }] }]);
  });

  it('defaults the protocol to TCP and a missing port to every port, and keeps named ports and ranges', () => {
    const rule = parseOne(knp('  podSelector: {}\n  ingress:\n  - ports:\n    - port: 80\n    - protocol: SCTP\n    - {port: http-alt, protocol: TCP}\n' +
      '    - {port: 8000, endPort: 8100, protocol: UDP}\n')).rules[0]!;
    assert.deepEqual(rule.ingress[0]!.toPorts, [{ ports: [
      { port: 80, protocol: 'TCP' }, { port: 0, protocol: 'SCTP' }, { port: 'http-alt', protocol: 'TCP' }, { port: 8000, endPort: 8100, protocol: 'UDP' },
    ] }]);
  });

  it('translates only the directions in policyTypes, defaulting to Ingress plus Egress when egress has rules', () => {
    const sections = (spec: string) => {
      const r = parseOne(knp(`  podSelector: {}\n${spec}`)).rules[0]!;
      return [r.ingress.length, r.egress.length];
    };
    assert.deepEqual(sections(''), [1, 0], 'ingress default deny');
    assert.deepEqual(sections('  egress: []\n'), [1, 0], 'an empty egress list does not add Egress');
    assert.deepEqual(sections('  egress: [{}]\n'), [1, 1]);
    assert.deepEqual(sections('  policyTypes: [Egress]\n  ingress: [{}, {}]\n'), [0, 1], 'ingress rules without Ingress are ignored');
    assert.deepEqual(sections('  policyTypes: [Ingress, Egress]\n  ingress: [{}, {}]\n'), [2, 1]);
    const deny = parseOne(knp('  podSelector: {}\n  policyTypes: [Ingress]\n')).rules[0]!.ingress;
    assert.deepEqual(deny, [{ path: 'spec.policyTypes' }], 'a listed direction without rules: one entry without peer and ports');
  });

  it('translates ipBlock peers into a CIDR peer of their own that also matches pods, with the rule\'s ports and path', () => {
    const rule = parseOne(knp('  podSelector: {}\n  ingress:\n  - from:\n    - podSelector: {matchLabels: {app: client}}\n' +
      '    - ipBlock: {cidr: 198.51.100.7/24, except: [198.51.100.128/25]}\n    - ipBlock: {cidr: 203.0.113.9/32}\n    ports: [{port: 80}]\n' +
      '  egress:\n  - to: [{ipBlock: {cidr: 10.0.0.0/8}}]\n')).rules[0]!;
    assert.deepEqual(rule.ingress.map((r) => [r.peer?.kind, r.path]), [['endpoints', 'spec.ingress[0]'], ['cidr', 'spec.ingress[0]']]);
    assert.deepEqual(rule.ingress[1], {
      peer: { kind: 'cidr', field: 'fromCIDRSet', matchesPods: true, cidrs: [
        { cidr: '198.51.100.0/24', except: ['198.51.100.128/25'] }, { cidr: '203.0.113.9/32', except: [] },
      ] },
      path: 'spec.ingress[0]',
      toPorts: [{ ports: [{ port: 80, protocol: 'TCP' }] }],
    });
    assert.deepEqual(rule.ingress[0]!.toPorts, rule.ingress[1]!.toPorts);
    assert.deepEqual(rule.egress, [{ peer: { kind: 'cidr', field: 'toCIDRSet', matchesPods: true, cidrs: [{ cidr: '10.0.0.0/8', except: [] }] }, path: 'spec.egress[0]' }]);
  });

  it('names every ipBlock prefix for CIDR identities, and renders the block as a CIDR set', () => {
    const repo = new PolicyRepository();
    repo.import(parsePolicyText(knp('  podSelector: {}\n  ingress: [{from: [{ipBlock: {cidr: 198.51.100.0/24, except: [198.51.100.128/25]}}]}]\n')));
    assert.deepEqual(referencedCidrs(repo), ['198.51.100.0/24', '198.51.100.128/25']);
    const json = ruleToJSON(repo.rules()[0]!.rule);
    assert.deepEqual(json['ingress'], [{ fromCIDRSet: [{ cidr: '198.51.100.0/24', except: ['198.51.100.128/25'] }] }]);
  });

  it('renders the translated rule as policy get shows it', () => {
    const json = ruleToJSON(parseOne(knp('  podSelector: {matchLabels: {app: db}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {app: client}}}]\n    ports: [{port: 5432}]\n')).rules[0]!);
    assert.deepEqual(json['endpointSelector'], { matchLabels: { 'k8s:app': 'db', 'k8s:io.kubernetes.pod.namespace': 'x' } });
    assert.deepEqual(json['ingress'], [{
      fromEndpoints: [{ matchLabels: { 'k8s:app': 'client', 'k8s:io.kubernetes.pod.namespace': 'x' } }],
      toPorts: [{ ports: [{ port: '5432', protocol: 'TCP' }] }],
    }]);
    assert.deepEqual(json['labels'], [
      { key: 'io.cilium.k8s.policy.derived-from', value: 'NetworkPolicy', source: 'k8s' },
      { key: 'io.cilium.k8s.policy.name', value: 'p', source: 'k8s' },
      { key: 'io.cilium.k8s.policy.namespace', value: 'x', source: 'k8s' },
    ]);
  });

  it('is stored next to a CiliumNetworkPolicy of the same name, with cookies that name its own fields', () => {
    const repo = new PolicyRepository();
    const np = knp('  podSelector: {}\n  policyTypes: [Ingress, Egress]\n  ingress: [{}, {ports: [{port: 80}]}]\n', 'name: rule1\n  namespace: default');
    const res = repo.import([...parsePolicyText(np), ...parsePolicyText(SW_L3_L4)]);
    assert.deepEqual(res.results.map((r) => `${r.ref.kind}/${r.ref.name}:${r.action}`), ['NetworkPolicy/rule1:created', 'CiliumNetworkPolicy/rule1:created']);
    const ref = { kind: 'NetworkPolicy' as const, namespace: 'default', name: 'rule1' };
    assert.equal(repo.describeCookie(repo.cookie(ref, 0, 'ingress', 1))?.path, 'spec.ingress[1]');
    assert.deepEqual(repo.describeCookie(repo.cookie(ref, 0, 'egress', 0)), { ref, ruleIndex: 0, section: 'egress', index: 0, path: 'spec.policyTypes' });
    assert.equal(repo.toListModel().policies[0]!.kind, 'NetworkPolicy');
  });
});

describe('rejecting a Kubernetes NetworkPolicy', () => {
  const cases: [string, string, string, RegExp?][] = [
    ['an unknown field', knp('  podSelector: {}\n  ingres: []\n'), 'spec.ingres', /did you mean `ingress`/],
    ['a CiliumNetworkPolicy peer field', knp('  podSelector: {}\n  ingress: [{fromEndpoints: [{}]}]\n'), 'spec.ingress[0].fromEndpoints', /CiliumNetworkPolicy field.*`from`/],
    ['endpointSelector for podSelector', knp('  endpointSelector: {}\n'), 'spec.endpointSelector', /`podSelector`/],
    ['toPorts for ports', knp('  egress: [{toPorts: []}]\n'), 'spec.egress[0].toPorts', /`ports`/],
    ['a lower-case protocol', knp('  ingress: [{ports: [{port: 80, protocol: tcp}]}]\n'), 'spec.ingress[0].ports[0].protocol', /upper case: TCP/],
    ['protocol ANY', knp('  ingress: [{ports: [{protocol: ANY}]}]\n'), 'spec.ingress[0].ports[0].protocol', /TCP, UDP, SCTP/],
    ['port 0', knp('  ingress: [{ports: [{port: 0}]}]\n'), 'spec.ingress[0].ports[0].port', /1-65535/],
    ['a port above 65535', knp('  egress: [{ports: [{port: 70000}]}]\n'), 'spec.egress[0].ports[0].port', /1-65535/],
    ['a quoted port number', knp('  ingress: [{ports: [{port: "80"}]}]\n'), 'spec.ingress[0].ports[0].port', /without quotes: 80/],
    ['an upper-case port name', knp('  ingress: [{ports: [{port: HTTP}]}]\n'), 'spec.ingress[0].ports[0].port', /port name/],
    ['a port of the wrong type', knp('  ingress: [{ports: [{port: [80]}]}]\n'), 'spec.ingress[0].ports[0].port', /port number/],
    ['endPort without port', knp('  ingress: [{ports: [{endPort: 90}]}]\n'), 'spec.ingress[0].ports[0].endPort', /needs port/],
    ['endPort after a named port', knp('  ingress: [{ports: [{port: http, endPort: 90}]}]\n'), 'spec.ingress[0].ports[0].endPort', /numeric port/],
    ['endPort below port', knp('  ingress: [{ports: [{port: 100, endPort: 90}]}]\n'), 'spec.ingress[0].ports[0].endPort', /below port 100/],
    ['an unknown policy type', knp('  policyTypes: [Ingress, Both]\n'), 'spec.policyTypes[1]', /Ingress, Egress/],
    ['an empty peer', knp('  ingress: [{from: [{}]}]\n'), 'spec.ingress[0].from[0]', /needs podSelector/],
    ['ipBlock next to a selector', knp('  ingress: [{from: [{podSelector: {}, ipBlock: {cidr: 10.0.0.0/8}}]}]\n'), 'spec.ingress[0].from[0].ipBlock', /cannot be combined/],
    ['an invalid ipBlock CIDR', knp('  ingress: [{from: [{ipBlock: {cidr: 10.0.0.300/8}}]}]\n'), 'spec.ingress[0].from[0].ipBlock.cidr', /CIDR/],
    ['a malformed IPv6 ipBlock', knp('  egress: [{to: [{podSelector: {}}, {ipBlock: {cidr: "2001:db8::/200"}}]}]\n'), 'spec.egress[0].to[1].ipBlock.cidr',
      /not an IPv4 or IPv6 CIDR/],
    ['an IPv6 ipBlock except outside its cidr', knp('  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}}]}, {from: [{ipBlock: {cidr: "2001:db8::/32", except: ["2001:db8::/16"]}}]}]\n'),
      'spec.ingress[1].from[0].ipBlock.except[0]', /not inside 2001:db8::\/32/],
    ['ipBlock next to a namespaceSelector', knp('  egress: [{to: [{namespaceSelector: {}, ipBlock: {cidr: 10.0.0.0/8}}]}]\n'), 'spec.egress[0].to[0].ipBlock', /cannot be combined/],
    ['an ipBlock except outside its cidr', knp('  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]}}]}]\n'),
      'spec.ingress[0].from[0].ipBlock.except[0]', /not inside 10\.0\.0\.0\/8/],
    ['a source prefix on a label key', knp('  podSelector: {matchLabels: {k8s:app: db}}\n'), 'spec.podSelector.matchLabels["k8s:app"]', /Kubernetes label key/],
    ['a bad key in a namespaceSelector expression', knp('  ingress: [{from: [{namespaceSelector: {matchExpressions: [{key: "a b", operator: Exists}]}}]}]\n'),
      'spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].key'],
    ['an unknown selector operator', knp('  podSelector: {matchExpressions: [{key: a, operator: Has}]}\n'), 'spec.podSelector.matchExpressions[0].operator', /unknown operator/],
    ['a missing spec', knp('').replace('spec:\n', ''), 'spec', /required/],
    ['an invalid namespace', knp('  podSelector: {}\n', 'name: p\n  namespace: Team_A'), 'metadata.namespace'],
    ['a beta apiVersion', knp('  podSelector: {}\n').replace('networking.k8s.io/v1', 'extensions/v1beta1'), 'apiVersion', /networking\.k8s\.io\/v1/],
    ['the Cilium apiVersion', knp('  podSelector: {}\n').replace('networking.k8s.io/v1', 'cilium.io/v2'), 'apiVersion', /use networking\.k8s\.io\/v1/],
    ['a mistake in the second document, prefixed with its index', `${SW_L3_L4}---\n${knp('  ingress: [{ports: [{endPort: 9}]}]\n')}`, '[1].spec.ingress[0].ports[0].endPort'],
  ];
  for (const [name, text, path, message] of cases) it(`rejects ${name} at ${path || 'the top'}`, () => rejects(text, path, message));
});
