/**
 * The kernel side of the agent's desired state: endpoints, ipcache and
 * per-endpoint policy entries in the pinned maps. Policy is synced as a diff
 * against what the kernel holds (read back from the pinned map when the
 * agent starts), and in an order that never leaves a packet facing a
 * half-written policy: new and changed entries first, stale ones last.
 */
import {
  COUNTER_EVENTS_LOST, DIR_EGRESS, DIR_INGRESS, ctKey, endpointInfo, endpointKey, ip4ToInt, ipcacheKey, ipcacheValue,
  metricsValue,
} from './layout.js';
import type { LbFrontend, RealizedFrontend } from './lb.js';
import { LbMaps } from './lbmaps.js';
import { BpfMap } from './map.js';
import type { LxcDatapath } from './loader.js';
import { type TraceConfig, encodeTraceConfig } from './trace-config.js';
import {
  type PolicyMapKey, type PolicyMapValue, decodePolicyKey, decodePolicyValue, encodePolicyKey, encodePolicyValue,
} from './policymap.js';

export function policyKeyString(k: PolicyMapKey): string {
  return `${k.audit ? 'audit:' : ''}${k.identity}/${k.egress ? 'e' : 'i'}/${k.protocol}/${k.port}/${k.prefixLen}`;
}

export interface PolicyEntryPair {
  key: PolicyMapKey;
  value: PolicyMapValue;
}

export type DesiredPolicy = Map<string, PolicyEntryPair>;

export interface SyncStats {
  written: number;
  deleted: number;
}

export class DatapathState {
  /** epId -> realized policy entries (what the kernel holds). */
  private readonly realized = new Map<number, DesiredPolicy>();
  /** Services (lb_* maps), read back from the pins. */
  private readonly lb: LbMaps;

  constructor(private readonly dp: LxcDatapath) {
    this.readRealizedPolicy();
    this.lb = new LbMaps({ services: dp.maps.lb_services, backends: dp.maps.lb_backends, revNat: dp.maps.lb_rev_nat, maglev: dp.maps.lb_maglev });
  }

  /**
   * Makes the kernel hold the service frontend `f` (by its id) exactly, in
   * an order that never shows a packet a half state (see lbmaps.ts).
   * Throws ValidationError naming the bad field, MembraneError EEXIST when
   * another id holds the same VIP:port/protocol, EKERNEL when a map is full.
   */
  syncService(f: LbFrontend): SyncStats {
    return this.lb.sync(f);
  }

  /** Removes a service frontend and the backends only it listed; an unknown id is not an error. */
  deleteService(id: number): void {
    this.lb.delete(id);
  }

  /** The service frontends the kernel holds, with their backends' ids (adopted from the pins after a restart). */
  realizedServices(): RealizedFrontend[] {
    return this.lb.realized();
  }

  private readRealizedPolicy(): void {
    for (const [k, v] of this.dp.maps.policy.entries()) {
      const { epId, key } = decodePolicyKey(k);
      let m = this.realized.get(epId);
      if (!m) this.realized.set(epId, (m = new Map()));
      m.set(policyKeyString(key), { key, value: decodePolicyValue(v) });
    }
  }

  /** Endpoint ids that have policy entries in the kernel (for garbage collection after a restart). */
  policyEndpointIds(): number[] {
    return [...this.realized.keys()];
  }

  realizedPolicy(epId: number): DesiredPolicy {
    return this.realized.get(epId) ?? new Map();
  }

  /**
   * Makes the kernel hold exactly `desired` for the endpoint. The realized
   * view is updated write by write, so after a failure (a full map) it still
   * says what the kernel holds and the next sync repairs the difference.
   */
  syncPolicy(epId: number, desired: DesiredPolicy): SyncStats {
    let current = this.realized.get(epId);
    if (!current) this.realized.set(epId, (current = new Map()));
    const stats: SyncStats = { written: 0, deleted: 0 };
    for (const [ks, want] of desired) {
      const have = current.get(ks);
      if (have && have.value.deny === want.value.deny && !!have.value.audit === !!want.value.audit &&
        have.value.proxyPort === want.value.proxyPort && have.value.cookie === want.value.cookie) continue;
      this.dp.maps.policy.update(encodePolicyKey(epId, want.key), encodePolicyValue(want.key, want.value));
      current.set(ks, want);
      stats.written++;
    }
    for (const [ks, have] of [...current]) {
      if (desired.has(ks)) continue;
      this.dp.maps.policy.delete(encodePolicyKey(epId, have.key));
      current.delete(ks);
      stats.deleted++;
    }
    return stats;
  }

