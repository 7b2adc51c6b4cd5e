/** `membrane observe`: recent and live flows, filtered and printed like `hubble observe`. */
import { isIP } from 'node:net';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { type CompactOptions, TIME_FORMATS, formatCompact, formatDict, formatTableRows, tableHeader, tableRow } from '../hubble/compact.js';
import { type FlowFilter, HTTP_STATUS, TCP_FLAG_KEYS, parseFlowFilters } from '../hubble/filter.js';
import type { Flow, TcpFlags } from '../hubble/flow.js';
import { reservedIdentityByName } from '../identity/reserved.js';
import { MembraneError } from '../common/errors.js';
import type { AgentClient } from '../api/client.js';
import { flowsOfStream } from '../hubble/flowlog-read.js';
import { selectFlows } from '../hubble/history.js';
import type { FlowSelection } from '../hubble/grpc/select.js';

const VERDICTS = ['FORWARDED', 'DROPPED', 'AUDIT', 'REDIRECTED', 'ERROR', 'TRACED', 'TRANSLATED'];
/** Monitor message types by `--type` name (the order is the help's). */
const TYPES: Record<string, number> = { drop: 1, trace: 4, 'policy-verdict': 5, l7: 129, capture: 3, 'trace-sock': 7 };
/** Trace observation points by name: the `trace` sub-types. */
const TRACE_POINTS: Record<string, number> = {
  'to-endpoint': 0, 'to-proxy': 1, 'to-host': 2, 'to-stack': 3, 'to-overlay': 4, 'from-endpoint': 5, 'from-proxy': 6,
  'from-host': 7, 'from-stack': 8, 'from-overlay': 9, 'from-network': 10, 'to-network': 11, 'from-crypto': 12, 'to-crypto': 13,
};
const OUTPUTS = ['compact', 'dict', 'json', 'jsonpb', 'table'];

/** Options as commander hands them over (camelCase of the long flag names). */
export interface ObserveOptions {
  output?: string;
  [option: string]: unknown;
}

/** One filter flag as given on the command line, in order: `--not` applies to the flag after it. */
export interface FilterFlag { flag: string; value?: string }

export interface FilterSet { whitelist: FlowFilter[]; blacklist: FlowFilter[] }

const bad = (flag: string, value: string, why: string) => new MembraneError('EINVAL', `--${flag}: "${value}" ${why}`);

// ---- value parsers: flag text -> the values a FlowFilter field lists ----

