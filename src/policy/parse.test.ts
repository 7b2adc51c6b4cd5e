import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { LabelSet } from '../labels/labels.js';
import { buildPodLabels } from '../labels/podlabels.js';
import { ValidationError } from '../common/errors.js';
import { ipv6CidrPeers } from './cidrgate.js';
import { normalizePolicy } from './normalize.js';
import { parsePolicyObject, parsePolicyText, parsePolicyTextWithWarnings } from './parse.js';
import { ruleToJSON } from './render.js';
import { policyDocumentSchema } from './schema.js';
import { SW_L3_L4, SW_L3_L4_L7 } from './starwars.testdata.js';
import { rejectsPolicy } from '../testing/policy-parse.js';

const header = 'apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: p\n';
const withSpec = (spec: string) => `${header}spec:\n  endpointSelector: {}\n${spec}`;

const rejects = rejectsPolicy;

describe('parsing the Star Wars policies', () => {
  it('accepts the L3/L4 policy with its top-level description', () => {
    const [p] = parsePolicyText(SW_L3_L4);
    assert.deepEqual(p!.ref, { kind: 'CiliumNetworkPolicy', namespace: 'default', name: 'rule1' });
    assert.equal(p!.description, 'L3-L4 policy to restrict deathstar access to empire ships only');
    const rule = p!.rules[0]!;
    assert.equal(rule.endpointSelector.toString(), 'any:class=deathstar,any:org=empire,k8s:io.kubernetes.pod.namespace=default');
    assert.deepEqual(rule.ingress[0]!.toPorts, [{ ports: [{ port: 80, protocol: 'TCP' }] }]);
  });

  it('accepts the demo policy files shipped in examples/starwars', () => {
    for (const file of ['sw_l3_l4_policy.yaml', 'sw_l3_l4_l7_policy.yaml']) {
      const text = readFileSync(new URL(`../../examples/starwars/${file}`, import.meta.url), 'utf8');
      assert.deepEqual(parsePolicyText(text).map((p) => p.ref.name), ['rule1']);
    }
  });

  it('accepts the L7 policy and keeps its HTTP rules', () => {
    const [p] = parsePolicyText(SW_L3_L4_L7);
    const rule = p!.rules[0]!;
    assert.equal(rule.description, 'L7 policy to restrict access to specific HTTP call');
    assert.deepEqual(rule.ingress[0]!.toPorts![0]!.rules, { http: [{ method: 'POST', path: '/v1/request-landing' }] });
  });

  it('renders the stored rule as policy get shows it, with namespace and derived labels', () => {
    const json = ruleToJSON(parsePolicyText(SW_L3_L4)[0]!.rules[0]!);
    assert.deepEqual(json['endpointSelector'], { matchLabels: { 'any:class': 'deathstar', 'any:org': 'empire', 'k8s:io.kubernetes.pod.namespace': 'default' } });
    assert.deepEqual((json['ingress'] as Record<string, unknown>[])[0]!['fromEndpoints'],
      [{ matchLabels: { 'any:org': 'empire', 'k8s:io.kubernetes.pod.namespace': 'default' } }]);
    assert.deepEqual(json['labels'], [
      { key: 'io.cilium.k8s.policy.derived-from', value: 'CiliumNetworkPolicy', source: 'k8s' },
      { key: 'io.cilium.k8s.policy.name', value: 'rule1', source: 'k8s' },
      { key: 'io.cilium.k8s.policy.namespace', value: 'default', source: 'k8s' },
    ]);
  });
});

