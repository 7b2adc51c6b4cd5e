/**
 * Flow filters, Hubble's FlowFilter semantics (cilium-semantics.md §6.2,
 * §6.3): every case names the flows of a small fixed set that must pass,
 * and holds for both implementations, the interpreted (flowPasses,
 * flowMatches) and the compiled (compileFlowFilters, compileFlowFilter).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../common/errors.js';
import {
  type FlowFilter, compileFlowFilter, compileFlowFilters, flowMatches as interpretedMatches, flowPasses as interpretedPasses, parseFlowFilters,
} from './filter.js';
import type { Flow, FlowEndpoint } from './flow.js';

const ns = (n: string) => `k8s:io.kubernetes.pod.namespace=${n}`;
const TIEFIGHTER: FlowEndpoint = { ID: 1201, identity: 257, namespace: 'default', pod_name: 'tiefighter', labels: ['k8s:class=tiefighter', ns('default'), 'k8s:org=empire'] };
const DEATHSTAR: FlowEndpoint = { ID: 2756, identity: 256, namespace: 'default', pod_name: 'deathstar-6fb5694d48-5hmds', labels: ['k8s:class=deathstar', ns('default'), 'k8s:org=empire'] };
const XWING: FlowEndpoint = { ID: 3001, identity: 258, namespace: 'default', pod_name: 'xwing', labels: ['k8s:class=xwing', ns('default'), 'k8s:org=alliance'] };
const COREDNS: FlowEndpoint = { ID: 77, identity: 102, namespace: 'kube-system', pod_name: 'coredns-5d78c9869d-abcde', labels: ['k8s:k8s-app=kube-dns', ns('kube-system')] };
const WORLD: FlowEndpoint = { identity: 2, labels: ['reserved:world'] };
const HOST: FlowEndpoint = { identity: 1, labels: ['reserved:host'] };

function flow(source: FlowEndpoint, src: string, destination: FlowEndpoint, dst: string, rest: Partial<Flow>): Flow {
  return {
    time: '2024-03-14T09:26:53.589Z', uuid: 'u', verdict: 'FORWARDED', IP: { source: src, destination: dst, ipVersion: 'IPv4' },
    source, destination, Type: 'L3_L4', node_name: 'node-1', event_type: { type: 5 }, traffic_direction: 'INGRESS', Summary: '',
    ...rest,
  };
}
const tcp = (sport: number, dport: number) => ({ l4: { TCP: { source_port: sport, destination_port: dport, flags: { SYN: true } } } });

/** The flows every case filters: A..E. */
const FLOWS: Record<string, Flow> = {
  A: flow(TIEFIGHTER, '10.244.1.10', DEATHSTAR, '10.244.1.20', {
    ...tcp(41234, 80), policy_match_type: 2, is_reply: false, destination_service: { name: 'deathstar', namespace: 'default' },
  }),
  B: flow(XWING, '10.244.1.30', DEATHSTAR, '10.244.1.20', {
    ...tcp(50210, 80), verdict: 'DROPPED', drop_reason: 133, drop_reason_desc: 'POLICY_DENIED', event_type: { type: 1, sub_type: 133 },
  }),
  C: flow(TIEFIGHTER, '10.244.1.10', WORLD, '93.184.216.34', {
    ...tcp(38000, 443), verdict: 'DROPPED', drop_reason: 181, drop_reason_desc: 'POLICY_DENY', event_type: { type: 1, sub_type: 181 }, traffic_direction: 'EGRESS',
  }),
  D: flow(TIEFIGHTER, '10.244.1.10', COREDNS, '10.244.2.5', {
    l4: { UDP: { source_port: 53000, destination_port: 53 } }, traffic_direction: 'EGRESS', node_name: 'node-2', is_reply: false,
    destination_service: { name: 'kube-dns', namespace: 'kube-system' },
  }),
  E: flow(HOST, '10.244.1.1', XWING, '10.244.1.30', { l4: { ICMPv4: { type: 8, code: 0 } }, is_reply: false }),
};
const ALL = Object.keys(FLOWS).join('');

/** flowPasses, checked to agree with its compiled form. */
function flowPasses(f: Flow, whitelist?: FlowFilter[], blacklist?: FlowFilter[]): boolean {
  const res = interpretedPasses(f, whitelist, blacklist);
  assert.equal(compileFlowFilters(whitelist, blacklist)(f), res, `compiled ${JSON.stringify({ whitelist, blacklist })} on ${f.uuid}`);
  return res;
}

