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
 *
 * Unlike Cilium, the pod end is created right inside the pod's netns under
 * its final name (`peer name eth0 ... netns <path>`, as the reference
 * plugins do), not as a temporary name on the node moved over and renamed:
 * moving a link between namespaces waits for the kernel's RCU grace
 * periods (about 20 ms, more than the rest of the wiring), and the
 * temporary name was one more name that concurrent ADDs could collide on.
 */
import { createHash } from 'node:crypto';

export interface VethNames {
  /** Host end: "lxc" + first 12 hex chars of sha256("<containerId>:<ifName>"), 15 chars (IFNAMSIZ - 1). */
  host: string;
  /** The pod end's name inside the pod (CNI_IFNAME); it never exists in the node netns. */
  pod: string;
}

export function vethNames(containerId: string, ifName: string): VethNames {
  const digest = createHash('sha256').update(`${containerId}:${ifName}`).digest('hex');
  return { host: `lxc${digest.slice(0, 12)}`, pod: ifName };
}

/**
 * A MAC address from 6 random bytes: locally administered (bit 1 of the
 * first octet set) and unicast (bit 0 clear), as the kernel's own random
 * MACs are. ADD picks the pod end's MAC itself so it need not read it back
 * before registering the endpoint.
 */
export function localUnicastMac(bytes: Uint8Array): string {
  if (bytes.length !== 6) throw new RangeError(`a MAC address takes 6 bytes, got ${bytes.length}`);
  const octets = [...bytes];
  octets[0] = (octets[0]! & 0xfc) | 0x02;
  return octets.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Everything needed to wire one pod. */
export interface VethPlan {
  names: VethNames;
  /** Path of the pod's network namespace. */
  netns: string;
  mtu: number;
  podIp: string;
  gateway: string;
  /** The pod end's MAC (localUnicastMac). */
  podMac: string;
}

/**
 * Node netns, one batch: create the pair with the pod end already in the
 * pod's netns, bring the host end up (addrgenmode none first, so the
 * kernel never gives it an IPv6 link-local address; the kernel refuses it
 * on `link add`), route the pod's address to it, and print the host end
 * (`ip -json`: its ifindex and MAC) as the last line's output.
 *
 * The first line fails with "File exists" when either name is taken (a
 * leftover of an interrupted ADD); nothing has been created then.
 */
export function hostSideLines(p: VethPlan): string[] {
  const { host, pod } = p.names;
  return [
    `link add ${host} mtu ${p.mtu} type veth peer name ${pod} address ${p.podMac} mtu ${p.mtu} netns ${p.netns}`,
    `link set dev ${host} addrgenmode none`,
    `link set dev ${host} up`,
    `route replace ${p.podIp}/32 dev ${host} scope link`,
    `link show dev ${host}`,
  ];
}

/**
 * Pod netns, after hostSideLines: address, up (addrgenmode none first, no
 * IPv6 link-local address nor the router solicitations that go with it),
 * loopback up, the gateway's link route, then the default route via it.
 */
export function podSideLines(p: VethPlan): string[] {
  const dev = p.names.pod;
  return [
    `link set dev ${dev} addrgenmode none`,
    `addr add ${p.podIp}/32 dev ${dev}`,
    `link set dev ${dev} up`,
    `link set dev lo up`,
    `route add ${p.gateway}/32 dev ${dev} scope link`,
    `route add default via ${p.gateway} dev ${dev}`,
  ];
}