type Parse = (value: string, flag: string) => unknown[];
const asIs: Parse = (v) => [v];
const namespacePrefix: Parse = (v) => [`${v}/`];
const port: Parse = (v, flag) => {
  if (!/^\d+$/.test(v) || Number(v) > 65535) throw bad(flag, v, 'is not a number from 0 to 65535');
  return [String(Number(v))];
};
const identity: Parse = (v, flag) => {
  const reserved = reservedIdentityByName(v);
  if (reserved) return [reserved.id];
  if (!/^\d+$/.test(v)) throw bad(flag, v, 'is not a number nor a reserved identity (host, world, ...)');
  return [Number(v)];
};
const ipOrCidr: Parse = (v, flag) => {
  const [ip, len, ...rest] = v.split('/');
  const cidrOk = len === undefined || (/^\d+$/.test(len) && Number(len) <= (isIP(ip!) === 6 ? 128 : 32));
  if (isIP(ip!) === 0 || !cidrOk || rest.length > 0) throw bad(flag, v, 'is not an IP address or CIDR');
  return [v];
};
const upperOneOf = (allowed: string[]): Parse => (v, flag) => {
  if (!allowed.includes(v.toUpperCase())) throw bad(flag, v, `is not one of ${allowed.join(', ')}`);
  return [v.toUpperCase()];
};
const workload: Parse = (v, flag) => {
  // "kind/name", or a name alone (any kind), as Hubble's --workload.
  const slash = v.indexOf('/');
  const [kind, name] = slash < 0 ? ['', v] : [v.slice(0, slash), v.slice(slash + 1)];
  if (!name && !kind) throw bad(flag, v, 'is not a workload: give NAME or KIND/NAME');
  return [{ ...(kind ? { kind } : {}), ...(name ? { name } : {}) }];
};
const tcpFlags: Parse = (v, flag) => {
  // Comma-separated flags must all be set; repeating the flag accepts any of the sets.
  const set: TcpFlags & { NS?: boolean } = {};
  for (const name of v.split(',').map((s) => s.trim().toUpperCase())) {
    if (!(TCP_FLAG_KEYS as readonly string[]).includes(name)) throw bad(flag, v, `names "${name}", not one of ${TCP_FLAG_KEYS.join(', ')}`);
    set[name as keyof typeof set] = true;
  }
  return [set];
};
const ipVersion: Parse = (v, flag) => {
  const named: Record<string, string> = { '4': 'IPv4', v4: 'IPv4', ipv4: 'IPv4', '6': 'IPv6', v6: 'IPv6', ipv6: 'IPv6' };
  const version = named[v.toLowerCase()];
  if (!version) throw bad(flag, v, 'is not 4 or 6 (v4, ipv4, v6, ipv6)');
  return [version];
};
const fixed = (value: unknown): Parse => () => [value];
const boolean: Parse = (v, flag) => {
  if (v !== 'true' && v !== 'false') throw bad(flag, v, 'is not true or false');
  return [v === 'true'];
};
const eventType: Parse = (v, flag) => {
  const [name, sub, ...rest] = v.split(':');
  const type = TYPES[name!];
  if (type === undefined || rest.length > 0) throw bad(flag, v, `is not one of ${Object.keys(TYPES).join(', ')} (TYPE[:SUBTYPE])`);
  if (sub === undefined) return [{ type }];
  if (type === TYPES['trace'] && TRACE_POINTS[sub] !== undefined) return [{ type, sub_type: TRACE_POINTS[sub] }];
  if (!/^\d+$/.test(sub)) throw bad(flag, v, `: the sub-type "${sub}" is not a number${type === TYPES['trace'] ? ` nor one of ${Object.keys(TRACE_POINTS).join(', ')}` : ''}`);
  return [{ type, sub_type: Number(sub) }];
};
const httpStatus: Parse = (v, flag) => {
  if (!HTTP_STATUS.test(v)) throw bad(flag, v, 'is not an HTTP status like 200 or a prefix like 5+ or 40+');
  return [v];
};
const regex: Parse = (v, flag) => {
  try { new RegExp(v); } catch { throw bad(flag, v, 'is not a valid regular expression'); }
  return [v];
};

// ---- the filter flags ----

/**
 * An `either` flag (--pod, --ip, ...) constrains the source side of the
 * first filter and the destination side of a second one; a `field` flag
 * holds in every filter. `group` names flags that fill one field together
 * (-4, -6 and --ip-version) and so may be combined.
 */
type FlagSpec =
  | { either: [keyof FlowFilter, keyof FlowFilter]; parse: Parse; help: string; arg?: string }
  | { field: keyof FlowFilter; parse: Parse; help: string; arg?: string; group?: string };

