import type { L4Protocol } from '../api/types.js';
import { ValidationError } from '../common/errors.js';
import {
  checkDnsLabel, checkDnsSubdomain, join, optList, optObj, optString, readInt, readList, readObj, readString, typeName, type Obj,
} from './manifest-fields.js';
import { checkServiceAddress } from '../service/validate.js';

/**
 * A discovery.k8s.io/v1 EndpointSlice: the backends of a Service without a
 * selector, given by hand. Only IPv4 slices, as the lab is IPv4 only. Pure.
 */

/** The label that ties a slice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export interface EndpointSlicePort {
  /** Matches the Service port of the same name ("" for an unnamed one). */
  name: string;
  /** The backend's port (already the target port). */
  port: number;
  protocol: L4Protocol;
}

export interface SliceEndpoint {
  addresses: string[];
  /** `conditions.ready`: unset means ready, as Kubernetes reads it. */
  ready: boolean;
  /** `conditions.serving`: unset means the same as ready. */
  serving: boolean;
  terminating: boolean;
  /** targetRef of kind Pod. */
  pod?: { namespace: string; name: string };
}

export interface EndpointSliceSpec {
  serviceName: string;
  ports: EndpointSlicePort[];
  endpoints: SliceEndpoint[];
}

const PROTOCOLS = new Set<string>(['TCP', 'UDP', 'SCTP']);
const MAX_ENDPOINTS = 1000;
const MAX_ADDRESSES = 100;

function optBool(o: Obj, key: string, path: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new ValidationError(join(path, key), `must be true or false, got ${typeName(v)}`);
  return v;
}

function readSlicePort(v: unknown, path: string): EndpointSlicePort {
  const o = readObj(v, path);
  const name = optString(o, 'name', path);
  const protocol = optString(o, 'protocol', path) ?? 'TCP';
  if (!PROTOCOLS.has(protocol)) throw new ValidationError(join(path, 'protocol'), `must be TCP, UDP or SCTP, got "${protocol}"`);
  if (o['port'] === undefined || o['port'] === null) throw new ValidationError(join(path, 'port'), 'is required: the lab needs each backend port');
  return {
    name: name === undefined || name === '' ? '' : checkDnsLabel(name, join(path, 'name')),
    port: readInt(o['port'], join(path, 'port'), 1, 65535),
    protocol: protocol as L4Protocol,
  };
}

function readEndpoint(v: unknown, path: string, namespace: string): SliceEndpoint {
  const o = readObj(v, path);
  const addresses = readList(o['addresses'], join(path, 'addresses'));
  if (addresses.length === 0 || addresses.length > MAX_ADDRESSES) {
    throw new ValidationError(join(path, 'addresses'), `must list 1 to ${MAX_ADDRESSES} addresses, got ${addresses.length}`);
  }
  const conditions = optObj(o, 'conditions', path) ?? {};
  const at = join(path, 'conditions');
  const ready = optBool(conditions, 'ready', at) ?? true;
  const endpoint: SliceEndpoint = {
    addresses: addresses.map((a, i) => {
      // The agents' rule for backend addresses: canonical IPv4, not loopback, multicast, unspecified or broadcast.
      return checkServiceAddress(readString(a, join(join(path, 'addresses'), i)), join(join(path, 'addresses'), i));
    }),
    ready,
    serving: optBool(conditions, 'serving', at) ?? ready,
    terminating: optBool(conditions, 'terminating', at) ?? false,
  };
  const ref = optObj(o, 'targetRef', path);
  if (ref && (ref['kind'] === undefined || ref['kind'] === 'Pod') && typeof ref['name'] === 'string') {
    const ns = optString(ref, 'namespace', join(path, 'targetRef'));
    endpoint.pod = { namespace: ns || namespace, name: checkDnsSubdomain(ref['name'], join(join(path, 'targetRef'), 'name')) };
  }
  return endpoint;
}

/** Reads an EndpointSlice's body (addressType, ports, endpoints) and its service-name label. */
export function readEndpointSlice(o: Obj, labels: Record<string, string>, namespace: string): EndpointSliceSpec {
  const addressType = o['addressType'];
  if (addressType === undefined || addressType === null || addressType === '') throw new ValidationError('addressType', 'is required (IPv4)');
  if (addressType !== 'IPv4') throw new ValidationError('addressType', `${typeof addressType === 'string' ? `"${addressType}"` : typeName(addressType)} is not supported by the lab: use IPv4`);
  const serviceName = labels[SERVICE_NAME_LABEL];
  if (serviceName === undefined || serviceName === '') {
    throw new ValidationError(join('metadata.labels', SERVICE_NAME_LABEL), 'is required: it names the Service whose backends the slice lists');
  }
  checkDnsLabel(serviceName, join('metadata.labels', SERVICE_NAME_LABEL));
  const ports = optList(o, 'ports', '').map((p, i) => readSlicePort(p, join('ports', i)));
  const names = new Set<string>();
  ports.forEach((p, i) => {
    if (names.has(p.name)) throw new ValidationError(join(join('ports', i), 'name'), `duplicate port name "${p.name}"`);
    names.add(p.name);
  });
  const rawEndpoints = optList(o, 'endpoints', '');
  if (rawEndpoints.length > MAX_ENDPOINTS) throw new ValidationError('endpoints', `lists ${rawEndpoints.length} endpoints; at most ${MAX_ENDPOINTS}`);
  return { serviceName, ports, endpoints: rawEndpoints.map((e, i) => readEndpoint(e, join('endpoints', i), namespace)) };
}
