/*
 * membrane datapath: policy lookup. Precedence, in this order (the agent's
 * resolver, src/policy/mapstate.ts, implements the same rules and relies on
 * them):
 *  1. Look up the exact peer identity (LPM over protocol and port). A deny
 *     entry there is final: DROP_POLICY_DENY.
 *  2. Look up identity 0 (any peer). Its entry wins if it is a deny, if
 *     step 1 found nothing, or if its protocol/port prefix is longer.
 *  3. Otherwise step 1's entry decides; with neither: DROP_POLICY.
 */
#ifndef MEMBRANE_POLICY_H
#define MEMBRANE_POLICY_H

#include "common.h"
#include "maps.h"

struct policy_verdict {
	__u32 cookie;
	__u16 proxy_port;
	__u8 match_type;
	__u8 audit; /* the deciding deny belongs to an audited policy */
};

static __always_inline __u8 policy_match_type(const struct policy_entry *e, int l3)
{
	if (e->prefix_len == 0)
		return l3 ? MATCH_L3_ONLY : MATCH_ALL;
	if (e->prefix_len <= 8)
		return l3 ? MATCH_L3_PROTO : MATCH_PROTO_ONLY;
	return l3 ? MATCH_L3_L4 : MATCH_L4_ONLY;
}

/*
 * policy_can_access decides whether endpoint `ep_id` may talk to (egress) or
 * hear from (ingress) a peer of `identity` on protocol/port. Returns 0 when
 * allowed or a negative reason; fills `v` either way.
 */
static __always_inline int policy_can_access(__u16 ep_id, __u8 egress, __u32 identity, __u8 proto,
					     __u16 dport_be, struct policy_verdict *v)
{
	struct policy_key key = {
		.prefixlen = POLICY_FULL_BITS,
		.identity = bpf_htonl(identity),
		.ep_id = bpf_htons(ep_id),
		.egress = egress,
		.protocol = proto,
		.dport = dport_be,
	};
	struct policy_entry *l3 = NULL, *l4, *win;

	v->cookie = 0;
	v->proxy_port = 0;
	v->match_type = MATCH_NONE;
	v->audit = 0;

	if (identity != 0) {
		l3 = bpf_map_lookup_elem(&policy, &key);
		if (l3 && (l3->flags & POLICY_F_DENY)) {
			v->cookie = l3->cookie;
			v->match_type = policy_match_type(l3, 1);
			return -REASON_DROP_POLICY_DENY;
		}
	}
	key.identity = 0;
	l4 = bpf_map_lookup_elem(&policy, &key);
	if (l4 && ((l4->flags & POLICY_F_DENY) || !l3 || l4->prefix_len > l3->prefix_len))
		win = l4;
	else
		win = l3;
	if (!win)
		return -REASON_DROP_POLICY;

	v->cookie = win->cookie;
	v->match_type = policy_match_type(win, win == l3);
	if (win->flags & POLICY_F_DENY)
		return -REASON_DROP_POLICY_DENY;
	v->proxy_port = win->proxy_port;
	return 0;
}

/*
 * policy_audit_denied tells whether an audited policy would deny what the
 * enforced entries allow (exact peer first, then any peer); fills `v` with
 * that deny (v->audit set) when it would.
 */
static __always_inline int policy_audit_denied(__u16 ep_id, __u8 egress, __u32 identity, __u8 proto,
					       __u16 dport_be, struct policy_verdict *v)
{
	struct policy_key key = {
		.prefixlen = POLICY_FULL_BITS,
		.identity = bpf_htonl(identity),
		.ep_id = bpf_htons(ep_id),
		.egress = egress | POLICY_KEY_AUDIT,
		.protocol = proto,
		.dport = dport_be,
	};
	struct policy_entry *e = identity ? bpf_map_lookup_elem(&policy, &key) : NULL;
	int l3 = e != NULL;
	if (!e) {
		key.identity = 0;
		e = bpf_map_lookup_elem(&policy, &key);
	}
	if (!e)
		return 0;
	v->cookie = e->cookie;
	v->match_type = policy_match_type(e, l3);
	v->audit = 1;
	return 1;
}

#endif
