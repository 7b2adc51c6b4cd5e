/**
 * flowsFromEvent: one datapath event record in, Hubble-shaped flows out.
 * Each case is a Star Wars demo situation; the fake FlowContext below plays
 * the agent (pods, identities, the policies behind rule cookies and default
 * deny). Expected values are Hubble's (cilium-semantics.md §6.1, §9).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  DIR_EGRESS, DIR_INGRESS, EVENT_DROP, EVENT_POLICY_VERDICT, EVENT_TRACE, OBS_FROM_ENDPOINT, OBS_TO_ENDPOINT, OBS_TO_PROXY, OBS_TO_STACK, VERDICT_AUDIT, VERDICT_REDIRECTED, VERDICT_DROPPED, VERDICT_FORWARDED,
  type FlowEventRecord, flowEvent, ip4ToInt,
} from '../datapath/layout.js';
import { type Flow, type FlowContext, type FlowEndpoint, type FlowPolicy, flowsFromEvent, tcpFlags, tcpFlagsSummary } from './flow.js';

// ---- the agent's knowledge, as a fake FlowContext ----

const NODE = 'node-1';
/** Wall clock at monotonic 0; events carry bpf_ktime_get_ns() values. */
const BOOT_WALL_MS = Date.UTC(2024, 2, 14, 9, 0, 0, 0);
/** 26 min 53.589 s after boot: 2024-03-14T09:26:53.589Z. */
const TS_NS = 1_613_589_000_000;
const TIME = '2024-03-14T09:26:53.589Z';

const TCP = 6;
const UDP = 17;
const ICMP = 1;
const SYN = 0x02;
const ACK = 0x10;

interface Pod { ip: string; id: number; namespace: string; podName: string; identity: number; labels: string[] }
const nsLabel = 'k8s:io.kubernetes.pod.namespace=default';
const TIEFIGHTER: Pod = { ip: '10.244.1.10', id: 1201, namespace: 'default', podName: 'tiefighter', identity: 257, labels: ['k8s:class=tiefighter', nsLabel, 'k8s:org=empire'] };
const DEATHSTAR: Pod = { ip: '10.244.1.20', id: 2756, namespace: 'default', podName: 'deathstar-6fb5694d48-5hmds', identity: 256, labels: ['k8s:class=deathstar', nsLabel, 'k8s:org=empire'] };
const XWING: Pod = { ip: '10.244.1.30', id: 3001, namespace: 'default', podName: 'xwing', identity: 258, labels: ['k8s:class=xwing', nsLabel, 'k8s:org=alliance'] };
const PODS = [TIEFIGHTER, DEATHSTAR, XWING];
const WORLD_IP = '93.184.216.34';
const HOST_IP = '10.244.1.1';
const ID_HOST = 1;
const ID_WORLD = 2;

/** A flow's policy entry: with the rule's path when a rule cookie decided, without for default deny. */
const policy = (name: string, rule?: string): FlowPolicy => ({
  name, namespace: 'default', kind: 'CiliumNetworkPolicy', revision: 3,
  labels: ['k8s:io.cilium.k8s.policy.derived-from=CiliumNetworkPolicy', `k8s:io.cilium.k8s.policy.name=${name}`, 'k8s:io.cilium.k8s.policy.namespace=default'],
  ...(rule ? { rule } : {}),
});
const RULE1 = policy('rule1'); // the demo's L3/L4 policy, as default deny names it: deathstar ingress from empire on 80/TCP
const RULE1_INGRESS = policy('rule1', 'spec.ingress[0]'); // its rule, as its cookie names it
const EMPIRE_EGRESS = policy('empire-egress', 'spec.egress[0]');
const DENY_WORLD = policy('deny-world', 'specs[1].egressDeny[0]');
const COOKIE_EMPIRE_EGRESS = 7;
const COOKIE_RULE1 = 8;
const COOKIE_DENY_WORLD = 9;
/** The log values of the rules behind the cookies (rule1's rule has none). */
const LOGS = new Map<number, string>([[COOKIE_EMPIRE_EGRESS, 'empire-out'], [COOKIE_DENY_WORLD, 'world denied']]);

