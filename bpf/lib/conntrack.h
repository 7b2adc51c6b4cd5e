/*
 * membrane datapath: connection tracking. One LRU map holds every tracked
 * connection keyed by its original-direction tuple plus the side of the
 * local endpoint that saw it open (DIR_EGRESS: the endpoint opened it;
 * DIR_INGRESS: it was opened towards the endpoint). Replies of allowed
 * connections match the reversed tuple and pass without a policy lookup.
 */
#ifndef MEMBRANE_CONNTRACK_H
#define MEMBRANE_CONNTRACK_H

#include "common.h"
#include "maps.h"
#include "parse.h"
#include "trace.h"

#define NSEC 1000000000ULL
#define CT_LIFETIME_TCP (21600ULL * NSEC)   /* established TCP: 6h */
#define CT_LIFETIME_SYN (60ULL * NSEC)      /* TCP before a reply: 1m */
#define CT_LIFETIME_CLOSE (10ULL * NSEC)    /* after FIN or RST: 10s */
#define CT_LIFETIME_NONTCP (60ULL * NSEC)   /* UDP, ICMP, other: 1m */
#define CT_REFRESH_SLACK (1ULL * NSEC)      /* skip rewriting the deadline for less */

/* What a connection's entry says about service translation. */
struct ct_nat {
	__u16 rev_nat_id; /* replies come from this frontend; 0 = not a service connection */
	__u8 loopback;    /* hairpin: the client's source was rewritten to LB_LOOPBACK_IP */
	__u8 nodeport;    /* translated at the node's device (NodePort from outside), which also rewrites the replies */
};

/* The service translation a connection's entry remembers, for its replies and the ICMP errors about it. */
static __always_inline void ct_nat_of(const struct ct_entry *e, struct ct_nat *nat)
{
	nat->rev_nat_id = e->rev_nat_id;
	nat->loopback = !!(e->flags & CT_F_LB_LOOPBACK);
	nat->nodeport = !!(e->flags & CT_F_NODEPORT);
}

enum ct_status {
	CT_NEW = 0,
	CT_ESTABLISHED = 1, /* packet in the connection's original direction */
	CT_REPLY = 2,       /* packet in the reply direction */
};

static __always_inline __u8 ct_other_dir(__u8 dir)
{
	return dir == DIR_EGRESS ? DIR_INGRESS : DIR_EGRESS;
}

/* Whether a packet of this protocol is tracked at all (ICMP errors are not, yet). */
static __always_inline int ct_trackable(const struct pkt *p)
{
	return p->proto != IPPROTO_ICMP || p->icmp_echo;
}

static __always_inline __u64 ct_lifetime(const struct ct_entry *e, const struct pkt *p)
{
	if (p->proto != IPPROTO_TCP)
		return CT_LIFETIME_NONTCP;
	if (e->flags & CT_F_CLOSING)
		return CT_LIFETIME_CLOSE;
	if (e->flags & CT_F_SEEN_REPLY)
		return CT_LIFETIME_TCP;
	return CT_LIFETIME_SYN;
}

/*
 * ct_trace_due tells whether a packet of a known connection is reported as
 * a trace event (TRACE_LEVEL_* in layout.h), before ct_refresh accounts it:
 * at MEDIUM and MAXIMUM, the first packet of the reply direction and a
 * packet bringing a TCP flag of `t->flags` its direction has not seen yet;
 * at MEDIUM also one packet per interval. Marks the direction reported.
 */
static __always_inline int ct_trace_due(struct ct_entry *e, const struct pkt *p, int reply, const struct trace_cfg *t, __u64 now)
{
	if (t->level < TRACE_LEVEL_MEDIUM)
		return 1;
	__u8 seen = reply ? e->tcp_flags_rev : e->tcp_flags_fwd;
	__u16 clock = trace_clock_s(now);
	__u16 last = reply ? e->traced_rev_s : e->traced_fwd_s;
	int due = (reply && !(e->flags & CT_F_SEEN_REPLY)) || (p->tcp_flags & t->flags & ~seen) ||
		  (t->level == TRACE_LEVEL_MEDIUM && (__u16)(clock - last) >= t->interval_s);
	if (due) {
		if (reply)
			e->traced_rev_s = clock;
		else
			e->traced_fwd_s = clock;
	}
	return due;
}

