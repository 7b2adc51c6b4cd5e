/**
 * Label values of membrane's metrics, as Cilium and Hubble spell them, and
 * always from a bounded set: a label value never carries an address, an id
 * or any other per-connection value, so the number of series stays fixed
 * however much traffic passes. Pure: no I/O.
 */
import { EVENT_DROP, EVENT_POLICY_VERDICT, EVENT_TRACE } from '../datapath/layout.js';
import { REASONS, reasonDescription } from '../datapath/reasons.js';
import { matchTypeName } from '../hubble/compact.js';
import type { Flow } from '../hubble/flow.js';

/** `membrane_drop_count_total{reason}` as Cilium's `cilium_drop_count_total`: the description ("Policy denied"). Codes come from a fixed-size map, so the set is bounded. */
export function datapathReasonLabel(code: number): string {
  return reasonDescription(code);
}

/** `direction` of the datapath counters, upper case as Cilium's metrics map reports it. */
export function datapathDirectionLabel(direction: 'ingress' | 'egress'): 'INGRESS' | 'EGRESS' {
  return direction === 'ingress' ? 'INGRESS' : 'EGRESS';
}

const HUBBLE_DROP_REASONS = new Set([...REASONS.values()].map((r) => r.hubble));

/** `hubble_drop_total{reason}`: Hubble's DropReason enum name (POLICY_DENIED); a name outside membrane's reason table becomes DROP_REASON_UNKNOWN. */
export function hubbleDropReasonLabel(flow: Flow): string {
  const name = flow.drop_reason_desc;
  return name !== undefined && HUBBLE_DROP_REASONS.has(name) ? name : 'DROP_REASON_UNKNOWN';
}

/** Hubble's FlowProtocol: the L7 protocol when there is one, else the L4 one, else "Unknown flow". */
export function flowProtocolLabel(flow: Flow): string {
  const l4 = flow.l4;
  if (l4?.TCP) return 'TCP';
  if (l4?.UDP) return 'UDP';
  if (l4?.ICMPv4) return 'ICMPv4';
  if (l4?.SCTP) return 'SCTP';
  return 'Unknown flow';
}

/** Hubble's trace observation point names (monitor API), the subtype of Trace flows. */
const TRACE_POINTS = new Set([
  'to-endpoint', 'to-proxy', 'to-host', 'to-stack', 'to-overlay', 'to-network', 'to-crypto',
  'from-endpoint', 'from-proxy', 'from-host', 'from-stack', 'from-overlay', 'from-network', 'from-crypto',
]);

/**
 * `hubble_flows_processed_total{type, subtype, verdict}` as Hubble's flow
 * metric names them: type by event type (Drop, Trace, PolicyVerdict, L7),
 * subtype the trace observation point for traces ("to-endpoint"), else "".
 */
export function flowProcessedLabels(flow: Flow): { type: string; subtype: string; verdict: string } {
  let type: string;
  let subtype = '';
  if (flow.Type === 'L7') type = 'L7';
  else {
    switch (flow.event_type.type) {
      case EVENT_DROP: type = 'Drop'; break;
      case EVENT_POLICY_VERDICT: type = 'PolicyVerdict'; break;
      case EVENT_TRACE: {
        type = 'Trace';
        // Flows carry the proto enum name (TO_ENDPOINT); Hubble's label is the monitor's name (to-endpoint).
        const point = (flow.trace_observation_point ?? '').toLowerCase().replace(/_/g, '-');
        subtype = TRACE_POINTS.has(point) ? point : 'unknown';
        break;
      }
      default: type = 'Unknown'; subtype = boundedEventType(flow.event_type.type);
    }
  }
  return { type, subtype, verdict: verdictLabel(flow.verdict) };
}

function boundedEventType(t: number): string {
  return Number.isInteger(t) && t >= 0 && t <= 255 ? String(t) : 'other';
}