interface FakeContext extends FlowContext {
  cookieLookups: number[];
  defaultDenyLookups: [number, boolean][];
}

function fakeContext(): FakeContext {
  const cookies = new Map<number, FlowPolicy[]>([[COOKIE_EMPIRE_EGRESS, [EMPIRE_EGRESS]], [COOKIE_RULE1, [RULE1_INGRESS]], [COOKIE_DENY_WORLD, [DENY_WORLD]]]);
  const identityLabels = new Map<number, string[]>([[ID_HOST, ['reserved:host']], [ID_WORLD, ['reserved:world']], ...PODS.map((p): [number, string[]] => [p.identity, p.labels])]);
  const ctx: FakeContext = {
    nodeName: NODE,
    cookieLookups: [],
    defaultDenyLookups: [],
    wallTimeMs: (ns) => BOOT_WALL_MS + ns / 1e6,
    endpointByIp: (ip) => {
      const p = PODS.find((pod) => pod.ip === ip);
      return p && { id: p.id, namespace: p.namespace, podName: p.podName };
    },
    identityLabels: (id) => identityLabels.get(id),
    policiesForCookie: (cookie) => {
      ctx.cookieLookups.push(cookie);
      return cookies.get(cookie) ?? [];
    },
    policyLogForCookie: (cookie) => LOGS.get(cookie),
    defaultDenyPolicies: (epId, ingress) => {
      ctx.defaultDenyLookups.push([epId, ingress]);
      // deathstar is in ingress default deny because rule1 selects it
      return epId === DEATHSTAR.id && ingress ? [RULE1] : [];
    },
  };
  return ctx;
}

/** A complete event record (through the real codec), zero where not given. */
function event(fields: Partial<FlowEventRecord>): FlowEventRecord {
  return flowEvent.decode(flowEvent.encode({ tsNs: TS_NS, ifindex: 11, len: 74, ...fields }));
}

const tcp = (src: Pod | string, sport: number, dst: Pod | string, dport: number, flags = SYN): Partial<FlowEventRecord> => ({
  saddr: ip4ToInt(typeof src === 'string' ? src : src.ip), daddr: ip4ToInt(typeof dst === 'string' ? dst : dst.ip),
  sport, dport, proto: TCP, tcpFlags: flags,
});

const podEndpoint = (p: Pod): FlowEndpoint => ({ ID: p.id, identity: p.identity, namespace: p.namespace, pod_name: p.podName, labels: p.labels });

// ---- the cases ----

interface Case {
  name: string;
  event: FlowEventRecord;
  /** One entry per expected flow, in order; only the listed fields are compared (undefined = must be absent). */
  flows: Partial<Flow>[];
}

const tiefighterToDeathstar = tcp(TIEFIGHTER, 41234, DEATHSTAR, 80);
const xwingToDeathstar = tcp(XWING, 50210, DEATHSTAR, 80);