/** flowMatches, checked to agree with its compiled form. */
function flowMatches(f: Flow, filter: FlowFilter): boolean {
  const res = interpretedMatches(f, filter);
  assert.equal(compileFlowFilter(filter)(f), res, `compiled ${JSON.stringify(filter)} on ${f.uuid}`);
  return res;
}

function passing(whitelist?: FlowFilter[], blacklist?: FlowFilter[]): string {
  return Object.entries(FLOWS).filter(([, f]) => flowPasses(f, whitelist, blacklist)).map(([k]) => k).join('');
}
const matching = (filter: FlowFilter): string => passing([filter]);

/** [spec, filter, the flows that match] */
type Case = [string, FlowFilter, string];

const fieldCases: Record<string, Case[]> = {
  'pods': [
    ['source_pod "ns/name" matches the pod in that namespace', { source_pod: ['default/tiefighter'] }, 'ACD'],
    ['source_pod without namespace means namespace default', { source_pod: ['tiefighter'] }, 'ACD'],
    ['source_pod in another namespace does not match', { source_pod: ['kube-system/tiefighter'] }, ''],
    ['destination_pod matches a name prefix', { destination_pod: ['default/deathstar'] }, 'AB'],
    ['destination_pod matches the full generated pod name', { destination_pod: ['deathstar-6fb5694d48-5hmds'] }, 'AB'],
    ['"ns/" matches every pod of the namespace', { destination_pod: ['default/'] }, 'ABE'],
    ['"ns/" of another namespace matches its pods only', { destination_pod: ['kube-system/'] }, 'D'],
    ['a side without a pod (world, host) never matches a pod filter', { source_pod: ['default/'] }, 'ABCD'],
    ['any listed pod may match', { source_pod: ['default/xwing', 'default/tiefighter'] }, 'ABCD'],
  ],
  'IPs': [
    ['source_ip matches an exact address (not a textual prefix of it)', { source_ip: ['10.244.1.1'] }, 'E'],
    ['source_ip matches the exact address', { source_ip: ['10.244.1.10'] }, 'ACD'],
    ['destination_ip matches a CIDR', { destination_ip: ['10.244.0.0/16'] }, 'ABDE'],
    ['destination_ip matches a narrow CIDR', { destination_ip: ['93.184.216.0/24'] }, 'C'],
    ['a /32 CIDR is one address', { destination_ip: ['10.244.1.30/32'] }, 'E'],
    ['0.0.0.0/0 matches every address', { source_ip: ['0.0.0.0/0'] }, ALL],
  ],
  'identities': [
    ['source_identity matches the numeric identity', { source_identity: [258] }, 'B'],
    ['destination_identity matches reserved identities too', { destination_identity: [2] }, 'C'],
  ],
  'labels': [
    ['a label with its source matches', { source_label: ['k8s:class=tiefighter'] }, 'ACD'],
    ['a label without source matches any source', { source_label: ['class=tiefighter'] }, 'ACD'],
    ['a key alone matches any value', { source_label: ['org'] }, 'ABCD'],
    ['comma-separated requirements must all hold', { source_label: ['org=empire,class=tiefighter'] }, 'ACD'],
    ['one unmet requirement fails the selector', { source_label: ['org=empire,class=xwing'] }, ''],
    ['any listed selector may match', { source_label: ['class=xwing', 'reserved:host'] }, 'BE'],
    ['reserved labels match', { destination_label: ['reserved:world'] }, 'C'],
    ['a value must match exactly, not by prefix', { source_label: ['k8s:org=alli'] }, ''],
    ['the "any" source matches labels of every source, as Cilium selectors do', { source_label: ['any:org=alliance'] }, 'B'],
  ],
  'verdicts and reasons': [
    ['verdict', { verdict: ['DROPPED'] }, 'BC'],
    ['drop_reason_desc tells default deny from a deny rule', { drop_reason_desc: ['POLICY_DENY'] }, 'C'],
  ],
  'event types': [
    ['a type without sub_type matches every sub-type', { event_type: [{ type: 1 }] }, 'BC'],
    ['a sub_type narrows to it', { event_type: [{ type: 1, sub_type: 133 }] }, 'B'],
    ['policy verdicts', { event_type: [{ type: 5 }] }, 'ADE'],
  ],
  'direction, protocol, ports, node': [
    ['traffic_direction', { traffic_direction: ['EGRESS'] }, 'CD'],
    ['protocol in any case', { protocol: ['TCP'] }, 'ABC'],
    ['protocol udp', { protocol: ['udp'] }, 'D'],
    ['protocol icmp means ICMPv4', { protocol: ['icmp'] }, 'E'],
    ['source_port', { source_port: ['50210'] }, 'B'],
    ['destination_port', { destination_port: ['80'] }, 'AB'],
    ['a port filter never matches a flow without ports (ICMP)', { destination_port: ['0'] }, ''],
    ['node_name', { node_name: ['node-2'] }, 'D'],
  ],
  'services': [
    ['destination_service "ns/name"', { destination_service: ['kube-system/kube-dns'] }, 'D'],
    ['destination_service without namespace means namespace default', { destination_service: ['deathstar'] }, 'A'],
    ['"ns/" matches every service of the namespace', { destination_service: ['default/'] }, 'A'],
    ['a flow addressed to no service never matches', { destination_service: ['default/xwing'] }, ''],
    ['source_service: no flow comes back from a service here', { source_service: ['default/'] }, ''],
  ],
  'several fields in one filter': [
    ['all given fields must match (AND)', { source_pod: ['default/tiefighter'], verdict: ['DROPPED'] }, 'C'],
    ['an empty filter matches everything', {}, ALL],
  ],
};

