/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * icmp.h is IPVS's ICMP handling (ip_vs_in_icmp, ip_vs_out_icmp,
 * ip_vs_nat_icmp in ip_vs_core.c) and its "fragmentation needed" answers
 * (ensure_mtu_is_adequate in ip_vs_xmit.c):
 *
 *  - an ICMP error from the client's side about a connection (it quotes
 *    a VIP -> client packet) goes to the connection's real, with the
 *    destination and the quoted source translated for NAT;
 *  - an ICMP error from the real's side about a NAT connection (it quotes
 *    a client -> real packet) goes to the client with the source and the
 *    quoted destination translated back to the VIP;
 *  - an ICMP error from a router between the director and a TUN real,
 *    about one of golvs's tunnel packets, becomes the same message to the
 *    client, quoting the client's own packet ("fragmentation needed" /
 *    "packet too big" with the MTU less the tunnel's overhead);
 *  - golvs answers a packet too big for the path itself (lvs_too_big).
 *
 * Messages golvs makes quote the IP header and at least 8 bytes of L4,
 * which every stack needs to find the socket. Everything else ICMP (echo to the VIP
 * included) is the kernel's.
 */
#ifndef LVS_ICMP_H
#define LVS_ICMP_H

#include "maps.h"
#include "parse.h"
#include "conn.h"
#include "xmit.h"

#define LVS_ICMP_DEST_UNREACH 3
#define LVS_ICMP_FRAG_NEEDED 4
#define LVS_ICMPV6_PKT_TOOBIG 2
#define LVS_IPV4_MIN_MTU 68
#define LVS_IPV6_MIN_MTU 1280
/* bpf_skb_adjust_room's DECAP flags (Linux 6.3), which the build's UAPI
 * headers may predate. */
#define LVS_F_ADJ_ROOM_DECAP_L3_IPV4 (1ULL << 7)
#define LVS_F_ADJ_ROOM_DECAP_L3_IPV6 (1ULL << 8)

/* struct lvs_quote is the packet an ICMP error quotes. */
struct lvs_quote {
	struct lvs_tuple t;
	__u32 off;  /* frame offset of its IP header */
	__u32 l3;   /* its IP header length */
	__u32 in;   /* lvs_icmp_nat: toward the real */
	__u16 df;   /* IPv4: the quoted packet had DF */
	__u16 pad;
};

/* lvs_quote_parse reads the IP header and ports of the packet quoted at
 * frame offset off (IPv6: without extension headers). */
static __always_inline int lvs_quote_parse(struct __sk_buff *skb, __u8 family, __u32 off, struct lvs_quote *q)
{
	__builtin_memset(q, 0, sizeof(*q));
	q->off = off;
	q->t.family = family;
	if (family == LVS_AF_INET) {
		struct lvs_iphdr ip;

		if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)))
			return -1;
		if ((ip.ver_ihl >> 4) != 4 || (ip.ver_ihl & 0xf) < 5)
			return -1;
		if (ip.frag_off & bpf_htons(LVS_IP_OFFMASK))
			return -1; /* a later fragment: no ports to match */
		q->l3 = (ip.ver_ihl & 0xf) * 4;
		q->df = !!(ip.frag_off & bpf_htons(LVS_IP_DF));
		q->t.proto = ip.protocol;
		q->t.saddr.v4 = ip.saddr;
		q->t.daddr.v4 = ip.daddr;
	} else {
		struct lvs_ipv6hdr ip;

		if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)))
			return -1;
		if ((bpf_ntohl(ip.ver_tc_flow) >> 28) != 6)
			return -1;
		q->l3 = sizeof(ip);
		q->t.proto = ip.nexthdr;
		q->t.saddr = ip.saddr;
		q->t.daddr = ip.daddr;
	}
	if (q->t.proto == LVS_IPPROTO_TCP || q->t.proto == LVS_IPPROTO_UDP) {
		__be16 ports[2];

		if (bpf_skb_load_bytes(skb, off + q->l3, ports, sizeof(ports)))
			return -1;
		q->t.sport = ports[0];
		q->t.dport = ports[1];
	}
	return 0;
}