/** xwing -> deathstar:80 with deathstar in ingress default deny (the demo's rule1). */
const DEFAULT_DENY_DROP = event({
  ...xwingToDeathstar, type: EVENT_DROP, verdict: VERDICT_DROPPED, reason: 133, dir: DIR_INGRESS, epId: DEATHSTAR.id,
  srcIdentity: XWING.identity, dstIdentity: DEATHSTAR.identity, cookie: 0, matchType: 0,
});
/** tiefighter -> world:443 hitting an egress deny rule. */
const DENY_RULE_DROP = event({
  ...tcp(TIEFIGHTER, 38000, WORLD_IP, 443), type: EVENT_DROP, verdict: VERDICT_DROPPED, reason: 181, dir: DIR_EGRESS, epId: TIEFIGHTER.id,
  srcIdentity: TIEFIGHTER.identity, dstIdentity: ID_WORLD, cookie: COOKIE_DENY_WORLD, matchType: 1,
});
/** A packet from a pod with an address that is not its own: dropped before any endpoint is known. */
const INVALID_SOURCE_DROP = event({
  ...tcp('10.99.0.5', 1234, DEATHSTAR, 80), type: EVENT_DROP, verdict: VERDICT_DROPPED, reason: 132, dir: DIR_EGRESS, epId: 0,
  srcIdentity: 0, dstIdentity: 0,
});
/** The default-deny case with deathstar's ingress in audit mode. */
const AUDITED = event({
  ...xwingToDeathstar, type: EVENT_POLICY_VERDICT, verdict: VERDICT_AUDIT, reason: 133, dir: DIR_INGRESS, epId: DEATHSTAR.id,
  srcIdentity: XWING.identity, dstIdentity: DEATHSTAR.identity, cookie: 0, matchType: 0,
});

