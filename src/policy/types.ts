/**
 * Policies after parsing: validated, with defaults filled in and selectors
 * namespace-scoped, so that resolution never has to look at raw YAML again.
 * The four direction sections share one peer-rule shape.
 */
import type { PolicyRef } from '../api/types.js';
import type { LabelSet } from '../labels/labels.js';
import type { EndpointSelector } from '../labels/selector.js';
import type { Entity } from './entities.js';

/** The kinds that hold rules (a CiliumCIDRGroup travels with them but has none). */
export type PolicyKind = Exclude<PolicyRef['kind'], 'CiliumCIDRGroup'>;

export type RuleSection = 'ingress' | 'ingressDeny' | 'egress' | 'egressDeny';
export const RULE_SECTIONS: readonly RuleSection[] = ['ingress', 'ingressDeny', 'egress', 'egressDeny'];

export const isEgressSection = (s: RuleSection): boolean => s === 'egress' || s === 'egressDeny';
export const isDenySection = (s: RuleSection): boolean => s === 'ingressDeny' || s === 'egressDeny';

export type PortProtocolName = 'TCP' | 'UDP' | 'SCTP' | 'ANY';

export interface PortProtocol {
  /** A number (0 = every port) or a lower-case named port resolved through the pod's container ports. */
  port: number | string;
  /** Inclusive end of a range starting at `port`. */
  endPort?: number;
  protocol: PortProtocolName;
}

export interface HttpHeaderMatch {
  name: string;
  value?: string;
  secret?: { namespace?: string; name: string };
  mismatch?: 'LOG' | 'ADD' | 'DELETE' | 'REPLACE';
}

/** One HTTP rule; path, method and host are anchored POSIX extended regular expressions. */
export interface HttpRule {
  path?: string;
  method?: string;
  host?: string;
  headers?: string[];
  headerMatches?: HttpHeaderMatch[];
}

export interface L7Rules {
  http?: HttpRule[];
}

export interface PortRule {
  /** Empty: every protocol and port. */
  ports: PortProtocol[];
  /** Allow sections only. */
  rules?: L7Rules;
}

/** One ICMP type to match (`icmps[].fields[]`). */
export interface IcmpField {
  family: 'IPv4';
  /** 0-255; names are resolved at parse time. */
  type: number;
}

export interface IcmpRule {
  /** The IPv4 fields, the only ones that select traffic: ICMPv6 fields select none (ipv6.ts). May be empty. */
  fields: IcmpField[];
  /** Every field as written, ICMPv6 ones included, for display; absent when it equals `fields`. */
  asWritten?: { family: 'IPv4' | 'IPv6'; type: number }[];
}

export interface CidrRule {
  /** Normalized (host bits cleared); absent when a CIDR group is referenced instead. */
  cidr?: string;
  except: string[];
  cidrGroupRef?: string;
  cidrGroupSelector?: EndpointSelector;
}

/** A CiliumCIDRGroup: named, labelled CIDRs that CIDR peers reference (`cidrGroupRef`) or select (`cidrGroupSelector`). */
export interface CidrGroup {
  name: string;
  labels: LabelSet;
  /** Normalized prefixes (host bits cleared). */
  cidrs: string[];
}

export type CidrGroups = ReadonlyMap<string, CidrGroup>;

/** The L3 peer of a rule: at most one kind per rule. `field` is the name it was written with. */
export type PeerSpec =
  | { kind: 'endpoints'; field: 'fromEndpoints' | 'toEndpoints'; selectors: EndpointSelector[] }
  | { kind: 'entities'; field: 'fromEntities' | 'toEntities'; entities: Entity[] }
  | {
    kind: 'cidr'; field: 'fromCIDR' | 'toCIDR' | 'fromCIDRSet' | 'toCIDRSet';
    /** The IPv4 entries (and CIDR groups), the only ones that select anything: IPv6 ones select no traffic (ipv6.ts). May be empty. */
    cidrs: CidrRule[];
    /** Every entry as written, IPv6 ones included, for display; absent when it equals `cidrs`. */
    asWritten?: CidrRule[];
    /**
     * Kubernetes `ipBlock` semantics: the block also selects pods whose IPs are
     * in it (see peers.ts). Absent: Cilium's CIDR semantics, where pods, which
     * have identities of their own, never match.
     */
    matchesPods?: true;
  }
  | { kind: 'services'; field: 'toServices'; services: ServiceRef[] };

/**
 * One `toServices` entry: a service by name (`k8sService`) or services by
 * their labels (`k8sServiceSelector`), in `namespace` (absent: every
 * namespace, which only a cluster-wide policy can say).
 */
export interface ServiceRef {
  name?: string;
  selector?: EndpointSelector;
  namespace?: string;
}

/**
 * A service as policy sees it: a selector service stands for the pods its
 * selector picks in its namespace; one without a selector for its backend
 * addresses (from its EndpointSlices).
 */
export interface PolicyService {
  namespace: string;
  name: string;
  labels: LabelSet;
  /** The pod selector (k8s labels), or absent for a service without a selector. */
  selector?: Readonly<Record<string, string>>;
  backendIps: readonly string[];
}

/** Services by `namespace/name`. */
export type PolicyServices = ReadonlyMap<string, PolicyService>;

/** One entry of an ingress/egress/ingressDeny/egressDeny list. */
export interface PeerRule {
  /** Absent: no L3 field was given, i.e. any peer when toPorts or icmps is set and no peer at all otherwise. */
  peer?: PeerSpec;
  /** Absent or empty (and no icmps): every protocol and port. */
  toPorts?: PortRule[];
  /** ICMP types instead of ports; never together with toPorts (the schema refuses it, as Cilium does). */
  icmps?: IcmpRule[];
  /**
   * `fromRequires` / `toRequires` (deprecated in Cilium, still part of the
   * language): selectors, scoped like peer selectors, whose requirements are
   * ANDed into every endpoint peer selector of every rule that applies to the
   * same endpoint in the same direction, allow and deny sections apart
   * (resolve.ts). They grant nothing themselves, and an entry that has them
   * is never a wildcard peer.
   */
  requires?: EndpointSelector[];
  /**
   * Where the entry was written, when that is not `<rule path>.<section>[<index>]`:
   * set for policies translated from another language (a Kubernetes NetworkPolicy).
   */
  path?: string;
}

export interface PolicyRule {
  /** Position in the policy's rule list: `spec` first, then `specs[...]`. */
  index: number;
  /** Where the rule is in the object: `spec` or `specs[2]`. */
  path: string;
  /** The endpoints the rule applies to, namespace-scoped for namespaced policies. */
  endpointSelector: EndpointSelector;
  description?: string;
  /** The rule's own labels plus the labels derived from the policy object (kind, name, namespace). */
  labels: LabelSet;
  enableDefaultDeny: { ingress?: boolean; egress?: boolean };
  ingress: PeerRule[];
  ingressDeny: PeerRule[];
  egress: PeerRule[];
  egressDeny: PeerRule[];
}

export interface ParsedPolicy {
  ref: PolicyRef;
  /** The object as given (parsed YAML/JSON). */
  object: unknown;
  /** The top-level `description` some published policies carry. */
  description?: string;
  rules: PolicyRule[];
  /** Audit mode (annotation policy.membrane.io/audit-mode): what only this policy would drop is reported, not dropped. */
  audit?: boolean;
}
