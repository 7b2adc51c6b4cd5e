/*
 * membrane datapath: service load balancing on the from-container path, as
 * Cilium's lb4 does it.
 *  1. The frontend (VIP, port, protocol) is looked up at slot 0.
 *  2. A service conntrack entry keyed by the client's original tuple
 *     (CT_DIR_SERVICE) keeps the chosen backend, so an established
 *     connection stays on it while the backend set changes; only when its
 *     backend is gone from lb_backends is another picked.
 *  3. A new connection takes its session-affinity backend when that entry
 *     is fresh and the backend still active, else one of the `count` active
 *     backends: random slot, or the Maglev table by a hash of the 5-tuple.
 *  4. The packet is DNATed (checksums kept right); a client that is its own
 *     backend (hairpin) also gets its source rewritten to LB_LOOPBACK_IP,
 *     since a pod drops packets that arrive from its own address.
 * Replies are recognised by the per-endpoint conntrack entries, which carry
 * the frontend's id; lb_reverse_nat() rewrites them back to come from VIP:port.
 * SCTP frontends are translated only without a port change: a port rewrite
 * would need the CRC32c recomputed, which this datapath does not do.
 */
#ifndef MEMBRANE_LB_H
#define MEMBRANE_LB_H

#include "common.h"
#include "maps.h"
#include "parse.h"
#include "conntrack.h"

/* The service translation applied to a packet (all zero: none). */
struct lb_xlate {
	__u32 orig_daddr; /* the VIP, network order */
	__u16 orig_dport; /* network order */
	struct ct_nat nat;
};

#ifndef offsetof
#define offsetof(type, member) __builtin_offsetof(type, member)
#endif

#define IP_CSUM_OFF (ETH_HLEN + offsetof(struct iphdr, check))
#define IP_SADDR_OFF (ETH_HLEN + offsetof(struct iphdr, saddr))
#define IP_DADDR_OFF (ETH_HLEN + offsetof(struct iphdr, daddr))

/* Offset of the L4 checksum in the frame, 0 when the protocol has none we keep (SCTP's CRC32c covers no addresses). */
static __always_inline __u32 l4_csum_off(const struct pkt *p)
{
	if (p->proto == IPPROTO_TCP)
		return p->l4_off + offsetof(struct tcphdr, check);
	if (p->proto == IPPROTO_UDP)
		return p->l4_off + offsetof(struct udphdr, check);
	return 0;
}

/*
 * rewrite_addr replaces the IPv4 address at `addr_off` with `to`, fixing
 * the IP checksum and the L4 pseudo-header checksum. A UDP checksum of 0
 * (none) stays 0. Returns 0 or a negative reason.
 */
static __always_inline int rewrite_addr(struct __sk_buff *skb, const struct pkt *p, __u32 addr_off, __u32 from, __u32 to)
{
	__u32 csum_off = l4_csum_off(p);
	__u64 l4_flags = BPF_F_PSEUDO_HDR | sizeof(to) | (p->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0);
	if (csum_off && bpf_l4_csum_replace(skb, csum_off, from, to, l4_flags) < 0)
		return -REASON_DROP_INVALID;
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, from, to, sizeof(to)) < 0)
		return -REASON_DROP_INVALID;
	if (bpf_skb_store_bytes(skb, addr_off, &to, sizeof(to), 0) < 0)
		return -REASON_DROP_INVALID;
	return 0;
}

/* rewrite_port replaces the L4 port at `port_off` (relative to the L4 header) with `to`. */
static __always_inline int rewrite_port(struct __sk_buff *skb, const struct pkt *p, __u32 port_off, __u16 from, __u16 to)
{
	if (from == to)
		return 0;
	if (p->proto == IPPROTO_SCTP)
		return -REASON_DROP_UNKNOWN_L4;
	__u32 csum_off = l4_csum_off(p);
	__u64 l4_flags = sizeof(to) | (p->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0);
	if (csum_off && bpf_l4_csum_replace(skb, csum_off, from, to, l4_flags) < 0)
		return -REASON_DROP_INVALID;
	if (bpf_skb_store_bytes(skb, p->l4_off + port_off, &to, sizeof(to), 0) < 0)
		return -REASON_DROP_INVALID;
	return 0;
}

