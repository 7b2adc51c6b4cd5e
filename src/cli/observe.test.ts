/**
 * `membrane observe` flags -> Hubble FlowFilters (cilium-semantics.md §6.4):
 * an either-side flag (--pod, --namespace, --label, --ip, --identity, --port)
 * gives a source filter OR a destination filter; from-/to- flags and the
 * rest hold in every filter; `--not` sends the next flag to the denylist.
 * Every filter flag is tried through the real command line on a fixed set
 * of flows. Also --since/--until parsing, refusals and the output formats.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MembraneError } from '../common/errors.js';
import { type FlowFilter, flowPasses } from '../hubble/filter.js';
import type { Flow, FlowEndpoint } from '../hubble/flow.js';
import { Command } from 'commander';
import type { AgentClient } from '../api/client.js';
import { FILTER_FLAGS, buildFilters, parseTime, registerObserveCommand } from './observe.js';

type Options = Parameters<typeof buildFilters>[0];
const opts = (o: Partial<Options>): Options => ({ output: 'compact', ...o });

describe('buildFilters', () => {
  const table: [string, Partial<Options>, FlowFilter[]][] = [
    ['no filter flags give no filters (every flow)', {}, []],
    ['--to-service is a destination_service filter', { toService: ['default/deathstar'] }, [{ destination_service: ['default/deathstar'] }]],
    ['--service forks into source_service OR destination_service', { service: ['kube-system/kube-dns'] },
      [{ source_service: ['kube-system/kube-dns'] }, { destination_service: ['kube-system/kube-dns'] }]],
    ['--pod forks into a source_pod filter OR a destination_pod filter', { pod: ['deathstar'] },
      [{ source_pod: ['deathstar'] }, { destination_pod: ['deathstar'] }]],
    ['--pod twice lists both pods on each side', { pod: ['default/xwing', 'default/tiefighter'] },
      [{ source_pod: ['default/xwing', 'default/tiefighter'] }, { destination_pod: ['default/xwing', 'default/tiefighter'] }]],
    ['--pod with --verdict puts the verdict in both filters', { pod: ['default/deathstar'], verdict: ['DROPPED'] },
      [{ source_pod: ['default/deathstar'], verdict: ['DROPPED'] }, { destination_pod: ['default/deathstar'], verdict: ['DROPPED'] }]],
    ['--from-pod with --verdict is one filter (AND)', { fromPod: ['default/xwing'], verdict: ['DROPPED'] },
      [{ source_pod: ['default/xwing'], verdict: ['DROPPED'] }]],
    ['--from-pod and --to-pod are one filter', { fromPod: ['default/xwing'], toPod: ['default/deathstar'] },
      [{ source_pod: ['default/xwing'], destination_pod: ['default/deathstar'] }]],
    ['--verdict is case-insensitive and normalised to the enum name', { verdict: ['dropped'] }, [{ verdict: ['DROPPED'] }]],
    ['--namespace becomes "ns/" pod filters on either side', { namespace: ['kube-system'] },
      [{ source_pod: ['kube-system/'] }, { destination_pod: ['kube-system/'] }]],
    ['--from-namespace / --to-namespace become "ns/" source / destination pod filters', { fromNamespace: ['default'], toNamespace: ['kube-system'] },
      [{ source_pod: ['default/'], destination_pod: ['kube-system/'] }]],
    ['--type drop is event type 1', { type: ['drop'] }, [{ event_type: [{ type: 1 }] }]],
    ['--type policy-verdict is event type 5', { type: ['policy-verdict'] }, [{ event_type: [{ type: 5 }] }]],
    ['--type drop:133 narrows to the sub-type', { type: ['drop:133'] }, [{ event_type: [{ type: 1, sub_type: 133 }] }]],
    ['--type twice accepts either type', { type: ['drop', 'policy-verdict'] }, [{ event_type: [{ type: 1 }, { type: 5 }] }]],
    ['--traffic-direction ingress', { trafficDirection: ['ingress'] }, [{ traffic_direction: ['INGRESS'] }]],
    ['--traffic-direction in any case', { trafficDirection: ['Egress'] }, [{ traffic_direction: ['EGRESS'] }]],
    ['--port forks into source_port OR destination_port', { port: ['80'] }, [{ source_port: ['80'] }, { destination_port: ['80'] }]],
    ['--to-port is a destination port', { toPort: ['8080'] }, [{ destination_port: ['8080'] }]],
    ['--from-port is a source port', { fromPort: ['41234'] }, [{ source_port: ['41234'] }]],
    ['--identity forks into numeric source / destination identities', { identity: ['258'] }, [{ source_identity: [258] }, { destination_identity: [258] }]],
    ['--to-identity is a numeric destination identity', { toIdentity: ['2'] }, [{ destination_identity: [2] }]],
    ['--ip forks and keeps CIDRs as given', { ip: ['10.244.0.0/16'] }, [{ source_ip: ['10.244.0.0/16'] }, { destination_ip: ['10.244.0.0/16'] }]],
    ['--label forks into source / destination labels', { label: ['k8s:org=empire'] }, [{ source_label: ['k8s:org=empire'] }, { destination_label: ['k8s:org=empire'] }]],
    ['--drop-reason-desc is normalised to the enum name', { dropReasonDesc: ['policy_denied'] }, [{ drop_reason_desc: ['POLICY_DENIED'] }]],
    ['--protocol and --node-name hold in the one filter', { protocol: ['tcp'], nodeName: ['node-1'] }, [{ protocol: ['tcp'], node_name: ['node-1'] }]],
  ];
  for (const [spec, o, expected] of table) {
    it(spec, () => assert.deepEqual(buildFilters(opts(o)), expected));
  }

  it('--pod with --label pairs the sides, as Hubble does: (source is the pod and has the label) OR (destination is and has)', () => {
    assert.deepEqual(buildFilters(opts({ pod: ['default/deathstar'], label: ['k8s:org=empire'] })), [
      { source_pod: ['default/deathstar'], source_label: ['k8s:org=empire'] },
      { destination_pod: ['default/deathstar'], destination_label: ['k8s:org=empire'] },
    ]);
  });

  const invalid: [string, Partial<Options>, RegExp][] = [
    ['an unknown verdict', { verdict: ['MAYBE'] }, /--verdict: "MAYBE" is not one of FORWARDED, DROPPED/],
    ['an unknown type', { type: ['bogus'] }, /--type: "bogus" is not one of drop, trace, policy-verdict/],
    ['an unknown traffic direction', { trafficDirection: ['sideways'] }, /--traffic-direction: "sideways"/],
    ['a port that is not a number', { port: ['http'] }, /--port: "http" is not a number/],
    ['a source port that is not a number', { fromPort: ['8o'] }, /--from-port: "8o"/],
    ['a destination port that is not a number', { toPort: ['-1'] }, /--to-port: "-1"/],
    ['an identity that is not a number', { identity: ['abc'] }, /--identity: "abc"/],
    ['a source identity that is not a number', { fromIdentity: ['1.5'] }, /--from-identity: "1.5"/],
    ['a destination identity that is not a number', { toIdentity: [''] }, /--to-identity: ""/],
    ['a sub-type that is not a number', { type: ['drop:abc'] }, /--type: "drop:abc"/],
  ];
  for (const [what, o, message] of invalid) {
    it(`rejects ${what} with an EINVAL error that names the flag`, () => {
      assert.throws(() => buildFilters(opts(o)), (err: unknown) => {
        assert.ok(err instanceof MembraneError, String(err));
        assert.equal(err.code, 'EINVAL');
        assert.match(err.message, message);
        return true;
      });
    });
  }
});

describe('buildFilters never silently drops a constraint', () => {
  const pod = (namespace: string, name: string, identity: number): FlowEndpoint => ({ identity, namespace, pod_name: name });
  const between = (source: FlowEndpoint, destination: FlowEndpoint): Flow => ({
    time: '2024-03-14T09:26:53.589Z', uuid: 'u', verdict: 'FORWARDED', IP: { source: '10.244.1.30', destination: '10.244.2.5', ipVersion: 'IPv4' },
    source, destination, Type: 'L3_L4', node_name: 'node-1', event_type: { type: 5 }, traffic_direction: 'EGRESS', Summary: '',
  });
  const xwing = pod('default', 'xwing', 258);
  const coredns = pod('kube-system', 'coredns-5d78c9869d-abcde', 102);

  // Hubble rejects these combinations ("filters --pod and --from-pod cannot be
  // combined"); combining them is also fine as long as both still hold.
  const combos: [string, Partial<Options>][] = [
    ['--pod deathstar --from-pod xwing', { pod: ['default/deathstar'], fromPod: ['default/xwing'] }],
    ['--pod deathstar --namespace kube-system', { pod: ['default/deathstar'], namespace: ['kube-system'] }],
    ['--pod deathstar --from-namespace default', { pod: ['default/deathstar'], fromNamespace: ['default'] }],
  ];
  for (const [flags, o] of combos) {
    it(`${flags}: a flow xwing -> coredns (deathstar on neither side) is rejected or filtered out`, () => {
      let filters: FlowFilter[];
      try {
        filters = buildFilters(opts(o));
      } catch (err) {
        assert.ok(err instanceof MembraneError && err.code === 'EINVAL', `rejected with a MembraneError EINVAL, got ${String(err)}`);
        return;
      }
      assert.equal(flowPasses(between(xwing, coredns), filters, undefined), false, `filters ${JSON.stringify(filters)}`);
    });
  }
});

describe('parseTime', () => {
  const relative: [string, number][] = [['30s', 30_000], ['250ms', 250], ['4m', 240_000], ['1h', 3_600_000], ['1.5h', 5_400_000], ['2d', 172_800_000]];
  for (const [text, agoMs] of relative) {
    it(`"${text}" means ${agoMs} ms before now`, () => {
      const before = Date.now();
      const t = Date.parse(parseTime(text, '--since'));
      const after = Date.now();
      assert.ok(t >= before - agoMs && t <= after - agoMs, `${new Date(t).toISOString()} is ${agoMs} ms before [${before}, ${after}]`);
    });
  }

  const absolute: [string, string][] = [
    ['2024-03-14T09:26:53Z', '2024-03-14T09:26:53.000Z'],
    ['2024-03-14T10:26:53.589+01:00', '2024-03-14T09:26:53.589Z'],
  ];
  for (const [text, iso] of absolute) it(`an absolute time "${text}" is that instant (${iso})`, () => assert.equal(parseTime(text, '--since'), iso));

  const bad = ['yesterday', '5 minutes', '-3s', '5'];
  for (const text of bad) {
    it(`rejects "${text}" naming the flag`, () => {
      assert.throws(() => parseTime(text, '--until'), (err: unknown) => err instanceof MembraneError && err.code === 'EINVAL' && err.message.startsWith(`--until: "${text}"`));
    });
  }
});

// ---- every filter flag through the real command line (commander) ----

/** Runs `membrane observe <argv>` against a fake agent and returns what it asked for and printed. */
async function observe(argv: string[], flows: Flow[] = []): Promise<{ params: URLSearchParams; set: { whitelist: FlowFilter[]; blacklist: FlowFilter[] }; out: string }> {
  const program = new Command().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  let path = '';
  const client = { stream: async (p: string, onLine: (o: unknown) => void) => { path = p; flows.forEach(onLine); } } as unknown as AgentClient;
  registerObserveCommand(program, async () => client);
  let out = '';
  const write = process.stdout.write;
  process.stdout.write = ((s: string) => { out += s; return true; }) as typeof process.stdout.write;
  try {
    await program.parseAsync(['node', 'membrane', 'observe', ...argv]);
  } finally {
    process.stdout.write = write;
  }
  const params = new URLSearchParams(path.slice(path.indexOf('?') + 1));
  const list = (k: string) => JSON.parse(params.get(k) ?? '[]') as FlowFilter[];
  return { params, set: { whitelist: list('whitelist'), blacklist: list('blacklist') }, out };
}

