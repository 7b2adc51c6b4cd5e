/**
 * The cluster zone: the records a DnsRecordsFile stands for, indexed by owner
 * name, laid out as Kubernetes DNS-based service discovery (and CoreDNS's
 * kubernetes plugin) names them:
 *
 *   <svc>.<ns>.svc.<domain>                  A (or AAAA) -> the cluster IP
 *   _<port>._<proto>.<svc>.<ns>.svc.<domain> SRV 0 100 <port> <svc>.<ns>.svc.<domain>, per named port
 *   <svc>.<ns>.svc.<domain>                  SRV, one per named port (as CoreDNS answers an SRV
 *                                            query for the service name itself)
 *
 * and for a headless service (clusterIP "None"), no load balancing: its name
 * resolves to each ready endpoint, which gets a name of its own (its address,
 * dashed, as CoreDNS names endpoints without a hostname):
 *
 *   <svc>.<ns>.svc.<domain>                  A (or AAAA) -> each endpoint's address
 *   <a-b-c-d>.<svc>.<ns>.svc.<domain>        A -> a.b.c.d
 *   _<port>._<proto>.<svc>.<ns>.svc.<domain> SRV 0 <w> <endpoint's port> <a-b-c-d>.<svc>.<ns>.svc.<domain>,
 *                                            per named port and endpoint with that port
 *   <svc>.<ns>.svc.<domain>                  SRV, the same records (all named ports)
 *   <d.c.b.a>.in-addr.arpa                   PTR -> <a-b-c-d>.<svc>.<ns>.svc.<domain>
 *
 * and for every service and pod:
 *   <a-b-c-d>.<ns>.pod.<domain>              A -> a.b.c.d, for pods that exist (CoreDNS's
 *                                            "pods verified"); IPv6 pods get AAAA, ":" written "-"
 *   <d.c.b.a>.in-addr.arpa                   PTR -> <svc>.<ns>.svc.<domain>, for IPv4 cluster IPs
 *   dns-version.<domain>                     TXT "1.1.0" (the schema version of the specification)
 *   <domain>                                 SOA ns.dns.<domain> hostmaster.<domain>
 *
 * Pure: building a zone does no I/O.
 */
import net from 'node:net';
import type { Answer, SoaAnswer } from 'dns-packet';
import { HEADLESS_CLUSTER_IP, type DnsRecordsFile, type DnsService } from './dns-records.js';

/** The version of the Kubernetes DNS-based service discovery specification these records follow. */
export const DNS_SCHEMA_VERSION = '1.1.0';

export interface DnsZone {
  /** Lowercase, no trailing dot, like every name below. */
  domain: string;
  /** Records by owner name. */
  records: ReadonlyMap<string, readonly Answer[]>;
  /**
   * Every name that exists: the owners of records and, inside the domain,
   * their ancestors. An ancestor without records of its own (`svc.<domain>`,
   * `<ns>.svc.<domain>`) is an empty non-terminal: it answers NODATA, not
   * NXDOMAIN (RFC 8020), so a resolver does not wrongly conclude that no name
   * below it exists.
   */
  names: ReadonlySet<string>;
  /** The zone's SOA, sent in the authority section of negative answers. */
  soa: SoaAnswer;
  /** Counts for logs. */
  services: number;
  pods: number;
}

export interface ZoneOptions {
  /** TTL of every record, in seconds (CoreDNS's kubernetes plugin uses 5). */
  ttl: number;
  /** SOA serial; give a larger one for each new version of the records. */
  serial: number;
}

/** `<svc>.<ns>.svc.<domain>` */
export function serviceName(svc: Pick<DnsService, 'name' | 'namespace'>, domain: string): string {
  return `${svc.name}.${svc.namespace}.svc.${domain}`;
}

/** `<a-b-c-d>.<ns>.pod.<domain>` */
export function podName(ip: string, namespace: string, domain: string): string {
  return `${ip.toLowerCase().replaceAll(/[.:]/g, '-')}.${namespace}.pod.${domain}`;
}

/** `<a-b-c-d>.<svc>.<ns>.svc.<domain>`: a headless service's endpoint. */
export function endpointName(ip: string, svc: Pick<DnsService, 'name' | 'namespace'>, domain: string): string {
  return `${ip.toLowerCase().replaceAll(/[.:]/g, '-')}.${serviceName(svc, domain)}`;
}

/** `<d.c.b.a>.in-addr.arpa` for an IPv4 address. */
export function reverseName(ipv4: string): string {
  return `${ipv4.split('.').reverse().join('.')}.in-addr.arpa`;
}

