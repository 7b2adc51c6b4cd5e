import { parseAllDocuments } from 'yaml';
import type { PolicyRef } from '../api/types.js';
import { MembraneError, ValidationError } from '../common/errors.js';
import {
  checkDnsLabel, checkDnsSubdomain, isObj, join, optObj, readInt, readLabels, readObj, requiredString, typeName, type Obj,
} from './manifest-fields.js';
import { readEndpointSlice, type EndpointSliceSpec } from './manifest-endpointslice.js';
import { readPodSpec, readPodTemplate, type PodSpec, type PodTemplate } from './manifest-pod.js';
import { readServiceSpec, type ServiceSpec } from './manifest-service.js';
import { checkServiceName } from '../service/validate.js';

export type { ContainerSpec, PodSpec, PodTemplate } from './manifest-pod.js';
export type { ServicePortSpec, ServiceSpec } from './manifest-service.js';
export type { EndpointSliceSpec } from './manifest-endpointslice.js';

/**
 * Kubernetes-style manifests for the lab: multi-document YAML with the kinds
 * Namespace, Pod, Deployment, Service, EndpointSlice and the three policy kinds. Parsing
 * validates every document before anything is applied and names the document
 * and field of the first error. Pure.
 */

export type PolicyKind = PolicyRef['kind'];

interface Doc {
  /** 1-based position in the file, counting non-empty documents. */
  index: number;
  name: string;
}

export interface NamespaceObject extends Doc {
  kind: 'Namespace';
  labels: Record<string, string>;
}

export interface PodObject extends Doc {
  kind: 'Pod';
  namespace: string;
  labels: Record<string, string>;
  spec: PodSpec;
}

export interface DeploymentObject extends Doc {
  kind: 'Deployment';
  namespace: string;
  labels: Record<string, string>;
  replicas: number;
  selector: Record<string, string>;
  template: PodTemplate;
}

export interface ServiceObject extends Doc {
  kind: 'Service';
  namespace: string;
  labels: Record<string, string>;
  spec: ServiceSpec;
  /** The document as written (to tell `configured` from `unchanged`). */
  object: Obj;
}

export interface EndpointSliceObject extends Doc {
  kind: 'EndpointSlice';
  namespace: string;
  labels: Record<string, string>;
  slice: EndpointSliceSpec;
  object: Obj;
}

export interface PolicyObject extends Doc {
  kind: PolicyKind;
  /** "" for CiliumClusterwideNetworkPolicy. */
  namespace: string;
  object: Obj;
}

export type LabObject = NamespaceObject | PodObject | DeploymentObject | ServiceObject | EndpointSliceObject | PolicyObject;

const API_VERSIONS: Record<LabObject['kind'], string> = {
  Namespace: 'v1',
  Pod: 'v1',
  Service: 'v1',
  EndpointSlice: 'discovery.k8s.io/v1',
  Deployment: 'apps/v1',
  CiliumNetworkPolicy: 'cilium.io/v2',
  CiliumClusterwideNetworkPolicy: 'cilium.io/v2',
  NetworkPolicy: 'networking.k8s.io/v1',
  CiliumCIDRGroup: 'cilium.io/v2alpha1',
};

/** The kubectl-style resource name printed for an object: `deployment.apps/deathstar`. */
export const RESOURCE_NAMES: Record<LabObject['kind'], string> = {
  Namespace: 'namespace',
  Pod: 'pod',
  Service: 'service',
  EndpointSlice: 'endpointslice.discovery.k8s.io',
  Deployment: 'deployment.apps',
  CiliumNetworkPolicy: 'ciliumnetworkpolicy.cilium.io',
  CiliumClusterwideNetworkPolicy: 'ciliumclusterwidenetworkpolicy.cilium.io',
  NetworkPolicy: 'networkpolicy.networking.k8s.io',
  CiliumCIDRGroup: 'ciliumcidrgroup.cilium.io',
};

export function isPolicy(o: LabObject): o is PolicyObject {
  return o.kind === 'CiliumNetworkPolicy' || o.kind === 'CiliumClusterwideNetworkPolicy' || o.kind === 'NetworkPolicy' || o.kind === 'CiliumCIDRGroup';
}

