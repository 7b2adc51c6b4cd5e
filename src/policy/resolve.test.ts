import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RESERVED_IDENTITIES } from '../identity/reserved.js';
import { LabelSet } from '../labels/labels.js';
import { buildPodLabels } from '../labels/podlabels.js';
import { lookupPolicy, MatchType } from './lookup.js';
import { policyKey, Proto } from './mapstate.js';
import { parsePolicyText } from './parse.js';
import type { NamedPort } from './ports.js';
import { PolicyRepository } from './repository.js';
import { explainVerdict, resolveEndpointPolicy, type EnforcementMode, type ResolvedPolicy } from './resolve.js';
import { SW_L3_L4 } from './starwars.testdata.js';

const pod = (podLabels: Record<string, string>, namespace = 'default', clusterName = 'default', namespaceLabels: Record<string, string> = {}) =>
  buildPodLabels({ namespace, podLabels, namespaceLabels, serviceAccount: 'default', clusterName }).identityLabels;

const DEATHSTAR = 256;
const TIEFIGHTER = 257;
const XWING = 258;
const EMPIRE_ELSEWHERE = 259;
const REMOTE_CLUSTER_POD = 260;
const CIDR_1_0_0_0 = 16777217;
const labelsOf: Record<number, LabelSet> = {
  [DEATHSTAR]: pod({ org: 'empire', class: 'deathstar' }),
  [TIEFIGHTER]: pod({ org: 'empire', class: 'tiefighter' }),
  [XWING]: pod({ org: 'alliance', class: 'xwing' }),
  [EMPIRE_ELSEWHERE]: pod({ org: 'empire', class: 'tiefighter' }, 'other', 'default', { side: 'dark' }),
  [REMOTE_CLUSTER_POD]: pod({ org: 'empire' }, 'default', 'far-away'),
  [CIDR_1_0_0_0]: LabelSet.parse(['cidr:1.0.0.0/8', 'reserved:world']),
};
const identities = [
  ...RESERVED_IDENTITIES.map((r) => ({ id: r.id, labels: r.labels })),
  ...Object.entries(labelsOf).map(([id, labels]) => ({ id: Number(id), labels })),
];

const head = (name: string, kind = 'CiliumNetworkPolicy') => `apiVersion: cilium.io/v2\nkind: ${kind}\nmetadata: {name: ${name}}\n`;
const deathstarPolicy = (name: string, body: string) =>
  `${head(name)}spec:\n  endpointSelector: {matchLabels: {class: deathstar}}\n${body}`;

function resolve(texts: string[], subject = DEATHSTAR, options: { enforcement?: EnforcementMode; namedPorts?: Map<string, NamedPort>; clusterName?: string } = {}) {
  const repository = new PolicyRepository();
  for (const t of texts) repository.import(parsePolicyText(t));
  const input = { endpointLabels: labelsOf[subject]!, repository, identities, enforcement: options.enforcement ?? 'default' as const };
  const res = resolveEndpointPolicy({ ...input, ...(options.namedPorts ? { namedPorts: options.namedPorts } : {}),
    ...(options.clusterName ? { clusterName: options.clusterName } : {}) });
  return { res, repository };
}

const ingress = (res: ResolvedPolicy, peer: number, port: number, proto: number = Proto.TCP) => lookupPolicy(res.mapState, peer, false, proto, port);
const egress = (res: ResolvedPolicy, peer: number, port: number, proto: number = Proto.TCP) => lookupPolicy(res.mapState, peer, true, proto, port);
const peersAllowed = (res: ResolvedPolicy, dir: 'ingress' | 'egress') =>
  [...res.mapState].filter((i) => i.key.egress === (dir === 'egress') && !i.entry.deny).map((i) => i.key.identity).sort((a, b) => a - b);

