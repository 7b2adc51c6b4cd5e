/**
 * Resolves the policy of one endpoint into the desired state of its policy map.
 *
 * Rules, numbered as the code follows them:
 *  1. A rule applies when its endpointSelector matches the endpoint's labels.
 *  2. Enforcement per direction: `never` enforces nothing and ignores every rule;
 *     `always` enforces both; `default` enforces a direction when an applying
 *     rule has a non-empty allow or deny section for it, unless every such rule
 *     says `enableDefaultDeny.<direction>: false`.
 *  3. A direction that is not enforced gets the allow-all entry (any peer, any
 *     protocol and port); deny entries still apply on top of it.
 *  4. Each section entry yields (peer identity x port block) entries: no L3
 *     peer means identity 0 (any peer), but an entry with neither peer nor
 *     toPorts nor icmps (`ingress: [{}]`) yields nothing; icmps yield one
 *     exact block per ICMP type (protocol ICMP, port = type); otherwise no
 *     toPorts means every protocol and port; ANY means TCP, UDP and SCTP.
 *     ipBlock peers of NetworkPolicies select pods through `podIps` (peers.ts).
 *  4a. Named ports resolve as Kubernetes defines them: in ingress rules
 *     through the endpoint's own container ports; in egress rules through the
 *     destination's, per peer identity (`peerNamedPorts`), each port its
 *     pods give the name. A wildcard peer stands, for a named port, for
 *     every identity with pods that have it. A peer that is no pod (CIDR,
 *     entity) has none of its own: in a NetworkPolicy a named port then
 *     matches nothing there (Kubernetes: a named port is a pod's); in a
 *     Cilium policy it stands for the number the name has cluster-wide when
 *     the pods agree on it, as Cilium resolves every egress named port (for
 *     the wildcard too). An unresolvable named port yields nothing.
 *  4b. `fromRequires` (`toRequires`) of every rule that applies are ANDed
 *     into each endpoint peer selector of every applying rule of the same
 *     direction, allow and deny sections apart, as Cilium folds them; an
 *     entry with requires of its own and no L3 peer selects no peer (it is
 *     no wildcard), so it only enforces the direction.
 *  5. On the same key a deny replaces an allow; otherwise the first rule in
 *     repository order keeps the key, and its cookie names the entry.
 *  6. Allow entries inside a deny block of the same identity are dropped, so
 *     that the datapath's longest-prefix lookup cannot prefer them (see lookup.ts).
 *  7. L7: an allow of a TCP block whose port rule has HTTP rules redirects to
 *     the direction's proxy port and carries the rules (with their cookies);
 *     on a key two L7 allows merge (a request passes if any rule matches it)
 *     and an L3/L4 allow replaces an L7 one (every request passes), as Cilium
 *     merges L7 policy per peer and port.
 */
import type { PolicyRef } from '../api/types.js';
import type { LabelSet } from '../labels/labels.js';
import type { IdentityLike } from './entities.js';
import { LOCAL_IDENTITY_SCOPE } from '../identity/cidr.js';
import { MIN_ALLOCATED_IDENTITY } from '../identity/reserved.js';
import { lookupPolicy, type PolicyVerdict } from './lookup.js';
import { MapState, mergeAllows, policyKey, type PolicyEntry } from './mapstate.js';
import { icmpBlocks } from './icmp.js';
import { peerIdentities, type PeerIdentities, type PodIpsByIdentity } from './peers.js';
import { clusterNamedPorts, hasNamedPort, portBlocks, type L4Block, type NamedPort, type PeerNamedPorts } from './ports.js';
import { EndpointSelector, type Requirement } from '../labels/selector.js';
import { refKey, type PolicyRepository, type RuleLocation, type StoredPolicy } from './repository.js';
import {
  isDenySection, isEgressSection, type CidrGroups, type PeerRule, type PeerSpec, type PolicyServices, type PolicyRule, type RuleSection,
} from './types.js';

export type EnforcementMode = 'default' | 'always' | 'never';

