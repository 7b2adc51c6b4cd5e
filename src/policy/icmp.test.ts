import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RESERVED_IDENTITIES } from '../identity/reserved.js';
import { LabelSet } from '../labels/labels.js';
import { icmpBlocks, readIcmpType } from './icmp.js';
import { lookupPolicy } from './lookup.js';
import { Proto } from './mapstate.js';
import { parsePolicyText } from './parse.js';
import { ruleToJSON } from './render.js';
import { PolicyRepository } from './repository.js';
import { resolveEndpointPolicy } from './resolve.js';
import { rejectsPolicy } from '../testing/policy-parse.js';

const withSpec = (spec: string) =>
  `apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p}\nspec:\n  endpointSelector: {matchLabels: {app: server}}\n${spec}`;
const parseRule = (spec: string) => parsePolicyText(withSpec(spec))[0]!.rules[0]!;

const rejects = rejectsPolicy;

const SERVER = LabelSet.parse(['k8s:app=server', 'k8s:io.kubernetes.pod.namespace=default']);
const CLIENT = LabelSet.parse(['k8s:app=client', 'k8s:io.kubernetes.pod.namespace=default']);
const OTHER = LabelSet.parse(['k8s:app=other', 'k8s:io.kubernetes.pod.namespace=default']);
const identities = [
  ...RESERVED_IDENTITIES.map((r) => ({ id: r.id, labels: r.labels })),
  { id: 300, labels: SERVER }, { id: 301, labels: CLIENT }, { id: 302, labels: OTHER },
];

function resolve(spec: string) {
  const repository = new PolicyRepository();
  repository.import(parsePolicyText(withSpec(spec)));
  return resolveEndpointPolicy({ endpointLabels: SERVER, repository, identities, enforcement: 'default' });
}

describe('reading ICMP types', () => {
  it('reads numbers 0-255, strings of digits, and the names Cilium accepts per family', () => {
    assert.deepEqual(readIcmpType(8), { type: 8 });
    assert.deepEqual(readIcmpType('0'), { type: 0 });
    assert.deepEqual(readIcmpType(255), { type: 255 });
    const v4 = { EchoReply: 0, DestinationUnreachable: 3, Redirect: 5, Echo: 8, EchoRequest: 8, RouterAdvertisement: 9, RouterSelection: 10,
      TimeExceeded: 11, ParameterProblem: 12, Timestamp: 13, TimestampReply: 14, Photuris: 40, ExtendedEchoRequest: 42, ExtendedEchoReply: 43 };
    for (const [name, type] of Object.entries(v4)) assert.deepEqual(readIcmpType(name), { type }, name);
    assert.deepEqual(readIcmpType('EchoRequest', 'IPv6'), { type: 128 });
  });

  it('refuses other numbers and names, hinting at the CamelCase spelling', () => {
    for (const bad of [256, -1, 1.5, '300', 'PacketTooBig', '', 'toString', true, null]) {
      assert.ok('error' in readIcmpType(bad), String(bad));
    }
    const wrongCase = readIcmpType('echorequest');
    assert.ok('error' in wrongCase && /CamelCase: EchoRequest/.test(wrongCase.error));
  });

  it('makes one exact ICMP block per type: protocol 1, port = type, prefix 24', () => {
    assert.deepEqual(icmpBlocks([{ fields: [{ family: 'IPv4', type: 8 }, { family: 'IPv4', type: 0 }] }]), [
      { protocol: Proto.ICMP, port: 8, prefixLen: 24 }, { protocol: Proto.ICMP, port: 0, prefixLen: 24 },
    ]);
  });
});