/* ct_refresh accounts a packet on an entry and pushes its deadline out. */
static __always_inline void ct_refresh(struct ct_entry *e, const struct pkt *p, int reply, __u64 now)
{
	if (reply) {
		__sync_fetch_and_add(&e->packets_rev, 1);
		__sync_fetch_and_add(&e->bytes_rev, p->len);
		if ((e->tcp_flags_rev | p->tcp_flags) != e->tcp_flags_rev)
			e->tcp_flags_rev |= p->tcp_flags;
		if (!(e->flags & CT_F_SEEN_REPLY))
			e->flags |= CT_F_SEEN_REPLY;
	} else {
		__sync_fetch_and_add(&e->packets_fwd, 1);
		__sync_fetch_and_add(&e->bytes_fwd, p->len);
		if ((e->tcp_flags_fwd | p->tcp_flags) != e->tcp_flags_fwd)
			e->tcp_flags_fwd |= p->tcp_flags;
	}
	if ((p->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST)) && !(e->flags & CT_F_CLOSING))
		e->flags |= CT_F_CLOSING;
	__u64 deadline = now + ct_lifetime(e, p);
	if (deadline > e->expires_ns + CT_REFRESH_SLACK || (e->flags & CT_F_CLOSING && deadline < e->expires_ns))
		e->expires_ns = deadline;
}

/*
 * ct_lookup classifies a packet seen on the local endpoint's side `dir`
 * (DIR_EGRESS in from-container, DIR_INGRESS in to-container): part of a
 * connection the endpoint's side opened, a reply to one the other side
 * opened, or new. A TCP SYN on a closing entry starts a new connection.
 * For a reply, `reply_nat` receives the connection's service translation.
 * `*trace_due` says whether the packet of a known connection is to be
 * reported as a trace event (ct_trace_due); `*flags` receives a known
 * connection's CT_F_* flags.
 */
