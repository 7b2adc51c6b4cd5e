/** `membrane observe`: recent and live flows, filtered and printed like `hubble observe`. */
import type { Command } from 'commander';
import { formatCompact, matchTypeName, stampMilli } from '../hubble/compact.js';
import type { FlowFilter } from '../hubble/filter.js';
import type { Flow } from '../hubble/flow.js';
import { MembraneError } from '../common/errors.js';
import type { AgentClient } from '../api/client.js';

const VERDICTS = ['FORWARDED', 'DROPPED', 'AUDIT', 'REDIRECTED', 'ERROR', 'TRACED', 'TRANSLATED'];
const TYPES: Record<string, number> = { drop: 1, trace: 4, 'policy-verdict': 5, l7: 129 };

interface ObserveOptions {
  last?: string; first?: string; all?: boolean; follow?: boolean; since?: string; until?: string;
  pod?: string[]; fromPod?: string[]; toPod?: string[]; service?: string[]; fromService?: string[]; toService?: string[]; namespace?: string[]; fromNamespace?: string[]; toNamespace?: string[];
  label?: string[]; fromLabel?: string[]; toLabel?: string[]; ip?: string[]; fromIp?: string[]; toIp?: string[];
  identity?: string[]; fromIdentity?: string[]; toIdentity?: string[]; port?: string[]; fromPort?: string[]; toPort?: string[];
  protocol?: string[]; verdict?: string[]; dropReasonDesc?: string[]; trafficDirection?: string[]; type?: string[];
  nodeName?: string[]; output: string; printPolicyNames?: boolean; printNodeName?: boolean;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

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

/**
 * Builds whitelist filters as Hubble does: one filter for the source side
 * and, once any either-side flag (--pod, --ip, --label, ...) is used, a
 * second for the destination side. An either-side flag fills the source
 * field of the first and the destination field of the second; a from-/to-
 * flag fills its field in both. A field set twice is refused, as Hubble
 * refuses `--pod` with `--from-pod`.
 */
export function buildFilters(o: ObserveOptions): FlowFilter[] {
  const left: FlowFilter = {};
  const right: FlowFilter = {};
  const setBy = new Map<string, string>();
  let eitherUsed = false;
  const set = (f: FlowFilter, field: keyof FlowFilter, values: unknown[], flag: string) => {
    const prev = setBy.get(`${f === left ? 'l' : 'r'}:${field}`);
    if (prev !== undefined && prev !== flag) throw new MembraneError('EINVAL', `filters --${prev} and --${flag} cannot be combined`);
    setBy.set(`${f === left ? 'l' : 'r'}:${field}`, flag);
    (f as Record<string, unknown>)[field] = [...(((f as Record<string, unknown[]>)[field]) ?? []), ...values];
  };
  const num = (flag: string) => (v: string) => {
    if (!/^\d+$/.test(v)) throw new MembraneError('EINVAL', `--${flag}: "${v}" is not a number`);
    return Number(v);
  };
  const either = (flag: string, values: unknown[] | undefined, src: keyof FlowFilter, dst: keyof FlowFilter) => {
    if (!values?.length) return;
    eitherUsed = true;
    set(left, src, values, flag);
    set(right, dst, values, flag);
  };
  const both = (flag: string, field: keyof FlowFilter, values: unknown[] | undefined) => {
    if (!values?.length) return;
    set(left, field, values, flag);
    set(right, field, values, flag);
  };
  const ns = (v: string[] | undefined) => v?.map((n) => `${n}/`);
  either('pod', o.pod, 'source_pod', 'destination_pod');
  either('namespace', ns(o.namespace), 'source_pod', 'destination_pod');
  either('label', o.label, 'source_label', 'destination_label');
  either('ip', o.ip, 'source_ip', 'destination_ip');
  either('identity', o.identity?.map(num('identity')), 'source_identity', 'destination_identity');
  either('port', o.port?.map((v) => String(num('port')(v))), 'source_port', 'destination_port');
  either('service', o.service, 'source_service', 'destination_service');
  both('from-service', 'source_service', o.fromService);
  both('to-service', 'destination_service', o.toService);
  both('from-pod', 'source_pod', o.fromPod);
  both('from-namespace', 'source_pod', ns(o.fromNamespace));
  both('to-pod', 'destination_pod', o.toPod);
  both('to-namespace', 'destination_pod', ns(o.toNamespace));
  both('from-label', 'source_label', o.fromLabel);
  both('to-label', 'destination_label', o.toLabel);
  both('from-ip', 'source_ip', o.fromIp);
  both('to-ip', 'destination_ip', o.toIp);
  both('from-identity', 'source_identity', o.fromIdentity?.map(num('from-identity')));
  both('to-identity', 'destination_identity', o.toIdentity?.map(num('to-identity')));
  both('from-port', 'source_port', o.fromPort?.map((v) => String(num('from-port')(v))));
  both('to-port', 'destination_port', o.toPort?.map((v) => String(num('to-port')(v))));
  both('protocol', 'protocol', o.protocol);
  both('node-name', 'node_name', o.nodeName);
  if (o.verdict?.length) {
    for (const v of o.verdict) if (!VERDICTS.includes(v.toUpperCase())) throw new MembraneError('EINVAL', `--verdict: "${v}" is not one of ${VERDICTS.join(', ')}`);
    both('verdict', 'verdict', o.verdict.map((v) => v.toUpperCase()));
  }
  both('drop-reason-desc', 'drop_reason_desc', o.dropReasonDesc?.map((d) => d.toUpperCase()));
  if (o.trafficDirection?.length) {
    for (const d of o.trafficDirection) if (!['ingress', 'egress'].includes(d.toLowerCase())) throw new MembraneError('EINVAL', `--traffic-direction: "${d}" is not ingress or egress`);
    both('traffic-direction', 'traffic_direction', o.trafficDirection.map((d) => d.toUpperCase()));
  }
  if (o.type?.length) {
    both('type', 'event_type', o.type.map((t) => {
      const [name, sub, ...rest] = t.split(':');
      const type = TYPES[name!];
      if (type === undefined || rest.length > 0) throw new MembraneError('EINVAL', `--type: "${t}" is not one of ${Object.keys(TYPES).join(', ')} (TYPE[:SUBTYPE])`);
      if (sub === undefined) return { type };
      if (!/^\d+$/.test(sub)) throw new MembraneError('EINVAL', `--type: "${t}": the sub-type "${sub}" is not a number`);
      return { type, sub_type: Number(sub) };
    }));
  }
  const out = eitherUsed ? [left, right] : [left];
  return out.filter((f) => Object.keys(f).length > 0);
}

function formatDict(f: Flow): string {
  const l4 = f.l4?.TCP ?? f.l4?.UDP ?? f.l4?.SCTP;
  const rows: [string, string][] = [
    ['TIMESTAMP', stampMilli(f.time)], ['SOURCE', `${f.source.pod_name ? `${f.source.namespace}/${f.source.pod_name}` : f.IP.source}${l4 ? `:${l4.source_port}` : ''}`],
    ['DESTINATION', `${f.destination.pod_name ? `${f.destination.namespace}/${f.destination.pod_name}` : f.IP.destination}${l4 ? `:${l4.destination_port}` : ''}`],
    ['TYPE', f.event_type.type === 5 ? `policy-verdict:${matchTypeName(f.policy_match_type)} ${f.traffic_direction}` : f.event_type.type === 1 ? 'drop' : 'trace'],
    ['VERDICT', f.verdict], ['SUMMARY', f.Summary],
  ];
  return rows.map(([k, v]) => `${k.padStart(12)}: ${v}`).join('\n') + '\n------------';
}

export function registerObserveCommand(program: Command, client: () => Promise<AgentClient>): void {
  program
    .command('observe')
    .description('show flows: the datapath\'s verdicts, like `hubble observe`')
    .option('--last <n>', 'the last N flows (default 20)')
    .option('--first <n>', 'the first N flows in the ring')
    .option('--all', 'every flow in the ring')
    .option('-f, --follow', 'keep following new flows')
    .option('--since <time>', 'flows since a time or a duration ago (30s, 5m)')
    .option('--until <time>', 'flows until a time or a duration ago')
    .option('--pod <ns/pod>', 'either side is this pod (name prefix; namespace default)', collect)
    .option('--from-pod <ns/pod>', 'source pod', collect)
    .option('--service <ns/svc>', 'either side is this service (name prefix; namespace default)', collect)
    .option('--from-service <ns/svc>', 'the flow comes back from this service', collect)
    .option('--to-service <ns/svc>', 'the flow was addressed to this service', collect)
    .option('--to-pod <ns/pod>', 'destination pod', collect)
    .option('-n, --namespace <ns>', 'either side is in this namespace', collect)
    .option('--from-namespace <ns>', 'source namespace', collect)
    .option('--to-namespace <ns>', 'destination namespace', collect)
    .option('-l, --label <selector>', 'either side has these labels (k=v,k2)', collect)
    .option('--from-label <selector>', 'source labels', collect)
    .option('--to-label <selector>', 'destination labels', collect)
    .option('--ip <ip|cidr>', 'either side\'s address', collect)
    .option('--from-ip <ip|cidr>', 'source address', collect)
    .option('--to-ip <ip|cidr>', 'destination address', collect)
    .option('--identity <id>', 'either side\'s identity', collect)
    .option('--from-identity <id>', 'source identity', collect)
    .option('--to-identity <id>', 'destination identity', collect)
    .option('--port <port>', 'either side\'s port', collect)
    .option('--from-port <port>', 'source port', collect)
    .option('--to-port <port>', 'destination port', collect)
    .option('--protocol <proto>', 'tcp, udp, sctp, icmp', collect)
    .option('--verdict <verdict>', VERDICTS.join(', '), collect)
    .option('--drop-reason-desc <reason>', 'e.g. POLICY_DENIED, POLICY_DENY', collect)
    .option('--traffic-direction <dir>', 'ingress or egress', collect)
    .option('-t, --type <type>', 'drop, trace, policy-verdict, l7 (TYPE[:SUBTYPE])', collect)
    .option('--node-name <name>', 'flows of this node', collect)
    .option('-o, --output <format>', 'compact, json, jsonpb, dict', 'compact')
    .option('--print-policy-names', 'name the policies that allowed or denied each flow')
    .option('--print-node-name', 'print the node name')
    .action(async (o: ObserveOptions) => {
      if (!['compact', 'json', 'jsonpb', 'dict'].includes(o.output)) throw new MembraneError('EINVAL', `--output: "${o.output}" is not one of compact, json, jsonpb, dict`);
      const params = new URLSearchParams();
      const filters = buildFilters(o);
      if (filters.length) params.set('whitelist', JSON.stringify(filters));
      const count = (flag: string, v: string) => {
        if (!/^\d+$/.test(v)) throw new MembraneError('EINVAL', `--${flag}: "${v}" is not a number`);
        return v;
      };
      if (o.all) params.set('number', '0');
      else if (o.first) { params.set('number', count('first', o.first)); params.set('first', 'true'); }
      else params.set('number', o.last ? count('last', o.last) : o.follow ? '0' : '20');
      if (o.follow && !o.last && !o.first && !o.all) params.set('number', '1');
      if (o.since) params.set('since', parseTime(o.since, '--since'));
      if (o.until) params.set('until', parseTime(o.until, '--until'));
      if (o.follow) params.set('follow', 'true');
      const print = (obj: unknown) => {
        const f = obj as Flow;
        if (o.output === 'json' || o.output === 'jsonpb') process.stdout.write(JSON.stringify({ flow: f, node_name: f.node_name, time: f.time }) + '\n');
        else if (o.output === 'dict') process.stdout.write(formatDict(f) + '\n');
        else process.stdout.write(formatCompact(f, { printPolicyNames: !!o.printPolicyNames, printNodeName: !!o.printNodeName }) + '\n');
      };
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      await (await client()).stream(`/v1/flows?${params}`, print, ac.signal);
    });
}
