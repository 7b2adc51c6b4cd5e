/**
 * From a validated policy document to ParsedPolicy: defaults filled in, CIDRs
 * normalized, IPv6 parts set apart (they select no traffic: cidrPeer and
 * icmpRule below), derived labels added, and selectors namespace-scoped exactly as
 * Cilium scopes them (§3; rules in subjectSelector and peerSelector below).
 * Cannot fail: everything was checked by the schema.
 */
import type { PolicyRef } from '../api/types.js';
import { NAMESPACE_LABELS_PREFIX, POD_NAMESPACE_LABEL, POLICY_DERIVED_FROM_LABEL, POLICY_NAMESPACE_LABEL, POLICY_NAME_LABEL } from '../labels/k8s.js';
import { LabelSet, LabelSource, parseLabel, splitSource, type Label } from '../labels/labels.js';
import { EndpointSelector, type LabelSelectorSpec } from '../labels/selector.js';
import { formatCidr, parseCidr } from './cidr.js';
import { isIPv6Cidr } from './ipv6.js';
import type { Entity } from './entities.js';
import { readPortValue } from './ports.js';
import { readIcmpType } from './icmp.js';
import type { CidrRuleDocument, IcmpRuleDocument, PolicyDocument, PortRuleDocument, RuleDocument } from './schema.js';
import type { CidrRule, IcmpRule, ParsedPolicy, PeerRule, PeerSpec, PolicyRule, PortProtocolName, PortRule, RuleSection, ServiceRef } from './types.js';

const NAMESPACE_SOURCES = [LabelSource.K8s, LabelSource.Any];
const NAMESPACE_KEY = `${LabelSource.K8s}:${POD_NAMESPACE_LABEL}`;

interface Scope {
  /** "" for cluster-wide policies. */
  namespace: string;
  /** The rule selects `reserved:init` endpoints. */
  subjectMatchesInit: boolean;
}

/**
 * The subject of a rule. In a CiliumNetworkPolicy it is always limited to the
 * policy's namespace, as in Cilium: a `k8s:io.kubernetes.pod.namespace` given
 * in matchLabels is overwritten by the policy's namespace (Cilium warns about
 * it), while matchExpressions on that key stay and are ANDed with it, so
 * `NotIn [<own namespace>]` selects nothing. A cluster-wide rule is taken as written.
 */
export function subjectSelector(spec: LabelSelectorSpec, namespace: string): EndpointSelector {
  if (namespace === '') return EndpointSelector.fromLabelSelector(spec);
  const isNamespaceKey = (key: string) => {
    const { source, key: bare } = splitSource(key, LabelSource.Any);
    return source === LabelSource.K8s && bare === POD_NAMESPACE_LABEL;
  };
  const matchLabels = Object.fromEntries(Object.entries(spec.matchLabels ?? {}).filter(([key]) => !isNamespaceKey(key)));
  return EndpointSelector.fromLabelSelector({ ...spec, matchLabels }).and(NAMESPACE_KEY, 'In', [namespace]);
}

/**
 * A peer selector (`fromEndpoints`, `toEndpoints`), scoped as Cilium scopes
 * it. A key's source is `k8s:` or `any:` (no prefix) unless said otherwise;
 * "names" below means any key in matchLabels or matchExpressions, whatever
 * the operator.
 *  1. A selector that names a `reserved:` key is taken as written, in both
 *     kinds of policy: reserved identities (host, world, init, ...) carry no
 *     namespace label, so scoping would make the selector match nothing.
 *  2. A selector that names the pod namespace key
 *     (`io.kubernetes.pod.namespace`) is taken as written: its author chose
 *     the namespaces.
 *  3. In a cluster-wide policy every other selector gets
 *     `k8s:io.kubernetes.pod.namespace` Exists, so that `{}` means every pod
 *     but not the host or world; namespace-label keys do not change this. The
 *     exception is a rule whose subject selects `reserved:init` endpoints
 *     (which have no labels yet): its peers are taken as written.
 *  4. In a CiliumNetworkPolicy a selector that names a namespace-label key
 *     (`io.cilium.k8s.namespace.labels.<key>`) is taken as written: it
 *     selects matching pods in every namespace whose labels match, the
 *     policy's own included. This is Cilium's documented way for a
 *     namespaced policy to reach pods of other namespaces ("Using Kubernetes
 *     constructs in policy", docs.cilium.io). Every other selector gets
 *     `k8s:io.kubernetes.pod.namespace=<policy namespace>`, so `{}` means
 *     every endpoint of this namespace.
 */
function peerSelector(spec: LabelSelectorSpec, scope: Scope): EndpointSelector {
  const es = EndpointSelector.fromLabelSelector(spec);
  if (es.hasSource(LabelSource.Reserved)) return es;
  if (es.hasKey(POD_NAMESPACE_LABEL, NAMESPACE_SOURCES)) return es;
  if (scope.namespace === '') return scope.subjectMatchesInit ? es : es.and(NAMESPACE_KEY, 'Exists');
  if (es.hasKeyPrefix(NAMESPACE_LABELS_PREFIX, NAMESPACE_SOURCES)) return es;
  return es.and(NAMESPACE_KEY, 'In', [scope.namespace]);
}