/** Hubble's filter flags (cilium-semantics.md §6.4), each with its FlowFilter field(s). */
export const FILTER_FLAGS: Record<string, FlagSpec> = {
  'pod': { either: ['source_pod', 'destination_pod'], parse: asIs, arg: '<[ns/]pod>', help: 'either side is this pod (name prefix; namespace default)' },
  'from-pod': { field: 'source_pod', parse: asIs, arg: '<[ns/]pod>', help: 'source pod' },
  'to-pod': { field: 'destination_pod', parse: asIs, arg: '<[ns/]pod>', help: 'destination pod' },
  'namespace': { either: ['source_pod', 'destination_pod'], parse: namespacePrefix, arg: '<ns>', help: 'either side is in this namespace' },
  'from-namespace': { field: 'source_pod', parse: namespacePrefix, arg: '<ns>', help: 'source namespace' },
  'to-namespace': { field: 'destination_pod', parse: namespacePrefix, arg: '<ns>', help: 'destination namespace' },
  'label': { either: ['source_label', 'destination_label'], parse: asIs, arg: '<selector>', help: 'either side has these labels (k=v,k2)' },
  'from-label': { field: 'source_label', parse: asIs, arg: '<selector>', help: 'source labels' },
  'to-label': { field: 'destination_label', parse: asIs, arg: '<selector>', help: 'destination labels' },
  'ip': { either: ['source_ip', 'destination_ip'], parse: ipOrCidr, arg: '<ip|cidr>', help: 'either side\'s address' },
  'from-ip': { field: 'source_ip', parse: ipOrCidr, arg: '<ip|cidr>', help: 'source address' },
  'to-ip': { field: 'destination_ip', parse: ipOrCidr, arg: '<ip|cidr>', help: 'destination address' },
  'identity': { either: ['source_identity', 'destination_identity'], parse: identity, arg: '<id|name>', help: 'either side\'s identity (number or reserved name)' },
  'from-identity': { field: 'source_identity', parse: identity, arg: '<id|name>', help: 'source identity' },
  'to-identity': { field: 'destination_identity', parse: identity, arg: '<id|name>', help: 'destination identity' },
  'port': { either: ['source_port', 'destination_port'], parse: port, arg: '<port>', help: 'either side\'s port' },
  'from-port': { field: 'source_port', parse: port, arg: '<port>', help: 'source port' },
  'to-port': { field: 'destination_port', parse: port, arg: '<port>', help: 'destination port' },
  'service': { either: ['source_service', 'destination_service'], parse: asIs, arg: '<[ns/]svc>', help: 'either side is this service (name prefix; namespace default)' },
  'from-service': { field: 'source_service', parse: asIs, arg: '<[ns/]svc>', help: 'the flow comes back from this service' },
  'to-service': { field: 'destination_service', parse: asIs, arg: '<[ns/]svc>', help: 'the flow was addressed to this service' },
  'workload': { either: ['source_workload', 'destination_workload'], parse: workload, arg: '<[kind/]name>', help: 'either side belongs to this workload' },
  'from-workload': { field: 'source_workload', parse: workload, arg: '<[kind/]name>', help: 'source workload' },
  'to-workload': { field: 'destination_workload', parse: workload, arg: '<[kind/]name>', help: 'destination workload' },
  'fqdn': { either: ['source_fqdn', 'destination_fqdn'], parse: asIs, arg: '<name>', help: 'either side\'s DNS name (* wildcard); L7/DNS flows come with the proxy' },
  'from-fqdn': { field: 'source_fqdn', parse: asIs, arg: '<name>', help: 'source DNS name' },
  'to-fqdn': { field: 'destination_fqdn', parse: asIs, arg: '<name>', help: 'destination DNS name' },
  'protocol': { field: 'protocol', parse: asIs, arg: '<proto>', help: 'tcp, udp, sctp, icmp' },
  'tcp-flags': { field: 'tcp_flags', parse: tcpFlags, arg: '<flags>', help: 'SYN,ACK: all of these set; repeat the flag for any of the sets' },
  'ipv4': { field: 'ip_version', parse: fixed('IPv4'), group: 'ip-version', help: 'IPv4 flows only' },
  'ipv6': { field: 'ip_version', parse: fixed('IPv6'), group: 'ip-version', help: 'IPv6 flows only' },
  'ip-version': { field: 'ip_version', parse: ipVersion, group: 'ip-version', arg: '<4|6>', help: 'flows of this IP version' },
  'verdict': { field: 'verdict', parse: upperOneOf(VERDICTS), arg: '<verdict>', help: VERDICTS.join(', ') },
  'drop-reason-desc': { field: 'drop_reason_desc', parse: (v) => [v.toUpperCase()], arg: '<reason>', help: 'e.g. POLICY_DENIED, POLICY_DENY' },
  'traffic-direction': { field: 'traffic_direction', parse: upperOneOf(['INGRESS', 'EGRESS']), arg: '<dir>', help: 'ingress or egress' },
  'type': { field: 'event_type', parse: eventType, arg: '<type>', help: `${Object.keys(TYPES).join(', ')} (TYPE[:SUBTYPE]; trace sub-types by name, e.g. trace:to-endpoint)` },
  'reply': { field: 'reply', parse: boolean, arg: '[true|false]', help: 'replies only (false: flows known not to be replies)' },
  'uuid': { field: 'uuid', parse: asIs, arg: '<uuid>', help: 'the flow with this uuid' },
  'node-name': { field: 'node_name', parse: asIs, arg: '<name>', help: 'flows of this node' },
  'http-status': { field: 'http_status_code', parse: httpStatus, arg: '<code>', help: 'HTTP status (200, or a prefix 5+); L7 flows come with the proxy' },
  'http-method': { field: 'http_method', parse: asIs, arg: '<method>', help: 'HTTP method' },
  'http-path': { field: 'http_path', parse: regex, arg: '<regex>', help: 'HTTP path (regular expression)' },
  'http-url': { field: 'http_url', parse: regex, arg: '<regex>', help: 'HTTP URL (regular expression)' },
};

const camel = (flag: string) => flag.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());

/** Hubble's pair of filters for one list (whitelist or blacklist). */
class FilterPair {
  private readonly left: FlowFilter = {};
  private readonly right: FlowFilter = {};
  private readonly setBy = new Map<string, string>();
  private eitherUsed = false;

