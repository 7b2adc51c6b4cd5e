/**
 * Readers of the demo's command output, to check each step did what the
 * story says. Pure.
 */

/** Rows of a kubectl-style table as header -> cell maps (columns split on 2+ spaces). */
export function parseTable(text: string): Record<string, string>[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) return [];
  const headers = lines[0]!.trim().split(/\s{2,}/);
  return lines.slice(1).map((line) => {
    const cells = line.trim().split(/\s{2,}/);
    return Object.fromEntries(headers.map((h, i) => [h, cells[i] ?? '']));
  });
}

/**
 * Endpoints of `membrane endpoint list`, whose LABELS cell spans several
 * lines (one label per line, as Cilium prints it): each endpoint is the line
 * starting with its numeric id plus the lines that follow it.
 */
export interface EndpointRow {
  id: number;
  ingress: string;
  egress: string;
  identity: string;
  text: string;
}

export function parseEndpointList(text: string): EndpointRow[] {
  const rows: EndpointRow[] = [];
  for (const line of text.split('\n').slice(1)) {
    const m = /^\s*(\d+)\s+(\S+)\s+(\S+)\s+(\S+)/.exec(line);
    if (m) rows.push({ id: Number(m[1]), ingress: m[2]!, egress: m[3]!, identity: m[4]!, text: line });
    else if (rows.length > 0 && line.trim() !== '') rows[rows.length - 1]!.text += `\n${line}`;
  }
  return rows;
}

/** A pod of `lab get pods -o json`. */
export interface PodJson {
  namespace: string;
  name: string;
  ip: string;
  status: string;
  labels: Record<string, string>;
}

/** The deathstar pods (the Service's replicas), sorted by name. */
export function deathstarPods(pods: PodJson[]): PodJson[] {
  return pods
    .filter((p) => p.labels['class'] === 'deathstar' && p.labels['org'] === 'empire')
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * How many flows of `observe` output went to each of `pods` (ns/name): lines
 * with `-> ns/name:port`, the destination side of a compact flow.
 */
export function destinationCounts(text: string, pods: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    const arrow = line.indexOf(' -> ');
    if (arrow < 0) continue;
    const to = line.slice(arrow + 4);
    const pod = pods.find((p) => to.startsWith(`${p}:`));
    if (pod) counts.set(pod, (counts.get(pod) ?? 0) + 1);
  }
  return counts;
}

/** The lines of `observe` output that show a packet dropped by policy. */
export function policyDropLines(text: string): string[] {
  return text.split('\n').filter((l) => l.includes('Policy denied') && l.includes('DROPPED'));
}

/**
 * The line of `observe` output showing `from`'s packet to `to` dropped by
 * policy ("default/xwing ... default/deathstar-... Policy denied DROPPED"),
 * with `from` printed before `to` (the source comes first), or undefined.
 */
export function policyDropLine(text: string, from: string, to: string): string | undefined {
  return policyDropLines(text).find((l) => {
    const f = l.indexOf(from);
    return f >= 0 && l.indexOf(to, f + from.length) > f;
  });
}

/** The first line of a command's output (without its newline). */
export function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? '';
}

/**
 * The line of `observe` output of an L7 flow between `client` (ns/name)
 * and one of `servers` whose text after the endpoints contains `text`
 * (e.g. `http-request DROPPED (HTTP/1.1 PUT http://…)`), or undefined. A
 * request reads client -> server, a response client <- server: either
 * way the client comes first.
 */
export function httpFlowLine(text: string, client: string, servers: string[], summary: string): string | undefined {
  return text.split('\n').find((l) => {
    const c = l.indexOf(`${client}:`);
    if (c < 0 || !l.includes(summary)) return false;
    return servers.some((s) => l.indexOf(`${s}:`, c) > c);
  });
}
