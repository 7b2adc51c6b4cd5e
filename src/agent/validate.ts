/**
 * Validation of what the agent's API is given. Everything is checked before
 * the agent acts, and a failure names the field (ValidationError), so a bad
 * request changes nothing and never reaches the kernel.
 */
import { ValidationError } from '../common/errors.js';
import type { CniGcRequest, ContainerPortModel, EndpointChangeRequest, NamespaceModel, PodMetaModel } from '../api/types.js';
import { ip4ToInt } from '../datapath/layout.js';
import { vethNames } from '../cni/veth.js';

const LABEL_KEY_RE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE_RE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function requireString(v: unknown, field: string): string {
  if (typeof v !== 'string' || v === '') throw new ValidationError(field, 'is required and must be a non-empty string');
  return v;
}

export function validateLabels(labels: unknown, field: string): void {
  if (labels === undefined) return;
  if (!isObject(labels)) throw new ValidationError(field, 'must be a map of label keys to values');
  for (const [k, v] of Object.entries(labels)) {
    const name = k.includes('/') ? k.slice(k.indexOf('/') + 1) : k;
    if (!LABEL_KEY_RE.test(k) || name.length > 63 || k.length > 316) throw new ValidationError(`${field}.${k}`, `"${k}" is not a valid label key`);
    if (typeof v !== 'string' || v.length > 63 || !LABEL_VALUE_RE.test(v)) throw new ValidationError(`${field}.${k}`, `"${String(v)}" is not a valid label value`);
  }
}

export function validateNamespaceName(name: unknown, field: string): void {
  if (typeof name !== 'string' || name.length > 63 || !DNS1123_LABEL.test(name)) {
    throw new ValidationError(field, `"${String(name)}" is not a valid namespace name (a DNS-1123 label)`);
  }
}

export function validatePodName(name: unknown, field: string): void {
  if (typeof name !== 'string' || name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    throw new ValidationError(field, `"${String(name)}" is not a valid pod name (a DNS-1123 subdomain)`);
  }
}

export function validateIpv4(v: unknown, field: string): string {
  const ip = requireString(v, field);
  try {
    ip4ToInt(ip);
  } catch {
    throw new ValidationError(field, `"${ip}" is not an IPv4 address`);
  }
  return ip;
}

export function validateEndpointRequest(req: EndpointChangeRequest): void {
  requireString(req.containerId, 'containerId');
  requireString(req.ifName, 'ifName');
  requireString(req.netns, 'netns');
  requireString(req.hostIfName, 'hostIfName');
  const expected = vethNames(req.containerId, req.ifName).host;
  if (req.hostIfName !== expected) {
    throw new ValidationError('hostIfName', `"${req.hostIfName}" is not the host-side veth of ${req.containerId.slice(0, 12)}:${req.ifName} (expected ${expected})`);
  }
  if (!Number.isInteger(req.hostIfIndex) || req.hostIfIndex <= 1) throw new ValidationError('hostIfIndex', 'must be the ifindex of the host-side veth');
  for (const f of ['hostMac', 'containerMac'] as const) {
    if (typeof req[f] !== 'string' || !MAC_RE.test(req[f])) throw new ValidationError(f, `"${String(req[f])}" is not a MAC address`);
  }
  validateIpv4(req.ipv4, 'ipv4');
  if (req.podNamespace !== undefined) validateNamespaceName(req.podNamespace, 'podNamespace');
  if (req.podName !== undefined) validatePodName(req.podName, 'podName');
  if ((req.podNamespace === undefined) !== (req.podName === undefined)) {
    throw new ValidationError(req.podName === undefined ? 'podName' : 'podNamespace', 'podNamespace and podName go together');
  }
  validateLabels(req.labels, 'labels');
}

export function validateNamespace(ns: NamespaceModel): void {
  validateNamespaceName(ns.name, 'name');
  validateLabels(ns.labels, 'labels');
}

const PROTOCOLS = new Set(['TCP', 'UDP', 'SCTP']);

export function validatePodMeta(pod: PodMetaModel): void {
  validateNamespaceName(pod.namespace, 'namespace');
  validatePodName(pod.name, 'name');
  validateLabels(pod.labels, 'labels');
  if (typeof pod.serviceAccount !== 'string' || (pod.serviceAccount !== '' && !DNS1123_SUBDOMAIN.test(pod.serviceAccount))) {
    throw new ValidationError('serviceAccount', `"${String(pod.serviceAccount)}" is not a valid service account name`);
  }
  if (!Array.isArray(pod.containerPorts)) throw new ValidationError('containerPorts', 'must be a list');
  pod.containerPorts.forEach((p: ContainerPortModel, i) => {
    const f = `containerPorts[${i}]`;
    if (!isObject(p)) throw new ValidationError(f, 'must be an object');
    if (!Number.isInteger(p.containerPort) || p.containerPort < 1 || p.containerPort > 65535) throw new ValidationError(`${f}.containerPort`, `"${String(p.containerPort)}" is not a port (1-65535)`);
    if (!PROTOCOLS.has(p.protocol)) throw new ValidationError(`${f}.protocol`, `"${String(p.protocol)}" is not TCP, UDP or SCTP`);
    if (p.name !== undefined && (typeof p.name !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(p.name) || p.name.length > 15)) {
      throw new ValidationError(`${f}.name`, `"${String(p.name)}" is not a valid port name (IANA_SVC_NAME: at most 15 lowercase alphanumerics and dashes)`);
    }
  });
}

export function validateGc(req: CniGcRequest): void {
  if (!Array.isArray(req.validAttachments)) throw new ValidationError('validAttachments', 'must be a list of {containerId, ifName}');
  req.validAttachments.forEach((a, i) => {
    if (!isObject(a)) throw new ValidationError(`validAttachments[${i}]`, 'must be an object with containerId and ifName');
    requireString(a.containerId, `validAttachments[${i}].containerId`);
    requireString(a.ifName, `validAttachments[${i}].ifName`);
  });
}
