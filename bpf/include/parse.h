/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * parse.h reads Ethernet, IPv4 and TCP/UDP headers into struct lvs_pkt.
 * Header layouts are declared here rather than taken from <linux/ip.h>,
 * which drags in arch headers that a BPF build does not have.
 */
#ifndef LVS_PARSE_H
#define LVS_PARSE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "lvs_abi.h"

#define LVS_ETH_HLEN 14
#define LVS_ETH_P_IP 0x0800
#define LVS_IPPROTO_TCP 6
#define LVS_IPPROTO_UDP 17
#define LVS_IP_MF 0x2000
#define LVS_IP_OFFMASK 0x1fff

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

/* struct lvs_pkt is what the rest of the program knows about a packet. */
struct lvs_pkt {
	struct lvs_tuple t;
	__u32 l4_off;     /* from the start of the frame */
	__u32 ip_len;     /* IP packet length, host order: the byte counters */
	__u8 tcp_flags;
	__u8 ttl;
	__u8 pad[2];
};

/* Verdicts of lvs_parse besides 0 (parsed). */
enum {
	LVS_PARSE_OK = 0,
	LVS_PARSE_NOT_IP = 1,
	LVS_PARSE_FRAGMENT = 2,
	LVS_PARSE_MALFORMED = 3,
	LVS_PARSE_NOT_L4 = 4,
};

/*
 * lvs_linear makes sure the first len bytes of the frame are in the linear
 * area so direct packet access can reach them; GRO'ed or odd drivers' skbs
 * can carry headers in fragments.
 */
static __always_inline int lvs_linear(struct __sk_buff *skb, __u32 len)
{
	if ((void *)(long)skb->data + len <= (void *)(long)skb->data_end)
		return 0;
	if (skb->len < len)
		return -1;
	if (bpf_skb_pull_data(skb, len))
		return -1;
	if ((void *)(long)skb->data + len > (void *)(long)skb->data_end)
		return -1;
	return 0;
}

/*
 * lvs_parse fills p from the frame. Lengths are checked as ip_rcv_core
 * and the TCP/UDP receive paths would check them, so that a packet the
 * kernel would drop is handed to the kernel (LVS_PARSE_MALFORMED) rather
 * than forwarded: ihl >= 5, ihl*4 <= tot_len <= the bytes after the
 * Ethernet header, room for the TCP or UDP header within tot_len, and a
 * TCP data offset of at least 5 words that fits as well.
 */
static __always_inline int lvs_parse(struct __sk_buff *skb, struct lvs_pkt *p)
{
	struct lvs_ethhdr *eth;
	struct lvs_iphdr *ip;
	void *data, *end;
	__u32 ihl, tot, l3_len;

	if (lvs_linear(skb, LVS_ETH_HLEN + sizeof(*ip)))
		return LVS_PARSE_NOT_IP; /* runt frame: not ours either way */
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	eth = data;
	if ((void *)(eth + 1) > end)
		return LVS_PARSE_MALFORMED;
	if (eth->proto != bpf_htons(LVS_ETH_P_IP))
		return LVS_PARSE_NOT_IP;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end)
		return LVS_PARSE_MALFORMED;
	if ((ip->ver_ihl >> 4) != 4)
		return LVS_PARSE_MALFORMED;
	ihl = (ip->ver_ihl & 0x0f) * 4;
	if (ihl < sizeof(*ip))
		return LVS_PARSE_MALFORMED;
	l3_len = skb->len - LVS_ETH_HLEN; /* lvs_linear made sure skb->len covers the header */
	tot = bpf_ntohs(ip->tot_len);
	if (tot == 0) {
		/* BIG TCP: a GRO aggregate over 64 KiB carries tot_len 0 and
		 * its length in the skb (iph_totlen); anything else with 0
		 * is broken. */
		if (!skb->gso_size)
			return LVS_PARSE_MALFORMED;
		tot = l3_len;
	}
	/* tot < l3_len is Ethernet padding, which ip_rcv_core trims. */
	if (tot > l3_len || tot < ihl)
		return LVS_PARSE_MALFORMED;
	/* IPVS reassembles; golvs hands every fragment to the kernel, whose
	 * local stack then owns it (a gap for fragmented UDP services). */
	if (ip->frag_off & bpf_htons(LVS_IP_MF | LVS_IP_OFFMASK))
		return LVS_PARSE_FRAGMENT;
	if (ip->protocol != LVS_IPPROTO_TCP && ip->protocol != LVS_IPPROTO_UDP)
		return LVS_PARSE_NOT_L4;

	__builtin_memset(p, 0, sizeof(*p));
	p->t.family = LVS_AF_INET;
	p->t.proto = ip->protocol;
	p->t.saddr.v4 = ip->saddr;
	p->t.daddr.v4 = ip->daddr;
	p->ttl = ip->ttl;
	/* What IPVS counts: skb->len at L3 once ip_rcv_core has trimmed the
	 * padding, i.e. tot_len, or the skb's length for BIG TCP. */
	p->ip_len = tot;
	p->l4_off = LVS_ETH_HLEN + ihl;

	if (p->t.proto == LVS_IPPROTO_TCP) {
		struct lvs_tcphdr *th;
		__u32 doff;

		if (tot < ihl + sizeof(*th))
			return LVS_PARSE_MALFORMED;
		if (lvs_linear(skb, p->l4_off + sizeof(*th)))
			return LVS_PARSE_MALFORMED;
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
		th = data + (p->l4_off & 0x7f);
		if ((void *)(th + 1) > end)
			return LVS_PARSE_MALFORMED;
		doff = (th->doff >> 4) * 4;
		if (doff < sizeof(*th) || ihl + doff > tot)
			return LVS_PARSE_MALFORMED;
		p->t.sport = th->source;
		p->t.dport = th->dest;
		p->tcp_flags = th->flags;
	} else {
		struct lvs_udphdr *uh;

		if (tot < ihl + sizeof(*uh))
			return LVS_PARSE_MALFORMED;
		if (lvs_linear(skb, p->l4_off + sizeof(*uh)))
			return LVS_PARSE_MALFORMED;
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
		uh = data + (p->l4_off & 0x7f);
		if ((void *)(uh + 1) > end)
			return LVS_PARSE_MALFORMED;
		p->t.sport = uh->source;
		p->t.dport = uh->dest;
	}
	return LVS_PARSE_OK;
}

#endif /* LVS_PARSE_H */