static __always_inline enum ct_status ct_lookup(const struct pkt *p, __u8 dir, __u64 now, struct ct_nat *reply_nat,
						const struct trace_cfg *t, __u8 *trace_due, __u8 *flags)
{
	struct ct_key key = {
		.saddr = p->saddr, .daddr = p->daddr,
		.sport = p->sport, .dport = p->dport,
		.proto = p->proto, .dir = dir,
	};
	struct ct_entry *e = bpf_map_lookup_elem(&conntrack, &key);
	if (e) {
		int syn_only = (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
		if (e->expires_ns < now || (syn_only && (e->flags & CT_F_CLOSING))) {
			bpf_map_delete_elem(&conntrack, &key);
		} else {
			*trace_due = ct_trace_due(e, p, 0, t, now);
			ct_refresh(e, p, 0, now);
			*flags = e->flags;
			return CT_ESTABLISHED;
		}
	}

	struct ct_key rkey = {
		.saddr = p->daddr, .daddr = p->saddr,
		.sport = p->dport, .dport = p->sport,
		.proto = p->proto, .dir = ct_other_dir(dir),
	};
	e = bpf_map_lookup_elem(&conntrack, &rkey);
	if (e) {
		if (e->expires_ns < now) {
			bpf_map_delete_elem(&conntrack, &rkey);
			return CT_NEW;
		}
		*trace_due = ct_trace_due(e, p, 1, t, now);
		ct_refresh(e, p, 1, now);
		*flags = e->flags;
		ct_nat_of(e, reply_nat);
		return CT_REPLY;
	}
	return CT_NEW;
}

/*
 * ct_related tells whether an ICMP error is about a tracked connection of
 * the local endpoint `ep_id` on side `dir`. The quoted packet travelled the
 * other way: an error delivered to the endpoint quotes a packet it sent.
 * The entry must be that endpoint's own, and an error delivered to it must
 * come from the connection's peer or from something that is no local pod
 * (a router, the node): a pod may not pass off errors about other pods'
 * connections as related, past policy. When the quoted packet went in its
 * connection's original direction, `nat` receives that connection's service
 * translation (an error about a service connection is rewritten like a
 * reply: lb_icmp_rev_nat).
 */
static __always_inline int ct_related(const struct pkt *p, __u8 dir, __u16 ep_id, __u64 now, struct ct_nat *nat)
{
	if (dir == DIR_INGRESS && p->saddr != p->inner_daddr) {
		__u32 sender = p->saddr;
		if (bpf_map_lookup_elem(&endpoints, &sender))
			return 0;
	}
	__u8 inner_dir = ct_other_dir(dir);
	struct ct_key key = {
		.saddr = p->inner_saddr, .daddr = p->inner_daddr,
		.sport = p->inner_sport, .dport = p->inner_dport,
		.proto = p->inner_proto, .dir = inner_dir,
	};
	struct ct_entry *e = bpf_map_lookup_elem(&conntrack, &key);
	if (e && e->ep_id == ep_id && e->expires_ns >= now) {
		ct_nat_of(e, nat);
		return 1;
	}
	struct ct_key rkey = {
		.saddr = p->inner_daddr, .daddr = p->inner_saddr,
		.sport = p->inner_dport, .dport = p->inner_sport,
		.proto = p->inner_proto, .dir = ct_other_dir(inner_dir),
	};
	e = bpf_map_lookup_elem(&conntrack, &rkey);
	return e && e->ep_id == ep_id && e->expires_ns >= now;
}

/*
 * ct_create records a new connection allowed by `cookie`, with its service
 * translation (`nat`) when it was opened towards a frontend and the CT_F_*
 * `flags` it starts with. Returns 0 or a negative reason.
 */
static __always_inline int ct_create(const struct pkt *p, __u8 dir, __u16 ep_id, __u32 peer_identity,
				     __u32 cookie, const struct ct_nat *nat, __u8 flags, __u64 now)
{
	struct ct_key key = {
		.saddr = p->saddr, .daddr = p->daddr,
		.sport = p->sport, .dport = p->dport,
		.proto = p->proto, .dir = dir,
	};
	struct ct_entry e = {
		.packets_fwd = 1,
		.bytes_fwd = p->len,
		.peer_identity = peer_identity,
		.cookie = cookie,
		.ep_id = ep_id,
		.tcp_flags_fwd = p->tcp_flags,
		.rev_nat_id = nat->rev_nat_id,
		.traced_fwd_s = trace_clock_s(now), /* a new connection is always reported */
	};
	e.flags = flags;
	if (nat->loopback)
		e.flags |= CT_F_LB_LOOPBACK;
	if (nat->nodeport)
		e.flags |= CT_F_NODEPORT;
	if (p->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))
		e.flags |= CT_F_CLOSING;
	e.expires_ns = now + ct_lifetime(&e, p);
	if (bpf_map_update_elem(&conntrack, &key, &e, BPF_ANY) < 0)
		return -REASON_DROP_CT_CREATE_FAILED;
	return 0;
}

/* ct_add_flags adds CT_F_* `flags` to the entry of a known connection (original direction, side `dir`). */
static __always_inline void ct_add_flags(const struct pkt *p, __u8 dir, __u8 flags)
{
	struct ct_key key = {
		.saddr = p->saddr, .daddr = p->daddr,
		.sport = p->sport, .dport = p->dport,
		.proto = p->proto, .dir = dir,
	};
	struct ct_entry *e = bpf_map_lookup_elem(&conntrack, &key);
	if (e && (e->flags & flags) != flags)
		e->flags |= flags;
}

#endif