const ep = (identity: number, namespace: string, pod: string, labels: string[], workloads?: { kind: string; name: string }[]): FlowEndpoint =>
  ({ ID: identity, identity, namespace, pod_name: pod, labels, ...(workloads ? { workloads } : {}) });
const TIEFIGHTER = ep(257, 'default', 'tiefighter', ['k8s:class=tiefighter', 'k8s:org=empire']);
const DEATHSTAR = ep(256, 'default', 'deathstar-6fb5694d48-5hmds', ['k8s:class=deathstar', 'k8s:org=empire'], [{ kind: 'Deployment', name: 'deathstar' }]);
const XWING = ep(258, 'default', 'xwing', ['k8s:class=xwing', 'k8s:org=alliance']);
const COREDNS = ep(102, 'kube-system', 'coredns-5d78c9869d-abcde', ['k8s:k8s-app=kube-dns'], [{ kind: 'Deployment', name: 'coredns' }]);
const WORLD: FlowEndpoint = { identity: 2, labels: ['reserved:world'] };
const HOST: FlowEndpoint = { identity: 1, labels: ['reserved:host'] };

function mk(uuid: string, source: FlowEndpoint, src: string, destination: FlowEndpoint, dst: string, rest: Partial<Flow>): Flow {
  return {
    time: '2024-03-14T09:26:53.589Z', uuid, verdict: 'FORWARDED', IP: { source: src, destination: dst, ipVersion: 'IPv4' },
    source, destination, Type: 'L3_L4', node_name: 'node-1', event_type: { type: 5 }, traffic_direction: 'INGRESS', Summary: '', ...rest,
  };
}
const tcp = (sport: number, dport: number, flags: Record<string, boolean> = { SYN: true }) => ({ l4: { TCP: { source_port: sport, destination_port: dport, flags } } });

