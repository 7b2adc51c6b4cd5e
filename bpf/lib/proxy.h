/*
 * membrane datapath: transparent redirection into the node's L7 proxy.
 *
 * A policy entry with a proxy_port hands a new TCP connection to a proxy
 * listening in the node's network namespace (IP_TRANSPARENT, on
 * 127.0.0.1 or 0.0.0.0 :proxy_port). The client's packets keep their
 * addresses: at tc ingress the datapath assigns them to the proxy's socket
 * (bpf_sk_assign: the listener for a connection's first packet, the
 * accepted socket after that), marks them MARK_MAGIC_TO_PROXY and lets
 * them into the node's stack, where the mark's ip rule routes them locally
 * (layout.h). The proxy's accepted socket so has the original destination
 * as its local address.
 *
 * The proxy's upstream connection leaves from the client's own address
 * (IP_TRANSPARENT bind) with SO_MARK MARK_MAGIC_FROM_PROXY: the
 * destination's ingress policy checks it as the client's identity like
 * any other connection, but never redirects it again. Its conntrack entry
 * says CT_F_PROXY_UPSTREAM, so the server's replies, addressed to the
 * client, go to the proxy's socket instead of the client. An upstream to
 * a server beyond this node leaves through the stack unseen; its answers
 * come back through to_container as packets of no known connection, and a
 * socket lookup recognises them (proxy_upstream_reply; the node runs with
 * TCP early demux off, or the stack would drop them, see src/agent/node.ts).
 *
 * Conntrack remembers a redirected connection (CT_F_PROXY_REDIRECT): its
 * later packets go to the proxy as long as policy allows them.
 * to_container (tc egress, where bpf_sk_assign is not allowed) hairpins a
 * packet for the proxy into its veth's ingress, where from_container
 * assigns it. No socket for a packet, i.e. no proxy listening: the packet
 * is dropped (DROP_PROXY_LOOKUP_FAILED, 178), the redirect fails closed.
 */
#ifndef MEMBRANE_PROXY_H
#define MEMBRANE_PROXY_H

#include "common.h"
#include "parse.h"
#include "conntrack.h"
#include "events.h"
#include "trace.h"

/* What an endpoint's side decided about the proxy, for one packet. */
struct proxy_state {
	__u8 from_proxy; /* in: the proxy sent the packet (its mark): it is never redirected again */
	__u8 from_stack; /* in: the node's stack delivers the packet (to_container), the way answers to the proxy's upstreams beyond this node come */
	__u8 to_proxy;   /* out: hand the packet to the proxy */
	__u8 pad;
	__u16 port;      /* out, network order: the proxy's port, for the listener; 0 = only the connection's own socket will do */
};

static __always_inline int proxy_marked(const struct __sk_buff *skb, __u32 magic)
{
	return (skb->mark & MARK_MAGIC_MASK) == magic;
}

