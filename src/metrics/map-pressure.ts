/**
 * BPF map pressure (entries / max entries) for the maps where counting is
 * cheap enough to do at every scrape. Each map is walked key by key (one
 * syscall a key), so a map that can hold hundreds of thousands of busy
 * entries is left out: conntrack (an LRU the datapath fills on its own).
 * The policy map is not walked either: the agent's realized view says how
 * many entries the kernel holds.
 */

/** What is read of one map: a key walk and its capacity (a BpfMap fits). */
export interface CountableMap {
  readonly maxEntries: number;
  keys(): Iterable<unknown>;
}

/** Maps whose pressure is reported, walked at scrape time. */
export const WALKED_MAPS = ['endpoints', 'ipcache', 'lb_services', 'lb_backends', 'lb_rev_nat', 'lb_affinity', 'lb_maglev'] as const;

export interface MapPressure {
  map: string;
  entries: number;
  maxEntries: number;
}

export function countEntries(m: CountableMap): number {
  let n = 0;
  for (const _ of m.keys()) n++;
  return n;
}

/** Pressure is entries / max, 0 for a map of no capacity. */
export function pressure(p: MapPressure): number {
  return p.maxEntries > 0 ? p.entries / p.maxEntries : 0;
}

/**
 * Reads the walked maps present in `maps`, plus the policy map from its
 * known entry count. A map that cannot be read is left out (and reported
 * to `onError`) rather than failing the scrape.
 */
export function readMapPressure(
  maps: Partial<Record<string, CountableMap>>,
  policyEntries: number,
  onError: (map: string, err: unknown) => void = () => undefined,
): MapPressure[] {
  const out: MapPressure[] = [];
  const policy = maps['policy'];
  if (policy) out.push({ map: 'policy', entries: policyEntries, maxEntries: policy.maxEntries });
  for (const name of WALKED_MAPS) {
    const m = maps[name];
    if (!m) continue;
    try {
      out.push({ map: name, entries: countEntries(m), maxEntries: m.maxEntries });
    } catch (err) {
      onError(name, err);
    }
  }
  return out;
}