export interface ResolveInput {
  /** The endpoint's identity labels. */
  endpointLabels: LabelSet;
  repository: PolicyRepository;
  /** Every known identity with its labels, reserved ones included. */
  identities: readonly IdentityLike[];
  enforcement: EnforcementMode;
  /** The endpoint's own named ports (its pod's container ports), for ingress rules. */
  namedPorts?: ReadonlyMap<string, NamedPort>;
  /** The named ports of the pods of each identity, for egress rules (rule 4a); absent: egress named ports match nothing. */
  peerNamedPorts?: PeerNamedPorts;
  /**
   * Told of each identity whose named ports the resolution read, or `*` when
   * it read every identity's (a wildcard peer): what the incremental resolver
   * watches for changes.
   */
  onNamedPortsRead?: (identity: number | '*') => void;
  /** The local cluster's name, which limits the endpoints of the `cluster` entity. */
  clusterName?: string;
  /**
   * The IPs of the local pods with each identity, for NetworkPolicy ipBlock
   * peers, which match pods by IP (peers.ts). Absent: ipBlocks match no pod.
   */
  podIps?: PodIpsByIdentity;
  /** CiliumCIDRGroups by name, which CIDR peers may reference or select; absent: such peers select nothing. */
  cidrGroups?: CidrGroups;
  /** Services by namespace/name, which `toServices` peers name or select; absent: such peers select nothing. */
  services?: PolicyServices;
  /**
   * Where peers' selections come from: the selector cache (incremental.ts)
   * when given; otherwise each is computed from `identities`.
   */
  selectPeers?: (peer: PeerSpec | undefined) => PeerIdentities;
  /** The node's L7 proxy ports, per direction, that redirected entries name; default DEFAULT_PROXY_PORTS. */
  proxyPorts?: ProxyPorts;
}

/** The L7 proxy's listening ports on a node, one per direction of the redirected traffic. */
export interface ProxyPorts {
  ingress: number;
  egress: number;
}
export const DEFAULT_PROXY_PORTS: ProxyPorts = { ingress: 15001, egress: 15002 };

export interface ResolvedPolicy {
  /** The repository revision this state was computed from. */
  revision: number;
  ingressEnforcing: boolean;
  egressEnforcing: boolean;
  mapState: MapState;
  /** The policies that put each direction into default deny, in repository order. */
  defaultDenyBy: { ingress: PolicyRef[]; egress: PolicyRef[] };
  /** Per direction: the default deny comes only from audited policies, so it is reported, not enforced. */
  auditDefaultDeny: { ingress: boolean; egress: boolean };
  /** Every policy with a rule that applies to the endpoint, in repository order. */
  selectedBy: PolicyRef[];
}

type Direction = 'ingress' | 'egress';
const SECTIONS: Record<Direction, readonly RuleSection[]> = { ingress: ['ingress', 'ingressDeny'], egress: ['egress', 'egressDeny'] };

const uniqueRefs = (policies: StoredPolicy[]): PolicyRef[] =>
  [...new Map(policies.map((p) => [refKey(p.ref), p.ref])).values()];

