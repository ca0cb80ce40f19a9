/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * xmit.h rewrites a packet for its forwarding method (ip_vs_xmit.c: NAT,
 * DR, and TUN with IPIP, GUE or GRE encapsulation) and sends it out of
 * the link the FIB names, addressed to the next hop's MAC. A packet that
 * would not fit the path is answered, as IPVS's ensure_mtu_is_adequate
 * does, with ICMP "fragmentation needed" or ICMPv6 "packet too big"
 * (icmp.h), so that path MTU discovery works through the director.
 */
#ifndef LVS_XMIT_H
#define LVS_XMIT_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include "csum.h"
#include "parse.h"
#include "stats.h"
#include "maps.h"

#define LVS_UDP_PORT_MIN 32768 /* udp_flow_src_port's default range */
#define LVS_UDP_PORT_MAX 61000

/* Which end of the packet lvs_nat_rewrite changes. */
enum {
	LVS_NAT_DST = 0, /* client -> real: DNAT to RIP:rport */
	LVS_NAT_SRC = 1, /* real -> client: source back to VIP:vport */
};

/* struct lvs_route is where a packet leaves: the FIB's answer. */
struct lvs_route {
	__u32 oif;
	__u32 mtu;          /* of oif */
	__u8 dmac[6];
	__u8 smac[6];
	__u8 neigh;         /* MACs known; else bpf_redirect_neigh resolves nh */
	__u8 family;        /* of the lookup */
	__u8 pad[2];
	union lvs_addr src; /* the director's address toward the destination */
	union lvs_addr nh;  /* next hop, when !neigh */
};

/* struct lvs_xmit_scratch is per-CPU room for a FIB lookup and its
 * answer: the program's stack is short. */
struct lvs_xmit_scratch {
	struct bpf_fib_lookup fib;
	struct lvs_route rt;
	/* lvs_icmp's: the message's header and quote, and the keys it
	 * looks up. */
	__u8 icmp[8];
	__u8 quote[56];
	struct lvs_tuple k;
	struct lvs_tuple ck;
	/* lvs_out's: its lvs_client_routes key, and a new entry for it. */
	struct lvs_client_route crk;
	struct lvs_fib_cache fc;
};

/* The map holds it as bytes: bpf2go cannot express struct
 * bpf_fib_lookup's anonymous unions in Go, and Go never reads it. */
struct lvs_xmit_scratch_bytes {
	__u8 b[sizeof(struct lvs_xmit_scratch)];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lvs_xmit_scratch_bytes);
} lvs_xmit_scratch SEC(".maps");

static __always_inline struct lvs_xmit_scratch *lvs_xscratch(void)
{
	__u32 zero = 0;

	return (struct lvs_xmit_scratch *)bpf_map_lookup_elem(&lvs_xmit_scratch, &zero);
}

/* struct lvs_tunnel is a TUN real's encapsulation (from struct lvs_real). */
struct lvs_tunnel {
	__u8 type;   /* enum lvs_tun_type */
	__u8 flags;  /* enum lvs_tun_flags */
	__be16 port; /* GUE destination port */
	__u8 family; /* the real's, the outer header's */
	__u8 pad[3];
};

/* lvs_tun_overhead is how many bytes encapsulation toward a real of
 * family rfamily adds at most (a GRE checksum may be left out). */
static __always_inline __u32 lvs_tun_overhead(__u8 rfamily, const struct lvs_tunnel *tun)
{
	__u32 n = rfamily == LVS_AF_INET6 ? sizeof(struct lvs_ipv6hdr) : sizeof(struct lvs_iphdr);

	if (tun->type == LVS_TUN_GUE)
		n += sizeof(struct lvs_udphdr) + LVS_GUE_HLEN;
	else if (tun->type == LVS_TUN_GRE)
		n += LVS_GRE_HLEN + (tun->flags & LVS_TUN_F_CSUM ? 4 : 0);
	return n;
}

/* lvs_ip4_ttl_dec decrements ip's TTL and updates its header checksum. */
static __always_inline void lvs_ip4_ttl_dec(struct lvs_iphdr *ip)
{
	__u16 old = *(__u16 *)&ip->ttl;
	__u64 s;

	ip->ttl--;
	s = lvs_csum_start(ip->check);
	s = lvs_csum_add16(s, old, *(__u16 *)&ip->ttl);
	ip->check = lvs_csum_finish(s);
}

