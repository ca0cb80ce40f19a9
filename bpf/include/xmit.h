/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * xmit.h rewrites a packet for its forwarding method (ip_vs_xmit.c) and
 * sends it out of the link the FIB names, addressed to the next hop's MAC.
 */
#ifndef LVS_XMIT_H
#define LVS_XMIT_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include "csum.h"
#include "parse.h"
#include "stats.h"

#define LVS_AF_INET_FIB 2

/* Which end of the packet lvs_nat_rewrite changes. */
enum {
	LVS_NAT_DST = 0, /* client -> real: DNAT to RIP:rport */
	LVS_NAT_SRC = 1, /* real -> client: source back to VIP:vport */
};

/*
 * lvs_nat_rewrite replaces one address:port of the packet, decrements the
 * TTL and fixes the IP and L4 checksums. Returns 0 or -1 (drop).
 */
static __always_inline int lvs_nat_rewrite(struct __sk_buff *skb, const struct lvs_pkt *p, int which,
					   __be32 addr, __be16 port)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct lvs_iphdr *ip = data + LVS_ETH_HLEN;
	__u32 l4 = p->l4_off & 0x7f, csum_off;
	__be32 old_addr;
	__be16 old_port, *portp;
	__u16 old_ttl;
	__u64 s;
	__u64 m = p->t.proto == LVS_IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;

	if ((void *)(ip + 1) > end)
		return -1;
	if (p->t.proto == LVS_IPPROTO_TCP) {
		struct lvs_tcphdr *th = data + l4;

		if ((void *)(th + 1) > end)
			return -1;
		portp = which == LVS_NAT_DST ? &th->dest : &th->source;
		csum_off = l4 + 16;
	} else {
		struct lvs_udphdr *uh = data + l4;

		if ((void *)(uh + 1) > end)
			return -1;
		portp = which == LVS_NAT_DST ? &uh->dest : &uh->source;
		csum_off = l4 + 6;
	}
	old_port = *portp;
	*portp = port;

	old_addr = which == LVS_NAT_DST ? ip->daddr : ip->saddr;
	old_ttl = *(__u16 *)&ip->ttl;
	if (which == LVS_NAT_DST)
		ip->daddr = addr;
	else
		ip->saddr = addr;
	ip->ttl--;
	s = lvs_csum_start(ip->check);
	s = lvs_csum_add32(s, old_addr, addr);
	s = lvs_csum_add16(s, old_ttl, *(__u16 *)&ip->ttl);
	ip->check = lvs_csum_finish(s);

	/* L4: the address is in the pseudo-header; the port is not. */
	if (old_addr != addr &&
	    bpf_l4_csum_replace(skb, csum_off, old_addr, addr, BPF_F_PSEUDO_HDR | m | sizeof(addr)))
		return -1;
	if (old_port != port && bpf_l4_csum_replace(skb, csum_off, old_port, port, m | sizeof(port)))
		return -1;
	return 0;
}

/* lvs_dr_rewrite decrements the TTL: DR leaves the IP packet as it is. */
static __always_inline int lvs_dr_rewrite(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct lvs_iphdr *ip = data + LVS_ETH_HLEN;
	__u16 old_ttl;
	__u64 s;

	if ((void *)(ip + 1) > end)
		return -1;
	old_ttl = *(__u16 *)&ip->ttl;
	ip->ttl--;
	s = lvs_csum_start(ip->check);
	s = lvs_csum_add16(s, old_ttl, *(__u16 *)&ip->ttl);
	ip->check = lvs_csum_finish(s);
	return 0;
}

/*
 * lvs_fib_cached sends the packet with a still valid cached FIB answer fc.
 * Returns -1 when there is none, or when the packet may exceed the egress
 * MTU (the full lookup then decides, GSO aware, as it always did).
 */
