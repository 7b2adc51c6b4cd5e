// SPDX-License-Identifier: GPL-2.0
/*
 * membrane endpoint datapath, attached with tc clsact to the host side of
 * every endpoint's veth:
 *   from_container (tc ingress): packets the pod sends. Source check,
 *     service translation (lib/lb.h: a packet for a service frontend is
 *     DNATed to a backend first, so conntrack and policy see the backend),
 *     conntrack and the endpoint's egress policy; when the destination is
 *     another local endpoint, its ingress side runs here too and the packet
 *     goes straight into that pod (bpf_redirect_peer), skipping the node's
 *     stack. Other destinations continue into the node's stack.
 *   to_container (tc egress): packets the node's stack delivers to the pod.
 *     Conntrack, source identity from the ipcache, ingress policy.
 * Replies of service connections are rewritten to come from the frontend
 * once both endpoints' conntrack has recognised them, as are ICMP errors
 * about them; those of NodePort connections from outside the node are
 * rewritten by the node's device instead (host.bpf.c).
 * Every new connection's verdict and every drop becomes a flow event;
 * forwarded packets become trace events where they leave membrane's hands
 * (to-endpoint: into a pod; to-stack: into the node's stack), as many as
 * the trace level lets through (lib/trace.h); all packets are counted.
 * A connection policy sends to the L7 proxy is handed to the proxy's
 * socket in the node's stack instead (lib/proxy.h), as is its server's
 * side of the proxy's upstream connection.
 */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/conntrack.h"
#include "lib/policy.h"
#include "lib/events.h"
#include "lib/trace.h"
#include "lib/lb.h"
#include "lib/proxy.h"

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
 * endpoint_side runs one local endpoint's half of the datapath for a packet
 * (DIR_EGRESS: the endpoint sends; DIR_INGRESS: it receives). Replies and
 * ICMP errors about tracked connections pass without a policy lookup (a
 * reply's or an error's service translation goes to `reply_nat`), as do answers from
 * beyond this node to the L7 proxy's upstream connections, which go to the
 * proxy (proxy_upstream_reply). Every other packet is checked against the endpoint's policy for the peer's identity,
 * established connections included, so a new deny cuts an open connection
 * (a pod reaching itself through a service is not checked on its ingress
 * side: a pod cannot block itself). A new connection's verdict is a flow
 * event and its entry records the service translation `x`; packets of
 * known connections are only counted. `note` receives what the trace
 * event of a forwarded packet needs, `px` whether the packet goes to the
 * L7 proxy (a new connection so redirected is reported REDIRECTED).
 * Returns TC_ACT_OK or TC_ACT_SHOT.
 */
static __always_inline int endpoint_side(struct __sk_buff *skb, const struct pkt *p, const struct endpoint_info *ep, __u8 dir,
					 __u32 peer_id, __u32 ifindex, const struct lb_xlate *x,
					 struct ct_nat *reply_nat, const struct trace_cfg *t,
					 struct trace_note *note, struct proxy_state *px, __u64 now)
{
	struct event_ctx c = {
		.ifindex = ifindex,
		.dir = dir,
		.ep_id = ep->ep_id,
		.obs_point = dir == DIR_EGRESS ? OBS_FROM_ENDPOINT : OBS_TO_ENDPOINT,
		.src_identity = dir == DIR_EGRESS ? ep->identity : peer_id,
		.dst_identity = dir == DIR_EGRESS ? peer_id : ep->identity,
		.svc_id = x->nat.rev_nat_id,
		.orig_daddr = x->orig_daddr,
		.orig_dport = x->orig_dport,
	};

