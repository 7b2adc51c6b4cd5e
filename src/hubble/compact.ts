/**
 * The text formats of `hubble observe`: compact (below), dict and table.
 * The compact one-line flow format:
 *   <time>: <src> (<identity>) <arrow> <dst> (<identity>) <summary> <VERDICT> (<details>)
 * A side prints as Hubble prints it: `ns/pod:port`, else the service
 * (`ns/svc:port`, e.g. the VIP of a service without backends), else the IP.
 * A connection translated by the load balancer also says which service and
 * address it was addressed to, after the pair:
 *   ... -> default/deathstar-6fb5694d48-5hmds:80 (ID:256) via default/deathstar (10.96.0.12:80) policy-verdict:...
 */
import { dropDescription, type Flow, type FlowEndpoint, type FlowService } from './flow.js';
import { layer7Of } from './l7-flow.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const RESERVED: Record<number, string> = {
  0: 'unknown', 1: 'host', 2: 'world', 3: 'unmanaged', 4: 'health', 5: 'init', 6: 'remote-node', 7: 'kube-apiserver', 8: 'ingress',
  9: 'world-ipv4', 10: 'world-ipv6',
};
const MATCH: Record<number, string> = { 0: 'none', 1: 'L3-Only', 2: 'L3-L4', 3: 'L4-Only', 4: 'all', 5: 'L3-Proto', 6: 'Proto-Only' };

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Go's StampMilli ("Jan _2 15:04:05.000"), in local time. */
export function stampMilli(iso: string): string {
  const d = new Date(iso);
  return `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** `--time-format` values, Go layout names as Hubble takes them. */
export const TIME_FORMATS = ['StampMilli', 'RFC3339', 'RFC3339Milli', 'RFC3339Micro', 'RFC3339Nano', 'RFC1123Z'];

/** A flow time in one of TIME_FORMATS, local time as Go prints it (flow times carry milliseconds). */
export function formatTime(iso: string, format = 'StampMilli'): string {
  if (format === 'StampMilli') return stampMilli(iso);
  const d = new Date(iso);
  const off = -d.getTimezoneOffset();
  // Go's Z07:00 prints Z at UTC; -0700 always prints the offset.
  const zone = (colon: boolean) => (off === 0 && colon ? 'Z'
    : `${off < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(off) / 60))}${colon ? ':' : ''}${pad(Math.abs(off) % 60)}`);
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const ms = pad(d.getMilliseconds(), 3);
  switch (format) {
    case 'RFC3339': return `${date}T${time}${zone(true)}`;
    case 'RFC3339Milli': return `${date}T${time}.${ms}${zone(true)}`;
    case 'RFC3339Micro': return `${date}T${time}.${ms}000${zone(true)}`;
    // Go's Nano layout drops trailing zeros, and the dot with them.
    case 'RFC3339Nano': { const frac = ms.replace(/0+$/, ''); return `${date}T${time}${frac ? `.${frac}` : ''}${zone(true)}`; }
    case 'RFC1123Z': return `${WEEKDAYS[d.getDay()]}, ${pad(d.getDate())} ${MONTHS[d.getMonth()]} ${d.getFullYear()} ${time} ${zone(false)}`;
    default: throw new Error(`unknown time format ${format}`);
  }
}

function ports(f: Flow): [number | undefined, number | undefined] {
  const l4 = f.l4?.TCP ?? f.l4?.UDP ?? f.l4?.SCTP;
  return l4 ? [l4.source_port, l4.destination_port] : [undefined, undefined];
}

/** A side as Hubble names it: `ns/pod:port`, else the service, else the IP. */
function address(ep: FlowEndpoint, ip: string, port: number | undefined, service?: FlowService): string {
  const host = ep.pod_name ? `${ep.namespace}/${ep.pod_name}` : service ? `${service.namespace}/${service.name}` : ip;
  return port !== undefined ? `${host}:${port}` : host;
}

function side(ep: FlowEndpoint, ip: string, port: number | undefined, service?: FlowService): string {
  const id = RESERVED[ep.identity] ?? `ID:${ep.identity}`;
  return `${address(ep, ip, port, service)} (${id})`;
}

const TRACE_POINT_NAMES = [
  'to-endpoint', 'to-proxy', 'to-host', 'to-stack', 'to-overlay', 'from-endpoint', 'from-proxy',
  'from-host', 'from-stack', 'from-overlay', 'from-network', 'to-network', 'from-crypto', 'to-crypto',
];

/** An L7 flow's type as Hubble names it: `<protocol>-<request|response>`, e.g. `http-request`. */
function l7TypeName(f: Flow): string {
  const l7 = layer7Of(f);
  if (!l7) return 'l7';
  return `${l7.http ? 'http' : 'l7'}-${l7.type.toLowerCase()}`;
}

/** What the flow is, as Hubble's TYPE column: `policy-verdict:L3-L4 INGRESS`, `Policy denied`, `to-endpoint`, `http-request`. */
export function flowTypeName(f: Flow): string {
  if (f.Type === 'L7') return l7TypeName(f);
  switch (f.event_type.type) {
    case 5: return `policy-verdict:${matchTypeName(f.policy_match_type)} ${f.traffic_direction === 'INGRESS' ? 'INGRESS' : 'EGRESS'}`;
    case 1: return dropDescription(f);
    case 4: return TRACE_POINT_NAMES[f.event_type.sub_type ?? 0] ?? (f.trace_observation_point ?? 'trace').toLowerCase().replace(/_/g, '-');
    default: return 'trace';
  }
}

/** The compact verdict: a policy verdict reads ALLOWED / DENIED / AUDITED, anything else its verdict's name. */
function verdictWord(f: Flow): string {
  if (f.event_type.type !== 5) return f.verdict;
  if (f.verdict === 'FORWARDED' || f.verdict === 'REDIRECTED') return 'ALLOWED';
  if (f.verdict === 'AUDIT') return 'AUDITED';
  return 'DENIED';
}

/** ` via default/deathstar (10.96.0.12:80)` for a translated connection, else "". */
function via(f: Flow): string {
  const original = f.IP.destination_original;
  if (original === undefined) return '';
  const port = (f.l4?.TCP ?? f.l4?.UDP ?? f.l4?.SCTP)?.destination_port_original;
  const addr = port !== undefined ? `${original}:${port}` : original;
  const svc = f.destination_service;
  return svc ? ` via ${svc.namespace}/${svc.name} (${addr})` : ` via ${addr}`;
}

export function matchTypeName(n: number | undefined): string {
  return MATCH[n ?? 0] ?? 'none';
}

/**
 * `--print-policy-names`: each deciding policy as `Kind:namespace/name`,
 * followed by `:<rule path>` when a rule decided (`CiliumNetworkPolicy:default/rule1:spec.ingress[0]`;
 * a default-deny drop names policies only), comma-separated. No spaces, so
 * the compact line still splits into fields on them.
 */
function policyNames(f: Flow): string {
  const list = [...(f.ingress_denied_by ?? []), ...(f.egress_denied_by ?? []), ...(f.ingress_allowed_by ?? []), ...(f.egress_allowed_by ?? [])];
  return list.map((p) => `${p.kind}:${p.namespace ? `${p.namespace}/` : ''}${p.name}${p.rule ? `:${p.rule}` : ''}`).join(',');
}

export interface CompactOptions {
  printPolicyNames?: boolean;
  printNodeName?: boolean;
  /** One of TIME_FORMATS; StampMilli by default. */
  timeFormat?: string;
}

export function formatCompact(f: Flow, opts: CompactOptions = {}): string {
  const [sport, dport] = ports(f);
  const arrow = f.is_reply === undefined ? '<>' : f.is_reply ? '<-' : '->';
  const what = `${flowTypeName(f)} ${verdictWord(f)}`;
  const node = opts.printNodeName ? ` [${f.node_name}]` : '';
  const names = opts.printPolicyNames ? policyNames(f) : '';
  const src = side(f.source, f.IP.source, sport);
  const dst = side(f.destination, f.IP.destination, dport, f.destination_service);
  // A reply reads from the connection's initiator, as Hubble prints it: "client <- server".
  const pair = f.is_reply ? `${dst} ${arrow} ${src}` : `${src} ${arrow} ${dst}`;
  return `${formatTime(f.time, opts.timeFormat)}${node}: ${pair}${via(f)} ${what}${names ? ` [${names}]` : ''} (${f.Summary})`;
}

function sourceAndDestination(f: Flow): [string, string] {
  const [sport, dport] = ports(f);
  return [address(f.source, f.IP.source, sport), address(f.destination, f.IP.destination, dport, f.destination_service)];
}

/** `-o dict`: one `KEY: value` line per field, keys right-aligned as Hubble's; the caller separates flows with `------------`. */
export function formatDict(f: Flow, opts: CompactOptions = {}): string {
  const [src, dst] = sourceAndDestination(f);
  const rows: [string, string][] = [
    ['TIMESTAMP', formatTime(f.time, opts.timeFormat)],
    ...(opts.printNodeName ? [['NODE', f.node_name] as [string, string]] : []),
    ['SOURCE', src], ['DESTINATION', dst], ['TYPE', flowTypeName(f)], ['VERDICT', f.verdict], ['SUMMARY', f.Summary],
    ...(opts.printPolicyNames && policyNames(f) ? [['POLICIES', policyNames(f)] as [string, string]] : []),
  ];
  return rows.map(([k, v]) => `${k.padStart(11)}: ${v}`).join('\n');
}

/** `-o table`'s header: TIMESTAMP [NODE] SOURCE DESTINATION TYPE VERDICT SUMMARY. */
export function tableHeader(opts: CompactOptions = {}): string[] {
  return ['TIMESTAMP', ...(opts.printNodeName ? ['NODE'] : []), 'SOURCE', 'DESTINATION', 'TYPE', 'VERDICT', 'SUMMARY'];
}

/** One flow's `-o table` cells, in tableHeader's order. */
export function tableRow(f: Flow, opts: CompactOptions = {}): string[] {
  const [src, dst] = sourceAndDestination(f);
  return [formatTime(f.time, opts.timeFormat), ...(opts.printNodeName ? [f.node_name] : []), src, dst, flowTypeName(f), f.verdict, f.Summary];
}

/**
 * Rows as Go's tabwriter lays out Hubble's table (padding 3, spaces): every
 * column but the last is padded to its widest cell plus 3. `widths` fixes
 * the column widths (when rows print before all are known).
 */
export function formatTableRows(rows: string[][], widths?: number[]): string {
  const w = widths ?? rows.reduce<number[]>((acc, r) => r.map((c, i) => Math.max(acc[i] ?? 0, c.length)), []);
  return rows.map((r) => r.map((c, i) => (i < r.length - 1 ? c.padEnd((w[i] ?? 0) + 3) : c)).join('') + '\n').join('');
}
