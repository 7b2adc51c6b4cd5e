/**
 * Codecs for the datapath's map keys, values and event records. The C
 * definitions in bpf/lib/layout.h are the source of truth; layout.test.ts
 * checks every struct here (names, offsets, sizes) against the compiled
 * object's BTF, so the two cannot drift apart.
 *
 * Field kinds: `u8/u16/u32/u64` are host-order (little-endian here);
 * `be16/be32` are network order in the kernel and plain numbers here.
 */

export type FieldKind = 'u8' | 'u16' | 'u32' | 'u64' | 'be16' | 'be32' | 'mac' | 'pad';

export interface FieldSpec {
  name: string;
  kind: FieldKind;
  offset: number;
  /** Bytes, for `pad` (arrays); implied by kind otherwise. */
  size?: number;
}

const KIND_SIZE: Record<Exclude<FieldKind, 'pad'>, number> = { u8: 1, u16: 2, u32: 4, u64: 8, be16: 2, be32: 4, mac: 6 };

export function fieldSize(f: FieldSpec): number {
  return f.kind === 'pad' ? (f.size ?? 0) : KIND_SIZE[f.kind];
}

/** Numeric fields F; MAC address fields M ("aa:bb:cc:dd:ee:ff" strings). */
export type Record_<F extends string, M extends string = never> = { [K in F]: number } & { [K in M]: string };

/** A fixed-size C struct as a codec between Buffer and a plain object. */
export class StructLayout<F extends string, M extends string = never> {
  readonly fields: readonly FieldSpec[];

  constructor(readonly name: string, readonly size: number, fields: FieldSpec[]) {
    this.fields = fields;
  }

  encode(value: Partial<Record_<F, M>>, out: Buffer = Buffer.alloc(this.size)): Buffer {
    out.fill(0, 0, this.size);
    const v = value as Record<string, number | string | undefined>;
    for (const f of this.fields) {
      if (f.kind === 'mac') {
        const text = (v[f.name] as string | undefined) ?? '00:00:00:00:00:00';
        const bytes = text.split(':').map((h) => parseInt(h, 16));
        if (bytes.length !== 6 || bytes.some((b) => !(b >= 0 && b <= 255))) throw new Error(`not a MAC address: ${text}`);
        Buffer.from(bytes).copy(out, f.offset);
        continue;
      }
      const x = (v[f.name] as number | undefined) ?? 0;
      switch (f.kind) {
        case 'u8': out.writeUInt8(x, f.offset); break;
        case 'u16': out.writeUInt16LE(x, f.offset); break;
        case 'u32': out.writeUInt32LE(x >>> 0, f.offset); break;
        case 'u64': out.writeBigUInt64LE(BigInt(x), f.offset); break;
        case 'be16': out.writeUInt16BE(x, f.offset); break;
        case 'be32': out.writeUInt32BE(x >>> 0, f.offset); break;
        case 'pad': break;
      }
    }
    return out;
  }

  decode(buf: Buffer, base = 0): Record_<F, M> {
    const r: Record<string, number | string> = {};
    for (const f of this.fields) {
      const o = base + f.offset;
      switch (f.kind) {
        case 'u8': r[f.name] = buf.readUInt8(o); break;
        case 'u16': r[f.name] = buf.readUInt16LE(o); break;
        case 'u32': r[f.name] = buf.readUInt32LE(o); break;
        case 'u64': r[f.name] = Number(buf.readBigUInt64LE(o)); break;
        case 'be16': r[f.name] = buf.readUInt16BE(o); break;
        case 'be32': r[f.name] = buf.readUInt32BE(o); break;
        case 'mac': r[f.name] = [...buf.subarray(o, o + 6)].map((b) => b.toString(16).padStart(2, '0')).join(':'); break;
        case 'pad': break;
      }
    }
    return r as Record_<F, M>;
  }
}

function layout<F extends string, M extends string = never>(name: string, size: number, fields: [F | M | '', FieldKind, number, number?][]): StructLayout<F, M> {
  return new StructLayout<F, M>(
    name,
    size,
    fields.map(([n, kind, offset, sz]) => (sz === undefined ? { name: n, kind, offset } : { name: n, kind, offset, size: sz })),
  );
}

export const endpointKey = layout<'ip4'>('endpoint_key', 4, [['ip4', 'be32', 0]]);