describe('resolving an endpoint policy', () => {
  it('allows everything without policies, with the allow-all entry per direction', () => {
    const { res } = resolve([]);
    assert.equal(res.ingressEnforcing, false);
    assert.equal(res.egressEnforcing, false);
    assert.equal(res.mapState.size, 2);
    assert.deepEqual(res.mapState.get(policyKey(0, false, 0, 0, 0)), { deny: false, proxyPort: 0, cookie: 0 });
    assert.equal(ingress(res, XWING, 80).matchType, MatchType.ALL);
  });

  it('lets empire ships land on the deathstar and default-denies the xwing (Star Wars L3/L4)', () => {
    const { res } = resolve([SW_L3_L4]);
    assert.equal(res.ingressEnforcing, true);
    assert.equal(res.egressEnforcing, false);
    assert.deepEqual(res.defaultDenyBy.ingress, [{ kind: 'CiliumNetworkPolicy', namespace: 'default', name: 'rule1' }]);
    const tie = ingress(res, TIEFIGHTER, 80);
    assert.equal(tie.verdict, 'allow');
    assert.equal(tie.matchType, MatchType.L3_L4);
    assert.deepEqual(ingress(res, XWING, 80), { verdict: 'default-deny', dropReason: 133, matchType: MatchType.NONE });
    assert.equal(ingress(res, TIEFIGHTER, 443).verdict, 'default-deny');
    assert.equal(ingress(res, TIEFIGHTER, 80, Proto.UDP).verdict, 'default-deny');
    assert.equal(egress(res, XWING, 12345).verdict, 'allow');
  });

  it('does not enforce on endpoints the policy does not select', () => {
    const { res } = resolve([SW_L3_L4], TIEFIGHTER);
    assert.equal(res.ingressEnforcing, false);
    assert.deepEqual(res.selectedBy, []);
  });

  it('scopes a CiliumNetworkPolicy to its namespace: empire ships of another namespace are denied', () => {
    const { res } = resolve([SW_L3_L4]);
    assert.equal(ingress(res, EMPIRE_ELSEWHERE, 80).verdict, 'default-deny');
    // Peers are not limited to the local cluster (Cilium's newer policy-default-local-cluster is not implemented).
    assert.deepEqual(peersAllowed(res, 'ingress'), [DEATHSTAR, TIEFIGHTER, REMOTE_CLUSTER_POD]);
  });

  it('enforces and allows nothing with ingress: [{}]', () => {
    const { res } = resolve([deathstarPolicy('deny-all', '  ingress: [{}]\n')]);
    assert.equal(res.ingressEnforcing, true);
    assert.deepEqual(peersAllowed(res, 'ingress'), []);
    assert.equal(ingress(res, TIEFIGHTER, 80).verdict, 'default-deny');
    assert.equal(egress(res, TIEFIGHTER, 80).verdict, 'allow');
  });

  it('does not enforce when every selecting rule says enableDefaultDeny false', () => {
    const additive = deathstarPolicy('additive', '  enableDefaultDeny: {ingress: false}\n  ingress:\n  - fromEndpoints: [{matchLabels: {class: tiefighter}}]\n' +
      '    toPorts: [{ports: [{port: "80", protocol: TCP}]}]\n');
    const { res } = resolve([additive]);
    assert.equal(res.ingressEnforcing, false);
    assert.deepEqual(res.defaultDenyBy.ingress, []);
    assert.equal(ingress(res, XWING, 80).verdict, 'allow');
    assert.equal(ingress(res, TIEFIGHTER, 80).matchType, MatchType.L3_L4);
    const both = resolve([additive, SW_L3_L4]).res;
    assert.equal(both.ingressEnforcing, true, 'one rule asking for default deny is enough');
    assert.equal(ingress(both, XWING, 80).verdict, 'default-deny');
  });

  it('lets a deny-only policy switch the direction to default deny', () => {
    const { res } = resolve([deathstarPolicy('deny-only', '  egressDeny:\n  - toEntities: [world]\n')]);
    assert.equal(res.egressEnforcing, true);
    assert.equal(egress(res, 2, 80).verdict, 'deny');
    assert.equal(egress(res, XWING, 80).verdict, 'default-deny');
  });

  it('enforces everything in always mode and nothing in never mode', () => {
    const always = resolve([], DEATHSTAR, { enforcement: 'always' }).res;
    assert.ok(always.ingressEnforcing && always.egressEnforcing);
    assert.equal(always.mapState.size, 0);
    assert.equal(egress(always, XWING, 80).verdict, 'default-deny');
    const never = resolve([SW_L3_L4, deathstarPolicy('d', '  ingressDeny: [{fromEntities: [all]}]\n')], DEATHSTAR, { enforcement: 'never' }).res;
    assert.ok(!never.ingressEnforcing && !never.egressEnforcing);
    assert.equal(ingress(never, XWING, 80).verdict, 'allow');
  });
});

