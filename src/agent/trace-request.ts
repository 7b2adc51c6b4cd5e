/**
 * Validation of `POST /v1/policy/trace` bodies: every field is checked before
 * anything is looked up, and a bad one is named by its path (`from.pod.name`,
 * `to.labels[1]`, `port`).
 */
import net from 'node:net';
import { ValidationError } from '../common/errors.js';
import type { PeerSpec, PolicyTraceRequest, TraceProtocol } from '../api/types.js';
import { RESERVED_IDENTITIES, reservedIdentityByName } from '../identity/reserved.js';
import { LabelSource, parseLabel } from '../labels/labels.js';

export const TRACE_PROTOCOLS: readonly TraceProtocol[] = ['TCP', 'UDP', 'SCTP', 'ICMP'];

/** Kubernetes object names: a DNS subdomain (pods) or a DNS label (namespaces). */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The most requests one `POST /v1/policy/traces` may carry. */
export const MAX_TRACE_BATCH = 10_000;

/**
 * Checks a trace request; returns it with the protocol upper-cased. Throws
 * ValidationError naming the field; `at` prefixes the paths (`requests[3].`
 * in a batch).
 */
export function validateTraceRequest(body: unknown, at = ''): PolicyTraceRequest {
  if (!isObject(body)) {
    throw new ValidationError(at.replace(/\.$/, ''), `${at ? 'must' : 'the body must'} be a JSON object {from, to, port, protocol}`);
  }
  const from = validatePeer(body['from'], `${at}from`);
  const to = validatePeer(body['to'], `${at}to`);
  const protoText = body['protocol'];
  const protocol = typeof protoText === 'string' ? protoText.toUpperCase() as TraceProtocol : undefined;
  if (!protocol || !TRACE_PROTOCOLS.includes(protocol)) {
    throw new ValidationError(`${at}protocol`, `${JSON.stringify(protoText)} is not one of ${TRACE_PROTOCOLS.join(', ')}`);
  }
  const port = body['port'];
  const [min, max, what] = protocol === 'ICMP' ? [0, 255, 'an ICMP type'] : [1, 65535, 'a port'];
  if (typeof port !== 'number' || !Number.isInteger(port) || port < min || port > max) {
    throw new ValidationError(`${at}port`, `${JSON.stringify(port)} is not ${what} (${min}-${max}) for ${protocol}`);
  }
  return { from, to, port, protocol };
}

/** Checks a `POST /v1/policy/traces` body `{requests: [...]}`; errors name `requests[i].from.pod` etc. */
export function validateTraceBatch(body: unknown): PolicyTraceRequest[] {
  const requests = isObject(body) ? body['requests'] : undefined;
  if (!Array.isArray(requests)) throw new ValidationError('requests', 'the body must be {requests: [{from, to, port, protocol}, ...]}');
  if (requests.length > MAX_TRACE_BATCH) {
    throw new ValidationError('requests', `${requests.length} requests; at most ${MAX_TRACE_BATCH} per call, send the rest in another`);
  }
  return requests.map((r, i) => validateTraceRequest(r, `requests[${i}].`));
}

function validatePeer(v: unknown, path: string): PeerSpec {
  const kinds = isObject(v) ? ['pod', 'labels', 'ip'].filter((k) => v[k] !== undefined) : [];
  if (!isObject(v) || kinds.length !== 1) {
    throw new ValidationError(path, 'give exactly one of {pod: {namespace, name}}, {labels: ["k8s:app=x", ...]} or {ip: "10.0.0.1"}');
  }
  if (v['pod'] !== undefined) {
    const pod = v['pod'];
    if (!isObject(pod)) throw new ValidationError(`${path}.pod`, 'must be {namespace, name}');
    const { namespace, name } = pod;
    if (typeof namespace !== 'string' || namespace.length > 63 || !DNS_LABEL.test(namespace)) {
      throw new ValidationError(`${path}.pod.namespace`, `${JSON.stringify(namespace)} is not a namespace name (lower-case DNS label)`);
    }
    if (typeof name !== 'string' || name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
      throw new ValidationError(`${path}.pod.name`, `${JSON.stringify(name)} is not a pod name (lower-case DNS subdomain)`);
    }
    return { pod: { namespace, name } };
  }
  if (v['ip'] !== undefined) {
    const ip = v['ip'];
    if (typeof ip !== 'string' || !net.isIPv4(ip)) throw new ValidationError(`${path}.ip`, `${JSON.stringify(ip)} is not an IPv4 address`);
    return { ip };
  }
  const labels = v['labels'];
  if (!Array.isArray(labels) || labels.length === 0) throw new ValidationError(`${path}.labels`, 'must be a non-empty list of labels like "k8s:app=x"');
  labels.forEach((l, i) => validateLabel(l, `${path}.labels[${i}]`));
  const reserved = labels.filter((l) => parseLabel(l as string, LabelSource.K8s).source === LabelSource.Reserved);
  if (reserved.length > 0 && labels.length > 1) {
    throw new ValidationError(`${path}.labels`, `a reserved label (${reserved[0]}) names a reserved identity on its own; give it alone`);
  }
  return { labels: labels as string[] };
}

function validateLabel(l: unknown, path: string): void {
  if (typeof l !== 'string' || l === '') throw new ValidationError(path, `${JSON.stringify(l)} is not a label like "k8s:app=x" or "app=x"`);
  let source: string;
  try {
    source = parseLabel(l, LabelSource.K8s).source;
  } catch (cause) {
    throw new ValidationError(path, (cause as Error).message, { cause });
  }
  if (source === LabelSource.Reserved && !(reservedIdentityByName(parseLabel(l).key)?.id ?? 0)) {
    // `unknown` (0) is left out: as a policy map key 0 means "any peer".
    const names = RESERVED_IDENTITIES.filter((r) => r.id !== 0).map((r) => `reserved:${r.name}`);
    throw new ValidationError(path, `"${l}" names no reserved identity a packet can have; they are ${names.join(', ')}`);
  }
  if (source !== LabelSource.K8s && source !== LabelSource.Reserved) {
    throw new ValidationError(path, `"${l}": only k8s: (pod) labels or one reserved: label can name a peer, not ${source}:`);
  }
}