export const endpointInfo = layout<'ifindex' | 'identity' | 'epId' | 'flags', 'mac' | 'nodeMac'>('endpoint_info', 24, [
  ['ifindex', 'u32', 0], ['identity', 'u32', 4], ['epId', 'u16', 8], ['flags', 'u8', 10], ['', 'pad', 11, 1], ['mac', 'mac', 12], ['nodeMac', 'mac', 18],
]);

export const ipcacheKey = layout<'prefixlen' | 'ip4'>('ipcache_key', 8, [['prefixlen', 'u32', 0], ['ip4', 'be32', 4]]);

export const ipcacheValue = layout<'identity' | 'tunnelEndpoint' | 'flags'>('ipcache_value', 12, [
  ['identity', 'u32', 0], ['tunnelEndpoint', 'be32', 4], ['flags', 'u8', 8], ['', 'pad', 9, 3],
]);

export const policyKey = layout<'prefixlen' | 'identity' | 'epId' | 'egress' | 'protocol' | 'dport'>('policy_key', 16, [
  ['prefixlen', 'u32', 0], ['identity', 'be32', 4], ['epId', 'be16', 8], ['egress', 'u8', 10], ['protocol', 'u8', 11],
  ['dport', 'be16', 12], ['', 'pad', 14, 2],
]);
/** Bits of the policy key always significant: identity, endpoint, direction. */
export const POLICY_FIXED_BITS = 56;

export const policyEntry = layout<'proxyPort' | 'flags' | 'prefixLen' | 'cookie'>('policy_entry', 8, [
  ['proxyPort', 'be16', 0], ['flags', 'u8', 2], ['prefixLen', 'u8', 3], ['cookie', 'u32', 4],
]);
export const POLICY_F_DENY = 1;
export const POLICY_F_AUDIT = 2;
/** Bit of the policy key's egress byte: the key space of audited denies. */
export const POLICY_KEY_AUDIT = 2;

export const ctKey = layout<'saddr' | 'daddr' | 'sport' | 'dport' | 'proto' | 'dir'>('ct_key', 16, [
  ['saddr', 'be32', 0], ['daddr', 'be32', 4], ['sport', 'be16', 8], ['dport', 'be16', 10], ['proto', 'u8', 12], ['dir', 'u8', 13],
  ['', 'pad', 14, 2],
]);

export const ctEntry = layout<
  | 'packetsFwd' | 'bytesFwd' | 'packetsRev' | 'bytesRev' | 'expiresNs' | 'peerIdentity' | 'cookie' | 'epId' | 'tcpFlagsFwd' | 'tcpFlagsRev'
  | 'flags' | 'revNatId' | 'backendId' | 'tracedFwdS' | 'tracedRevS'
>('ct_entry', 64, [
  ['packetsFwd', 'u64', 0], ['bytesFwd', 'u64', 8], ['packetsRev', 'u64', 16], ['bytesRev', 'u64', 24], ['expiresNs', 'u64', 32],
  ['peerIdentity', 'u32', 40], ['cookie', 'u32', 44], ['epId', 'u16', 48], ['tcpFlagsFwd', 'u8', 50], ['tcpFlagsRev', 'u8', 51],
  ['flags', 'u8', 52], ['', 'pad', 53, 1], ['revNatId', 'u16', 54], ['backendId', 'u32', 56], ['tracedFwdS', 'u16', 60], ['tracedRevS', 'u16', 62],
]);
export const CT_F_CLOSING = 1;
export const CT_F_SEEN_REPLY = 2;
export const CT_F_LB_LOOPBACK = 4;
/** L7 proxy: the connection's original direction goes to the proxy (bpf/lib/proxy.h). */
export const CT_F_PROXY_REDIRECT = 8;
/** L7 proxy: the proxy opened the connection (its upstream); replies go back to the proxy. */
export const CT_F_PROXY_UPSTREAM = 16;
/** ct_key.dir of a service entry: the client's tuple towards the frontend, remembering its backend. */
export const CT_DIR_SERVICE = 4;
/** ct_key.dir of a NodePort entry: a connection from outside the node that the node's device translated. */
export const CT_DIR_NODEPORT = 8;

export const metricsValue = layout<'packets' | 'bytes'>('metrics_value', 16, [['packets', 'u64', 0], ['bytes', 'u64', 8]]);