/**
 * A `fromRequires` / `toRequires` selector, scoped as Cilium scopes them:
 * like a peer selector (rules 2-4 above), but rule 1 does not apply, so a
 * `reserved:` key gets the namespace scope too.
 */
function requiresSelector(spec: LabelSelectorSpec, scope: Scope): EndpointSelector {
  const es = EndpointSelector.fromLabelSelector(spec);
  if (es.hasKey(POD_NAMESPACE_LABEL, NAMESPACE_SOURCES)) return es;
  if (scope.namespace === '') return scope.subjectMatchesInit ? es : es.and(NAMESPACE_KEY, 'Exists');
  if (es.hasKeyPrefix(NAMESPACE_LABELS_PREFIX, NAMESPACE_SOURCES)) return es;
  return es.and(NAMESPACE_KEY, 'In', [scope.namespace]);
}

const normalCidr = (text: string): string => formatCidr(parseCidr(text)!);

type CidrPeer = Extract<PeerSpec, { kind: 'cidr' }>;

function cidrRule(doc: CidrRuleDocument): CidrRule {
  const out: CidrRule = { except: (doc.except ?? []).map(normalCidr) };
  if (doc.cidr !== undefined) out.cidr = normalCidr(doc.cidr);
  if (doc.cidrGroupRef !== undefined) out.cidrGroupRef = doc.cidrGroupRef;
  if (doc.cidrGroupSelector !== undefined) out.cidrGroupSelector = EndpointSelector.fromLabelSelector(doc.cidrGroupSelector);
  return out;
}

/**
 * A CIDR peer whose `cidrs` are only the IPv4 entries (and CIDR groups): IPv6
 * ones select no traffic (ipv6.ts), so they never reach peer selection, where
 * `::/0` would otherwise look like a /0 and select the world. The peer stays
 * a CIDR peer even with no entry left, which selects nothing; dropping the
 * peer instead would mean any peer. `asWritten` keeps every entry for display.
 */
export function cidrPeer(field: CidrPeer['field'], written: CidrRule[]): CidrPeer {
  const cidrs = written.filter((c) => c.cidr === undefined || !isIPv6Cidr(c.cidr));
  return cidrs.length === written.length ? { kind: 'cidr', field, cidrs } : { kind: 'cidr', field, cidrs, asWritten: written };
}

interface ServiceSelectorDocument {
  k8sService?: { serviceName: string; namespace?: string };
  k8sServiceSelector?: { selector: LabelSelectorSpec; namespace?: string };
}

/** A `toServices` entry; without a namespace it means the policy's own, or every namespace in a cluster-wide policy. */
function serviceRef(doc: ServiceSelectorDocument, scope: Scope): ServiceRef {
  const namespace = doc.k8sService?.namespace ?? doc.k8sServiceSelector?.namespace ?? (scope.namespace || undefined);
  const ref: ServiceRef = doc.k8sService
    ? { name: doc.k8sService.serviceName }
    : { selector: EndpointSelector.fromLabelSelector(doc.k8sServiceSelector!.selector) };
  if (namespace !== undefined) ref.namespace = namespace;
  return ref;
}

function peerSpec(doc: Record<string, unknown>, dir: 'from' | 'to', scope: Scope): PeerSpec | undefined {
  const endpoints = doc[`${dir}Endpoints`] as LabelSelectorSpec[] | undefined;
  if (endpoints) return { kind: 'endpoints', field: `${dir}Endpoints`, selectors: endpoints.map((s) => peerSelector(s, scope)) };
  const entities = doc[`${dir}Entities`] as Entity[] | undefined;
  if (entities) return { kind: 'entities', field: `${dir}Entities`, entities: [...entities] };
  const cidrs = doc[`${dir}CIDR`] as string[] | undefined;
  if (cidrs) return cidrPeer(`${dir}CIDR`, cidrs.map((c) => ({ cidr: normalCidr(c), except: [] })));
  const cidrSet = doc[`${dir}CIDRSet`] as CidrRuleDocument[] | undefined;
  if (cidrSet) return cidrPeer(`${dir}CIDRSet`, cidrSet.map(cidrRule));
  const services = dir === 'to' ? doc['toServices'] as ServiceSelectorDocument[] | undefined : undefined;
  if (services) return { kind: 'services', field: 'toServices', services: services.map((s) => serviceRef(s, scope)) };
  return undefined;
}