	int tracked = ct_trackable(p);
	__u8 ct_flags = 0;
	enum ct_status st = tracked ? ct_lookup(p, dir, now, reply_nat, t, &note->due, &ct_flags) : CT_NEW;
	if (st == CT_REPLY) {
		note->reason = TRACE_REASON_REPLY;
		note->reply = 1;
		proxy_known_connection(p, dir, 1, ct_flags, 0, px);
		count_packet(REASON_FORWARDED, dir, p->len);
		return TC_ACT_OK;
	}
	if (p->icmp_related && ct_related(p, dir, ep->ep_id, now, reply_nat)) {
		note->due = 1; /* errors are rare: each one is reported */
		note->reason = TRACE_REASON_RELATED;
		count_packet(REASON_FORWARDED, dir, p->len);
		return TC_ACT_OK;
	}
	if (st == CT_NEW && proxy_upstream_reply(skb, p, px)) {
		note->reason = TRACE_REASON_REPLY;
		note->reply = 1;
		px->to_proxy = 1;
		count_packet(REASON_FORWARDED, dir, p->len);
		return TC_ACT_OK;
	}

	/* ICMP rules match the ICMP type in the port field, as Cilium does. */
	__u16 port = p->proto == IPPROTO_ICMP ? bpf_htons(p->icmp_type) : p->dport;
	struct policy_verdict v = {};
	__u8 audit_dir = dir == DIR_EGRESS ? EP_F_AUDIT_EGRESS : EP_F_AUDIT_INGRESS;
	int ret = 0;
	if (!(x->nat.loopback && dir == DIR_INGRESS))
		ret = policy_can_access(ep->ep_id, dir == DIR_EGRESS, peer_id, p->proto, port, &v);
	/* An audited deny is reported for what passes anyway: allowed, or denied only by an audited default deny. */
	if ((ret == 0 || (ret == -REASON_DROP_POLICY && (ep->flags & audit_dir))) && (ep->flags & EP_F_AUDIT_DENIES) &&
	    policy_audit_denied(ep->ep_id, dir == DIR_EGRESS, peer_id, p->proto, port, &v))
		ret = -REASON_DROP_POLICY_DENY;
	c.cookie = v.cookie;
	c.match_type = v.match_type;
	c.verdict = VERDICT_FORWARDED;
	if (ret < 0) {
		/* Audited: a deny of an audited policy, or a default deny only audited policies impose. */
		int audited = ret == -REASON_DROP_POLICY_DENY ? v.audit : (ret == -REASON_DROP_POLICY && (ep->flags & audit_dir));
		if (!audited)
			return drop(p, &c, -ret, now);
		c.verdict = VERDICT_AUDIT;
		c.reason = (__u8)-ret;
	}
	if (st == CT_ESTABLISHED) {
		note->reason = TRACE_REASON_ESTABLISHED;
		proxy_known_connection(p, dir, 0, ct_flags, v.proxy_port, px);
		count_packet(REASON_FORWARDED, dir, p->len);
		return TC_ACT_OK;
	}
	note->due = 1;
	note->reason = TRACE_REASON_NEW;

	int redirected = proxy_new_connection(p, v.proxy_port, px);
	if (redirected < 0)
		return drop(p, &c, -redirected, now);
	if (tracked) {
		ret = ct_create(p, dir, ep->ep_id, peer_id, c.cookie, &x->nat, proxy_ct_flags(px, redirected), now);
		if (ret < 0)
			return drop(p, &c, -ret, now);
	}
	if (redirected) {
		c.proxy_port = v.proxy_port;
		if (c.verdict == VERDICT_FORWARDED)
			c.verdict = VERDICT_REDIRECTED;
	}
	c.type = EVENT_POLICY_VERDICT;
	emit_event(p, &c, now);
	count_packet(REASON_FORWARDED, dir, p->len);
	return TC_ACT_OK;
}

/*
 * Reports a forwarded packet at observation point `obs`, naming its
 * service: the frontend it was addressed to (`x`), or for a reply the one
 * it answers for (`reply_nat`, still before the reply is rewritten).
 */
