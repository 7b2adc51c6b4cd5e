/*
 * membrane datapath layouts: every map key/value and event record shared by
 * the C programs and the agent. This file is the one definition; the agent's
 * codecs (src/datapath/layout.ts) are checked against the compiled object's
 * BTF by a test, so the two can never drift apart.
 */
#ifndef MEMBRANE_LAYOUT_H
#define MEMBRANE_LAYOUT_H

#include <linux/types.h>

/* Directions, as Hubble numbers them (TrafficDirection). */
#define DIR_INGRESS 1
#define DIR_EGRESS 2

/* Reserved identities (subset the datapath itself needs). */
#define ID_UNKNOWN 0
#define ID_HOST 1
#define ID_WORLD 2

/* Event types, as Cilium's monitor numbers them. */
#define EVENT_DROP 1
#define EVENT_TRACE 4
#define EVENT_POLICY_VERDICT 5

/* Verdicts, as Hubble numbers them. */
#define VERDICT_FORWARDED 1
#define VERDICT_DROPPED 2
#define VERDICT_AUDIT 4
#define VERDICT_REDIRECTED 5 /* a new connection handed to the L7 proxy (flow_event.proxy_port) */

/* Trace observation points, as Hubble numbers them. */
#define OBS_TO_PROXY 1
#define OBS_TO_STACK 3
#define OBS_FROM_ENDPOINT 5
#define OBS_TO_ENDPOINT 101

/* Trace reasons of EVENT_TRACE records (in flow_event.reason), as Hubble numbers them. */
#define TRACE_REASON_NEW 1
#define TRACE_REASON_ESTABLISHED 2
#define TRACE_REASON_REPLY 3
#define TRACE_REASON_RELATED 4

/*
 * Trace aggregation levels (datapath_config.trace_level), as Cilium's
 * monitor aggregation: which forwarded packets become trace events.
 *   NONE: every packet, at every observation point (from-endpoint too);
 *   LOW: every packet at the to-* points;
 *   MEDIUM: per connection and direction, its first packet, a packet
 *     bringing a TCP flag (of trace_flags) not seen before in its
 *     direction, and one packet per trace_interval_s otherwise;
 *   MAXIMUM: as MEDIUM without the periodic reports.
 */
#define TRACE_LEVEL_NONE 0
#define TRACE_LEVEL_LOW 1
#define TRACE_LEVEL_MEDIUM 2
#define TRACE_LEVEL_MAXIMUM 3

/* datapath_config: the agent's settings for the programs, one entry of the `config` array. */
struct datapath_config {
	__u8 valid;             /* 0 (a fresh map): the defaults below apply */
	__u8 trace_level;       /* TRACE_LEVEL_* */
	__u8 trace_flags;       /* TCP flags whose first appearance in a direction is reported (MEDIUM, MAXIMUM) */
	__u8 pad;
	__u32 trace_interval_s; /* MEDIUM: a connection direction's periodic report, in seconds (1..65535) */
};
#define TRACE_DEFAULT_LEVEL TRACE_LEVEL_MEDIUM
#define TRACE_DEFAULT_FLAGS 0xff
#define TRACE_DEFAULT_INTERVAL_S 5

/* Policy match types (Hubble policy_match_type). */
#define MATCH_NONE 0
#define MATCH_L3_ONLY 1
#define MATCH_L3_L4 2
#define MATCH_L4_ONLY 3
#define MATCH_ALL 4
#define MATCH_L3_PROTO 5
#define MATCH_PROTO_ONLY 6

/* endpoints: pod IPv4 (network order) -> the local endpoint behind it. */
struct endpoint_info {
	__u32 ifindex;   /* host-side veth */
	__u32 identity;  /* the endpoint's security identity */
	__u16 ep_id;     /* endpoint id, also the policy map's endpoint key */
	__u8 flags;      /* EP_F_* */
	__u8 pad;
	__u8 mac[6];     /* the pod's eth0 */
	__u8 node_mac[6];/* the host-side veth */
};
/* Default deny in this direction comes only from audited policies: report it, do not drop. */
#define EP_F_AUDIT_INGRESS 1
#define EP_F_AUDIT_EGRESS 2
/* The endpoint has audited deny entries (POLICY_KEY_AUDIT): look them up for allowed packets. */
#define EP_F_AUDIT_DENIES 4

/* ipcache: longest-prefix match on an IPv4 address -> security identity. */
struct ipcache_key {
	__u32 prefixlen; /* 0..32 */
	__u32 ip4;       /* network order */
};

struct ipcache_value {
	__u32 identity;
	__u32 tunnel_endpoint; /* network order; 0 = local or direct */
	__u8 flags;
	__u8 pad[3];
};

/*
 * policy: one LPM trie for all local endpoints. The fixed part (peer
 * identity, endpoint, direction) is always fully significant; the last 24
 * bits (protocol, port) carry wildcards and port ranges as prefixes.
 * prefixlen = POLICY_FIXED_BITS + 0..24. Multi-byte fields are big-endian so
 * that LPM prefixes run from the most significant bit.
 */