describe('parsing policy text', () => {
  it('uses metadata.namespace, else the default namespace', () => {
    assert.equal(parsePolicyText(SW_L3_L4, 'team-a')[0]!.ref.namespace, 'team-a');
    const ns = SW_L3_L4.replace('name: "rule1"', 'name: "rule1"\n  namespace: prod');
    assert.equal(parsePolicyText(ns, 'team-a')[0]!.ref.namespace, 'prod');
  });

  it('reads several YAML documents, a JSON array and a List', () => {
    assert.equal(parsePolicyText(`${SW_L3_L4}---\n${SW_L3_L4.replace('rule1', 'rule2')}\n---\n`).length, 2);
    const obj = parsePolicyText(SW_L3_L4)[0]!.object;
    const two = [obj, { ...(obj as object), metadata: { name: 'rule2' } }];
    assert.equal(parsePolicyText(JSON.stringify(two)).length, 2);
    assert.equal(parsePolicyText(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: two })).length, 2);
  });

  it('keeps the object as given', () => {
    const [p] = parsePolicyText(SW_L3_L4);
    assert.equal((p!.object as { description: string }).description, 'L3-L4 policy to restrict deathstar access to empire ships only');
  });

  it('puts spec first and specs after it, with their paths', () => {
    const [p] = parsePolicyText(`${header}spec:\n  endpointSelector: {}\nspecs:\n- endpointSelector: {matchLabels: {a: b}}\n- endpointSelector: {}\n`);
    assert.deepEqual(p!.rules.map((r) => [r.index, r.path]), [[0, 'spec'], [1, 'specs[0]'], [2, 'specs[1]']]);
  });

  it('parses named ports, port ranges, a default protocol of ANY and port 0', () => {
    const [p] = parsePolicyText(withSpec('  ingress:\n  - toPorts:\n    - ports:\n      - port: HTTP-8080\n      - {port: 8000, endPort: 8100, protocol: UDP}\n      - {port: "0", protocol: SCTP}\n'));
    assert.deepEqual(p!.rules[0]!.ingress[0]!.toPorts![0]!.ports, [
      { port: 'http-8080', protocol: 'ANY' }, { port: 8000, endPort: 8100, protocol: 'UDP' }, { port: 0, protocol: 'SCTP' },
    ]);
  });

  it('parses entities, and 0.0.0.0/0 as a CIDR peer in every section', () => {
    const [p] = parsePolicyText(withSpec('  egress:\n  - toEntities: [world, cluster]\n  - toCIDR: [0.0.0.0/0]\n' +
      '  - toCIDRSet: [{cidr: 0.0.0.0/0}, {cidr: 0.0.0.0/0, except: []}]\n  egressDeny: [{toCIDR: [0.0.0.0/0]}]\n' +
      '  ingress: [{fromCIDRSet: [{cidr: 0.0.0.0/0}]}]\n  ingressDeny: [{fromCIDR: [0.0.0.0/0]}]\n'));
    const rule = p!.rules[0]!;
    assert.deepEqual(rule.egress[0]!.peer, { kind: 'entities', field: 'toEntities', entities: ['world', 'cluster'] });
    const world = { cidr: '0.0.0.0/0', except: [] };
    assert.deepEqual(rule.egress[1]!.peer, { kind: 'cidr', field: 'toCIDR', cidrs: [world] });
    assert.deepEqual(rule.egress[2]!.peer, { kind: 'cidr', field: 'toCIDRSet', cidrs: [world, world] });
    assert.deepEqual(rule.egressDeny[0]!.peer, { kind: 'cidr', field: 'toCIDR', cidrs: [world] });
    assert.deepEqual(rule.ingress[0]!.peer, { kind: 'cidr', field: 'fromCIDRSet', cidrs: [world] });
    assert.deepEqual(rule.ingressDeny[0]!.peer, { kind: 'cidr', field: 'fromCIDR', cidrs: [world] });
  });

  it('normalizes CIDR peers, setting the IPv6 one apart with a warning rather than refusing it', () => {
    const obj = parseYaml(withSpec('  egress:\n  - toCIDR: [10.1.2.3/8, "2001:db8::1/32"]\n' +
      '  - toCIDRSet: [{cidr: 1.0.0.0/8, except: [1.0.0.1/32]}]\n'));
    const doc = policyDocumentSchema.parse(obj);
    assert.deepEqual(ipv6CidrPeers(doc).map((u) => u.path), [['spec', 'egress', 0, 'toCIDR', 1]]);
    const egress = normalizePolicy(doc, obj, 'default').rules[0]!.egress;
    assert.deepEqual(egress[0]!.peer, {
      kind: 'cidr', field: 'toCIDR', cidrs: [{ cidr: '10.0.0.0/8', except: [] }],
      asWritten: [{ cidr: '10.0.0.0/8', except: [] }, { cidr: '2001:db8::/32', except: [] }],
    });
    assert.deepEqual(egress[1]!.peer, { kind: 'cidr', field: 'toCIDRSet', cidrs: [{ cidr: '1.0.0.0/8', except: ['1.0.0.1/32'] }] });
  });

  it('parses enableDefaultDeny, rule labels in both forms, and deny sections', () => {
    const [p] = parsePolicyText(withSpec('  enableDefaultDeny: {ingress: false}\n  labels: ["team=a", {key: tier, value: web, source: k8s}]\n' +
      '  ingressDeny:\n  - fromEntities: [world]\n    toPorts: [{ports: [{port: 22, protocol: TCP}]}]\n'));
    const rule = p!.rules[0]!;
    assert.deepEqual(rule.enableDefaultDeny, { ingress: false });
    assert.ok(rule.labels.has('team', 'unspec', 'a') && rule.labels.has('tier', 'k8s', 'web'));
    assert.equal(rule.ingressDeny.length, 1);
  });
});

