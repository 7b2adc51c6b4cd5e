/**
 * Flow filters with Hubble's FlowFilter semantics: a flow passes when it
 * matches any whitelist filter (or there is none) and no blacklist filter.
 * Within one filter every field given must match; within one field, any
 * listed value may.
 *
 * Two implementations of the same semantics: `flowMatches`/`flowPasses`
 * read the filter for each flow (the reference, and for one-off checks);
 * `compileFlowFilters` reads it once into a predicate, for followers and
 * exporters that test every flow of the pipeline. filter.test.ts runs every
 * case through both.
 */
import { z } from 'zod';
import { ValidationError } from '../common/errors.js';
import type { Flow, TcpFlags } from './flow.js';

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
  /** Flow uuids, exactly. */
  uuid?: string[];
  /** Each entry lists flags that must all be set (more may be); any entry may match. */
  tcp_flags?: TcpFlags[];
  /** `true`: replies; `false`: flows known not to be replies. A flow whose direction is unknown matches neither. */
  reply?: boolean[];
  /** 'IPv4' or 'IPv6' (the proto enum names). */
  ip_version?: string[];
  /** Workloads of an endpoint ({kind, name}; an empty or absent member matches any). */
  source_workload?: WorkloadFilter[];
  destination_workload?: WorkloadFilter[];
  /**
   * DNS names of a side (`*` matches one label's characters, as Hubble's
   * FQDN filter does) and the HTTP fields of an L7 flow. Flows carry no DNS
   * names or L7 records yet, so these match nothing until the proxy fills
   * them; they are evaluated, never ignored.
   */
  source_fqdn?: string[];
  destination_fqdn?: string[];
  /** "200" exactly, or a prefix such as "5+" / "40+". */
  http_status_code?: string[];
  http_method?: string[];
  /** Regular expressions, unanchored, as Hubble's. */
  http_path?: string[];
  http_url?: string[];
}

export interface WorkloadFilter { kind?: string; name?: string }

/** What the L7/DNS filters read; not on Flow until the L7 proxy fills it (field names as Hubble's). */
interface L7View {
  source_names?: string[];
  destination_names?: string[];
  l7?: { http?: { code?: number; method?: string; url?: string } };
}

export const TCP_FLAG_KEYS = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR', 'NS'] as const;
/** "200", or a status prefix "5+" / "40+". */
export const HTTP_STATUS = /^(\d{3}|\d{1,2}\+)$/;