/*
 * lvs_icmp_finish completes an ICMP error golvs writes: at the start of
 * the IP packet an IP header from src to dst and an ICMP header (type,
 * code, info), in front of the qlen bytes of quote already in place, with
 * both checksums. The message is summed from a copy (lvs_icmp_scratch),
 * which keeps the verifier's view of the lengths simple.
 */
static __always_inline int lvs_icmp_finish(struct __sk_buff *skb, __u8 family, const union lvs_addr *src,
					   const union lvs_addr *dst, __u8 type, __u8 code, __be32 info,
					   __u32 qlen)
{
	__u32 zero = 0, l3 = family == LVS_AF_INET6 ? sizeof(struct lvs_ipv6hdr) : sizeof(struct lvs_iphdr);
	struct lvs_icmp_buf *buf = bpf_map_lookup_elem(&lvs_icmp_scratch, &zero);
	struct lvs_icmphdr *ic;
	__s64 s;

	if (!buf || qlen == 0 || qlen > LVS_ICMP_QUOTE_MAX)
		return -1;
	__builtin_memset(buf, 0, sizeof(*buf));
	ic = (void *)buf->b;
	ic->type = type;
	ic->code = code;
	ic->info = info;
	if (bpf_skb_load_bytes(skb, LVS_ETH_HLEN + l3 + 8, buf->b + 8, qlen))
		return -1;
	s = bpf_csum_diff(0, 0, (__be32 *)buf->b, (8 + qlen + 3) & ~3u, 0);
	if (family == LVS_AF_INET6) {
		struct lvs_ipv6hdr h = {};
		__be32 ph[2] = {bpf_htonl(8 + qlen), bpf_htonl(LVS_IPPROTO_ICMPV6)};

		h.ver_tc_flow = bpf_htonl(6 << 28);
		h.payload_len = bpf_htons(8 + qlen);
		h.nexthdr = LVS_IPPROTO_ICMPV6;
		h.hop_limit = 255;
		h.saddr = *src;
		h.daddr = *dst;
		if (bpf_skb_store_bytes(skb, LVS_ETH_HLEN, &h, sizeof(h), 0))
			return -1;
		s = bpf_csum_diff(0, 0, (__be32 *)src, 16, s);
		s = bpf_csum_diff(0, 0, (__be32 *)dst, 16, s);
		s = bpf_csum_diff(0, 0, ph, sizeof(ph), s);
	} else {
		struct lvs_iphdr h = {};

		h.ver_ihl = 0x45;
		h.tos = 0xc0; /* icmp_send: IPTOS_PREC_INTERNETCONTROL */
		h.tot_len = bpf_htons(sizeof(h) + 8 + qlen);
		h.ttl = 64;
		h.protocol = LVS_IPPROTO_ICMP;
		h.saddr = src->v4;
		h.daddr = dst->v4;
		h.check = lvs_ip4_csum(&h);
		if (bpf_skb_store_bytes(skb, LVS_ETH_HLEN, &h, sizeof(h), 0))
			return -1;
	}
	if (s < 0)
		return -1;
	ic->check = lvs_csum_finish(s);
	return bpf_skb_store_bytes(skb, LVS_ETH_HLEN + l3, ic, sizeof(*ic), 0) ? -1 : 0;
}

/* lvs_too_big_info is the ICMP info field announcing mtu. */
static __always_inline __be32 lvs_too_big_info(__u8 family, __u32 mtu)
{
	if (family == LVS_AF_INET6)
		return bpf_htonl(mtu < LVS_IPV6_MIN_MTU ? LVS_IPV6_MIN_MTU : mtu);
	return bpf_htonl(mtu < LVS_IPV4_MIN_MTU ? LVS_IPV4_MIN_MTU : mtu & 0xffff);
}

