/* membrane datapath: flow events (ring buffer) and per-reason counters. */
#ifndef MEMBRANE_EVENTS_H
#define MEMBRANE_EVENTS_H

#include "common.h"
#include "maps.h"
#include "parse.h"

static __always_inline void count_packet(__u8 reason, __u8 dir, __u32 len)
{
	__u32 idx = METRICS_INDEX(reason, dir);
	struct metrics_value *m = bpf_map_lookup_elem(&metrics, &idx);
	if (m) {
		m->packets += 1; /* per-CPU: no atomics needed */
		m->bytes += len;
	}
}

static __always_inline void count_lost_event(void)
{
	__u32 idx = COUNTER_EVENTS_LOST;
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);
	if (c)
		*c += 1;
}

struct event_ctx {
	__u32 src_identity;
	__u32 dst_identity;
	__u32 cookie;
	__u32 ifindex;
	__u16 ep_id;
	__u8 type;
	__u8 verdict;
	__u8 reason;
	__u8 dir;
	__u8 is_reply;
	__u8 match_type;
	__u8 obs_point;
	__u16 svc_id;      /* service connections: the frontend's id; 0 = none */
	__u16 orig_dport;  /* network order */
	__u32 orig_daddr;  /* the frontend address before DNAT; network order */
	__u16 proxy_port;  /* the L7 proxy's port; network order; 0 = none */
};

/*
 * Readers are woken only once this much is pending; below it they find the
 * events on their next timed poll. One wake-up per event would cost more
 * than the event itself under a connection storm.
 */
#define EVENTS_WAKEUP_BYTES (64 * 1024)

/* emit_event writes one flow event; a full ring buffer is counted, never blocks. */
static __always_inline void emit_event(const struct pkt *p, const struct event_ctx *c, __u64 now)
{
	struct flow_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count_lost_event();
		return;
	}
	ev->ts_ns = now;
	ev->saddr = p->saddr;
	ev->daddr = p->daddr;
	ev->sport = p->sport;
	ev->dport = p->dport;
	ev->src_identity = c->src_identity;
	ev->dst_identity = c->dst_identity;
	ev->cookie = c->cookie;
	ev->ifindex = c->ifindex;
	ev->len = p->len;
	ev->ep_id = c->ep_id;
	ev->proto = p->proto;
	ev->type = c->type;
	ev->verdict = c->verdict;
	ev->reason = c->reason;
	ev->dir = c->dir;
	ev->tcp_flags = p->tcp_flags;
	ev->is_reply = c->is_reply;
	ev->match_type = c->match_type;
	ev->obs_point = c->obs_point;
	ev->icmp_type = p->icmp_type;
	ev->orig_daddr = c->orig_daddr;
	ev->orig_dport = c->orig_dport;
	ev->svc_id = c->svc_id;
	ev->proxy_port = c->proxy_port;
	ev->pad = 0;
	__u64 pending = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	bpf_ringbuf_submit(ev, pending >= EVENTS_WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

#endif
