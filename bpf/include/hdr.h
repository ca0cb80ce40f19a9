/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * hdr.h declares the packet headers golvs's programs read and write
 * (Ethernet, IPv4, IPv6, TCP, UDP, ICMP, GRE, GUE) and their protocol
 * numbers and flags, for the data plane and for the real servers'
 * decapsulation (decap.c) alike. Declared here rather than taken from
 * <linux/ip.h>, which drags in arch headers that a BPF build does not
 * have. No maps: a program that includes it gets only types.
 */
#ifndef LVS_HDR_H
#define LVS_HDR_H

#include <linux/types.h>
#include "lvs_abi.h" /* union lvs_addr */

#define LVS_ETH_HLEN 14
#define LVS_ETH_P_IP 0x0800
#define LVS_ETH_P_IPV6 0x86DD
#define LVS_IPPROTO_HOPOPTS 0
#define LVS_IPPROTO_ICMP 1
#define LVS_IPPROTO_IPIP 4
#define LVS_IPPROTO_TCP 6
#define LVS_IPPROTO_UDP 17
#define LVS_IPPROTO_IPV6 41
#define LVS_IPPROTO_ROUTING 43
#define LVS_IPPROTO_FRAGMENT 44
#define LVS_IPPROTO_GRE 47
#define LVS_IPPROTO_ICMPV6 58
#define LVS_IPPROTO_DSTOPTS 60
#define LVS_IP_DF 0x4000
#define LVS_IP_MF 0x2000
#define LVS_IP_OFFMASK 0x1fff
#define LVS_IP6_MF 0x0001
#define LVS_IP6_OFFMASK 0xfff8
#define LVS_IP6_EXT_MAX 4 /* extension headers walked before giving up */

#define LVS_TCP_FIN 0x01
#define LVS_TCP_SYN 0x02
#define LVS_TCP_RST 0x04
#define LVS_TCP_ACK 0x10

struct lvs_ethhdr {
	__u8 dst[6];
	__u8 src[6];
	__be16 proto;
};

struct lvs_iphdr {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__sum16 check;
	__be32 saddr;
	__be32 daddr;
};

struct lvs_ipv6hdr {
	__be32 ver_tc_flow;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	union lvs_addr saddr;
	union lvs_addr daddr;
};

/* struct lvs_ip6_ext is the start every extension header walked here
 * shares (hop-by-hop, routing, destination options, fragment). */
struct lvs_ip6_ext {
	__u8 nexthdr;
	__u8 hdrlen;
	__be16 frag_off; /* fragment header only: offset << 3 | M */
	__be32 id;       /* fragment header only */
};

struct lvs_tcphdr {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u8 doff;
	__u8 flags;
	__be16 window;
	__sum16 check;
	__be16 urg_ptr;
};

struct lvs_udphdr {
	__be16 source;
	__be16 dest;
	__be16 len;
	__sum16 check;
};

struct lvs_icmphdr {
	__u8 type;
	__u8 code;
	__sum16 check;
	__be32 info; /* ICMP frag needed: unused(16) + mtu(16); ICMPv6 too big: mtu */
};

/* GRE (RFC 2784, 2890): flags and version, then the protocol; the
 * checksum, key and sequence number words follow when their flags say. */
#define LVS_GRE_HLEN 4 /* flags/version and protocol */
#define LVS_GRE_CSUM 0x8000
#define LVS_GRE_KEY 0x2000
#define LVS_GRE_SEQ 0x1000

struct lvs_grehdr {
	__be16 flags;
	__be16 proto;
};

/* GUE (draft-ietf-intarea-gue, include/net/gue.h): the first byte holds
 * the version (2 bits), the control bit and hlen (option words). */
#define LVS_GUE_HLEN 4 /* GUE version 0 header without options */
#define LVS_GUE_CONTROL 0x20
#define LVS_GUE_HLEN_MASK 0x1f
#define LVS_GUE_FLAG_PRIV 0x0001          /* flags: private flags word follows */
#define LVS_GUE_PFLAG_REMCSUM 0x80000000U /* private flag: remote checksum */

struct lvs_guehdr {
	__u8 ver_c_hlen;
	__u8 proto_ctype;
	__be16 flags;
};

/* ECN, the low two bits of the IPv4 TOS or IPv6 traffic class. */
#define LVS_ECN_NOT_ECT 0
#define LVS_ECN_CE 3

#endif /* LVS_HDR_H */
