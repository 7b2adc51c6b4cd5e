/**
 * Which peer identities a rule's L3 part selects: the wildcard (identity 0 in
 * the policy map, "any peer") or a list of known identities.
 *
 * CIDR peers select CIDR identities by prefix containment, minus excepts. As
 * in Cilium, pods never match them: a pod's IP resolves to the pod's own
 * identity. A Kubernetes `ipBlock` (a CIDR peer with `matchesPods`) also
 * matches pods whose IP is in the block, as Kubernetes defines it. The policy
 * map is keyed by identity, not by IP, so this is approximated: a pod
 * identity is selected when it has local pods and every one of their IPs is
 * in one of the peer's blocks and outside that block's excepts. An identity
 * with pods both inside and outside the blocks is not selected (allowing less
 * than written, never more); pods the caller does not list (e.g. on other
 * nodes) and the host are never matched by IP.
 */
import { LabelSource } from '../labels/labels.js';
import { cidrContains, cidrOfLabelKey, parseCidr, type Cidr } from './cidr.js';
import { entitySelects, type IdentityLike } from './entities.js';
import { POD_NAMESPACE_LABEL } from '../labels/k8s.js';
import type { CidrGroups, CidrRule, PeerSpec, PolicyService, PolicyServices, ServiceRef } from './types.js';

export interface PeerIdentities {
  /** Any peer at all, including identities not known yet. */
  wildcard: boolean;
  /** Known identities selected, ascending; never 0. */
  ids: number[];
}

/** What peer selection reads besides the identities themselves. */
export interface PeerContext {
  /** The local cluster's name, which limits the endpoints of the `cluster` entity. */
  clusterName?: string;
  /** Pod IPs by identity, for ipBlock peers; without them ipBlocks select no pod. */
  podIps?: PodIpsByIdentity;
  /** CiliumCIDRGroups by name, for `cidrGroupRef` and `cidrGroupSelector`; without them those select nothing. */
  cidrGroups?: CidrGroups;
  /** Services by namespace/name, for `toServices`; without them it selects nothing. */
  services?: PolicyServices;
}

/** The services a `toServices` entry names or selects (none while it does not exist, as for a missing CIDR group). */
export function servicesOf(ref: ServiceRef, services: PolicyServices | undefined): PolicyService[] {
  if (!services) return [];
  if (ref.name !== undefined) {
    const one = ref.namespace !== undefined ? services.get(`${ref.namespace}/${ref.name}`) : undefined;
    if (one) return [one];
    return ref.namespace === undefined ? [...services.values()].filter((s) => s.name === ref.name) : [];
  }
  return [...services.values()].filter((s) => (ref.namespace === undefined || s.namespace === ref.namespace) && ref.selector!.matches(s.labels));
}

/**
 * Whether a service stands for `identity`: for a selector service, a pod of
 * its namespace that its selector picks (wherever it runs, as Cilium
 * translates such services into an endpoint selector); for a service without
 * a selector, an identity whose every local pod IP is a backend address, or
 * the CIDR identity of a backend address (/32).
 */
function serviceSelects(svc: PolicyService, identity: IdentityLike, podIps: PodIpsByIdentity | undefined): boolean {
  const k8s = (key: string) => identity.labels.getAll(key, LabelSource.K8s)[0]?.value;
  if (svc.selector) {
    return k8s(POD_NAMESPACE_LABEL) === svc.namespace && Object.entries(svc.selector).every(([k, v]) => k8s(k) === v);
  }
  const ips = podIps?.get(identity.id);
  if (ips && ips.length > 0 && ips.every((ip) => svc.backendIps.includes(ip))) return true;
  return [...identity.labels].some((l) => l.source === LabelSource.Cidr && svc.backendIps.some((ip) => l.key === `${ip}/32`));
}

/**
 * The prefixes a CIDR rule stands for: its `cidr`, or the CIDRs of the
 * CiliumCIDRGroups it names or selects (none when there is no such group, as
 * in Cilium, where a missing group selects nothing until it appears).
 */