/** The fixed flows every flag is tried on. */
const FLOWS: Record<string, Flow> = {
  // tiefighter -> deathstar, allowed by policy (a request)
  A: mk('uuid-a', TIEFIGHTER, '10.244.1.10', DEATHSTAR, '10.244.1.20', {
    ...tcp(41234, 80), policy_match_type: 2, is_reply: false, destination_service: { name: 'deathstar', namespace: 'default' },
  }),
  // xwing -> deathstar, dropped by default deny
  B: mk('uuid-b', XWING, '10.244.1.30', DEATHSTAR, '10.244.1.20', {
    ...tcp(50210, 80), verdict: 'DROPPED', drop_reason: 133, drop_reason_desc: 'POLICY_DENIED', event_type: { type: 1, sub_type: 133 },
  }),
  // tiefighter -> world, dropped by a deny rule
  C: mk('uuid-c', TIEFIGHTER, '10.244.1.10', WORLD, '93.184.216.34', {
    ...tcp(38000, 443), verdict: 'DROPPED', drop_reason: 181, drop_reason_desc: 'POLICY_DENY', event_type: { type: 1, sub_type: 181 }, traffic_direction: 'EGRESS',
  }),
  // deathstar's SYN-ACK back to tiefighter, traced to the endpoint, on node-2
  D: mk('uuid-d', DEATHSTAR, '10.244.1.20', TIEFIGHTER, '10.244.1.10', {
    ...tcp(80, 41234, { SYN: true, ACK: true }), event_type: { type: 4, sub_type: 0 }, is_reply: true, node_name: 'node-2',
  }),
  // tiefighter -> kube-dns (UDP), allowed egress
  E: mk('uuid-e', TIEFIGHTER, '10.244.1.10', COREDNS, '10.244.2.5', {
    l4: { UDP: { source_port: 53000, destination_port: 53 } }, traffic_direction: 'EGRESS', is_reply: false, policy_match_type: 3,
    destination_service: { name: 'kube-dns', namespace: 'kube-system' },
  }),
  // host pings xwing, traced to the stack, direction unknown
  F: mk('uuid-f', HOST, '10.244.1.1', XWING, '10.244.1.30', { l4: { ICMPv4: { type: 8, code: 0 } }, event_type: { type: 4, sub_type: 3 } }),
};
const EVERY = Object.keys(FLOWS).join('');
const passing = (set: { whitelist: FlowFilter[]; blacklist: FlowFilter[] }) =>
  Object.entries(FLOWS).filter(([, f]) => flowPasses(f, set.whitelist, set.blacklist)).map(([k]) => k).join('');