describe('flowMatches, field by field', () => {
  for (const [group, cases] of Object.entries(fieldCases)) {
    describe(group, () => {
      for (const [spec, filter, expected] of cases) it(`${spec}: ${JSON.stringify(filter)} -> ${expected || 'none'}`, () => assert.equal(matching(filter), expected));
    });
  }

  it('answers for one flow and one filter', () => {
    assert.equal(flowMatches(FLOWS.A!, { verdict: ['FORWARDED'] }), true);
    assert.equal(flowMatches(FLOWS.A!, { verdict: ['DROPPED'] }), false);
  });
});

describe('flowPasses: whitelist and blacklist', () => {
  const cases: [string, FlowFilter[] | undefined, FlowFilter[] | undefined, string][] = [
    ['no filters pass everything', undefined, undefined, ALL],
    ['an empty whitelist passes everything', [], [], ALL],
    ['whitelist filters are OR\'ed', [{ source_pod: ['default/xwing'] }, { destination_ip: ['93.184.216.34'] }], undefined, 'BC'],
    ['within a whitelist filter fields are AND\'ed', [{ source_pod: ['default/tiefighter'], traffic_direction: ['EGRESS'] }], undefined, 'CD'],
    ['a blacklist filter removes what it matches', undefined, [{ verdict: ['FORWARDED'] }], 'BC'],
    ['blacklist filters are OR\'ed', undefined, [{ verdict: ['FORWARDED'] }, { drop_reason_desc: ['POLICY_DENY'] }], 'B'],
    ['the blacklist wins over the whitelist', [{ source_pod: ['default/tiefighter'] }], [{ destination_port: ['53'] }], 'AC'],
  ];
  for (const [spec, whitelist, blacklist, expected] of cases) {
    it(`${spec} -> ${expected || 'none'}`, () => assert.equal(passing(whitelist, blacklist), expected));
  }
});

describe('flowMatches: uuid, TCP flags, reply, IP version, workloads', () => {
  const withWorkloads = {
    ...FLOWS,
    W: flow({ ...COREDNS, workloads: [{ kind: 'Deployment', name: 'coredns' }] }, '10.244.2.5', TIEFIGHTER, '10.244.1.10', {
      l4: { TCP: { source_port: 53, destination_port: 40000, flags: { ACK: true, FIN: true } } }, is_reply: true, uuid: 'w',
    }),
  };
  const pass = (filter: FlowFilter) => Object.entries(withWorkloads).filter(([, f]) => flowMatches(f, filter)).map(([k]) => k).join('');
  const cases: Case[] = [
    ['uuid matches exactly', { uuid: ['w'] }, 'W'],
    ['tcp_flags: a set flag matches flows that have it (and more)', { tcp_flags: [{ SYN: true }] }, 'ABC'],
    ['tcp_flags: every flag of one entry must be set', { tcp_flags: [{ ACK: true, FIN: true }] }, 'W'],
    ['tcp_flags: one unset flag of the entry fails it', { tcp_flags: [{ SYN: true, ACK: true }] }, ''],
    ['tcp_flags: any entry may match', { tcp_flags: [{ RST: true }, { FIN: true }] }, 'W'],
    ['tcp_flags never match a flow without TCP', { tcp_flags: [{}] }, 'ABCW'],
    ['reply true: replies only', { reply: [true] }, 'W'],
    ['reply false: flows known not to be replies (unknown direction matches neither)', { reply: [false] }, 'ADE'],
    ['reply true or false: every flow whose direction is known', { reply: [true, false] }, 'ADEW'],
    ['ip_version IPv4', { ip_version: ['IPv4'] }, 'ABCDEW'],
    ['ip_version IPv6', { ip_version: ['IPv6'] }, ''],
    ['source_workload by kind and name', { source_workload: [{ kind: 'Deployment', name: 'coredns' }] }, 'W'],
    ['source_workload by name alone', { source_workload: [{ name: 'coredns' }] }, 'W'],
    ['source_workload of another kind', { source_workload: [{ kind: 'DaemonSet', name: 'coredns' }] }, ''],
    ['destination_workload: no destination has workloads here', { destination_workload: [{ name: 'coredns' }] }, ''],
  ];
  for (const [spec, filter, expected] of cases) it(`${spec}: ${JSON.stringify(filter)} -> ${expected || 'none'}`, () => assert.equal(pass(filter), expected));
});