  /** Forgets every tracked connection to or from `ip`. */
  flushConntrack(ip: string): number {
    const n = ip4ToInt(ip);
    let removed = 0;
    for (const k of [...this.dp.maps.conntrack.keys()]) {
      const key = ctKey.decode(k);
      if (key.saddr === n || key.daddr === n) {
        if (this.dp.maps.conntrack.delete(k)) removed++;
      }
    }
    return removed;
  }

  removePolicy(epId: number): SyncStats {
    const stats = this.syncPolicy(epId, new Map());
    this.realized.delete(epId);
    return stats;
  }

  upsertEndpoint(ip: string, info: { ifindex: number; identity: number; epId: number; flags: number; mac: string; nodeMac: string }): void {
    this.dp.maps.endpoints.update(endpointKey.encode({ ip4: ip4ToInt(ip) }), endpointInfo.encode(info));
  }

  deleteEndpoint(ip: string): void {
    this.dp.maps.endpoints.delete(endpointKey.encode({ ip4: ip4ToInt(ip) }));
  }

  /** Local endpoint entries present in the kernel: ip -> info. */
  endpointEntries(): Map<string, ReturnType<typeof endpointInfo.decode>> {
    const out = new Map<string, ReturnType<typeof endpointInfo.decode>>();
    for (const [k, v] of this.dp.maps.endpoints.entries()) {
      const ip = endpointKey.decode(k).ip4;
      out.set(`${(ip >>> 24) & 255}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`, endpointInfo.decode(v));
    }
    return out;
  }

  upsertIpcache(ip: string, prefixlen: number, identity: number): void {
    this.dp.maps.ipcache.update(ipcacheKey.encode({ prefixlen, ip4: ip4ToInt(ip) }), ipcacheValue.encode({ identity }));
  }

  deleteIpcache(ip: string, prefixlen: number): void {
    this.dp.maps.ipcache.delete(ipcacheKey.encode({ prefixlen, ip4: ip4ToInt(ip) }));
  }

  /** Summed per-CPU packet/byte counters: reason -> direction -> totals. */
  metrics(): { reason: number; direction: 'ingress' | 'egress'; packets: number; bytes: number }[] {
    const out: { reason: number; direction: 'ingress' | 'egress'; packets: number; bytes: number }[] = [];
    const m = this.dp.maps.metrics;
    for (let idx = 0; idx < m.maxEntries; idx++) {
      const dir = idx & 3;
      if (dir !== DIR_INGRESS && dir !== DIR_EGRESS) continue;
      const v = m.lookup(Buffer.from(new Uint32Array([idx]).buffer));
      if (!v) continue;
      let packets = 0;
      let bytes = 0;
      for (const slot of BpfMap.perCpuSlots(v, 16)) {
        const d = metricsValue.decode(slot);
        packets += d.packets;
        bytes += d.bytes;
      }
      if (packets > 0) out.push({ reason: idx >>> 2, direction: dir === DIR_INGRESS ? 'ingress' : 'egress', packets, bytes });
    }
    return out;
  }

  /** Writes the programs' settings (trace aggregation); packets after this follow them. */
  writeTraceConfig(c: TraceConfig): void {
    this.dp.maps.config.update(Buffer.from(new Uint32Array([0]).buffer), encodeTraceConfig(c));
  }

  eventsLost(): number {
    const v = this.dp.maps.counters.lookup(Buffer.from(new Uint32Array([COUNTER_EVENTS_LOST]).buffer));
    if (!v) return 0;
    return BpfMap.perCpuSlots(v, 8).reduce((a, s) => a + Number(s.readBigUInt64LE(0)), 0);
  }
}
