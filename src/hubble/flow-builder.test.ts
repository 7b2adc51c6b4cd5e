/**
 * FlowBuilder, the pipeline's fast path, against the reference
 * `flowsFromEvent(decodeFlowEvent(...))`: for thousands of random records
 * of every kind (policy verdicts, drops 133/181/others, traces at every
 * point with their reasons, replies, services) the flows are equal field
 * for field and key for key, but for the uuid; what it keeps from the
 * context follows the context's version; and its flows, frozen, go through
 * every consumer unchanged.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import {
  DIR_EGRESS, DIR_INGRESS, EVENT_DROP, EVENT_POLICY_VERDICT, EVENT_TRACE, OBS_FROM_ENDPOINT, OBS_TO_ENDPOINT, OBS_TO_STACK,
  VERDICT_AUDIT, VERDICT_DROPPED, VERDICT_FORWARDED, type FlowEventRecord, flowEvent, intToIp4, ip4ToInt,
} from '../datapath/layout.js';
import { HubbleFlowMetrics } from '../metrics/flow-metrics.js';
import { formatCompact, formatDict, tableRow } from './compact.js';
import { decodeFlowEvent } from './decode.js';
import { type FlowFilter, compileFlowFilters, flowPasses } from './filter.js';
import { type Flow, type FlowContext, type FlowPolicy, flowsFromEvent } from './flow.js';
import { FlowBuilder } from './flow-builder.js';
import { flowToProto } from './grpc/flow-to-proto.js';

const POD_BASE = ip4ToInt('10.244.1.0');
const VIP = ip4ToInt('10.96.0.10');
const WORLD = ip4ToInt('93.184.216.34');

interface World {
  pods: Map<string, { id: number; namespace: string; podName: string; workloads?: { name: string; kind: string }[] }>;
  labels: Map<number, string[]>;
  /** What the policy repository says of each cookie: the rules' policies and their log values. */
  cookies: Map<number, FlowPolicy[]>;
  logs: Map<number, string>;
  version: number;
}

/** A policy entry as the agent gives it: with the rule's path behind a cookie, without one for default deny. */
function policy(name: string, rule?: string, revision = 2): FlowPolicy {
  return { name, namespace: 'default', labels: [`k8s:io.cilium.k8s.policy.name=${name}`], revision, kind: 'CiliumNetworkPolicy', ...(rule ? { rule } : {}) };
}

/** Pods 10.244.1.10..29 (identity 1000 + i/2), the world, three cookies, a service; `world` may be changed between batches. */
function testWorld(): { world: World; ctx: FlowContext } {
  const world: World = {
    pods: new Map(), labels: new Map([[1, ['reserved:host']], [2, ['reserved:world']]]), version: 1,
    cookies: new Map([[1, [policy('allow-a', 'spec.ingress[0]')]], [2, [policy('allow-b', 'specs[1].egress[2]'), policy('allow-c', 'spec.egress[0]')]], [3, [policy('deny-x', 'spec.egressDeny[0]')]]]),
    logs: new Map([[1, 'allow-a in'], [3, 'denied: x']]),
  };
  for (let i = 0; i < 20; i++) {
    world.pods.set(intToIp4(POD_BASE + 10 + i), {
      id: 100 + i, namespace: i % 2 ? 'shop' : 'default', podName: `pod-${i}`, ...(i % 3 ? { workloads: [{ name: `app-${i >> 1}`, kind: 'Deployment' }] } : {}),
    });
    world.labels.set(1000 + (i >> 1), [`k8s:app=app-${i >> 1}`, `k8s:io.kubernetes.pod.namespace=${i % 2 ? 'shop' : 'default'}`]);
  }
  const ctx: FlowContext = {
    nodeName: 'node-1',
    version: () => world.version,
    wallTimeMs: (ns) => 1_700_000_000_000 + ns / 1e6,
    endpointByIp: (ip) => world.pods.get(ip),
    identityLabels: (id) => world.labels.get(id),
    policiesForCookie: (c) => world.cookies.get(c) ?? [],
    policyLogForCookie: (c) => world.logs.get(c),
    defaultDenyPolicies: (ep, ingress) => (ep % 2 === 0 && ingress ? [policy('default-deny')] : []),
    serviceById: (id) => (id === 7 ? { name: 'web', namespace: 'shop' } : undefined),
  };
  return { world, ctx };
}

/** mulberry32: small, and without the correlation between successive draws a plain LCG has. */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) % n);
  };
}

