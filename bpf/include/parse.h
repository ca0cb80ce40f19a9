/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * parse.h reads Ethernet, IPv4/IPv6 and TCP/UDP headers (hdr.h) into
 * struct lvs_pkt.
 */
#ifndef LVS_PARSE_H
#define LVS_PARSE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "lvs_abi.h"
#include "hdr.h"

/* Where a packet stands in fragmentation (struct lvs_pkt.frag). */
enum {
	LVS_FRAG_NONE = 0,
	LVS_FRAG_FIRST = 1, /* offset 0, more to come: carries the L4 header */
	LVS_FRAG_LATER = 2, /* offset > 0: no L4 header */
};

/* struct lvs_pkt is what the rest of the program knows about a packet. */
struct lvs_pkt {
	struct lvs_tuple t;
	__u32 l4_off;     /* from the start of the frame: L4 header, or a later fragment's data */
	__u32 ip_len;     /* IP packet length, host order: the byte counters */
	__be32 frag_id;   /* fragment id (IPv4's 16 bits in the first two bytes) */
	__u16 l3_len;     /* l4_off - LVS_ETH_HLEN: the IP header with IPv6 extension headers */
	__u8 tcp_flags;
	__u8 ttl;         /* TTL or hop limit */
	__u8 frag;        /* LVS_FRAG_* */
	__u8 df;          /* may not be fragmented on the way: IPv4 DF, always for IPv6 */
	__u8 tos;         /* IPv4 TOS or IPv6 traffic class, copied to a tunnel's outer header */
	__u8 l4_hlen;     /* TCP or UDP header length (0 for a later fragment) */
};

