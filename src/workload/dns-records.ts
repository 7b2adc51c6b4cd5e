/**
 * The DNS records file: what the lab knows about services and pods, written
 * by the lab (writeDnsRecords) and served by `membrane workload dns`. This
 * module holds its type and its validation; it does no I/O.
 *
 *   { "domain": "cluster.local",
 *     "services": [{ "namespace": "default", "name": "deathstar", "clusterIP": "10.96.0.12",
 *                    "ports": [{ "name": "http", "port": 80, "protocol": "TCP" }] }],
 *     "pods": [{ "namespace": "default", "name": "tiefighter", "ip": "10.0.1.5" }] }
 */
import net from 'node:net';
import { z } from 'zod';
import { ValidationError } from '../common/errors.js';
import { formatFieldPath } from '../labels/fieldpath.js';
import { isPortName } from '../policy/ports.js';

export interface DnsServicePort {
  /** The port's name; an unnamed port ("" or absent) gets no SRV record, as in Kubernetes. */
  name?: string;
  port: number;
  /** Defaults to TCP, as in a Kubernetes Service. */
  protocol?: 'TCP' | 'UDP' | 'SCTP';
}

export interface DnsService {
  namespace: string;
  name: string;
  /** An IPv4 (A record) or IPv6 (AAAA record) address. Headless services are not served. */
  clusterIP: string;
  ports: DnsServicePort[];
}

export interface DnsPod {
  namespace: string;
  name: string;
  ip: string;
}

export interface DnsRecordsFile {
  /** The cluster domain, e.g. "cluster.local"; must be the domain the server was started for. */
  domain: string;
  services: DnsService[];
  pods: DnsPod[];
}

/** A DNS-1123 label: what Kubernetes allows for namespace and service names. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_LABEL_HINT = 'lowercase letters, digits and "-", at most 63, starting and ending with a letter or digit';

/** A DNS domain such as cluster.local: dot-separated DNS labels. */
export function isDnsDomain(domain: string): boolean {
  return domain.length <= 253 && domain.split('.').every((label) => DNS_LABEL.test(label));
}

const dnsLabel = z.string().regex(DNS_LABEL, `must be a DNS label: ${DNS_LABEL_HINT}`);
const ipAddress = z.string().refine((ip) => net.isIP(ip) !== 0, (ip) => ({
  message: `${JSON.stringify(ip)} is not an IPv4 or IPv6 address${ip === 'None' ? ' (headless services are not served)' : ''}`,
}));

const portSchema = z.object({
  name: z.string().refine((n) => n === '' || isPortName(n), {
    message: 'must be a port name: up to 15 characters a-z, 0-9 and "-", with at least one letter, like "http" (or "" for an unnamed port)',
  }).optional(),
  port: z.number().int().min(1).max(65535),
  protocol: z.enum(['TCP', 'UDP', 'SCTP']).optional(),
}).strict();

const serviceSchema = z.object({
  namespace: dnsLabel,
  name: dnsLabel,
  clusterIP: ipAddress,
  ports: z.array(portSchema),
}).strict();

const podSchema = z.object({ namespace: dnsLabel, name: z.string().min(1), ip: ipAddress }).strict();

const recordsSchema = z.object({
  domain: z.string().refine(isDnsDomain, { message: `must be a DNS domain such as cluster.local: labels of ${DNS_LABEL_HINT}, joined by "."` }),
  services: z.array(serviceSchema),
  pods: z.array(podSchema),
}).strict().superRefine((file, ctx) => {
  // Two entries for one service would make its answer depend on file order.
  const seen = new Set<string>();
  file.services.forEach((svc, i) => {
    const key = `${svc.namespace}/${svc.name}`;
    if (seen.has(key)) ctx.addIssue({ code: 'custom', path: ['services', i, 'name'], message: `service ${key} is listed twice` });
    seen.add(key);
  });
});

/**
 * Checks a parsed records file. Returns it with the domain normalized
 * (lowercase, no trailing dot). Throws a ValidationError whose path names the
 * first offending field, e.g. `services[0].ports[1].port`.
 */
export function parseDnsRecords(value: unknown): DnsRecordsFile {
  if (value !== null && typeof value === 'object' && typeof (value as { domain?: unknown }).domain === 'string') {
    const domain = (value as { domain: string }).domain;
    value = { ...value, domain: domain.toLowerCase().replace(/\.$/, '') };
  }
  const result = recordsSchema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new ValidationError(formatFieldPath(issue.path) || '(file)', issue.message);
}