export interface ParseOptions {
  /** Namespace of namespaced objects whose metadata has none (kubectl's -n). */
  defaultNamespace?: string;
}

function describe(index: number, raw: unknown): string {
  if (!isObj(raw)) return `document ${index}`;
  const kind = typeof raw['kind'] === 'string' ? raw['kind'] : undefined;
  const meta = raw['metadata'];
  const name = isObj(meta) && typeof meta['name'] === 'string' ? meta['name'] : undefined;
  return `document ${index}${kind ? ` (${kind}${name ? ` "${name}"` : ''})` : ''}`;
}

/**
 * Parses and validates every document of `text`. Throws a MembraneError
 * (EINVAL) naming the document ("document 2 (Pod "xwing")"), with `path` set
 * to the offending field, at the first problem; returns nothing partial.
 */
export function parseManifests(text: string, opts: ParseOptions = {}): LabObject[] {
  const defaultNamespace = opts.defaultNamespace ?? 'default';
  const docs = parseAllDocuments(text);
  const out: LabObject[] = [];
  let index = 0;
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      throw new MembraneError('EINVAL', `document ${index + 1}: invalid YAML: ${e.message}`, { cause: e });
    }
    const raw: unknown = doc.toJS();
    if (raw === null || raw === undefined) continue; // an empty document, as between two "---"
    index += 1;
    try {
      out.push(readObject(raw, index, defaultNamespace));
    } catch (err) {
      if (err instanceof ValidationError) {
        throw new MembraneError('EINVAL', `${describe(index, raw)}: ${err.message}`, { path: err.path ?? '', cause: err });
      }
      throw err;
    }
  }
  checkDuplicates(out);
  return out;
}

function checkDuplicates(objects: LabObject[]): void {
  const seen = new Map<string, number>();
  for (const o of objects) {
    const ns = 'namespace' in o ? o.namespace : '';
    const key = `${o.kind}/${ns}/${o.name}`;
    const first = seen.get(key);
    if (first !== undefined) {
      throw new MembraneError('EINVAL', `document ${o.index} (${o.kind} "${o.name}"): same object as document ${first}`, { path: 'metadata.name' });
    }
    seen.set(key, o.index);
  }
}