const strings = z.array(z.string());
const workloads = z.array(z.object({ kind: z.string(), name: z.string() }).partial().strict());
const regexSource = z.string().refine((s) => { try { new RegExp(s); return true; } catch { return false; } }, 'not a valid regular expression');
const numbers = z.array(z.number().int().nonnegative());
const flowFilterSchema = z.object({
  source_pod: strings, destination_pod: strings, source_ip: strings, destination_ip: strings,
  source_identity: numbers, destination_identity: numbers, source_label: strings, destination_label: strings,
  verdict: strings, drop_reason_desc: strings, traffic_direction: strings, protocol: strings,
  source_port: strings, destination_port: strings, node_name: strings, source_service: strings, destination_service: strings,
  event_type: z.array(z.object({ type: z.number().int(), sub_type: z.number().int().optional() }).strict()),
  uuid: strings,
  tcp_flags: z.array(z.object(Object.fromEntries(TCP_FLAG_KEYS.map((k) => [k, z.boolean()]))).partial().strict()),
  reply: z.array(z.boolean()),
  ip_version: z.array(z.enum(['IPv4', 'IPv6'])),
  source_workload: workloads, destination_workload: workloads,
  source_fqdn: strings, destination_fqdn: strings,
  http_status_code: z.array(z.string().regex(HTTP_STATUS, 'an HTTP status is "200" or a prefix like "5+"')),
  http_method: strings,
  http_path: z.array(regexSource), http_url: z.array(regexSource),
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

const addressInt = (s: string) => s.split('.').reduce((a, o) => a * 256 + Number(o), 0) >>> 0;

/** A CIDR's mask and masked base, as inCidr compares them. */
function cidrParts(cidr: string): { mask: number; base: number } {
  const [base, lenText] = cidr.split('/');
  const len = Number(lenText);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return { mask, base: (addressInt(base!) & mask) >>> 0 };
}

function inCidr(ip: string, cidr: string): boolean {
  const { mask, base } = cidrParts(cidr);
  return ((addressInt(ip) & mask) >>> 0) === base;
}

/** One requirement of a label selector: "key=value" or "key", with or without a source ("k8s:", "any:"). */
interface LabelRequirement { key: string; value: string | undefined; anySource: string | undefined }
/** A label as requirements compare it: key without source, key with source, value. */
interface LabelParts { key: string; full: string; value: string }

/** Each selector: comma-separated requirements, all of which must hold. */
function labelSelectors(selectors: string[]): LabelRequirement[][] {
  return selectors.map((sel) => sel.split(',').map((s) => s.trim()).filter(Boolean).map((req) => {
    const [key, value] = req.includes('=') ? req.split('=', 2) as [string, string] : [req, undefined];
    return { key: key!, value, anySource: key!.startsWith('any:') ? key!.slice(4) : undefined };
  }));
}

function labelParts(l: string): LabelParts {
  const colon = l.indexOf(':');
  const bare = colon >= 0 ? l.slice(colon + 1) : l;
  const [key, value] = bare.includes('=') ? [bare.slice(0, bare.indexOf('=')), bare.slice(bare.indexOf('=') + 1)] : [bare, ''];
  return { key, full: colon >= 0 ? `${l.slice(0, colon)}:${key}` : key, value };
}

function requirementMet(req: LabelRequirement, l: LabelParts): boolean {
  return (l.key === req.key || l.full === req.key || l.key === req.anySource) && (req.value === undefined || l.value === req.value);
}

function labelMatches(selectors: string[], labels: string[] | undefined): boolean {
  const have = (labels ?? []).map(labelParts);
  return labelSelectors(selectors).some((reqs) => reqs.every((req) => have.some((l) => requirementMet(req, l))));
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

function tcpFlagsMatch(wanted: TcpFlags[], f: Flow): boolean {
  const have = (f.l4?.TCP?.flags ?? {}) as Record<string, boolean | undefined>;
  if (!f.l4?.TCP) return false;
  return wanted.some((w) => Object.entries(w).every(([k, on]) => !on || have[k] === true));
}

function workloadMatches(wanted: WorkloadFilter[], have: { name: string; kind: string }[] | undefined): boolean {
  return (have ?? []).some((w) => wanted.some((x) => (!x.kind || x.kind === w.kind) && (!x.name || x.name === w.name)));
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Hubble's FQDN pattern: anchored, case-insensitive, `*` within a label. */
function fqdnMatches(patterns: string[], names: string[] | undefined): boolean {
  if (!names?.length) return false;
  return patterns.some((p) => {
    const body = p.replace(/\.$/, '').split('*').map(escapeRegExp).join('[-a-zA-Z0-9_]*');
    const re = new RegExp(`^${body}\\.?$`, 'i');
    return names.some((n) => re.test(n));
  });
}

function httpStatusMatches(wanted: string[], code: number | undefined): boolean {
  if (code === undefined) return false;
  const text = String(code);
  return wanted.some((w) => (w.endsWith('+') ? text.startsWith(w.slice(0, -1)) : text === w));
}

function l7Matches(filter: FlowFilter, f: Flow & L7View): boolean {
  const http = f.l7?.http;
  if (filter.source_fqdn && !fqdnMatches(filter.source_fqdn, f.source_names)) return false;
  if (filter.destination_fqdn && !fqdnMatches(filter.destination_fqdn, f.destination_names)) return false;
  if (filter.http_status_code && !httpStatusMatches(filter.http_status_code, http?.code)) return false;
  if (filter.http_method && !(http?.method && filter.http_method.some((m) => m.toUpperCase() === http.method!.toUpperCase()))) return false;
  let path: string | undefined;
  try { path = http?.url ? new URL(http.url, 'http://x').pathname : undefined; } catch { path = undefined; }
  if (filter.http_path && !(path !== undefined && filter.http_path.some((r) => new RegExp(r).test(path!)))) return false;
  if (filter.http_url && !(http?.url && filter.http_url.some((r) => new RegExp(r).test(http.url!)))) return false;
  return true;
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
  if (filter.uuid && !filter.uuid.includes(f.uuid)) return false;
  if (filter.tcp_flags && !tcpFlagsMatch(filter.tcp_flags, f)) return false;
  if (filter.reply && (f.is_reply === undefined || !filter.reply.includes(f.is_reply))) return false;
  if (filter.ip_version && !filter.ip_version.includes(f.IP.ipVersion)) return false;
  if (filter.source_workload && !workloadMatches(filter.source_workload, f.source.workloads)) return false;
  if (filter.destination_workload && !workloadMatches(filter.destination_workload, f.destination.workloads)) return false;
  return l7Matches(filter, f);
}

export function flowPasses(f: Flow, whitelist: FlowFilter[] | undefined, blacklist: FlowFilter[] | undefined): boolean {
  if (whitelist && whitelist.length > 0 && !whitelist.some((w) => flowMatches(f, w))) return false;
  if (blacklist && blacklist.some((b) => flowMatches(f, b))) return false;
  return true;
}

// ---- compiled filters ----

/** A compiled filter list: whether a flow passes. */
export type FlowPredicate = (f: Flow) => boolean;

/** flowPasses(f, whitelist, blacklist) for every flow, with the filters read once. */
export function compileFlowFilters(whitelist: FlowFilter[] | undefined, blacklist: FlowFilter[] | undefined): FlowPredicate {
  const allow = whitelist && whitelist.length > 0 ? whitelist.map(compileFlowFilter) : undefined;
  const deny = (blacklist ?? []).map(compileFlowFilter);
  if (!allow && deny.length === 0) return () => true;
  return (f) => {
    if (allow) {
      let any = false;
      for (let i = 0; i < allow.length && !any; i++) any = allow[i]!(f);
      if (!any) return false;
    }
    for (let i = 0; i < deny.length; i++) if (deny[i]!(f)) return false;
    return true;
  };
}

/** flowMatches(f, filter) for every flow, with the filter read once. */
export function compileFlowFilter(filter: FlowFilter): FlowPredicate {
  const checks: FlowPredicate[] = [];
  const add = <T>(values: T | undefined, make: (v: T) => FlowPredicate) => { if (values !== undefined) checks.push(make(values)); };
  add(filter.source_pod, (p) => { const m = podMatcher(p); return (f) => m(f.source.namespace, f.source.pod_name); });
  add(filter.destination_pod, (p) => { const m = podMatcher(p); return (f) => m(f.destination.namespace, f.destination.pod_name); });
  add(filter.source_ip, (p) => { const m = ipMatcher(p); return (f) => m(f.IP.source); });
  add(filter.destination_ip, (p) => { const m = ipMatcher(p); return (f) => m(f.IP.destination); });
  add(filter.source_identity, (ids) => { const s = new Set(ids); return (f) => s.has(f.source.identity); });
  add(filter.destination_identity, (ids) => { const s = new Set(ids); return (f) => s.has(f.destination.identity); });
  add(filter.source_label, (sel) => { const m = labelMatcher(sel); return (f) => m(f.source.labels); });
  add(filter.destination_label, (sel) => { const m = labelMatcher(sel); return (f) => m(f.destination.labels); });
  add(filter.verdict, (v) => { const s = new Set<string>(v); return (f) => s.has(f.verdict); });
  add(filter.drop_reason_desc, (v) => { const s = new Set(v); return (f) => s.has(f.drop_reason_desc ?? ''); });
  add(filter.event_type, (types) => (f) => types.some((t) => t.type === f.event_type.type && (t.sub_type === undefined || t.sub_type === f.event_type.sub_type)));
  add(filter.traffic_direction, (v) => { const s = new Set<string>(v); return (f) => s.has(f.traffic_direction); });
  add(filter.protocol, (v) => { const s = new Set(v.map((p) => p.toLowerCase().replace(/^icmp$/, 'icmpv4'))); return (f) => s.has(protocolOf(f)); });
  add(filter.source_port, (v) => { const m = portMatcher(v); return (f) => m(portsOf(f)[0]); });
  add(filter.destination_port, (v) => { const m = portMatcher(v); return (f) => m(portsOf(f)[1]); });
  add(filter.node_name, (v) => { const s = new Set(v); return (f) => s.has(f.node_name); });
  add(filter.source_service, (p) => { const m = podMatcher(p); return (f) => m(f.source_service?.namespace, f.source_service?.name); });
  add(filter.destination_service, (p) => { const m = podMatcher(p); return (f) => m(f.destination_service?.namespace, f.destination_service?.name); });
  add(filter.uuid, (v) => { const s = new Set(v); return (f) => s.has(f.uuid); });
  add(filter.tcp_flags, (wanted) => {
    const sets = wanted.map((w) => Object.entries(w).filter(([, on]) => on).map(([k]) => k));
    return (f) => {
      const have = f.l4?.TCP?.flags as Record<string, boolean | undefined> | undefined;
      if (!f.l4?.TCP) return false;
      return sets.some((keys) => keys.every((k) => have?.[k] === true));
    };
  });
  add(filter.reply, (v) => { const s = new Set(v); return (f) => f.is_reply !== undefined && s.has(f.is_reply); });
  add(filter.ip_version, (v) => { const s = new Set(v); return (f) => s.has(f.IP.ipVersion); });
  add(filter.source_workload, (w) => (f) => workloadMatches(w, f.source.workloads));
  add(filter.destination_workload, (w) => (f) => workloadMatches(w, f.destination.workloads));
  if (filter.source_fqdn || filter.destination_fqdn || filter.http_status_code || filter.http_method || filter.http_path || filter.http_url) {
    checks.push((f) => l7Matches(filter, f));
  }
  if (checks.length === 0) return () => true;
  return (f) => {
    for (let i = 0; i < checks.length; i++) if (!checks[i]!(f)) return false;
    return true;
  };
}

function podMatcher(patterns: string[]): (ns: string | undefined, pod: string | undefined) => boolean {
  const parsed = patterns.map((p) => {
    const slash = p.indexOf('/');
    return slash < 0 ? { ns: 'default', prefix: p } : { ns: p.slice(0, slash), prefix: p.slice(slash + 1) };
  });
  return (ns, pod) => {
    if (!pod) return false;
    for (const p of parsed) if (ns === p.ns && pod.startsWith(p.prefix)) return true;
    return false;
  };
}

/** Memoized per address string: a follower sees the same few thousand addresses over and over. */
function ipMatcher(patterns: string[]): (ip: string) => boolean {
  const exact = new Set(patterns);
  const cidrs = patterns.filter((p) => p.includes('/')).map(cidrParts);
  if (cidrs.length === 0) return (ip) => exact.has(ip);
  const seen = new Map<string, boolean>();
  return (ip) => {
    let hit = seen.get(ip);
    if (hit === undefined) {
      const n = addressInt(ip);
      hit = exact.has(ip) || cidrs.some((c) => ((n & c.mask) >>> 0) === c.base);
      if (seen.size >= 4096) seen.clear();
      seen.set(ip, hit);
    }
    return hit;
  };
}

/**
 * Memoized per label list and per label string: the pipeline's flows share
 * one label list per identity (flow-builder.ts), and flows are never
 * modified, so a list's answer holds for as long as the list lives.
 */
function labelMatcher(selectors: string[]): (labels: string[] | undefined) => boolean {
  const compiled = labelSelectors(selectors);
  const answers = new Map<string[], boolean>();
  const parts = new Map<string, LabelParts>();
  const partsOf = (l: string) => {
    let p = parts.get(l);
    if (p === undefined) {
      if (parts.size >= 4096) parts.clear();
      p = labelParts(l);
      parts.set(l, p);
    }
    return p;
  };
  const answer = (have: string[]) => compiled.some((reqs) => reqs.every((req) => {
    for (let i = 0; i < have.length; i++) if (requirementMet(req, partsOf(have[i]!))) return true;
    return false;
  }));
  const none = answer([]);
  return (labels) => {
    if (labels === undefined) return none;
    let hit = answers.get(labels);
    if (hit === undefined) {
      if (answers.size >= 4096) answers.clear();
      hit = answer(labels);
      answers.set(labels, hit);
    }
    return hit;
  };
}

/** `ports.includes(String(port))`, without making the string: a port number matches the entries that are its canonical text. */
function portMatcher(ports: string[]): (port: number | undefined) => boolean {
  const numbers = new Set(ports.filter((p) => String(Number(p)) === p).map(Number));
  const undefinedMatches = ports.includes('undefined');
  return (port) => (port === undefined ? undefinedMatches : numbers.has(port));
}
