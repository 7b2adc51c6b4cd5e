import type { DnsRecordsFile, DnsService } from '../workload/dns-records.js';
import { resolvConf } from '../workload/dns-resolvconf.js';
import { parseManifests, type LabObject } from './manifest.js';
import { HEADLESS } from './manifest-service.js';
import { serviceBackends, type BackendInputs } from './service-backends.js';
import { clusterDnsIP } from './service-ip.js';
import { serviceCidr } from './service-plan.js';
import type { LabState, ServiceRecord } from './state.js';

/**
 * The lab's cluster DNS, laid out as kubeadm lays it out: a `kube-system`
 * namespace, a `coredns` Deployment whose pod (labels k8s-app=kube-dns, so
 * policies and flows see it as kube-dns) runs `membrane workload dns`, and
 * the `kube-dns` Service at the service CIDR's tenth address (10.96.0.10).
 * The lab applies it as a manifest when it comes up, and rewrites the records
 * file the server follows whenever services or pods change. Pure.
 */

export const CLUSTER_DOMAIN = 'cluster.local';
export const KUBE_SYSTEM = 'kube-system';
export const KUBE_DNS_SERVICE = 'kube-dns';
export const KUBE_DNS_LABELS = { 'k8s-app': 'kube-dns' };
const COREDNS_IMAGE = 'registry.k8s.io/coredns/coredns:v1.11.1';

/** The manifest of the cluster DNS; `recordsFile` is the file the lab keeps its records in. */
export function clusterDnsObjects(state: LabState, recordsFile: string): LabObject[] {
  const ip = clusterDnsIP(serviceCidr(state));
  const docs = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: KUBE_SYSTEM } },
    {
      apiVersion: 'apps/v1', kind: 'Deployment',
      metadata: { name: 'coredns', namespace: KUBE_SYSTEM, labels: KUBE_DNS_LABELS },
      spec: {
        replicas: 1,
        selector: { matchLabels: KUBE_DNS_LABELS },
        template: {
          metadata: { labels: KUBE_DNS_LABELS },
          spec: {
            serviceAccountName: 'coredns',
            containers: [{
              name: 'coredns',
              image: COREDNS_IMAGE,
              command: ['membrane', 'workload', 'dns', '--records', recordsFile, '--listen', '0.0.0.0', '--domain', CLUSTER_DOMAIN],
              ports: [
                { name: 'dns', containerPort: 53, protocol: 'UDP' },
                { name: 'dns-tcp', containerPort: 53, protocol: 'TCP' },
              ],
              readinessProbe: { tcpSocket: { port: 53 } },
            }],
          },
        },
      },
    },
    {
      apiVersion: 'v1', kind: 'Service',
      metadata: { name: KUBE_DNS_SERVICE, namespace: KUBE_SYSTEM, labels: { ...KUBE_DNS_LABELS, 'kubernetes.io/name': 'CoreDNS' } },
      spec: {
        selector: KUBE_DNS_LABELS,
        clusterIP: ip,
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 'dns-tcp' },
        ],
      },
    },
  ];
  // JSON is YAML: the same parser validates these as any manifest.
  return parseManifests(docs.map((d) => JSON.stringify(d)).join('\n---\n'));
}

/**
 * What the DNS server answers: every service and every pod, sorted so the
 * file changes only when they do. A headless service lists its ready
 * backends (`inputs` say which pods are), which its name resolves to;
 * terminating ones are left out, as Kubernetes publishes only ready
 * addresses.
 */
export function dnsRecords(state: LabState, inputs: BackendInputs): DnsRecordsFile {
  const byName = (a: { namespace: string; name: string }, b: { namespace: string; name: string }) =>
    a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name);
  return {
    domain: CLUSTER_DOMAIN,
    services: [...state.services].sort(byName).map((s) => dnsService(s, inputs)),
    pods: state.pods.filter((p) => p.ip !== '').sort(byName).map((p) => ({ namespace: p.namespace, name: p.name, ip: p.ip })),
  };
}

function dnsService(s: ServiceRecord, inputs: BackendInputs): DnsService {
  const out: DnsService = {
    namespace: s.namespace, name: s.name, clusterIP: s.spec.clusterIP,
    ports: s.spec.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })),
  };
  if (s.spec.clusterIP === HEADLESS) {
    out.endpoints = serviceBackends(s, inputs).filter((b) => !b.terminating).map((b) => ({ ip: b.ip, ports: { ...b.ports } }));
  }
  return out;
}

/** The resolv.conf of a pod in `namespace` of this lab. */
export function podResolvConf(state: LabState, namespace: string): string {
  return resolvConf(namespace, clusterDnsIP(serviceCidr(state)), CLUSTER_DOMAIN);
}
