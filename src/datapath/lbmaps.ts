/**
 * Services in the kernel: the realized frontends and backends in the
 * pinned lb_* maps, read back when the agent starts (so a restarted agent
 * adopts them) and kept in step with every write.
 *
 * Write order, so that no packet ever sees a half state (every backend a
 * packet can pick exists and is active in the old or the new state):
 *  1. backends (new ones, changed flags) and the reverse-NAT entry;
 *  2. the Maglev table (one map value, replaced whole);
 *  3. the active slots 1..count;
 *  4. the master (slot 0) with the new count: only now do packets pick
 *     among the new active slots;
 *  5. the terminating slots count+1..total (never picked: beyond count);
 *  6. stale slots, a stale Maglev table, then backends no frontend lists.
 * Backend ids are the datapath's: one per ip:port/protocol, shared by the
 * frontends that list it, allocated upwards (not reused soon, so a
 * conntrack or affinity entry never points at another backend), freed when
 * the last frontend drops it. A backend stays in lb_backends while any
 * frontend lists it, terminating ones included, so established connections
 * keep it.
 */
import { MembraneError } from '../common/errors.js';
import {
  LB_ALG_MAGLEV, LB_ALG_RANDOM, LB_BACKEND_ACTIVE, LB_BACKEND_TERMINATING, LB_MAGLEV_SIZE, LB_SVC_F_AFFINITY, intToIp4, ip4ToInt,
  lbBackend, lbRevNat, lbService, lbServiceKey,
} from './layout.js';
import { type LbBackend, type LbFrontend, type RealizedFrontend, backendKey, frontendAddress, slotOrder, validateFrontend } from './lb.js';
import { maglevTable } from './maglev.js';
import type { BpfMap } from './map.js';

/** What LbMaps needs of a map (a BpfMap; tests pass an in-memory one). */
export type LbMap = Pick<BpfMap, 'update' | 'lookup' | 'delete' | 'keys' | 'entries'>;

export interface LbMapSet {
  services: LbMap;
  backends: LbMap;
  revNat: LbMap;
  maglev: LbMap;
}

export interface LbSyncStats {
  written: number;
  deleted: number;
}

interface RealizedBackend {
  id: number;
  ip: string;
  port: number;
  protocol: number;
  /** LB_BACKEND_* as written; -1 = not written yet. */
  flags: number;
  /** Frontend id -> the state it lists the backend in. */
  users: Map<number, LbBackend['state']>;
}

interface Master {
  affinityTimeout: number;
  count: number;
  total: number;
  flags: number;
  algorithm: number;
}

interface RealizedService {
  frontend: RealizedFrontend;
  master: Master;
  /** Backend id of slot s at index s-1 (0: the kernel has no such slot). */
  slots: number[];
  maglev: Uint32Array | undefined;
}

const u32Key = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const u16Key = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
};
const slotKey = (f: Pick<LbFrontend, 'vip' | 'port' | 'protocol'>, slot: number) =>
  lbServiceKey.encode({ vip: ip4ToInt(f.vip), dport: f.port, slot, proto: f.protocol });