const cases: Case[] = [
  {
    name: 'an allowed new egress connection is one FORWARDED policy-verdict flow attributed to the allowing policy',
    event: event({
      ...tiefighterToDeathstar, type: EVENT_POLICY_VERDICT, verdict: VERDICT_FORWARDED, dir: DIR_EGRESS, epId: TIEFIGHTER.id,
      srcIdentity: TIEFIGHTER.identity, dstIdentity: DEATHSTAR.identity, cookie: COOKIE_EMPIRE_EGRESS, matchType: 1,
    }),
    flows: [{
      time: TIME, verdict: 'FORWARDED', drop_reason: undefined, drop_reason_desc: undefined,
      IP: { source: TIEFIGHTER.ip, destination: DEATHSTAR.ip, ipVersion: 'IPv4' },
      l4: { TCP: { source_port: 41234, destination_port: 80, flags: { SYN: true } } },
      source: podEndpoint(TIEFIGHTER), destination: podEndpoint(DEATHSTAR),
      Type: 'L3_L4', node_name: NODE, event_type: { type: 5 }, traffic_direction: 'EGRESS',
      policy_match_type: 1, is_reply: false, interface: { index: 11 },
      egress_allowed_by: [EMPIRE_EGRESS], ingress_allowed_by: undefined, egress_denied_by: undefined, ingress_denied_by: undefined,
      policy_log: ['empire-out'], Summary: 'TCP Flags: SYN',
    }],
  },
  {
    name: 'an allowed new ingress connection is one FORWARDED policy-verdict flow with ingress_allowed_by',
    event: event({
      ...tiefighterToDeathstar, type: EVENT_POLICY_VERDICT, verdict: VERDICT_FORWARDED, dir: DIR_INGRESS, epId: DEATHSTAR.id,
      srcIdentity: TIEFIGHTER.identity, dstIdentity: DEATHSTAR.identity, cookie: COOKIE_RULE1, matchType: 2,
    }),
    flows: [{
      verdict: 'FORWARDED', drop_reason: undefined, event_type: { type: 5 }, traffic_direction: 'INGRESS', policy_match_type: 2, is_reply: false,
      source: podEndpoint(TIEFIGHTER), destination: podEndpoint(DEATHSTAR),
      ingress_allowed_by: [RULE1_INGRESS], egress_allowed_by: undefined, ingress_denied_by: undefined, policy_log: undefined,
      Summary: 'TCP Flags: SYN',
    }],
  },
  {
    name: 'a default-deny drop (133) is a DENIED policy verdict, then the drop, both attributed to the policies that put the endpoint in default deny',
    event: DEFAULT_DENY_DROP,
    flows: [
      {
        time: TIME, verdict: 'DROPPED', drop_reason: 133, drop_reason_desc: 'POLICY_DENIED',
        event_type: { type: 5 }, traffic_direction: 'INGRESS', policy_match_type: 0, is_reply: undefined,
        source: podEndpoint(XWING), destination: podEndpoint(DEATHSTAR),
        ingress_denied_by: [RULE1], ingress_allowed_by: undefined, policy_log: undefined, Summary: 'TCP Flags: SYN',
      },
      {
        time: TIME, verdict: 'DROPPED', drop_reason: 133, drop_reason_desc: 'POLICY_DENIED',
        event_type: { type: 1, sub_type: 133 }, traffic_direction: 'INGRESS', policy_match_type: undefined, is_reply: undefined,
        IP: { source: XWING.ip, destination: DEATHSTAR.ip, ipVersion: 'IPv4' },
        l4: { TCP: { source_port: 50210, destination_port: 80, flags: { SYN: true } } },
        source: podEndpoint(XWING), destination: podEndpoint(DEATHSTAR), node_name: NODE,
        ingress_denied_by: [RULE1], Summary: 'TCP Flags: SYN',
      },
    ],
  },
  {
    name: 'a deny-rule drop (181) is attributed to the policy behind the rule cookie, with drop_reason_desc POLICY_DENY',
    event: DENY_RULE_DROP,
    flows: [
      {
        verdict: 'DROPPED', drop_reason: 181, drop_reason_desc: 'POLICY_DENY', event_type: { type: 5 }, traffic_direction: 'EGRESS',
        policy_match_type: 1, egress_denied_by: [DENY_WORLD], egress_allowed_by: undefined, ingress_denied_by: undefined,
        policy_log: ['world denied'], destination: { identity: ID_WORLD, labels: ['reserved:world'] },
      },
      {
        verdict: 'DROPPED', drop_reason: 181, drop_reason_desc: 'POLICY_DENY', event_type: { type: 1, sub_type: 181 },
        traffic_direction: 'EGRESS', egress_denied_by: [DENY_WORLD], policy_log: ['world denied'],
        source: podEndpoint(TIEFIGHTER), destination: { identity: ID_WORLD, labels: ['reserved:world'] },
      },
    ],
  },
  {
    name: 'an invalid-source drop (132) is a single drop flow without policy verdict or attribution',
    event: INVALID_SOURCE_DROP,
    flows: [{
      verdict: 'DROPPED', drop_reason: 132, drop_reason_desc: 'INVALID_SOURCE_IP', event_type: { type: 1, sub_type: 132 },
      traffic_direction: 'EGRESS', is_reply: undefined, policy_match_type: undefined,
      egress_denied_by: undefined, ingress_denied_by: undefined, egress_allowed_by: undefined, ingress_allowed_by: undefined,
      source: { identity: 0 }, IP: { source: '10.99.0.5', destination: DEATHSTAR.ip, ipVersion: 'IPv4' },
    }],
  },
  {
    name: 'an audited verdict is one AUDIT policy-verdict flow attributed to the policies that would have denied it',
    event: AUDITED,
    flows: [{
      verdict: 'AUDIT', event_type: { type: 5 }, traffic_direction: 'INGRESS', policy_match_type: 0, is_reply: false,
      ingress_denied_by: [RULE1], ingress_allowed_by: undefined,
    }],
  },
  {
    name: 'a UDP connection carries UDP ports and the summary "UDP"',
    event: event({
      saddr: ip4ToInt(TIEFIGHTER.ip), daddr: ip4ToInt(XWING.ip), sport: 53000, dport: 53, proto: UDP,
      type: EVENT_POLICY_VERDICT, verdict: VERDICT_FORWARDED, dir: DIR_EGRESS, epId: TIEFIGHTER.id,
      srcIdentity: TIEFIGHTER.identity, dstIdentity: XWING.identity, matchType: 3,
    }),
    flows: [{ verdict: 'FORWARDED', l4: { UDP: { source_port: 53000, destination_port: 53 } }, Summary: 'UDP', policy_match_type: 3 }],
  },
  {
    name: 'an ICMP echo request carries the ICMP type and the summary "ICMPv4 EchoRequest"',
    event: event({
      saddr: ip4ToInt(XWING.ip), daddr: ip4ToInt(HOST_IP), proto: ICMP, icmpType: 8,
      type: EVENT_POLICY_VERDICT, verdict: VERDICT_FORWARDED, dir: DIR_EGRESS, epId: XWING.id,
      srcIdentity: XWING.identity, dstIdentity: ID_HOST, matchType: 1,
    }),
    flows: [{
      verdict: 'FORWARDED', l4: { ICMPv4: { type: 8, code: 0 } }, Summary: 'ICMPv4 EchoRequest',
      destination: { identity: ID_HOST, labels: ['reserved:host'] },
    }],
  },
  {
    name: 'a trace event is one FORWARDED to-endpoint flow with its trace reason, the connection\'s direction and no policy',
    event: event({
      ...tiefighterToDeathstar, type: EVENT_TRACE, verdict: VERDICT_FORWARDED, reason: 1 /* NEW */, dir: DIR_INGRESS, epId: DEATHSTAR.id,
      obsPoint: OBS_TO_ENDPOINT, srcIdentity: TIEFIGHTER.identity, dstIdentity: DEATHSTAR.identity,
    }),
    flows: [{
      verdict: 'FORWARDED', event_type: { type: 4, sub_type: 0 }, trace_observation_point: 'TO_ENDPOINT', trace_reason: 'NEW',
      is_reply: false, traffic_direction: 'INGRESS', source: podEndpoint(TIEFIGHTER), destination: podEndpoint(DEATHSTAR),
      policy_match_type: undefined, ingress_allowed_by: undefined, Summary: 'TCP Flags: SYN',
    }],
  },
  {
    name: 'a reply\'s trace is a to-endpoint flow with is_reply and the direction of the connection it answers',
    event: event({
      ...tcp(DEATHSTAR, 80, TIEFIGHTER, 41234, SYN | ACK), type: EVENT_TRACE, verdict: VERDICT_FORWARDED, reason: 3 /* REPLY */, dir: DIR_EGRESS,
      isReply: 1, epId: TIEFIGHTER.id, obsPoint: OBS_TO_ENDPOINT, srcIdentity: DEATHSTAR.identity, dstIdentity: TIEFIGHTER.identity,
    }),
    flows: [{ trace_observation_point: 'TO_ENDPOINT', trace_reason: 'REPLY', is_reply: true, traffic_direction: 'EGRESS', Summary: 'TCP Flags: SYN, ACK' }],
  },
  {
    name: 'to-stack and from-endpoint traces carry their sub-types; from-endpoint does not know yet whether it is a reply',
    event: event({
      ...tcp(TIEFIGHTER, 38000, WORLD_IP, 443), type: EVENT_TRACE, verdict: VERDICT_FORWARDED, reason: 2 /* ESTABLISHED */, dir: DIR_EGRESS,
      epId: TIEFIGHTER.id, obsPoint: OBS_TO_STACK, srcIdentity: TIEFIGHTER.identity, dstIdentity: ID_WORLD,
    }),
    flows: [{ event_type: { type: 4, sub_type: 3 }, trace_observation_point: 'TO_STACK', trace_reason: 'ESTABLISHED', is_reply: false }],
  },
  {
    name: 'a from-endpoint trace has no reply flag and no direction',
    event: event({
      ...tcp(TIEFIGHTER, 38000, WORLD_IP, 443), type: EVENT_TRACE, verdict: VERDICT_FORWARDED, reason: 0, dir: 0,
      epId: TIEFIGHTER.id, obsPoint: OBS_FROM_ENDPOINT, srcIdentity: TIEFIGHTER.identity, dstIdentity: ID_WORLD,
    }),
    flows: [{ event_type: { type: 4, sub_type: 5 }, trace_observation_point: 'FROM_ENDPOINT', trace_reason: undefined, is_reply: undefined, traffic_direction: 'TRAFFIC_DIRECTION_UNKNOWN' }],
  },
  {
    name: 'a connection handed to the L7 proxy is a REDIRECTED policy-verdict flow naming the proxy port and the allowing policy',
    event: event({
      ...tiefighterToDeathstar, type: EVENT_POLICY_VERDICT, verdict: VERDICT_REDIRECTED, dir: DIR_INGRESS, epId: DEATHSTAR.id,
      srcIdentity: TIEFIGHTER.identity, dstIdentity: DEATHSTAR.identity, cookie: COOKIE_RULE1, matchType: 2, proxyPort: 15001,
    }),
    flows: [{ verdict: 'REDIRECTED', event_type: { type: 5 }, proxy_port: 15001, is_reply: false, ingress_allowed_by: [RULE1_INGRESS], drop_reason: undefined }],
  },
  {
    name: 'a to-proxy trace names its point (sub-type 1) and the proxy port',
    event: event({
      ...tiefighterToDeathstar, type: EVENT_TRACE, verdict: VERDICT_FORWARDED, reason: 1, dir: DIR_INGRESS, epId: DEATHSTAR.id,
      obsPoint: OBS_TO_PROXY, srcIdentity: TIEFIGHTER.identity, dstIdentity: DEATHSTAR.identity, proxyPort: 15001,
    }),
    flows: [{ event_type: { type: 4, sub_type: 1 }, trace_observation_point: 'TO_PROXY', proxy_port: 15001 }],
  },
];

