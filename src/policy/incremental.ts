/**
 * Incremental policy resolution: endpoints are resolved per group (the same
 * identity and named ports resolve to the same policy), and a group's last
 * resolution is reused as long as everything it was computed from is
 * unchanged:
 *  - the policies with a rule that applies to the group, as objects (the
 *    repository replaces a policy's object whenever it changes), in order;
 *  - the selections of the peers its rules named, by selector-cache version;
 *  - the named ports of the peer identities its egress rules resolved a
 *    named port against (all of them, for a wildcard peer), so that a pod
 *    that comes or goes with a named port updates the egress of its clients.
 * So a new pod, a relabel or one changed policy re-resolves only the groups
 * it touches, and the endpoints of untouched groups are not looked at again
 * (see the agent's regeneration). The resolution itself is resolve.ts, the
 * same code the trace uses.
 */
import type { LabelSet } from '../labels/labels.js';
import type { IdentityLike } from './entities.js';
import type { PodIpsByIdentity } from './peers.js';
import type { NamedPort, PeerNamedPorts } from './ports.js';
import type { PolicyRepository, StoredPolicy } from './repository.js';
import { resolveEndpointPolicy, type EnforcementMode, type ResolvedPolicy } from './resolve.js';
import { SelectorCache } from './selectorcache.js';
import type { CidrGroups, PolicyServices } from './types.js';

interface CachedGroup<T> {
  applying: StoredPolicy[];
  /** Selector-cache key -> version the resolution saw. */
  selections: Map<string, number>;
  /** Peer identity (or `*`: all) -> digest of the named ports the resolution read. */
  namedPorts: Map<number | '*', string>;
  resolved: ResolvedPolicy;
  /** What the caller derived from `resolved` (kept with it so it is derived once). */
  derived: T;
}

export interface GroupResolution<T> {
  resolved: ResolvedPolicy;
  derived: T;
  /** False when the group's previous resolution still holds and was returned as it was. */
  changed: boolean;
}

export interface PassStats {
  groups: number;
  resolved: number;
  selectorsChanged: number;
}

export class IncrementalResolver<T> {
  private readonly selectors: SelectorCache;
  private groups = new Map<string, CachedGroup<T>>();
  private repository: PolicyRepository | undefined;
  private identities: readonly IdentityLike[] = [];
  private podIps: PodIpsByIdentity = new Map();
  private cidrGroups: CidrGroups = new Map();
  private services: PolicyServices = new Map();
  private peerNamedPorts: PeerNamedPorts = new Map();
  /** Digests of `peerNamedPorts`, per identity and (`*`) of all of them, made once per pass. */
  private namedPortDigests = new Map<number | '*', string>();
  private used = new Set<string>();
  private answered = new Map<string, GroupResolution<T>>();
  private stats: PassStats = { groups: 0, resolved: 0, selectorsChanged: 0 };

  constructor(
    private readonly enforcement: EnforcementMode,
    private readonly derive: (resolved: ResolvedPolicy) => T,
    private readonly clusterName?: string,
  ) {
    this.selectors = new SelectorCache(clusterName);
  }

  /** Starts a pass over all groups with the current repository, identities, pod IPs and the named ports of their pods. */
  begin(
    repository: PolicyRepository, identities: readonly IdentityLike[], podIps: PodIpsByIdentity,
    cidrGroups: CidrGroups = new Map(), services: PolicyServices = new Map(), peerNamedPorts: PeerNamedPorts = new Map(),
  ): void {
    // Another repository object (a restored one) shares nothing with the cached resolutions.
    if (repository !== this.repository) this.groups.clear();
    this.repository = repository;
    this.identities = identities;
    this.podIps = podIps;
    this.cidrGroups = cidrGroups;
    this.services = services;
    this.peerNamedPorts = peerNamedPorts;
    this.namedPortDigests = namedPortDigests(peerNamedPorts);
    this.used = new Set();
    this.answered = new Map();
    const changed = this.selectors.sync(identities, podIps, cidrGroups, services);
    this.stats = { groups: 0, resolved: 0, selectorsChanged: changed.size };
  }

