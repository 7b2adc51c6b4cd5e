import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CidrIdentities } from '../identity/cidr.js';
import { RESERVED_IDENTITIES } from '../identity/reserved.js';
import { LabelSet } from '../labels/labels.js';
import { referencedCidrs } from './cidrs.js';
import { IPV6_DROP_REASON } from './ipv6.js';
import { lookupPolicy } from './lookup.js';
import { Proto } from './mapstate.js';
import { parsePolicyText, parsePolicyTextWithWarnings } from './parse.js';
import type { PodIpsByIdentity } from './peers.js';
import { ruleToJSON } from './render.js';
import { PolicyRepository } from './repository.js';
import { resolveEndpointPolicy } from './resolve.js';

const WHY = `membrane's datapath is IPv4-only and drops every IPv6 packet (reason DROP_UNKNOWN_L3, "Unsupported L3 protocol")`;
const NOTHING_ALLOWED = '; with no IPv4 peer, this rule allows nothing (and still counts for default deny)';

const cnp = (name: string, spec: string) =>
  `apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: ${name}, namespace: x}\nspec:\n  endpointSelector: {matchLabels: {app: client}}\n${spec}`;
const knp = (spec: string) =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: k, namespace: x}\nspec:\n  podSelector: {matchLabels: {app: client}}\n${spec}`;

/** Cilium's connectivity-test policy `client-ingress-icmp`, as published. */
const CLIENT_INGRESS_ICMP = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: client-ingress-icmp
  namespace: x
spec:
  description: "Allow other client to contact another client via ICMP"
  endpointSelector:
    matchLabels:
      app: client
  ingress:
  - fromEndpoints:
    - matchLabels:
        app: client2
    icmps:
    - fields:
      - type: 8
        family: IPv4
      - type: 128
        family: IPv6
`;

const pod = (app: string) => LabelSet.parse([`k8s:app=${app}`, 'k8s:io.kubernetes.pod.namespace=x']);
const CLIENT = 300;
const CLIENT2 = 301;
const WORLD = 2;
const HOST = 1;
const PODS = { [CLIENT]: pod('client'), [CLIENT2]: pod('client2') };
const POD_IPS: PodIpsByIdentity = new Map([[CLIENT, ['10.244.0.2']], [CLIENT2, ['10.244.0.3']]]);

/** Policy-map entries as [identity, direction, protocol, port, prefixLen, deny], in a stable order. */
const sorted = (entries: unknown[][]) => [...entries].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

/** Resolves for the client pod, with CIDR identities for every prefix the policies name, as the agent gives them. */
function resolve(texts: string[]) {
  const repository = new PolicyRepository();
  for (const t of texts) repository.import(parsePolicyText(t));
  const cidrs = new CidrIdentities(undefined, () => {});
  cidrs.sync(referencedCidrs(repository));
  const identities = [
    ...RESERVED_IDENTITIES.map((r) => ({ id: r.id, labels: r.labels })),
    ...Object.entries(PODS).map(([id, labels]) => ({ id: Number(id), labels })),
    ...cidrs.list().map((c) => ({ id: c.id, labels: c.labels })),
  ];
  const res = resolveEndpointPolicy({ endpointLabels: PODS[CLIENT], repository, identities, enforcement: 'default', podIps: POD_IPS });
  const cidr = (prefix: string) => cidrs.list().find((c) => c.prefix === prefix)!.id;
  const entries = sorted([...res.mapState].map(({ key, entry }) => [key.identity, key.egress ? 'egress' : 'ingress', key.protocol, key.port, key.prefixLen, entry.deny]));
  const verdict = (egress: boolean, peer: number, proto: number = Proto.TCP, port = 80) => lookupPolicy(res.mapState, peer, egress, proto, port).verdict;
  return { res, cidr, entries, prefixes: referencedCidrs(repository), verdict };
}

const ALLOW_ALL_INGRESS = [0, 'ingress', 0, 0, 0, false];
const ALLOW_ALL_EGRESS = [0, 'egress', 0, 0, 0, false];