/** A random flow_event of any kind the datapath emits, and some it does not. */
function randomRecord(rnd: (n: number) => number, i: number): Partial<FlowEventRecord> {
  const pick = <T>(xs: T[]): T => xs[rnd(xs.length)]!;
  const type = pick([EVENT_TRACE, EVENT_TRACE, EVENT_POLICY_VERDICT, EVENT_POLICY_VERDICT, EVENT_DROP, 9]);
  const addr = () => pick([POD_BASE + 10 + rnd(20), POD_BASE + 10 + rnd(20), WORLD, POD_BASE + 1, ip4ToInt('10.0.0.1') + rnd(1000)]);
  const saddr = addr();
  const daddr = addr();
  const identityOf = (ip: number) => (rnd(10) === 0 ? rnd(3000) : ip === WORLD ? 2 : ip === POD_BASE + 1 ? 1 : 1000 + ((ip - POD_BASE - 10) >> 1));
  const dport = pick([80, 443, 53, 8080, rnd(65536)]);
  const svc = rnd(4) === 0;
  return {
    tsNs: 1e12 + i * 337_000 + rnd(1000), saddr, daddr, sport: 32768 + rnd(28000), dport,
    srcIdentity: identityOf(saddr), dstIdentity: identityOf(daddr), cookie: pick([0, 0, 1, 2, 3, 99]), ifindex: rnd(50), len: 74,
    epId: 100 + rnd(25), proto: pick([6, 6, 6, 17, 17, 132, 1, 47]), type,
    verdict: type === EVENT_TRACE ? VERDICT_FORWARDED : pick([VERDICT_FORWARDED, VERDICT_DROPPED, VERDICT_AUDIT, 5, 0]),
    reason: type === EVENT_TRACE ? rnd(7) : type === EVENT_DROP ? pick([133, 181, 158, 130, 0, rnd(256)]) : pick([0, 0, 133, 181]),
    dir: pick([DIR_INGRESS, DIR_EGRESS, 0]), tcpFlags: rnd(256), isReply: pick([0, 0, 1, 2]), matchType: rnd(5),
    obsPoint: type === EVENT_TRACE ? pick([OBS_TO_ENDPOINT, OBS_TO_STACK, OBS_FROM_ENDPOINT, 1, rnd(256)]) : 0, icmpType: pick([0, 3, 8, 11, rnd(256)]),
    // Every field the record has, whether flows show it yet or not: the fast path must follow the reference in both.
    ...(rnd(5) === 0 ? { proxyPort: 15000 + rnd(100) } : {}),
    ...(svc ? { svcId: pick([7, 7, 8]), origDaddr: intToIp4(pick([VIP, VIP, daddr, 0])), origDport: pick([80, dport, 0]) } : {}),
  };
}

const noUuid = (f: Flow): Flow => ({ ...f, uuid: '' });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

function built(builder: FlowBuilder, buf: Buffer, count: number): Flow[] {
  const out: Flow[] = [];
  for (let i = 0; i < count; i++) builder.build(buf, i * flowEvent.size, (f) => out.push(f));
  return out;
}