type FlowEventField =
  | 'tsNs' | 'saddr' | 'daddr' | 'sport' | 'dport' | 'srcIdentity' | 'dstIdentity' | 'cookie' | 'ifindex' | 'len' | 'epId'
  | 'proto' | 'type' | 'verdict' | 'reason' | 'dir' | 'tcpFlags' | 'isReply' | 'matchType' | 'obsPoint' | 'icmpType'
  | 'origDaddr' | 'origDport' | 'svcId' | 'proxyPort';

/** The flow_event struct as stored; `flowEvent` is the codec callers use. */
export const flowEventLayout = layout<FlowEventField>('flow_event', 64, [
  ['tsNs', 'u64', 0], ['saddr', 'be32', 8], ['daddr', 'be32', 12], ['sport', 'be16', 16], ['dport', 'be16', 18],
  ['srcIdentity', 'u32', 20], ['dstIdentity', 'u32', 24], ['cookie', 'u32', 28], ['ifindex', 'u32', 32], ['len', 'u32', 36],
  ['epId', 'u16', 40], ['proto', 'u8', 42], ['type', 'u8', 43], ['verdict', 'u8', 44], ['reason', 'u8', 45], ['dir', 'u8', 46],
  ['tcpFlags', 'u8', 47], ['isReply', 'u8', 48], ['matchType', 'u8', 49], ['obsPoint', 'u8', 50], ['icmpType', 'u8', 51],
  ['origDaddr', 'be32', 52], ['origDport', 'be16', 56], ['svcId', 'u16', 58], ['proxyPort', 'be16', 60], ['', 'pad', 62, 2],
]);

/**
 * One flow event. Service connections carry `svcId` (the frontend's
 * reverse-NAT id; 0 = none) and the destination before DNAT: `origDaddr`
 * (dotted, undefined when there was none) and `origDport`.
 */
export type FlowEventRecord = Omit<Record_<FlowEventField>, 'origDaddr'> & { origDaddr?: string };

/** Codec of flow events (`decode(buf, offset)`, `encode(partial record)`), over flowEventLayout. */
export const flowEvent = {
  name: flowEventLayout.name,
  size: flowEventLayout.size,
  decode(buf: Buffer, base = 0): FlowEventRecord {
    const { origDaddr, ...rest } = flowEventLayout.decode(buf, base);
    return origDaddr ? { ...rest, origDaddr: intToIp4(origDaddr) } : rest;
  },
  encode(value: Partial<FlowEventRecord>, out?: Buffer): Buffer {
    const { origDaddr, ...rest } = value;
    return flowEventLayout.encode({ ...rest, origDaddr: origDaddr ? ip4ToInt(origDaddr) : 0 }, out);
  },
};

/** The `config` array's one entry: the agent's settings for the programs (trace aggregation). */
export const datapathConfig = layout<'valid' | 'traceLevel' | 'traceFlags' | 'traceIntervalS'>('datapath_config', 8, [
  ['valid', 'u8', 0], ['traceLevel', 'u8', 1], ['traceFlags', 'u8', 2], ['', 'pad', 3, 1], ['traceIntervalS', 'u32', 4],
]);
/** Trace aggregation levels (datapath_config.trace_level), as Cilium's monitor aggregation; see bpf/lib/layout.h. */
export const TRACE_LEVELS = { none: 0, low: 1, medium: 2, maximum: 3 } as const;
export type TraceLevel = keyof typeof TRACE_LEVELS;

/** Load balancing (bpf/lib/layout.h lb_*): see src/datapath/lb.ts for how they are used. */
export const lbServiceKey = layout<'vip' | 'dport' | 'slot' | 'proto'>('lb_service_key', 12, [
  ['vip', 'be32', 0], ['dport', 'be16', 4], ['slot', 'u16', 6], ['proto', 'u8', 8], ['', 'pad', 9, 3],
]);
export const lbService = layout<'backendId' | 'affinityTimeout' | 'count' | 'total' | 'revNatId' | 'flags' | 'algorithm'>('lb_service', 16, [
  ['backendId', 'u32', 0], ['affinityTimeout', 'u32', 4], ['count', 'u16', 8], ['total', 'u16', 10], ['revNatId', 'u16', 12],
  ['flags', 'u8', 14], ['algorithm', 'u8', 15],
]);
export const LB_SVC_F_AFFINITY = 16;
export const LB_ALG_RANDOM = 0;
export const LB_ALG_MAGLEV = 1;

