/**
 * The pod's veth pair: how its ends are named and the `ip -batch` lines that
 * build it. Pure; src/cni/links.ts runs them.
 *
 * Layout, as Cilium's veth mode has it:
 *   node netns:  lxc<12 hex>  (host end; the agent attaches the datapath here)
 *                route <podIP>/32 dev lxc...
 *   pod netns:   <CNI_IFNAME> with <podIP>/32, a link-scope /32 route to the
 *                gateway and a default route via it (so every packet, even to
 *                a pod of the same node, goes through the host end).
 */
import { createHash } from 'node:crypto';

export interface VethNames {
  /** Host end: "lxc" + first 12 hex chars of sha256("<containerId>:<ifName>"), 15 chars (IFNAMSIZ - 1). */
  host: string;
  /**
   * Peer name while it is still in the node netns, before it is moved and
   * renamed: "tmp" + 5 hex chars, so it never collides with a node interface
   * (the pod's name, usually eth0, surely exists on the node).
   */
  tmpPeer: string;
  /** Final name inside the pod (CNI_IFNAME). */
  pod: string;
}

export function vethNames(containerId: string, ifName: string): VethNames {
  const digest = createHash('sha256').update(`${containerId}:${ifName}`).digest('hex');
  return { host: `lxc${digest.slice(0, 12)}`, tmpPeer: `tmp${digest.slice(12, 17)}`, pod: ifName };
}

/** Everything needed to wire one pod. */
export interface VethPlan {
  names: VethNames;
  /** Path of the pod's network namespace. */
  netns: string;
  mtu: number;
  podIp: string;
  gateway: string;
}

/** Node netns, step 1: create the pair and move the peer into the pod. */
export function createPairLines(p: VethPlan): string[] {
  return [
    `link add ${p.names.host} mtu ${p.mtu} type veth peer name ${p.names.tmpPeer} mtu ${p.mtu}`,
    `link set ${p.names.tmpPeer} netns ${p.netns}`,
  ];
}

/**
 * Pod netns, step 2: rename, address, bring up, routes. addrgenmode none
 * comes before "up" so the kernel never generates an IPv6 link-local
 * address (nor sends the router solicitations that go with it).
 */
export function podSideLines(p: VethPlan): string[] {
  const dev = p.names.pod;
  return [
    `link set ${p.names.tmpPeer} name ${dev}`,
    `link set dev ${dev} addrgenmode none`,
    `link set dev ${dev} mtu ${p.mtu}`,
    `addr add ${p.podIp}/32 dev ${dev}`,
    `link set dev ${dev} up`,
    `link set dev lo up`,
    `route add ${p.gateway}/32 dev ${dev} scope link`,
    `route add default via ${p.gateway} dev ${dev}`,
  ];
}

/** Node netns, step 3: bring the host end up and route the pod's address to it. */
export function hostSideLines(p: VethPlan): string[] {
  return [
    `link set dev ${p.names.host} addrgenmode none`,
    `link set dev ${p.names.host} up`,
    `route replace ${p.podIp}/32 dev ${p.names.host} scope link`,
  ];
}
