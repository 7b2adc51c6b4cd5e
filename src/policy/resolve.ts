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
 *     toPorts means every protocol and port; ANY means TCP, UDP and SCTP;
 *     named ports resolve through the given maps, and an unresolvable one
 *     yields nothing. ipBlock peers of NetworkPolicies select pods through
 *     `podIps` (peers.ts).
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
import { lookupPolicy, type PolicyVerdict } from './lookup.js';
import { MapState, mergeAllows, policyKey, type PolicyEntry } from './mapstate.js';
import { icmpBlocks } from './icmp.js';
import { peerIdentities, type PeerIdentities, type PodIpsByIdentity } from './peers.js';
import { portBlocks, type NamedPort } from './ports.js';
import { refKey, type PolicyRepository, type RuleLocation, type StoredPolicy } from './repository.js';
import { isDenySection, isEgressSection, type CidrGroups, type PeerSpec, type PolicyServices, type PolicyRule, type RuleSection } from './types.js';

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
  /** Named ports of peers, for egress rules, as Cilium resolves them; default: `namedPorts`. */
  egressNamedPorts?: ReadonlyMap<string, NamedPort>;
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

  for (const { policy, rule } of applying) addRuleEntries(mapState, input, policy, rule);
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

function addRuleEntries(mapState: MapState, input: ResolveInput, policy: StoredPolicy, rule: PolicyRule): void {
  const named = {
    ingress: input.namedPorts ?? new Map<string, NamedPort>(),
    egress: input.egressNamedPorts ?? input.namedPorts ?? new Map<string, NamedPort>(),
  };
  for (const section of [...SECTIONS.ingress, ...SECTIONS.egress]) {
    const egress = isEgressSection(section);
    const deny = isDenySection(section);
    rule[section].forEach((peerRule, index) => {
      if (!peerRule.peer && !peerRule.toPorts?.length && !peerRule.icmps?.length) return;
      const peers = input.selectPeers
        ? input.selectPeers(peerRule.peer)
        : peerIdentities(peerRule.peer, input.identities, {
          ...(input.clusterName !== undefined ? { clusterName: input.clusterName } : {}),
          ...(input.podIps ? { podIps: input.podIps } : {}),
          ...(input.cidrGroups ? { cidrGroups: input.cidrGroups } : {}),
          ...(input.services ? { services: input.services } : {}),
        });
      const ids = peers.wildcard ? [0] : peers.ids;
      const blocks = peerRule.icmps?.length ? icmpBlocks(peerRule.icmps) : portBlocks(peerRule.toPorts, egress ? named.egress : named.ingress);
      if (ids.length === 0 || blocks.length === 0) return;
      const entry: PolicyEntry = {
        deny, proxyPort: 0, cookie: input.repository.cookie(policy.ref, rule.index, section, index),
        ...(deny && policy.audit ? { audit: true } : {}),
      };
      const proxyPort = (input.proxyPorts ?? DEFAULT_PROXY_PORTS)[egress ? 'egress' : 'ingress'];
      const entries = blocks.map((b): PolicyEntry => (!deny && b.http
        ? { ...entry, proxyPort, l7: { http: b.http.map((rule) => ({ rule, cookie: entry.cookie })) } }
        : entry));
      for (const id of ids) {
        blocks.forEach((b, i) => {
          // An audited policy's denies live in a key space of their own, so they never shadow an enforced verdict.
          const key = policyKey(id, egress, b.protocol, b.port, b.prefixLen, entry.audit === true);
          const have = mapState.get(key);
          if (!have || (deny && !have.deny)) mapState.set(key, entries[i]!);
          else if (!deny && !have.deny) mapState.set(key, mergeAllows(have, entries[i]!));
        });
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