/* lvs_ip4_nat sets one address of ip (which: LVS_NAT_DST or LVS_NAT_SRC)
 * from old to new and decrements the TTL, updating the header checksum
 * once for both. */
static __always_inline void lvs_ip4_nat(struct lvs_iphdr *ip, int which, __be32 old, __be32 new)
{
	__u16 old_ttl = *(__u16 *)&ip->ttl;
	__u64 s;

	if (which == LVS_NAT_DST)
		ip->daddr = new;
	else
		ip->saddr = new;
	ip->ttl--;
	s = lvs_csum_start(ip->check);
	s = lvs_csum_add32(s, old, new);
	s = lvs_csum_add16(s, old_ttl, *(__u16 *)&ip->ttl);
	ip->check = lvs_csum_finish(s);
}

/* lvs_ttl_dec decrements the TTL (and fixes the header checksum) or the
 * hop limit of the packet's IP header. */
static __always_inline int lvs_ttl_dec(struct __sk_buff *skb, __u8 family)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;

	if (family == LVS_AF_INET6) {
		struct lvs_ipv6hdr *ip6 = data + LVS_ETH_HLEN;
		__u8 hl;

		if ((void *)(ip6 + 1) > end)
			return -1;
		/* No header checksum to keep a CHECKSUM_COMPLETE skb's sum
		 * right: the store does it. */
		hl = ip6->hop_limit - 1;
		return bpf_skb_store_bytes(skb, LVS_ETH_HLEN + 7, &hl, 1, BPF_F_RECOMPUTE_CSUM) ? -1 : 0;
	} else {
		struct lvs_iphdr *ip = data + LVS_ETH_HLEN;

		if ((void *)(ip + 1) > end)
			return -1;
		lvs_ip4_ttl_dec(ip);
	}
	return 0;
}

/* lvs_addr_csum_diff is the checksum difference of an address changing
 * from from to to (16 bytes for IPv6, 4 for IPv4). */
static __always_inline __s64 lvs_addr_csum_diff(__u8 family, union lvs_addr *from, union lvs_addr *to)
{
	__u32 n = family == LVS_AF_INET6 ? 16 : 4;

	return bpf_csum_diff((__be32 *)from, n, (__be32 *)to, n, 0);
}

/*
 * lvs_nat_rewrite replaces one address:port of the packet, decrements the
 * TTL and fixes the IP and L4 checksums. A later fragment has no L4
 * header: only its address changes (its datagram's checksum was fixed
 * in the first fragment). Returns 0 or -1 (drop).
 */
static __always_inline int lvs_nat_rewrite(struct __sk_buff *skb, const struct lvs_pkt *p, int which,
					   const union lvs_addr *addr, __be16 port)
{
	union lvs_addr old = which == LVS_NAT_DST ? p->t.daddr : p->t.saddr, new = *addr;
	__u32 l4 = p->l4_off & 0xff, csum_off, port_off = l4 + (which == LVS_NAT_DST ? 2 : 0);
	__u64 m = p->t.proto == LVS_IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	__be16 old_port = which == LVS_NAT_DST ? p->t.dport : p->t.sport;
	int l4hdr = p->frag != LVS_FRAG_LATER;
	void *data, *end;

	csum_off = l4 + (p->t.proto == LVS_IPPROTO_TCP ? 16 : 6);
	/* L4: the address is in the pseudo-header; the port is not. */
	if (l4hdr) {
		if (p->t.family == LVS_AF_INET6) {
			__s64 diff = lvs_addr_csum_diff(p->t.family, &old, &new);

			if (diff < 0 || bpf_l4_csum_replace(skb, csum_off, 0, diff, BPF_F_PSEUDO_HDR | m))
				return -1;
		} else if (bpf_l4_csum_replace(skb, csum_off, old.v4, new.v4, BPF_F_PSEUDO_HDR | m | sizeof(__be32))) {
			return -1;
		}
		if (old_port != port && bpf_l4_csum_replace(skb, csum_off, old_port, port, m | sizeof(port)))
			return -1;
	}
	if (p->t.family == LVS_AF_INET6) {
		/* RECOMPUTE_CSUM: bpf_l4_csum_replace with PSEUDO_HDR moved a
		 * CHECKSUM_COMPLETE skb's sum for the checksum field; the
		 * address, with no IPv6 header checksum to offset it, moves it
		 * back. */
		if (bpf_skb_store_bytes(skb, LVS_ETH_HLEN + (which == LVS_NAT_DST ? 24 : 8), &new, 16,
					BPF_F_RECOMPUTE_CSUM))
			return -1;
		if (l4hdr && old_port != port && bpf_skb_store_bytes(skb, port_off, &port, sizeof(port), 0))
			return -1;
		return lvs_ttl_dec(skb, LVS_AF_INET6);
	}
	/* IPv4: address, port and TTL written in place, the header checksum
	 * updated once for address and TTL (csum.h). */
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	{
		struct lvs_iphdr *ip = data + LVS_ETH_HLEN;
		__be16 *pp = data + (port_off & 0xff);

		/* (A later fragment's data may be shorter than a port.) */
		if ((void *)(ip + 1) > end || (l4hdr && (void *)(pp + 1) > end))
			return -1;
		lvs_ip4_nat(ip, which, old.v4, new.v4);
		if (l4hdr && (void *)(pp + 1) <= end)
			*pp = port;
	}
	return 0;
}