function sameTable(a: Uint32Array | undefined, b: Uint32Array | undefined): boolean {
  if (!a || !b) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A backend is terminating for the datapath (no affinity to it) only when every frontend listing it says so. */
function wantedFlags(b: RealizedBackend): number {
  return [...b.users.values()].every((s) => s === 'terminating') ? LB_BACKEND_TERMINATING : LB_BACKEND_ACTIVE;
}

export class LbMaps {
  private services = new Map<number, RealizedService>();
  /** Frontend address (frontendAddress) -> the id holding it. */
  private byAddress = new Map<string, number>();
  private backends = new Map<string, RealizedBackend>();
  /** Ids of the backends in lb_backends, listed or not. */
  private usedIds = new Set<number>();
  private nextBackendId = 1;

  /** Reads the realized services from `maps` and removes what no frontend uses (leftovers of an interrupted sync). */
  constructor(private readonly maps: LbMapSet) {
    this.adopt();
  }

  private adopt(): void {
    this.services = new Map();
    this.byAddress = new Map();
    this.backends = new Map();
    this.usedIds = new Set();
    const byId = new Map<number, RealizedBackend>();
    const stale: [LbMap, Buffer][] = [];
    for (const [k, v] of this.maps.backends.entries()) {
      const id = k.readUInt32LE(0);
      const b = lbBackend.decode(v);
      const rb: RealizedBackend = { id, ip: intToIp4(b.ip), port: b.port, protocol: b.proto, flags: b.flags, users: new Map() };
      const key = backendKey(rb.ip, rb.port, rb.protocol);
      byId.set(id, rb);
      this.usedIds.add(id);
      if (!this.backends.has(key)) this.backends.set(key, rb);
      this.nextBackendId = Math.max(this.nextBackendId, id + 1);
    }
    const masters: { addr: string; key: ReturnType<typeof lbServiceKey.decode>; value: ReturnType<typeof lbService.decode> }[] = [];
    const slots = new Map<string, Map<number, [number, Buffer]>>();
    for (const [k, v] of this.maps.services.entries()) {
      const key = lbServiceKey.decode(k);
      const value = lbService.decode(v);
      const addr = backendKey(intToIp4(key.vip), key.dport, key.proto);
      if (key.slot === 0) masters.push({ addr, key, value });
      else {
        if (!slots.has(addr)) slots.set(addr, new Map());
        slots.get(addr)!.set(key.slot, [value.backendId, k]);
      }
    }
    for (const { addr, key, value } of masters) {
      const mine = slots.get(addr) ?? new Map<number, [number, Buffer]>();
      slots.delete(addr);
      const f: RealizedFrontend = {
        id: value.revNatId, vip: intToIp4(key.vip), port: key.dport, protocol: key.proto,
        algorithm: value.algorithm === LB_ALG_MAGLEV ? 'maglev' : 'random',
        affinityTimeoutSec: value.flags & LB_SVC_F_AFFINITY ? value.affinityTimeout : 0,
        backends: [],
      };
      const ids: number[] = [];
      for (let s = 1; s <= value.total; s++) {
        const id = mine.get(s)?.[0] ?? 0;
        ids.push(id);
        const rb = byId.get(id);
        if (!rb || rb.users.has(f.id)) continue;
        const state = s <= value.count ? 'active' : 'terminating';
        rb.users.set(f.id, state);
        f.backends.push({ ip: rb.ip, port: rb.port, state, id });
      }
      for (const [s, [, k]] of mine) if (s > value.total) stale.push([this.maps.services, k]);
      let maglev: Uint32Array | undefined;
      if (value.algorithm === LB_ALG_MAGLEV) {
        const t = this.maps.maglev.lookup(u32Key(f.id));
        if (t) maglev = new Uint32Array(new Uint8Array(t).buffer, 0, LB_MAGLEV_SIZE);
      }
      const master = { affinityTimeout: value.affinityTimeout, count: value.count, total: value.total, flags: value.flags, algorithm: value.algorithm };
      this.services.set(f.id, { frontend: f, master, slots: ids, maglev });
      this.byAddress.set(addr, f.id);
    }
    // Leftovers: slots without a master, backends nobody lists, tables of no Maglev frontend.
    for (const m of slots.values()) for (const [, k] of m.values()) stale.push([this.maps.services, k]);
    for (const rb of byId.values()) {
      if (rb.users.size === 0) {
        stale.push([this.maps.backends, u32Key(rb.id)]);
        if (this.backends.get(backendKey(rb.ip, rb.port, rb.protocol)) === rb) this.backends.delete(backendKey(rb.ip, rb.port, rb.protocol));
      }
    }
    for (const k of this.maps.maglev.keys()) if (!this.services.get(k.readUInt32LE(0))?.maglev) stale.push([this.maps.maglev, k]);
    for (const k of this.maps.revNat.keys()) if (!this.services.has(k.readUInt16LE(0))) stale.push([this.maps.revNat, k]);
    for (const [map, k] of stale) map.delete(k);
    for (const rb of byId.values()) if (rb.users.size === 0) this.usedIds.delete(rb.id);
  }

  /** The realized frontends, by id. */
  realized(): RealizedFrontend[] {
    return [...this.services.values()]
      .map((s) => ({ ...s.frontend, backends: s.frontend.backends.map((b) => ({ ...b })) }))
      .sort((a, b) => a.id - b.id);
  }

  private allocateBackendId(): number {
    for (let tries = 0; tries < 0xffffffff; tries++) {
      const id = this.nextBackendId;
      this.nextBackendId = id >= 0xffffffff ? 1 : id + 1;
      if (!this.usedIds.has(id)) {
        this.usedIds.add(id);
        return id;
      }
    }
    throw new MembraneError('EEXHAUSTED', 'no free backend id');
  }

  /**
   * Makes the kernel hold frontend `f` exactly, in the order described at
   * the top of this file. Throws ValidationError for a bad frontend,
   * MembraneError EEXIST when another id holds its address, EKERNEL when a
   * map write fails (the realized view is then read back from the maps).
   */
  sync(f: LbFrontend): LbSyncStats {
    validateFrontend(f);
    const addr = frontendAddress(f);
    const holder = this.byAddress.get(addr);
    if (holder !== undefined && holder !== f.id) {
      throw new MembraneError('EEXIST', `frontend ${addr} already belongs to service id ${holder}; delete that one first or sync it under the same id`);
    }
    try {
      return this.write(f);
    } catch (err) {
      this.adopt();
      throw err;
    }
  }

  private write(f: LbFrontend): LbSyncStats {
    const stats: LbSyncStats = { written: 0, deleted: 0 };
    const old = this.services.get(f.id);
    const sameAddr = old !== undefined && frontendAddress(old.frontend) === frontendAddress(f);
    const { active, terminating } = slotOrder(f);
    const ordered = [...active, ...terminating];

    // 1. Backends and the reverse-NAT entry.
    const listed: RealizedBackend[] = ordered.map((b) => {
      const key = backendKey(b.ip, b.port, f.protocol);
      let rb = this.backends.get(key);
      if (!rb) {
        rb = { id: this.allocateBackendId(), ip: b.ip, port: b.port, protocol: f.protocol, flags: -1, users: new Map() };
        this.backends.set(key, rb);
      }
      rb.users.set(f.id, b.state);
      return rb;
    });
    const dropped: RealizedBackend[] = [];
    for (const b of old?.frontend.backends ?? []) {
      const rb = this.backends.get(backendKey(b.ip, b.port, old!.frontend.protocol));
      if (rb && !listed.includes(rb)) {
        rb.users.delete(f.id);
        dropped.push(rb);
      }
    }
    for (const rb of [...listed, ...dropped]) {
      if (rb.users.size === 0) continue;
      const flags = wantedFlags(rb);
      if (flags === rb.flags) continue;
      this.maps.backends.update(u32Key(rb.id), lbBackend.encode({ ip: ip4ToInt(rb.ip), port: rb.port, proto: rb.protocol, flags }));
      rb.flags = flags;
      stats.written++;
    }
    if (!old || old.frontend.vip !== f.vip || old.frontend.port !== f.port) {
      this.maps.revNat.update(u16Key(f.id), lbRevNat.encode({ vip: ip4ToInt(f.vip), port: f.port }));
      stats.written++;
    }

    // 2. The Maglev table.
    const maglev = f.algorithm === 'maglev' && active.length > 0
      ? maglevTable(active.map((b, i) => ({ key: backendKey(b.ip, b.port, f.protocol), id: listed[i]!.id })), LB_MAGLEV_SIZE)
      : undefined;
    if (maglev && !sameTable(maglev, old?.maglev)) {
      this.maps.maglev.update(u32Key(f.id), Buffer.from(maglev.buffer, maglev.byteOffset, maglev.byteLength));
      stats.written++;
    }

    // 3.-5. Active slots, master, terminating slots.
    const ids = listed.map((rb) => rb.id);
    const oldSlots = sameAddr ? old.slots : [];
    const writeSlot = (s: number) => {
      if (oldSlots[s - 1] === ids[s - 1]) return;
      this.maps.services.update(slotKey(f, s), lbService.encode({ backendId: ids[s - 1]! }));
      stats.written++;
    };
    for (let s = 1; s <= active.length; s++) writeSlot(s);
    const master: Master = {
      affinityTimeout: f.affinityTimeoutSec,
      count: active.length,
      total: ordered.length,
      flags: f.affinityTimeoutSec > 0 ? LB_SVC_F_AFFINITY : 0,
      algorithm: f.algorithm === 'maglev' ? LB_ALG_MAGLEV : LB_ALG_RANDOM,
    };
    const m = old?.master;
    if (!sameAddr || !m || m.affinityTimeout !== master.affinityTimeout || m.count !== master.count || m.total !== master.total ||
      m.flags !== master.flags || m.algorithm !== master.algorithm) {
      this.maps.services.update(slotKey(f, 0), lbService.encode({ ...master, revNatId: f.id }));
      stats.written++;
    }
    for (let s = active.length + 1; s <= ordered.length; s++) writeSlot(s);

    // 6. What is stale now.
    if (old && !sameAddr) {
      if (this.maps.services.delete(slotKey(old.frontend, 0))) stats.deleted++;
      for (let s = 1; s <= old.slots.length; s++) if (this.maps.services.delete(slotKey(old.frontend, s))) stats.deleted++;
    } else {
      for (let s = ordered.length + 1; s <= oldSlots.length; s++) if (this.maps.services.delete(slotKey(f, s))) stats.deleted++;
    }
    if (!maglev && old?.maglev && this.maps.maglev.delete(u32Key(f.id))) stats.deleted++;
    stats.deleted += this.freeUnused(dropped);

    if (old) this.byAddress.delete(frontendAddress(old.frontend));
    this.byAddress.set(frontendAddress(f), f.id);
    this.services.set(f.id, {
      frontend: {
        id: f.id, vip: f.vip, port: f.port, protocol: f.protocol, algorithm: f.algorithm, affinityTimeoutSec: f.affinityTimeoutSec,
        backends: ordered.map((b, i) => ({ ip: b.ip, port: b.port, state: b.state, id: ids[i]! })),
      },
      master,
      slots: ids,
      maglev,
    });
    return stats;
  }

  /** Removes the frontend: master first (no new connections), then its slots, table and reverse-NAT entry, then unused backends. */
  delete(id: number): LbSyncStats {
    const stats: LbSyncStats = { written: 0, deleted: 0 };
    const s = this.services.get(id);
    if (!s) return stats;
    try {
      const f = s.frontend;
      if (this.maps.services.delete(slotKey(f, 0))) stats.deleted++;
      for (let slot = 1; slot <= s.slots.length; slot++) if (this.maps.services.delete(slotKey(f, slot))) stats.deleted++;
      if (s.maglev && this.maps.maglev.delete(u32Key(id))) stats.deleted++;
      if (this.maps.revNat.delete(u16Key(id))) stats.deleted++;
      const released: RealizedBackend[] = [];
      for (const b of f.backends) {
        const rb = this.backends.get(backendKey(b.ip, b.port, f.protocol));
        if (!rb) continue;
        rb.users.delete(id);
        released.push(rb);
      }
      this.services.delete(id);
      this.byAddress.delete(frontendAddress(f));
      for (const rb of released) {
        if (rb.users.size === 0 || wantedFlags(rb) === rb.flags) continue;
        this.maps.backends.update(u32Key(rb.id), lbBackend.encode({ ip: ip4ToInt(rb.ip), port: rb.port, proto: rb.protocol, flags: wantedFlags(rb) }));
        rb.flags = wantedFlags(rb);
        stats.written++;
      }
      stats.deleted += this.freeUnused(released);
    } catch (err) {
      this.adopt();
      throw err;
    }
    return stats;
  }

  /** Deletes the backends among `candidates` that no frontend lists any more. */
  private freeUnused(candidates: RealizedBackend[]): number {
    let n = 0;
    for (const rb of candidates) {
      if (rb.users.size > 0) continue;
      this.backends.delete(backendKey(rb.ip, rb.port, rb.protocol));
      if (this.maps.backends.delete(u32Key(rb.id))) n++;
      this.usedIds.delete(rb.id);
    }
    return n;
  }
}
