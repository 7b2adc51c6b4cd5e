/**
 * The flow pipeline's fast path: flows built straight from the flow_event
 * records of a batch, equal to the reference
 * `flowsFromEvent(decodeFlowEvent(buf, base), ctx)` (flow.ts) field for
 * field and in the same key order, except the uuid, which is new per flow
 * either way (flow-builder.test.ts holds it to that for every kind of
 * event). What makes it cheaper, measured in docs/benchmarks.md ("Flow
 * pipeline"):
 *   - no intermediate record: each field is read from the buffer once;
 *   - shared, immutable parts: one FlowEndpoint per (address, identity), one
 *     policy list and policy_log per cookie, one service object per frontend (kept by
 *     EnrichmentCache while the context's version holds), and one
 *     event_type per (type, sub_type), TCP flags and Summary per flag byte,
 *     interface per ifindex, address string per address;
 *   - no closures or arrays per event: the event's common parts are fields
 *     of the builder, and flows are handed to a callback.
 * Flows share their sub-objects with each other, so no consumer may modify
 * a flow or anything it holds (none does; the builder's tests freeze them).
 */
import {
  DIR_EGRESS, DIR_INGRESS, EVENT_DROP, EVENT_POLICY_VERDICT, EVENT_TRACE, OBS_FROM_ENDPOINT, VERDICT_AUDIT, VERDICT_DROPPED, VERDICT_FORWARDED, VERDICT_REDIRECTED,
} from '../datapath/layout.js';
import { reasonHubbleName } from '../datapath/reasons.js';
import { flowEventOffsets } from './decode.js';
import { EnrichmentCache } from './enrichment-cache.js';
import {
  type Flow, type FlowContext, type FlowEndpoint, type FlowPolicy, type FlowService, type Layer4, type TrafficDirection, type Verdict,
  icmpTypeName, isoTime, nextFlowUuid, tcpFlags, tcpFlagsSummary, tracePoint, traceReason,
} from './flow.js';

const {
  tsNs: TS, saddr: SADDR, daddr: DADDR, sport: SPORT, dport: DPORT, srcIdentity: SRC_ID, dstIdentity: DST_ID, cookie: COOKIE, ifindex: IFINDEX,
  epId: EP_ID, proto: PROTO, type: TYPE, verdict: VERDICT, reason: REASON, dir: DIR, tcpFlags: TCP_FLAGS, isReply: IS_REPLY, matchType: MATCH_TYPE,
  obsPoint: OBS_POINT, icmpType: ICMP_TYPE, origDaddr: ORIG_DADDR, origDport: ORIG_DPORT, svcId: SVC_ID, proxyPort: PROXY_PORT,
} = flowEventOffsets;

// The parts every flow of a kind shares, one per value of the byte they come from.
const byte = <T>(make: (b: number) => T): T[] => Array.from({ length: 256 }, (_, b) => make(b));
const FLAGS = byte(tcpFlags);
const FLAGS_SUMMARY = FLAGS.map(tcpFlagsSummary);
const ICMP_L4 = byte((type): Layer4 => ({ ICMPv4: { type, code: 0 } }));
const ICMP_SUMMARY = byte((type) => `ICMPv4 ${icmpTypeName(type)}`);
const DROP_EVENT_TYPE = byte((reason) => ({ type: EVENT_DROP, sub_type: reason }));
const DROP_REASON_NAME = byte(reasonHubbleName);
const POLICY_VERDICT_EVENT_TYPE = { type: EVENT_POLICY_VERDICT };
const TRACE_EVENT_TYPE = byte((obs) => ({ type: EVENT_TRACE, sub_type: tracePoint(obs).subType }));
const TRACE_POINT_NAME = byte((obs) => tracePoint(obs).name);
const TRACE_REASON = byte(traceReason);
const MAX_INTERFACES = 4_096;