/** The listed fields of `flow`, so that deepEqual also checks the ones that must be absent. */
function pick(flow: Flow, expected: Partial<Flow>): Partial<Flow> {
  return Object.fromEntries(Object.keys(expected).map((k) => [k, flow[k as keyof Flow]])) as Partial<Flow>;
}

describe('flowsFromEvent', () => {
  for (const c of cases) {
    it(c.name, () => {
      const flows = flowsFromEvent(c.event, fakeContext());
      assert.equal(flows.length, c.flows.length, `number of flows: ${JSON.stringify(flows, null, 1)}`);
      c.flows.forEach((expected, i) => assert.deepEqual(pick(flows[i]!, expected), expected, `flow ${i}`));
    });
  }

  it('looks up default-deny policies for the dropping endpoint and direction, and the cookie only when there is one', () => {
    const ctx = fakeContext();
    flowsFromEvent(DEFAULT_DENY_DROP, ctx);
    assert.deepEqual(ctx.defaultDenyLookups.at(0), [DEATHSTAR.id, true]);
    assert.deepEqual(ctx.cookieLookups, []);

    const ctx181 = fakeContext();
    flowsFromEvent(DENY_RULE_DROP, ctx181);
    assert.deepEqual([...new Set(ctx181.cookieLookups)], [COOKIE_DENY_WORLD]);
    assert.deepEqual(ctx181.defaultDenyLookups, []);
  });

  it('never asks for policies behind a drop policy did not decide (invalid source)', () => {
    const ctx = fakeContext();
    flowsFromEvent(INVALID_SOURCE_DROP, ctx);
    assert.deepEqual(ctx.defaultDenyLookups, []);
    assert.deepEqual(ctx.cookieLookups, []);
  });

  it('leaves out attribution when no policy is known (allowed without a rule cookie)', () => {
    const flows = flowsFromEvent(event({
      ...tiefighterToDeathstar, type: EVENT_POLICY_VERDICT, verdict: VERDICT_FORWARDED, dir: DIR_EGRESS, epId: TIEFIGHTER.id,
      srcIdentity: TIEFIGHTER.identity, dstIdentity: DEATHSTAR.identity, cookie: 0,
    }), fakeContext());
    assert.equal(flows.length, 1);
    for (const k of ['egress_allowed_by', 'ingress_allowed_by', 'egress_denied_by', 'ingress_denied_by'] as const) assert.equal(flows[0]![k], undefined, k);
    assert.equal(flows[0]!.policy_log, undefined);
  });

  it('names the rule that decided in JSON: `rule` after Hubble\'s fields of the policy entry, and policy_log after the entries; default deny names policies only', () => {
    const [verdict] = flowsFromEvent(DENY_RULE_DROP, fakeContext());
    const json = JSON.parse(JSON.stringify(verdict)) as Record<string, unknown>;
    assert.deepEqual(json['egress_denied_by'], [{
      name: 'deny-world', namespace: 'default', kind: 'CiliumNetworkPolicy', revision: 3, labels: DENY_WORLD.labels, rule: 'specs[1].egressDeny[0]',
    }]);
    assert.deepEqual(json['policy_log'], ['world denied']);
    const keys = Object.keys(json);
    assert.equal(keys.indexOf('policy_log'), keys.indexOf('egress_denied_by') + 1);

    const [defaultDeny] = flowsFromEvent(DEFAULT_DENY_DROP, fakeContext());
    const entry = JSON.parse(JSON.stringify(defaultDeny!.ingress_denied_by![0])) as Record<string, unknown>;
    assert.equal('rule' in entry, false);
    assert.equal(defaultDeny!.policy_log, undefined);
  });

  it('carries no policy_log when the context does not know log values', () => {
    const ctx: FlowContext = { ...fakeContext() };
    delete ctx.policyLogForCookie;
    const flows = flowsFromEvent(DENY_RULE_DROP, ctx);
    assert.deepEqual(flows.map((f) => [f.egress_denied_by?.[0]?.rule, f.policy_log]), [['specs[1].egressDeny[0]', undefined], ['specs[1].egressDeny[0]', undefined]]);
  });

  it('gives every flow its own well-formed uuid, whatever the addresses', () => {
    // addresses whose XOR has the top bit set (a negative int32 in JS)
    const ev = event({
      ...tcp(XWING, 50210, '245.255.255.254', 80), type: EVENT_DROP, verdict: VERDICT_DROPPED, reason: 133, dir: DIR_EGRESS, epId: XWING.id,
      srcIdentity: XWING.identity, dstIdentity: ID_WORLD,
    });
    const uuids = [...flowsFromEvent(ev, fakeContext()), ...flowsFromEvent(ev, fakeContext())].map((f) => f.uuid);
    assert.equal(new Set(uuids).size, uuids.length, 'distinct');
    for (const u of uuids) assert.match(u, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it('reports an audited verdict without a drop reason, as Cilium does (audit mode turns the verdict into an allow)', () => {
    const [flow] = flowsFromEvent(AUDITED, fakeContext());
    assert.equal(flow!.verdict, 'AUDIT');
    assert.equal(flow!.drop_reason, undefined);
    assert.equal(flow!.drop_reason_desc, undefined);
  });
});

describe('TCP flags', () => {
  const table: [string, number, Record<string, true>, string][] = [
    ['SYN', SYN, { SYN: true }, 'TCP Flags: SYN'],
    ['SYN+ACK', SYN | ACK, { SYN: true, ACK: true }, 'TCP Flags: SYN, ACK'],
    ['ACK+PSH', ACK | 0x08, { ACK: true, PSH: true }, 'TCP Flags: ACK, PSH'],
    ['FIN+ACK', 0x01 | ACK, { FIN: true, ACK: true }, 'TCP Flags: ACK, FIN'],
    ['all eight', 0xff, { FIN: true, SYN: true, RST: true, PSH: true, ACK: true, URG: true, ECE: true, CWR: true }, 'TCP Flags: SYN, ACK, RST, FIN, PSH, URG, ECE, CWR'],
  ];
  for (const [name, bits, flags, summary] of table) {
    it(`${name} decodes to the flags object and reads "${summary}" in Hubble's order (SYN, ACK, RST, FIN, PSH, ...)`, () => {
      assert.deepEqual(tcpFlags(bits), flags);
      assert.equal(tcpFlagsSummary(tcpFlags(bits)), summary);
    });
  }
});