describe('FlowBuilder', () => {
  it('builds the reference flows, key for key, for thousands of random records of every kind', () => {
    const rnd = rng(42);
    const { ctx } = testWorld();
    const builder = new FlowBuilder();
    const count = 5000;
    const buf = Buffer.alloc(count * flowEvent.size);
    for (let i = 0; i < count; i++) flowEvent.encode(randomRecord(rnd, i), buf.subarray(i * flowEvent.size, (i + 1) * flowEvent.size));
    builder.begin(ctx);
    const fast = built(builder, buf, count);
    const reference: Flow[] = [];
    for (let i = 0; i < count; i++) reference.push(...flowsFromEvent(decodeFlowEvent(buf, i * flowEvent.size), ctx));
    assert.equal(fast.length, reference.length);
    for (let i = 0; i < fast.length; i++) {
      assert.deepEqual(noUuid(fast[i]!), noUuid(reference[i]!), `flow ${i}`);
      assert.equal(JSON.stringify(noUuid(fast[i]!)), JSON.stringify(noUuid(reference[i]!)), `flow ${i}: same keys in the same order`);
    }
    const kinds: [string, (f: Flow) => boolean][] = [
      ['a trace to an endpoint, NEW', (f) => f.trace_observation_point === 'TO_ENDPOINT' && f.trace_reason === 'NEW' && f.is_reply === false],
      ['a trace to the stack, ESTABLISHED', (f) => f.trace_observation_point === 'TO_STACK' && f.trace_reason === 'ESTABLISHED'],
      ['a reply\'s trace', (f) => f.event_type.type === EVENT_TRACE && f.trace_reason === 'REPLY' && f.is_reply === true],
      ['a trace from an endpoint (reply unknown)', (f) => f.trace_observation_point === 'FROM_ENDPOINT' && f.is_reply === undefined],
      ['a trace at an unknown point', (f) => f.trace_observation_point === 'UNKNOWN_POINT'],
      ['a reply\'s trace from a service', (f) => f.source_service !== undefined],
      ['a flow to a service, translated', (f) => f.destination_service !== undefined && f.IP.destination_original !== undefined],
      ['a flow to an unknown service, translated', (f) => f.destination_service === undefined && f.IP.destination_original !== undefined],
      ['an allowed verdict with its policies', (f) => f.event_type.type === EVENT_POLICY_VERDICT && f.verdict === 'FORWARDED' && f.ingress_allowed_by !== undefined],
      ['an egress verdict with its policies', (f) => f.egress_allowed_by !== undefined],
      ['a denied verdict by default deny', (f) => f.event_type.type === EVENT_POLICY_VERDICT && f.verdict === 'DROPPED' && f.ingress_denied_by?.[0]?.name === 'default-deny'],
      ['an audit verdict', (f) => f.verdict === 'AUDIT'],
      ['a policy drop (133)', (f) => f.event_type.type === EVENT_DROP && f.drop_reason === 133],
      ['a deny-rule drop (181) with its policy', (f) => f.event_type.type === EVENT_DROP && f.drop_reason === 181 && f.egress_denied_by !== undefined],
      ['a verdict with its rule\'s log value', (f) => f.event_type.type === EVENT_POLICY_VERDICT && f.policy_log !== undefined],
      ['a verdict by a rule without a log value', (f) => f.event_type.type === EVENT_POLICY_VERDICT && f.ingress_allowed_by?.[0]?.rule === 'specs[1].egress[2]' && f.policy_log === undefined],
      ['another drop (no backend, 158)', (f) => f.event_type.type === EVENT_DROP && f.drop_reason === 158],
      ['UDP, SCTP, ICMP and unknown L4', (f) => f.l4?.UDP !== undefined], ['SCTP', (f) => f.l4?.SCTP !== undefined],
      ['ICMP', (f) => f.l4?.ICMPv4 !== undefined], ['no L4', (f) => f.l4 === undefined],
      ['an address without an endpoint', (f) => f.source.ID === undefined && f.source.labels === undefined],
    ];
    for (const [kind, is] of kinds) assert.ok(fast.some(is), `the records make ${kind}`);
    assert.ok(fast.every((f) => UUID.test(f.uuid)), 'uuids are version-4 shaped');
    assert.equal(new Set([...fast, ...reference].map((f) => f.uuid)).size, fast.length + reference.length, 'every uuid is new');
  });

  it('makes the same flows with a context that has no version or services', () => {
    const rnd = rng(7);
    const { ctx } = testWorld();
    const { version: _v, serviceById: _s, ...plain } = ctx;
    const builder = new FlowBuilder();
    const buf = Buffer.alloc(500 * flowEvent.size);
    for (let i = 0; i < 500; i++) flowEvent.encode(randomRecord(rnd, i), buf.subarray(i * flowEvent.size, (i + 1) * flowEvent.size));
    builder.begin(plain);
    const fast = built(builder, buf, 500);
    const reference = Array.from({ length: 500 }, (_, i) => flowsFromEvent(decodeFlowEvent(buf, i * flowEvent.size), plain)).flat();
    assert.deepEqual(fast.map(noUuid), reference.map(noUuid));
  });

  it('shares one endpoint object per address and identity, and drops them when the version changes', () => {
    const { world, ctx } = testWorld();
    const builder = new FlowBuilder();
    const pod = POD_BASE + 10;
    const buf = flowEvent.encode({ saddr: pod, daddr: POD_BASE + 12, srcIdentity: 1000, dstIdentity: 1001, proto: 6, type: EVENT_TRACE, obsPoint: OBS_TO_ENDPOINT, reason: 1 });
    const flowOf = () => built(builder, buf, 1)[0]!;
    builder.begin(ctx);
    const a = flowOf();
    builder.begin(ctx);
    const b = flowOf();
    assert.equal(a.source, b.source, 'the same object while the version holds');
    assert.equal(a.source.pod_name, 'pod-0');
    world.pods.set(intToIp4(pod), { id: 100, namespace: 'default', podName: 'pod-0-renamed' });
    world.version++;
    builder.begin(ctx);
    assert.equal(flowOf().source.pod_name, 'pod-0-renamed', 'a new version is read again');
  });

  it('names a cookie\'s rule, revision and log value as the context says them at the current version, not as an earlier revision did', () => {
    const { world, ctx } = testWorld();
    const builder = new FlowBuilder();
    const buf = flowEvent.encode({
      saddr: POD_BASE + 11, daddr: POD_BASE + 10, srcIdentity: 1000, dstIdentity: 1000, proto: 6, type: EVENT_POLICY_VERDICT,
      verdict: VERDICT_FORWARDED, dir: DIR_INGRESS, epId: 100, cookie: 1,
    });
    const attribution = () => {
      const f = built(builder, buf, 1)[0]!;
      return [f.ingress_allowed_by?.map((p) => `${p.name}@${p.revision}:${p.rule}`), f.policy_log];
    };
    builder.begin(ctx);
    assert.deepEqual(attribution(), [['allow-a@2:spec.ingress[0]'], ['allow-a in']]);
    // The policy is changed: a new revision, a new log value, and the same cookie now behind another rule of it.
    world.cookies.set(1, [policy('allow-a', 'specs[0].ingress[0]', 3)]);
    world.logs.set(1, 'allow-a v3');
    world.version++;
    builder.begin(ctx);
    assert.deepEqual(attribution(), [['allow-a@3:specs[0].ingress[0]'], ['allow-a v3']]);
    world.logs.delete(1);
    world.version++;
    builder.begin(ctx);
    assert.deepEqual(attribution(), [['allow-a@3:specs[0].ingress[0]'], undefined], 'a log value removed is no longer reported');
  });

  it('keeps what an unversioned context said for as long as that context object is in use', () => {
    const { world, ctx } = testWorld();
    const { version: _v, ...plain } = ctx;
    const builder = new FlowBuilder();
    const buf = flowEvent.encode({ saddr: POD_BASE + 10, daddr: POD_BASE + 12, srcIdentity: 1000, dstIdentity: 1001, proto: 6, type: EVENT_TRACE, obsPoint: OBS_TO_ENDPOINT });
    builder.begin(plain);
    assert.equal(built(builder, buf, 1)[0]!.source.pod_name, 'pod-0');
    world.pods.set(intToIp4(POD_BASE + 10), { id: 100, namespace: 'default', podName: 'pod-0-renamed' });
    builder.begin({ ...plain });
    assert.equal(built(builder, buf, 1)[0]!.source.pod_name, 'pod-0-renamed', 'another context object is asked again');
  });

  it('makes flows that every consumer reads without modifying (frozen, in strict mode)', async () => {
    const rnd = rng(99);
    const { ctx } = testWorld();
    const builder = new FlowBuilder();
    const buf = Buffer.alloc(2000 * flowEvent.size);
    for (let i = 0; i < 2000; i++) flowEvent.encode(randomRecord(rnd, i), buf.subarray(i * flowEvent.size, (i + 1) * flowEvent.size));
    builder.begin(ctx);
    const flows = built(builder, buf, 2000).map(deepFreeze);
    const filters: FlowFilter[] = [
      { source_pod: ['shop/'], verdict: ['DROPPED'] }, { destination_label: ['app=app-3'], tcp_flags: [{ SYN: true }] }, { destination_port: ['80'], reply: [false] },
      { source_ip: ['10.244.0.0/16'], protocol: ['udp'] }, { destination_service: ['shop/web'] }, { source_workload: [{ name: 'app-1' }] },
    ];
    const compiled = compileFlowFilters(filters, [{ verdict: ['AUDIT'] }]);
    const registry = new Registry();
    const metrics = new HubbleFlowMetrics(registry);
    for (const f of flows) {
      formatCompact(f, { printPolicyNames: true });
      formatDict(f);
      tableRow(f);
      flowToProto(f);
      JSON.stringify(f);
      assert.equal(compiled(f), flowPasses(f, filters, [{ verdict: ['AUDIT'] }]));
      metrics.observe(f);
    }
    assert.match(await registry.metrics(), /hubble_flows_processed_total\{/);
  });
});