function portRule(doc: PortRuleDocument): PortRule {
  const ports = (doc.ports ?? []).map((pp) => {
    const value = readPortValue(pp.port);
    const out: PortRule['ports'][number] = {
      port: 'name' in value ? value.name : 'number' in value ? value.number : 0,
      protocol: (pp.protocol ?? 'ANY') as PortProtocolName,
    };
    if (pp.endPort !== undefined) out.endPort = pp.endPort;
    return out;
  });
  const rule: PortRule = { ports };
  if (doc.rules?.http) rule.rules = { http: doc.rules.http.map((h) => ({ ...h })) };
  return rule;
}

/**
 * ICMP type names become numbers (the schema checked them). Only IPv4 fields
 * select traffic: an ICMPv6 one selects none (ipv6.ts) and is kept for
 * display only. A rule left without fields stays, and yields no entry; were
 * it dropped, an icmps list of ICMPv6 fields only would become no icmps, i.e.
 * every protocol.
 */
function icmpRule(doc: IcmpRuleDocument): IcmpRule {
  const written = (doc.fields ?? []).map((f) => {
    const read = readIcmpType(f.type, f.family);
    return { family: f.family ?? 'IPv4', type: 'type' in read ? read.type : 0 };
  });
  const fields = written.flatMap((f) => (f.family === 'IPv4' ? [{ family: f.family, type: f.type }] : []));
  return fields.length === written.length ? { fields } : { fields, asWritten: written };
}

function peerRule(doc: Record<string, unknown>, dir: 'from' | 'to', scope: Scope): PeerRule {
  const out: PeerRule = {};
  const peer = peerSpec(doc, dir, scope);
  if (peer) out.peer = peer;
  const toPorts = doc['toPorts'] as PortRuleDocument[] | undefined;
  if (toPorts) out.toPorts = toPorts.map(portRule);
  const icmps = doc['icmps'] as IcmpRuleDocument[] | undefined;
  if (icmps) out.icmps = icmps.map(icmpRule);
  const requires = doc[`${dir}Requires`] as LabelSelectorSpec[] | undefined;
  if (requires) out.requires = requires.map((r) => requiresSelector(r, scope));
  return out;
}

/** The labels every rule of a policy object gets, naming where it came from (kind, name, namespace). */
export function derivedPolicyLabels(ref: PolicyRef): Label[] {
  const k8s = (key: string, value: string): Label => ({ source: LabelSource.K8s, key, value });
  const derived = [k8s(POLICY_DERIVED_FROM_LABEL, ref.kind), k8s(POLICY_NAME_LABEL, ref.name)];
  if (ref.namespace !== '') derived.push(k8s(POLICY_NAMESPACE_LABEL, ref.namespace));
  return derived;
}

function ruleLabels(rule: RuleDocument, ref: PolicyRef): LabelSet {
  const derived = derivedPolicyLabels(ref);
  const own = (rule.labels ?? []).map((l) =>
    typeof l === 'string' ? parseLabel(l, LabelSource.Unspec) : { source: l.source ?? LabelSource.Unspec, key: l.key, value: l.value ?? '' });
  return LabelSet.of([...own, ...derived]);
}

function normalizeRule(rule: RuleDocument, index: number, path: string, ref: PolicyRef): PolicyRule {
  const endpointSelector = subjectSelector(rule.endpointSelector, ref.namespace);
  const scope: Scope = { namespace: ref.namespace, subjectMatchesInit: endpointSelector.hasKey('init', [LabelSource.Reserved]) };
  const section = (s: RuleSection, dir: 'from' | 'to'): PeerRule[] =>
    ((rule[s] ?? []) as Record<string, unknown>[]).map((r) => peerRule(r, dir, scope));
  const out: PolicyRule = {
    index,
    path,
    endpointSelector,
    labels: ruleLabels(rule, ref),
    enableDefaultDeny: { ...rule.enableDefaultDeny },
    ingress: section('ingress', 'from'),
    ingressDeny: section('ingressDeny', 'from'),
    egress: section('egress', 'to'),
    egressDeny: section('egressDeny', 'to'),
  };
  if (rule.description !== undefined) out.description = rule.description;
  return out;
}

/** `object` is kept as given; `doc` is its validated form. */
export function normalizePolicy(doc: PolicyDocument, object: unknown, defaultNamespace: string): ParsedPolicy {
  const namespace = doc.kind === 'CiliumNetworkPolicy' ? doc.metadata.namespace ?? defaultNamespace : '';
  const ref: PolicyRef = { kind: doc.kind, namespace, name: doc.metadata.name };
  const ruleDocs = [
    ...(doc.spec ? [{ rule: doc.spec, path: 'spec' }] : []),
    ...(doc.specs ?? []).map((rule, i) => ({ rule, path: `specs[${i}]` })),
  ];
  const parsed: ParsedPolicy = { ref, object, rules: ruleDocs.map(({ rule, path }, i) => normalizeRule(rule, i, path, ref)) };
  if (doc.description !== undefined) parsed.description = doc.description;
  return parsed;
}