/* A well-mixed hash of the 5-tuple (murmur3's finalizer over each word): the Maglev key of a connection. */
static __always_inline __u32 lb_mix(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

static __always_inline __u32 lb_tuple_hash(const struct pkt *p)
{
	__u32 h = lb_mix(p->saddr ^ 0x9e3779b9);
	h = lb_mix(h ^ p->daddr);
	h = lb_mix(h ^ (((__u32)p->sport << 16) | p->dport));
	return lb_mix(h ^ p->proto);
}

/* lb_select picks one of the frontend's active backends for a new connection. Returns 0 or a negative reason. */
static __always_inline int lb_select(const struct pkt *p, const struct lb_service_key *key, const struct lb_service *svc,
				     __u32 *backend_id)
{
	if (svc->count == 0)
		return -REASON_DROP_NO_SERVICE;
	if (svc->algorithm == LB_ALG_MAGLEV) {
		__u32 id = svc->rev_nat_id;
		struct lb_maglev_table *t = bpf_map_lookup_elem(&lb_maglev, &id);
		if (!t)
			return -REASON_DROP_NO_SERVICE;
		__u32 idx = lb_tuple_hash(p) % LB_MAGLEV_SIZE;
		/* Keeps the bound check the verifier needs (the compiler knows it cannot fail). */
		asm volatile("" : "+r"(idx));
		if (idx >= LB_MAGLEV_SIZE)
			return -REASON_DROP_NO_SERVICE;
		*backend_id = t->backend_ids[idx];
		return 0;
	}
	struct lb_service_key slot_key = *key;
	slot_key.slot = (bpf_get_prandom_u32() % svc->count) + 1;
	struct lb_service *slot = bpf_map_lookup_elem(&lb_services, &slot_key);
	if (!slot)
		return -REASON_DROP_NO_SERVICE;
	*backend_id = slot->backend_id;
	return 0;
}

/*
 * lb_pick chooses the backend of a new connection: the client's affinity
 * backend when fresh and still active, else lb_select(). Returns the
 * backend or NULL (no active backend).
 */
static __always_inline struct lb_backend *lb_pick(const struct pkt *p, const struct lb_service_key *key,
						  const struct lb_service *svc, __u64 now, __u32 *backend_id)
{
	struct lb_affinity_key akey = { .client_ip = p->saddr, .rev_nat_id = svc->rev_nat_id };
	struct lb_backend *be;
	int affinity = svc->flags & LB_SVC_F_AFFINITY;
	if (affinity) {
		struct lb_affinity *a = bpf_map_lookup_elem(&lb_affinity, &akey);
		if (a && now - a->last_used_ns <= (__u64)svc->affinity_timeout * NSEC) {
			__u32 id = a->backend_id;
			be = bpf_map_lookup_elem(&lb_backends, &id);
			if (be && be->flags == LB_BACKEND_ACTIVE) {
				a->last_used_ns = now;
				*backend_id = id;
				return be;
			}
		}
	}
	if (lb_select(p, key, svc, backend_id) < 0)
		return NULL;
	be = bpf_map_lookup_elem(&lb_backends, backend_id);
	if (be && affinity) {
		struct lb_affinity a = { .last_used_ns = now, .backend_id = *backend_id };
		bpf_map_update_elem(&lb_affinity, &akey, &a, BPF_ANY);
	}
	return be;
}

/* A new service or NodePort conntrack entry for the first packet `p` of a connection to frontend `rev_nat_id`. */
static __always_inline struct ct_entry lb_ct_entry(const struct pkt *p, __u16 rev_nat_id, __u32 backend_id, __u64 now)
{
	struct ct_entry e = {
		.packets_fwd = 1,
		.bytes_fwd = p->len,
		.tcp_flags_fwd = p->tcp_flags,
		.rev_nat_id = rev_nat_id,
		.backend_id = backend_id,
	};
	if (p->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))
		e.flags |= CT_F_CLOSING;
	e.expires_ns = now + ct_lifetime(&e, p);
	return e;
}

