/**
 * formatCompact: golden lines of `hubble observe`'s compact output
 * (cilium-semantics.md §1.4 and §6.4). Times print in local time, as
 * Hubble's do, so the whole file runs in UTC.
 */
process.env.TZ = 'UTC';

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DIR_INGRESS, EVENT_DROP, VERDICT_DROPPED, flowEvent, ip4ToInt } from '../datapath/layout.js';
import { formatCompact, formatDict, formatTableRows, formatTime, stampMilli, tableHeader, tableRow } from './compact.js';
import { type Flow, type FlowEndpoint, type FlowPolicy, flowsFromEvent } from './flow.js';

const TIME = '2024-03-14T09:26:53.589Z';
const STAMP = 'Mar 14 09:26:53.589';

const TIEFIGHTER: FlowEndpoint = { ID: 1201, identity: 257, namespace: 'default', pod_name: 'tiefighter', labels: ['k8s:class=tiefighter'] };
const DEATHSTAR: FlowEndpoint = { ID: 2756, identity: 256, namespace: 'default', pod_name: 'deathstar-6fb5694d48-5hmds', labels: ['k8s:class=deathstar'] };
const XWING: FlowEndpoint = { ID: 3001, identity: 258, namespace: 'default', pod_name: 'xwing', labels: ['k8s:class=xwing'] };
const WORLD: FlowEndpoint = { identity: 2, labels: ['reserved:world'] };
const HOST: FlowEndpoint = { identity: 1, labels: ['reserved:host'] };
/** rule1 as default deny names it (no rule decided), and its rule that allows. */
const RULE1: FlowPolicy = { name: 'rule1', namespace: 'default', kind: 'CiliumNetworkPolicy', labels: [], revision: 3 };
const RULE1_INGRESS: FlowPolicy = { ...RULE1, rule: 'spec.ingress[0]' };
const DENY_WORLD: FlowPolicy = { name: 'deny-world', namespace: '', kind: 'CiliumClusterwideNetworkPolicy', labels: [], revision: 4, rule: 'specs[1].egressDeny[0]' };

const IPS = new Map<FlowEndpoint, string>([[TIEFIGHTER, '10.244.1.10'], [DEATHSTAR, '10.244.1.20'], [XWING, '10.244.1.30'], [WORLD, '93.184.216.34'], [HOST, '10.244.1.1']]);

/** A TCP SYN flow between two endpoints; `rest` overrides anything. */
function flow(source: FlowEndpoint, sport: number, destination: FlowEndpoint, dport: number, rest: Partial<Flow>): Flow {
  return {
    time: TIME, uuid: 'uuid', verdict: 'FORWARDED',
    IP: { source: IPS.get(source)!, destination: IPS.get(destination)!, ipVersion: 'IPv4' },
    l4: { TCP: { source_port: sport, destination_port: dport, flags: { SYN: true } } },
    source, destination, Type: 'L3_L4', node_name: 'node-1',
    event_type: { type: 5 }, traffic_direction: 'INGRESS', Summary: 'TCP Flags: SYN',
    ...rest,
  };
}

const dropped = (reason: number, desc: string): Partial<Flow> => ({ verdict: 'DROPPED', drop_reason: reason, drop_reason_desc: desc });