function readObject(raw: unknown, index: number, defaultNamespace: string): LabObject {
  const o = readObj(raw, '');
  const kind = requiredString(o, 'kind', '');
  if (!(kind in API_VERSIONS)) {
    throw new ValidationError('kind', `unsupported kind "${kind}": the lab takes ${Object.keys(API_VERSIONS).join(', ')}`);
  }
  const k = kind as LabObject['kind'];
  const apiVersion = requiredString(o, 'apiVersion', '');
  // A CiliumCIDRGroup is read as v2alpha1 (what clusters serve) or v2.
  if (apiVersion !== API_VERSIONS[k] && !(k === 'CiliumCIDRGroup' && apiVersion === 'cilium.io/v2')) {
    throw new ValidationError('apiVersion', `${kind} needs apiVersion "${API_VERSIONS[k]}", got "${apiVersion}"`);
  }
  const meta = optObj(o, 'metadata', '');
  if (!meta) throw new ValidationError('metadata', 'is required');
  const rawName = requiredString(meta, 'name', 'metadata');
  const labels = readLabels(meta['labels'], 'metadata.labels');
  const namespaceOf = (): string => {
    const ns = meta['namespace'];
    if (ns === undefined || ns === null || ns === '') return defaultNamespace;
    if (typeof ns !== 'string') throw new ValidationError('metadata.namespace', `must be a string, got ${typeName(ns)}`);
    return checkDnsLabel(ns, 'metadata.namespace');
  };

  switch (k) {
    case 'Namespace':
      return {
        kind: k, index, name: checkDnsLabel(rawName, 'metadata.name'),
        labels: { ...labels, 'kubernetes.io/metadata.name': rawName },
      };
    case 'Pod':
      return {
        kind: k, index, name: checkDnsSubdomain(rawName, 'metadata.name'), namespace: namespaceOf(), labels,
        spec: readPodSpec(o['spec'], 'spec'),
      };
    case 'Deployment':
      return readDeployment(o, index, checkDnsSubdomain(rawName, 'metadata.name', 200), namespaceOf(), labels);
    case 'Service':
      return {
        // The agent's own rule (a DNS-1035 label), so the lab never records a service the agents refuse.
        kind: k, index, name: checkServiceName(rawName, 'metadata.name'), namespace: namespaceOf(), labels,
        spec: readServiceSpec(o['spec'], meta), object: o,
      };
    case 'EndpointSlice': {
      const namespace = namespaceOf();
      return {
        kind: k, index, name: checkDnsSubdomain(rawName, 'metadata.name'), namespace, labels,
        slice: readEndpointSlice(o, labels, namespace), object: o,
      };
    }
    case 'CiliumClusterwideNetworkPolicy':
      if (meta['namespace'] !== undefined && meta['namespace'] !== null) {
        throw new ValidationError('metadata.namespace', 'must not be set: a CiliumClusterwideNetworkPolicy is cluster-scoped');
      }
      checkPolicyBody(o, true);
      return { kind: k, index, name: checkDnsSubdomain(rawName, 'metadata.name'), namespace: '', object: o };
    case 'CiliumCIDRGroup':
      // Cluster-scoped; the agent validates the CIDRs, as it does the rules of policies.
      if (meta['namespace'] !== undefined && meta['namespace'] !== null) {
        throw new ValidationError('metadata.namespace', 'must not be set: a CiliumCIDRGroup is cluster-scoped');
      }
      readObj(o['spec'], 'spec');
      return { kind: k, index, name: checkDnsSubdomain(rawName, 'metadata.name'), namespace: '', object: o };
    case 'CiliumNetworkPolicy':
    case 'NetworkPolicy':
      checkPolicyBody(o, k === 'CiliumNetworkPolicy');
      return { kind: k, index, name: checkDnsSubdomain(rawName, 'metadata.name'), namespace: namespaceOf(), object: o };
  }
}

/** The policy engine (in the agent) validates the rules; here only their envelope. */
function checkPolicyBody(o: Obj, cilium: boolean): void {
  const hasSpec = o['spec'] !== undefined && o['spec'] !== null;
  const hasSpecs = cilium && o['specs'] !== undefined && o['specs'] !== null;
  if (!hasSpec && !hasSpecs) throw new ValidationError('spec', cilium ? 'is required (or specs)' : 'is required');
  if (hasSpec) readObj(o['spec'], 'spec');
  if (hasSpecs) {
    const specs = o['specs'];
    if (!Array.isArray(specs)) throw new ValidationError('specs', `must be a list, got ${typeName(specs)}`);
    specs.forEach((s, i) => readObj(s, join('specs', i)));
  }
}

function readDeployment(o: Obj, index: number, name: string, namespace: string, labels: Record<string, string>): DeploymentObject {
  const spec = readObj(o['spec'], 'spec');
  const replicas = spec['replicas'] === undefined || spec['replicas'] === null ? 1 : readInt(spec['replicas'], 'spec.replicas', 0, 100);
  const selectorObj = readObj(spec['selector'], 'spec.selector');
  if (selectorObj['matchExpressions'] !== undefined) {
    throw new ValidationError('spec.selector.matchExpressions', 'is not supported by the lab: use matchLabels');
  }
  const selector = readLabels(selectorObj['matchLabels'], 'spec.selector.matchLabels');
  if (Object.keys(selector).length === 0) throw new ValidationError('spec.selector.matchLabels', 'must name at least one label');
  const template = readPodTemplate(spec['template'], 'spec.template');
  for (const [key, value] of Object.entries(selector)) {
    if (template.labels[key] !== value) {
      throw new ValidationError('spec.template.metadata.labels', `must match spec.selector.matchLabels: missing ${key}=${value}`);
    }
  }
  return { kind: 'Deployment', index, name, namespace, labels, replicas, selector, template };
}