/*
 * lb_service_backend finds the backend of the packet's service connection:
 * the one its service entry remembers while that backend exists, else a
 * newly picked one (recorded). Returns the backend, or NULL with *reason set.
 */
static __always_inline struct lb_backend *lb_service_backend(const struct pkt *p, const struct lb_service_key *key,
							     const struct lb_service *svc, __u64 now, int *reason)
{
	struct ct_key ckey = {
		.saddr = p->saddr, .daddr = p->daddr,
		.sport = p->sport, .dport = p->dport,
		.proto = p->proto, .dir = CT_DIR_SERVICE,
	};
	struct lb_backend *be;
	__u32 backend_id = 0;
	struct ct_entry *e = bpf_map_lookup_elem(&conntrack, &ckey);
	if (e) {
		int syn_only = (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
		if (e->expires_ns < now || (syn_only && (e->flags & CT_F_CLOSING))) {
			bpf_map_delete_elem(&conntrack, &ckey);
			e = NULL;
		}
	}
	if (e) {
		backend_id = e->backend_id;
		be = bpf_map_lookup_elem(&lb_backends, &backend_id);
		if (!be) {
			/* Its backend is gone: the connection moves to a new one. */
			be = lb_pick(p, key, svc, now, &backend_id);
			if (!be) {
				*reason = REASON_DROP_NO_SERVICE;
				return NULL;
			}
			e->backend_id = backend_id;
		}
		/*
		 * The service entry sees only the client's packets: a TCP packet
		 * without SYN means the client has had the SYN-ACK, so the
		 * connection keeps its backend for the established lifetime, not
		 * the handshake's.
		 */
		if (p->proto == IPPROTO_TCP && !(p->tcp_flags & TCP_FLAG_SYN))
			e->flags |= CT_F_SEEN_REPLY;
		ct_refresh(e, p, 0, now);
		return be;
	}

	be = lb_pick(p, key, svc, now, &backend_id);
	if (!be) {
		*reason = REASON_DROP_NO_SERVICE;
		return NULL;
	}
	struct ct_entry ne = lb_ct_entry(p, svc->rev_nat_id, backend_id, now);
	if (bpf_map_update_elem(&conntrack, &ckey, &ne, BPF_ANY) < 0) {
		*reason = REASON_DROP_CT_CREATE_FAILED;
		return NULL;
	}
	return be;
}

/*
 * lb_translate: when the packet is for a service frontend, finds its
 * backend and DNATs the packet (and `p`) to it, filling `x`. Returns 0 when
 * translated or not for a frontend (x->nat.rev_nat_id stays 0), or a
 * negative reason, with x->nat.rev_nat_id naming the frontend.
 */
static __always_inline int lb_translate(struct __sk_buff *skb, struct pkt *p, __u64 now, struct lb_xlate *x)
{
	if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP && p->proto != IPPROTO_SCTP)
		return 0;
	struct lb_service_key key = { .vip = p->daddr, .dport = p->dport, .proto = p->proto };
	struct lb_service *svc = bpf_map_lookup_elem(&lb_services, &key);
	if (!svc)
		return 0;
	x->nat.rev_nat_id = svc->rev_nat_id;
	x->orig_daddr = p->daddr;
	x->orig_dport = p->dport;

	int reason = 0;
	struct lb_backend *be = lb_service_backend(p, &key, svc, now, &reason);
	if (!be)
		return -reason;
	__u32 to_ip = be->ip;
	__u16 to_port = be->port;

	int ret;
	if (to_ip == p->saddr) {
		/* Hairpin: the pod would drop a packet from its own address. */
		ret = rewrite_addr(skb, p, IP_SADDR_OFF, p->saddr, bpf_htonl(LB_LOOPBACK_IP));
		if (ret < 0)
			return ret;
		p->saddr = bpf_htonl(LB_LOOPBACK_IP);
		x->nat.loopback = 1;
	}
	ret = rewrite_addr(skb, p, IP_DADDR_OFF, p->daddr, to_ip);
	if (ret < 0)
		return ret;
	p->daddr = to_ip;
	ret = rewrite_port(skb, p, offsetof(struct udphdr, dest), p->dport, to_port);
	if (ret < 0)
		return ret;
	p->dport = to_port;
	return 0;
}