struct policy_key {
	__u32 prefixlen;
	__u32 identity;  /* network order; 0 = any peer */
	__u16 ep_id;     /* network order */
	__u8 egress;     /* 1 = egress, 0 = ingress */
	__u8 protocol;   /* IPPROTO_*; 0 with prefix 0 = any */
	__u16 dport;     /* network order */
	__u16 pad;       /* beyond the prefix, always 0 */
};
#define POLICY_FIXED_BITS 56
#define POLICY_FULL_BITS (POLICY_FIXED_BITS + 24)

struct policy_entry {
	__u16 proxy_port;  /* network order; 0 = no L7 redirect */
	__u8 flags;        /* POLICY_F_* */
	__u8 prefix_len;   /* significant bits of protocol+port in the key, 0..24 */
	__u32 cookie;      /* id of the rule that produced the entry, for attribution */
};
#define POLICY_F_DENY 1
#define POLICY_F_AUDIT 2 /* a deny of an audited policy: report, do not drop */
/*
 * Bit of policy_key.egress: the key space of audited policies' denies. They
 * are looked up only for packets the enforced entries allow, so an audited
 * deny never shadows an enforced verdict.
 */
#define POLICY_KEY_AUDIT 2

/* conntrack: tuple in the connection's original direction + the endpoint side. */
struct ct_key {
	__u32 saddr;  /* network order */
	__u32 daddr;  /* network order */
	__u16 sport;  /* network order */
	__u16 dport;  /* network order */
	__u8 proto;
	__u8 dir;     /* DIR_EGRESS: opened by the local endpoint; DIR_INGRESS: opened towards it */
	__u16 pad;
};

struct ct_entry {
	__u64 packets_fwd;
	__u64 bytes_fwd;
	__u64 packets_rev;
	__u64 bytes_rev;
	__u64 expires_ns;     /* bpf_ktime_get_ns() deadline */
	__u32 peer_identity;  /* identity of the remote side when created */
	__u32 cookie;         /* rule that allowed the connection */
	__u16 ep_id;
	__u8 tcp_flags_fwd;   /* flags seen in the original direction */
	__u8 tcp_flags_rev;   /* flags seen in the reply direction */
	__u8 flags;           /* CT_F_* */
	__u8 pad;
	__u16 rev_nat_id;     /* service connections: the frontend replies must appear to come from; 0 = none */
	__u32 backend_id;     /* service entries (CT_DIR_SERVICE): the backend the connection stays on */
	__u16 traced_fwd_s;   /* trace aggregation: when a packet of the original direction was last reported, */
	__u16 traced_rev_s;   /* and of the reply direction; seconds of bpf_ktime_get_ns(), modulo 2^16 */
};
#define CT_F_CLOSING 1
#define CT_F_SEEN_REPLY 2
/* Hairpin: the source was rewritten to LB_LOOPBACK_IP (the client is its own backend). */
#define CT_F_LB_LOOPBACK 4
/* L7 proxy (lib/proxy.h): the original direction goes to the proxy (the client's connection). */
#define CT_F_PROXY_REDIRECT 8
/* L7 proxy: the proxy opened the connection (its upstream); replies go back to the proxy's socket. */
#define CT_F_PROXY_UPSTREAM 16
/* NodePort from outside (host.bpf.c): the node's device rewrites the replies, not the endpoint's veth. */
#define CT_F_NODEPORT 32
/*
 * ct_key.dir of a service entry: the client's tuple towards the frontend
 * (VIP:port), which remembers the chosen backend, as Cilium's TUPLE_F_SERVICE.
 */
#define CT_DIR_SERVICE 4
/*
 * ct_key.dir of a NodePort entry (host.bpf.c): a connection from outside
 * the node, by its translated tuple (client to backend), naming the
 * frontend (node address:nodePort) its replies must come from.
 */
#define CT_DIR_NODEPORT 8

/* metrics: per-CPU array indexed by METRICS_INDEX(reason, dir). */
struct metrics_value {
	__u64 packets;
	__u64 bytes;
};
#define METRICS_INDEX(reason, dir) ((((__u32)(reason)) << 2) | ((dir) & 3))
#define METRICS_MAX 1024

/* internal counters: per-CPU array. */
#define COUNTER_EVENTS_LOST 0
#define COUNTER_MAX 4

/*
 * flow_event: one record in the events ring buffer for every new
 * connection's verdict and every drop. Established packets are counted in
 * conntrack, not evented.
 */