/** [command line, the whitelist sent, the fixed flows that pass]. */
const FLAG_TABLE: [string[], FlowFilter[], string][] = [
  [['--pod', 'deathstar'], [{ source_pod: ['deathstar'] }, { destination_pod: ['deathstar'] }], 'ABD'],
  [['--from-pod', 'default/xwing'], [{ source_pod: ['default/xwing'] }], 'B'],
  [['--to-pod', 'default/deathstar'], [{ destination_pod: ['default/deathstar'] }], 'AB'],
  [['-n', 'kube-system'], [{ source_pod: ['kube-system/'] }, { destination_pod: ['kube-system/'] }], 'E'],
  [['--namespace', 'default'], [{ source_pod: ['default/'] }, { destination_pod: ['default/'] }], EVERY],
  [['--from-namespace', 'default'], [{ source_pod: ['default/'] }], 'ABCDE'],
  [['--to-namespace', 'default'], [{ destination_pod: ['default/'] }], 'ABDF'],
  [['-l', 'org=alliance'], [{ source_label: ['org=alliance'] }, { destination_label: ['org=alliance'] }], 'BF'],
  [['--label', 'k8s:class=xwing'], [{ source_label: ['k8s:class=xwing'] }, { destination_label: ['k8s:class=xwing'] }], 'BF'],
  [['--from-label', 'class=deathstar'], [{ source_label: ['class=deathstar'] }], 'D'],
  [['--to-label', 'reserved:world'], [{ destination_label: ['reserved:world'] }], 'C'],
  [['--ip', '10.244.1.30'], [{ source_ip: ['10.244.1.30'] }, { destination_ip: ['10.244.1.30'] }], 'BF'],
  [['--from-ip', '10.244.1.0/24'], [{ source_ip: ['10.244.1.0/24'] }], EVERY],
  [['--to-ip', '93.184.216.34'], [{ destination_ip: ['93.184.216.34'] }], 'C'],
  [['--identity', 'world'], [{ source_identity: [2] }, { destination_identity: [2] }], 'C'],
  [['--identity', '257'], [{ source_identity: [257] }, { destination_identity: [257] }], 'ACDE'],
  [['--from-identity', 'host'], [{ source_identity: [1] }], 'F'],
  [['--to-identity', '256'], [{ destination_identity: [256] }], 'AB'],
  [['--port', '80'], [{ source_port: ['80'] }, { destination_port: ['80'] }], 'ABD'],
  [['--from-port', '80'], [{ source_port: ['80'] }], 'D'],
  [['--to-port', '53'], [{ destination_port: ['53'] }], 'E'],
  [['--service', 'kube-system/kube-dns'], [{ source_service: ['kube-system/kube-dns'] }, { destination_service: ['kube-system/kube-dns'] }], 'E'],
  [['--from-service', 'default/'], [{ source_service: ['default/'] }], ''],
  [['--to-service', 'deathstar'], [{ destination_service: ['deathstar'] }], 'A'],
  [['--workload', 'deathstar'], [{ source_workload: [{ name: 'deathstar' }] }, { destination_workload: [{ name: 'deathstar' }] }], 'ABD'],
  [['--from-workload', 'Deployment/deathstar'], [{ source_workload: [{ kind: 'Deployment', name: 'deathstar' }] }], 'D'],
  [['--to-workload', 'Deployment/coredns'], [{ destination_workload: [{ kind: 'Deployment', name: 'coredns' }] }], 'E'],
  [['--to-workload', 'StatefulSet/coredns'], [{ destination_workload: [{ kind: 'StatefulSet', name: 'coredns' }] }], ''],
  // No flow carries DNS names or HTTP records until the L7 proxy: these filters select nothing, never everything.
  [['--fqdn', '*.example.com'], [{ source_fqdn: ['*.example.com'] }, { destination_fqdn: ['*.example.com'] }], ''],
  [['--from-fqdn', 'api.example.com'], [{ source_fqdn: ['api.example.com'] }], ''],
  [['--to-fqdn', 'api.example.com'], [{ destination_fqdn: ['api.example.com'] }], ''],
  [['--http-status', '5+'], [{ http_status_code: ['5+'] }], ''],
  [['--http-method', 'GET'], [{ http_method: ['GET'] }], ''],
  [['--http-path', '^/v1/'], [{ http_path: ['^/v1/'] }], ''],
  [['--http-url', 'deathstar'], [{ http_url: ['deathstar'] }], ''],
  [['--protocol', 'udp'], [{ protocol: ['udp'] }], 'E'],
  [['--protocol', 'icmp'], [{ protocol: ['icmp'] }], 'F'],
  [['--tcp-flags', 'SYN'], [{ tcp_flags: [{ SYN: true }] }], 'ABCD'],
  [['--tcp-flags', 'syn,ack'], [{ tcp_flags: [{ SYN: true, ACK: true }] }], 'D'],
  [['--tcp-flags', 'FIN', '--tcp-flags', 'ACK'], [{ tcp_flags: [{ FIN: true }, { ACK: true }] }], 'D'],
  [['--tcp-flags', 'RST'], [{ tcp_flags: [{ RST: true }] }], ''],
  [['-4'], [{ ip_version: ['IPv4'] }], EVERY],
  [['--ipv6'], [{ ip_version: ['IPv6'] }], ''],
  [['--ip-version', 'v4', '-6'], [{ ip_version: ['IPv4', 'IPv6'] }], EVERY],
  [['--verdict', 'dropped'], [{ verdict: ['DROPPED'] }], 'BC'],
  [['--drop-reason-desc', 'policy_deny'], [{ drop_reason_desc: ['POLICY_DENY'] }], 'C'],
  [['--traffic-direction', 'egress'], [{ traffic_direction: ['EGRESS'] }], 'CE'],
  [['-t', 'drop'], [{ event_type: [{ type: 1 }] }], 'BC'],
  [['--type', 'drop:181'], [{ event_type: [{ type: 1, sub_type: 181 }] }], 'C'],
  [['--type', 'policy-verdict'], [{ event_type: [{ type: 5 }] }], 'AE'],
  [['--type', 'trace'], [{ event_type: [{ type: 4 }] }], 'DF'],
  [['--type', 'trace:to-endpoint'], [{ event_type: [{ type: 4, sub_type: 0 }] }], 'D'],
  [['--type', 'trace:to-stack'], [{ event_type: [{ type: 4, sub_type: 3 }] }], 'F'],
  [['--type', 'l7'], [{ event_type: [{ type: 129 }] }], ''],
  [['--type', 'capture', '--type', 'trace-sock'], [{ event_type: [{ type: 3 }, { type: 7 }] }], ''],
  [['--reply'], [{ reply: [true] }], 'D'],
  [['--reply', 'false'], [{ reply: [false] }], 'AE'],
  [['--uuid', 'uuid-c'], [{ uuid: ['uuid-c'] }], 'C'],
  [['--node-name', 'node-2'], [{ node_name: ['node-2'] }], 'D'],
];