/* The frontend a translated connection's replies and errors come from; NULL when it was deleted meanwhile. */
static __always_inline const struct lb_rev_nat *lb_frontend_of(const struct ct_nat *nat)
{
	__u16 id = nat->rev_nat_id;
	return bpf_map_lookup_elem(&lb_rev_nat, &id);
}

/*
 * lb_reverse_nat rewrites a reply of a service connection to come from the
 * frontend (VIP:port); a hairpin reply also goes back to the client's own
 * address. A frontend deleted meanwhile leaves the reply as it is (the
 * client's stack refuses it). Returns 0 or a negative reason.
 */
static __always_inline int lb_reverse_nat(struct __sk_buff *skb, struct pkt *p, const struct ct_nat *nat)
{
	const struct lb_rev_nat *rn = lb_frontend_of(nat);
	if (!rn)
		return 0;
	__u32 vip = rn->vip;
	__u16 port = rn->port;
	int ret;
	if (nat->loopback) {
		ret = rewrite_addr(skb, p, IP_DADDR_OFF, p->daddr, p->saddr);
		if (ret < 0)
			return ret;
		p->daddr = p->saddr;
	}
	ret = rewrite_addr(skb, p, IP_SADDR_OFF, p->saddr, vip);
	if (ret < 0)
		return ret;
	p->saddr = vip;
	ret = rewrite_port(skb, p, offsetof(struct udphdr, source), p->sport, port);
	if (ret < 0)
		return ret;
	p->sport = port;
	return 0;
}

/*
 * lb_icmp_rev_nat rewrites an ICMP error (dest unreachable, time exceeded,
 * parameter problem) about a packet of service connection `nat` so that its
 * client recognises it, as Cilium does: the outer source becomes the VIP
 * and the quoted packet's destination VIP:port again, as the client sent
 * it; for a hairpin connection the outer destination and the quoted source
 * also go back from LB_LOOPBACK_IP to the client. Checksums: the outer IP
 * checksum is fixed (ICMP has no pseudo-header, so the outer addresses do
 * not reach the ICMP checksum); the quoted IP header's own checksum is
 * fixed with each address, which leaves that header's sum, and so the ICMP
 * checksum, unchanged; the quoted port change is folded into the ICMP
 * checksum. The quoted L4 checksum is left as it was: it covers a datagram
 * the quote truncates, so no receiver can check it (the kernel matches an
 * error to its socket by the quoted addresses and ports only), and keeping
 * it untouched keeps the ICMP checksum right without a second fold.
 * A frontend deleted meanwhile leaves the error as it is.
 * Returns 0 or a negative reason.
 */
/* Rewrites an address of the IP header an ICMP error quotes, with that header's own checksum (the ICMP checksum's sum stays the same). */
static __always_inline int rewrite_quoted_addr(struct __sk_buff *skb, __u32 inner, __u32 addr_off, __u32 from, __u32 to)
{
	if (bpf_l3_csum_replace(skb, inner + offsetof(struct iphdr, check), from, to, sizeof(to)) < 0 ||
	    bpf_skb_store_bytes(skb, inner + addr_off, &to, sizeof(to), 0) < 0)
		return -REASON_DROP_INVALID;
	return 0;
}

/*
 * Rewrites a port of the L4 header an ICMP error quotes (`port_off` within
 * the UDP/TCP header); the ICMP checksum covers it, the quoted L4 checksum
 * is left as sent (see lb_icmp_rev_nat).
 */
static __always_inline int rewrite_quoted_port(struct __sk_buff *skb, const struct pkt *p, __u32 inner, __u32 port_off, __u16 from, __u16 to)
{
	if (from == to)
		return 0;
	if (bpf_l4_csum_replace(skb, p->l4_off + offsetof(struct icmp_hdr, checksum), from, to, sizeof(to)) < 0 ||
	    bpf_skb_store_bytes(skb, inner + sizeof(struct iphdr) + port_off, &to, sizeof(to), 0) < 0)
		return -REASON_DROP_INVALID;
	return 0;
}

