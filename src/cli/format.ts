/** Text tables for the CLI, shaped like Cilium's. */
import type { EndpointModel, IdentityModel, StatusModel } from '../api/types.js';

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').split('\n').reduce((m, l) => Math.max(m, l.length), 0))));
  const lines: string[] = [];
  const emit = (cells: string[]) => {
    const split = cells.map((c) => (c ?? '').split('\n'));
    const height = Math.max(...split.map((s) => s.length));
    for (let i = 0; i < height; i++) lines.push(split.map((s, j) => (s[i] ?? '').padEnd(widths[j]!)).join('   ').trimEnd());
  };
  emit(header);
  for (const r of rows) emit(r);
  return lines.join('\n') + '\n';
}

export function formatEndpointList(eps: EndpointModel[]): string {
  return table(
    ['ENDPOINT', 'POLICY (ingress) ENFORCEMENT', 'POLICY (egress) ENFORCEMENT', 'IDENTITY', 'LABELS (source:key[=value])', 'IPv4', 'STATUS'],
    eps.map((e) => [
      String(e.id), e.policy.ingressEnforcing ? 'Enabled' : 'Disabled', e.policy.egressEnforcing ? 'Enabled' : 'Disabled', String(e.identity),
      e.labels.join('\n') || 'reserved:init', e.ipv4, e.state,
    ]),
  );
}

export function formatIdentityList(ids: IdentityModel[]): string {
  return table(['ID', 'LABELS'], ids.map((i) => [String(i.id), i.labels.join('\n')]));
}

/** Lost events per source, as `hubble_lost_events_total` names them; an older agent counts the kernel's only. */
function lostText(f: StatusModel['flows']): string {
  const by = f.lostBySource;
  if (!by) return `lost in the kernel ${f.lost}`;
  return `lost ${f.lost} (perf_event_ring_buffer ${by.perf_event_ring_buffer}, observer_events_queue ${by.observer_events_queue}, hubble_ring_buffer ${by.hubble_ring_buffer})`;
}

/** The L7 proxy's line: running or not, its ports, connections and restarts. */
function l7ProxyText(p: NonNullable<StatusModel['l7Proxy']>): string {
  const state = p.running ? `Ok, pid ${p.pid ?? '?'}, listening on ${p.listening.length ? p.listening.join(', ') : 'nothing yet'}` : `Down${p.lastExit ? ` (${p.lastExit})` : ''}, restarting`;
  const dropped = p.recordsDropped ? `, ${p.recordsDropped} flows dropped (the agent was slow to take them)` : '';
  return `${state}; ${p.connections} connections open, ${p.accepted} accepted, ${p.restarts} restarts, config revision ${p.revision}${dropped}`;
}

export function formatStatus(s: StatusModel): string {
  const rows: [string, string][] = [
    ['Node', s.node],
    ['membrane', `Ok ${s.version}`],
    ['Datapath', `Ok, maps pinned in ${s.datapath.pinnedDir}${s.datapath.adopted ? ' (adopted after restart)' : ''}, programs on ${s.datapath.programsAttached}/${s.endpoints} endpoints`],
    ['IPAM', `IPv4: ${s.ipam.allocated}/${s.ipam.capacity} allocated from ${s.ipam.podCIDR}`],
    ['Endpoints', String(s.endpoints)],
    ['Identities', String(s.identities)],
    ['Policy revision', `${s.policyRevision} (last regeneration: ${s.lastRegeneration.endpoints} endpoints, ${s.lastRegeneration.resolutions} resolutions, ${s.lastRegeneration.written} map writes, ${s.lastRegeneration.deleted} deletes)`],
    ['Flows', `Current/Max Flows: ${s.flows.current}/${s.flows.max} (${((100 * s.flows.current) / s.flows.max).toFixed(2)}%), seen ${s.flows.seen}, ${lostText(s.flows)}`],
    ...(s.flows.export ? [['Flow log', `${s.flows.export.path}: written ${s.flows.export.written}, dropped ${s.flows.export.dropped}`] as [string, string]] : []),
    ...(s.l7Proxy?.enabled ? [['L7 proxy', l7ProxyText(s.l7Proxy)] as [string, string]] : []),
    ...(s.agentEvents ? [['Agent events', `Current/Max: ${s.agentEvents.current}/${s.agentEvents.max}, seen ${s.agentEvents.seen}, lost to slow followers ${s.agentEvents.lostToFollowers}`] as [string, string]] : []),
    ...(s.memory ? [['Memory', `RSS ${s.memory.rssMiB} MiB, heap ${s.memory.heapUsedMiB}/${s.memory.heapTotalMiB} MiB`] as [string, string]] : []),
    ['Uptime', `${s.uptimeSeconds}s`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length)) + 1;
  return rows.map(([k, v]) => `${`${k}:`.padEnd(w)}   ${v}`).join('\n') + '\n';
}