static __always_inline int lvs_fib_cached(struct __sk_buff *skb, const struct lvs_fib_cache *fc,
					  __u64 now)
{
	struct lvs_ethhdr *eth;
	void *data, *end;

	if (!fc || now >= fc->expires_ns || fc->iif != skb->ifindex)
		return -1;
	/* is_skb_forwardable allows mtu + hard_header_len + VLAN_HLEN; 4
	 * here is below that for every link with a MAC header. */
	if (skb->len > fc->mtu + 4 && !skb->gso_size)
		return -1;
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	eth = data;
	if ((void *)(eth + 1) > end)
		return -1;
	__builtin_memcpy(eth->dst, fc->dmac, 6);
	__builtin_memcpy(eth->src, fc->smac, 6);
	lvs_count(LVS_CNT_FWD_REDIRECT);
	return bpf_redirect(fc->oif, 0);
}

/*
 * lvs_forward sends the rewritten packet toward dst. With a FIB answer and a
 * resolved neighbour it sets both MACs and redirects; without a neighbour
 * entry bpf_redirect_neigh resolves it. With no FIB answer a NAT packet goes
 * to the kernel, which routes it like any forwarded packet (the director
 * runs with ip_forward=1 for NAT anyway); a DR packet still addressed to
 * the VIP would only be delivered locally, so it is dropped.
 *
 * The lookup is the forwarding kind (the ingress link as iif), so the
 * ingress link must have forwarding enabled, for DR too.
 *
 * fc, when not NULL, is the connection's cache for this direction: a valid
 * entry replaces the lookup, and a successful lookup refills it. Two CPUs
 * may refill one entry at once; both write the same answer unless the
 * neighbour changed in between, when one packet may leave with a mix.
 */
static __always_inline int lvs_forward(struct __sk_buff *skb, __be32 src, __be32 dst, __u8 proto,
				       int dr, struct lvs_fib_cache *fc, __u64 now)
{
	struct bpf_fib_lookup f = {};
	struct bpf_redir_neigh nh = {};
	struct lvs_ethhdr *eth;
	void *data, *end;
	long rc;

	rc = lvs_fib_cached(skb, fc, now);
	if (rc >= 0)
		return rc;
	f.family = LVS_AF_INET_FIB;
	f.l4_protocol = proto;
	f.tot_len = 0; /* 0: the kernel checks the MTU against the skb, GSO aware */
	f.ifindex = skb->ifindex;
	f.ipv4_src = src;
	f.ipv4_dst = dst;
	rc = bpf_fib_lookup(skb, &f, sizeof(f), 0);
	if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
		eth = data;
		if ((void *)(eth + 1) > end)
			return TC_ACT_SHOT;
		__builtin_memcpy(eth->dst, f.dmac, 6);
		__builtin_memcpy(eth->src, f.smac, 6);
		if (fc) {
			fc->iif = skb->ifindex;
			fc->oif = f.ifindex;
			fc->mtu = f.mtu_result; /* set when tot_len was 0 */
			__builtin_memcpy(fc->dmac, f.dmac, 6);
			__builtin_memcpy(fc->smac, f.smac, 6);
			fc->expires_ns = now + LVS_FIB_CACHE_MS * 1000000ULL;
		}
		lvs_count(LVS_CNT_FWD_REDIRECT);
		return bpf_redirect(f.ifindex, 0);
	}
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		nh.nh_family = LVS_AF_INET_FIB;
		/* DR: the real is on-link by definition, so it is the next hop. */
		nh.ipv4_nh = dr ? dst : f.ipv4_dst;
		lvs_count(LVS_CNT_FWD_NEIGH);
		return bpf_redirect_neigh(f.ifindex, &nh, sizeof(nh), 0);
	}
	if (dr) {
		lvs_count(LVS_CNT_DROP_FIB);
		return TC_ACT_SHOT;
	}
	lvs_count(LVS_CNT_PASS_FIB);
	return TC_ACT_OK;
}

#endif /* LVS_XMIT_H */