static __always_inline void trace_forwarded(const struct pkt *p, const struct trace_note *n, __u8 obs, __u16 ep_id,
					    __u32 ifindex, __u32 src_id, __u32 dst_id, const struct lb_xlate *x,
					    const struct ct_nat *reply_nat, __u64 now)
{
	if (n->reply)
		emit_trace(p, n, obs, ep_id, ifindex, src_id, dst_id, reply_nat->rev_nat_id, 0, 0, now);
	else
		emit_trace(p, n, obs, ep_id, ifindex, src_id, dst_id, x->nat.rev_nat_id, x->orig_daddr, x->orig_dport, now);
}

/*
 * to_proxy hands a packet endpoint `ep`'s side `side` sent to the proxy
 * (`px`) to the proxy's socket, at tc ingress; fails closed, as that
 * side's drop, when the proxy has none.
 */
static __always_inline int to_proxy(struct __sk_buff *skb, const struct pkt *p, const struct endpoint_info *ep, __u8 side,
				    __u32 peer_id, __u32 ifindex, const struct proxy_state *px, const struct trace_note *note,
				    __u64 now)
{
	__u32 src_id = side == DIR_EGRESS ? ep->identity : peer_id;
	__u32 dst_id = side == DIR_EGRESS ? peer_id : ep->identity;
	int ret = proxy_assign(skb, p, px->port);
	if (ret == 0) {
		proxy_trace(p, note, side, ep->ep_id, ifindex, src_id, dst_id, px->port, now);
		return TC_ACT_OK;
	}
	struct event_ctx c = {
		.ifindex = ifindex,
		.dir = side,
		.ep_id = ep->ep_id,
		.obs_point = side == DIR_EGRESS ? OBS_FROM_ENDPOINT : OBS_TO_ENDPOINT,
		.src_identity = src_id,
		.dst_identity = dst_id,
		.is_reply = note->reply,
		.proxy_port = px->port,
	};
	return drop(p, &c, -ret, now);
}

/*
 * from_hairpin takes a packet to_container hairpinned for the proxy
 * (proxy_hairpin) to the proxy's socket, or drops it as the receiving
 * endpoint's ingress when the proxy has none.
 */
static __always_inline int from_hairpin(struct __sk_buff *skb, __u64 now)
{
	struct pkt p = {};
	if (parse_ipv4(skb, &p) != 0)
		return TC_ACT_SHOT;
	__u16 port = proxy_hairpin_port(skb);
	int ret = proxy_assign(skb, &p, port);
	if (ret == 0)
		return TC_ACT_OK;
	struct endpoint_info *ep = bpf_map_lookup_elem(&endpoints, &p.daddr);
	struct event_ctx c = {
		.ifindex = skb->ifindex,
		.dir = DIR_INGRESS,
		.ep_id = ep ? ep->ep_id : 0,
		.obs_point = OBS_TO_ENDPOINT,
		.src_identity = ipcache_identity(p.saddr),
		.dst_identity = ep ? ep->identity : ID_UNKNOWN,
		.proxy_port = port,
	};
	return drop(&p, &c, -ret, now);
}

/* Drops a packet that failed before any endpoint's policy ran. */
static __always_inline int early_drop(struct __sk_buff *skb, struct pkt *p, __u8 dir, __u16 ep_id, int reason, __u64 now)
{
	struct event_ctx c = { .ifindex = skb->ifindex, .dir = dir, .ep_id = ep_id };
	c.obs_point = dir == DIR_EGRESS ? OBS_FROM_ENDPOINT : OBS_TO_ENDPOINT;
	if (!p->len)
		p->len = skb->len;
	return drop(p, &c, reason, now);
}

/* Rewrites the Ethernet header for delivery into `dst`'s pod, as if the node had routed it. */
static __always_inline int rewrite_l2(struct __sk_buff *skb, const struct endpoint_info *dst)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return -1;
	__builtin_memcpy(eth->h_dest, dst->mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, dst->node_mac, ETH_ALEN);
	return 0;
}

/*
 * packet_endpoint parses the packet and finds the local endpoint on whose
 * veth it was seen: by its source address for DIR_EGRESS (from the pod), by
 * its destination for DIR_INGRESS (to the pod). Returns NULL when the
 * program is done with the packet, with *verdict set: ARP passes; malformed
 * packets, spoofed sources and foreign destinations are dropped.
 */