const u16be = (b: Buffer, o: number): number => (b[o]! << 8) | b[o + 1]!;
const u16le = (b: Buffer, o: number): number => b[o]! | (b[o + 1]! << 8);
const u32be = (b: Buffer, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const u32le = (b: Buffer, o: number): number => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

type PolicyField = 'ingress_allowed_by' | 'egress_allowed_by' | 'ingress_denied_by' | 'egress_denied_by';

export class FlowBuilder {
  private readonly cache = new EnrichmentCache();
  private readonly interfaces = new Map<number, { index: number }>();
  private ctx!: FlowContext;
  // The current event's parts, shared by its flows (a drop has two).
  private time = '';
  private ip!: Flow['IP'];
  private source!: FlowEndpoint;
  private destination!: FlowEndpoint;
  private direction: TrafficDirection = 'TRAFFIC_DIRECTION_UNKNOWN';
  private iface!: { index: number };
  private summary = '';
  private l4: Layer4 | undefined;
  private service: FlowService | undefined;
  private serviceIsSource = false;

  /** Binds the builder to the context of a batch (see EnrichmentCache for what is kept across batches). */
  begin(ctx: FlowContext): void {
    this.ctx = ctx;
    this.cache.use(ctx);
  }

  /** The flows of the record at `base`, handed to `emit` in order; returns how many (0 for an event type that makes none). */
  build(buf: Buffer, base: number, emit: (f: Flow) => void): number {
    const type = buf[base + TYPE]!;
    if (type !== EVENT_TRACE && type !== EVENT_POLICY_VERDICT && type !== EVENT_DROP) return 0;
    const cache = this.cache;
    const daddr = u32be(buf, base + DADDR);
    const src = cache.address(u32be(buf, base + SADDR), u32le(buf, base + SRC_ID));
    const dst = cache.address(daddr, u32le(buf, base + DST_ID));
    const sport = u16be(buf, base + SPORT);
    const dport = u16be(buf, base + DPORT);
    const isReply = buf[base + IS_REPLY]!;

    // A load-balanced connection: the service, and what translation replaced (see flow.ts).
    const svcId = u16le(buf, base + SVC_ID);
    let original: string | undefined;
    let originalPort = 0;
    this.service = undefined;
    if (svcId !== 0) {
      this.service = cache.service(svcId);
      this.serviceIsSource = type === EVENT_TRACE && isReply !== 0;
      const orig = u32be(buf, base + ORIG_DADDR);
      originalPort = u16be(buf, base + ORIG_DPORT);
      if (orig !== 0 && !(orig === daddr && originalPort === dport)) original = cache.text(orig);
    }

    switch (buf[base + PROTO]) {
      case 6: {
        const bits = buf[base + TCP_FLAGS]!;
        this.l4 = original === undefined
          ? { TCP: { source_port: sport, destination_port: dport, flags: FLAGS[bits]! } }
          : { TCP: { source_port: sport, destination_port: dport, flags: FLAGS[bits]!, destination_port_original: originalPort } };
        this.summary = FLAGS_SUMMARY[bits]!;
        break;
      }
      case 17:
        this.l4 = original === undefined
          ? { UDP: { source_port: sport, destination_port: dport } }
          : { UDP: { source_port: sport, destination_port: dport, destination_port_original: originalPort } };
        this.summary = 'UDP';
        break;
      case 132:
        this.l4 = original === undefined
          ? { SCTP: { source_port: sport, destination_port: dport } }
          : { SCTP: { source_port: sport, destination_port: dport, destination_port_original: originalPort } };
        this.summary = 'SCTP';
        break;
      case 1: {
        const icmp = buf[base + ICMP_TYPE]!;
        this.l4 = ICMP_L4[icmp];
        this.summary = ICMP_SUMMARY[icmp]!;
        break;
      }
      default:
        this.l4 = undefined;
        this.summary = 'IPv4';
    }

    this.ip = original === undefined
      ? { source: src.text, destination: dst.text, ipVersion: 'IPv4' }
      : { source: src.text, destination: dst.text, ipVersion: 'IPv4', destination_original: original };
    this.source = src.endpoint;
    this.destination = dst.endpoint;
    const dir = buf[base + DIR]!;
    const ingress = dir === DIR_INGRESS;
    this.direction = ingress ? 'INGRESS' : dir === DIR_EGRESS ? 'EGRESS' : 'TRAFFIC_DIRECTION_UNKNOWN';
    this.iface = this.interfaceOf(u32le(buf, base + IFINDEX));
    this.time = isoTime(this.ctx.wallTimeMs(u32le(buf, base + TS + 4) * 2 ** 32 + u32le(buf, base + TS)));

    const reason = buf[base + REASON]!;
    if (type === EVENT_TRACE) {
      const obs = buf[base + OBS_POINT]!;
      const f = this.flow('FORWARDED');
      f.event_type = TRACE_EVENT_TYPE[obs]!;
      f.trace_observation_point = TRACE_POINT_NAME[obs]!;
      if (reason > 0) f.trace_reason = TRACE_REASON[reason]!;
      // At from-endpoint the packet has not met conntrack yet: whether it is a reply is unknown.
      if (obs !== OBS_FROM_ENDPOINT) f.is_reply = isReply === 1;
      const proxyPort = u16be(buf, base + PROXY_PORT);
      if (proxyPort) f.proxy_port = proxyPort;
      emit(f);
      return 1;
    }

    const verdictByte = buf[base + VERDICT]!;
    const policyDecided = reason === 0 || reason === 133 || reason === 181 || verdictByte === VERDICT_AUDIT;
    // The policies that decided, and which of the four fields names them.
    let policies: FlowPolicy[] | undefined;
    let policyLog: readonly string[] | undefined;
    let field: PolicyField = 'ingress_allowed_by';
    const makesVerdictFlow = type === EVENT_POLICY_VERDICT || policyDecided;
    if (makesVerdictFlow) {
      const denied = verdictByte === VERDICT_DROPPED || verdictByte === VERDICT_AUDIT;
      const cookie = u32le(buf, base + COOKIE);
      const found = cookie !== 0 ? cache.policies(cookie) : denied ? cache.defaultDenyPolicies(u16le(buf, base + EP_ID), ingress) : undefined;
      if (found !== undefined && found.length > 0) {
        policies = found;
        field = ingress ? (denied ? 'ingress_denied_by' : 'ingress_allowed_by') : denied ? 'egress_denied_by' : 'egress_allowed_by';
        // A default-deny drop has no rule, so no log value either.
        if (cookie !== 0) policyLog = cache.policyLog(cookie);
      }
    }

    const proxyPort = u16be(buf, base + PROXY_PORT);
    let n = 0;
    if (makesVerdictFlow) {
      const verdict: Verdict = verdictByte === VERDICT_FORWARDED ? 'FORWARDED' : verdictByte === VERDICT_AUDIT ? 'AUDIT'
        : verdictByte === VERDICT_REDIRECTED ? 'REDIRECTED' : 'DROPPED';
      const f = this.flow(verdict);
      if (verdict === 'DROPPED') {
        f.drop_reason = reason;
        f.drop_reason_desc = DROP_REASON_NAME[reason]!;
      }
      f.event_type = POLICY_VERDICT_EVENT_TYPE;
      f.policy_match_type = buf[base + MATCH_TYPE]!;
      if (verdict !== 'DROPPED') f.is_reply = false;
      if (policies !== undefined) f[field] = policies;
      if (policyLog !== undefined) f.policy_log = policyLog;
      if (proxyPort) f.proxy_port = proxyPort;
      emit(f);
      n++;
    }
    if (type === EVENT_DROP) {
      const f = this.flow('DROPPED');
      f.drop_reason = reason;
      f.drop_reason_desc = DROP_REASON_NAME[reason]!;
      f.event_type = DROP_EVENT_TYPE[reason]!;
      if (policies !== undefined) f[field] = policies;
      if (policyLog !== undefined) f.policy_log = policyLog;
      if (proxyPort) f.proxy_port = proxyPort;
      emit(f);
      n++;
    }
    return n;
  }

  /** A flow of the current event with the fields every kind has, in the reference's key order. */
  private flow(verdict: Verdict): Flow {
    const f: Flow = this.l4 !== undefined
      ? {
        time: this.time, uuid: nextFlowUuid(), verdict, IP: this.ip, source: this.source, destination: this.destination, Type: 'L3_L4',
        node_name: this.ctx.nodeName, traffic_direction: this.direction, interface: this.iface, Summary: this.summary, l4: this.l4,
      } as Flow
      : {
        time: this.time, uuid: nextFlowUuid(), verdict, IP: this.ip, source: this.source, destination: this.destination, Type: 'L3_L4',
        node_name: this.ctx.nodeName, traffic_direction: this.direction, interface: this.iface, Summary: this.summary,
      } as Flow;
    if (this.service !== undefined) {
      // A reply's trace names the service it answers for; everything else the service it was addressed to.
      if (this.serviceIsSource) f.source_service = this.service;
      else f.destination_service = this.service;
    }
    return f;
  }

  private interfaceOf(index: number): { index: number } {
    let i = this.interfaces.get(index);
    if (i === undefined) {
      if (this.interfaces.size >= MAX_INTERFACES) this.interfaces.clear();
      i = { index };
      this.interfaces.set(index, i);
    }
    return i;
  }
}
