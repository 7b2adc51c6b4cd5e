/**
 * The flow pipeline's decoder of flow_event records: the same result as
 * `flowEvent.decode` (src/datapath/layout.ts), field for field, but with the
 * offsets resolved once and the record built in one literal, so every
 * record has the same shape. The generic codec walks its field table and
 * spreads the result per record, which costs more than the rest of the
 * pipeline together (docs/benchmarks.md, "Flow pipeline"). The pipeline
 * itself reads the buffer directly (flow-builder.ts, through
 * `flowEventOffsets`); this decoder is the reference it is tested against.
 */
import { type FieldKind, type FlowEventRecord, flowEventLayout, intToIp4 } from '../datapath/layout.js';

/** The offset of a field of flow_event, checked against the kind this decoder reads it as. */
function offset(name: string, kind: FieldKind): number {
  const f = flowEventLayout.fields.find((x) => x.name === name);
  if (!f || f.kind !== kind) throw new Error(`flow_event.${name}: the fast decoder reads it as ${kind}, the layout says ${f?.kind ?? 'absent'}`);
  return f.offset;
}

const TS = offset('tsNs', 'u64');
const SADDR = offset('saddr', 'be32');
const DADDR = offset('daddr', 'be32');
const SPORT = offset('sport', 'be16');
const DPORT = offset('dport', 'be16');
const SRC_ID = offset('srcIdentity', 'u32');
const DST_ID = offset('dstIdentity', 'u32');
const COOKIE = offset('cookie', 'u32');
const IFINDEX = offset('ifindex', 'u32');
const LEN = offset('len', 'u32');
const EP_ID = offset('epId', 'u16');
const PROTO = offset('proto', 'u8');
const TYPE = offset('type', 'u8');
const VERDICT = offset('verdict', 'u8');
const REASON = offset('reason', 'u8');
const DIR = offset('dir', 'u8');
const TCP_FLAGS = offset('tcpFlags', 'u8');
const IS_REPLY = offset('isReply', 'u8');
const MATCH_TYPE = offset('matchType', 'u8');
const OBS_POINT = offset('obsPoint', 'u8');
const ICMP_TYPE = offset('icmpType', 'u8');
const ORIG_DADDR = offset('origDaddr', 'be32');
const ORIG_DPORT = offset('origDport', 'be16');
const SVC_ID = offset('svcId', 'u16');
const PROXY_PORT = offset('proxyPort', 'be16');
{
  const read = new Set(['tsNs', 'saddr', 'daddr', 'sport', 'dport', 'srcIdentity', 'dstIdentity', 'cookie', 'ifindex', 'len', 'epId', 'proto', 'type',
    'verdict', 'reason', 'dir', 'tcpFlags', 'isReply', 'matchType', 'obsPoint', 'icmpType', 'origDaddr', 'origDport', 'svcId', 'proxyPort', '']);
  const unread = flowEventLayout.fields.filter((f) => !read.has(f.name));
  if (unread.length > 0) throw new Error(`flow_event: the fast decoder does not read ${unread.map((f) => f.name).join(', ')}`);
}

/** Byte offsets of flow_event's fields, for readers that take fields straight from the buffer (flow-builder.ts). */
export const flowEventOffsets = {
  tsNs: TS, saddr: SADDR, daddr: DADDR, sport: SPORT, dport: DPORT, srcIdentity: SRC_ID, dstIdentity: DST_ID, cookie: COOKIE, ifindex: IFINDEX, len: LEN,
  epId: EP_ID, proto: PROTO, type: TYPE, verdict: VERDICT, reason: REASON, dir: DIR, tcpFlags: TCP_FLAGS, isReply: IS_REPLY, matchType: MATCH_TYPE,
  obsPoint: OBS_POINT, icmpType: ICMP_TYPE, origDaddr: ORIG_DADDR, origDport: ORIG_DPORT, svcId: SVC_ID, proxyPort: PROXY_PORT,
} as const;

/** One flow_event record at `base`; equal (deepEqual) to `flowEvent.decode(buf, base)`. */
export function decodeFlowEvent(buf: Buffer, base: number): FlowEventRecord {
  const orig = buf.readUInt32BE(base + ORIG_DADDR);
  const r: FlowEventRecord = {
    tsNs: buf.readUInt32LE(base + TS + 4) * 2 ** 32 + buf.readUInt32LE(base + TS),
    saddr: buf.readUInt32BE(base + SADDR),
    daddr: buf.readUInt32BE(base + DADDR),
    sport: buf.readUInt16BE(base + SPORT),
    dport: buf.readUInt16BE(base + DPORT),
    srcIdentity: buf.readUInt32LE(base + SRC_ID),
    dstIdentity: buf.readUInt32LE(base + DST_ID),
    cookie: buf.readUInt32LE(base + COOKIE),
    ifindex: buf.readUInt32LE(base + IFINDEX),
    len: buf.readUInt32LE(base + LEN),
    epId: buf.readUInt16LE(base + EP_ID),
    proto: buf[base + PROTO]!,
    type: buf[base + TYPE]!,
    verdict: buf[base + VERDICT]!,
    reason: buf[base + REASON]!,
    dir: buf[base + DIR]!,
    tcpFlags: buf[base + TCP_FLAGS]!,
    isReply: buf[base + IS_REPLY]!,
    matchType: buf[base + MATCH_TYPE]!,
    obsPoint: buf[base + OBS_POINT]!,
    icmpType: buf[base + ICMP_TYPE]!,
    origDport: buf.readUInt16BE(base + ORIG_DPORT),
    svcId: buf.readUInt16LE(base + SVC_ID),
    proxyPort: buf.readUInt16BE(base + PROXY_PORT),
  };
  if (orig !== 0) r.origDaddr = intToIp4(orig);
  return r;
}
