/**
 * `flow.FlowFilter` messages of a GetFlows request turned into membrane's
 * FlowFilter (src/hubble/filter.ts), which has Hubble's semantics. Pure.
 *
 * A filter field membrane cannot evaluate yet (DNS queries, trace ids,
 * ...) is refused with the field's path rather than
 * ignored: ignoring it would hand the client flows it asked to exclude, or
 * hide the ones it asked for.
 */
import { ValidationError } from '../../common/errors.js';
import type { FlowFilter } from '../filter.js';

/** A decoded FlowFilter (proto-loader with keepCase, enums as names, arrays). */
export interface ProtoFlowFilter {
  [field: string]: unknown;
  source_pod?: string[]; destination_pod?: string[];
  source_ip?: string[]; destination_ip?: string[];
  source_identity?: number[]; destination_identity?: number[];
  source_label?: string[]; destination_label?: string[];
  verdict?: (string | number)[];
  drop_reason_desc?: (string | number)[];
  traffic_direction?: (string | number)[];
  event_type?: { type?: number; match_sub_type?: boolean; sub_type?: number }[];
  protocol?: string[];
  source_port?: string[]; destination_port?: string[];
  node_name?: string[];
  source_service?: string[]; destination_service?: string[];
  uuid?: string[]; reply?: boolean[]; ip_version?: (string | number)[];
  tcp_flags?: Record<string, boolean>[];
  source_workload?: { kind?: string; name?: string }[]; destination_workload?: { kind?: string; name?: string }[];
  http_status_code?: string[]; http_method?: string[]; http_path?: string[];
  source_fqdn?: string[]; destination_fqdn?: string[];
}

const STRING_FIELDS = [
  'source_pod', 'destination_pod', 'source_ip', 'destination_ip', 'source_label', 'destination_label',
  'protocol', 'source_port', 'destination_port', 'node_name', 'verdict', 'drop_reason_desc', 'traffic_direction',
  'source_service', 'destination_service', 'uuid', 'ip_version', 'source_fqdn', 'destination_fqdn',
  'http_status_code', 'http_method', 'http_path',
] as const;
const NUMBER_FIELDS = ['source_identity', 'destination_identity'] as const;
const SUPPORTED = new Set<string>([...STRING_FIELDS, ...NUMBER_FIELDS, 'event_type', 'reply', 'tcp_flags', 'source_workload', 'destination_workload']);

function present(v: unknown): boolean {
  return Array.isArray(v) ? v.length > 0 : v !== undefined && v !== null;
}

/** One proto FlowFilter as membrane's; `path` names it in errors (e.g. `whitelist[0]`). */
export function filterFromProto(pf: ProtoFlowFilter, path: string): FlowFilter {
  const unsupported = Object.keys(pf).filter((k) => !SUPPORTED.has(k) && present(pf[k]));
  if (unsupported.length > 0) {
    throw new ValidationError(`${path}.${unsupported[0]}`,
      `membrane does not filter on ${unsupported.join(', ')} yet; supported: ${[...SUPPORTED].join(', ')}`);
  }
  const out: FlowFilter = {};
  for (const k of STRING_FIELDS) {
    const v = pf[k];
    // Enum fields arrive as names; a number (an enum value the loader did not know) cannot match a known name.
    if (v && v.length > 0) out[k] = v.map(String);
  }
  for (const k of NUMBER_FIELDS) {
    const v = pf[k];
    if (v && v.length > 0) out[k] = v.map(Number);
  }
  if (pf.event_type && pf.event_type.length > 0) {
    out.event_type = pf.event_type.map((t) => ({ type: t.type ?? 0, ...(t.match_sub_type ? { sub_type: t.sub_type ?? 0 } : {}) }));
  }
  (out.http_path ?? []).forEach((r, i) => {
    try { new RegExp(r); } catch { throw new ValidationError(`${path}.http_path[${i}]`, `"${r}" is not a valid regular expression`); }
  });
  if (pf.reply && pf.reply.length > 0) out.reply = pf.reply.map(Boolean);
  // proto3 TCPFlags decode with every flag present (false when unset): keep the set ones.
  if (pf.tcp_flags && pf.tcp_flags.length > 0) out.tcp_flags = pf.tcp_flags.map((t) => Object.fromEntries(Object.entries(t).filter(([, on]) => on)));
  for (const k of ['source_workload', 'destination_workload'] as const) {
    const v = pf[k];
    if (v && v.length > 0) out[k] = v.map((w) => ({ ...(w.kind ? { kind: w.kind } : {}), ...(w.name ? { name: w.name } : {}) }));
  }
  return out;
}

/** A GetFlows request's whitelist or blacklist; undefined when empty. */
export function filtersFromProto(list: ProtoFlowFilter[] | undefined, field: string): FlowFilter[] | undefined {
  if (!list || list.length === 0) return undefined;
  return list.map((f, i) => filterFromProto(f, `${field}[${i}]`));
}