/*
 * Rewrites one side of an ICMP error to `addr`:`port`: the outer address at
 * `outer_off` (its IP checksum; an ICMP packet has no L4 checksum
 * rewrite_addr() would touch) and the same peer in the quoted packet (its
 * address at `quoted_addr_off` of the quoted IP header, its port at
 * `quoted_port_off` of the quoted L4 header), keeping `p` in step.
 */
static __always_inline int rewrite_icmp_peer(struct __sk_buff *skb, struct pkt *p, __u32 outer_off, __u32 *outer,
					     __u32 quoted_addr_off, __u32 *quoted_addr, __u32 quoted_port_off, __u16 *quoted_port,
					     __u32 addr, __u16 port)
{
	__u32 inner = p->l4_off + sizeof(struct icmp_hdr);
	int ret = rewrite_addr(skb, p, outer_off, *outer, addr);
	if (ret < 0)
		return ret;
	*outer = addr;
	ret = rewrite_quoted_addr(skb, inner, quoted_addr_off, *quoted_addr, addr);
	if (ret < 0)
		return ret;
	*quoted_addr = addr;
	ret = rewrite_quoted_port(skb, p, inner, quoted_port_off, *quoted_port, port);
	if (ret < 0)
		return ret;
	*quoted_port = port;
	return 0;
}

static __always_inline int lb_icmp_rev_nat(struct __sk_buff *skb, struct pkt *p, const struct ct_nat *nat)
{
	const struct lb_rev_nat *rn = lb_frontend_of(nat);
	if (!rn)
		return 0;
	__u32 vip = rn->vip;
	__u16 port = rn->port;
	__u32 inner = p->l4_off + sizeof(struct icmp_hdr);
	int ret;
	if (nat->loopback) {
		__u32 client = p->inner_daddr; /* a hairpin's backend is its client */
		ret = rewrite_addr(skb, p, IP_DADDR_OFF, p->daddr, client);
		if (ret < 0)
			return ret;
		p->daddr = client;
		ret = rewrite_quoted_addr(skb, inner, offsetof(struct iphdr, saddr), p->inner_saddr, client);
		if (ret < 0)
			return ret;
		p->inner_saddr = client;
	}
	/* The error comes from the frontend, about the packet the client sent to it. */
	return rewrite_icmp_peer(skb, p, IP_SADDR_OFF, &p->saddr, offsetof(struct iphdr, daddr), &p->inner_daddr,
				 offsetof(struct udphdr, dest), &p->inner_dport, vip, port);
}

/*
 * NodePort from outside the node (host.bpf.c). The node's device DNATs a
 * connection to a frontend on a node address with lb_translate(), then
 * records it by its translated tuple (CT_DIR_NODEPORT) with the frontend's
 * id: the backend's to_container names the service from it
 * (lb_nodeport_xlate), and the device's egress finds there which frontend
 * a reply, or an ICMP error about the connection, must come from
 * (lb_nodeport_reply). Returns 0 or a negative reason.
 */
static __always_inline struct ct_key nodeport_key(__u32 saddr, __u32 daddr, __u16 sport, __u16 dport, __u8 proto)
{
	struct ct_key key = {
		.saddr = saddr, .daddr = daddr,
		.sport = sport, .dport = dport,
		.proto = proto, .dir = CT_DIR_NODEPORT,
	};
	return key;
}

static __always_inline int lb_nodeport_track(const struct pkt *p, const struct lb_xlate *x, __u64 now)
{
	struct ct_key key = nodeport_key(p->saddr, p->daddr, p->sport, p->dport, p->proto);
	struct ct_entry *e = bpf_map_lookup_elem(&conntrack, &key);
	if (e && e->rev_nat_id == x->nat.rev_nat_id && e->expires_ns >= now) {
		ct_refresh(e, p, 0, now);
		return 0;
	}
	struct ct_entry ne = lb_ct_entry(p, x->nat.rev_nat_id, 0, now);
	if (bpf_map_update_elem(&conntrack, &key, &ne, BPF_ANY) < 0)
		return -REASON_DROP_CT_CREATE_FAILED;
	return 0;
}