  /** The policy of the group `key` (its endpoints' labels and named ports, which the key must stand for). */
  resolve(key: string, labels: LabelSet, namedPorts: ReadonlyMap<string, NamedPort>): GroupResolution<T> {
    const repository = this.repository;
    if (!repository) throw new Error('IncrementalResolver.resolve before begin');
    // Every endpoint of a group asks in turn: the first answer of the pass holds for all of them.
    const answered = this.answered.get(key);
    if (answered) return answered;
    this.used.add(key);
    this.stats.groups += 1;
    const result = this.resolveGroup(key, labels, namedPorts, repository);
    this.answered.set(key, result);
    return result;
  }

  private resolveGroup(key: string, labels: LabelSet, ownNamedPorts: ReadonlyMap<string, NamedPort>, repository: PolicyRepository): GroupResolution<T> {
    const applying = repository.list().filter((p) => p.rules.some((r) => r.endpointSelector.matches(labels)));
    const cached = this.groups.get(key);
    if (cached && this.stillHolds(cached, applying)) return { resolved: cached.resolved, derived: cached.derived, changed: false };

    const selections = new Map<string, number>();
    const namedPorts = new Map<number | '*', string>();
    const resolved = resolveEndpointPolicy({
      endpointLabels: labels,
      repository,
      identities: this.identities,
      enforcement: this.enforcement,
      namedPorts: ownNamedPorts,
      peerNamedPorts: this.peerNamedPorts,
      onNamedPortsRead: (id) => namedPorts.set(id, this.namedPortDigests.get(id) ?? ''),
      podIps: this.podIps,
      cidrGroups: this.cidrGroups,
      services: this.services,
      ...(this.clusterName !== undefined ? { clusterName: this.clusterName } : {}),
      selectPeers: (peer) => {
        const s = this.selectors.select(peer);
        selections.set(s.key, s.version);
        return s;
      },
    });
    const group = { applying, selections, namedPorts, resolved, derived: this.derive(resolved) };
    this.groups.set(key, group);
    this.stats.resolved += 1;
    return { resolved, derived: group.derived, changed: true };
  }

  private stillHolds(cached: CachedGroup<T>, applying: StoredPolicy[]): boolean {
    if (cached.applying.length !== applying.length || cached.applying.some((p, i) => p !== applying[i])) return false;
    for (const [key, version] of cached.selections) if (this.selectors.version(key) !== version) return false;
    for (const [id, digest] of cached.namedPorts) if ((this.namedPortDigests.get(id) ?? '') !== digest) return false;
    return true;
  }

  /** Ends the pass: forgets groups no endpoint has any more and selections no cached group uses. */
  end(): PassStats {
    for (const key of this.groups.keys()) if (!this.used.has(key)) this.groups.delete(key);
    const live = new Set<string>();
    for (const g of this.groups.values()) for (const key of g.selections.keys()) live.add(key);
    this.selectors.retain(live);
    return this.stats;
  }

  /** Drops every cached resolution (the next pass resolves all groups). */
  clear(): void {
    this.groups.clear();
  }
}

/** Stable text of each identity's named ports and (`*`) of all of them, to tell a change at a glance. */
function namedPortDigests(ports: PeerNamedPorts): Map<number | '*', string> {
  const out = new Map<number | '*', string>();
  for (const [id, byName] of ports) {
    const text = [...byName].map(([name, list]) => `${name}=${list.map((p) => `${p.protocol}/${p.port}`).sort().join(',')}`).sort().join(';');
    if (text !== '') out.set(id, text);
  }
  out.set('*', [...out].sort(([a], [b]) => Number(a) - Number(b)).map(([id, text]) => `${id}:${text}`).join('|'));
  return out;
}