/*
 * lvs_too_big answers packet p, which does not fit an mtu-byte path, with
 * ICMP fragmentation needed (IPv4) or ICMPv6 packet too big, from the
 * address it was sent to, back out of the link it came in on. The packet
 * itself becomes the answer, quoting the IP header and the whole TCP
 * header (8 bytes of anything else).
 */
static __attribute__((noinline)) int lvs_too_big(struct __sk_buff *skb, const struct lvs_pkt *p, __u32 mtu)
{
	union lvs_addr src = p->t.daddr, dst = p->t.saddr;
	__u8 family = p->t.family;
	__u32 l3 = family == LVS_AF_INET6 ? sizeof(struct lvs_ipv6hdr) : sizeof(struct lvs_iphdr);
	/* The whole L4 header: a packet whose checksum the sender left to
	 * offload (a local veth peer's) keeps its checksum field inside the
	 * quote, where the offload state of the skb still points. */
	__u32 qlen = p->l3_len + (p->l4_hlen > 8 ? p->l4_hlen : 8);
	struct lvs_ethhdr *eth, e;
	void *data, *end;

	if (qlen > p->ip_len)
		qlen = p->ip_len;
	if (qlen > LVS_ICMP_QUOTE_MAX)
		qlen = LVS_ICMP_QUOTE_MAX;
	if (bpf_skb_load_bytes(skb, 0, &e, sizeof(e)))
		goto fail;
	if (bpf_skb_change_tail(skb, LVS_ETH_HLEN + qlen, 0))
		goto fail;
	if (bpf_skb_adjust_room(skb, l3 + 8, BPF_ADJ_ROOM_MAC, 0))
		goto fail;
	if (lvs_icmp_finish(skb, family, &src, &dst,
			    family == LVS_AF_INET6 ? LVS_ICMPV6_PKT_TOOBIG : LVS_ICMP_DEST_UNREACH,
			    family == LVS_AF_INET6 ? 0 : LVS_ICMP_FRAG_NEEDED, lvs_too_big_info(family, mtu), qlen))
		goto fail;
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	eth = data;
	if ((void *)(eth + 1) > end)
		goto fail;
	__builtin_memcpy(eth->dst, e.src, 6);
	__builtin_memcpy(eth->src, e.dst, 6);
	lvs_count(LVS_CNT_TOO_BIG);
	return bpf_redirect(skb->ifindex, 0);
fail:
	lvs_count(LVS_CNT_DROP_TOO_BIG);
	return TC_ACT_SHOT;
}

/*
 * lvs_icmp_nat translates an ICMP error for a NAT connection in place
 * (ip_vs_nat_icmp): toward the real (q->in) the destination becomes addr
 * and the quoted source addr:port; toward the client the source becomes
 * addr and the quoted destination addr:port. The quoted IPv4 header's
 * checksum is fixed, its L4 checksum left as IPVS leaves it; the ICMP
 * checksum follows every change it covers.
 */
