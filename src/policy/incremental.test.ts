import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cidrIdentityLabels } from '../identity/cidr.js';
import { RESERVED_IDENTITIES } from '../identity/reserved.js';
import type { LabelSet } from '../labels/labels.js';
import { buildPodLabels } from '../labels/podlabels.js';
import type { IdentityLike } from './entities.js';
import { IncrementalResolver } from './incremental.js';
import { policyKeyString } from './mapstate.js';
import { parsePolicyText } from './parse.js';
import { peerNamedPortsOf, type ContainerPortLike, type NamedPort } from './ports.js';
import { PolicyRepository } from './repository.js';
import { resolveEndpointPolicy, type ResolvedPolicy } from './resolve.js';

/** A deterministic pseudo-random sequence (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pod = (podLabels: Record<string, string>, namespace: string, namespaceLabels: Record<string, string> = {}) =>
  buildPodLabels({ namespace, podLabels, namespaceLabels, serviceAccount: 'default', clusterName: 'default' }).identityLabels;

const render = (r: ResolvedPolicy) => JSON.stringify({
  ingress: r.ingressEnforcing, egress: r.egressEnforcing, deny: r.defaultDenyBy, audit: r.auditDefaultDeny,
  entries: [...r.mapState].map(({ key, entry }) => `${policyKeyString(key)}=${JSON.stringify(entry)}`).sort(),
});

const APPS = ['a', 'b', 'c'];
const NAMESPACES = ['x', 'y'];

function randomPolicy(next: () => number, name: string): string {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!;
  const peer = () => pick([
    `fromEndpoints: [{matchLabels: {app: ${pick(APPS)}}}]`,
    `fromEndpoints: [{matchExpressions: [{key: app, operator: NotIn, values: [${pick(APPS)}]}]}]`,
    `fromEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: ${pick(NAMESPACES)}}}]`,
    `fromEndpoints: [{matchLabels: {"k8s:io.cilium.k8s.namespace.labels.team": ${pick(['red', 'blue'])}}}]`,
    'fromEntities: [world]',
    'fromEntities: [cluster]',
    `fromCIDR: [${pick(['10.0.0.0/8', '192.0.2.0/24', '198.51.100.0/24'])}]`,
    'fromEndpoints: [{}]',
  ]);
  const section = pick(['ingress', 'ingressDeny', 'egress', 'egressDeny']);
  const egress = section.startsWith('egress');
  const peerText = egress ? peer().replace('from', 'to') : peer();
  // Named ports (resolved against the destination's pods in egress) and requirements ANDed into the endpoint peers of other rules.
  const fields = [
    ...(next() < 0.85 ? [peerText] : []),
    ...(next() < 0.2 ? [`${egress ? 'to' : 'from'}Requires: [{matchLabels: {app: ${pick(APPS)}}}]`] : []),
    `toPorts: [{ports: [{port: "${pick(['80', '81', '443', 'http', 'dns'])}", protocol: ${pick(['TCP', 'UDP', 'ANY'])}}]}]`,
  ];
  return [
    'apiVersion: cilium.io/v2', 'kind: CiliumNetworkPolicy', `metadata: {name: ${name}, namespace: ${pick(NAMESPACES)}}`, 'spec:',
    `  endpointSelector: {matchLabels: {app: ${pick(APPS)}}}`,
    `  ${section}:`,
    ...fields.map((f, i) => `${i === 0 ? '  - ' : '    '}${f}`),
  ].join('\n');
}

describe('IncrementalResolver', () => {
  it('resolves every group exactly as a full resolution does, through random sequences of changes', () => {
    for (let seed = 1; seed <= 25; seed++) {
      const next = rng(seed);
      const pick = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!;
      const repo = new PolicyRepository();
      const resolver = new IncrementalResolver('default', (r) => r);
      const reserved: IdentityLike[] = RESERVED_IDENTITIES.map((r) => ({ id: r.id, labels: r.labels }));
      const podIdentities = new Map<number, LabelSet>();
      /** The pods of each identity, each with its container ports (named ports among them). */
      const pods = new Map<number, ContainerPortLike[][]>();
      const randomPorts = (): ContainerPortLike[] => [
        ...(next() < 0.6 ? [{ name: 'http', containerPort: pick([8080, 8081]), protocol: 'TCP' as const }] : []),
        ...(next() < 0.3 ? [{ name: 'dns', containerPort: 53, protocol: pick(['UDP', 'TCP'] as const) }] : []),
      ];
      let nextId = 256;
      const cidr = (prefix: string, id: number): IdentityLike => ({ id, labels: cidrIdentityLabels(prefix) });
      const cidrIdentities = [cidr('10.0.0.0/8', 16777217), cidr('198.51.100.0/24', 16777218)];
      let reused = 0;

      for (let step = 0; step < 40; step++) {
        const roll = next();
        if (roll < 0.3) {
          repo.import(parsePolicyText(randomPolicy(next, `p${Math.floor(next() * 6)}`), 'x'));
        } else if (roll < 0.4 && repo.list().length > 0) {
          repo.delete(pick(repo.list()).ref);
        } else if (roll < 0.65) {
          const id = nextId++;
          podIdentities.set(id, pod({ app: pick(APPS) }, pick(NAMESPACES), next() < 0.5 ? { team: pick(['red', 'blue']) } : {}));
          pods.set(id, [randomPorts()]);
        } else if (roll < 0.85 && pods.size > 0) {
          // Another pod of an identity, or one of its pods gone: the same identity with other named ports.
          const list = pods.get(pick([...pods.keys()]))!;
          if (next() < 0.5 || list.length === 1) list.push(randomPorts());
          else list.splice(Math.floor(next() * list.length), 1);
        } else if (podIdentities.size > 0) {
          const id = pick([...podIdentities.keys()]);
          podIdentities.delete(id);
          pods.delete(id);
        }
        const identities = [...reserved, ...cidrIdentities, ...[...podIdentities].map(([id, labels]) => ({ id, labels }))];
        const peerNamedPorts = peerNamedPortsOf([...pods].flatMap(([identity, list]) => list.map((ports) => ({ identity, ports }))));
        resolver.begin(repo, identities, new Map(), new Map(), new Map(), peerNamedPorts);
        for (const [id, labels] of podIdentities) {
          for (const ports of pods.get(id)!) {
            const own = new Map<string, NamedPort>(ports.map((p) => [p.name!, { port: p.containerPort, protocol: p.protocol }]));
            const got = resolver.resolve(`${labels.canonical()}|${JSON.stringify(ports)}`, labels, own);
            if (!got.changed) reused++;
            const want = resolveEndpointPolicy({ endpointLabels: labels, repository: repo, identities, enforcement: 'default', namedPorts: own, peerNamedPorts });
            assert.equal(render(got.resolved), render(want), `seed ${seed}, step ${step}, identity ${id}`);
          }
        }
        resolver.end();
      }
      assert.ok(reused > 0, `seed ${seed}: some resolutions were reused`);
    }
  });

  it('follows a CIDR group as it changes', () => {
    const repo = new PolicyRepository();
    const resolver = new IncrementalResolver('default', (r) => r);
    const a = pod({ app: 'a' }, 'x');
    const identities: IdentityLike[] = [
      ...RESERVED_IDENTITIES.map((r) => ({ id: r.id, labels: r.labels })),
      { id: 256, labels: a },
      { id: 16777217, labels: cidrIdentityLabels('198.51.100.0/24') },
      { id: 16777218, labels: cidrIdentityLabels('203.0.113.0/24') },
    ];
    // The parser reads cidrGroupRef; the rule is built by hand so this test does not depend on it.
    repo.import(parsePolicyText(`apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p}\nspec:\n  endpointSelector: {}\n  egress:\n  - toCIDR: [192.0.2.0/24]\n`, 'x'));
    const rule = repo.list()[0]!.rules[0]!;
    const peer = rule.egress[0]!.peer!;
    if (peer.kind !== 'cidr') throw new Error('expected a CIDR peer');
    peer.cidrs.splice(0, 1, { cidrGroupRef: 'external', except: [] });
    const group = (cidrs: string[]) => new Map([['external', { name: 'external', labels: cidrIdentityLabels('0.0.0.0/0'), cidrs }]]);
    const egressPeers = (groups: ReturnType<typeof group> | undefined) => {
      resolver.begin(repo, identities, new Map(), groups);
      const r = resolver.resolve(a.canonical(), a, new Map());
      resolver.end();
      return { changed: r.changed, ids: [...r.resolved.mapState].filter(({ key }) => key.egress).map(({ key }) => key.identity).sort() };
    };
    assert.deepEqual(egressPeers(undefined).ids, []);
    assert.deepEqual(egressPeers(group(['198.51.100.0/24'])), { changed: true, ids: [16777217] });
    const same = group(['198.51.100.0/24']);
    assert.deepEqual(egressPeers(same), { changed: false, ids: [16777217] }, 'equal contents in a new map select the same');
    assert.deepEqual(egressPeers(group(['198.51.100.0/24', '203.0.113.0/24'])), { changed: true, ids: [16777217, 16777218] });
  });

  it('updates the egress of the clients, and only theirs, when a pod with a named port comes or goes', () => {
    const repo = new PolicyRepository();
    const resolver = new IncrementalResolver('default', (r) => r);
    const client = pod({ app: 'a' }, 'x');
    const bystander = pod({ app: 'c' }, 'x');
    const server = pod({ app: 'b' }, 'x');
    const reserved: IdentityLike[] = RESERVED_IDENTITIES.map((r) => ({ id: r.id, labels: r.labels }));
    const withServer = [...reserved, { id: 256, labels: client }, { id: 257, labels: bystander }, { id: 258, labels: server }];
    repo.import(parsePolicyText('apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p}\nspec:\n  endpointSelector: {matchLabels: {app: a}}\n' +
      '  egress:\n  - toEndpoints: [{matchLabels: {app: b}}]\n    toPorts: [{ports: [{port: http}]}]\n', 'x'));
    const serverPods = (...numbers: number[]) => peerNamedPortsOf(numbers.map((n) => ({ identity: 258, ports: [{ name: 'http', containerPort: n, protocol: 'TCP' as const }] })));
    const pass = (identities: IdentityLike[], ports: ReturnType<typeof serverPods>) => {
      resolver.begin(repo, identities, new Map(), new Map(), new Map(), ports);
      const [a, c] = [client, bystander].map((l) => resolver.resolve(l.canonical(), l, new Map()));
      resolver.end();
      const egressPorts = [...a!.resolved.mapState].filter(({ key }) => key.egress).map(({ key }) => `${key.identity}/${key.port}`);
      return { changed: [a!.changed, c!.changed], egressPorts };
    };
    const withoutServer = withServer.slice(0, -1);
    assert.deepEqual(pass(withoutServer, serverPods()), { changed: [true, true], egressPorts: [] });
    assert.deepEqual(pass(withServer, serverPods(8080)), { changed: [true, false], egressPorts: ['258/8080'] }, 'the first server pod');
    assert.deepEqual(pass(withServer, serverPods(8080, 8081)), { changed: [true, false], egressPorts: ['258/8080', '258/8081'] },
      'a second pod of the same identity, with another number');
    assert.deepEqual(pass(withServer, serverPods(8080, 8081)).changed, [false, false], 'nothing changed');
    assert.deepEqual(pass(withServer, serverPods(8081)), { changed: [true, false], egressPorts: ['258/8081'] }, 'a pod gone');
  });

  it('re-resolves only the groups a change touches', () => {
    const repo = new PolicyRepository();
    const resolver = new IncrementalResolver('default', (r) => r);
    const a = pod({ app: 'a' }, 'x');
    const b = pod({ app: 'b' }, 'x');
    const c = pod({ app: 'c' }, 'x');
    const reserved: IdentityLike[] = RESERVED_IDENTITIES.map((r) => ({ id: r.id, labels: r.labels }));
    let identities = [...reserved, { id: 256, labels: a }, { id: 257, labels: b }];
    const pass = () => {
      resolver.begin(repo, identities, new Map());
      const changed = [a, b].map((l) => resolver.resolve(l.canonical(), l, new Map()).changed);
      return { changed, stats: resolver.end() };
    };
    const policyFor = (app: string, peer: string) =>
      `apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: for-${app}}\nspec:\n  endpointSelector: {matchLabels: {app: ${app}}}\n  ingress:\n  - fromEndpoints: [{matchLabels: {app: ${peer}}}]\n`;
    repo.import(parsePolicyText(policyFor('a', 'c'), 'x'));
    repo.import(parsePolicyText(policyFor('b', 'a'), 'x'));
    assert.deepEqual(pass().changed, [true, true]);
    assert.deepEqual(pass().changed, [false, false], 'nothing changed');

    repo.import(parsePolicyText(policyFor('b', 'b'), 'x'));
    assert.deepEqual(pass().changed, [false, true], 'a policy that applies to b only');

    identities = [...identities, { id: 258, labels: c }];
    const afterPod = pass();
    assert.deepEqual(afterPod.changed, [true, false], 'a new identity that only a\'s rule selects');
    assert.equal(afterPod.stats.selectorsChanged, 1);
  });
});