export const lbBackend = layout<'ip' | 'port' | 'proto' | 'flags'>('lb_backend', 8, [
  ['ip', 'be32', 0], ['port', 'be16', 4], ['proto', 'u8', 6], ['flags', 'u8', 7],
]);
export const LB_BACKEND_ACTIVE = 0;
export const LB_BACKEND_TERMINATING = 1;

export const lbRevNat = layout<'vip' | 'port'>('lb_rev_nat', 8, [['vip', 'be32', 0], ['port', 'be16', 4], ['', 'pad', 6, 2]]);

export const lbAffinityKey = layout<'clientIp' | 'revNatId'>('lb_affinity_key', 8, [
  ['clientIp', 'be32', 0], ['revNatId', 'u16', 4], ['', 'pad', 6, 2],
]);
export const lbAffinity = layout<'lastUsedNs' | 'backendId'>('lb_affinity', 16, [
  ['lastUsedNs', 'u64', 0], ['backendId', 'u32', 8], ['', 'pad', 12, 4],
]);

/** Entries of a frontend's Maglev table (struct lb_maglev_table: __u32 backend_ids[LB_MAGLEV_SIZE]); a prime. */
export const LB_MAGLEV_SIZE = 1021;
/** Source address of hairpin connections (a pod reaching itself through a service), as Cilium's IPV4_LOOPBACK. */
export const LB_LOOPBACK_IP = '169.254.42.1';

/** Every layout the BTF test checks, by C struct name. */
export const ALL_LAYOUTS = [
  endpointInfo, ipcacheKey, ipcacheValue, policyKey, policyEntry, ctKey, ctEntry, metricsValue, flowEventLayout, datapathConfig,
  lbServiceKey, lbService, lbBackend, lbRevNat, lbAffinityKey, lbAffinity,
] as unknown as StructLayout<string>[];

/** Directions and other datapath constants (bpf/lib/layout.h). */
export const DIR_INGRESS = 1;
export const DIR_EGRESS = 2;
export const EVENT_DROP = 1;
export const EVENT_TRACE = 4;
export const EVENT_POLICY_VERDICT = 5;
/** Trace observation points of flow_event.obs_point, as Hubble numbers them. */
export const OBS_TO_PROXY = 1;
export const OBS_TO_STACK = 3;
export const OBS_FROM_ENDPOINT = 5;
export const OBS_TO_ENDPOINT = 101;
export const VERDICT_FORWARDED = 1;
export const VERDICT_DROPPED = 2;
export const VERDICT_AUDIT = 4;
/** A new connection handed to the L7 proxy (a policy-verdict event; its proxyPort says which). */
export const VERDICT_REDIRECTED = 5;
export const EP_F_AUDIT_INGRESS = 1;
export const EP_F_AUDIT_EGRESS = 2;
export const EP_F_AUDIT_DENIES = 4;
/**
 * Packet marks of the L7 proxy path (bpf/lib/layout.h): the datapath marks
 * what it hands to the proxy MARK_MAGIC_TO_PROXY, which the node's ip rule
 * (fwmark TO_PROXY/MASK -> table PROXY_ROUTE_TABLE: local 0.0.0.0/0 dev lo)
 * delivers locally; the proxy's upstream sockets carry SO_MARK
 * MARK_MAGIC_FROM_PROXY, which the datapath never redirects again.
 */
export const MARK_MAGIC_MASK = 0x0f00;
export const MARK_MAGIC_TO_PROXY = 0x0200;
export const MARK_MAGIC_FROM_PROXY = 0x0a00;
/** Set by the node device's from_netdev on a packet it translated to a NodePort backend (bpf/lib/layout.h). */
export const MARK_MAGIC_NODEPORT = 0x0500;
export const PROXY_ROUTE_TABLE = 2004;
export const METRICS_MAX = 1024;
export const COUNTER_EVENTS_LOST = 0;

export function metricsIndex(reason: number, dir: number): number {
  return ((reason << 2) | (dir & 3)) >>> 0;
}

export function ip4ToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${ip}`);
  let n = 0;
  for (const p of parts) {
    const b = Number(p);
    if (!Number.isInteger(b) || b < 0 || b > 255 || p === '') throw new Error(`not an IPv4 address: ${ip}`);
    n = n * 256 + b;
  }
  return n >>> 0;
}

export function intToIp4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}