/* Verdicts of lvs_parse besides 0 (parsed). */
enum {
	LVS_PARSE_OK = 0,
	LVS_PARSE_NOT_IP = 1,
	LVS_PARSE_MALFORMED = 3,
	LVS_PARSE_NOT_L4 = 4,
	LVS_PARSE_ICMP = 5, /* an ICMP or ICMPv6 error message: icmp.h */
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

/* lvs_icmp_error tells ICMP error messages, which quote a packet, from
 * the rest (echo, ...), which golvs leaves to the kernel. */
static __always_inline int lvs_icmp_error(__u8 family, __u8 type)
{
	/* ip_vs_in_icmp / ip_vs_out_icmp: unreachable, source quench, time
	 * exceeded (not parameter problem). */
	if (family == LVS_AF_INET)
		return type == 3 || type == 4 || type == 11;
	return type >= 1 && type <= 4; /* unreachable, too big, time exceeded, parameter problem */
}

/*
 * lvs_parse_l4 reads the TCP or UDP header at p->l4_off (tot: the IP
 * packet's length, l3: its header's) into p, or notes an ICMP error.
 */
static __always_inline int lvs_parse_l4(struct __sk_buff *skb, struct lvs_pkt *p, __u8 proto, __u32 tot,
					 __u32 l3)
{
	void *data, *end;

	p->t.proto = proto;
	if (p->frag == LVS_FRAG_LATER)
		return proto == LVS_IPPROTO_TCP || proto == LVS_IPPROTO_UDP ? LVS_PARSE_OK : LVS_PARSE_NOT_L4;
	if (proto == LVS_IPPROTO_TCP) {
		struct lvs_tcphdr *th;
		__u32 doff;

		if (tot < l3 + sizeof(*th))
			return LVS_PARSE_MALFORMED;
		if (lvs_linear(skb, p->l4_off + sizeof(*th)))
			return LVS_PARSE_MALFORMED;
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
		th = data + (p->l4_off & 0xff);
		if ((void *)(th + 1) > end)
			return LVS_PARSE_MALFORMED;
		doff = (th->doff >> 4) * 4;
		if (doff < sizeof(*th) || l3 + doff > tot)
			return LVS_PARSE_MALFORMED;
		p->l4_hlen = doff;
		p->t.sport = th->source;
		p->t.dport = th->dest;
		p->tcp_flags = th->flags;
		return LVS_PARSE_OK;
	}
	if (proto == LVS_IPPROTO_UDP) {
		struct lvs_udphdr *uh;

		if (tot < l3 + sizeof(*uh))
			return LVS_PARSE_MALFORMED;
		if (lvs_linear(skb, p->l4_off + sizeof(*uh)))
			return LVS_PARSE_MALFORMED;
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
		uh = data + (p->l4_off & 0xff);
		if ((void *)(uh + 1) > end)
			return LVS_PARSE_MALFORMED;
		p->t.sport = uh->source;
		p->t.dport = uh->dest;
		p->l4_hlen = sizeof(*uh);
		return LVS_PARSE_OK;
	}
	if ((proto == LVS_IPPROTO_ICMP && p->t.family == LVS_AF_INET) ||
	    (proto == LVS_IPPROTO_ICMPV6 && p->t.family == LVS_AF_INET6)) {
		struct lvs_icmphdr ic;

		/* An ICMP error comes whole: its quote is what matters. */
		if (p->frag != LVS_FRAG_NONE || tot < l3 + sizeof(ic))
			return LVS_PARSE_NOT_L4;
		if (bpf_skb_load_bytes(skb, p->l4_off, &ic, sizeof(ic)))
			return LVS_PARSE_MALFORMED;
		return lvs_icmp_error(p->t.family, ic.type) ? LVS_PARSE_ICMP : LVS_PARSE_NOT_L4;
	}
	return LVS_PARSE_NOT_L4;
}

/*
 * lvs_parse4 fills p from an IPv4 frame. Lengths are checked as
 * ip_rcv_core and the TCP/UDP receive paths would check them, so that a
 * packet the kernel would drop is handed to the kernel
 * (LVS_PARSE_MALFORMED) rather than forwarded: ihl >= 5,
 * ihl*4 <= tot_len <= the bytes after the Ethernet header, room for the
 * TCP or UDP header within tot_len, and a TCP data offset of at least 5
 * words that fits as well.
 */
static __always_inline int lvs_parse4(struct __sk_buff *skb, struct lvs_pkt *p)
{
	struct lvs_iphdr *ip;
	void *data, *end;
	__u32 ihl, tot, l3_len;
	__u16 frag;

	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	ip = data + LVS_ETH_HLEN;
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

	__builtin_memset(p, 0, sizeof(*p));
	p->t.family = LVS_AF_INET;
	p->t.saddr.v4 = ip->saddr;
	p->t.daddr.v4 = ip->daddr;
	p->ttl = ip->ttl;
	p->tos = ip->tos;
	/* What IPVS counts: skb->len at L3 once ip_rcv_core has trimmed the
	 * padding, i.e. tot_len, or the skb's length for BIG TCP. */
	p->ip_len = tot;
	p->l3_len = ihl;
	p->l4_off = LVS_ETH_HLEN + ihl;
	frag = bpf_ntohs(ip->frag_off);
	p->df = !!(frag & LVS_IP_DF);
	if (frag & (LVS_IP_MF | LVS_IP_OFFMASK)) {
		p->frag = frag & LVS_IP_OFFMASK ? LVS_FRAG_LATER : LVS_FRAG_FIRST;
		p->frag_id = ip->id;
	}
	return lvs_parse_l4(skb, p, ip->protocol, tot, ihl);
}

/*
 * lvs_parse6 fills p from an IPv6 frame, walking up to LVS_IP6_EXT_MAX
 * extension headers (hop-by-hop, routing, destination options, fragment)
 * to the upper-layer header. Jumbograms are left to the kernel.
 */
static __always_inline int lvs_parse6(struct __sk_buff *skb, struct lvs_pkt *p)
{
	struct lvs_ipv6hdr *ip;
	void *data, *end;
	__u32 tot, l3, l3_len;
	__u8 nh;

	if (lvs_linear(skb, LVS_ETH_HLEN + sizeof(*ip)))
		return LVS_PARSE_MALFORMED;
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	ip = data + LVS_ETH_HLEN;
	if ((void *)(ip + 1) > end)
		return LVS_PARSE_MALFORMED;
	if ((bpf_ntohl(ip->ver_tc_flow) >> 28) != 6)
		return LVS_PARSE_MALFORMED;
	l3_len = skb->len - LVS_ETH_HLEN;
	tot = sizeof(*ip) + bpf_ntohs(ip->payload_len);
	if (tot == sizeof(*ip)) {
		/* BIG TCP over IPv6 carries payload_len 0 as well (and a
		 * hop-by-hop jumbo option that GRO strips). */
		if (!skb->gso_size)
			return LVS_PARSE_NOT_L4; /* a jumbogram, or nothing */
		tot = l3_len;
	}
	if (tot > l3_len)
		return LVS_PARSE_MALFORMED;

	__builtin_memset(p, 0, sizeof(*p));
	p->t.family = LVS_AF_INET6;
	p->t.saddr = ip->saddr;
	p->t.daddr = ip->daddr;
	p->ttl = ip->hop_limit;
	p->tos = (bpf_ntohl(ip->ver_tc_flow) >> 20) & 0xff;
	p->df = 1;
	p->ip_len = tot;
	nh = ip->nexthdr;
	l3 = sizeof(*ip);

#pragma unroll
	for (int i = 0; i < LVS_IP6_EXT_MAX; i++) {
		struct lvs_ip6_ext ext;

		if (nh != LVS_IPPROTO_HOPOPTS && nh != LVS_IPPROTO_ROUTING && nh != LVS_IPPROTO_DSTOPTS &&
		    nh != LVS_IPPROTO_FRAGMENT)
			break;
		if (l3 + 8 > tot)
			return LVS_PARSE_MALFORMED;
		if (bpf_skb_load_bytes(skb, LVS_ETH_HLEN + l3, &ext, sizeof(ext)))
			return LVS_PARSE_MALFORMED;
		if (nh == LVS_IPPROTO_FRAGMENT) {
			__u16 fo = bpf_ntohs(ext.frag_off);

			if (p->frag != LVS_FRAG_NONE)
				return LVS_PARSE_MALFORMED; /* two fragment headers */
			/* An atomic fragment (offset 0, no M) is a whole packet. */
			if (fo & (LVS_IP6_OFFMASK | LVS_IP6_MF)) {
				p->frag = fo & LVS_IP6_OFFMASK ? LVS_FRAG_LATER : LVS_FRAG_FIRST;
				p->frag_id = ext.id;
			}
			l3 += 8;
		} else {
			l3 += (ext.hdrlen + 1) * 8;
		}
		nh = ext.nexthdr;
		if (p->frag == LVS_FRAG_LATER)
			break;
	}
	if (l3 > 255 - LVS_ETH_HLEN || l3 > tot)
		return LVS_PARSE_NOT_L4; /* too many or too long extension headers */
	p->l3_len = l3;
	p->l4_off = LVS_ETH_HLEN + l3;
	return lvs_parse_l4(skb, p, nh, tot, l3);
}

/* lvs_parse fills p from the frame. */
static __always_inline int lvs_parse(struct __sk_buff *skb, struct lvs_pkt *p)
{
	struct lvs_ethhdr *eth;
	void *data, *end;

	if (lvs_linear(skb, LVS_ETH_HLEN + sizeof(struct lvs_iphdr)))
		return LVS_PARSE_NOT_IP; /* runt frame: not ours either way */
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	eth = data;
	if ((void *)(eth + 1) > end)
		return LVS_PARSE_MALFORMED;
	if (eth->proto == bpf_htons(LVS_ETH_P_IP))
		return lvs_parse4(skb, p);
	if (eth->proto == bpf_htons(LVS_ETH_P_IPV6))
		return lvs_parse6(skb, p);
	return LVS_PARSE_NOT_IP;
}

#endif /* LVS_PARSE_H */
