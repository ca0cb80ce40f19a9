/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * xdp.h is the XDP fast path's packet access: parsing, rewriting and
 * sending with direct packet access on struct xdp_md, for the packets
 * lvs_xdp (lvs.c) takes whole. Everything it cannot take is left to the
 * TC program (XDP_PASS) before anything is changed, so TC sees the packet
 * as if XDP were absent. What the fast path writes is byte for byte what
 * the TC path writes (the fixtures run both and compare).
 */
#ifndef LVS_XDP_H
#define LVS_XDP_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "csum.h"
#include "parse.h"
#include "stats.h"
#include "maps.h"
#include "xmit.h"

/*
 * lvs_xdp_parse fills p from a frame the fast path can take: Ethernet,
 * then IPv4 without options or IPv6 without extension headers, not a
 * fragment, then TCP or UDP, lengths checked as lvs_parse checks them.
 * Returns -1 for anything else (TC parses it in full).
 */
static __always_inline int lvs_xdp_parse(struct xdp_md *ctx, struct lvs_pkt *p)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct lvs_ethhdr *eth = data;
	__u32 tot, l3;
	__u8 proto;

	if ((void *)(eth + 1) > end)
		return -1;
	__builtin_memset(p, 0, sizeof(*p));
	if (eth->proto == bpf_htons(LVS_ETH_P_IP)) {
		struct lvs_iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end || ip->ver_ihl != 0x45)
			return -1;
		if (ip->frag_off & bpf_htons(LVS_IP_MF | LVS_IP_OFFMASK))
			return -1;
		l3 = sizeof(*ip);
		tot = bpf_ntohs(ip->tot_len);
		p->t.family = LVS_AF_INET;
		p->t.saddr.v4 = ip->saddr;
		p->t.daddr.v4 = ip->daddr;
		p->ttl = ip->ttl;
		p->tos = ip->tos;
		p->df = !!(ip->frag_off & bpf_htons(LVS_IP_DF));
		proto = ip->protocol;
	} else if (eth->proto == bpf_htons(LVS_ETH_P_IPV6)) {
		struct lvs_ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end || (bpf_ntohl(ip6->ver_tc_flow) >> 28) != 6)
			return -1;
		l3 = sizeof(*ip6);
		tot = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
		p->t.family = LVS_AF_INET6;
		p->t.saddr = ip6->saddr;
		p->t.daddr = ip6->daddr;
		p->ttl = ip6->hop_limit;
		p->tos = bpf_ntohl(ip6->ver_tc_flow) >> 20;
		p->df = 1;
		proto = ip6->nexthdr;
	} else {
		return -1;
	}
	/* tot below the frame's length is Ethernet padding; above it, or a
	 * jumbogram's 0, is TC's to judge. */
	if (tot <= l3 || data + LVS_ETH_HLEN + tot > end)
		return -1;
	p->ip_len = tot;
	p->l3_len = l3;
	p->l4_off = LVS_ETH_HLEN + l3;
	p->t.proto = proto;
	if (proto == LVS_IPPROTO_TCP) {
		struct lvs_tcphdr *th = data + LVS_ETH_HLEN + l3;
		__u32 doff;

		if ((void *)(th + 1) > end)
			return -1;
		doff = (th->doff >> 4) * 4;
		if (doff < sizeof(*th) || l3 + doff > tot)
			return -1;
		p->l4_hlen = doff;
		p->t.sport = th->source;
		p->t.dport = th->dest;
		p->tcp_flags = th->flags;
		return 0;
	}
	if (proto == LVS_IPPROTO_UDP) {
		struct lvs_udphdr *uh = data + LVS_ETH_HLEN + l3;

		if ((void *)(uh + 1) > end || l3 + sizeof(*uh) > tot)
			return -1;
		p->l4_hlen = sizeof(*uh);
		p->t.sport = uh->source;
		p->t.dport = uh->dest;
		return 0;
	}
	return -1;
}

/* lvs_xdp_ttl_dec is lvs_ttl_dec on the frame (an IPv6 hop limit has no
 * checksum: lvs_xdp_route keeps a CHECKSUM_COMPLETE skb away). */