static __attribute__((noinline)) int lvs_icmp_nat(struct __sk_buff *skb, const struct lvs_pkt *p,
						  const struct lvs_quote *q, union lvs_addr *addr, __be16 port)
{
	int in = q->in;
	__u8 family = p->t.family;
	__u32 n = family == LVS_AF_INET6 ? 16 : 4;
	__u32 csum_off = p->l4_off + 2;
	union lvs_addr old_outer = in ? p->t.daddr : p->t.saddr;
	union lvs_addr old_quoted = in ? q->t.saddr : q->t.daddr;
	__be16 old_port = in ? q->t.sport : q->t.dport;
	__u32 outer_off = LVS_ETH_HLEN + (family == LVS_AF_INET6 ? (in ? 24 : 8) : (in ? 16 : 12));
	__u32 quoted_off = q->off + (family == LVS_AF_INET6 ? (in ? 8 : 24) : (in ? 12 : 16));
	__s64 d;

	/* IPv6: the ICMPv6 checksum change below offsets the quoted address
	 * in a CHECKSUM_COMPLETE sum, but not the outer one: RECOMPUTE_CSUM
	 * there (IPv4 headers keep their sums with their checksums). */
	if (bpf_skb_store_bytes(skb, quoted_off, addr, n & 0x1f, 0))
		return -1;
	if (family == LVS_AF_INET) {
		/* Both IPv4 headers keep a zero sum with their checksums
		 * fixed, so only the port moves the ICMP checksum. */
		if (bpf_l3_csum_replace(skb, q->off + 10, old_quoted.v4, addr->v4, 4))
			return -1;
		if (bpf_l3_csum_replace(skb, LVS_ETH_HLEN + 10, old_outer.v4, addr->v4, 4))
			return -1;
	} else {
		d = lvs_addr_csum_diff(family, &old_quoted, addr);
		if (d < 0 || bpf_l4_csum_replace(skb, csum_off, 0, d, 0))
			return -1;
		d = lvs_addr_csum_diff(family, &old_outer, addr);
		if (d < 0 || bpf_l4_csum_replace(skb, csum_off, 0, d, BPF_F_PSEUDO_HDR))
			return -1;
	}
	if (bpf_skb_store_bytes(skb, outer_off, addr, n & 0x1f, family == LVS_AF_INET6 ? BPF_F_RECOMPUTE_CSUM : 0))
		return -1;
	if (q->t.proto == LVS_IPPROTO_TCP || q->t.proto == LVS_IPPROTO_UDP) {
		if (bpf_skb_store_bytes(skb, q->off + q->l3 + (in ? 0 : 2), &port, sizeof(port), 0))
			return -1;
		if (bpf_l4_csum_replace(skb, csum_off, old_port, port, sizeof(port)))
			return -1;
	}
	return 0;
}

/*
 * lvs_icmp_relay_tunnel handles an ICMP error (ic) that a router between
 * the director and a TUN real sent about one of golvs's tunnel packets
 * (quoted as q): the client gets the same error, quoting its own packet,
 * as ip_vs_in_icmp relays them. "Fragmentation needed" / "packet too big"
 * tells the path MTU less the tunnel's overhead, in the client's family's
 * ICMP when the tunnel's differs, and only to a client doing path MTU
 * discovery. Returns -1 when the message is not about a TUN connection
 * (the kernel takes it).
 */