describe('namespace scoping', () => {
  const peersOf = (text: string) => parsePolicyText(text)[0]!.rules[0]!.ingress.map((r) =>
    r.peer?.kind === 'endpoints' ? r.peer.selectors.map(String) : []);

  it('limits {} peers of a CiliumNetworkPolicy to its namespace', () => {
    assert.deepEqual(peersOf(withSpec('  ingress:\n  - fromEndpoints: [{}]\n')), [['k8s:io.kubernetes.pod.namespace=default']]);
  });

  it('leaves peers that name a namespace, namespace labels or reserved labels alone', () => {
    const text = withSpec('  ingress:\n  - fromEndpoints:\n    - matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system, k8s-app: kube-dns}\n' +
      '    - matchLabels: {io.kubernetes.pod.namespace: other}\n    - matchLabels: {io.cilium.k8s.namespace.labels.team: a}\n' +
      '    - matchLabels: {reserved:host: ""}\n');
    assert.deepEqual(peersOf(text), [['any:k8s-app=kube-dns,k8s:io.kubernetes.pod.namespace=kube-system',
      'any:io.kubernetes.pod.namespace=other', 'any:io.cilium.k8s.namespace.labels.team=a', 'reserved:host=']]);
  });

  const asCcnp = (text: string) => text.replace('CiliumNetworkPolicy', 'CiliumClusterwideNetworkPolicy');
  const onePeer = (selector: string, ccnp = false) => {
    const text = withSpec(`  ingress:\n  - fromEndpoints: [${selector}]\n`);
    return peersOf(ccnp ? asCcnp(text) : text)[0]![0]!;
  };
  const NS = 'k8s:io.kubernetes.pod.namespace';

  it('takes CiliumNetworkPolicy peers that name the pod namespace key, with k8s: or any:, as written', () => {
    assert.equal(onePeer('{matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system}}'), `${NS}=kube-system`);
    assert.equal(onePeer('{matchLabels: {any:io.kubernetes.pod.namespace: other, app: x}}'), 'any:app=x,any:io.kubernetes.pod.namespace=other');
    assert.equal(onePeer('{matchExpressions: [{key: io.kubernetes.pod.namespace, operator: In, values: [a, b]}]}'),
      'any:io.kubernetes.pod.namespace in (a,b)');
    assert.equal(onePeer('{matchExpressions: [{key: k8s:io.kubernetes.pod.namespace, operator: NotIn, values: [default]}]}'),
      `${NS} notin (default)`);
  });

  it('takes CiliumNetworkPolicy peers that name a namespace label, with k8s: or any:, as written, across namespaces', () => {
    assert.equal(onePeer('{matchLabels: {io.cilium.k8s.namespace.labels.team: a}}'), 'any:io.cilium.k8s.namespace.labels.team=a');
    assert.equal(onePeer('{matchLabels: {k8s:io.cilium.k8s.namespace.labels.team: a, app: web}}'),
      'any:app=web,k8s:io.cilium.k8s.namespace.labels.team=a');
    assert.equal(onePeer('{matchExpressions: [{key: any:io.cilium.k8s.namespace.labels.env, operator: Exists}]}'),
      'any:io.cilium.k8s.namespace.labels.env');

    const peer = parsePolicyText(withSpec('  ingress:\n  - fromEndpoints: [{matchLabels: {io.cilium.k8s.namespace.labels.team: empire, app: web}}]\n'))[0]!
      .rules[0]!.ingress[0]!.peer;
    assert.ok(peer?.kind === 'endpoints');
    const web = (namespace: string, team?: string) => buildPodLabels({ namespace, podLabels: { app: 'web' }, ...(team ? { namespaceLabels: { team } } : {}) }).identityLabels;
    assert.ok(peer.selectors[0]!.matches(web('other', 'empire')), 'a pod of another namespace with the label');
    assert.ok(peer.selectors[0]!.matches(web('default', 'empire')), 'a pod of the policy namespace with the label');
    assert.ok(!peer.selectors[0]!.matches(web('default')), 'not a pod of the policy namespace without the label');
    assert.ok(!peer.selectors[0]!.matches(web('other', 'rebels')));
  });

  it('takes peers with a reserved: key as written, even combined with other keys', () => {
    for (const ccnp of [false, true]) {
      assert.equal(onePeer('{matchLabels: {reserved:host: ""}}', ccnp), 'reserved:host=');
      assert.equal(onePeer('{matchLabels: {reserved:world: "", app: x}}', ccnp), 'any:app=x,reserved:world=');
      assert.equal(onePeer('{matchExpressions: [{key: reserved:remote-node, operator: Exists}]}', ccnp), 'reserved:remote-node');
    }
    const peer = parsePolicyText(withSpec('  ingress:\n  - fromEndpoints: [{matchLabels: {reserved:host: ""}}]\n'))[0]!.rules[0]!.ingress[0]!.peer;
    assert.ok(peer?.kind === 'endpoints' && peer.selectors[0]!.matches(LabelSet.parse(['reserved:host'])));
  });

  it('scopes CiliumNetworkPolicy peers whose namespace keys have another source to the policy namespace', () => {
    assert.equal(onePeer('{matchLabels: {app: web}}'), `any:app=web,${NS}=default`);
    assert.equal(onePeer('{matchLabels: {container:io.cilium.k8s.namespace.labels.team: a}}'), `container:io.cilium.k8s.namespace.labels.team=a,${NS}=default`);
    assert.equal(onePeer('{matchLabels: {container:io.kubernetes.pod.namespace: x}}'), `container:io.kubernetes.pod.namespace=x,${NS}=default`);
  });

  it('limits cluster-wide peers to pods even when they name namespace labels, but not when they name the pod namespace', () => {
    assert.equal(onePeer('{matchLabels: {io.cilium.k8s.namespace.labels.team: a}}', true), `any:io.cilium.k8s.namespace.labels.team=a,${NS}`);
    assert.equal(onePeer('{matchLabels: {app: web}}', true), `any:app=web,${NS}`);
    assert.equal(onePeer('{matchLabels: {any:io.kubernetes.pod.namespace: x}}', true), 'any:io.kubernetes.pod.namespace=x');
    assert.equal(onePeer('{matchExpressions: [{key: k8s:io.kubernetes.pod.namespace, operator: In, values: [a]}]}', true), `${NS}=a`);
  });

  it('selects all pods but no reserved identity with {} peers of a cluster-wide policy', () => {
    const ccnp = withSpec('  ingress:\n  - fromEndpoints: [{}]\n').replace('CiliumNetworkPolicy', 'CiliumClusterwideNetworkPolicy');
    const [p] = parsePolicyText(ccnp);
    assert.deepEqual(p!.ref, { kind: 'CiliumClusterwideNetworkPolicy', namespace: '', name: 'p' });
    assert.equal(p!.rules[0]!.endpointSelector.toString(), '{}');
    assert.deepEqual(peersOf(ccnp), [['k8s:io.kubernetes.pod.namespace']]);
    assert.ok(!p!.rules[0]!.labels.has('io.cilium.k8s.policy.namespace'));
  });

  it('does not scope peers of a cluster-wide rule for reserved:init endpoints', () => {
    const ccnp = `apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: p}\nspec:\n  endpointSelector: {matchLabels: {reserved:init: ""}}\n  egress:\n  - toEndpoints: [{}]\n`;
    const peer = parsePolicyText(ccnp)[0]!.rules[0]!.egress[0]!.peer;
    assert.ok(peer?.kind === 'endpoints' && peer.selectors[0]!.selectsAll);
  });

  it('replaces another namespace named in the endpointSelector of a CiliumNetworkPolicy with its own', () => {
    const text = `${header}spec:\n  endpointSelector: {matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system, app: x}}\n`;
    assert.equal(parsePolicyText(text)[0]!.rules[0]!.endpointSelector.toString(), 'any:app=x,k8s:io.kubernetes.pod.namespace=default');
  });

  it('keeps namespace expressions in the endpointSelector of a CiliumNetworkPolicy, ANDed with its own namespace', () => {
    const subject = (sel: string) => parsePolicyText(`${header}spec:\n  endpointSelector: ${sel}\n`)[0]!.rules[0]!.endpointSelector;
    const notHere = subject('{matchExpressions: [{key: k8s:io.kubernetes.pod.namespace, operator: NotIn, values: [default]}]}');
    assert.equal(notHere.toString(), `${NS} notin (default),${NS}=default`);
    assert.ok(!notHere.matches(LabelSet.parse([`${NS}=default`])), 'selects nothing');
    assert.equal(subject('{matchLabels: {any:io.kubernetes.pod.namespace: other}}').toString(), `any:io.kubernetes.pod.namespace=other,${NS}=default`);
  });

  it('selects only endpoints of its own namespace with a CiliumNetworkPolicy', () => {
    const rule = parsePolicyText(SW_L3_L4)[0]!.rules[0]!;
    const labels = ['k8s:org=empire', 'k8s:class=deathstar'];
    assert.ok(rule.endpointSelector.matches(LabelSet.parse([...labels, 'k8s:io.kubernetes.pod.namespace=default'])));
    assert.ok(!rule.endpointSelector.matches(LabelSet.parse([...labels, 'k8s:io.kubernetes.pod.namespace=other'])));
  });
});