static __always_inline int lvs_xdp_ttl_dec(struct xdp_md *ctx, __u8 family)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;

	if (family == LVS_AF_INET6) {
		struct lvs_ipv6hdr *ip6 = data + LVS_ETH_HLEN;

		if ((void *)(ip6 + 1) > end)
			return -1;
		ip6->hop_limit--;
	} else {
		struct lvs_iphdr *ip = data + LVS_ETH_HLEN;

		if ((void *)(ip + 1) > end)
			return -1;
		lvs_ip4_ttl_dec(ip);
	}
	return 0;
}

/*
 * lvs_xdp_nat is lvs_nat_rewrite on the frame: one address:port replaced,
 * the L4 checksum updated for both (the address through the
 * pseudo-header), then the TTL. A frame reaching native XDP carries
 * complete checksums (lvs_xdp_route); a UDP datagram without one (IPv4's 0) keeps none, and
 * one that comes to 0 is sent as 0xffff, as bpf_l4_csum_replace does
 * with BPF_F_MARK_MANGLED_0.
 */
static __always_inline int lvs_xdp_nat(struct xdp_md *ctx, const struct lvs_pkt *p, int which,
				       const union lvs_addr *addr, __be16 port)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	union lvs_addr old = which == LVS_NAT_DST ? p->t.daddr : p->t.saddr, new = *addr;
	__be16 old_port = which == LVS_NAT_DST ? p->t.dport : p->t.sport;
	__u32 l4 = p->l4_off & 0xff;
	__sum16 *check;
	__be16 *pp;
	__u64 s;

	check = data + l4 + (p->t.proto == LVS_IPPROTO_TCP ? 16 : 6);
	pp = data + l4 + (which == LVS_NAT_DST ? 2 : 0);
	if ((void *)(check + 1) > end || (void *)(pp + 1) > end)
		return -1;
	if (p->t.proto == LVS_IPPROTO_TCP || *check) {
		s = lvs_csum_start(*check);
		if (p->t.family == LVS_AF_INET6) {
			__s64 diff = lvs_addr_csum_diff(p->t.family, &old, &new);

			if (diff < 0)
				return -1;
			s += diff;
		} else {
			s = lvs_csum_add32(s, old.v4, new.v4);
		}
		s = lvs_csum_add16(s, old_port, port);
		*check = lvs_csum_finish(s);
		if (p->t.proto == LVS_IPPROTO_UDP && !*check)
			*check = 0xffff;
	}
	*pp = port;
	if (p->t.family == LVS_AF_INET6) {
		struct lvs_ipv6hdr *ip6 = data + LVS_ETH_HLEN;

		if ((void *)(ip6 + 1) > end)
			return -1;
		if (which == LVS_NAT_DST)
			ip6->daddr = new;
		else
			ip6->saddr = new;
		ip6->hop_limit--;
	} else {
		struct lvs_iphdr *ip = data + LVS_ETH_HLEN;

		if ((void *)(ip + 1) > end)
			return -1;
		lvs_ip4_nat(ip, which, old.v4, new.v4);
	}
	return 0;
}

/*
 * lvs_xdp_encap is lvs_encap for the IPIP family of tunnels (IPIP,
 * IPv6-in-IPv6, 4in6, 6in4), the ones without a header of their own
 * beyond the outer IP: the same outer header, grown in front with
 * bpf_xdp_adjust_head. The inner TTL was decremented already.
 */
static __always_inline int lvs_xdp_encap(struct xdp_md *ctx, const struct lvs_pkt *p, const union lvs_addr *raddr,
					 const union lvs_addr *src, __u8 rfamily)
{
	__u32 oh = rfamily == LVS_AF_INET6 ? sizeof(struct lvs_ipv6hdr) : sizeof(struct lvs_iphdr);
	__u8 inner = p->t.family == LVS_AF_INET6 ? LVS_IPPROTO_IPV6 : LVS_IPPROTO_IPIP;
	__u8 tos = (p->tos & 3) == 3 ? (p->tos & ~3) | 2 : p->tos;
	struct lvs_ethhdr *eth;
	void *data, *end;

	if (bpf_xdp_adjust_head(ctx, -(int)oh))
		return -1;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > end)
		return -1;
	eth->proto = bpf_htons(rfamily == LVS_AF_INET6 ? LVS_ETH_P_IPV6 : LVS_ETH_P_IP);
	if (rfamily == LVS_AF_INET6) {
		struct lvs_ipv6hdr *h = (void *)(eth + 1);

		if ((void *)(h + 1) > end)
			return -1;
		h->ver_tc_flow = bpf_htonl(6 << 28 | (__u32)tos << 20);
		h->payload_len = bpf_htons(p->ip_len);
		h->nexthdr = inner;
		h->hop_limit = p->ttl - 1;
		h->saddr = *src;
		h->daddr = *raddr;
	} else {
		struct lvs_iphdr *h = (void *)(eth + 1);

		if ((void *)(h + 1) > end)
			return -1;
		h->ver_ihl = 0x45;
		h->tos = tos;
		h->tot_len = bpf_htons(p->ip_len + oh);
		h->id = 0;
		h->frag_off = bpf_htons(LVS_IP_DF);
		h->ttl = p->ttl - 1;
		h->protocol = inner;
		h->check = 0;
		h->saddr = src->v4;
		h->daddr = raddr->v4;
		h->check = lvs_ip4_csum(h);
	}
	return 0;
}

