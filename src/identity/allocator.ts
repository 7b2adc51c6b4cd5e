/**
 * Numeric security identities for identity label sets. The same labels always
 * get the same id (from 256, lowest free first, so allocation is
 * deterministic); reserved label sets get their reserved id and an empty set
 * gets `init` (5). Endpoints acquire and release identities; the label -> id
 * mapping outlives its last reference so that a pod re-created with the same
 * labels keeps its id, and it is persisted through `onChange` so that it
 * survives agent restarts. Unreferenced identities are reclaimed by `gc()`,
 * or automatically when the range is full.
 *
 * Reference counts are deliberately not persisted: after a restart the agent
 * re-acquires an identity for every endpoint it restores.
 */
import { MembraneError } from '../common/errors.js';
import { LabelSet } from '../labels/labels.js';
import {
  MAX_ALLOCATED_IDENTITY, MIN_ALLOCATED_IDENTITY, RESERVED_IDENTITIES, ReservedIdentity,
  reservedIdentityById, reservedIdentityForLabels,
} from './reserved.js';

/** The persisted form (plain JSON). */
export interface IdentitySnapshot {
  version: 1;
  identities: { id: number; labels: string[] }[];
}

export interface IdentityInfo {
  readonly id: number;
  readonly labels: LabelSet;
  readonly reserved: boolean;
  /** Endpoints currently holding this identity. */
  readonly references: number;
}

export interface IdentityAllocatorOptions {
  /** A snapshot from an earlier `onChange`, as parsed JSON; validated, throws ESTATE when inconsistent. */
  snapshot?: unknown;
  /** Called with the new mapping before a change takes effect; when it throws, the change is undone and the error passed on. */
  onChange?: (snapshot: IdentitySnapshot) => void;
  minId?: number;
  maxId?: number;
}

export class IdentityAllocator {
  private readonly byId = new Map<number, LabelSet>();
  private readonly byLabels = new Map<string, number>();
  private readonly refs = new Map<number, number>();
  private readonly onChange: (snapshot: IdentitySnapshot) => void;
  private readonly minId: number;
  private readonly maxId: number;

  constructor(options: IdentityAllocatorOptions = {}) {
    this.onChange = options.onChange ?? (() => {});
    this.minId = options.minId ?? MIN_ALLOCATED_IDENTITY;
    this.maxId = options.maxId ?? MAX_ALLOCATED_IDENTITY;
    if (options.snapshot !== undefined) this.restore(options.snapshot);
  }

  /**
   * Takes a reference on the identity of `labels`, allocating one if needed.
   * Throws EEXHAUSTED when every id is referenced, or whatever `onChange` throws.
   */
  acquire(labels: LabelSet): { identity: IdentityInfo; created: boolean } {
    let id = reservedIdentityForLabels(labels)?.id ?? this.byLabels.get(labels.canonical());
    let created = false;
    if (id === undefined) {
      id = this.freeId() ?? (this.gc().length > 0 ? this.freeId() : undefined);
      if (id === undefined) {
        throw new MembraneError('EEXHAUSTED', `no free security identity in ${this.minId}..${this.maxId} for labels ${labels}; ` +
          'every identity is in use by an endpoint');
      }
      const newId = id;
      this.change(() => this.insert(newId, labels), () => this.remove(newId));
      created = true;
    }
    this.refs.set(id, (this.refs.get(id) ?? 0) + 1);
    return { identity: this.info(id)!, created };
  }

  /** Drops one reference; returns how many remain. Throws ESTATE when the identity holds no reference. */
  release(id: number): number {
    const count = this.refs.get(id) ?? 0;
    if (count === 0) throw new MembraneError('ESTATE', `identity ${id} released more often than acquired`);
    if (count === 1) this.refs.delete(id);
    else this.refs.set(id, count - 1);
    return count - 1;
  }