describe('deny precedence', () => {
  it('denies when an L3 deny and an L4 allow overlap', () => {
    const { res } = resolve([deathstarPolicy('p', '  ingress:\n  - toPorts: [{ports: [{port: "80", protocol: TCP}]}]\n' +
      '  ingressDeny:\n  - fromEndpoints: [{matchLabels: {class: xwing}}]\n')]);
    assert.deepEqual([ingress(res, XWING, 80).verdict, ingress(res, XWING, 80).dropReason], ['deny', 181]);
    assert.equal(ingress(res, TIEFIGHTER, 80).verdict, 'allow');
    assert.equal(ingress(res, TIEFIGHTER, 80).matchType, MatchType.L4_ONLY);
  });

  it('denies when an L4 deny and an L3 allow overlap', () => {
    const { res } = resolve([deathstarPolicy('p', '  ingress:\n  - fromEndpoints: [{matchLabels: {class: tiefighter}}]\n' +
      '  ingressDeny:\n  - toPorts: [{ports: [{port: "80", protocol: TCP}]}]\n')]);
    assert.equal(ingress(res, TIEFIGHTER, 80).verdict, 'deny');
    assert.equal(ingress(res, TIEFIGHTER, 81).verdict, 'allow');
    assert.equal(ingress(res, TIEFIGHTER, 81).matchType, MatchType.L3_ONLY);
  });

  it('denies the whole range when a deny range contains an allowed port, dropping the shadowed allow', () => {
    const { res } = resolve([deathstarPolicy('p', '  ingress:\n  - fromEndpoints: [{matchLabels: {class: tiefighter}}]\n    toPorts: [{ports: [{port: "80", protocol: TCP}]}]\n' +
      '  ingressDeny:\n  - fromEndpoints: [{matchLabels: {class: tiefighter}}]\n    toPorts: [{ports: [{port: "1", endPort: 1023, protocol: TCP}]}]\n')]);
    assert.equal(ingress(res, TIEFIGHTER, 80).verdict, 'deny');
    assert.equal(ingress(res, TIEFIGHTER, 1023).verdict, 'deny');
    assert.equal(ingress(res, TIEFIGHTER, 1024).verdict, 'default-deny');
    assert.equal(res.mapState.has(policyKey(TIEFIGHTER, false, Proto.TCP, 80)), false);
  });

  it('denies only the denied port when an allow range contains it', () => {
    const { res } = resolve([deathstarPolicy('p', '  ingress:\n  - fromEndpoints: [{matchLabels: {class: tiefighter}}]\n    toPorts: [{ports: [{port: "1", endPort: 1023, protocol: TCP}]}]\n' +
      '  ingressDeny:\n  - fromEndpoints: [{matchLabels: {class: tiefighter}}]\n    toPorts: [{ports: [{port: "80", protocol: TCP}]}]\n')]);
    assert.equal(ingress(res, TIEFIGHTER, 80).verdict, 'deny');
    assert.equal(ingress(res, TIEFIGHTER, 79).verdict, 'allow');
    assert.equal(ingress(res, TIEFIGHTER, 81).verdict, 'allow');
    assert.equal(ingress(res, TIEFIGHTER, 0).verdict, 'default-deny');
  });

  it('replaces an allow with a deny of the same key, whatever the order of the policies', () => {
    const allow = deathstarPolicy('a', '  ingress:\n  - fromEndpoints: [{matchLabels: {class: xwing}}]\n');
    const deny = deathstarPolicy('d', '  ingressDeny:\n  - fromEndpoints: [{matchLabels: {class: xwing}}]\n');
    for (const order of [[allow, deny], [deny, allow]]) {
      const { res } = resolve(order);
      assert.equal(ingress(res, XWING, 80).verdict, 'deny');
    }
  });

  it('drops everything with egressDeny to entity all, even where allowed (all-entities-deny)', () => {
    const allowAll = `${head('allow-all')}spec:\n  endpointSelector: {}\n  egress: [{toEntities: [all]}]\n  ingress: [{fromEntities: [all]}]\n`;
    const denyAll = `${head('deny-all')}spec:\n  endpointSelector: {}\n  egressDeny: [{toEntities: [all]}]\n`;
    const { res } = resolve([allowAll, denyAll]);
    assert.equal(egress(res, XWING, 80).verdict, 'deny');
    assert.equal(egress(res, 2, 443).verdict, 'deny');
    assert.equal(ingress(res, XWING, 80).verdict, 'allow');
  });

  it('keeps denying on top of a direction that is not enforced', () => {
    const { res } = resolve([deathstarPolicy('p', '  enableDefaultDeny: {ingress: false}\n  ingressDeny:\n  - fromEndpoints: [{matchLabels: {class: xwing}}]\n')]);
    assert.equal(res.ingressEnforcing, false);
    assert.equal(ingress(res, XWING, 80).verdict, 'deny');
    assert.equal(ingress(res, TIEFIGHTER, 80).verdict, 'allow');
  });
});

