/**
 * Frontend ids: the reverse-NAT index of each frontend (1..65535), stable
 * for as long as the frontend exists and persisted with the services, so a
 * restarted agent finds its frontends under the same ids in the kernel.
 * Allocation moves on past the last id handed out instead of reusing a
 * freed one at once: connections of a deleted frontend may still carry its
 * id in conntrack, and must not be reverse-translated to a newcomer's VIP.
 */
import { MembraneError } from '../common/errors.js';

export const MAX_FRONTEND_ID = 65535;

export class FrontendIds {
  private readonly byKey = new Map<string, number>();
  private readonly byId = new Map<number, string>();
  private last = 0;

  /** The last id handed out: allocation goes on after it. */
  get cursor(): number {
    return this.last;
  }

  /** Takes over a persisted id. Throws ESTATE when it is out of range or another frontend's. */
  restore(key: string, id: number): void {
    if (!Number.isInteger(id) || id < 1 || id > MAX_FRONTEND_ID || (this.byId.has(id) && this.byId.get(id) !== key) || this.byKey.has(key)) {
      throw new MembraneError('ESTATE', `persisted service state gives frontend ${key} the id ${id}, which is out of range or taken twice`);
    }
    this.byKey.set(key, id);
    this.byId.set(id, key);
  }

  /** Moves the cursor to at least `last` (persisted cursor after a restart). */
  advanceCursor(last: number): void {
    if (Number.isInteger(last) && last > this.last && last <= MAX_FRONTEND_ID) this.last = last;
  }

  get(key: string): number | undefined {
    return this.byKey.get(key);
  }

  keyOf(id: number): string | undefined {
    return this.byId.get(id);
  }

  /** The frontend's id, allocating one when it has none. Throws EEXHAUSTED when all 65535 are taken. */
  acquire(key: string): number {
    const have = this.byKey.get(key);
    if (have !== undefined) return have;
    for (let i = 1; i <= MAX_FRONTEND_ID; i++) {
      const id = ((this.last + i - 1) % MAX_FRONTEND_ID) + 1;
      if (this.byId.has(id)) continue;
      this.byKey.set(key, id);
      this.byId.set(id, key);
      this.last = id;
      return id;
    }
    throw new MembraneError('EEXHAUSTED', `no free frontend id for ${key}: all ${MAX_FRONTEND_ID} are in use`);
  }

  release(key: string): void {
    const id = this.byKey.get(key);
    if (id === undefined) return;
    this.byKey.delete(key);
    this.byId.delete(id);
  }
}