describe('the datapath reason IPv6 warnings name', () => {
  it('is the one bpf/lib/parse.h drops every non-IPv4, non-ARP frame with, as reasons.def defines it', () => {
    const def = readFileSync(new URL('../../bpf/lib/reasons.def', import.meta.url), 'utf8');
    assert.match(def, new RegExp(`^REASON\\(${IPV6_DROP_REASON.code}, ${IPV6_DROP_REASON.name}, "${IPV6_DROP_REASON.description}", \\w+\\)$`, 'm'));
    const parse = readFileSync(new URL('../../bpf/lib/parse.h', import.meta.url), 'utf8');
    assert.match(parse, new RegExp(`h_proto != bpf_htons\\(ETH_P_IP\\)\\)\\s*return -REASON_${IPV6_DROP_REASON.name};`));
  });
});

describe('accepting IPv6 CIDR peers: they select no traffic, with a warning', () => {
  it("accepts toCIDR [0.0.0.0/0, ::/0], warns at the IPv6 entry, and enforces the IPv4 one exactly", () => {
    const text = cnp('world', '  egress: [{toCIDR: [0.0.0.0/0, "::/0"]}]\n');
    const { warnings } = parsePolicyTextWithWarnings(text);
    assert.deepEqual(warnings, [{ path: 'spec.egress[0].toCIDR[1]', message: `IPv6 peer ::/0 selects no traffic: ${WHY}` }]);
    const { entries, verdict, prefixes } = resolve([text]);
    assert.deepEqual(entries, sorted([ALLOW_ALL_INGRESS, [WORLD, 'egress', 0, 0, 0, false]]));
    assert.deepEqual(prefixes, []);
    assert.equal(verdict(true, WORLD), 'allow');
    assert.equal(verdict(true, CLIENT2), 'default-deny');
  });

  it('keeps a rule whose only peer is IPv6 as a CIDR peer that selects nothing: no allow, no wildcard, default deny', () => {
    // The trap: the rule must not lose its peer, which would mean any peer.
    const text = cnp('v6-only', '  egress: [{toCIDR: ["::/0"]}]\n  ingress: [{fromCIDRSet: [{cidr: "::/0", except: ["2001:db8::/32"]}], toPorts: [{ports: [{port: "80"}]}]}]\n');
    const [policy] = parsePolicyText(text);
    assert.deepEqual(policy!.rules[0]!.egress[0]!.peer, { kind: 'cidr', field: 'toCIDR', cidrs: [], asWritten: [{ cidr: '::/0', except: [] }] });
    const { res, entries, verdict, prefixes } = resolve([text]);
    assert.deepEqual(entries, [], 'no entry at all: neither the rules nor the allow-all of an unenforced direction');
    assert.equal(res.egressEnforcing, true);
    assert.equal(res.ingressEnforcing, true);
    assert.deepEqual(res.defaultDenyBy.egress.map((r) => r.name), ['v6-only']);
    for (const peer of [0, HOST, WORLD, CLIENT2]) {
      assert.equal(verdict(true, peer), 'default-deny', `egress to ${peer}`);
      assert.equal(verdict(false, peer), 'default-deny', `ingress from ${peer}`);
    }
    assert.deepEqual(prefixes, []);
  });

  it('says so when an entry has no IPv4 peer left, for allows and denies', () => {
    const { warnings } = parsePolicyTextWithWarnings(cnp('p', '  egress: [{toCIDR: ["::/0", "2001:db8::/32"]}]\n  egressDeny: [{toCIDRSet: [{cidr: "fd00::/8"}]}]\n'));
    assert.deepEqual(warnings, [
      { path: 'spec.egress[0].toCIDR[0]', message: `IPv6 peer ::/0 selects no traffic: ${WHY}${NOTHING_ALLOWED}` },
      { path: 'spec.egress[0].toCIDR[1]', message: `IPv6 peer 2001:db8::/32 selects no traffic: ${WHY}${NOTHING_ALLOWED}` },
      { path: 'spec.egressDeny[0].toCIDRSet[0].cidr', message: `IPv6 peer fd00::/8 selects no traffic: ${WHY}; with no IPv4 peer, this deny rule denies nothing` },
    ]);
  });

  it('denies nothing with an IPv6-only deny under an allow-all', () => {
    const { entries, verdict } = resolve([cnp('p', '  egress: [{toEntities: [all]}]\n  egressDeny: [{toCIDR: ["::/0"]}]\n')]);
    assert.deepEqual(entries, sorted([ALLOW_ALL_INGRESS, ALLOW_ALL_EGRESS]));
    assert.equal(verdict(true, WORLD), 'allow');
  });

  it('enforces the IPv4 entries of a CIDR set beside IPv6 ones, excepts included, and gives CIDR identities to IPv4 prefixes only', () => {
    const text = cnp('p', '  egress: [{toCIDRSet: [{cidr: "2001:db8::/32", except: ["2001:db8:1::/48"]}, {cidr: 198.51.100.0/24, except: [198.51.100.128/25]}]}]\n' +
      '  egressDeny: [{toCIDR: [203.0.113.7/32, "2001:db8::7"]}]\n');
    const { cidr, verdict, prefixes } = resolve([text]);
    assert.deepEqual(prefixes, ['198.51.100.0/24', '198.51.100.128/25', '203.0.113.7/32']);
    assert.equal(verdict(true, cidr('198.51.100.0/24')), 'allow');
    assert.equal(verdict(true, cidr('198.51.100.128/25')), 'default-deny');
    assert.equal(verdict(true, cidr('203.0.113.7/32')), 'deny');
    assert.equal(verdict(true, WORLD), 'default-deny');
    assert.deepEqual(parsePolicyTextWithWarnings(text).warnings.map((w) => w.path), ['spec.egress[0].toCIDRSet[0].cidr', 'spec.egressDeny[0].toCIDR[1]']);
  });

  it('shows the IPv6 entries as written in policy get, in their place', () => {
    const [p] = parsePolicyText(cnp('p', '  egress:\n  - toCIDR: [10.1.2.3/8, "2001:db8::1/32", 0.0.0.0/0]\n' +
      '  - toCIDRSet: [{cidr: "::/0", except: ["fd00::/8"]}, {cidr: 1.0.0.0/8}]\n'));
    const json = ruleToJSON(p!.rules[0]!) as { egress: unknown[] };
    assert.deepEqual(json.egress, [
      { toCIDR: ['10.0.0.0/8', '2001:db8::/32', '0.0.0.0/0'] },
      { toCIDRSet: [{ cidr: '::/0', except: ['fd00::/8'] }, { cidr: '1.0.0.0/8' }] },
    ]);
  });

  it('prefixes warning paths with the document index when the text has several documents, and warns of nothing else', () => {
    const text = `${cnp('a', '  egress: [{toCIDR: [0.0.0.0/0]}]\n')}---\n${cnp('b', '  ingress: [{fromCIDR: [10.0.0.0/8, "::1"]}]\n')}`;
    assert.deepEqual(parsePolicyTextWithWarnings(text).warnings.map((w) => w.path), ['[1].spec.ingress[0].fromCIDR[1]']);
    assert.deepEqual(parsePolicyTextWithWarnings(cnp('a', '  egress: [{toCIDR: [0.0.0.0/0]}]\n')).warnings, []);
  });

  it('refuses the whole text, warnings and all, when a later document is invalid', () => {
    const text = `${cnp('a', '  egress: [{toCIDR: ["::/0"]}]\n')}---\n${cnp('b', '  ingress: [{fromCIDR: ["::/129"]}]\n')}`;
    assert.throws(() => parsePolicyTextWithWarnings(text), { path: '[1].spec.ingress[0].fromCIDR[0]' });
  });
});