/** Whether `name` (lowercase, no trailing dot) is `domain` or below it. */
export function inDomain(name: string, domain: string): boolean {
  return name === domain || name.endsWith(`.${domain}`);
}

/** Builds the zone of `file`; `file` must have passed parseDnsRecords. */
export function buildZone(file: DnsRecordsFile, options: ZoneOptions): DnsZone {
  const { domain } = file;
  const { ttl } = options;
  const records = new Map<string, Answer[]>();
  const names = new Set<string>();
  const add = (record: Answer): void => {
    const list = records.get(record.name);
    if (list === undefined) records.set(record.name, [record]);
    else if (!list.some((r) => sameRecord(r, record))) list.push(record);
    // Ancestors exist too, up to the apex (names outside the domain, the PTRs, stand alone).
    for (let name = record.name; !names.has(name); name = name.slice(name.indexOf('.') + 1)) {
      names.add(name);
      if (name === domain || !inDomain(name, domain)) break;
    }
  };
  const address = (name: string, ip: string): Answer => addressRecord(name, ip, ttl);

  const soa: SoaAnswer = {
    type: 'SOA', name: domain, ttl,
    data: { mname: `ns.dns.${domain}`, rname: `hostmaster.${domain}`, serial: options.serial, refresh: 7200, retry: 1800, expire: 86400, minimum: ttl },
  };
  add(soa);
  add({ type: 'TXT', name: `dns-version.${domain}`, ttl, data: DNS_SCHEMA_VERSION });

  for (const svc of file.services) {
    if (svc.clusterIP === HEADLESS_CLUSTER_IP) {
      for (const r of headlessRecords(svc, domain, ttl)) add(r);
      continue;
    }
    const target = serviceName(svc, domain);
    add(address(target, svc.clusterIP));
    if (net.isIPv4(svc.clusterIP)) add({ type: 'PTR', name: reverseName(svc.clusterIP), ttl, data: target });
    const named = svc.ports.filter((p) => p.name);
    for (const p of named) {
      const srv = { port: p.port, target, priority: 0 };
      add({ type: 'SRV', name: `_${p.name}._${(p.protocol ?? 'TCP').toLowerCase()}.${target}`, ttl, data: { ...srv, weight: 100 } });
      // Several SRV records for the service name share the weight, as CoreDNS answers.
      add({ type: 'SRV', name: target, ttl, data: { ...srv, weight: Math.floor(100 / named.length) } });
    }
  }
  for (const pod of file.pods) add(address(podName(pod.ip, pod.namespace, domain), pod.ip));

  return { domain, records, names, soa, services: file.services.length, pods: file.pods.length };
}

function addressRecord(name: string, ip: string, ttl: number): Answer {
  return net.isIPv4(ip) ? { type: 'A', name, ttl, data: ip } : { type: 'AAAA', name, ttl, data: ip };
}

/** The records of a headless service: its name is each ready endpoint's address, its SRV records point at the endpoints. */
function headlessRecords(svc: DnsService, domain: string, ttl: number): Answer[] {
  const owner = serviceName(svc, domain);
  const endpoints = svc.endpoints ?? [];
  const out: Answer[] = [];
  for (const e of endpoints) {
    const host = endpointName(e.ip, svc, domain);
    out.push(addressRecord(owner, e.ip, ttl), addressRecord(host, e.ip, ttl));
    if (net.isIPv4(e.ip)) out.push({ type: 'PTR', name: reverseName(e.ip), ttl, data: host });
  }
  // One SRV per named port and endpoint serving it; records under one name share the weight, as CoreDNS answers.
  const srvs = svc.ports.filter((p) => p.name).map((p) => ({
    name: `_${p.name}._${(p.protocol ?? 'TCP').toLowerCase()}.${owner}`,
    targets: endpoints.filter((e) => e.ports[p.name!] !== undefined).map((e) => ({ port: e.ports[p.name!]!, target: endpointName(e.ip, svc, domain) })),
  }));
  const all = srvs.reduce((n, s) => n + s.targets.length, 0);
  for (const s of srvs) {
    for (const t of s.targets) {
      out.push({ type: 'SRV', name: s.name, ttl, data: { priority: 0, weight: Math.floor(100 / s.targets.length), ...t } });
      out.push({ type: 'SRV', name: owner, ttl, data: { priority: 0, weight: Math.floor(100 / all), ...t } });
    }
  }
  return out;
}

/** Two records with the same type and data (duplicate pods or ports add nothing). */
function sameRecord(a: Answer, b: Answer): boolean {
  return a.type === b.type && JSON.stringify((a as { data?: unknown }).data) === JSON.stringify((b as { data?: unknown }).data);
}