static __attribute__((noinline)) int lvs_icmp_relay_tunnel(struct __sk_buff *skb, const struct lvs_pkt *p,
						 const struct lvs_quote *q, const struct lvs_icmphdr *ic)
{
	int big = p->t.family == LVS_AF_INET6 ? ic->type == LVS_ICMPV6_PKT_TOOBIG
					      : ic->type == LVS_ICMP_DEST_UNREACH && ic->code == LVS_ICMP_FRAG_NEEDED;
	__u8 type = ic->type, code = ic->code;
	__be32 info = ic->info;
	struct lvs_xmit_scratch *sc = lvs_xscratch();
	struct lvs_quote in;
	struct lvs_conn *c;
	struct lvs_real *r;
	__u32 off = q->off + q->l3, mtu, skip, qlen, ol3, cut, real;
	__u8 family = p->t.family, ifam;
	__u64 flags = 0;
	union lvs_addr vaddr, caddr;

	if (!sc)
		return -1;
	if (q->t.proto == LVS_IPPROTO_UDP) {
		__u8 gue[2];

		/* GUE version 0 without options (lvs_encap's). */
		if (bpf_skb_load_bytes(skb, off + sizeof(struct lvs_udphdr), gue, sizeof(gue)) || gue[0] != 0)
			return -1;
		off += sizeof(struct lvs_udphdr) + LVS_GUE_HLEN;
	} else if (q->t.proto == LVS_IPPROTO_GRE) {
		__be16 gf;

		if (bpf_skb_load_bytes(skb, off, &gf, sizeof(gf)))
			return -1;
		off += LVS_GRE_HLEN + (gf & bpf_htons(LVS_GRE_CSUM) ? 4 : 0);
	} else if (q->t.proto != LVS_IPPROTO_IPIP && q->t.proto != LVS_IPPROTO_IPV6) {
		return -1;
	}
	/* The client's packet, quoted inside: of the service's family,
	 * which differs from the message's for 4in6 and 6in4. */
	{
		__u8 ver;

		if (bpf_skb_load_bytes(skb, off, &ver, 1))
			return -1;
		ifam = ver >> 4 == 6 ? LVS_AF_INET6 : LVS_AF_INET;
	}
	if (lvs_quote_parse(skb, ifam, off, &in))
		return -1;
	c = bpf_map_lookup_elem(&lvs_conns, &in.t);
	if (!c || lvs_now() >= c->expires_ns || c->method != LVS_METHOD_TUNNEL)
		return -1;
	real = c->real;
	r = bpf_map_lookup_elem(&lvs_reals, &real);
	if (!r || r->family != family || !lvs_addr_eq(&r->addr, &q->t.daddr))
		return -1;
	skip = off - q->off; /* the tunnel's overhead */
	if (big) {
		/* "Client uses PMTUD?": not when its packet allowed
		 * fragmentation (IPv4 without DF). */
		if (ifam == LVS_AF_INET && !in.df)
			return -1;
		mtu = family == LVS_AF_INET6 ? bpf_ntohl(info) : bpf_ntohl(info) & 0xffff;
		mtu = mtu > skip ? mtu - skip : 0;
		type = ifam == LVS_AF_INET6 ? LVS_ICMPV6_PKT_TOOBIG : LVS_ICMP_DEST_UNREACH;
		code = ifam == LVS_AF_INET6 ? 0 : LVS_ICMP_FRAG_NEEDED;
		info = lvs_too_big_info(ifam, mtu);
	} else if (ifam != family) {
		return -1; /* other errors have no sure match in the other family */
	}
	if (p->l3_len != (family == LVS_AF_INET6 ? sizeof(struct lvs_ipv6hdr) : sizeof(struct lvs_iphdr)))
		return -1; /* the arithmetic below assumes a plain header */
	qlen = in.l3 + 8;
	if (qlen > skb->len - off)
		qlen = skb->len - off;
	if (qlen > LVS_ICMP_QUOTE_MAX)
		qlen = LVS_ICMP_QUOTE_MAX;
	vaddr = in.t.daddr;
	caddr = in.t.saddr;
	if (bpf_skb_change_tail(skb, off + qlen, 0))
		goto drop;
	/* Drop what stands between the Ethernet header and the client's
	 * packet but room for the new IP and ICMP headers; across families
	 * the skb's protocol follows (the DECAP flags, Linux 6.3). */
	ol3 = ifam == LVS_AF_INET6 ? sizeof(struct lvs_ipv6hdr) : sizeof(struct lvs_iphdr);
	cut = off - (LVS_ETH_HLEN + ol3 + 8);
	if (ifam != family)
		flags = ifam == LVS_AF_INET6 ? LVS_F_ADJ_ROOM_DECAP_L3_IPV6 : LVS_F_ADJ_ROOM_DECAP_L3_IPV4;
	if (bpf_skb_adjust_room(skb, -(__s32)cut, BPF_ADJ_ROOM_MAC, flags))
		goto drop;
	if (ifam != family) {
		__be16 proto = bpf_htons(ifam == LVS_AF_INET6 ? LVS_ETH_P_IPV6 : LVS_ETH_P_IP);

		if (bpf_skb_store_bytes(skb, 12, &proto, sizeof(proto), 0))
			goto drop;
	}
	if (lvs_icmp_finish(skb, ifam, &vaddr, &caddr, type, code, info, qlen))
		goto drop;
	lvs_count(LVS_CNT_ICMP_TUNNEL);
	if (lvs_route(skb, &sc->fib, ifam, &vaddr, &caddr, 0, 0, 0, &sc->rt))
		return TC_ACT_OK; /* the kernel routes it */
	return lvs_send(skb, &sc->rt);
drop:
	lvs_count(LVS_CNT_DROP_TOO_BIG);
	return TC_ACT_SHOT;
}

#endif /* LVS_ICMP_H */
