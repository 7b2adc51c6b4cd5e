/**
 * The network configurations the control-plane benchmark hands the two CNI
 * plugins on stdin, as a runtime would read them from /etc/cni/net.d. Pure.
 */

/** membrane's plugin: the agent's socket on the node is all it needs. */
export function membraneNetConf(agentSocket: string): Record<string, unknown> {
  return { cniVersion: '1.0.0', name: 'membrane', type: 'membrane-cni', agentSocket };
}

export interface ReferenceNetOptions {
  /** The Linux bridge the plugin creates (or reuses) in the netns it runs in; at most 15 characters. */
  bridge: string;
  /** host-local's pool, e.g. 10.251.0.0/16. */
  subnet: string;
  /** host-local's state directory (its leases and lock), one per run. */
  dataDir: string;
}

/**
 * The reference: the `bridge` plugin with `host-local` IPAM, the
 * containernetworking/plugins pair most single-node set-ups start from.
 * The bridge is the pods' gateway (as membrane's node is), with a default
 * route in each pod; no masquerade, since membrane does none either and it
 * would add iptables rules to the set-up.
 */
export function referenceNetConf(opts: ReferenceNetOptions): Record<string, unknown> {
  if (opts.bridge.length === 0 || opts.bridge.length > 15) {
    throw new RangeError(`bridge name "${opts.bridge}" must be 1 to 15 characters (IFNAMSIZ)`);
  }
  if (!opts.dataDir.startsWith('/')) throw new RangeError(`host-local dataDir "${opts.dataDir}" must be an absolute path`);
  return {
    cniVersion: '1.0.0',
    name: 'bench-bridge',
    type: 'bridge',
    bridge: opts.bridge,
    isGateway: true,
    ipMasq: false,
    ipam: { type: 'host-local', subnet: opts.subnet, dataDir: opts.dataDir, routes: [{ dst: '0.0.0.0/0' }] },
  };
}

/**
 * A CNI container id for pod `i` of `kind` (plugin and phase, e.g. "ms") in
 * the run `runTag`: 64 characters as runtimes make them. The "-" after each
 * part keeps ids apart however the parts' lengths vary (tag and kind have none).
 */
export function benchContainerId(runTag: string, kind: string, i: number): string {
  return `${runTag}-${kind}-${i}-`.padEnd(64, '0');
}