describe('flowMatches: FQDN and HTTP filters (L7 and DNS data as Hubble names them)', () => {
  const l7 = (code: number, method: string, url: string, names: Partial<Record<'source_names' | 'destination_names', string[]>> = {}) =>
    ({ ...FLOWS.A!, Type: 'L7', l7: { http: { code, method, url } }, ...names }) as Flow;
  const get = l7(200, 'GET', 'http://deathstar.default.svc.cluster.local/v1/request-landing', { destination_names: ['deathstar.default.svc.cluster.local'] });
  const put = l7(503, 'PUT', 'http://deathstar.default.svc.cluster.local/v1/exhaust-port', { source_names: ['api.github.com'] });
  const cases: [string, FlowFilter, boolean, boolean][] = [
    ['http_status_code exact', { http_status_code: ['200'] }, true, false],
    ['http_status_code prefix 5+', { http_status_code: ['5+'] }, false, true],
    ['http_status_code prefix 50+', { http_status_code: ['50+'] }, false, true],
    ['http_method in any case', { http_method: ['put'] }, false, true],
    ['http_path is an unanchored regex on the path', { http_path: ['exhaust'] }, false, true],
    ['http_path anchored by the user', { http_path: ['^/v1/request'] }, true, false],
    ['http_url is a regex on the whole URL', { http_url: ['^http://deathstar\\.default'] }, true, true],
    ['destination_fqdn exact', { destination_fqdn: ['deathstar.default.svc.cluster.local'] }, true, false],
    ['destination_fqdn wildcard within a label', { destination_fqdn: ['*.default.svc.cluster.local'] }, true, false],
    ['a wildcard does not cross dots', { destination_fqdn: ['*.cluster.local'] }, false, false],
    ['source_fqdn, case-insensitive', { source_fqdn: ['API.GitHub.com'] }, false, true],
  ];
  for (const [spec, filter, getMatches, putMatches] of cases) {
    it(spec, () => assert.deepEqual([flowMatches(get, filter), flowMatches(put, filter)], [getMatches, putMatches]));
  }
  it('an L3/L4 flow (no L7 record, no names) matches no HTTP or FQDN filter', () => {
    for (const [, filter] of cases) assert.equal(flowMatches(FLOWS.A!, filter), false, JSON.stringify(filter));
  });
});

describe('parseFlowFilters validates the new fields', () => {
  it('accepts them', () => {
    const filters = [{ uuid: ['u'], tcp_flags: [{ SYN: true, NS: true }], reply: [false], ip_version: ['IPv6'], source_workload: [{ kind: 'Deployment' }],
      destination_fqdn: ['*.x.io'], http_status_code: ['404', '5+'], http_method: ['GET'], http_path: ['^/v1'], http_url: ['.*'] }];
    assert.deepEqual(parseFlowFilters(filters, 'whitelist'), filters);
  });
  const bad: [unknown, RegExp][] = [
    [{ tcp_flags: [{ SYN: true, XMAS: true }] }, /^whitelist\[0\]\.tcp_flags\[0\]: unknown field\(s\) XMAS/],
    [{ reply: ['yes'] }, /^whitelist\[0\]\.reply\[0\]/],
    [{ ip_version: ['IPv5'] }, /^whitelist\[0\]\.ip_version\[0\]/],
    [{ http_status_code: ['5xx'] }, /^whitelist\[0\]\.http_status_code\[0\]: an HTTP status is "200" or a prefix like "5\+"/],
    [{ http_path: ['(oops'] }, /^whitelist\[0\]\.http_path\[0\]: not a valid regular expression/],
    [{ source_workload: [{ namespace: 'x' }] }, /^whitelist\[0\]\.source_workload\[0\]: unknown field\(s\) namespace/],
  ];
  for (const [filter, message] of bad) {
    it(`refuses ${JSON.stringify(filter)}, naming the field`, () => {
      assert.throws(() => parseFlowFilters([filter], 'whitelist'), (e: unknown) => e instanceof ValidationError && message.test(e.message));
    });
  }
});