describe('parsing icmps', () => {
  it('accepts icmps in all four sections, names resolved to numbers, IPv4 by default', () => {
    const rule = parseRule('  ingress: [{icmps: [{fields: [{type: EchoRequest}, {family: IPv4, type: 13}]}]}]\n' +
      '  ingressDeny: [{fromEndpoints: [{matchLabels: {app: other}}], icmps: [{fields: [{type: "8"}]}]}]\n' +
      '  egress: [{toEntities: [world], icmps: [{fields: [{type: TimeExceeded}]}]}]\n' +
      '  egressDeny: [{icmps: [{fields: [{type: 0}]}]}]\n');
    assert.deepEqual(rule.ingress[0], { icmps: [{ fields: [{ family: 'IPv4', type: 8 }, { family: 'IPv4', type: 13 }] }] });
    assert.equal(rule.ingressDeny[0]!.peer?.kind, 'endpoints');
    assert.deepEqual(rule.ingressDeny[0]!.icmps, [{ fields: [{ family: 'IPv4', type: 8 }] }]);
    assert.deepEqual(rule.egress[0]!.icmps, [{ fields: [{ family: 'IPv4', type: 11 }] }]);
    assert.deepEqual(rule.egressDeny[0]!.icmps, [{ fields: [{ family: 'IPv4', type: 0 }] }]);
  });

  it('renders icmps as policy get shows them, types as numbers', () => {
    const json = ruleToJSON(parseRule('  ingress: [{fromEndpoints: [{matchLabels: {app: client}}], icmps: [{fields: [{type: EchoRequest}]}]}]\n'));
    assert.deepEqual((json['ingress'] as Record<string, unknown>[])[0]!['icmps'], [{ fields: [{ family: 'IPv4', type: 8 }] }]);
  });

  const cases: [string, string, string, RegExp][] = [
    ['an unknown type name', '  ingress: [{icmps: [{fields: [{type: Ping}]}]}]\n', 'spec.ingress[0].icmps[0].fields[0].type', /not an ICMPv4 type name/],
    ['a type above 255', '  egress: [{icmps: [{fields: [{type: 256}]}]}]\n', 'spec.egress[0].icmps[0].fields[0].type', /0-255/],
    ['a type of the wrong type', '  ingress: [{icmps: [{fields: [{type: [8]}]}]}]\n', 'spec.ingress[0].icmps[0].fields[0].type', /ICMP type/],
    ['a missing type', '  ingress: [{icmps: [{fields: [{family: IPv4}]}]}]\n', 'spec.ingress[0].icmps[0].fields[0].type', /required/],
    ['an ICMPv6 name in the IPv4 family', '  ingress: [{icmps: [{fields: [{type: PacketTooBig}]}]}]\n', 'spec.ingress[0].icmps[0].fields[0].type', /ICMPv4/],
    ['an unknown family', '  ingress: [{icmps: [{fields: [{family: ipv4, type: 8}]}]}]\n', 'spec.ingress[0].icmps[0].fields[0].family', /IPv4, IPv6/],
    ['an unknown field in a field', '  ingress: [{icmps: [{fields: [{type: 8, code: 0}]}]}]\n', 'spec.ingress[0].icmps[0].fields[0].code', /unknown field/],
    ['a rule without fields', '  ingress: [{icmps: [{}]}]\n', 'spec.ingress[0].icmps[0].fields', /at least one field/],
    ['icmps next to toPorts', '  ingress: [{icmps: [{fields: [{type: 8}]}], toPorts: [{ports: [{port: "80"}]}]}]\n', 'spec.ingress[0].icmps',
      /cannot be combined with toPorts/],
    ['more than 40 fields', `  ingress: [{icmps: [{fields: [${Array(41).fill('{type: 8}').join(', ')}]}]}]\n`, 'spec.ingress[0].icmps[0].fields', /more than 40/],
    ['an ICMPv4-only name in the IPv6 family', '  ingressDeny: [{icmps: [{fields: [{type: 8}, {family: IPv6, type: Echo}]}]}]\n',
      'spec.ingressDeny[0].icmps[0].fields[1].type', /"Echo" is not an ICMPv6 type name/],
    ['a lower-case ICMPv6 name', '  ingress: [{icmps: [{fields: [{family: IPv6, type: echoRequest}]}]}]\n',
      'spec.ingress[0].icmps[0].fields[0].type', /CamelCase: EchoRequest/],
    ['an ICMPv6 type above 255', '  egress: [{icmps: [{fields: [{family: IPv4, type: 0}, {family: IPv6, type: 300}]}]}]\n',
      'spec.egress[0].icmps[0].fields[1].type', /0-255/],
    ['icmps in the wrong place', '  icmps: [{fields: [{type: 8}]}]\n', 'spec.icmps', /unknown field/],
  ];
  for (const [name, spec, path, message] of cases) it(`rejects ${name} at ${path}`, () => rejects(withSpec(spec), path, message));
});

describe('resolving icmps', () => {
  it('allows exactly the listed ICMP types from any peer when the rule has no L3 peer', () => {
    const res = resolve('  ingress: [{icmps: [{fields: [{type: EchoRequest}, {type: 13}]}]}]\n');
    const items = [...res.mapState].map(({ key }) => [key.identity, key.egress, key.protocol, key.port, key.prefixLen]);
    assert.deepEqual(items.sort(), [[0, false, 1, 13, 24], [0, false, 1, 8, 24], [0, true, 0, 0, 0]].sort());
    assert.equal(res.ingressEnforcing, true);
    const verdict = (peer: number, proto: number, port: number) => lookupPolicy(res.mapState, peer, false, proto, port).verdict;
    assert.equal(verdict(301, Proto.ICMP, 8), 'allow');
    assert.equal(verdict(2, Proto.ICMP, 13), 'allow');
    assert.equal(verdict(301, Proto.ICMP, 0), 'default-deny', 'another type');
    assert.equal(verdict(301, Proto.TCP, 8), 'default-deny', 'the type is not a TCP port');
  });

  it('limits ICMP to the peer of the rule, and a deny of one type wins over an allow of all', () => {
    const res = resolve('  ingress:\n  - fromEndpoints: [{matchLabels: {app: client}}]\n    icmps: [{fields: [{type: 8}]}]\n' +
      '  - fromEndpoints: [{matchLabels: {app: other}}]\n' +
      '  ingressDeny: [{fromEndpoints: [{matchLabels: {app: other}}], icmps: [{fields: [{type: EchoRequest}]}]}]\n');
    const verdict = (peer: number, type: number) => lookupPolicy(res.mapState, peer, false, Proto.ICMP, type).verdict;
    assert.equal(verdict(301, 8), 'allow');
    assert.equal(verdict(301, 0), 'default-deny');
    assert.equal(verdict(302, 8), 'deny');
    assert.equal(verdict(302, 0), 'allow', 'the L3 allow of other still covers other types');
    assert.equal(lookupPolicy(res.mapState, 302, false, Proto.TCP, 80).verdict, 'allow');
  });

  it('allows egress ICMP to an entity', () => {
    const res = resolve('  egress: [{toEntities: [world], icmps: [{fields: [{type: EchoRequest}]}]}]\n');
    assert.equal(lookupPolicy(res.mapState, 2, true, Proto.ICMP, 8).verdict, 'allow');
    assert.equal(lookupPolicy(res.mapState, 301, true, Proto.ICMP, 8).verdict, 'default-deny');
  });
});