export function resolveEndpointPolicy(input: ResolveInput): ResolvedPolicy {
  const { repository } = input;
  const mapState = new MapState();
  const allowAll = (egress: boolean) => mapState.set(policyKey(0, egress, 0, 0, 0), { deny: false, proxyPort: 0, cookie: 0 });
  if (input.enforcement === 'never') {
    allowAll(false);
    allowAll(true);
    return { revision: repository.revision, ingressEnforcing: false, egressEnforcing: false, mapState,
      defaultDenyBy: { ingress: [], egress: [] }, auditDefaultDeny: { ingress: false, egress: false }, selectedBy: [] };
  }

  const applying = repository.rules().filter(({ rule }) => rule.endpointSelector.matches(input.endpointLabels));
  const defaultDenyBy = (dir: Direction): PolicyRef[] => uniqueRefs(applying
    .filter(({ rule }) => SECTIONS[dir].some((s) => rule[s].length > 0) && rule.enableDefaultDeny[dir] !== false)
    .map(({ policy }) => policy));
  const deniers = { ingress: defaultDenyBy('ingress'), egress: defaultDenyBy('egress') };
  const audited = new Set(applying.filter(({ policy }) => policy.audit).map(({ policy }) => refKey(policy.ref)));
  const auditDefaultDeny = (dir: Direction) =>
    input.enforcement !== 'always' && deniers[dir].length > 0 && deniers[dir].every((r) => audited.has(refKey(r)));
  const enforcing = (dir: Direction) => input.enforcement === 'always' || deniers[dir].length > 0;

  const requires = requirementsBySection(applying.map(({ rule }) => rule));
  for (const { policy, rule } of applying) addRuleEntries(mapState, input, policy, rule, requires);
  if (!enforcing('ingress') && !mapState.has(policyKey(0, false, 0, 0, 0))) allowAll(false);
  if (!enforcing('egress') && !mapState.has(policyKey(0, true, 0, 0, 0))) allowAll(true);
  mapState.pruneAllowsCoveredByDeny();

  return {
    revision: repository.revision,
    ingressEnforcing: enforcing('ingress'),
    egressEnforcing: enforcing('egress'),
    mapState,
    defaultDenyBy: deniers,
    auditDefaultDeny: { ingress: auditDefaultDeny('ingress'), egress: auditDefaultDeny('egress') },
    selectedBy: uniqueRefs(applying.map(({ policy }) => policy)),
  };
}

/** Rule 4b: the requirements of every applying rule's fromRequires/toRequires, per section. */
function requirementsBySection(rules: readonly PolicyRule[]): Record<RuleSection, Requirement[]> {
  const out: Record<RuleSection, Requirement[]> = { ingress: [], ingressDeny: [], egress: [], egressDeny: [] };
  for (const rule of rules) {
    for (const section of [...SECTIONS.ingress, ...SECTIONS.egress]) {
      for (const entry of rule[section]) for (const sel of entry.requires ?? []) out[section].push(...sel.requirements);
    }
  }
  return out;
}

/** An endpoint peer with the requirements ANDed into each of its selectors; other peers as they are. */
function withRequirements(peer: PeerSpec | undefined, requirements: readonly Requirement[]): PeerSpec | undefined {
  if (requirements.length === 0 || peer?.kind !== 'endpoints') return peer;
  return { ...peer, selectors: peer.selectors.map((s) => EndpointSelector.fromRequirements([...s.requirements, ...requirements])) };
}

const NO_NAMED_PORTS: ReadonlyMap<string, NamedPort> = new Map();

/**
 * The (peer identity, blocks) pairs of one entry whose peers are selected:
 * the same blocks for every peer, except for the named ports of an egress
 * entry, which resolve per destination (rule 4a).
 */
function entryTargets(
  peerRule: PeerRule, egress: boolean, ids: readonly number[], wildcard: boolean, input: ResolveInput, kubernetes: boolean,
): { id: number; blocks: L4Block[] }[] {
  if (peerRule.icmps?.length) {
    const blocks = icmpBlocks(peerRule.icmps);
    return ids.map((id) => ({ id, blocks }));
  }
  if (!egress || !hasNamedPort(peerRule.toPorts)) {
    const blocks = portBlocks(peerRule.toPorts, egress ? NO_NAMED_PORTS : input.namedPorts ?? NO_NAMED_PORTS);
    return ids.map((id) => ({ id, blocks }));
  }
  const peerPorts = input.peerNamedPorts ?? new Map<number, ReadonlyMap<string, readonly NamedPort[]>>();
  // Peers without pods of their own in a Cilium policy: the cluster-wide number of the name (rule 4a).
  const clusterWide = () => {
    if (kubernetes) return NO_NAMED_PORTS;
    input.onNamedPortsRead?.('*');
    return clusterNamedPorts(peerPorts);
  };
  if (!wildcard) {
    return ids.map((id) => {
      input.onNamedPortsRead?.(id);
      const own = peerPorts.get(id);
      return { id, blocks: portBlocks(peerRule.toPorts, own ?? (isPodIdentity(id) ? NO_NAMED_PORTS : clusterWide())) };
    });
  }
  // Any peer: numbered ports for every peer (identity 0), a named port for each identity whose pods have it.
  input.onNamedPortsRead?.('*');
  const holders = [...peerPorts.keys()].filter((id) => id !== 0).sort((a, b) => a - b);
  return [
    { id: 0, blocks: portBlocks(peerRule.toPorts, clusterWide()) },
    ...holders.map((id) => ({ id, blocks: portBlocks(peerRule.toPorts, peerPorts.get(id)!, true) })),
  ];
}