/* lvs_ip4_csum returns the header checksum of ip (its check field 0). */
static __always_inline __sum16 lvs_ip4_csum(struct lvs_iphdr *ip)
{
	__s64 s = bpf_csum_diff(0, 0, (__be32 *)ip, sizeof(*ip), 0);

	return lvs_csum_finish(s < 0 ? 0 : s);
}

/*
 * lvs_inner_sum returns the one's complement sum of the whole inner packet
 * for a tunnel checksum without reading it: a TCP or UDP packet with a
 * valid checksum sums, over its L4 part, to the complement of its
 * pseudo-header, and an IPv4 header with a valid checksum to zero (the
 * trick of Linux's lco_csum). Returns -1 where that does not hold (a
 * fragment, UDP without a checksum): the tunnel then goes without one.
 */
static __always_inline __s64 lvs_inner_sum(struct __sk_buff *skb, const struct lvs_pkt *p, __u8 *tmp)
{
	__u32 l4len = p->ip_len - p->l3_len;
	__be32 ph[2] = {bpf_htonl(l4len), bpf_htonl(p->t.proto)};
	__u32 n = p->t.family == LVS_AF_INET6 ? 16 : 4;
	__s64 s;

	if (p->frag != LVS_FRAG_NONE || skb->gso_size ||
	    (p->t.proto != LVS_IPPROTO_TCP && p->t.proto != LVS_IPPROTO_UDP))
		return -1;
	if (p->t.proto == LVS_IPPROTO_UDP) {
		__sum16 c;

		if (bpf_skb_load_bytes(skb, p->l4_off + 6, &c, sizeof(c)) || !c)
			return -1;
	}
	s = bpf_csum_diff(0, 0, (__be32 *)&p->t.saddr, n, 0);
	s = bpf_csum_diff(0, 0, (__be32 *)&p->t.daddr, n, s);
	s = bpf_csum_diff(0, 0, ph, sizeof(ph), s);
	if (s < 0)
		return -1;
	s = (__u16)~lvs_csum_fold(s);
	if (p->t.family == LVS_AF_INET6) {
		/* The IPv6 header has no checksum: add what it sums to. */
		if (p->l3_len != sizeof(struct lvs_ipv6hdr))
			return -1; /* extension headers: not worth summing here */
		if (bpf_skb_load_bytes(skb, LVS_ETH_HLEN, tmp, sizeof(struct lvs_ipv6hdr)))
			return -1;
		s = bpf_csum_diff(0, 0, (__be32 *)tmp, sizeof(struct lvs_ipv6hdr), s);
	}
	return s;
}

/*
 * lvs_encap wraps the packet (already TTL-decremented) for a TUN real at
 * raddr (of family tun->family), from src (ip_vs_tunnel_xmit with
 * ipvs_gue_encap / ipvs_gre_encap): IPIP, IPv6-in-IPv6, and across
 * families 4in6 or 6in4; GUE and GRE inside the outer header. The outer
 * header copies the inner TTL and TOS (ECN as INET_ECN_encapsulate), and
 * is never to be fragmented (DF; IPVS copies the inner DF instead):
 * golvs's own decapsulation (lvsrs) sees packets before reassembly, so
 * a packet that does not fit is answered with ICMP instead (lvs_xmit).
 * TCP segmentation offload packets get a smaller segment size from the
 * kernel (bpf_skb_adjust_room), so their segments fit as before.
 */