/*
 * lb_nodeport_xlate fills `x` for a packet of a NodePort connection from
 * outside, already translated by the node's device: the frontend's id and
 * address, with nat.nodeport set (the device rewrites the replies). Leaves
 * `x` alone for every other packet.
 */
static __always_inline void lb_nodeport_xlate(const struct pkt *p, struct lb_xlate *x)
{
	if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP && p->proto != IPPROTO_SCTP)
		return;
	struct ct_key key = nodeport_key(p->saddr, p->daddr, p->sport, p->dport, p->proto);
	struct ct_entry *e = bpf_map_lookup_elem(&conntrack, &key);
	if (!e)
		return;
	__u16 id = e->rev_nat_id;
	struct lb_rev_nat *rn = bpf_map_lookup_elem(&lb_rev_nat, &id);
	if (!rn)
		return;
	x->nat.rev_nat_id = id;
	x->nat.nodeport = 1;
	x->orig_daddr = rn->vip;
	x->orig_dport = rn->port;
}

/*
 * lb_nodeport_reply tells whether a packet leaving through the node's
 * device is a reply of a NodePort connection from outside, or an ICMP error
 * about one (whose quote is the translated packet the client sent), filling
 * `nat` with the frontend it must come from. Accounts a reply on the entry.
 */
static __always_inline int lb_nodeport_reply(const struct pkt *p, __u64 now, struct ct_nat *nat)
{
	struct ct_key key;
	if (p->icmp_related) {
		key = nodeport_key(p->inner_saddr, p->inner_daddr, p->inner_sport, p->inner_dport, p->inner_proto);
	} else {
		if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP && p->proto != IPPROTO_SCTP)
			return 0;
		key = nodeport_key(p->daddr, p->saddr, p->dport, p->sport, p->proto);
	}
	struct ct_entry *e = bpf_map_lookup_elem(&conntrack, &key);
	if (!e || e->expires_ns < now)
		return 0;
	if (!p->icmp_related)
		ct_refresh(e, p, 1, now);
	nat->rev_nat_id = e->rev_nat_id;
	return 1;
}

/*
 * lb_nodeport_icmp_in hands an ICMP error arriving from outside about a
 * NodePort connection (a router on the client's path quoting a reply that
 * left as nodeIP:nodePort, such as fragmentation needed) to the
 * connection's backend: the outer destination and the quoted source become
 * the backend's address, the quoted source port its port, so the backend's
 * stack learns about its own packet (path MTU discovery for NodePort
 * replies). Returns 1 when rewritten, 0 when the error is about no NodePort
 * connection, or a negative reason.
 */
static __always_inline int lb_nodeport_icmp_in(struct __sk_buff *skb, struct pkt *p, __u64 now)
{
	/* The quoted packet is a reply: the client's service entry has the tuple the other way round. */
	struct ct_key key = {
		.saddr = p->inner_daddr, .daddr = p->inner_saddr,
		.sport = p->inner_dport, .dport = p->inner_sport,
		.proto = p->inner_proto, .dir = CT_DIR_SERVICE,
	};
	struct ct_entry *e = bpf_map_lookup_elem(&conntrack, &key);
	if (!e || e->expires_ns < now || p->daddr != p->inner_saddr)
		return 0;
	__u32 id = e->backend_id;
	struct lb_backend *be = bpf_map_lookup_elem(&lb_backends, &id);
	if (!be)
		return 0;
	__u32 ip = be->ip;
	__u16 port = be->port;
	/* The error goes to the backend, about the reply it sent. */
	int ret = rewrite_icmp_peer(skb, p, IP_DADDR_OFF, &p->daddr, offsetof(struct iphdr, saddr), &p->inner_saddr,
				    offsetof(struct udphdr, source), &p->inner_sport, ip, port);
	return ret < 0 ? ret : 1;
}

#endif