const golden: [string, Flow, string][] = [
  [
    'a forwarded policy verdict: pods as ns/pod:port, numeric identities, ->, match type, direction, ALLOWED',
    flow(TIEFIGHTER, 41234, DEATHSTAR, 80, { policy_match_type: 2, is_reply: false }),
    `${STAMP}: default/tiefighter:41234 (ID:257) -> default/deathstar-6fb5694d48-5hmds:80 (ID:256) policy-verdict:L3-L4 INGRESS ALLOWED (TCP Flags: SYN)`,
  ],
  [
    'a default-deny policy verdict: <> (direction unknown), match none, DENIED',
    flow(XWING, 50210, DEATHSTAR, 80, { ...dropped(133, 'POLICY_DENIED'), policy_match_type: 0 }),
    `${STAMP}: default/xwing:50210 (ID:258) <> default/deathstar-6fb5694d48-5hmds:80 (ID:256) policy-verdict:none INGRESS DENIED (TCP Flags: SYN)`,
  ],
  [
    'the default-deny drop that follows it: "Policy denied DROPPED"',
    flow(XWING, 50210, DEATHSTAR, 80, { ...dropped(133, 'POLICY_DENIED'), event_type: { type: 1, sub_type: 133 } }),
    `${STAMP}: default/xwing:50210 (ID:258) <> default/deathstar-6fb5694d48-5hmds:80 (ID:256) Policy denied DROPPED (TCP Flags: SYN)`,
  ],
  [
    'a deny-rule egress verdict: EGRESS DENIED, world printed as a bare IP and (world)',
    flow(TIEFIGHTER, 38000, WORLD, 443, { ...dropped(181, 'POLICY_DENY'), traffic_direction: 'EGRESS', policy_match_type: 1 }),
    `${STAMP}: default/tiefighter:38000 (ID:257) <> 93.184.216.34:443 (world) policy-verdict:L3-Only EGRESS DENIED (TCP Flags: SYN)`,
  ],
  [
    'a deny-rule drop (181): "Policy denied by denylist DROPPED"',
    flow(TIEFIGHTER, 38000, WORLD, 443, { ...dropped(181, 'POLICY_DENY'), traffic_direction: 'EGRESS', event_type: { type: 1, sub_type: 181 } }),
    `${STAMP}: default/tiefighter:38000 (ID:257) <> 93.184.216.34:443 (world) Policy denied by denylist DROPPED (TCP Flags: SYN)`,
  ],
  [
    'an audited verdict: AUDITED',
    flow(XWING, 50210, DEATHSTAR, 80, { verdict: 'AUDIT', policy_match_type: 0, is_reply: false }),
    `${STAMP}: default/xwing:50210 (ID:258) -> default/deathstar-6fb5694d48-5hmds:80 (ID:256) policy-verdict:none INGRESS AUDITED (TCP Flags: SYN)`,
  ],
  [
    'the host as a bare IP and (host); ICMP has no ports and summarises its type',
    flow(HOST, 0, XWING, 0, { l4: { ICMPv4: { type: 8, code: 0 } }, Summary: 'ICMPv4 EchoRequest', policy_match_type: 1, is_reply: false }),
    `${STAMP}: 10.244.1.1 (host) -> default/xwing (ID:258) policy-verdict:L3-Only INGRESS ALLOWED (ICMPv4 EchoRequest)`,
  ],
  [
    'an unknown identity (0, e.g. a spoofed source) prints as (unknown), as Hubble names reserved identity 0',
    {
      ...flow(XWING, 1234, DEATHSTAR, 80, { ...dropped(132, 'INVALID_SOURCE_IP'), traffic_direction: 'EGRESS', event_type: { type: 1, sub_type: 132 } }),
      IP: { source: '10.99.0.5', destination: '10.244.1.20', ipVersion: 'IPv4' }, source: { identity: 0 },
    },
    `${STAMP}: 10.99.0.5:1234 (unknown) <> default/deathstar-6fb5694d48-5hmds:80 (ID:256) Invalid source ip DROPPED (TCP Flags: SYN)`,
  ],
];

describe('formatCompact golden lines', () => {
  for (const [name, f, line] of golden) {
    it(name, () => assert.equal(formatCompact(f), line));
  }
});

