/* membrane datapath: common includes, return codes and small helpers. */
#ifndef MEMBRANE_COMMON_H
#define MEMBRANE_COMMON_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "layout.h"

/* Drop reasons from the one table (reasons.def): enum REASON_<name>. */
#define REASON(code, name, desc, hubble) REASON_##name = code,
enum membrane_reason {
#include "reasons.def"
};
#undef REASON

/* ICMP header (linux/icmp.h drags in libc headers). */
struct icmp_hdr {
	__u8 type;
	__u8 code;
	__u16 checksum;
	__u16 id;
	__u16 sequence;
};
#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#endif