export function cidrRulePrefixes(rule: CidrRule, groups: CidrGroups | undefined): string[] {
  if (rule.cidr !== undefined) return [rule.cidr];
  if (!groups) return [];
  if (rule.cidrGroupRef !== undefined) return groups.get(rule.cidrGroupRef)?.cidrs ?? [];
  const selector = rule.cidrGroupSelector;
  if (!selector) return [];
  return [...groups.values()].filter((g) => selector.matches(g.labels)).flatMap((g) => g.cidrs);
}

/** The IPv4 prefixes of a CIDR rule: the datapath drops all IPv6, so an IPv6 prefix (a group's `::/0`) must select nothing, not world. */
function ipv4Outers(rule: CidrRule, groups: CidrGroups | undefined): Cidr[] {
  return cidrRulePrefixes(rule, groups).map((c) => parseCidr(c)).filter((c): c is Cidr => c !== undefined && c.family === 4);
}

const IPV4_BITS = 32n;
const maskTo = (address: bigint, prefixLen: number): bigint =>
  prefixLen === 0 ? 0n : (address >> (IPV4_BITS - BigInt(prefixLen))) << (IPV4_BITS - BigInt(prefixLen));

/**
 * A CIDR peer's rules, parsed once and indexed by prefix length, so that
 * telling whether an identity is selected costs a lookup per prefix length
 * in use, not a pass over every rule: a policy with 10,000 CIDRs against
 * 10,000 CIDR identities was 10^8 prefix parses.
 */
interface CompiledCidrRules {
  /** Some rule's prefix is a /0: the plain `world` identity is selected. */
  world: boolean;
  /** Prefix length -> network address -> the excepts of each rule with that prefix. */
  byLen: Map<number, Map<bigint, Cidr[][]>>;
}

function compileCidrRules(rules: readonly CidrRule[], groups: CidrGroups | undefined): CompiledCidrRules {
  const compiled: CompiledCidrRules = { world: false, byLen: new Map() };
  for (const rule of rules) {
    const excepts = rule.except.map((e) => parseCidr(e)!);
    for (const outer of ipv4Outers(rule, groups)) {
      if (outer.prefixLen === 0) compiled.world = true;
      let nets = compiled.byLen.get(outer.prefixLen);
      if (!nets) compiled.byLen.set(outer.prefixLen, (nets = new Map()));
      const list = nets.get(outer.address);
      if (list) list.push(excepts);
      else nets.set(outer.address, [excepts]);
    }
  }
  return compiled;
}

/** Whether compiled CIDR rules select an identity: one of its CIDR labels in a rule's prefix and outside that rule's excepts. */
function compiledSelects(c: CompiledCidrRules, identity: IdentityLike): boolean {
  if (c.byLen.size === 0) return false;
  let any = false;
  for (const l of identity.labels) {
    if (l.source !== LabelSource.Cidr) continue;
    any = true;
    const prefix = cidrOfLabelKey(l.key);
    if (prefix === undefined || prefix.family !== 4) continue;
    for (const [len, nets] of c.byLen) {
      if (len > prefix.prefixLen) continue;
      const rules = nets.get(maskTo(prefix.address, len));
      if (rules?.some((excepts) => !excepts.some((e) => cidrContains(e, prefix)))) return true;
    }
  }
  // A /0 covers everything outside the cluster, which is what the plain `world` identity stands for.
  return !any && c.world && identity.labels.has('world', LabelSource.Reserved);
}

/** Compiled rules per CIDR peer, for as long as the peer lives and the CIDR groups stay the same object. */
const compiledPeers = new WeakMap<PeerSpec, { groups: CidrGroups | undefined; rules: CompiledCidrRules }>();

function compiledCidrPeer(peer: Extract<PeerSpec, { kind: 'cidr' }>, groups: CidrGroups | undefined): CompiledCidrRules {
  const cached = compiledPeers.get(peer);
  if (cached && cached.groups === groups) return cached.rules;
  const rules = compileCidrRules(peer.cidrs, groups);
  compiledPeers.set(peer, { groups, rules });
  return rules;
}

function cidrRuleHoldsAddress(rule: CidrRule, address: Cidr, groups: CidrGroups | undefined): boolean {
  return ipv4Outers(rule, groups).some((outer) => cidrContains(outer, address)) &&
    !rule.except.some((e) => cidrContains(parseCidr(e)!, address));
}