describe('rejecting malformed policies with the exact path', () => {
  const cases: [string, string, string, RegExp?][] = [
    ['an unknown top-level field', `${SW_L3_L4}extra: 1\n`, 'extra', /unknown field/],
    ['a misspelt peer field, with a hint', withSpec('  ingress:\n  - fromEndpoint: [{}]\n'), 'spec.ingress[0].fromEndpoint', /did you mean `fromEndpoints`/],
    ['a Cilium field not supported yet', withSpec('  egress:\n  - toFQDNs: [{matchName: x}]\n'), 'spec.egress[0].toFQDNs', /does not support yet/],
    ['a port above 65535', withSpec('  ingress:\n  - toPorts: [{ports: [{port: "99999"}]}]\n'), 'spec.ingress[0].toPorts[0].ports[0].port', /0-65535/],
    ['a negative port', withSpec('  ingress:\n  - toPorts: [{ports: [{port: -1}]}]\n'), 'spec.ingress[0].toPorts[0].ports[0].port'],
    ['a port of the wrong type', withSpec('  ingress:\n  - toPorts: [{ports: [{port: true}]}]\n'), 'spec.ingress[0].toPorts[0].ports[0].port'],
    ['a malformed port name', withSpec('  ingress:\n  - toPorts: [{ports: [{port: "http_80"}]}]\n'), 'spec.ingress[0].toPorts[0].ports[0].port', /port name/],
    ['endPort below port', withSpec('  ingress:\n  - toPorts: [{ports: [{port: 90, endPort: 80}]}]\n'), 'spec.ingress[0].toPorts[0].ports[0].endPort', /below/],
    ['endPort with a named port', withSpec('  ingress:\n  - toPorts: [{ports: [{port: http, endPort: 80}]}]\n'), 'spec.ingress[0].toPorts[0].ports[0].endPort'],
    ['a lower-case protocol', withSpec('  egress:\n  - toPorts: [{ports: [{port: 53, protocol: udp}]}]\n'), 'spec.egress[0].toPorts[0].ports[0].protocol', /upper case/],
    ['ICMP as a port protocol', withSpec('  egress:\n  - toPorts: [{ports: [{port: 0, protocol: ICMP}]}]\n'), 'spec.egress[0].toPorts[0].ports[0].protocol', /ICMP/],
    ['a bad selector operator', withSpec('  ingress:\n  - fromEndpoints: [{matchExpressions: [{key: a, operator: Equals, values: [b]}]}]\n'),
      'spec.ingress[0].fromEndpoints[0].matchExpressions[0].operator', /unknown operator/],
    ['In without values', `${header}spec:\n  endpointSelector: {matchExpressions: [{key: a, operator: In}]}\n`, 'spec.endpointSelector.matchExpressions[0].values'],
    ['two L3 peer kinds in one rule', withSpec('  ingress:\n  - fromEndpoints: [{}]\n    fromCIDR: [10.0.0.0/8]\n'), 'spec.ingress[0]', /cannot be combined/],
    ['a missing endpointSelector', `${header}spec:\n  ingress: []\n`, 'spec.endpointSelector', /required/],
    ['neither spec nor specs', header, '', /spec/],
    ['a section that is not a list', withSpec('  egress: {toEndpoints: []}\n'), 'spec.egress', /list/],
    ['L7 rules in a deny section', withSpec('  ingressDeny:\n  - toPorts: [{ports: [{port: 80}], rules: {http: [{}]}}]\n'), 'spec.ingressDeny[0].toPorts[0].rules'],
    ['DNS rules, not supported yet', withSpec('  egress:\n  - toPorts: [{ports: [{port: 53}], rules: {dns: [{matchPattern: "*"}]}}]\n'), 'spec.egress[0].toPorts[0].rules.dns'],
    ['an invalid HTTP path regex', withSpec('  ingress:\n  - toPorts: [{ports: [{port: 80}], rules: {http: [{path: "/v1/(" }]}}]\n'), 'spec.ingress[0].toPorts[0].rules.http[0].path'],
    ['an unknown entity', withSpec('  egress:\n  - toEntities: [internet]\n'), 'spec.egress[0].toEntities[0]', /unknown entity/],
    ['an invalid CIDR', withSpec('  egress:\n  - toCIDR: [10.0.0.300/8]\n'), 'spec.egress[0].toCIDR[0]'],
    ['an except outside its CIDR', withSpec('  egress:\n  - toCIDRSet: [{cidr: 10.0.0.0/8, except: [11.0.0.0/8]}]\n'), 'spec.egress[0].toCIDRSet[0].except[0]', /not inside/],
    ['a non-string label value', `${header}spec:\n  endpointSelector: {matchLabels: {app.kubernetes.io/version: 1}}\n`,
      'spec.endpointSelector.matchLabels["app.kubernetes.io/version"]', /string/],
    ['a rule label without a key', withSpec('  labels: ["k8s:=x"]\n'), 'spec.labels[0]', /needs a key/],
    ['an invalid name', SW_L3_L4.replace('"rule1"', '"Rule_1"'), 'metadata.name'],
    ['a namespace on a cluster-wide policy', SW_L3_L4.replace('CiliumNetworkPolicy', 'CiliumClusterwideNetworkPolicy').replace('name: "rule1"', 'name: r\n  namespace: x'), 'metadata.namespace'],
    ['an unknown kind', SW_L3_L4.replace('CiliumNetworkPolicy', 'CiliumNetworkPolicies'), 'kind', /not a policy kind.*NetworkPolicy/],
    ['the Kubernetes apiVersion on a CiliumNetworkPolicy', SW_L3_L4.replace('"cilium.io/v2"', 'networking.k8s.io/v1'), 'apiVersion', /use cilium.io\/v2/],
    ['a wrong apiVersion', SW_L3_L4.replace('cilium.io/v2', 'cilium.io/v1'), 'apiVersion'],
    ['more than 40 ports', withSpec(`  ingress:\n  - toPorts: [{ports: [${Array.from({ length: 41 }, (_, i) => `{port: ${i + 1}}`).join(',')}]}]\n`), 'spec.ingress[0].toPorts[0].ports', /40/],
    ['a mistake in the second document, prefixed with its index', `${SW_L3_L4}---\n${withSpec('  ingress:\n  - toPorts: [{ports: [{port: 70000}]}]\n')}`,
      '[1].spec.ingress[0].toPorts[0].ports[0].port'],
    ['the same policy twice', `${SW_L3_L4}---\n${SW_L3_L4}`, '[1].metadata.name', /already defined/],
    ['broken YAML', 'spec: [', '', /YAML/],
    ['empty text', '\n---\n', '', /no policy/],
  ];
  for (const [name, text, path, message] of cases) {
    it(`rejects ${name}`, () => rejects(text, path, message));
  }

  it('reads CIDR group peers by reference and by selector', () => {
    const [p] = parsePolicyText(withSpec('  egress:\n  - toCIDRSet: [{cidrGroupRef: office}]\n  ingressDeny:\n  - fromCIDRSet: [{cidrGroupSelector: {matchLabels: {a: b}}}]\n'));
    const rule = p!.rules[0]!;
    assert.deepEqual(rule.egress[0]!.peer, { kind: 'cidr', field: 'toCIDRSet', cidrs: [{ cidrGroupRef: 'office', except: [] }] });
    const deny = rule.ingressDeny[0]!.peer;
    assert.equal(deny?.kind === 'cidr' && String(deny.cidrs[0]!.cidrGroupSelector), 'any:a=b');
  });

  const group = (body: string) => `apiVersion: cilium.io/v2alpha1\nkind: CiliumCIDRGroup\nmetadata: {name: office}\n${body}`;
  it('reads CiliumCIDRGroups beside the policies, with warnings for their IPv6 prefixes', () => {
    const { policies, cidrGroups, warnings } = parsePolicyTextWithWarnings(`${SW_L3_L4}---\n${group('spec: {externalCIDRs: [198.51.100.7/24, "2001:db8::/32", 198.51.100.0/24]}\n')}`);
    assert.equal(policies.length, 1);
    assert.deepEqual(cidrGroups.map((g) => [g.group.name, g.group.cidrs]), [['office', ['198.51.100.0/24', '2001:db8::/32']]]);
    assert.deepEqual(warnings.map((w) => w.path), ['[1].spec.externalCIDRs[1]']);
  });

  const groupCases: [string, string, string, RegExp?][] = [
    ['a CIDR group with a bad CIDR', group('spec: {externalCIDRs: [10.0.0.0/33]}\n'), 'spec.externalCIDRs[0]', /not an IPv4 or IPv6 CIDR/],
    ['a CIDR group with a namespace', group('spec: {externalCIDRs: []}\n').replace('{name: office}', '{name: office, namespace: x}'), 'metadata.namespace', /cluster-scoped/],
    ['a CIDR group with an unknown field', group('spec: {externalCIDRs: [], cidrs: []}\n'), 'spec.cidrs'],
    ['a CIDR group without spec', group(''), 'spec'],
    ['the same CIDR group twice', `${group('spec: {externalCIDRs: []}\n')}---\n${group('spec: {externalCIDRs: []}\n')}`, '[1].metadata.name', /already defined/],
  ];
  for (const [name, text, path, message] of groupCases) {
    it(`rejects ${name}`, () => {
      assert.throws(() => parsePolicyTextWithWarnings(text), (err: unknown) => {
        assert.ok(err instanceof ValidationError, String(err));
        assert.equal(err.path, path);
        if (message) assert.match(err.message, message);
        return true;
      });
    });
  }

  // IPv6 peers are accepted (ipv6.test.ts), but validated as strictly as IPv4 ones.
  const ipv6Cases: [string, string, string, RegExp][] = [
    ['an IPv6 prefix longer than 128', withSpec('  egress:\n  - toCIDR: [0.0.0.0/0, "2001:db8::/129"]\n'), 'spec.egress[0].toCIDR[1]', /not an IPv4 or IPv6 CIDR/],
    ['a zone in an IPv6 CIDR', withSpec('  ingress:\n  - fromCIDR: ["fe80::1%eth0/64"]\n'), 'spec.ingress[0].fromCIDR[0]', /not an IPv4 or IPv6 CIDR/],
    ['an IPv6 except outside its IPv6 cidr', withSpec('  egressDeny:\n  - toCIDRSet: [{cidr: "2001:db8::/32", except: ["2001:db9::/48"]}]\n'),
      'spec.egressDeny[0].toCIDRSet[0].except[0]', /2001:db9::\/48 is not inside 2001:db8::\/32/],
    ['an IPv6 except of an IPv4 cidr', withSpec('  egress:\n  - toCIDRSet: [{cidr: 0.0.0.0/0, except: ["::/0"]}]\n'),
      'spec.egress[0].toCIDRSet[0].except[0]', /not inside 0\.0\.0\.0\/0/],
    ['an IPv4 except of an IPv6 cidr', withSpec('  ingress:\n  - fromCIDRSet: [{cidr: "::/0", except: [10.0.0.0/8]}]\n'),
      'spec.ingress[0].fromCIDRSet[0].except[0]', /not inside ::\/0/],
    ['a malformed IPv6 CIDR in the second document', `${SW_L3_L4}---\n${withSpec('  egress:\n  - toCIDR: ["2001:db8:::/32"]\n')}`,
      '[1].spec.egress[0].toCIDR[0]', /not an IPv4 or IPv6 CIDR/],
  ];
  for (const [name, text, path, message] of ipv6Cases) {
    it(`rejects ${name}`, () => rejects(text, path, message));
  }

  it('accepts IPv4 CIDR peers in every section, with except', () => {
    const [p] = parsePolicyText(withSpec('  egress:\n  - toCIDRSet: [{cidr: 198.51.100.0/24, except: [198.51.100.128/25]}]\n' +
      '  egressDeny:\n  - toCIDR: [203.0.113.7/32]\n  ingress:\n  - fromCIDR: [10.0.0.0/8]\n  ingressDeny:\n  - fromCIDRSet: [{cidr: 0.0.0.0/0, except: [10.0.0.0/8]}]\n'));
    const rule = p!.rules[0]!;
    assert.deepEqual(rule.egress[0]!.peer, { kind: 'cidr', field: 'toCIDRSet', cidrs: [{ cidr: '198.51.100.0/24', except: ['198.51.100.128/25'] }] });
    assert.deepEqual(rule.egressDeny[0]!.peer, { kind: 'cidr', field: 'toCIDR', cidrs: [{ cidr: '203.0.113.7/32', except: [] }] });
  });

  it('names further problems in the message', () => {
    assert.throws(() => parsePolicyText(withSpec('  ingress:\n  - fromEndpoint: []\n    toPort: 3\n')), /also spec\.ingress\[0\]\.toPort/);
  });

  it('rejects a document that is not a mapping', () => {
    assert.throws(() => parsePolicyObject(['x']), { path: '' });
  });
});
