// SPDX-License-Identifier: GPL-2.0
/*
 * membrane node-device datapath, attached with tc clsact to the node's
 * external devices (the agent's --devices), as Cilium's bpf_host does for
 * NodePort from outside the node:
 *   from_netdev (tc ingress): a connection to a service frontend on a
 *     node address (a NodePort; the ipcache says host) is DNATed to its backend with the
 *     endpoint datapath's lb_translate() and the same service conntrack,
 *     and recorded for its replies (lb_nodeport_track). The node's stack
 *     routes it to the backend's veth, whose to_container applies the
 *     backend's ingress policy to the client's own identity.
 *     An ICMP error from outside about such a connection (a router quoting
 *     a reply) is handed to the backend (lb_nodeport_icmp_in).
 *   to_netdev (tc egress): a reply of such a connection, or an ICMP error
 *     about one, is rewritten to come from the frontend (node address:nodePort).
 * Everything else passes untouched: the device is the node's, not membrane's.
 * The object shares every map with lxc.bpf.o through the node's pins.
 */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/conntrack.h"
#include "lib/events.h"
#include "lib/lb.h"

char LICENSE[] SEC("license") = "GPL";

static __always_inline int spoofed_from_outside(__u32 saddr)
{
	if (saddr == bpf_htonl(LB_LOOPBACK_IP) || bpf_map_lookup_elem(&endpoints, &saddr))
		return 1;
	struct ipcache_key src = { .prefixlen = 32, .ip4 = saddr };
	struct ipcache_value *v = bpf_map_lookup_elem(&ipcache, &src);
	return v && v->identity == ID_HOST;
}

SEC("tc")
int from_netdev(struct __sk_buff *skb)
{
	__u64 now = bpf_ktime_get_ns();
	struct pkt p = {};
	if (parse_ipv4(skb, &p) != 0)
		return TC_ACT_OK; /* ARP, IPv6, fragments...: the node's stack decides */
	/*
	 * Nothing from outside may claim to be the node, a pod of the node or
	 * the hairpin address: the pods' policies would take it for them.
	 */
	if (spoofed_from_outside(p.saddr)) {
		count_packet(REASON_DROP_INVALID_SIP, DIR_INGRESS, p.len);
		return TC_ACT_SHOT;
	}
	/* Only frontends on the node's own addresses (NodePort): ClusterIPs stay internal, as in Cilium. */
	struct ipcache_key dst = { .prefixlen = 32, .ip4 = p.daddr };
	struct ipcache_value *v = bpf_map_lookup_elem(&ipcache, &dst);
	if (!v || v->identity != ID_HOST)
		return TC_ACT_OK;
	if (p.icmp_related) {
		int err = lb_nodeport_icmp_in(skb, &p, now);
		if (err < 0) {
			count_packet((__u8)-err, DIR_INGRESS, p.len);
			return TC_ACT_SHOT;
		}
		return TC_ACT_OK;
	}
	struct lb_xlate x = {};
	int ret = lb_translate(skb, &p, now, &x);
	if (ret == 0 && x.nat.rev_nat_id) {
		ret = lb_nodeport_track(&p, &x, now);
		skb->mark = (skb->mark & ~MARK_MAGIC_MASK) | MARK_MAGIC_NODEPORT;
	}
	if (ret < 0) {
		count_packet((__u8)-ret, DIR_INGRESS, p.len);
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

SEC("tc")
int to_netdev(struct __sk_buff *skb)
{
	__u64 now = bpf_ktime_get_ns();
	struct pkt p = {};
	if (parse_ipv4(skb, &p) != 0)
		return TC_ACT_OK;
	struct ct_nat nat = {};
	if (!lb_nodeport_reply(&p, now, &nat))
		return TC_ACT_OK;
	int ret = p.icmp_related ? lb_icmp_rev_nat(skb, &p, &nat) : lb_reverse_nat(skb, &p, &nat);
	if (ret < 0) {
		count_packet((__u8)-ret, DIR_EGRESS, p.len);
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}