static __always_inline struct endpoint_info *packet_endpoint(struct __sk_buff *skb, struct pkt *p, __u8 dir,
							     __u64 now, int *verdict)
{
	int ret = parse_ipv4(skb, p);
	if (ret == 1) {
		*verdict = TC_ACT_OK; /* ARP */
		return NULL;
	}
	if (ret < 0) {
		*verdict = early_drop(skb, p, dir, 0, -ret, now);
		return NULL;
	}
	__u32 self_ip = dir == DIR_EGRESS ? p->saddr : p->daddr;
	struct endpoint_info *ep = bpf_map_lookup_elem(&endpoints, &self_ip);
	if (!ep || ep->ifindex != skb->ifindex) {
		*verdict = early_drop(skb, p, dir, 0, dir == DIR_EGRESS ? REASON_DROP_INVALID_SIP : REASON_DROP_UNKNOWN_TARGET, now);
		return NULL;
	}
	return ep;
}

/* Drops a packet for a service frontend that has no backend to give it (reason 158), naming the service. */
static __always_inline int service_drop(struct __sk_buff *skb, const struct pkt *p, const struct endpoint_info *src,
					const struct lb_xlate *x, int reason, __u64 now)
{
	struct event_ctx c = {
		.ifindex = skb->ifindex,
		.dir = DIR_EGRESS,
		.ep_id = src->ep_id,
		.obs_point = OBS_FROM_ENDPOINT,
		.src_identity = src->identity,
		.dst_identity = ipcache_identity(p->daddr),
		.svc_id = x->nat.rev_nat_id,
		.orig_daddr = x->orig_daddr,
		.orig_dport = x->orig_dport,
	};
	return drop(p, &c, reason, now);
}

/*
 * Rewrites a reply of a service connection to come from its frontend, and
 * an ICMP error about one to quote the packet its client sent (to
 * VIP:port); drops what cannot be rewritten.
 */