const VERDICTS = new Set(['VERDICT_UNKNOWN', 'FORWARDED', 'DROPPED', 'ERROR', 'AUDIT', 'REDIRECTED', 'TRACED', 'TRANSLATED']);
function verdictLabel(v: string): string {
  return VERDICTS.has(v) ? v : 'VERDICT_UNKNOWN';
}

/**
 * `hubble_policy_verdicts_total{direction, match, action}` for a
 * policy-verdict flow, lower case as Hubble's policy metric has them
 * ("ingress", "l3-l4", "forwarded"); undefined for any other flow.
 */
export function policyVerdictLabels(flow: Flow): { direction: string; match: string; action: string } | undefined {
  if (flow.event_type.type !== EVENT_POLICY_VERDICT) return undefined;
  return {
    direction: flow.traffic_direction.toLowerCase(),
    match: matchTypeName(flow.policy_match_type).toLowerCase(),
    action: verdictLabel(flow.verdict).toLowerCase(),
  };
}

/**
 * `hubble_tcp_flags_total{flag, family}` increments of one flow, as Hubble's
 * tcp metric counts them: forwarded (or redirected) TCP flows only, flags
 * FIN, SYN, SYN-ACK and RST.
 */
export function tcpFlagLabels(flow: Flow): { flag: string; family: string }[] {
  if (flow.verdict !== 'FORWARDED' && flow.verdict !== 'REDIRECTED') return [];
  const flags = flow.l4?.TCP?.flags;
  if (!flags) return [];
  const family = flow.IP.ipVersion;
  const out: { flag: string; family: string }[] = [];
  if (flags.FIN) out.push({ flag: 'FIN', family });
  if (flags.SYN) out.push({ flag: flags.ACK ? 'SYN-ACK' : 'SYN', family });
  if (flags.RST) out.push({ flag: 'RST', family });
  return out;
}

/** The port label given to ports beyond the bound (see PortLabels). */
export const OTHER_PORT = 'other';

/**
 * Bounds `hubble_port_distribution_total{port}`. A port below
 * `ephemeralStart` (32768, where Linux's default ephemeral range begins:
 * what lies above is a client's random port, not a service) keeps its number
 * until `maxPorts` distinct ports have been seen; every other port is
 * "other". Hubble itself does not bound this label; membrane does so that a
 * port scan cannot blow up the series count.
 */
export class PortLabels {
  private readonly seen = new Set<number>();

  constructor(readonly maxPorts = 1024, readonly ephemeralStart = 32768) {}

  label(port: number): string {
    if (!Number.isInteger(port) || port < 0 || port >= this.ephemeralStart) return OTHER_PORT;
    if (this.seen.has(port)) return String(port);
    if (this.seen.size >= this.maxPorts) return OTHER_PORT;
    this.seen.add(port);
    return String(port);
  }
}

/**
 * `hubble_port_distribution_total{protocol, port}` of one flow, as Hubble's
 * port-distribution metric: forwarded flows that are not replies, by
 * destination port (ICMP: port "0"); undefined for flows not counted.
 */
export function portDistributionLabels(flow: Flow, ports: PortLabels): { protocol: string; port: string } | undefined {
  if (flow.verdict !== 'FORWARDED' || flow.is_reply === true || !flow.l4) return undefined;
  const l4 = flow.l4.TCP ?? flow.l4.UDP ?? flow.l4.SCTP;
  return { protocol: flowProtocolLabel(flow), port: l4 ? ports.label(l4.destination_port) : '0' };
}

const API_METHODS = new Set(['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD']);

/**
 * `membrane_agent_api_process_time_seconds{method, path, return_code}`: the
 * path is the route's template (/v1/endpoints/{id}), never the raw path, and
 * a request no route matched is "unmatched", so ids and names never become
 * label values.
 */
export function apiRequestLabels(method: string | undefined, routeTemplate: string | undefined, status: number): { method: string; path: string; return_code: string } {
  const m = (method ?? '').toUpperCase();
  return {
    method: API_METHODS.has(m) ? m : 'OTHER',
    path: routeTemplate ?? 'unmatched',
    return_code: Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : 'other',
  };
}
