/**
 * The selector cache: for every peer that some rule names, the identities it
 * selects, kept up to date as identities come and go instead of being
 * recomputed for every endpoint on every change.
 *
 * A peer is evaluated against all identities once, when first asked for;
 * after that `sync` only tests the identities that appeared (and, for ipBlock
 * peers, those whose pod IPs changed) and drops the ones that went. Each
 * entry carries a version that grows when its selection changes, so that a
 * resolution made from it can tell whether it is still current (see
 * incremental.ts).
 */
import type { IdentityLike } from './entities.js';
import {
  peerDependsOnCidrGroups, peerDependsOnPodIps, peerDependsOnServices, peerIsWildcard, peerKey, peerSelects, type PeerContext, type PeerIdentities, type PodIpsByIdentity,
} from './peers.js';
import type { CidrGroups, PeerSpec, PolicyServices } from './types.js';

interface CachedSelection {
  peer: PeerSpec | undefined;
  wildcard: boolean;
  ids: Set<number>;
  /** `ids` sorted, rebuilt lazily after a change. */
  sorted: number[] | undefined;
  version: number;
}

export interface Selection extends PeerIdentities {
  key: string;
  version: number;
}

const sameIps = (a: readonly string[] | undefined, b: readonly string[] | undefined): boolean =>
  (a?.length ?? 0) === (b?.length ?? 0) && (a ?? []).every((ip, i) => ip === b![i]);

export class SelectorCache {
  private readonly entries = new Map<string, CachedSelection>();
  private identities = new Map<number, IdentityLike>();
  private podIps: PodIpsByIdentity = new Map();
  private cidrGroups: CidrGroups = new Map();
  private services: PolicyServices = new Map();
  /** Versions come from one counter, so that a selection dropped and made again never repeats an old version. */
  private lastVersion = 0;

  constructor(private readonly clusterName?: string) {}

  /**
   * Brings every cached selection up to date with the current identities
   * pod IPs and CIDR groups. A relabelled pod gets another identity, so only arrivals
   * and departures are examined (an id that came back with other labels is
   * both); when the CIDR groups or the services change (a new map), the
   * selections that depend on them are evaluated again in full. Returns the keys of the
   * selections that changed.
   */
  sync(
    identities: readonly IdentityLike[], podIps: PodIpsByIdentity = new Map(), cidrGroups: CidrGroups = this.cidrGroups, services: PolicyServices = this.services,
  ): Set<string> {
    const next = new Map<number, IdentityLike>();
    for (const i of identities) if (i.id !== 0) next.set(i.id, i);
    const same = (i: IdentityLike) => {
      const had = this.identities.get(i.id);
      return had !== undefined && (had === i || had.labels.canonical() === i.labels.canonical());
    };
    const added = [...next.values()].filter((i) => !same(i));
    const removed = [...this.identities.values()].filter((i) => !next.has(i.id) || !same(next.get(i.id)!)).map((i) => i.id);
    const ipsChanged = [...new Set([...this.podIps.keys(), ...podIps.keys()])]
      .filter((id) => next.has(id) && !sameIps(this.podIps.get(id), podIps.get(id)))
      .map((id) => next.get(id)!);
    const groupsChanged = cidrGroups !== this.cidrGroups;
    const servicesChanged = services !== this.services;
    this.identities = next;
    this.podIps = podIps;
    this.cidrGroups = cidrGroups;
    this.services = services;

    const changed = new Set<string>();
    if (added.length === 0 && removed.length === 0 && ipsChanged.length === 0 && !groupsChanged && !servicesChanged) return changed;
    const ctx = this.context();
    for (const [key, e] of this.entries) {
      if (!e.peer) continue;
      let touched = false;
      for (const id of removed) touched = e.ids.delete(id) || touched;
      const candidates = (groupsChanged && peerDependsOnCidrGroups(e.peer)) || (servicesChanged && peerDependsOnServices(e.peer)) ? [...next.values()]
        : peerDependsOnPodIps(e.peer) ? [...added, ...ipsChanged] : added;
      for (const i of candidates) {
        const selects = peerSelects(e.peer, i, ctx);
        if (selects !== e.ids.has(i.id)) {
          if (selects) e.ids.add(i.id);
          else e.ids.delete(i.id);
          touched = true;
        }
      }
      if (touched) {
        e.sorted = undefined;
        e.version = ++this.lastVersion;
        changed.add(key);
      }
    }
    return changed;
  }

  private context(): PeerContext {
    return { ...(this.clusterName !== undefined ? { clusterName: this.clusterName } : {}), podIps: this.podIps, cidrGroups: this.cidrGroups, services: this.services };
  }

  /** What `peer` selects among the identities of the last `sync`. */
  select(peer: PeerSpec | undefined): Selection {
    const key = peerKey(peer);
    let e = this.entries.get(key);
    if (!e) {
      const ids = new Set<number>();
      const ctx = this.context();
      if (peer) for (const i of this.identities.values()) if (peerSelects(peer, i, ctx)) ids.add(i.id);
      e = { peer, wildcard: peerIsWildcard(peer), ids, sorted: undefined, version: ++this.lastVersion };
      this.entries.set(key, e);
    }
    e.sorted ??= [...e.ids].sort((a, b) => a - b);
    return { key, version: e.version, wildcard: e.wildcard, ids: e.sorted };
  }

  /** The current version of a selection, or undefined once it has been dropped. */
  version(key: string): number | undefined {
    return this.entries.get(key)?.version;
  }

  /** Forgets the selections no rule uses any more. */
  retain(keys: ReadonlySet<string>): void {
    for (const key of this.entries.keys()) if (!keys.has(key)) this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
