/**
 * L7 rules in policy resolution: which entries redirect to the proxy, with
 * which HTTP rules, and how L7 and L3/L4 allows of the same peer and port merge.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RESERVED_IDENTITIES } from '../identity/reserved.js';
import { buildPodLabels } from '../labels/podlabels.js';
import { policyKey, Proto } from './mapstate.js';
import { parsePolicyText } from './parse.js';
import { PolicyRepository } from './repository.js';
import { DEFAULT_PROXY_PORTS, resolveEndpointPolicy } from './resolve.js';

const pod = (podLabels: Record<string, string>) =>
  buildPodLabels({ namespace: 'default', podLabels, namespaceLabels: {}, serviceAccount: 'default', clusterName: 'default' }).identityLabels;
const DEATHSTAR = 256;
const TIEFIGHTER = 257;
const XWING = 258;
const identities = [
  ...RESERVED_IDENTITIES.map((r) => ({ id: r.id, labels: r.labels })),
  { id: DEATHSTAR, labels: pod({ org: 'empire', class: 'deathstar' }) },
  { id: TIEFIGHTER, labels: pod({ org: 'empire', class: 'tiefighter' }) },
  { id: XWING, labels: pod({ org: 'alliance', class: 'xwing' }) },
];

function resolve(texts: string[], subject = DEATHSTAR, proxyPorts?: { ingress: number; egress: number }) {
  const repository = new PolicyRepository();
  for (const t of texts) repository.import(parsePolicyText(t));
  return resolveEndpointPolicy({
    endpointLabels: identities.find((i) => i.id === subject)!.labels, repository, identities, enforcement: 'default',
    ...(proxyPorts ? { proxyPorts } : {}),
  });
}

const policy = (name: string, selector: string, body: string) =>
  `apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: ${name}}\nspec:\n  endpointSelector: {matchLabels: {${selector}}}\n${body}`;
/** The Star Wars L7 rule: empire ships may POST /v1/request-landing on port 80. */
const RULE1_L7 = policy('rule1', 'org: empire, class: deathstar', `  ingress:
  - fromEndpoints: [{matchLabels: {org: empire}}]
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules:
        http:
        - method: POST
          path: /v1/request-landing
`);

describe('L7 rules in policy resolution', () => {
  it('redirects the peer\'s TCP port to the ingress proxy port, carrying the HTTP rules and their cookie', () => {
    const res = resolve([RULE1_L7]);
    const entry = res.mapState.get(policyKey(TIEFIGHTER, false, Proto.TCP, 80))!;
    assert.equal(entry.proxyPort, DEFAULT_PROXY_PORTS.ingress);
    assert.equal(entry.deny, false);
    assert.deepEqual(entry.l7?.http.map((h) => h.rule), [{ method: 'POST', path: '/v1/request-landing' }]);
    assert.equal(entry.l7?.http[0]!.cookie, entry.cookie);
    assert.equal(res.mapState.get(policyKey(XWING, false, Proto.TCP, 80)), undefined, 'xwing is still not allowed at L3');
  });

  it('uses the node\'s proxy ports, the egress one for egress rules', () => {
    const egressL7 = policy('egress-l7', 'class: tiefighter', `  egress:
  - toEndpoints: [{matchLabels: {class: deathstar}}]
    toPorts: [{ports: [{port: "80", protocol: TCP}], rules: {http: [{method: GET}]}}]
`);
    const res = resolve([egressL7], TIEFIGHTER, { ingress: 11000, egress: 11001 });
    assert.equal(res.mapState.get(policyKey(DEATHSTAR, true, Proto.TCP, 80))!.proxyPort, 11001);
  });

  it('merges two L7 allows of one peer and port: a request passes if either rule matches', () => {
    const more = policy('rule2', 'class: deathstar', `  ingress:
  - fromEndpoints: [{matchLabels: {class: tiefighter}}]
    toPorts: [{ports: [{port: "80", protocol: TCP}], rules: {http: [{method: GET, path: "/v1/"}]}}]
`);
    const entry = resolve([RULE1_L7, more]).mapState.get(policyKey(TIEFIGHTER, false, Proto.TCP, 80))!;
    assert.deepEqual(entry.l7?.http.map((h) => h.rule.method), ['POST', 'GET']);
    assert.notEqual(entry.l7?.http[0]!.cookie, entry.l7?.http[1]!.cookie, 'each rule keeps its own cookie');
  });

  it('lets an L3/L4 allow of the same peer and port replace the L7 one: every request passes', () => {
    const l4 = policy('l4', 'class: deathstar', `  ingress:
  - fromEndpoints: [{matchLabels: {class: tiefighter}}]
    toPorts: [{ports: [{port: "80", protocol: TCP}]}]
`);
    for (const order of [[RULE1_L7, l4], [l4, RULE1_L7]]) {
      const entry = resolve(order).mapState.get(policyKey(TIEFIGHTER, false, Proto.TCP, 80))!;
      assert.equal(entry.proxyPort, 0);
      assert.equal(entry.l7, undefined);
    }
  });

  it('redirects only TCP: with protocol ANY the UDP and SCTP blocks stay plain; an empty rule list is no L7 rule', () => {
    const any = policy('any', 'class: deathstar', `  ingress:
  - fromEndpoints: [{matchLabels: {class: tiefighter}}]
    toPorts: [{ports: [{port: "80", protocol: ANY}], rules: {http: [{method: GET}]}}]
  - fromEndpoints: [{matchLabels: {class: xwing}}]
    toPorts: [{ports: [{port: "81", protocol: TCP}], rules: {http: []}}]
`);
    const res = resolve([any]);
    assert.equal(res.mapState.get(policyKey(TIEFIGHTER, false, Proto.TCP, 80))!.proxyPort, DEFAULT_PROXY_PORTS.ingress);
    assert.equal(res.mapState.get(policyKey(TIEFIGHTER, false, Proto.UDP, 80))!.proxyPort, 0);
    assert.equal(res.mapState.get(policyKey(TIEFIGHTER, false, Proto.SCTP, 80))!.proxyPort, 0);
    assert.equal(res.mapState.get(policyKey(XWING, false, Proto.TCP, 81))!.proxyPort, 0);
  });

  it('keeps a deny over an L7 allow', () => {
    const deny = policy('deny', 'class: deathstar', `  ingressDeny:
  - fromEndpoints: [{matchLabels: {class: tiefighter}}]
    toPorts: [{ports: [{port: "80", protocol: TCP}]}]
`);
    const entry = resolve([RULE1_L7, deny]).mapState.get(policyKey(TIEFIGHTER, false, Proto.TCP, 80))!;
    assert.equal(entry.deny, true);
    assert.equal(entry.proxyPort, 0);
  });
});