describe('accepting ICMPv6 fields: they select no traffic, with a warning', () => {
  it("accepts Cilium's client-ingress-icmp and allows exactly ICMPv4 echo requests from client2", () => {
    const { warnings } = parsePolicyTextWithWarnings(CLIENT_INGRESS_ICMP);
    assert.deepEqual(warnings, [{ path: 'spec.ingress[0].icmps[0].fields[1]', message: `ICMPv6 type 128 selects no traffic: ${WHY}` }]);
    const { entries, verdict } = resolve([CLIENT_INGRESS_ICMP]);
    assert.deepEqual(entries, sorted([[CLIENT2, 'ingress', Proto.ICMP, 8, 24, false], ALLOW_ALL_EGRESS]));
    assert.equal(verdict(false, CLIENT2, Proto.ICMP, 8), 'allow');
    assert.equal(verdict(false, CLIENT2, Proto.ICMP, 128), 'default-deny');
    const json = ruleToJSON(parsePolicyText(CLIENT_INGRESS_ICMP)[0]!.rules[0]!) as { ingress: { icmps: unknown }[] };
    assert.deepEqual(json.ingress[0]!.icmps, [{ fields: [{ family: 'IPv4', type: 8 }, { family: 'IPv6', type: 128 }] }]);
  });

  it('yields no entry for an ICMP rule of ICMPv6 fields only, rather than every protocol, and still enforces the direction', () => {
    const text = cnp('p', '  ingress: [{icmps: [{fields: [{family: IPv6, type: EchoRequest}]}]}]\n' +
      '  egress: [{toEndpoints: [{}], icmps: [{fields: [{family: IPv6, type: 128}]}, {fields: [{type: EchoReply}]}]}]\n');
    const { warnings } = parsePolicyTextWithWarnings(text);
    assert.deepEqual(warnings, [
      { path: 'spec.ingress[0].icmps[0].fields[0]', message: `ICMPv6 type EchoRequest (128) selects no traffic: ${WHY}; with no IPv4 ICMP type, this rule allows nothing (and still counts for default deny)` },
      { path: 'spec.egress[0].icmps[0].fields[0]', message: `ICMPv6 type 128 selects no traffic: ${WHY}` },
    ]);
    const { res, entries, verdict } = resolve([text]);
    assert.equal(res.ingressEnforcing, true);
    assert.deepEqual(entries, sorted([[CLIENT, 'egress', Proto.ICMP, 0, 24, false], [CLIENT2, 'egress', Proto.ICMP, 0, 24, false]]));
    assert.equal(verdict(false, CLIENT2, Proto.ICMP, 128), 'default-deny');
    assert.equal(verdict(false, CLIENT2, Proto.TCP, 80), 'default-deny');
  });
});