static __always_inline int reply_rev_nat(struct __sk_buff *skb, struct pkt *p, const struct ct_nat *nat, __u8 dir)
{
	if (!nat->rev_nat_id || nat->nodeport) /* NodePort from outside: the node's device rewrites it (host.bpf.c) */
		return TC_ACT_OK;
	int ret = p->icmp_related ? lb_icmp_rev_nat(skb, p, nat) : lb_reverse_nat(skb, p, nat);
	if (ret < 0) {
		count_packet((__u8)-ret, dir, p->len);
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

SEC("tc")
int from_container(struct __sk_buff *skb)
{
	__u64 now = bpf_ktime_get_ns();
	/* Pods cannot set a mark (crossing into the node scrubs it): only to_container's hairpin can. */
	if (proxy_marked(skb, MARK_MAGIC_TO_PROXY))
		return from_hairpin(skb, now);
	struct pkt p = {};
	int verdict;
	struct endpoint_info *src = packet_endpoint(skb, &p, DIR_EGRESS, now, &verdict);
	if (!src)
		return verdict;
	struct trace_cfg t;
	trace_cfg_load(&t);
	if (t.level == TRACE_LEVEL_NONE) {
		struct trace_note from = { .due = 1 };
		emit_trace(&p, &from, OBS_FROM_ENDPOINT, src->ep_id, skb->ifindex, src->identity,
			   ipcache_identity(p.daddr), 0, 0, 0, now);
	}

	struct lb_xlate x = {};
	int ret = lb_translate(skb, &p, now, &x);
	if (ret < 0)
		return service_drop(skb, &p, src, &x, -ret, now);

	/* A hairpin reply is addressed to LB_LOOPBACK_IP: it goes back to the sender itself. */
	__u32 dst_ip = p.daddr == bpf_htonl(LB_LOOPBACK_IP) ? p.saddr : p.daddr;
	struct endpoint_info *dst = bpf_map_lookup_elem(&endpoints, &dst_ip);
	__u32 dst_id = dst ? dst->identity : ipcache_identity(p.daddr);
	struct ct_nat reply_nat = {};
	struct trace_note note = {};
	struct proxy_state px = {};
	if (endpoint_side(skb, &p, src, DIR_EGRESS, dst_id, skb->ifindex, &x, &reply_nat, &t, &note, &px, now) != TC_ACT_OK)
		return TC_ACT_SHOT;
	if (px.to_proxy) /* egress L7, or the server's reply to the proxy's upstream connection */
		return to_proxy(skb, &p, src, DIR_EGRESS, dst_id, skb->ifindex, &px, &note, now);
	if (!dst) {
		/* Not local: the node's stack routes it. */
		trace_forwarded(&p, &note, OBS_TO_STACK, src->ep_id, skb->ifindex, src->identity, dst_id, &x, &reply_nat, now);
		return reply_rev_nat(skb, &p, &reply_nat, DIR_EGRESS);
	}

	/* Local destination: its ingress side here, then straight into its pod. */
	struct ct_nat dst_reply_nat = {};
	struct trace_note dst_note = {};
	struct proxy_state dst_px = {};
	if (endpoint_side(skb, &p, dst, DIR_INGRESS, src->identity, dst->ifindex, &x, &dst_reply_nat, &t, &dst_note, &dst_px, now) != TC_ACT_OK)
		return TC_ACT_SHOT;
	if (dst_px.to_proxy) /* ingress L7 */
		return to_proxy(skb, &p, dst, DIR_INGRESS, src->identity, dst->ifindex, &dst_px, &dst_note, now);
	trace_forwarded(&p, &dst_note, OBS_TO_ENDPOINT, dst->ep_id, dst->ifindex, src->identity, dst->identity, &x, &dst_reply_nat, now);
	if (reply_rev_nat(skb, &p, &reply_nat, DIR_EGRESS) != TC_ACT_OK)
		return TC_ACT_SHOT;
	if (rewrite_l2(skb, dst) < 0)
		return TC_ACT_SHOT;
	return bpf_redirect_peer(dst->ifindex, 0);
}

SEC("tc")
int to_container(struct __sk_buff *skb)
{
	__u64 now = bpf_ktime_get_ns();
	struct pkt p = {};
	int verdict;
	struct endpoint_info *ep = packet_endpoint(skb, &p, DIR_INGRESS, now, &verdict);
	if (!ep)
		return verdict;
	struct lb_xlate x = {};
	if ((skb->mark & MARK_MAGIC_MASK) == MARK_MAGIC_NODEPORT)
		lb_nodeport_xlate(&p, &x); /* a NodePort connection from outside names its service in flows and conntrack */
	struct ct_nat reply_nat = {};
	struct trace_cfg t;
	trace_cfg_load(&t);
	struct trace_note note = {};
	__u32 src_id = ipcache_identity(p.saddr);
	struct proxy_state px = { .from_proxy = proxy_marked(skb, MARK_MAGIC_FROM_PROXY), .from_stack = 1 };
	if (endpoint_side(skb, &p, ep, DIR_INGRESS, src_id, skb->ifindex, &x, &reply_nat, &t, &note, &px, now) != TC_ACT_OK)
		return TC_ACT_SHOT;
	if (px.to_proxy) {
		/*
		 * Ingress L7 for a connection from the node's stack, or a reply to the
		 * proxy's upstream from beyond this node: bpf_sk_assign works at tc ingress only.
		 */
		proxy_trace(&p, &note, DIR_INGRESS, ep->ep_id, skb->ifindex, src_id, ep->identity, px.port, now);
		return proxy_hairpin(skb, ep->node_mac, px.port);
	}
	trace_forwarded(&p, &note, OBS_TO_ENDPOINT, ep->ep_id, skb->ifindex, src_id, ep->identity, &x, &reply_nat, now);
	return reply_rev_nat(skb, &p, &reply_nat, DIR_INGRESS);
}