static __attribute__((noinline)) int lvs_encap(struct __sk_buff *skb, const struct lvs_pkt *p,
					       const union lvs_addr *raddr, const union lvs_addr *src,
					       const struct lvs_tunnel *tun)
{
	__u32 zero = 0;
	struct lvs_icmp_buf *buf = bpf_map_lookup_elem(&lvs_icmp_scratch, &zero);
	__u8 rfamily = tun->family;
	__u32 oh;
	__u32 ol3 = rfamily == LVS_AF_INET6 ? sizeof(struct lvs_ipv6hdr) : sizeof(struct lvs_iphdr);
	__u32 inner_len = skb->gso_size ? skb->len - LVS_ETH_HLEN : p->ip_len;
	__u8 proto, inner = p->t.family == LVS_AF_INET6 ? LVS_IPPROTO_IPV6 : LVS_IPPROTO_IPIP;
	__u64 flags = rfamily == LVS_AF_INET6 ? BPF_F_ADJ_ROOM_ENCAP_L3_IPV6 : BPF_F_ADJ_ROOM_ENCAP_L3_IPV4;
	__be16 eth_proto = bpf_htons(rfamily == LVS_AF_INET6 ? LVS_ETH_P_IPV6 : LVS_ETH_P_IP);
	__u32 n = rfamily == LVS_AF_INET6 ? 16 : 4;
	/* INET_ECN_encapsulate: the inner DSCP and ECN, but CE becomes ECT(0). */
	__u8 tos = (p->tos & 3) == 3 ? (p->tos & ~3) | 2 : p->tos;
	__s64 isum = -1, s;
	int gre_csum;

	if (!buf)
		return -1;
	/* The outer headers are built in buf: outer IP at 0, then UDP+GUE
	 * or GRE at ol3. */
	__builtin_memset(buf->b, 0, 64);
	/* IPVS checksums GUE for --tun-csum and --tun-remcsum alike (it adds
	 * the remote checksum option only for locally offloaded packets,
	 * which a director forwarding from the network never has). */
	if (tun->type != LVS_TUN_IPIP && (tun->flags & (LVS_TUN_F_CSUM | LVS_TUN_F_REMCSUM)))
		isum = lvs_inner_sum(skb, p, buf->b + 64);
	/* A GRE checksum is sent only where it is known: a receiver checks
	 * any it is told of, and one of zero would be dropped. */
	gre_csum = tun->type == LVS_TUN_GRE && (tun->flags & LVS_TUN_F_CSUM) && isum >= 0;
	oh = rfamily == LVS_AF_INET6 ? sizeof(struct lvs_ipv6hdr) : sizeof(struct lvs_iphdr);
	if (tun->type == LVS_TUN_GUE)
		oh += sizeof(struct lvs_udphdr) + LVS_GUE_HLEN;
	else if (tun->type == LVS_TUN_GRE)
		oh += LVS_GRE_HLEN + (gre_csum ? 4 : 0);
	if (tun->type == LVS_TUN_GUE) {
		struct lvs_udphdr *uh = (void *)(buf->b + (ol3 & 0x3f));
		__u8 *gue = (void *)(uh + 1);
		__u32 hash = bpf_get_hash_recalc(skb);
		__u32 ulen = inner_len + sizeof(*uh) + LVS_GUE_HLEN;

		flags |= BPF_F_ADJ_ROOM_ENCAP_L4_UDP;
		proto = LVS_IPPROTO_UDP;
		/* udp_flow_src_port: a source port from the flow hash, so
		 * that the path's ECMP and the real's RSS spread flows. */
		uh->source = bpf_htons((__u16)(((__u64)hash * (LVS_UDP_PORT_MAX - LVS_UDP_PORT_MIN)) >> 32) +
				       LVS_UDP_PORT_MIN);
		uh->dest = tun->port;
		uh->len = bpf_htons(ulen);
		gue[1] = inner; /* version 0, no options: proto/ctype */
		if (isum >= 0) {
			/* The UDP checksum: pseudo-header, UDP and GUE headers,
			 * and the inner packet's sum. */
			__be32 ph[2] = {bpf_htonl(ulen), bpf_htonl(LVS_IPPROTO_UDP)};

			s = bpf_csum_diff(0, 0, (__be32 *)src, n, isum);
			s = bpf_csum_diff(0, 0, (__be32 *)raddr, n, s);
			s = bpf_csum_diff(0, 0, ph, sizeof(ph), s);
			s = bpf_csum_diff(0, 0, (__be32 *)uh, sizeof(*uh) + LVS_GUE_HLEN, s);
			if (s >= 0)
				uh->check = lvs_csum_finish(s) ?: 0xffff;
		}
	} else if (tun->type == LVS_TUN_GRE) {
		__be16 *g = (void *)(buf->b + (ol3 & 0x3f));

		flags |= BPF_F_ADJ_ROOM_ENCAP_L4_GRE;
		proto = LVS_IPPROTO_GRE;
		g[1] = p->t.family == LVS_AF_INET6 ? bpf_htons(LVS_ETH_P_IPV6) : bpf_htons(LVS_ETH_P_IP);
		if (gre_csum) {
			/* The GRE checksum covers the GRE header and payload. */
			g[0] = bpf_htons(LVS_GRE_CSUM);
			s = bpf_csum_diff(0, 0, (__be32 *)g, 8, isum);
			g[2] = lvs_csum_finish(s < 0 ? 0 : s);
		}
	} else {
		proto = inner;
	}

	if (rfamily == LVS_AF_INET6) {
		struct lvs_ipv6hdr *h = (void *)buf->b;

		h->ver_tc_flow = bpf_htonl(6 << 28 | (__u32)tos << 20);
		h->payload_len = bpf_htons(inner_len + oh - sizeof(*h));
		h->nexthdr = proto;
		h->hop_limit = p->ttl - 1; /* lvs_ttl_dec ran on the inner header */
		h->saddr = *src;
		h->daddr = *raddr;
	} else {
		struct lvs_iphdr *h = (void *)buf->b;

		h->ver_ihl = 0x45;
		h->tos = tos;
		h->tot_len = bpf_htons(inner_len + oh);
		h->frag_off = bpf_htons(LVS_IP_DF);
		h->ttl = p->ttl - 1;
		h->protocol = proto;
		h->saddr = src->v4;
		h->daddr = raddr->v4;
		h->check = lvs_ip4_csum(h);
	}
	/* A UDP segmentation offload packet keeps its segment size (the
	 * kernel grows only TCP ones by shrinking it); lvs_xmit counted the
	 * overhead in its MTU check. */
	if (skb->gso_size && p->t.proto == LVS_IPPROTO_UDP)
		flags |= BPF_F_ADJ_ROOM_FIXED_GSO;
	if (bpf_skb_adjust_room(skb, oh, BPF_ADJ_ROOM_MAC, flags))
		return -1;
	if (bpf_skb_store_bytes(skb, 12, &eth_proto, sizeof(eth_proto), 0))
		return -1;
	if (oh > 64)
		return -1;
	return bpf_skb_store_bytes(skb, LVS_ETH_HLEN, buf->b, oh, 0) ? -1 : 0;
}