  add(flag: string, spec: FlagSpec, values: unknown[]): void {
    if ('either' in spec) {
      this.eitherUsed = true;
      this.set(this.left, 'l', spec.either[0], values, flag, flag);
      this.set(this.right, 'r', spec.either[1], values, flag, flag);
    } else {
      this.set(this.left, 'l', spec.field, values, flag, spec.group ?? flag);
      this.set(this.right, 'r', spec.field, values, flag, spec.group ?? flag);
    }
  }

  filters(): FlowFilter[] {
    return (this.eitherUsed ? [this.left, this.right] : [this.left]).filter((f) => Object.keys(f).length > 0);
  }

  /** A field filled by two different flags is refused, as Hubble refuses `--pod` with `--from-pod`. */
  private set(f: FlowFilter, sideKey: string, field: keyof FlowFilter, values: unknown[], flag: string, group: string): void {
    const key = `${sideKey}:${field}`;
    const prev = this.setBy.get(key);
    if (prev !== undefined && prev !== group) throw new MembraneError('EINVAL', `filters --${prev} and --${flag} cannot be combined`);
    this.setBy.set(key, group);
    const target = f as Record<string, unknown[]>;
    target[field] = [...(target[field] ?? []), ...values];
  }
}

/**
 * Filter flags, in command-line order, -> Hubble's whitelist and blacklist:
 * `--not` sends the one flag after it to the blacklist, which is built the
 * same way (so `--not --pod x` drops flows from or to x). Throws EINVAL
 * naming the flag on a bad value, a conflict, or a dangling `--not`.
 */
export function buildFilterSet(flags: FilterFlag[]): FilterSet {
  const allow = new FilterPair();
  const deny = new FilterPair();
  let negate = false;
  for (const { flag, value } of flags) {
    if (flag === 'not') {
      if (negate) throw new MembraneError('EINVAL', '--not: given twice in a row; it negates the one filter flag after it');
      negate = true;
      continue;
    }
    const spec = FILTER_FLAGS[flag];
    if (!spec) throw new MembraneError('EINVAL', `--${flag}: not a filter flag`);
    const text = value ?? (flag === 'reply' ? 'true' : '');
    (negate ? deny : allow).add(flag, spec, spec.parse(text, flag));
    negate = false;
  }
  if (negate) throw new MembraneError('EINVAL', '--not: must be followed by the filter flag it negates, e.g. --not --verdict FORWARDED');
  return { whitelist: allow.filters(), blacklist: deny.filters() };
}

/** The filter flags of parsed options, in the table's order (commander's values lose the command-line order). */
export function filterFlagsFromOptions(o: ObserveOptions): FilterFlag[] {
  const out: FilterFlag[] = [];
  for (const flag of Object.keys(FILTER_FLAGS)) {
    const v = o[camel(flag)];
    if (v === undefined || v === false) continue;
    for (const one of Array.isArray(v) ? v : [v]) out.push(typeof one === 'string' ? { flag, value: one } : { flag });
  }
  return out;
}

/** The whitelist of parsed options (no `--not`: that needs the command-line order). */
export function buildFilters(o: ObserveOptions): FlowFilter[] {
  return buildFilterSet(filterFlagsFromOptions(o)).whitelist;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration ago ("30s", "5m", "1h30m", Go style) or an absolute time (RFC 3339) -> ISO string. */
export function parseTime(text: string, flag: string): string {
  if (/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(text)) {
    let ms = 0;
    for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) ms += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    return new Date(Date.now() - ms).toISOString();
  }
  // Only full dates: a bare number ("5") is a mistake, not the year 2001.
  const t = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(t)) throw new MembraneError('EINVAL', `${flag}: "${text}" is neither a duration like 30s, 5m or 1h30m nor a time like 2026-01-02T15:04:05Z`);
  return new Date(t).toISOString();
}

/** `--allowlist` / `--denylist`: raw FlowFilter JSON, one filter per flag, validated like the API validates it. */
export function rawFilters(texts: string[] | undefined, flag: string): FlowFilter[] {
  return (texts ?? []).map((text, i) => {
    let parsed: unknown;
    try { parsed = JSON.parse(text); } catch (err) { throw new MembraneError('EINVAL', `--${flag}: "${text}" is not JSON (a FlowFilter object)`, { cause: err }); }
    try { return parseFlowFilters([parsed], `--${flag}`)[0]!; } catch (err) {
      throw new MembraneError('EINVAL', `${(err as Error).message}${texts!.length > 1 ? ` (the ${i + 1}th --${flag})` : ''}`, { cause: err });
    }
  });
}