describe('formatCompact arrows', () => {
  it('prints a reply with <- and the sides flipped, so the connection\'s client stays on the left (as Hubble does)', () => {
    // the SYN-ACK from deathstar back to tiefighter
    const reply = flow(DEATHSTAR, 80, TIEFIGHTER, 41234, {
      event_type: { type: 4 }, is_reply: true, traffic_direction: 'INGRESS',
      l4: { TCP: { source_port: 80, destination_port: 41234, flags: { SYN: true, ACK: true } } }, Summary: 'TCP Flags: SYN, ACK',
    });
    const line = formatCompact(reply);
    const sides = `${STAMP}: default/tiefighter:41234 (ID:257) <- default/deathstar-6fb5694d48-5hmds:80 (ID:256) `;
    assert.equal(line.slice(0, sides.length), sides);
    assert.ok(line.endsWith(' (TCP Flags: SYN, ACK)'), line);
  });

  it('prints -> for a flow known not to be a reply and <> when unknown', () => {
    const request = flow(TIEFIGHTER, 41234, DEATHSTAR, 80, { is_reply: false, policy_match_type: 2 });
    assert.match(formatCompact(request), / \(ID:257\) -> default\//);
    const { is_reply: _unused, ...unknown } = request;
    assert.match(formatCompact(unknown as Flow), / \(ID:257\) <> default\//);
  });
});

describe('formatCompact options', () => {
  const allowed = flow(TIEFIGHTER, 41234, DEATHSTAR, 80, { policy_match_type: 2, is_reply: false, ingress_allowed_by: [RULE1_INGRESS] });
  const denied = flow(TIEFIGHTER, 38000, WORLD, 443, {
    ...dropped(181, 'POLICY_DENY'), traffic_direction: 'EGRESS', event_type: { type: 1, sub_type: 181 }, egress_denied_by: [DENY_WORLD],
  });

  it('--print-policy-names names the deciding rules as Kind:namespace/name:rule-path (cluster-wide without namespace)', () => {
    assert.equal(
      formatCompact(allowed, { printPolicyNames: true }),
      `${STAMP}: default/tiefighter:41234 (ID:257) -> default/deathstar-6fb5694d48-5hmds:80 (ID:256) policy-verdict:L3-L4 INGRESS ALLOWED [CiliumNetworkPolicy:default/rule1:spec.ingress[0]] (TCP Flags: SYN)`,
    );
    assert.equal(
      formatCompact(denied, { printPolicyNames: true }),
      `${STAMP}: default/tiefighter:38000 (ID:257) <> 93.184.216.34:443 (world) Policy denied by denylist DROPPED [CiliumClusterwideNetworkPolicy:deny-world:specs[1].egressDeny[0]] (TCP Flags: SYN)`,
    );
  });

  it('--print-policy-names lists several entries comma-separated, each with its rule when one decided, and no spaces', () => {
    const l7Denied = flow(TIEFIGHTER, 41234, DEATHSTAR, 80, {
      ...dropped(133, 'POLICY_DENIED'), event_type: { type: 1, sub_type: 133 },
      ingress_denied_by: [RULE1_INGRESS, { ...RULE1, name: 'rule2', rule: 'specs[2].ingress[1]' }, RULE1],
    });
    const named = formatCompact(l7Denied, { printPolicyNames: true });
    assert.ok(named.includes(' DROPPED [CiliumNetworkPolicy:default/rule1:spec.ingress[0],CiliumNetworkPolicy:default/rule2:specs[2].ingress[1],CiliumNetworkPolicy:default/rule1] ('), named);
  });

  it('prints no policy names without --print-policy-names, nor when no policy is attributed', () => {
    assert.ok(!formatCompact(allowed).includes('rule1'));
    const { ingress_allowed_by: _unused, ...bare } = allowed;
    assert.equal(formatCompact(bare as Flow, { printPolicyNames: true }), formatCompact(allowed));
  });

  it('--print-node-name puts [node] after the time', () => {
    assert.ok(formatCompact(allowed, { printNodeName: true }).startsWith(`${STAMP} [node-1]: default/tiefighter:41234 `));
  });
});

describe('stampMilli', () => {
  const table: [string, string][] = [
    ['2024-03-14T09:26:53.589Z', 'Mar 14 09:26:53.589'],
    ['2024-03-05T23:04:05.007Z', 'Mar  5 23:04:05.007'], // day padded with a space, as Go's "_2"
    ['2024-12-31T00:00:00.000Z', 'Dec 31 00:00:00.000'],
  ];
  for (const [iso, stamp] of table) it(`formats ${iso} as "${stamp}" (Go's StampMilli, local time)`, () => assert.equal(stampMilli(iso), stamp));
});

describe('from datapath event to compact lines', () => {
  it('a default-deny drop reads as Hubble\'s two lines: policy-verdict DENIED, then Policy denied DROPPED', () => {
    const pods = new Map([['10.244.1.30', { id: 3001, namespace: 'default', podName: 'xwing' }], ['10.244.1.20', { id: 2756, namespace: 'default', podName: 'deathstar-6fb5694d48-5hmds' }]]);
    const ev = flowEvent.decode(flowEvent.encode({
      tsNs: 589_000_000, saddr: ip4ToInt('10.244.1.30'), daddr: ip4ToInt('10.244.1.20'), sport: 50210, dport: 80, proto: 6, tcpFlags: 0x02,
      type: EVENT_DROP, verdict: VERDICT_DROPPED, reason: 133, dir: DIR_INGRESS, epId: 2756, srcIdentity: 258, dstIdentity: 256,
    }));
    const lines = flowsFromEvent(ev, {
      nodeName: 'node-1',
      wallTimeMs: (ns) => Date.UTC(2024, 2, 14, 9, 26, 53) + ns / 1e6,
      endpointByIp: (ip) => pods.get(ip),
      identityLabels: () => undefined,
      policiesForCookie: () => [],
      defaultDenyPolicies: () => [RULE1],
    }).map((f) => formatCompact(f));
    assert.deepEqual(lines, [
      `${STAMP}: default/xwing:50210 (ID:258) <> default/deathstar-6fb5694d48-5hmds:80 (ID:256) policy-verdict:none INGRESS DENIED (TCP Flags: SYN)`,
      `${STAMP}: default/xwing:50210 (ID:258) <> default/deathstar-6fb5694d48-5hmds:80 (ID:256) Policy denied DROPPED (TCP Flags: SYN)`,
    ]);
  });
});

describe('golden compact lines of the five kinds of flow, without and with --print-policy-names', () => {
  const DS = 'default/deathstar-6fb5694d48-5hmds';
  const kinds: [string, Flow, string, string][] = [
    [
      'forwarded: a trace to the endpoint, -> , "to-endpoint FORWARDED"',
      flow(TIEFIGHTER, 41234, DEATHSTAR, 80, { event_type: { type: 4, sub_type: 0 }, is_reply: false, trace_observation_point: 'TO_ENDPOINT' }),
      `${STAMP}: default/tiefighter:41234 (ID:257) -> ${DS}:80 (ID:256) to-endpoint FORWARDED (TCP Flags: SYN)`,
      `${STAMP}: default/tiefighter:41234 (ID:257) -> ${DS}:80 (ID:256) to-endpoint FORWARDED (TCP Flags: SYN)`,
    ],
    [
      'dropped 133 (default deny): <>, "Policy denied DROPPED", the policies that put deathstar in default deny',
      flow(XWING, 50210, DEATHSTAR, 80, { ...dropped(133, 'POLICY_DENIED'), event_type: { type: 1, sub_type: 133 }, ingress_denied_by: [RULE1] }),
      `${STAMP}: default/xwing:50210 (ID:258) <> ${DS}:80 (ID:256) Policy denied DROPPED (TCP Flags: SYN)`,
      `${STAMP}: default/xwing:50210 (ID:258) <> ${DS}:80 (ID:256) Policy denied DROPPED [CiliumNetworkPolicy:default/rule1] (TCP Flags: SYN)`,
    ],
    [
      'dropped 181 (a deny rule): "Policy denied by denylist DROPPED", the deny rule',
      flow(TIEFIGHTER, 38000, WORLD, 443, { ...dropped(181, 'POLICY_DENY'), traffic_direction: 'EGRESS', event_type: { type: 1, sub_type: 181 }, egress_denied_by: [DENY_WORLD] }),
      `${STAMP}: default/tiefighter:38000 (ID:257) <> 93.184.216.34:443 (world) Policy denied by denylist DROPPED (TCP Flags: SYN)`,
      `${STAMP}: default/tiefighter:38000 (ID:257) <> 93.184.216.34:443 (world) Policy denied by denylist DROPPED [CiliumClusterwideNetworkPolicy:deny-world:specs[1].egressDeny[0]] (TCP Flags: SYN)`,
    ],
    [
      'reply: <- with the client on the left, "to-endpoint FORWARDED"',
      flow(DEATHSTAR, 80, TIEFIGHTER, 41234, {
        event_type: { type: 4, sub_type: 0 }, is_reply: true, Summary: 'TCP Flags: SYN, ACK',
        l4: { TCP: { source_port: 80, destination_port: 41234, flags: { SYN: true, ACK: true } } },
      }),
      `${STAMP}: default/tiefighter:41234 (ID:257) <- ${DS}:80 (ID:256) to-endpoint FORWARDED (TCP Flags: SYN, ACK)`,
      `${STAMP}: default/tiefighter:41234 (ID:257) <- ${DS}:80 (ID:256) to-endpoint FORWARDED (TCP Flags: SYN, ACK)`,
    ],
    [
      'policy verdict: "policy-verdict:L3-L4 INGRESS ALLOWED", the allowing rule',
      flow(TIEFIGHTER, 41234, DEATHSTAR, 80, { policy_match_type: 2, is_reply: false, ingress_allowed_by: [RULE1_INGRESS] }),
      `${STAMP}: default/tiefighter:41234 (ID:257) -> ${DS}:80 (ID:256) policy-verdict:L3-L4 INGRESS ALLOWED (TCP Flags: SYN)`,
      `${STAMP}: default/tiefighter:41234 (ID:257) -> ${DS}:80 (ID:256) policy-verdict:L3-L4 INGRESS ALLOWED [CiliumNetworkPolicy:default/rule1:spec.ingress[0]] (TCP Flags: SYN)`,
    ],
  ];
  for (const [name, f, plain, named] of kinds) {
    it(name, () => {
      assert.equal(formatCompact(f), plain);
      assert.equal(formatCompact(f, { printPolicyNames: true }), named);
    });
  }

  it('a redirected policy verdict reads ALLOWED, an error DENIED', () => {
    const redirected = flow(TIEFIGHTER, 41234, DEATHSTAR, 80, { verdict: 'REDIRECTED', policy_match_type: 2, is_reply: false });
    assert.match(formatCompact(redirected), / policy-verdict:L3-L4 INGRESS ALLOWED \(/);
    assert.match(formatCompact({ ...redirected, verdict: 'ERROR' }), / policy-verdict:L3-L4 INGRESS DENIED \(/);
  });

  it('names trace points by sub-type: to-stack, from-endpoint', () => {
    assert.match(formatCompact(flow(TIEFIGHTER, 1, DEATHSTAR, 2, { event_type: { type: 4, sub_type: 3 } })), / to-stack FORWARDED \(/);
    assert.match(formatCompact(flow(TIEFIGHTER, 1, DEATHSTAR, 2, { event_type: { type: 4, sub_type: 5 } })), / from-endpoint FORWARDED \(/);
  });
});

describe('--time-format', () => {
  const table: [string, string][] = [
    ['StampMilli', 'Mar 14 09:26:53.589'],
    ['RFC3339', '2024-03-14T09:26:53Z'],
    ['RFC3339Milli', '2024-03-14T09:26:53.589Z'],
    ['RFC3339Micro', '2024-03-14T09:26:53.589000Z'],
    ['RFC3339Nano', '2024-03-14T09:26:53.589Z'],
    ['RFC1123Z', 'Thu, 14 Mar 2024 09:26:53 +0000'],
  ];
  for (const [format, text] of table) it(`${format}: ${text} (UTC)`, () => assert.equal(formatTime(TIME, format), text));
  it('RFC3339Nano drops trailing zeros and the dot with them', () => assert.equal(formatTime('2024-03-14T09:26:53.000Z', 'RFC3339Nano'), '2024-03-14T09:26:53Z'));
  it('formats the compact line\'s time', () => {
    assert.ok(formatCompact(flow(TIEFIGHTER, 1, DEATHSTAR, 2, {}), { timeFormat: 'RFC3339Milli' }).startsWith('2024-03-14T09:26:53.589Z: default/tiefighter:1 '));
  });
});

describe('dict and table', () => {
  const allowed = flow(TIEFIGHTER, 41234, DEATHSTAR, 80, { policy_match_type: 2, is_reply: false, ingress_allowed_by: [RULE1_INGRESS] });
  const drop = flow(TIEFIGHTER, 38000, WORLD, 443, { ...dropped(181, 'POLICY_DENY'), traffic_direction: 'EGRESS', event_type: { type: 1, sub_type: 181 } });

  it('-o dict: keys right-aligned to DESTINATION, addresses without identities, the type as in the table', () => {
    assert.equal(formatDict(allowed), [
      `  TIMESTAMP: ${STAMP}`,
      '     SOURCE: default/tiefighter:41234',
      'DESTINATION: default/deathstar-6fb5694d48-5hmds:80',
      '       TYPE: policy-verdict:L3-L4 INGRESS',
      '    VERDICT: FORWARDED',
      '    SUMMARY: TCP Flags: SYN',
    ].join('\n'));
  });

  it('-o dict with --print-node-name and --print-policy-names adds NODE and POLICIES', () => {
    const lines = formatDict(allowed, { printNodeName: true, printPolicyNames: true }).split('\n');
    assert.equal(lines[1], '       NODE: node-1');
    assert.equal(lines.at(-1), '   POLICIES: CiliumNetworkPolicy:default/rule1:spec.ingress[0]');
  });

  it('-o table: Hubble\'s columns, padded to the widest cell plus 3, the last column unpadded', () => {
    const rows = [tableHeader(), tableRow(allowed), tableRow(drop)];
    assert.equal(formatTableRows(rows), [
      'TIMESTAMP             SOURCE                     DESTINATION                             TYPE                           VERDICT     SUMMARY',
      `${STAMP}   default/tiefighter:41234   default/deathstar-6fb5694d48-5hmds:80   policy-verdict:L3-L4 INGRESS   FORWARDED   TCP Flags: SYN`,
      `${STAMP}   default/tiefighter:38000   93.184.216.34:443                       Policy denied by denylist      DROPPED     TCP Flags: SYN`,
      '',
    ].join('\n'));
  });

  it('-o table --print-node-name adds NODE after TIMESTAMP', () => {
    assert.deepEqual(tableHeader({ printNodeName: true }), ['TIMESTAMP', 'NODE', 'SOURCE', 'DESTINATION', 'TYPE', 'VERDICT', 'SUMMARY']);
    assert.equal(tableRow(allowed, { printNodeName: true })[1], 'node-1');
  });
});