/*
 * lvs_route_at finds where a packet from src to dst (family), which came
 * in through link iif (ctx: the program's, TC's or XDP's), leaves: from
 * fc, the route cache entry for dst (lvs_real_routes, lvs_client_routes),
 * while it is valid, else from the FIB, refilling fc. The lookup is the
 * forwarding kind (the ingress link as iif), so the ingress link must have
 * forwarding enabled. want_src also asks for the director's source address
 * toward dst (BPF_FIB_LOOKUP_SRC, Linux 6.8); src may then be NULL, and
 * only an entry a want_src lookup filled has it (a real's TUN and NAT/DR
 * connections share its entry after a method edit). Returns 0, or -1 when
 * the FIB has no answer. Two CPUs may refill one cache entry at once; both
 * write the same answer unless the neighbour changed in between.
 */
static __always_inline int lvs_route_at(void *ctx, __u32 iif, struct bpf_fib_lookup *f, __u8 family,
					const union lvs_addr *src, const union lvs_addr *dst, int want_src,
					struct lvs_fib_cache *fc, __u64 now, struct lvs_route *rt)
{
	long rc;

	rt->family = family;
	if (fc && now < fc->expires_ns && fc->iif == iif &&
	    (!want_src || (fc->src.v6[0] | fc->src.v6[1] | fc->src.v6[2] | fc->src.v6[3]))) {
		rt->oif = fc->oif;
		rt->mtu = fc->mtu;
		__builtin_memcpy(rt->dmac, fc->dmac, 6);
		__builtin_memcpy(rt->smac, fc->smac, 6);
		rt->src = fc->src;
		rt->neigh = 1;
		return 0;
	}
	__builtin_memset(f, 0, sizeof(*f));
	f->family = family;
	f->tot_len = 0; /* 0: the kernel checks the MTU against the skb, GSO aware */
	f->ifindex = iif;
	if (family == LVS_AF_INET6) {
		if (src)
			__builtin_memcpy(f->ipv6_src, src, 16);
		__builtin_memcpy(f->ipv6_dst, dst, 16);
	} else {
		f->ipv4_src = src ? src->v4 : 0;
		f->ipv4_dst = dst->v4;
	}
	rc = bpf_fib_lookup(ctx, f, sizeof(*f), want_src ? BPF_FIB_LOOKUP_SRC : 0);
	__builtin_memset(&rt->src, 0, sizeof(rt->src));
	if (family == LVS_AF_INET6)
		__builtin_memcpy(&rt->src, f->ipv6_src, 16);
	else
		rt->src.v4 = f->ipv4_src;
	rt->oif = f->ifindex;
	if (rc == BPF_FIB_LKUP_RET_SUCCESS || rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		/* With tot_len 0 a found route always reports its link's MTU,
		 * FRAG_NEEDED or not: lvs_xmit decides what fits. */
		rt->mtu = f->mtu_result;
		__builtin_memcpy(rt->dmac, f->dmac, 6);
		__builtin_memcpy(rt->smac, f->smac, 6);
		rt->neigh = 1;
		if (fc) {
			fc->iif = iif;
			fc->oif = rt->oif;
			fc->mtu = rt->mtu;
			__builtin_memcpy(fc->dmac, f->dmac, 6);
			__builtin_memcpy(fc->smac, f->smac, 6);
			if (want_src)
				fc->src = rt->src;
			else
				__builtin_memset(&fc->src, 0, sizeof(fc->src));
			fc->expires_ns = now + LVS_FIB_CACHE_MS * 1000000ULL;
		}
		return 0;
	}
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		__u32 mtu = 0;