/** Identities of pods (the endpoint range), as opposed to reserved and node-local CIDR identities. */
const isPodIdentity = (id: number): boolean => id >= MIN_ALLOCATED_IDENTITY && id < LOCAL_IDENTITY_SCOPE;

function addRuleEntries(
  mapState: MapState, input: ResolveInput, policy: StoredPolicy, rule: PolicyRule, requires: Record<RuleSection, Requirement[]>,
): void {
  for (const section of [...SECTIONS.ingress, ...SECTIONS.egress]) {
    const egress = isEgressSection(section);
    const deny = isDenySection(section);
    rule[section].forEach((peerRule, index) => {
      if (!peerRule.peer && !peerRule.toPorts?.length && !peerRule.icmps?.length) return;
      // Requires of its own make an entry without L3 peer select no peer rather than any (rule 4b).
      if (!peerRule.peer && peerRule.requires?.length) return;
      const peer = withRequirements(peerRule.peer, requires[section]);
      const peers = input.selectPeers
        ? input.selectPeers(peer)
        : peerIdentities(peer, input.identities, {
          ...(input.clusterName !== undefined ? { clusterName: input.clusterName } : {}),
          ...(input.podIps ? { podIps: input.podIps } : {}),
          ...(input.cidrGroups ? { cidrGroups: input.cidrGroups } : {}),
          ...(input.services ? { services: input.services } : {}),
        });
      const ids = peers.wildcard ? [0] : peers.ids;
      if (ids.length === 0) return;
      const entry: PolicyEntry = {
        deny, proxyPort: 0, cookie: input.repository.cookie(policy.ref, rule.index, section, index),
        ...(deny && policy.audit ? { audit: true } : {}),
      };
      const proxyPort = (input.proxyPorts ?? DEFAULT_PROXY_PORTS)[egress ? 'egress' : 'ingress'];
      const redirected = new Map<L4Block, PolicyEntry>();
      const entryOf = (b: L4Block): PolicyEntry => {
        if (deny || !b.http) return entry;
        let e = redirected.get(b);
        if (!e) redirected.set(b, e = { ...entry, proxyPort, l7: { http: b.http.map((rule) => ({ rule, cookie: entry.cookie })) } });
        return e;
      };
      for (const { id, blocks } of entryTargets(peerRule, egress, ids, peers.wildcard, input, policy.ref.kind === 'NetworkPolicy')) {
        for (const b of blocks) {
          // An audited policy's denies live in a key space of their own, so they never shadow an enforced verdict.
          const key = policyKey(id, egress, b.protocol, b.port, b.prefixLen, entry.audit === true);
          const have = mapState.get(key);
          if (!have || (deny && !have.deny)) mapState.set(key, entryOf(b));
          else if (!deny && !have.deny) mapState.set(key, mergeAllows(have, entryOf(b)));
        }
      }
    });
  }
}

/** A verdict with the rule that decided it, for `policy trace`-style explanations. */
export interface ExplainedVerdict extends PolicyVerdict {
  rule?: RuleLocation;
}

export function explainVerdict(
  mapState: MapState, repository: PolicyRepository, identity: number, egress: boolean, protocol: number, port: number, auditDefaultDeny = false,
): ExplainedVerdict {
  const verdict = lookupPolicy(mapState, identity, egress, protocol, port, auditDefaultDeny);
  const rule = verdict.entry && verdict.entry.cookie !== 0 ? repository.describeCookie(verdict.entry.cookie) : undefined;
  return rule ? { ...verdict, rule } : verdict;
}