/** Kubernetes ipBlock semantics: every IP of the identity's pods is in one of the blocks. */
function blocksHoldPods(rules: readonly CidrRule[], ips: readonly string[] | undefined, groups: CidrGroups | undefined): boolean {
  if (!ips || ips.length === 0) return false;
  return ips.every((ip) => {
    const address = parseCidr(ip);
    return address !== undefined && rules.some((r) => cidrRuleHoldsAddress(r, address, groups));
  });
}

/** Pod IPs by identity: the IPs of the pods that have each identity. */
export type PodIpsByIdentity = ReadonlyMap<number, readonly string[]>;

/** Whether `peer` stands for any peer at all (identity 0 in the policy map), including identities not known yet. */
export function peerIsWildcard(peer: PeerSpec | undefined): boolean {
  if (!peer) return true;
  if (peer.kind === 'endpoints') return peer.selectors.some((s) => s.selectsAll);
  if (peer.kind === 'entities') return peer.entities.includes('all');
  return false;
}

/** Whether `peer` selects one known identity (never identity 0, the wildcard). */
export function peerSelects(peer: PeerSpec, identity: IdentityLike, ctx: PeerContext = {}): boolean {
  if (identity.id === 0) return false;
  switch (peer.kind) {
    case 'endpoints':
      return peer.selectors.some((s) => s.matches(identity.labels));
    case 'entities':
      return peer.entities.some((e) => entitySelects(e, identity, ctx.clusterName));
    case 'cidr':
      return compiledSelects(compiledCidrPeer(peer, ctx.cidrGroups), identity) ||
        (peer.matchesPods === true && blocksHoldPods(peer.cidrs, ctx.podIps?.get(identity.id), ctx.cidrGroups));
    case 'services':
      return peer.services.some((ref) => servicesOf(ref, ctx.services).some((svc) => serviceSelects(svc, identity, ctx.podIps)));
  }
}

/** Whether what `peer` selects depends on the services. */
export const peerDependsOnServices = (peer: PeerSpec): boolean => peer.kind === 'services';

/** Whether what `peer` selects depends on the CiliumCIDRGroups. */
export const peerDependsOnCidrGroups = (peer: PeerSpec): boolean => peer.kind === 'cidr' && peer.cidrs.some((c) => c.cidr === undefined);

/** Whether what `peer` selects can change with the pod IPs of an identity (ipBlock peers). */
export const peerDependsOnPodIps = (peer: PeerSpec): boolean => (peer.kind === 'cidr' && peer.matchesPods === true) || peer.kind === 'services';

/**
 * The identities `peer` selects among `identities` (identity 0 is skipped: it
 * is the wildcard, not a peer). No peer given means any peer.
 */
export function peerIdentities(peer: PeerSpec | undefined, identities: readonly IdentityLike[], ctx: PeerContext = {}): PeerIdentities {
  const ids = peer ? identities.filter((i) => peerSelects(peer, i, ctx)).map((i) => i.id) : [];
  return { wildcard: peerIsWildcard(peer), ids: [...new Set(ids)].sort((a, b) => a - b) };
}

/** Stable text of a peer, equal for peers that select the same identities: the selector cache's key. */
export function peerKey(peer: PeerSpec | undefined): string {
  if (!peer) return '*';
  switch (peer.kind) {
    case 'endpoints':
      return `endpoints:${peer.selectors.map(String).sort().join('|')}`;
    case 'entities':
      return `entities:${[...peer.entities].sort().join(',')}`;
    case 'services':
      return `services:${peer.services.map((r) => `${r.namespace ?? '*'}/${r.name !== undefined ? `name=${r.name}` : `selector=${String(r.selector)}`}`).sort().join('|')}`;
    case 'cidr':
      return `cidr${peer.matchesPods ? '+pods' : ''}:${peer.cidrs.map((c) => `${c.cidr ?? `group=${c.cidrGroupRef ?? String(c.cidrGroupSelector)}`}-${[...c.except].sort().join('-')}`).sort().join('|')}`;
  }
}