		rt->neigh = 0;
		__builtin_memset(&rt->nh, 0, sizeof(rt->nh));
		if (family == LVS_AF_INET6)
			__builtin_memcpy(&rt->nh, f->ipv6_dst, 16);
		else
			rt->nh.v4 = f->ipv4_dst;
		bpf_check_mtu(ctx, rt->oif, &mtu, 0, 0);
		rt->mtu = mtu;
		return 0;
	}
	return -1;
}

/* lvs_route is lvs_route_at for TC: the skb's ingress link. */
static __always_inline int lvs_route(struct __sk_buff *skb, struct bpf_fib_lookup *f, __u8 family,
				     const union lvs_addr *src, const union lvs_addr *dst, int want_src,
				     struct lvs_fib_cache *fc, __u64 now, struct lvs_route *rt)
{
	return lvs_route_at(skb, skb->ifindex, f, family, src, dst, want_src, fc, now, rt);
}

/* lvs_send sends the packet along rt: to the known MACs, or through
 * bpf_redirect_neigh, which resolves the next hop. */
static __always_inline int lvs_send(struct __sk_buff *skb, struct lvs_route *rt)
{
	struct bpf_redir_neigh nh = {};
	struct lvs_ethhdr *eth;
	void *data, *end;

	/* Keeps clang from reaching skb->data_end through a pointer it
	 * computed earlier, which the verifier refuses (a modified ctx). */
	asm volatile("" : "+r"(skb));
	if (rt->neigh) {
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
		eth = data;
		if ((void *)(eth + 1) > end)
			return TC_ACT_SHOT;
		__builtin_memcpy(eth->dst, rt->dmac, 6);
		__builtin_memcpy(eth->src, rt->smac, 6);
		lvs_count(LVS_CNT_FWD_REDIRECT);
		return bpf_redirect(rt->oif, 0);
	}
	nh.nh_family = rt->family;
	if (rt->family == LVS_AF_INET6)
		__builtin_memcpy(nh.ipv6_nh, &rt->nh, 16);
	else
		nh.ipv4_nh = rt->nh.v4;
	lvs_count(LVS_CNT_FWD_NEIGH);
	return bpf_redirect_neigh(rt->oif, &nh, sizeof(nh), 0);
}

/* lvs_seg_len is the length of the largest IP packet p becomes on the
 * wire: a segmentation offload packet's segments, else the packet. */
static __always_inline __u32 lvs_seg_len(struct __sk_buff *skb, const struct lvs_pkt *p)
{
	if (skb->gso_size)
		return p->l3_len + p->l4_hlen + skb->gso_size;
	return p->ip_len;
}

#endif /* LVS_XMIT_H */