static __always_inline int tcp_syn_only(const struct pkt *p)
{
	return (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
}

/*
 * proxy_new_connection decides for a new connection that policy allowed
 * with `proxy_port`: 1 = redirect it (sets px), 0 = not (no proxy port, or
 * the proxy sent it), or a negative reason: only TCP can be redirected.
 */
static __always_inline int proxy_new_connection(const struct pkt *p, __u16 proxy_port, struct proxy_state *px)
{
	if (!proxy_port || px->from_proxy)
		return 0;
	if (p->proto != IPPROTO_TCP)
		return -REASON_DROP_PROXY_UNKNOWN_PROTO;
	px->to_proxy = 1;
	px->port = proxy_port;
	return 1;
}

/* The conntrack flags a new connection starts with: redirected, or opened by the proxy. */
static __always_inline __u8 proxy_ct_flags(const struct proxy_state *px, int redirected)
{
	if (redirected)
		return CT_F_PROXY_REDIRECT;
	return px->from_proxy ? CT_F_PROXY_UPSTREAM : 0;
}

/*
 * proxy_known_connection decides for a packet of a known connection with
 * CT_F_* `ct_flags`: the original direction of a redirected connection
 * goes to the proxy (its listener on `proxy_port` too, in case its socket
 * is gone), as do replies of a connection the proxy opened. A proxy's SYN
 * that finds a connection of the same tuple makes it the proxy's upstream
 * as well (the proxy may reuse the client's port).
 */
static __always_inline void proxy_known_connection(const struct pkt *p, __u8 dir, int reply, __u8 ct_flags,
						   __u16 proxy_port, struct proxy_state *px)
{
	if (px->from_proxy) {
		if (!reply && tcp_syn_only(p) && !(ct_flags & CT_F_PROXY_UPSTREAM))
			ct_add_flags(p, dir, CT_F_PROXY_UPSTREAM);
		return;
	}
	if (p->proto != IPPROTO_TCP)
		return;
	if (reply ? (ct_flags & CT_F_PROXY_UPSTREAM) : (ct_flags & CT_F_PROXY_REDIRECT)) {
		px->to_proxy = 1;
		px->port = reply ? 0 : proxy_port;
	}
}

/* The node's TCP socket of a tuple (established, TIME_WAIT, or a listener matching its destination), referenced; or NULL. */
static __always_inline struct bpf_sock *node_tcp_socket(struct __sk_buff *skb, __be32 saddr, __be16 sport, __be32 daddr, __be16 dport)
{
	struct bpf_sock_tuple tuple = {};
	tuple.ipv4.saddr = saddr;
	tuple.ipv4.daddr = daddr;
	tuple.ipv4.sport = sport;
	tuple.ipv4.dport = dport;
	return bpf_skc_lookup_tcp(skb, &tuple, sizeof(tuple.ipv4), BPF_F_CURRENT_NETNS, 0);
}

/*
 * proxy_upstream_reply tells whether a TCP packet of no connection the
 * datapath knows, on its way from the node's stack into a pod, answers a
 * connection the proxy opened from that pod's address to a server beyond
 * this node: conntrack never saw that one (it left through the stack), but
 * the node holds a socket of the tuple, and only the proxy's transparent
 * sockets have a pod's address. Costs a socket lookup, for such packets only.
 */
static __always_inline int proxy_upstream_reply(struct __sk_buff *skb, const struct pkt *p, const struct proxy_state *px)
{
	if (!px->from_stack || px->from_proxy || p->proto != IPPROTO_TCP || tcp_syn_only(p))
		return 0;
	struct bpf_sock *sk = node_tcp_socket(skb, p->saddr, p->sport, p->daddr, p->dport);
	if (!sk)
		return 0;
	int owned = sk->state != BPF_TCP_LISTEN;
	bpf_sk_release(sk);
	return owned;
}

/*
 * node_listens tells whether a socket of the node listens on the packet's
 * destination address and port (bound to it or to any address).
 */
static __always_inline int node_listens(struct __sk_buff *skb, const struct pkt *p)
{
	struct bpf_sock *sk = node_tcp_socket(skb, 0, 0, p->daddr, p->dport);
	if (!sk)
		return 0;
	int listening = sk->state == BPF_TCP_LISTEN;
	bpf_sk_release(sk);
	return listening;
}

/*
 * proxy_assign hands a packet, at tc ingress, to the proxy: to the socket
 * of its own connection when the node has one, else, with a `port_be`, to
 * the proxy's listener there. Marks the packet so the node routes it
 * locally. Returns 0 or a negative reason.
 *
 * A TIME_WAIT socket of the tuple (the proxy closed an earlier connection
 * of it first) gets the packet itself, unassigned: assigned to the
 * listener, a SYN that reuses the tuple would be dropped by the stack
 * (it refuses a request socket that duplicates a TIME_WAIT socket's tuple)
 * for all of TIME_WAIT, 60 s. The stack's TIME_WAIT handling answers such
 * a SYN with an ACK, the client's RST to it ends the TIME_WAIT socket, and
 * the client's next SYN reaches the listener. Not a SYN to an address
 * and port the node itself listens on (an egress rule towards the host):
 * the stack would give that SYN to the node's listener, and the
 * connection would bypass the proxy; such a SYN goes to the proxy's
 * listener as before, and waits for the TIME_WAIT to end.
 */
static __always_inline int proxy_assign(struct __sk_buff *skb, const struct pkt *p, __u16 port_be)
{
	if (p->proto != IPPROTO_TCP)
		return -REASON_DROP_PROXY_UNKNOWN_PROTO;
	struct bpf_sock *sk = node_tcp_socket(skb, p->saddr, p->sport, p->daddr, p->dport);
	if (sk && sk->state == BPF_TCP_TIME_WAIT) {
		bpf_sk_release(sk);
		sk = NULL;
		if (!tcp_syn_only(p) || !node_listens(skb, p)) {
			skb->mark = MARK_MAGIC_TO_PROXY;
			return 0;
		}
	}
	if (sk && sk->state == BPF_TCP_LISTEN) {
		bpf_sk_release(sk);
		sk = NULL;
	}
	if (!sk && port_be) {
		/* 127.0.0.1: finds a listener on the loopback address and one on any address. */
		sk = node_tcp_socket(skb, p->saddr, p->sport, bpf_htonl(0x7f000001), port_be);
		if (sk && sk->state != BPF_TCP_LISTEN) {
			bpf_sk_release(sk);
			sk = NULL;
		}
	}
	if (!sk)
		return -REASON_DROP_PROXY_LOOKUP_FAILED;
	long ret = bpf_sk_assign(skb, sk, 0);
	bpf_sk_release(sk);
	if (ret < 0)
		return -REASON_DROP_PROXY_SET_FAILED;
	skb->mark = MARK_MAGIC_TO_PROXY;
	return 0;
}

/*
 * proxy_hairpin sends a packet seen at tc egress (to_container) back into
 * the ingress of the same veth, where from_container finds the mark and
 * assigns it (proxy_assign). The destination MAC becomes the veth's own,
 * so the stack takes the packet as addressed to the node.
 */
static __always_inline int proxy_hairpin(struct __sk_buff *skb, const __u8 *node_mac, __u16 port_be)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return TC_ACT_SHOT;
	__builtin_memcpy(eth->h_dest, node_mac, ETH_ALEN);
	skb->mark = MARK_MAGIC_TO_PROXY | ((__u32)bpf_ntohs(port_be) << 16);
	return bpf_redirect(skb->ifindex, BPF_F_INGRESS);
}

/*
 * proxy_trace reports a packet handed to the proxy (observation point
 * to-proxy) on endpoint `ep_id`'s side `side`, when its note says it is
 * due. The direction is the connection's: a reply travels against it.
 */
static __always_inline void proxy_trace(const struct pkt *p, const struct trace_note *n, __u8 side, __u16 ep_id,
					__u32 ifindex, __u32 src_identity, __u32 dst_identity, __u16 port_be, __u64 now)
{
	emit_trace_at(p, n, OBS_TO_PROXY, n->reply ? ct_other_dir(side) : side, ep_id, ifindex, src_identity, dst_identity,
		      0, 0, 0, port_be, now);
}

/* The proxy port a hairpinned packet carries in its mark (proxy_hairpin), network order. */
static __always_inline __u16 proxy_hairpin_port(const struct __sk_buff *skb)
{
	return bpf_htons((__u16)(skb->mark >> 16));
}

#endif
