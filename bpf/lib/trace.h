/*
 * membrane datapath: trace events, the forwarded packets reported at an
 * observation point (to-endpoint, to-stack, from-endpoint), thinned out per
 * connection as the agent's trace level says (TRACE_LEVEL_* in layout.h).
 * Conntrack decides which packets of a known connection are due
 * (ct_trace_due); here the events are written.
 */
#ifndef MEMBRANE_TRACE_H
#define MEMBRANE_TRACE_H

#include "common.h"
#include "maps.h"
#include "parse.h"
#include "events.h"

/* The agent's trace settings, or the defaults when it has not written any. */
struct trace_cfg {
	__u32 interval_s;
	__u8 level;
	__u8 flags;
};

static __always_inline void trace_cfg_load(struct trace_cfg *t)
{
	__u32 key = 0;
	const struct datapath_config *c = bpf_map_lookup_elem(&config, &key);
	if (c && c->valid) {
		t->level = c->trace_level;
		t->flags = c->trace_flags;
		t->interval_s = c->trace_interval_s;
		return;
	}
	t->level = TRACE_DEFAULT_LEVEL;
	t->flags = TRACE_DEFAULT_FLAGS;
	t->interval_s = TRACE_DEFAULT_INTERVAL_S;
}

/* The trace clock: seconds of bpf_ktime_get_ns(), modulo 2^16 (ct_entry.traced_*_s). */
static __always_inline __u16 trace_clock_s(__u64 now)
{
	return (__u16)(now / 1000000000ULL);
}

/* What an endpoint's side found out about a forwarded packet, for its trace event. */
struct trace_note {
	__u8 due;    /* the packet is to be reported */
	__u8 reason; /* TRACE_REASON_* */
	__u8 reply;  /* the packet travels in its connection's reply direction */
};

/*
 * emit_trace_at reports a forwarded packet at observation point `obs` of
 * endpoint `ep_id` in connection direction `dir`, when its note says it is
 * due: the one trace event of every observation point (emit_trace, and the
 * proxy's to-proxy in proxy.h).
 */
static __always_inline void emit_trace_at(const struct pkt *p, const struct trace_note *n, __u8 obs, __u8 dir, __u16 ep_id,
					  __u32 ifindex, __u32 src_identity, __u32 dst_identity, __u16 svc_id,
					  __u32 orig_daddr, __u16 orig_dport, __u16 proxy_port, __u64 now)
{
	if (!n->due)
		return;
	struct event_ctx c = {
		.src_identity = src_identity,
		.dst_identity = dst_identity,
		.ifindex = ifindex,
		.ep_id = ep_id,
		.type = EVENT_TRACE,
		.verdict = VERDICT_FORWARDED,
		.reason = n->reason,
		.dir = dir,
		.is_reply = n->reply,
		.obs_point = obs,
		.svc_id = svc_id,
		.orig_daddr = orig_daddr,
		.orig_dport = orig_dport,
		.proxy_port = proxy_port,
	};
	emit_event(p, &c, now);
}

/*
 * emit_trace reports a forwarded packet at observation point `obs` of
 * endpoint `ep_id`, when its note says it is due. The direction is the
 * connection's, seen from that endpoint: a packet it receives belongs to a
 * connection opened towards it (ingress) unless it is a reply.
 */
static __always_inline void emit_trace(const struct pkt *p, const struct trace_note *n, __u8 obs, __u16 ep_id, __u32 ifindex,
				       __u32 src_identity, __u32 dst_identity, __u16 svc_id, __u32 orig_daddr, __u16 orig_dport,
				       __u64 now)
{
	int receives = obs == OBS_TO_ENDPOINT;
	__u8 dir = 0;
	if (obs != OBS_FROM_ENDPOINT)
		dir = (receives != !!n->reply) ? DIR_INGRESS : DIR_EGRESS;
	emit_trace_at(p, n, obs, dir, ep_id, ifindex, src_identity, dst_identity, svc_id, orig_daddr, orig_dport, 0, now);
}

#endif
