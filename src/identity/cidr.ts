/**
 * CIDR identities: node-local identities (scope 0x01, from 16777217, as
 * Cilium numbers them) for the IPv4 prefixes the policies name. Each has
 * the labels `cidr:<prefix>` and `reserved:world`, so CIDR selectors match
 * it by containment and the `world` entity covers it. Ids stay with their
 * prefix while it is in use and are persisted so a restarted agent keeps
 * them (the pinned ipcache and policy maps use them).
 */
import { MembraneError } from '../common/errors.js';
import { LabelSet, label, LabelSource } from '../labels/labels.js';

export const LOCAL_IDENTITY_SCOPE = 1 << 24;
const MAX_LOCAL = LOCAL_IDENTITY_SCOPE * 2 - 1;

export interface CidrIdentity {
  id: number;
  prefix: string;
  labels: LabelSet;
}

export interface CidrIdentitySnapshot {
  version: 1;
  prefixes: { prefix: string; id: number }[];
}

export interface CidrSync {
  added: CidrIdentity[];
  removed: CidrIdentity[];
}

export function cidrIdentityLabels(prefix: string): LabelSet {
  return LabelSet.of([label(LabelSource.Cidr, prefix), label(LabelSource.Reserved, 'world')]);
}

export class CidrIdentities {
  private readonly byPrefix = new Map<string, CidrIdentity>();

  constructor(snapshot: CidrIdentitySnapshot | undefined, private readonly persist: (s: CidrIdentitySnapshot) => void) {
    for (const { prefix, id } of snapshot?.prefixes ?? []) {
      if (!Number.isInteger(id) || id <= LOCAL_IDENTITY_SCOPE || id > MAX_LOCAL) {
        throw new MembraneError('ESTATE', `persisted CIDR identity ${id} for ${prefix} is outside the local range`);
      }
      this.byPrefix.set(prefix, { id, prefix, labels: cidrIdentityLabels(prefix) });
    }
  }

  list(): CidrIdentity[] {
    return [...this.byPrefix.values()].sort((a, b) => a.id - b.id);
  }

  lookupById(id: number): CidrIdentity | undefined {
    for (const c of this.byPrefix.values()) if (c.id === id) return c;
    return undefined;
  }

  /**
   * Makes the set of prefixes exactly `prefixes`: new ones get the lowest
   * free ids, gone ones are released. Returns what changed; persists first.
   */
  sync(prefixes: readonly string[]): CidrSync {
    const want = new Set(prefixes);
    const removed = [...this.byPrefix.values()].filter((c) => !want.has(c.prefix));
    const used = new Set([...this.byPrefix.values()].filter((c) => want.has(c.prefix)).map((c) => c.id));
    const added: CidrIdentity[] = [];
    let next = LOCAL_IDENTITY_SCOPE + 1;
    for (const prefix of [...want].sort()) {
      if (this.byPrefix.has(prefix)) continue;
      while (used.has(next)) next++;
      if (next > MAX_LOCAL) throw new MembraneError('EEXHAUSTED', 'no local identity left for CIDR prefixes');
      used.add(next);
      added.push({ id: next, prefix, labels: cidrIdentityLabels(prefix) });
    }
    if (added.length === 0 && removed.length === 0) return { added, removed };
    const snapshot: CidrIdentitySnapshot = {
      version: 1,
      prefixes: [...[...this.byPrefix.values()].filter((c) => want.has(c.prefix)), ...added].map((c) => ({ prefix: c.prefix, id: c.id })),
    };
    this.persist(snapshot);
    for (const c of removed) this.byPrefix.delete(c.prefix);
    for (const c of added) this.byPrefix.set(c.prefix, c);
    return { added, removed };
  }
}
