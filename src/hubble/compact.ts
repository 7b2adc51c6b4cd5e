/**
 * The compact one-line flow format of `hubble observe`:
 *   <time>: <src> (<identity>) <arrow> <dst> (<identity>) <summary> <VERDICT> (<details>)
 * A side prints as Hubble prints it: `ns/pod:port`, else the service
 * (`ns/svc:port`, e.g. the VIP of a service without backends), else the IP.
 * A connection translated by the load balancer also says which service and
 * address it was addressed to, after the pair:
 *   ... -> default/deathstar-6fb5694d48-5hmds:80 (ID:256) via default/deathstar (10.96.0.12:80) policy-verdict:...
 */
import { dropDescription, type Flow, type FlowEndpoint, type FlowService } from './flow.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const RESERVED: Record<number, string> = {
  0: 'unknown', 1: 'host', 2: 'world', 3: 'unmanaged', 4: 'health', 5: 'init', 6: 'remote-node', 7: 'kube-apiserver', 8: 'ingress',
  9: 'world-ipv4', 10: 'world-ipv6',
};
const MATCH: Record<number, string> = { 0: 'none', 1: 'L3-Only', 2: 'L3-L4', 3: 'L4-Only', 4: 'all', 5: 'L3-Proto', 6: 'Proto-Only' };

/** Go's StampMilli ("Jan _2 15:04:05.000"), in local time. */
export function stampMilli(iso: string): string {
  const d = new Date(iso);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function ports(f: Flow): [number | undefined, number | undefined] {
  const l4 = f.l4?.TCP ?? f.l4?.UDP ?? f.l4?.SCTP;
  return l4 ? [l4.source_port, l4.destination_port] : [undefined, undefined];
}

function side(ep: FlowEndpoint, ip: string, port: number | undefined, service?: FlowService): string {
  const host = ep.pod_name ? `${ep.namespace}/${ep.pod_name}` : service ? `${service.namespace}/${service.name}` : ip;
  const addr = port !== undefined ? `${host}:${port}` : host;
  const id = RESERVED[ep.identity] ?? `ID:${ep.identity}`;
  return `${addr} (${id})`;
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

function policyNames(f: Flow): string {
  const list = [...(f.ingress_denied_by ?? []), ...(f.egress_denied_by ?? []), ...(f.ingress_allowed_by ?? []), ...(f.egress_allowed_by ?? [])];
  return list.map((p) => `${p.kind}:${p.namespace ? `${p.namespace}/` : ''}${p.name}`).join(',');
}

export interface CompactOptions {
  printPolicyNames?: boolean;
  printNodeName?: boolean;
}

export function formatCompact(f: Flow, opts: CompactOptions = {}): string {
  const [sport, dport] = ports(f);
  const arrow = f.is_reply === undefined ? '<>' : f.is_reply ? '<-' : '->';
  let what: string;
  if (f.event_type.type === 5) {
    const dir = f.traffic_direction === 'INGRESS' ? 'INGRESS' : 'EGRESS';
    const decision = f.verdict === 'FORWARDED' ? 'ALLOWED' : f.verdict === 'AUDIT' ? 'AUDITED' : 'DENIED';
    what = `policy-verdict:${matchTypeName(f.policy_match_type)} ${dir} ${decision}`;
  } else if (f.event_type.type === 1) {
    what = `${dropDescription(f)} DROPPED`;
  } else {
    what = f.verdict;
  }
  const node = opts.printNodeName ? ` [${f.node_name}]` : '';
  const names = opts.printPolicyNames ? policyNames(f) : '';
  const src = side(f.source, f.IP.source, sport);
  const dst = side(f.destination, f.IP.destination, dport, f.destination_service);
  // A reply reads from the connection's initiator, as Hubble prints it: "client <- server".
  const pair = f.is_reply ? `${dst} ${arrow} ${src}` : `${src} ${arrow} ${dst}`;
  return `${stampMilli(f.time)}${node}: ${pair}${via(f)} ${what}${names ? ` [${names}]` : ''} (${f.Summary})`;
}