describe('peers and ports', () => {
  it('selects every pod but no reserved identity with {} peers in a cluster-wide policy', () => {
    const ccnp = `${head('ccnp', 'CiliumClusterwideNetworkPolicy')}spec:\n  endpointSelector: {}\n  ingress: [{fromEndpoints: [{}]}]\n`;
    const { res } = resolve([ccnp], XWING);
    assert.equal(res.ingressEnforcing, true);
    assert.deepEqual(peersAllowed(res, 'ingress'), [DEATHSTAR, TIEFIGHTER, XWING, EMPIRE_ELSEWHERE, REMOTE_CLUSTER_POD]);
  });

  it('resolves entities to reserved identities, all to the wildcard identity 0', () => {
    const of = (entities: string) => peersAllowed(resolve([deathstarPolicy('e', `  egress: [{toEntities: [${entities}]}]\n`)]).res, 'egress');
    assert.deepEqual(of('world'), [2, CIDR_1_0_0_0]);
    assert.deepEqual(of('host'), [1]);
    assert.deepEqual(of('remote-node, health'), [4, 6]);
    assert.deepEqual(of('all'), [0]);
    assert.deepEqual(of('none'), []);
    assert.deepEqual(of('cluster'), [1, 3, 4, 5, 6, 7, 8, DEATHSTAR, TIEFIGHTER, XWING, EMPIRE_ELSEWHERE, REMOTE_CLUSTER_POD]);
  });

  it('limits the cluster entity to the local cluster when its name is known', () => {
    const { res } = resolve([deathstarPolicy('e', '  egress: [{toEntities: [cluster]}]\n')], DEATHSTAR, { clusterName: 'default' });
    assert.ok(!peersAllowed(res, 'egress').includes(REMOTE_CLUSTER_POD));
    assert.ok(peersAllowed(res, 'egress').includes(XWING));
  });

  it('resolves 0.0.0.0/0, the one CIDR peer accepted yet, to world in allow and deny rules', () => {
    const of = (peer: string) => peersAllowed(resolve([deathstarPolicy('c', `  egress: [{${peer}}]\n`)]).res, 'egress');
    assert.deepEqual(of('toCIDR: [0.0.0.0/0]'), [2, CIDR_1_0_0_0]);
    assert.deepEqual(of('toCIDRSet: [{cidr: 0.0.0.0/0}]'), [2, CIDR_1_0_0_0]);
    const { res } = resolve([deathstarPolicy('d', '  egressDeny: [{toCIDR: [0.0.0.0/0]}]\n')]);
    assert.deepEqual([egress(res, 2, 443).verdict, egress(res, 2, 443).dropReason], ['deny', 181]);
    assert.equal(egress(res, XWING, 443).verdict, 'default-deny');
  });

  it('selects reserved identities with reserved: selectors in a CiliumNetworkPolicy, unscoped', () => {
    const of = (selector: string) => peersAllowed(resolve([deathstarPolicy('r', `  ingress: [{fromEndpoints: [${selector}]}]\n`)]).res, 'ingress');
    assert.deepEqual(of('{matchLabels: {reserved:host: ""}}'), [1]);
    assert.deepEqual(of('{matchExpressions: [{key: reserved:world, operator: Exists}]}'), [2, CIDR_1_0_0_0]);
  });

  it('selects pods of every namespace with the namespace label in a CiliumNetworkPolicy', () => {
    const of = (selector: string) => peersAllowed(resolve([deathstarPolicy('n', `  ingress: [{fromEndpoints: [${selector}]}]\n`)]).res, 'ingress');
    assert.deepEqual(of('{matchLabels: {io.cilium.k8s.namespace.labels.side: dark}}'), [EMPIRE_ELSEWHERE]);
    assert.deepEqual(of('{matchLabels: {org: empire}}'), [DEATHSTAR, TIEFIGHTER, REMOTE_CLUSTER_POD]);
  });

  it('selects nothing with an empty peer list, but still enforces', () => {
    const { res } = resolve([deathstarPolicy('p', '  ingress: [{fromEndpoints: [], toPorts: [{ports: [{port: "80"}]}]}]\n')]);
    assert.equal(res.ingressEnforcing, true);
    assert.deepEqual(peersAllowed(res, 'ingress'), []);
  });

  it('expands protocol ANY to TCP, UDP and SCTP, and port 0 to every port of the protocol', () => {
    const { res } = resolve([deathstarPolicy('p', '  ingress: [{toPorts: [{ports: [{port: "53"}, {port: 0, protocol: UDP}]}]}]\n')]);
    const keys = [...res.mapState].map((i) => `${i.key.protocol}/${i.key.port}/${i.key.prefixLen}`).sort();
    assert.deepEqual(keys, ['0/0/0', '132/53/24', '17/0/8', '17/53/24', '6/53/24']);
    assert.equal(ingress(res, XWING, 9999, Proto.UDP).matchType, MatchType.PROTO_ONLY);
    assert.equal(ingress(res, XWING, 9999, Proto.ICMP).verdict, 'default-deny');
  });

  it('allows every protocol, ICMP included, when a rule has no toPorts', () => {
    const { res } = resolve([deathstarPolicy('p', '  ingress: [{fromEndpoints: [{matchLabels: {class: xwing}}]}]\n')]);
    assert.equal(ingress(res, XWING, 0, Proto.ICMP).verdict, 'allow');
  });

  it('resolves named ports through the endpoint ports and skips those it cannot resolve', () => {
    const namedPorts = new Map<string, NamedPort>([['http-8080', { port: 8080, protocol: 'TCP' }], ['dns', { port: 53, protocol: 'UDP' }]]);
    const { res } = resolve([deathstarPolicy('p', '  ingress: [{toPorts: [{ports: [{port: http-8080}, {port: missing}, {port: dns, protocol: TCP}]}]}]\n')],
      DEATHSTAR, { namedPorts });
    assert.deepEqual([...res.mapState].map((i) => `${i.key.identity}/${i.key.protocol}/${i.key.port}`).filter((k) => !k.startsWith('0/0/')), ['0/6/8080']);
    assert.equal(ingress(res, XWING, 8080).verdict, 'allow');
  });
});

