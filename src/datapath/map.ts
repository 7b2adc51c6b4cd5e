/**
 * A BPF map by file descriptor: typed byte-level operations. Callers encode
 * keys and values with the codecs in layout.ts. The map does not own the fd
 * unless created with `owned`: close() then releases it.
 */
import { readFileSync } from 'node:fs';
import { MembraneError } from '../common/errors.js';
import { check, libcNative, native } from './libbpf.js';

const ENOENT = 2;
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;

let possibleCpus: number | undefined;
/** Number of possible CPUs: per-CPU map values hold one slot for each. */
export function numPossibleCpus(): number {
  if (possibleCpus === undefined) {
    const text = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
    let n = 0;
    for (const part of text.split(',')) {
      const [a, b] = part.split('-').map(Number);
      n += b === undefined ? 1 : b - a! + 1;
    }
    possibleCpus = n;
  }
  return possibleCpus;
}

export class BpfMap {
  constructor(
    readonly name: string,
    readonly fd: number,
    readonly keySize: number,
    readonly valueSize: number,
    readonly maxEntries: number,
    readonly perCpu = false,
    private readonly owned = false,
  ) {}

  /** Bytes of one lookup result: per-CPU maps return a slot (rounded to 8 bytes) per possible CPU. */
  get lookupSize(): number {
    return this.perCpu ? Math.ceil(this.valueSize / 8) * 8 * numPossibleCpus() : this.valueSize;
  }

  update(key: Buffer, value: Buffer, flags = BPF_ANY): void {
    check(native.update(this.fd, key, value, flags), `updating map ${this.name}`,
      'the map may be full (see its max entries) or the key/value size wrong');
  }

  lookup(key: Buffer): Buffer | undefined {
    const out = Buffer.alloc(this.lookupSize);
    const ret = native.lookup(this.fd, key, out);
    if (ret === -ENOENT) return undefined;
    check(ret, `looking up map ${this.name}`);
    return out;
  }

  /** Deletes a key; false when it was not there. */
  delete(key: Buffer): boolean {
    const ret = native.delete(this.fd, key);
    if (ret === -ENOENT) return false;
    check(ret, `deleting from map ${this.name}`);
    return true;
  }

  /** All keys (a snapshot walk; concurrent changes may be seen or not). */
  *keys(): Generator<Buffer> {
    let prev: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(this.keySize);
      const ret = native.nextKey(this.fd, prev, next);
      if (ret === -ENOENT) return;
      check(ret, `iterating map ${this.name}`);
      yield next;
      prev = next;
    }
  }

  /** All entries; for per-CPU maps the value holds every CPU's slot. */
  *entries(): Generator<[Buffer, Buffer]> {
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v) yield [k, v];
    }
  }

  /** Per-CPU values summed slot by slot with `sum`. */
  static perCpuSlots(value: Buffer, valueSize: number): Buffer[] {
    const slot = Math.ceil(valueSize / 8) * 8;
    const out: Buffer[] = [];
    for (let o = 0; o + slot <= value.length; o += slot) out.push(value.subarray(o, o + valueSize));
    return out;
  }

  close(): void {
    if (this.owned) libcNative.close(this.fd);
  }

  /** Opens a pinned map by path (owned fd). Sizes must be given: a pin carries no layout. */
  static openPinned(path: string, name: string, keySize: number, valueSize: number, maxEntries: number, perCpu = false): BpfMap {
    const fd = native.objGet(path);
    if (fd < 0) {
      throw new MembraneError('EKERNEL', `opening pinned map ${path}: errno ${-fd}; is bpffs mounted and the agent's datapath loaded?`);
    }
    return new BpfMap(name, fd, keySize, valueSize, maxEntries, perCpu, true);
  }
}
