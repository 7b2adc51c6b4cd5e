/**
 * Flow filters with Hubble's FlowFilter semantics: a flow passes when it
 * matches any whitelist filter (or there is none) and no blacklist filter.
 * Within one filter every field given must match; within one field, any
 * listed value may.
 */
import { z } from 'zod';
import { ValidationError } from '../common/errors.js';
import type { Flow } from './flow.js';

export interface FlowFilter {
  source_pod?: string[];
  destination_pod?: string[];
  source_ip?: string[];
  destination_ip?: string[];
  source_identity?: number[];
  destination_identity?: number[];
  source_label?: string[];
  destination_label?: string[];
  verdict?: string[];
  drop_reason_desc?: string[];
  event_type?: { type: number; sub_type?: number }[];
  traffic_direction?: string[];
  protocol?: string[];
  source_port?: string[];
  destination_port?: string[];
  node_name?: string[];
  /** "ns/name" (a name prefix; a bare name is in namespace default), as for pods: the service a flow was addressed to, or comes back from. */
  source_service?: string[];
  destination_service?: string[];
}

const strings = z.array(z.string());
const numbers = z.array(z.number().int().nonnegative());
const flowFilterSchema = z.object({
  source_pod: strings, destination_pod: strings, source_ip: strings, destination_ip: strings,
  source_identity: numbers, destination_identity: numbers, source_label: strings, destination_label: strings,
  verdict: strings, drop_reason_desc: strings, traffic_direction: strings, protocol: strings,
  source_port: strings, destination_port: strings, node_name: strings, source_service: strings, destination_service: strings,
  event_type: z.array(z.object({ type: z.number().int(), sub_type: z.number().int().optional() }).strict()),
}).partial().strict();

/** Validates FlowFilters given over the API; the error names the offending field, e.g. `whitelist[0].source_identity[1]`. */
export function parseFlowFilters(value: unknown, field: string): FlowFilter[] {
  const res = z.array(flowFilterSchema).safeParse(value);
  if (res.success) return res.data as FlowFilter[];
  const issue = res.error.issues[0]!;
  const path = issue.path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : `${acc}.${String(p)}`), field);
  throw new ValidationError(path, issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}` : issue.message);
}

/** "ns/prefix" or "ns/" matches pods by namespace and name prefix; a bare name means namespace "default"... as Hubble does for `--pod`. */
function podMatches(patterns: string[], ns: string | undefined, pod: string | undefined): boolean {
  if (!pod) return false;
  return patterns.some((p) => {
    const slash = p.indexOf('/');
    const [pns, prefix] = slash < 0 ? ['default', p] : [p.slice(0, slash), p.slice(slash + 1)];
    return ns === pns && pod.startsWith(prefix);
  });
}

function ipMatches(patterns: string[], ip: string): boolean {
  return patterns.some((p) => p === ip || (p.includes('/') && inCidr(ip, p)));
}

function inCidr(ip: string, cidr: string): boolean {
  const [base, lenText] = cidr.split('/');
  const len = Number(lenText);
  const toInt = (s: string) => s.split('.').reduce((a, o) => a * 256 + Number(o), 0) >>> 0;
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return ((toInt(ip) & mask) >>> 0) === ((toInt(base!) & mask) >>> 0);
}

function labelMatches(selectors: string[], labels: string[] | undefined): boolean {
  const have = labels ?? [];
  // each selector: comma-separated "key=value" or "key" requirements, sources optional
  return selectors.some((sel) => sel.split(',').map((s) => s.trim()).filter(Boolean).every((req) => {
    const [k, v] = req.includes('=') ? req.split('=', 2) as [string, string] : [req, undefined];
    return have.some((l) => {
      const colon = l.indexOf(':');
      const bare = colon >= 0 ? l.slice(colon + 1) : l;
      const [lk, lv] = bare.includes('=') ? [bare.slice(0, bare.indexOf('=')), bare.slice(bare.indexOf('=') + 1)] : [bare, ''];
      const full = colon >= 0 ? `${l.slice(0, colon)}:${lk}` : lk;
      const anySource = k!.startsWith('any:') ? k!.slice(4) : undefined;
      return (lk === k || full === k || lk === anySource) && (v === undefined || lv === v);
    });
  }));
}

function protocolOf(f: Flow): string {
  if (f.l4?.TCP) return 'tcp';
  if (f.l4?.UDP) return 'udp';
  if (f.l4?.SCTP) return 'sctp';
  if (f.l4?.ICMPv4) return 'icmpv4';
  return '';
}

function portsOf(f: Flow): [number | undefined, number | undefined] {
  const l = f.l4?.TCP ?? f.l4?.UDP ?? f.l4?.SCTP;
  return [l?.source_port, l?.destination_port];
}

export function flowMatches(f: Flow, filter: FlowFilter): boolean {
  const [sport, dport] = portsOf(f);
  if (filter.source_pod && !podMatches(filter.source_pod, f.source.namespace, f.source.pod_name)) return false;
  if (filter.destination_pod && !podMatches(filter.destination_pod, f.destination.namespace, f.destination.pod_name)) return false;
  if (filter.source_ip && !ipMatches(filter.source_ip, f.IP.source)) return false;
  if (filter.destination_ip && !ipMatches(filter.destination_ip, f.IP.destination)) return false;
  if (filter.source_identity && !filter.source_identity.includes(f.source.identity)) return false;
  if (filter.destination_identity && !filter.destination_identity.includes(f.destination.identity)) return false;
  if (filter.source_label && !labelMatches(filter.source_label, f.source.labels)) return false;
  if (filter.destination_label && !labelMatches(filter.destination_label, f.destination.labels)) return false;
  if (filter.verdict && !filter.verdict.includes(f.verdict)) return false;
  if (filter.drop_reason_desc && !filter.drop_reason_desc.includes(f.drop_reason_desc ?? '')) return false;
  if (filter.event_type && !filter.event_type.some((t) => t.type === f.event_type.type && (t.sub_type === undefined || t.sub_type === f.event_type.sub_type))) return false;
  if (filter.traffic_direction && !filter.traffic_direction.includes(f.traffic_direction)) return false;
  if (filter.protocol && !filter.protocol.map((p) => p.toLowerCase().replace(/^icmp$/, 'icmpv4')).includes(protocolOf(f))) return false;
  if (filter.source_port && !filter.source_port.includes(String(sport))) return false;
  if (filter.destination_port && !filter.destination_port.includes(String(dport))) return false;
  if (filter.node_name && !filter.node_name.includes(f.node_name)) return false;
  if (filter.source_service && !podMatches(filter.source_service, f.source_service?.namespace, f.source_service?.name)) return false;
  if (filter.destination_service && !podMatches(filter.destination_service, f.destination_service?.namespace, f.destination_service?.name)) return false;
  return true;
}

export function flowPasses(f: Flow, whitelist: FlowFilter[] | undefined, blacklist: FlowFilter[] | undefined): boolean {
  if (whitelist && whitelist.length > 0 && !whitelist.some((w) => flowMatches(f, w))) return false;
  if (blacklist && blacklist.some((b) => flowMatches(f, b))) return false;
  return true;
}