describe('service accounts', () => {
  it('selects pods by their service account through io.cilium.k8s.policy.serviceaccount', () => {
    const withAccount = (serviceAccount: string) =>
      buildPodLabels({ namespace: 'default', podLabels: { app: 'client' }, serviceAccount, clusterName: 'default' }).identityLabels;
    const [SA1, SA2] = [300, 301];
    const repository = new PolicyRepository();
    repository.import(parsePolicyText(deathstarPolicy('by-account', '  ingress:\n  - fromEndpoints: [{matchLabels: {io.cilium.k8s.policy.serviceaccount: sa1}}]\n')));
    const res = resolveEndpointPolicy({
      endpointLabels: labelsOf[DEATHSTAR]!, repository, enforcement: 'default',
      identities: [...identities, { id: SA1, labels: withAccount('sa1') }, { id: SA2, labels: withAccount('sa2') }],
    });
    assert.equal(ingress(res, SA1, 80).verdict, 'allow');
    assert.equal(ingress(res, SA2, 80).verdict, 'default-deny');
    assert.equal(ingress(res, TIEFIGHTER, 80).verdict, 'default-deny', 'the service account "default"');
  });
});

describe('attribution', () => {
  it('gives each entry the cookie of the first rule that produced it, which explains the verdict', () => {
    const first = deathstarPolicy('first', '  ingress:\n  - fromEntities: [world]\n  - fromEndpoints: [{matchLabels: {class: tiefighter}}]\n    toPorts: [{ports: [{port: "80", protocol: TCP}]}]\n');
    const second = deathstarPolicy('second', '  ingress:\n  - fromEndpoints: [{matchLabels: {org: empire}}]\n    toPorts: [{ports: [{port: "80", protocol: TCP}]}]\n');
    const { res, repository } = resolve([first, second]);
    const ref = { kind: 'CiliumNetworkPolicy' as const, namespace: 'default', name: 'first' };
    assert.equal(res.mapState.get(policyKey(TIEFIGHTER, false, Proto.TCP, 80))?.cookie, repository.cookie(ref, 0, 'ingress', 1));
    const explained = explainVerdict(res.mapState, repository, TIEFIGHTER, false, Proto.TCP, 80);
    assert.equal(explained.verdict, 'allow');
    assert.equal(explained.rule?.path, 'spec.ingress[1]');
    assert.equal(explainVerdict(res.mapState, repository, DEATHSTAR, false, Proto.TCP, 80).rule?.ref.name, 'second');
    assert.deepEqual(res.selectedBy.map((r) => r.name), ['first', 'second']);
  });

  it('reports the revision it was computed from', () => {
    const { res, repository } = resolve([SW_L3_L4]);
    assert.equal(res.revision, repository.revision);
  });
});
