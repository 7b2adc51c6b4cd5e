// SPDX-License-Identifier: GPL-2.0
/*
 * membrane endpoint datapath, attached with tc clsact to the host side of
 * every endpoint's veth:
 *   from_container (tc ingress): packets the pod sends. Source check,
 *     conntrack, destination identity from the ipcache, the endpoint's
 *     egress policy.
 *   to_container (tc egress): packets delivered to the pod. Conntrack,
 *     source identity from the ipcache, the endpoint's ingress policy.
 * Every new connection's verdict and every drop becomes a flow event;
 * packets of known connections are only counted.
 */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/conntrack.h"
#include "lib/policy.h"
#include "lib/events.h"

char LICENSE[] SEC("license") = "GPL";

/* Anchors the event layout in the object's BTF, where the agent's codec test reads it. */
struct flow_event flow_event_layout __attribute__((unused));

static __always_inline __u32 ipcache_identity(__u32 ip4)
{
	struct ipcache_key key = { .prefixlen = 32, .ip4 = ip4 };
	struct ipcache_value *v = bpf_map_lookup_elem(&ipcache, &key);
	return v ? v->identity : ID_WORLD;
}

static __always_inline int drop(const struct pkt *p, struct event_ctx *c, int reason, __u64 now)
{
	c->type = EVENT_DROP;
	c->verdict = VERDICT_DROPPED;
	c->reason = (__u8)reason;
	emit_event(p, c, now);
	count_packet(c->reason, c->dir, p->len);
	return TC_ACT_SHOT;
}

/*
 * handle_lxc runs the endpoint datapath for one packet. `dir` is the side of
 * the local endpoint: DIR_EGRESS for packets it sends, DIR_INGRESS for packets
 * delivered to it.
 */
static __always_inline int handle_lxc(struct __sk_buff *skb, __u8 dir)
{
	__u64 now = bpf_ktime_get_ns();
	struct pkt p = {};
	struct event_ctx c = {
		.ifindex = skb->ifindex,
		.dir = dir,
		.obs_point = dir == DIR_EGRESS ? OBS_FROM_ENDPOINT : OBS_TO_ENDPOINT,
	};

	int ret = parse_ipv4(skb, &p);
	if (ret == 1)
		return TC_ACT_OK; /* ARP */
	if (ret < 0) {
		p.len = skb->len;
		return drop(&p, &c, -ret, now);
	}

	__u32 self_ip = dir == DIR_EGRESS ? p.saddr : p.daddr;
	struct endpoint_info *ep = bpf_map_lookup_elem(&endpoints, &self_ip);
	if (!ep || ep->ifindex != skb->ifindex)
		return drop(&p, &c, dir == DIR_EGRESS ? REASON_DROP_INVALID_SIP : REASON_DROP_UNKNOWN_TARGET, now);
	c.ep_id = ep->ep_id;

	int tracked = ct_trackable(&p);
	if (tracked && ct_lookup(&p, dir, now) != CT_NEW) {
		count_packet(REASON_FORWARDED, dir, p.len);
		return TC_ACT_OK;
	}

	__u32 peer_id = ipcache_identity(dir == DIR_EGRESS ? p.daddr : p.saddr);
	c.src_identity = dir == DIR_EGRESS ? ep->identity : peer_id;
	c.dst_identity = dir == DIR_EGRESS ? peer_id : ep->identity;

	/* ICMP rules match the ICMP type in the port field, as Cilium does. */
	__u16 port = p.proto == IPPROTO_ICMP ? bpf_htons(p.icmp_type) : p.dport;
	struct policy_verdict v;
	ret = policy_can_access(ep->ep_id, dir == DIR_EGRESS, peer_id, p.proto, port, &v);
	c.cookie = v.cookie;
	c.match_type = v.match_type;
	c.verdict = VERDICT_FORWARDED;
	if (ret < 0) {
		__u8 audit = dir == DIR_EGRESS ? EP_F_AUDIT_EGRESS : EP_F_AUDIT_INGRESS;
		if (!(ep->flags & audit))
			return drop(&p, &c, -ret, now);
		c.verdict = VERDICT_AUDIT;
		c.reason = (__u8)-ret;
	}

	if (tracked) {
		ret = ct_create(&p, dir, ep->ep_id, peer_id, c.cookie, now);
		if (ret < 0)
			return drop(&p, &c, -ret, now);
	}
	c.type = EVENT_POLICY_VERDICT;
	emit_event(&p, &c, now);
	count_packet(REASON_FORWARDED, dir, p.len);
	return TC_ACT_OK;
}

SEC("tc")
int from_container(struct __sk_buff *skb)
{
	return handle_lxc(skb, DIR_EGRESS);
}

SEC("tc")
int to_container(struct __sk_buff *skb)
{
	return handle_lxc(skb, DIR_INGRESS);
}