  /** Forgets every allocated identity without references; returns their ids. */
  gc(): number[] {
    const unused = [...this.byId.keys()].filter((id) => !this.refs.has(id));
    if (unused.length === 0) return [];
    const removed = unused.map((id) => [id, this.byId.get(id)!] as const);
    this.change(
      () => unused.forEach((id) => this.remove(id)),
      () => removed.forEach(([id, labels]) => this.insert(id, labels)),
    );
    return unused;
  }

  lookupById(id: number): IdentityInfo | undefined {
    return this.info(id);
  }

  /** The identity `labels` has or would get if it is reserved; undefined when none is allocated. */
  lookupByLabels(labels: LabelSet): IdentityInfo | undefined {
    const id = reservedIdentityForLabels(labels)?.id ?? this.byLabels.get(labels.canonical());
    return id === undefined ? undefined : this.info(id);
  }

  /** Reserved identities (without `unknown`) and every allocated identity, by id. */
  list(): IdentityInfo[] {
    const ids = [...RESERVED_IDENTITIES.map((r) => r.id).filter((id) => id !== ReservedIdentity.Unknown), ...[...this.byId.keys()].sort((a, b) => a - b)];
    return ids.map((id) => this.info(id)!);
  }

  snapshot(): IdentitySnapshot {
    return {
      version: 1,
      identities: [...this.byId.entries()].sort(([a], [b]) => a - b).map(([id, labels]) => ({ id, labels: labels.toStrings() })),
    };
  }

  private info(id: number): IdentityInfo | undefined {
    const r = reservedIdentityById(id);
    const labels = r?.labels ?? this.byId.get(id);
    if (!labels) return undefined;
    return { id, labels, reserved: r !== undefined, references: this.refs.get(id) ?? 0 };
  }

  private freeId(): number | undefined {
    for (let id = this.minId; id <= this.maxId; id++) if (!this.byId.has(id)) return id;
    return undefined;
  }

  private insert(id: number, labels: LabelSet): void {
    this.byId.set(id, labels);
    this.byLabels.set(labels.canonical(), id);
  }

  private remove(id: number): void {
    const labels = this.byId.get(id);
    if (labels) this.byLabels.delete(labels.canonical());
    this.byId.delete(id);
  }

  /** Applies a mapping change, persists it through onChange, and undoes it if persisting fails. */
  private change(apply: () => void, undo: () => void): void {
    apply();
    try {
      this.onChange(this.snapshot());
    } catch (err) {
      undo();
      throw err;
    }
  }

  private restore(raw: unknown): void {
    const bad = (why: string) => new MembraneError('ESTATE', `persisted identity snapshot is unusable: ${why}`);
    const snap = raw as Partial<IdentitySnapshot> | null;
    if (typeof snap !== 'object' || snap === null || snap.version !== 1 || !Array.isArray(snap.identities)) {
      throw bad('expected {version: 1, identities: [...]}');
    }
    for (const [i, entry] of snap.identities.entries()) {
      const { id, labels } = (entry ?? {}) as { id?: unknown; labels?: unknown };
      if (typeof id !== 'number' || !Number.isInteger(id) || id < this.minId || id > this.maxId) {
        throw bad(`identities[${i}].id ${String(id)} is not an integer in ${this.minId}..${this.maxId}`);
      }
      if (!Array.isArray(labels) || labels.some((l) => typeof l !== 'string')) throw bad(`identities[${i}].labels is not a list of strings`);
      let set: LabelSet;
      try {
        set = LabelSet.parse(labels as string[]);
      } catch (cause) {
        throw new MembraneError('ESTATE', `persisted identity snapshot is unusable: identities[${i}].labels`, { cause });
      }
      if (this.byId.has(id)) throw bad(`identity ${id} appears twice`);
      if (this.byLabels.has(set.canonical())) throw bad(`labels ${set} appear twice`);
      if (reservedIdentityForLabels(set)) throw bad(`identities[${i}] has the labels of a reserved identity`);
      this.insert(id, set);
    }
  }
}