describe('observe: every filter flag, as sent to the agent and as it selects the fixed flows A..F', () => {
  for (const [argv, whitelist, pass] of FLAG_TABLE) {
    it(`${argv.join(' ')} sends ${JSON.stringify(whitelist)} and passes ${pass || 'none'}`, async () => {
      const { set } = await observe(argv);
      assert.deepEqual(set, { whitelist, blacklist: [] });
      assert.equal(passing(set), pass);
    });
  }

  it('the table covers every filter flag', () => {
    const tried = new Set(FLAG_TABLE.flatMap(([argv]) => argv.filter((a) => a.startsWith('-'))));
    const short: Record<string, string> = { '-n': 'namespace', '-l': 'label', '-t': 'type', '-4': 'ipv4', '-6': 'ipv6' };
    const names = new Set([...tried].map((a) => short[a] ?? a.replace(/^--/, '')));
    assert.deepEqual(Object.keys(FILTER_FLAGS).filter((f) => !names.has(f)), []);
  });
});

describe('observe --not: the next filter flag goes to the denylist, as in Hubble', () => {
  const table: [string[], { whitelist: FlowFilter[]; blacklist: FlowFilter[] }, string][] = [
    [['--not', '--verdict', 'FORWARDED'], { whitelist: [], blacklist: [{ verdict: ['FORWARDED'] }] }, 'BC'],
    [['--not', '--pod', 'deathstar'], { whitelist: [], blacklist: [{ source_pod: ['deathstar'] }, { destination_pod: ['deathstar'] }] }, 'CEF'],
    [['--pod', 'deathstar', '--not', '--verdict', 'DROPPED'],
      { whitelist: [{ source_pod: ['deathstar'] }, { destination_pod: ['deathstar'] }], blacklist: [{ verdict: ['DROPPED'] }] }, 'AD'],
    [['--not', '--verdict', 'DROPPED', '--pod', 'deathstar'],
      { whitelist: [{ source_pod: ['deathstar'] }, { destination_pod: ['deathstar'] }], blacklist: [{ verdict: ['DROPPED'] }] }, 'AD'],
    [['--not', '-t', 'trace', '--not', '-t', 'policy-verdict'], { whitelist: [], blacklist: [{ event_type: [{ type: 4 }, { type: 5 }] }] }, 'BC'],
    [['--not', '--reply'], { whitelist: [], blacklist: [{ reply: [true] }] }, 'ABCEF'],
    [['--not', '--tcp-flags', 'SYN'], { whitelist: [], blacklist: [{ tcp_flags: [{ SYN: true }] }] }, 'EF'],
    [['--not', '--namespace', 'kube-system', '--not', '--ip', '93.184.216.34'],
      { whitelist: [], blacklist: [{ source_pod: ['kube-system/'], source_ip: ['93.184.216.34'] }, { destination_pod: ['kube-system/'], destination_ip: ['93.184.216.34'] }] }, 'ABCDEF'],
    [['--protocol', 'tcp', '--not', '--from-pod', 'default/tiefighter'],
      { whitelist: [{ protocol: ['tcp'] }], blacklist: [{ source_pod: ['default/tiefighter'] }] }, 'BD'],
    [['--not', '--uuid', 'uuid-a', '--allowlist', '{"verdict":["FORWARDED"]}', '--denylist', '{"node_name":["node-2"]}'],
      { whitelist: [{ verdict: ['FORWARDED'] }], blacklist: [{ uuid: ['uuid-a'] }, { node_name: ['node-2'] }] }, 'EF'],
  ];
  for (const [argv, set, pass] of table) {
    it(`${argv.join(' ')} passes ${pass || 'none'}`, async () => {
      const got = await observe(argv);
      assert.deepEqual(got.set, set);
      assert.equal(passing(got.set), pass);
    });
  }

  it('--not with the same field on both lists keeps them apart (no conflict across lists)', async () => {
    const { set } = await observe(['--from-pod', 'default/', '--not', '--from-pod', 'default/xwing']);
    assert.deepEqual(set, { whitelist: [{ source_pod: ['default/'] }], blacklist: [{ source_pod: ['default/xwing'] }] });
    assert.equal(passing(set), 'ACDE');
  });
});