/** What `--print-raw-filters` prints: the lists as Hubble names them, one JSON filter per entry. */
export function formatRawFilters(set: FilterSet): string {
  return toYaml({ allowlist: set.whitelist.map((f) => JSON.stringify(f)), denylist: set.blacklist.map((f) => JSON.stringify(f)) });
}

/**
 * `-o table` aligns columns across rows, so rows are held until the end.
 * While following there is no end: each row prints at once, with widths
 * that only grow (a wider cell shifts later rows, never earlier ones).
 */
class TablePrinter {
  private readonly rows: string[][] = [];
  private widths: number[];
  private started = false;
  constructor(private readonly header: string[], private readonly streaming: boolean, private readonly write: (s: string) => void) {
    this.widths = header.map((h) => h.length);
  }

  add(row: string[]): void {
    if (!this.streaming) { this.rows.push(row); return; }
    this.widths = this.widths.map((w, i) => Math.max(w, row[i]?.length ?? 0));
    this.write(formatTableRows(this.started ? [row] : [this.header, row], this.widths));
    this.started = true;
  }

  end(): void {
    if (!this.streaming && this.rows.length > 0) this.write(formatTableRows([this.header, ...this.rows]));
  }
}

const FILTER_OPTION_NAMES = new Set(['not', ...Object.keys(FILTER_FLAGS)]);

export function registerObserveCommand(program: Command, client: () => Promise<AgentClient>): void {
  const cmd = program
    .command('observe')
    .description('show flows: the datapath\'s verdicts, like `hubble observe`')
    .option('--last <n>', 'the last N flows (default 20)')
    .option('--first <n>', 'the first N flows in the ring')
    .option('--all', 'every flow in the ring')
    .option('-f, --follow', 'keep following new flows')
    .option('--since <time>', 'flows since a time or a duration ago (30s, 5m)')
    .option('--until <time>', 'flows until a time or a duration ago')
    .option('--not', 'negate the next filter flag (its filter goes to the denylist)');
  const short: Record<string, string> = { namespace: '-n, ', label: '-l, ', type: '-t, ', ipv4: '-4, ', ipv6: '-6, ' };
  for (const [flag, spec] of Object.entries(FILTER_FLAGS)) {
    cmd.option(`${short[flag] ?? ''}--${flag}${spec.arg ? ` ${spec.arg}` : ''}`, spec.help);
  }
  // Commander keeps values per option; `--not` needs the command-line order, so record it as the options parse.
  const given: FilterFlag[] = [];
  for (const name of FILTER_OPTION_NAMES) {
    cmd.on(`option:${name}`, (value: unknown) => given.push(typeof value === 'string' ? { flag: name, value } : { flag: name }));
  }
  cmd
    .option('--allowlist <json>', 'a raw FlowFilter (JSON) to allow; repeatable', (v: string, prev: string[] = []) => [...prev, v])
    .option('--denylist <json>', 'a raw FlowFilter (JSON) to deny; repeatable', (v: string, prev: string[] = []) => [...prev, v])
    .option('--print-raw-filters', 'print the filters that would be sent, and exit')
    .option('-o, --output <format>', OUTPUTS.join(', '), 'compact')
    .option('--time-format <format>', TIME_FORMATS.join(', '), 'StampMilli')
    .option('--print-policy-names', 'name the policies and rules that allowed or denied each flow (Kind:namespace/name:rule-path)')
    .option('--print-node-name', 'print the node name')
    .option('--input-file <file>', 'read flows from a file instead of the agent: a flow log (--hubble-export-file-path), Hubble exporter or `-o json` output, or flow JSON lines; "-" for stdin')
    .action(async (o: ObserveOptions & { allowlist?: string[]; denylist?: string[]; output: string; timeFormat: string }) => {
      if (!OUTPUTS.includes(o.output)) throw new MembraneError('EINVAL', `--output: "${o.output}" is not one of ${OUTPUTS.join(', ')}`);
      if (!TIME_FORMATS.includes(o.timeFormat)) throw new MembraneError('EINVAL', `--time-format: "${o.timeFormat}" is not one of ${TIME_FORMATS.join(', ')}`);
      const set = buildFilterSet(given);
      set.whitelist.push(...rawFilters(o.allowlist, 'allowlist'));
      set.blacklist.push(...rawFilters(o.denylist, 'denylist'));
      if (o['printRawFilters']) { process.stdout.write(formatRawFilters(set)); return; }
      const opts: CompactOptions = { printPolicyNames: !!o['printPolicyNames'], printNodeName: !!o['printNodeName'], timeFormat: o.timeFormat };
      const write = (s: string) => { process.stdout.write(s); };
      const table = new TablePrinter(tableHeader(opts), !!o['follow'], write);
      let n = 0;
      const print = (obj: unknown) => {
        const f = obj as Flow;
        if (o.output === 'json' || o.output === 'jsonpb') write(JSON.stringify({ flow: f, node_name: f.node_name, time: f.time }) + '\n');
        else if (o.output === 'dict') write(`${n++ > 0 ? '------------\n' : ''}${formatDict(f, opts)}\n`);
        else if (o.output === 'table') table.add(tableRow(f, opts));
        else write(formatCompact(f, opts) + '\n');
      };
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once('SIGINT', stop);
      try {
        if (typeof o['inputFile'] === 'string') await printInputFile(o['inputFile'], inputSelection(o, set), print);
        else await (await client()).stream(`/v1/flows?${flowQuery(o, set)}`, print, ac.signal);
      } finally {
        process.off('SIGINT', stop);
        table.end();
      }
    });
}

