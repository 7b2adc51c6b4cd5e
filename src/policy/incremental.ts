/**
 * Incremental policy resolution: endpoints are resolved per group (the same
 * identity and named ports resolve to the same policy), and a group's last
 * resolution is reused as long as everything it was computed from is
 * unchanged:
 *  - the policies with a rule that applies to the group, as objects (the
 *    repository replaces a policy's object whenever it changes), in order;
 *  - the selections of the peers its rules named, by selector-cache version.
 * So a new pod, a relabel or one changed policy re-resolves only the groups
 * it touches, and the endpoints of untouched groups are not looked at again
 * (see the agent's regeneration). The resolution itself is resolve.ts, the
 * same code the trace uses.
 */
import type { LabelSet } from '../labels/labels.js';
import type { IdentityLike } from './entities.js';
import type { PodIpsByIdentity } from './peers.js';
import type { NamedPort } from './ports.js';
import type { PolicyRepository, StoredPolicy } from './repository.js';
import { resolveEndpointPolicy, type EnforcementMode, type ResolvedPolicy } from './resolve.js';
import { SelectorCache } from './selectorcache.js';
import type { CidrGroups, PolicyServices } from './types.js';

interface CachedGroup<T> {
  applying: StoredPolicy[];
  /** Selector-cache key -> version the resolution saw. */
  selections: Map<string, number>;
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

  /** Starts a pass over all groups with the current repository, identities and pod IPs. */
  begin(
    repository: PolicyRepository, identities: readonly IdentityLike[], podIps: PodIpsByIdentity,
    cidrGroups: CidrGroups = new Map(), services: PolicyServices = new Map(),
  ): void {
    // Another repository object (a restored one) shares nothing with the cached resolutions.
    if (repository !== this.repository) this.groups.clear();
    this.repository = repository;
    this.identities = identities;
    this.podIps = podIps;
    this.cidrGroups = cidrGroups;
    this.services = services;
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

  private resolveGroup(key: string, labels: LabelSet, namedPorts: ReadonlyMap<string, NamedPort>, repository: PolicyRepository): GroupResolution<T> {
    const applying = repository.list().filter((p) => p.rules.some((r) => r.endpointSelector.matches(labels)));
    const cached = this.groups.get(key);
    if (cached && this.stillHolds(cached, applying)) return { resolved: cached.resolved, derived: cached.derived, changed: false };

    const selections = new Map<string, number>();
    const resolved = resolveEndpointPolicy({
      endpointLabels: labels,
      repository,
      identities: this.identities,
      enforcement: this.enforcement,
      namedPorts,
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
    const group = { applying, selections, resolved, derived: this.derive(resolved) };
    this.groups.set(key, group);
    this.stats.resolved += 1;
    return { resolved, derived: group.derived, changed: true };
  }

  private stillHolds(cached: CachedGroup<T>, applying: StoredPolicy[]): boolean {
    if (cached.applying.length !== applying.length || cached.applying.some((p, i) => p !== applying[i])) return false;
    for (const [key, version] of cached.selections) if (this.selectors.version(key) !== version) return false;
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
