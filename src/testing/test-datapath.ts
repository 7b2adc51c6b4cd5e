/**
 * The datapath as BPF_PROG_TEST_RUN tests use it: loaded unpinned, with its
 * events ring, and the set-up every such test starts from (no
 * namespaces: skb->ifindex is loopback, 1, so every test endpoint sits
 * behind ifindex 1).
 */
import { LxcDatapath } from '../datapath/loader.js';
import {
  type FlowEventRecord, endpointInfo, endpointKey, flowEvent, ip4ToInt, ipcacheKey, ipcacheValue,
} from '../datapath/layout.js';
import type { BpfMap } from '../datapath/map.js';
import { RingBuf } from '../datapath/ringbuf.js';
import type { DatapathState } from '../datapath/state.js';

export interface TestEndpoint { ip: string; epId: number; identity: number }
export interface TestPeer { ip: string; identity: number }

export class TestDatapath {
  private constructor(readonly dp: LxcDatapath, readonly rb: RingBuf) {}

  /** Loads the datapath (root only: call requireRoot() first). */
  static open(): TestDatapath {
    const dp = LxcDatapath.load();
    return new TestDatapath(dp, new RingBuf(dp.maps.events.fd));
  }

  /**
   * Empties the endpoints, ipcache, policy and conntrack maps, gives the
   * datapath its default settings back, drops pending events, then installs
   * `endpoints` (in the endpoints map and the ipcache) and `peers` (ipcache only).
   */
  reset(endpoints: readonly TestEndpoint[], peers: readonly TestPeer[] = []): void {
    const m = this.dp.maps;
    for (const map of [m.endpoints, m.ipcache, m.policy, m.conntrack]) clear(map);
    m.config.update(Buffer.alloc(4), Buffer.alloc(8)); // an entry not marked valid: the datapath's defaults
    this.rb.consume();
    for (const ep of endpoints) {
      m.endpoints.update(endpointKey.encode({ ip4: ip4ToInt(ep.ip) }),
        endpointInfo.encode({ ifindex: 1, identity: ep.identity, epId: ep.epId, mac: '02:00:00:00:00:0a', nodeMac: '02:00:00:00:00:0b' }));
    }
    for (const p of [...endpoints, ...peers]) m.ipcache.update(ipcacheKey.encode({ prefixlen: 32, ip4: ip4ToInt(p.ip) }), ipcacheValue.encode({ identity: p.identity }));
  }

  /** Every event since the last call. */
  events(): FlowEventRecord[] {
    return this.rb.consume().map((b) => flowEvent.decode(b));
  }

  close(): void {
    this.rb.free();
    this.dp.close();
  }
}

/**
 * Installs a test endpoint through the agent's own kernel-state writer
 * (endpoints map, ipcache, policy): with `allowAll` its policy lets
 * everything in and out, otherwise it has none (default deny both ways).
 */
export function installEndpoint(state: DatapathState, ep: TestEndpoint, allowAll = true): void {
  state.upsertEndpoint(ep.ip, { ifindex: 1, identity: ep.identity, epId: ep.epId, flags: 0, mac: '02:00:00:00:00:0a', nodeMac: '02:00:00:00:00:0b' });
  state.upsertIpcache(ep.ip, 32, ep.identity);
  state.syncPolicy(ep.epId, new Map(allowAll
    ? [true, false].map((egress) => [`any${egress}`, { key: { identity: 0, egress, protocol: 0, port: 0, prefixLen: 0 }, value: { deny: false, proxyPort: 0, cookie: 1 } }])
    : []));
}

/** Between service tests: no service in the maps, no connection tracked. */
export function clearServices(state: DatapathState, dp: LxcDatapath): void {
  for (const f of state.realizedServices()) state.deleteService(f.id);
  clear(dp.maps.conntrack);
}

function clear(map: BpfMap): void {
  for (const k of [...map.keys()]) map.delete(k);
}
