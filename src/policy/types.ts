/**
 * Policies after parsing: validated, with defaults filled in and selectors
 * namespace-scoped, so that resolution never has to look at raw YAML again.
 * The four direction sections share one peer-rule shape.
 */
import type { PolicyRef } from '../api/types.js';
import type { LabelSet } from '../labels/labels.js';
import type { EndpointSelector } from '../labels/selector.js';
import type { Entity } from './entities.js';

export type PolicyKind = PolicyRef['kind'];

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

/** One ICMP type to match (`icmps[].fields[]`); the IPv6 family is refused at parse time (icmp.ts). */
export interface IcmpField {
  family: 'IPv4';
  /** 0-255; names are resolved at parse time. */
  type: number;
}

export interface IcmpRule {
  fields: IcmpField[];
}

export interface CidrRule {
  /** Normalized (host bits cleared); absent when a CIDR group is referenced instead. */
  cidr?: string;
  except: string[];
  cidrGroupRef?: string;
  cidrGroupSelector?: EndpointSelector;
}

/** The L3 peer of a rule: at most one kind per rule. `field` is the name it was written with. */
export type PeerSpec =
  | { kind: 'endpoints'; field: 'fromEndpoints' | 'toEndpoints'; selectors: EndpointSelector[] }
  | { kind: 'entities'; field: 'fromEntities' | 'toEntities'; entities: Entity[] }
  | {
    kind: 'cidr'; field: 'fromCIDR' | 'toCIDR' | 'fromCIDRSet' | 'toCIDRSet'; cidrs: CidrRule[];
    /**
     * Kubernetes `ipBlock` semantics: the block also selects pods whose IPs are
     * in it (see peers.ts). Absent: Cilium's CIDR semantics, where pods, which
     * have identities of their own, never match.
     */
    matchesPods?: true;
  };

/** One entry of an ingress/egress/ingressDeny/egressDeny list. */
export interface PeerRule {
  /** Absent: no L3 field was given, i.e. any peer when toPorts or icmps is set and no peer at all otherwise. */
  peer?: PeerSpec;
  /** Absent or empty (and no icmps): every protocol and port. */
  toPorts?: PortRule[];
  /** ICMP types instead of ports; never together with toPorts (the schema refuses it, as Cilium does). */
  icmps?: IcmpRule[];
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
