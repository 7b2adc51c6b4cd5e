/**
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016), as Cilium's
 * Maglev mode uses it: each backend gets a permutation of the table's M
 * entries from two hashes of its address (offset, skip), and the backends
 * take turns claiming their next free preferred entry until the table is
 * full. Every backend ends up with about M/N entries, and removing one
 * backend moves little more than its own entries. Pure; the datapath picks
 * entry `hash(5-tuple) % M`.
 */
import { createHash } from 'node:crypto';
import { LB_MAGLEV_SIZE } from './layout.js';

export interface MaglevBackend {
  /** Stable name of the backend (its ip:port/protocol): the permutation depends only on it. */
  key: string;
  /** What the table holds for it (the datapath's backend id). */
  id: number;
}

/** The backend's permutation parameters: two independent hashes of its key. */
function permutation(key: string, m: number): { offset: number; skip: number } {
  const digest = createHash('sha256').update(key).digest();
  return { offset: digest.readUInt32LE(0) % m, skip: (digest.readUInt32LE(4) % (m - 1)) + 1 };
}

/**
 * The lookup table of size `m` (a prime) for `backends`: entry i holds a
 * backend id. The result does not depend on the order of `backends`.
 * Empty when there are no backends.
 */
export function maglevTable(backends: readonly MaglevBackend[], m = LB_MAGLEV_SIZE): Uint32Array {
  if (backends.length === 0) return new Uint32Array(0);
  const sorted = [...backends].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const perms = sorted.map((b) => permutation(b.key, m));
  const next = new Array<number>(sorted.length).fill(0);
  const owner = new Int32Array(m).fill(-1);
  let filled = 0;
  for (;;) {
    for (let i = 0; i < sorted.length; i++) {
      const { offset, skip } = perms[i]!;
      let c = (offset + next[i]! * skip) % m;
      while (owner[c]! >= 0) {
        next[i]!++;
        c = (offset + next[i]! * skip) % m;
      }
      owner[c] = i;
      next[i]!++;
      if (++filled === m) return Uint32Array.from(owner, (i) => sorted[i]!.id);
    }
  }
}