describe('accepting IPv6 ipBlocks of NetworkPolicies: they select no traffic, pods included, with a warning', () => {
  it('enforces the IPv4 block beside an IPv6 one, world and pods by IP', () => {
    const text = knp('  policyTypes: [Egress]\n  egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0}}, {ipBlock: {cidr: "::/0"}}]}]\n');
    assert.deepEqual(parsePolicyTextWithWarnings(text).warnings, [{ path: 'spec.egress[0].to[1].ipBlock.cidr', message: `IPv6 ipBlock ::/0 selects no traffic: ${WHY}` }]);
    const { verdict } = resolve([text]);
    assert.equal(verdict(true, WORLD), 'allow');
    assert.equal(verdict(true, CLIENT2), 'allow', 'an ipBlock selects pods by IP');
  });

  it('allows nothing, pods included, for a rule of IPv6 blocks only, and still enforces the direction', () => {
    const text = knp('  policyTypes: [Ingress, Egress]\n  egress: [{to: [{ipBlock: {cidr: "::/0", except: ["fd00::/8"]}}], ports: [{port: 80}]}]\n' +
      '  ingress: [{from: [{ipBlock: {cidr: "::/0"}}]}]\n');
    const { warnings } = parsePolicyTextWithWarnings(text);
    assert.deepEqual(warnings.map((w) => w.path), ['spec.ingress[0].from[0].ipBlock.cidr', 'spec.egress[0].to[0].ipBlock.cidr']);
    assert.ok(warnings.every((w) => w.message.endsWith(NOTHING_ALLOWED)));
    const { res, entries, prefixes } = resolve([text]);
    assert.deepEqual(entries, []);
    assert.equal(res.ingressEnforcing && res.egressEnforcing, true);
    assert.deepEqual(prefixes, []);
    const json = ruleToJSON(parsePolicyText(text)[0]!.rules[0]!) as { egress: { toCIDRSet: unknown }[] };
    assert.deepEqual(json.egress[0]!.toCIDRSet, [{ cidr: '::/0', except: ['fd00::/8'] }]);
  });
});