describe('observe refuses bad filter flags, naming the flag', () => {
  const refusals: [string[], RegExp][] = [
    [['--not'], /^--not: must be followed by the filter flag/],
    [['--verdict', 'DROPPED', '--not'], /^--not: must be followed/],
    [['--not', '--not', '--pod', 'x'], /^--not: given twice/],
    [['--tcp-flags', 'SYN,FOO'], /^--tcp-flags: "SYN,FOO" names "FOO", not one of FIN, SYN, RST/],
    [['--tcp-flags', ''], /^--tcp-flags: ""/],
    [['--ip', '10.244.1'], /^--ip: "10.244.1" is not an IP address or CIDR/],
    [['--from-ip', '10.0.0.0/33'], /^--from-ip: "10.0.0.0\/33"/],
    [['--to-ip', 'deathstar'], /^--to-ip: "deathstar"/],
    [['--identity', 'galaxy'], /^--identity: "galaxy" is not a number nor a reserved identity/],
    [['--port', '70000'], /^--port: "70000" is not a number from 0 to 65535/],
    [['--ip-version', '5'], /^--ip-version: "5" is not 4 or 6/],
    [['--reply', 'maybe'], /^--reply: "maybe" is not true or false/],
    [['--type', 'trace:to-moon'], /^--type: "trace:to-moon"/],
    [['--type', 'agent'], /^--type: "agent" is not one of drop, trace, policy-verdict, l7, capture, trace-sock/],
    [['--http-status', '5xx'], /^--http-status: "5xx" is not an HTTP status/],
    [['--http-path', '(unclosed'], /^--http-path: "\(unclosed" is not a valid regular expression/],
    [['--http-url', '[a'], /^--http-url: "\[a"/],
    [['--workload', '/'], /^--workload: "\/" is not a workload/],
    [['--traffic-direction', 'up'], /^--traffic-direction: "up" is not one of INGRESS, EGRESS/],
    [['--pod', 'deathstar', '--from-pod', 'xwing'], /^filters --pod and --from-pod cannot be combined/],
    [['--allowlist', '{"verdict":'], /^--allowlist: "\{"verdict":" is not JSON/],
    [['--denylist', '{"colour":["red"]}'], /^--denylist\[0\]: unknown field\(s\) colour/],
    [['-o', 'yaml'], /^--output: "yaml" is not one of compact, dict, json, jsonpb, table/],
    [['--time-format', 'Kitchen'], /^--time-format: "Kitchen"/],
    [['--last', 'ten'], /^--last: "ten" is not a number/],
  ];
  for (const [argv, message] of refusals) {
    it(`${argv.join(' ')}`, async () => {
      await assert.rejects(observe(argv), (err: unknown) => {
        assert.ok(err instanceof MembraneError, String(err));
        assert.equal(err.code, 'EINVAL');
        assert.match(err.message, message);
        return true;
      });
    });
  }
});