struct flow_event {
	__u64 ts_ns;         /* bpf_ktime_get_ns() */
	__u32 saddr;         /* network order */
	__u32 daddr;         /* network order */
	__u16 sport;         /* network order */
	__u16 dport;         /* network order */
	__u32 src_identity;
	__u32 dst_identity;
	__u32 cookie;        /* rule that decided, 0 = none (default deny) */
	__u32 ifindex;
	__u32 len;           /* packet length */
	__u16 ep_id;         /* the local endpoint whose policy decided */
	__u8 proto;
	__u8 type;           /* EVENT_* */
	__u8 verdict;        /* VERDICT_* */
	__u8 reason;         /* REASON code (0 = forwarded) */
	__u8 dir;            /* DIR_* */
	__u8 tcp_flags;
	__u8 is_reply;
	__u8 match_type;     /* MATCH_* */
	__u8 obs_point;      /* OBS_* */
	__u8 icmp_type;
	__u32 orig_daddr;    /* service connections: the frontend address before DNAT (network order); 0 = none */
	__u16 orig_dport;    /* network order */
	__u16 svc_id;        /* the service's reverse-NAT id; 0 = none */
	__u16 proxy_port;    /* network order: the L7 proxy's port (REDIRECTED verdicts, to-proxy traces, proxy drops); 0 = none */
	__u16 pad;
};

/*
 * Load balancing (services), as Cilium's lb4 maps. A frontend (VIP, port,
 * protocol) has a master entry at slot 0 and its backends at slots
 * 1..total: the `count` active ones first (the only ones new connections
 * pick), then the terminating ones (kept so the agent can read them back).
 */
struct lb_service_key {
	__u32 vip;       /* network order */
	__u16 dport;     /* network order */
	__u16 slot;      /* 0 = master */
	__u8 proto;
	__u8 pad[3];
};

struct lb_service {
	__u32 backend_id;       /* slot > 0 */
	__u32 affinity_timeout; /* master: session affinity timeout in seconds */
	__u16 count;            /* master: active backends, in slots 1..count */
	__u16 total;            /* master: all backends, in slots 1..total */
	__u16 rev_nat_id;       /* master: the frontend's id (lb_rev_nat key) */
	__u8 flags;             /* master: LB_SVC_F_* */
	__u8 algorithm;         /* master: LB_ALG_* */
};
#define LB_SVC_F_AFFINITY 16 /* as Cilium's SVC_FLAG_AFFINITY */
#define LB_ALG_RANDOM 0
#define LB_ALG_MAGLEV 1

/* lb_backends: backend id -> address. */
struct lb_backend {
	__u32 ip;        /* network order */
	__u16 port;      /* network order */
	__u8 proto;
	__u8 flags;      /* LB_BACKEND_* */
};
#define LB_BACKEND_ACTIVE 0
#define LB_BACKEND_TERMINATING 1

/* lb_rev_nat: the frontend's id (__u16) -> the address replies must come from. */
struct lb_rev_nat {
	__u32 vip;       /* network order */
	__u16 port;      /* network order */
	__u16 pad;
};

/* lb_affinity: session affinity, (client, frontend) -> the backend it was given. */
struct lb_affinity_key {
	__u32 client_ip; /* network order */
	__u16 rev_nat_id;
	__u16 pad;
};

struct lb_affinity {
	__u64 last_used_ns; /* bpf_ktime_get_ns() of the last new connection */
	__u32 backend_id;
	__u32 pad;
};

/*
 * lb_maglev: the frontend's id (__u32) -> its Maglev lookup table, computed
 * by the agent. One map value per frontend, so a table is replaced whole.
 */
#define LB_MAGLEV_SIZE 1021
struct lb_maglev_table {
	__u32 backend_ids[LB_MAGLEV_SIZE];
};

/*
 * The source address of hairpin connections (a pod reaching itself through
 * a service), as Cilium's IPV4_LOOPBACK: 169.254.42.1, host order.
 */
#define LB_LOOPBACK_IP 0xa9fe2a01

/*
 * Packet marks of the L7 proxy path (skb->mark), in the 0x0f00 nibble as
 * Cilium's magic marks. TO_PROXY: set by the datapath on a packet it hands
 * to the proxy; the node's `ip rule fwmark 0x200/0xf00 lookup 2004` and
 * `local 0.0.0.0/0 dev lo table 2004` deliver it locally, to the socket
 * bpf_sk_assign picked or its tuple finds. Its upper 16 bits carry the
 * proxy port (host order) when to_container hairpins a packet into
 * from_container. FROM_PROXY: the proxy's SO_MARK on its upstream sockets;
 * such packets are never redirected again.
 */
#define MARK_MAGIC_MASK 0x0f00
#define MARK_MAGIC_TO_PROXY 0x0200
#define MARK_MAGIC_FROM_PROXY 0x0a00
/*
 * NODEPORT: set by the node device's from_netdev on a packet it translated
 * to a NodePort backend, so that the backend's to_container looks for the
 * connection's NodePort record only for such packets, not for every one.
 */
#define MARK_MAGIC_NODEPORT 0x0500
#define PROXY_ROUTE_TABLE 2004

#endif
