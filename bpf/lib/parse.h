/* membrane datapath: IPv4 packet parsing into a flat 5-tuple. */
#ifndef MEMBRANE_PARSE_H
#define MEMBRANE_PARSE_H

#include "common.h"

struct pkt {
	__u32 saddr;     /* network order */
	__u32 daddr;     /* network order */
	__u16 sport;     /* network order; ICMP echo: identifier */
	__u16 dport;     /* network order; ICMP: see icmp_ports() */
	__u8 proto;
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 icmp_echo;  /* 1 = echo request, 2 = echo reply, 0 = other ICMP */
	__u32 len;
	__u16 l4_off;    /* offset of the L4 header in the frame */
	/* ICMP errors: the tuple of the packet the error is about (icmp_related = 1). */
	__u8 icmp_related;
	__u8 inner_proto;
	__u16 inner_sport;
	__u16 inner_dport;
	__u32 inner_saddr;
	__u32 inner_daddr;
};

#define ICMP_DEST_UNREACH 3
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12

/* parse_icmp_inner reads the IPv4 header and ports quoted by an ICMP error. */
static __always_inline void parse_icmp_inner(void *inner, void *data_end, struct pkt *p)
{
	struct iphdr *ip = inner;
	if ((void *)(ip + 1) > data_end || ip->ihl != 5)
		return;
	__u16 *ports = (void *)(ip + 1);
	if ((void *)(ports + 2) > data_end)
		return;
	p->icmp_related = 1;
	p->inner_proto = ip->protocol;
	p->inner_saddr = ip->saddr;
	p->inner_daddr = ip->daddr;
	p->inner_sport = ports[0];
	p->inner_dport = ports[1];
}

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_PSH 0x08
#define TCP_FLAG_ACK 0x10

/*
 * parse_ipv4 fills `p` from an Ethernet/IPv4 frame. Returns 0 on success,
 * 1 for frames the datapath passes untouched (ARP), or a negative reason.
 * ICMP echo requests carry the identifier as sport and 0 as dport; echo
 * replies the reverse, so a reply's reversed tuple is its request's tuple.
 */
static __always_inline int parse_ipv4(struct __sk_buff *skb, struct pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return -REASON_DROP_INVALID;
	if (eth->h_proto == bpf_htons(ETH_P_ARP))
		return 1;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return -REASON_DROP_UNKNOWN_L3;

	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return -REASON_DROP_INVALID;
	if (ip->ihl < 5)
		return -REASON_DROP_INVALID;
	/* Fragments carry no L4 header past the first one; not supported yet. */
	if (ip->frag_off & bpf_htons(0x3fff))
		return -REASON_DROP_FRAG_NOSUPPORT;

	p->saddr = ip->saddr;
	p->daddr = ip->daddr;
	p->proto = ip->protocol;
	p->len = skb->len;
	p->sport = 0;
	p->dport = 0;
	p->tcp_flags = 0;
	p->icmp_type = 0;
	p->icmp_echo = 0;
	p->icmp_related = 0;

	void *l4 = (void *)ip + ip->ihl * 4;
	p->l4_off = sizeof(*eth) + ip->ihl * 4;
	switch (ip->protocol) {
	case IPPROTO_TCP: {
		struct tcphdr *tcp = l4;
		if ((void *)(tcp + 1) > data_end)
			return -REASON_DROP_CT_INVALID_HDR;
		p->sport = tcp->source;
		p->dport = tcp->dest;
		p->tcp_flags = ((__u8 *)tcp)[13];
		break;
	}
	case IPPROTO_UDP:
	case IPPROTO_SCTP: {
		/* SCTP's common header starts with the two ports, like UDP. */
		struct udphdr *udp = l4;
		if ((void *)(udp + 1) > data_end)
			return -REASON_DROP_CT_INVALID_HDR;
		p->sport = udp->source;
		p->dport = udp->dest;
		break;
	}
	case IPPROTO_ICMP: {
		struct icmp_hdr *icmp = l4;
		if ((void *)(icmp + 1) > data_end)
			return -REASON_DROP_CT_INVALID_HDR;
		p->icmp_type = icmp->type;
		if (icmp->type == ICMP_ECHO) {
			p->icmp_echo = 1;
			p->sport = icmp->id;
		} else if (icmp->type == ICMP_ECHOREPLY) {
			p->icmp_echo = 2;
			p->dport = icmp->id;
		} else if (icmp->type == ICMP_DEST_UNREACH || icmp->type == ICMP_TIME_EXCEEDED ||
			   icmp->type == ICMP_PARAMETERPROB) {
			parse_icmp_inner((void *)(icmp + 1), data_end, p);
		}
		break;
	}
	default:
		break;
	}
	return 0;
}

#endif
