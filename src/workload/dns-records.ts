/**
 * The DNS records file: what the lab knows about services and pods, written
 * by the lab (writeDnsRecords) and served by `membrane workload dns`. This
 * module holds its type and its validation; it does no I/O.
 *
 *   { "domain": "cluster.local",
 *     "services": [{ "namespace": "default", "name": "deathstar", "clusterIP": "10.96.0.12",
 *                    "ports": [{ "name": "http", "port": 80, "protocol": "TCP" }] }],
 *     "pods": [{ "namespace": "default", "name": "tiefighter", "ip": "10.0.1.5" }] }
 *
 * A headless service (`"clusterIP": "None"`) lists its ready endpoints
 * instead: `"endpoints": [{ "ip": "10.0.1.7", "ports": { "http": 8080 } }]`,
 * each with its own port per service port name.
 */
import net from 'node:net';
import { z } from 'zod';
import { ValidationError } from '../common/errors.js';
import { formatFieldPath } from '../labels/fieldpath.js';

export interface DnsServicePort {
  /** The port's name; an unnamed port ("" or absent) gets no SRV record, as in Kubernetes. */
  name?: string;
  port: number;
  /** Defaults to TCP, as in a Kubernetes Service. */
  protocol?: 'TCP' | 'UDP' | 'SCTP';
}

/** A ready endpoint of a headless service. */
export interface DnsEndpoint {
  ip: string;
  /** The endpoint's port per service port name (its targetPort, resolved); SRV records point there. */
  ports: Record<string, number>;
}

export interface DnsService {
  namespace: string;
  name: string;
  /** An IPv4 (A record) or IPv6 (AAAA record) address, or "None" for a headless service. */
  clusterIP: string;
  ports: DnsServicePort[];
  /** Headless services only: the ready endpoints, which its name resolves to. */
  endpoints?: DnsEndpoint[];
}

/** The clusterIP of a headless service: no address of its own, its name resolves to its endpoints. */
export const HEADLESS_CLUSTER_IP = 'None';

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
  message: `${JSON.stringify(ip)} is not an IPv4 or IPv6 address`,
}));
const clusterIP = z.string().refine((ip) => ip === HEADLESS_CLUSTER_IP || net.isIP(ip) !== 0, (ip) => ({
  message: `${JSON.stringify(ip)} is not an IPv4 or IPv6 address, nor "None" (a headless service)`,
}));

// A Service's port name is a DNS label (Kubernetes allows up to 63 characters); it becomes the SRV label `_<name>`.
const portName = z.string().refine((n) => n === '' || DNS_LABEL.test(n), {
  message: `must be a port name: ${DNS_LABEL_HINT}, like "http" (or "" for an unnamed port)`,
});

const portSchema = z.object({
  name: portName.optional(),
  port: z.number().int().min(1).max(65535),
  protocol: z.enum(['TCP', 'UDP', 'SCTP']).optional(),
}).strict();

const endpointSchema = z.object({
  ip: ipAddress,
  ports: z.record(portName, z.number().int().min(1).max(65535)),
}).strict();

const serviceSchema = z.object({
  namespace: dnsLabel,
  name: dnsLabel,
  clusterIP,
  ports: z.array(portSchema),
  endpoints: z.array(endpointSchema).optional(),
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
    if (svc.endpoints !== undefined && svc.clusterIP !== HEADLESS_CLUSTER_IP) {
      ctx.addIssue({ code: 'custom', path: ['services', i, 'endpoints'], message: 'only a headless service ("clusterIP": "None") lists endpoints: the others resolve to their cluster IP' });
    }
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
