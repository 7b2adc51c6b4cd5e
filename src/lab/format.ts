import type { NamespaceRecord } from './state.js';
import type { LabStatus, PodView } from './lab.js';
import type { ServiceView } from './service-view.js';

/** kubectl-style text output for lab commands. Pure. */

/** Left-aligned columns separated by three spaces, as kubectl prints them. */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** kubectl's short ages: 42s, 5m12s, 3h20m, 2d4h. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${m % 60 ? `${m % 60}m` : ''}`;
  return `${Math.floor(h / 24)}d${h % 24 ? `${h % 24}h` : ''}`;
}

export function formatLabels(labels: Record<string, string>): string {
  const entries = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  return entries.length === 0 ? '<none>' : entries.map(([k, v]) => `${k}=${v}`).join(',');
}

export interface PodTableOptions {
  allNamespaces: boolean;
  wide: boolean;
  now?: number;
}

export function formatPods(pods: PodView[], opts: PodTableOptions): string {
  const now = opts.now ?? Date.now();
  const headers = [
    ...(opts.allNamespaces ? ['NAMESPACE'] : []), 'NAME', 'READY', 'STATUS', 'IP', 'NODE', 'IDENTITY',
    ...(opts.wide ? ['AGE', 'PID', 'LABELS'] : []),
  ];
  const rows = pods.map((p) => [
    ...(opts.allNamespaces ? [p.namespace] : []),
    p.name, p.ready ? '1/1' : '0/1', p.status, p.ip, p.node, p.identity === undefined ? '<none>' : String(p.identity),
    ...(opts.wide ? [formatAge(now - Date.parse(p.createdAt)), p.pid === undefined ? '<none>' : String(p.pid), formatLabels(p.labels)] : []),
  ]);
  return formatTable(headers, rows);
}

/** `lab get pods -o json`: one object per pod. */
export function podsJson(pods: PodView[]): string {
  return JSON.stringify(pods.map((p) => ({
    namespace: p.namespace, name: p.name, ip: p.ip, node: p.node, identity: p.identity ?? null, status: p.status,
    ready: p.ready, labels: p.labels, pid: p.pid ?? null, containerId: p.containerId, netns: p.netns,
    createdAt: p.createdAt, owner: p.owner ?? null,
  })), null, 2) + '\n';
}

export function formatNamespaces(namespaces: NamespaceRecord[], wide: boolean, now = Date.now()): string {
  const headers = ['NAME', 'STATUS', 'AGE', ...(wide ? ['LABELS'] : [])];
  const rows = namespaces.map((n) => [n.name, 'Active', formatAge(now - Date.parse(n.createdAt)), ...(wide ? [formatLabels(n.labels)] : [])]);
  return formatTable(headers, rows);
}

export function formatStatus(s: LabStatus): string {
  const lines = [`Lab:         ${s.name} (${s.up ? 'up' : s.nodes.length > 0 ? 'degraded' : 'not up'})`, `Directory:   ${s.dir}`];
  if (s.nodes.length > 0) {
    lines.push(`Pods:        ${s.pods.running}/${s.pods.total} running`);
    lines.push(`Namespaces:  ${s.namespaces}`);
    lines.push(`Policies:    ${s.policies}`);
    lines.push(`Services:    ${s.services}`);
    if (s.world) {
      const state = s.world.running ? `serve pids ${s.world.pids.join(' ')}` : 'NOT all its servers run: lab up starts them again';
      lines.push(`World:       ${s.world.addresses.join(' ')} (netns ${s.world.netns}, via ${s.world.node}; ${state})`);
    }
    lines.push('Nodes:');
    const table = formatTable(
      ['NAME', 'NETNS', 'POD CIDR', 'AGENT PID', 'AGENT', 'SOCKET'],
      s.nodes.map((n) => [n.name, n.netns, n.podCIDR, String(n.agentPid), n.healthy ? 'healthy' : n.agentRunning ? 'not answering' : 'dead', n.socket]),
    );
    lines.push(...table.trimEnd().split('\n').map((l) => `  ${l}`));
  }
  return lines.join('\n') + '\n';
}

export interface ServiceTableOptions {
  allNamespaces: boolean;
  wide: boolean;
  now?: number;
}

/** `lab get services`, as kubectl prints them (EXTERNAL-IP is always <none>: the lab has no load balancers). */
export function formatServices(services: ServiceView[], opts: ServiceTableOptions): string {
  const now = opts.now ?? Date.now();
  const headers = [...(opts.allNamespaces ? ['NAMESPACE'] : []), 'NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE', ...(opts.wide ? ['SELECTOR'] : [])];
  const rows = services.map((s) => [
    ...(opts.allNamespaces ? [s.namespace] : []),
    s.name, s.type, s.clusterIP, '<none>', s.ports, formatAge(now - Date.parse(s.createdAt)),
    ...(opts.wide ? [s.selector ?? '<none>'] : []),
  ]);
  return formatTable(headers, rows);
}