/*
 * lvs_xdp_route is lvs_xmit's decision without its side effects: where a
 * packet (p, of a connection sent with method to a real of family
 * rfamily, r) leaves, from src to dst, and whether the fast path can send
 * it there. Returns 1 (a native XDP ingress: send through lvs_xdp_tx),
 * 0 (generic XDP: bpf_redirect), or -1: leave it to TC, which also
 * answers what is too big, resolves neighbours, and encapsulates GUE and
 * GRE. The answer is in sc->rt.
 *
 * Generic XDP takes IPv4 DR alone. It runs on the skb as the stack has
 * it, which may be a GRO aggregate (one that fits the MTU looks like any
 * packet) or carry a partial checksum (CHECKSUM_PARTIAL, from a sender on
 * this host), and XDP cannot tell: an L4 checksum updated as a complete
 * one (NAT) would then be wrong, and a tunnel header added without the
 * skb's GSO knowing would be segmented as plain TCP. IPv4 DR changes only
 * the MACs and the TTL with its header checksum, which leave every sum
 * of the skb right; an IPv6 hop limit has no checksum to offset it, and a
 * CHECKSUM_COMPLETE skb's sum would go stale (TC's lvs_ttl_dec has the
 * kernel recompute it). Native XDP sees frames straight from the driver,
 * whole and with complete checksums.
 */
static __always_inline int lvs_xdp_route(struct xdp_md *ctx, const struct lvs_pkt *p, __u8 method, __u8 rfamily,
					 const struct lvs_real *r, const union lvs_addr *src,
					 const union lvs_addr *dst, struct lvs_fib_cache *fc, __u64 now,
					 struct lvs_xmit_scratch *sc)
{
	__u32 iif = ctx->ingress_ifindex, oh = 0;
	int native = !!bpf_map_lookup_elem(&lvs_xdp_tx, &iif);

	if (!native && (method != LVS_METHOD_ROUTE || p->t.family != LVS_AF_INET))
		return -1;
	if (method == LVS_METHOD_TUNNEL) {
		if (r->tun_type != LVS_TUN_IPIP)
			return -1;
		oh = rfamily == LVS_AF_INET6 ? sizeof(struct lvs_ipv6hdr) : sizeof(struct lvs_iphdr);
	} else if (rfamily != p->t.family || (method != LVS_METHOD_MASQ && method != LVS_METHOD_ROUTE)) {
		return -1;
	}
	if (lvs_route_at(ctx, iif, &sc->fib, rfamily, src, dst, method == LVS_METHOD_TUNNEL, fc, now, &sc->rt) ||
	    !sc->rt.neigh)
		return -1;
	if (sc->rt.mtu && p->ip_len + oh > sc->rt.mtu)
		return -1;
	if (!native)
		return 0;
	return bpf_map_lookup_elem(&lvs_xdp_tx, &sc->rt.oif) ? 1 : -1;
}

/* lvs_xdp_send sends the frame along rt (lvs_xdp_route's answer). */
static __always_inline int lvs_xdp_send(struct xdp_md *ctx, const struct lvs_route *rt, int native)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct lvs_ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	__builtin_memcpy(eth->dst, rt->dmac, 6);
	__builtin_memcpy(eth->src, rt->smac, 6);
	lvs_count(LVS_CNT_XDP_FWD);
	if (native)
		return bpf_redirect_map(&lvs_xdp_tx, rt->oif, 0);
	return bpf_redirect(rt->oif, 0);
}

#endif /* LVS_XDP_H */