/** The agent's /v1/flows query for the selection flags and the filters. */
export function flowQuery(o: ObserveOptions, set: FilterSet): URLSearchParams {
  const params = new URLSearchParams();
  if (set.whitelist.length) params.set('whitelist', JSON.stringify(set.whitelist));
  if (set.blacklist.length) params.set('blacklist', JSON.stringify(set.blacklist));
  const count = (flag: string, v: unknown) => {
    if (typeof v !== 'string' || !/^\d+$/.test(v)) throw new MembraneError('EINVAL', `--${flag}: "${String(v)}" is not a number`);
    return v;
  };
  const { all, first, last, follow, since, until } = o;
  if (all) params.set('number', '0');
  else if (first !== undefined) { params.set('number', count('first', first)); params.set('first', 'true'); }
  else if (last !== undefined) params.set('number', count('last', last));
  // As hubble: a time range without a count is every flow in it; following
  // without a count starts with the newest flow, then streams new ones.
  else params.set('number', since !== undefined || until !== undefined ? '0' : follow ? '1' : '20');
  if (typeof since === 'string') params.set('since', parseTime(since, '--since'));
  if (typeof until === 'string') params.set('until', parseTime(until, '--until'));
  if (follow) params.set('follow', 'true');
  return params;
}

const count = (flag: string, v: unknown): number => {
  if (typeof v !== 'string' || !/^\d+$/.test(v)) throw new MembraneError('EINVAL', `--${flag}: "${String(v)}" is not a number`);
  return Number(v);
};

/**
 * The selection flags and the filters as applied to an --input-file: as the
 * agent applies them to its flows, but a file has an end, so `--follow`
 * prints every flow as it is read (stdin, a growing pipe) and counts come
 * from the whole file.
 */
export function inputSelection(o: ObserveOptions, set: FilterSet): FlowSelection {
  const { all, first, last, follow, since, until } = o;
  const s: FlowSelection = { number: 0, first: false, follow: false };
  if (all) s.number = 0;
  else if (first !== undefined) { s.number = count('first', first); s.first = true; }
  else if (last !== undefined) s.number = count('last', last);
  else if (since === undefined && until === undefined && !follow) s.number = 20;
  if (typeof since === 'string') s.sinceMs = Date.parse(parseTime(since, '--since'));
  if (typeof until === 'string') s.untilMs = Date.parse(parseTime(until, '--until'));
  if (set.whitelist.length) s.whitelist = set.whitelist;
  if (set.blacklist.length) s.blacklist = set.blacklist;
  return s;
}

/** Reads a flow file ("-": stdin) line by line and prints the selected flows; `--last N` keeps only N in memory. */
export async function printInputFile(file: string, sel: FlowSelection, print: (f: Flow) => void): Promise<void> {
  let input: Readable;
  let close = async () => {};
  if (file === '-') input = process.stdin;
  else {
    const handle = await open(file, 'r').catch((cause: NodeJS.ErrnoException) => {
      throw new MembraneError('EINVAL', `--input-file: cannot read "${file}" (${cause.code ?? cause.message})`, { cause });
    });
    input = handle.createReadStream({ autoClose: false });
    close = () => handle.close();
  }
  try {
    for await (const f of selectFlows(flowsOfStream(input), sel)) print(f);
  } finally {
    await close();
  }
}