describe('observe selection flags and printing', () => {
  const query = async (argv: string[]) => Object.fromEntries((await observe(argv)).params);
  it('asks for the last 20 by default, --last N, --first N, --all, and the newest one then new ones with -f', async () => {
    assert.deepEqual(await query([]), { number: '20' });
    assert.deepEqual(await query(['--last', '5']), { number: '5' });
    assert.deepEqual(await query(['--first', '3']), { number: '3', first: 'true' });
    assert.deepEqual(await query(['--all']), { number: '0' });
    assert.deepEqual(await query(['-f']), { number: '1', follow: 'true' });
    assert.deepEqual(await query(['-f', '--last', '50']), { number: '50', follow: 'true' });
  });

  it('--since and --until are sent as ISO times', async () => {
    const q = await query(['--since', '2024-03-14T09:00:00Z', '--until', '2024-03-14T10:00:00Z']);
    assert.equal(q['since'], '2024-03-14T09:00:00.000Z');
    assert.equal(q['until'], '2024-03-14T10:00:00.000Z');
  });

  it('--print-raw-filters prints the allowlist and denylist as Hubble does, and asks the agent nothing', async () => {
    const { out, params } = await observe(['--print-raw-filters', '--to-pod', 'default/deathstar', '--not', '--verdict', 'FORWARDED']);
    assert.equal(out, `allowlist:\n  - '{"destination_pod":["default/deathstar"]}'\ndenylist:\n  - '{"verdict":["FORWARDED"]}'\n`);
    assert.equal([...params].length, 0);
  });

  it('-o json prints one {flow, node_name, time} object a line', async () => {
    const { out } = await observe(['-o', 'json'], [FLOWS.A!]);
    assert.deepEqual(JSON.parse(out), { flow: FLOWS.A, node_name: 'node-1', time: FLOWS.A!.time });
  });

  it('-o dict separates flows with a dashed line (between flows, not after the last)', async () => {
    const { out } = await observe(['-o', 'dict'], [FLOWS.A!, FLOWS.B!]);
    const blocks = out.split('------------\n');
    assert.equal(blocks.length, 2);
    assert.ok(blocks[0]!.startsWith('  TIMESTAMP: ') && blocks[1]!.endsWith('    SUMMARY: \n'), out);
  });

  it('-o table prints the header once and aligns the columns over all rows', async () => {
    const { out } = await observe(['-o', 'table'], [FLOWS.A!, FLOWS.C!]);
    const lines = out.trimEnd().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /^TIMESTAMP +SOURCE +DESTINATION +TYPE +VERDICT +SUMMARY$/);
    const col = (l: string, word: string) => l.indexOf(word);
    assert.equal(col(lines[1]!, 'FORWARDED'), col(lines[0]!, 'VERDICT'));
    assert.equal(col(lines[2]!, 'DROPPED'), col(lines[0]!, 'VERDICT'));
  });

  it('-o table -f prints as flows come, with columns that only widen', async () => {
    const { out } = await observe(['-o', 'table', '-f'], [FLOWS.C!, FLOWS.A!]);
    const lines = out.trimEnd().split('\n');
    assert.equal(lines.length, 3);
    assert.ok(lines[0]!.startsWith('TIMESTAMP'));
    assert.ok(lines[2]!.indexOf('FORWARDED') >= lines[1]!.indexOf('DROPPED'));
  });

  it('prints nothing for no flows, in every output', async () => {
    for (const o of ['compact', 'dict', 'json', 'table']) assert.equal((await observe(['-o', o])).out, '');
  });
});
