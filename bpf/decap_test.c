// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
/*
 * decap_test.c is a test-only object: a stand-in for an LVS-TUN director
 * that the end-to-end tests of lvsrs attach to a sender's egress
 * (internal/datapath/decap/decaptest). It is not part of lvsrs or lvsd.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "decap_abi.h"
#include "csum.h"
#include "hdr.h"

char _license[] SEC("license") = "Dual MIT/GPL";

/*
 * struct decap_test_tunnel configures decap_test_encap, the director
 * stand-in that the end-to-end tests attach to a sender's egress: packets
 * to vip are wrapped in a tunnel of one kind from saddr to daddr.
 */
struct decap_test_tunnel {
	struct decap_vip_key vip;
	__u8 saddr[16];
	__u8 daddr[16];
	__u8 family; /* outer: enum decap_family */
	__u8 kind;   /* one enum decap_tunnel bit */
	__be16 port; /* GUE: destination port */
	__u32 pad;
};
_Static_assert(sizeof(struct decap_test_tunnel) == 60, "decap_test_tunnel layout");

/* decap_test_abi_info names the enum the Go side of this object uses, so
 * that it reaches BTF and bpf2go generates it. */
const volatile struct {
	enum decap_family family;
} decap_test_abi_info;

/* decap_test_tunnels configures decap_test_encap. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct decap_test_tunnel);
} decap_test_tunnels SEC(".maps");

/* decap_same compares words 32-bit words of two addresses. */
static __always_inline int decap_same(const void *a, const void *b, int words)
{
	__u32 x, y;

#pragma unroll
	for (int i = 0; i < 4; i++) {
		if (i >= words)
			break;
		__builtin_memcpy(&x, (const __u8 *)a + 4 * i, 4);
		__builtin_memcpy(&y, (const __u8 *)b + 4 * i, 4);
		if (x != y)
			return 0;
	}
	return 1;
}

/*
 * decap_test_encap stands in for a director in the end-to-end tests: on
 * the egress of a sender's link it wraps every packet to the configured
 * VIP in the configured tunnel, the way ip_vs_tunnel_xmit does (outer TTL,
 * DSCP and ECN from the inner header; UDP checksum 0; GRE without options),
 * through bpf_skb_adjust_room's encapsulation flags so that GSO packets
 * stay GSO.
 */
SEC("tc")
int decap_test_encap(struct __sk_buff *skb)
{
	struct decap_test_tunnel *t;
	__u32 zero = 0, ilen, hlen, tlen;
	__u8 hdr[40 + 12] = {};
	__u8 ifam, ttl, tos, iproto;
	__u64 flags;
	__be16 proto;

	t = bpf_map_lookup_elem(&decap_test_tunnels, &zero);
	if (!t || !t->kind)
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, 12, &proto, sizeof(proto)))
		return TC_ACT_OK;
	if (proto == bpf_htons(LVS_ETH_P_IP)) {
		struct lvs_iphdr ip;

		if (bpf_skb_load_bytes(skb, LVS_ETH_HLEN, &ip, sizeof(ip)))
			return TC_ACT_OK;
		if (t->vip.family != DECAP_AF_INET || !decap_same(&ip.daddr, t->vip.addr, 1))
			return TC_ACT_OK;
		ifam = DECAP_AF_INET;
		ttl = ip.ttl;
		tos = ip.tos;
	} else if (proto == bpf_htons(LVS_ETH_P_IPV6)) {
		struct lvs_ipv6hdr ip;

		if (bpf_skb_load_bytes(skb, LVS_ETH_HLEN, &ip, sizeof(ip)))
			return TC_ACT_OK;
		if (t->vip.family != DECAP_AF_INET6 || !decap_same(&ip.daddr, t->vip.addr, 4))
			return TC_ACT_OK;
		ifam = DECAP_AF_INET6;
		ttl = ip.hop_limit;
		tos = bpf_ntohl(ip.ver_tc_flow) >> 20;
	} else {
		return TC_ACT_OK;
	}
	if ((tos & 3) == LVS_ECN_CE)
		tos = (tos & ~3) | 2; /* INET_ECN_encapsulate: CE outside is ECT(0) */
	ilen = skb->len - LVS_ETH_HLEN;
	iproto = ifam == DECAP_AF_INET ? LVS_IPPROTO_IPIP : LVS_IPPROTO_IPV6;
	hlen = t->family == DECAP_AF_INET ? 20 : 40;
	flags = t->family == DECAP_AF_INET ? BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 : BPF_F_ADJ_ROOM_ENCAP_L3_IPV6;
	switch (t->kind) {
	case DECAP_TUN_GUE:
		tlen = 12;
		flags |= BPF_F_ADJ_ROOM_ENCAP_L4_UDP;
		break;
	case DECAP_TUN_GRE:
		tlen = 4;
		flags |= BPF_F_ADJ_ROOM_ENCAP_L4_GRE;
		break;
	default:
		tlen = 0;
	}
	if (ilen + hlen + tlen > 0xffff + (t->family == DECAP_AF_INET6 ? 40 : 0))
		return TC_ACT_SHOT;

	if (t->family == DECAP_AF_INET) {
		struct lvs_iphdr *o = (void *)hdr;
		__s64 s;

		o->ver_ihl = 0x45;
		o->tos = tos;
		o->tot_len = bpf_htons(ilen + hlen + tlen);
		o->ttl = ttl;
		o->protocol = t->kind == DECAP_TUN_GUE ? LVS_IPPROTO_UDP : t->kind == DECAP_TUN_GRE ? LVS_IPPROTO_GRE : iproto;
		__builtin_memcpy(&o->saddr, t->saddr, 4);
		__builtin_memcpy(&o->daddr, t->daddr, 4);
		s = bpf_csum_diff(0, 0, (__be32 *)o, 20, 0);
		if (s < 0)
			return TC_ACT_SHOT;
		o->check = ~lvs_csum_fold(s);
	} else {
		struct lvs_ipv6hdr *o = (void *)hdr;

		o->ver_tc_flow = bpf_htonl(0x60000000 | (__u32)tos << 20);
		o->payload_len = bpf_htons(ilen + tlen);
		o->nexthdr = t->kind == DECAP_TUN_GUE ? LVS_IPPROTO_UDP : t->kind == DECAP_TUN_GRE ? LVS_IPPROTO_GRE : iproto;
		o->hop_limit = ttl;
		__builtin_memcpy(&o->saddr, t->saddr, 16);
		__builtin_memcpy(&o->daddr, t->daddr, 16);
	}
	if (t->kind == DECAP_TUN_GUE) {
		struct lvs_udphdr *u = (void *)(hdr + hlen);
		struct lvs_guehdr *g = (void *)(hdr + hlen + 8);

		u->source = bpf_htons(49152 | (skb->hash & 0x3fff));
		u->dest = t->port;
		u->len = bpf_htons(ilen + tlen);
		g->proto_ctype = iproto;
	} else if (t->kind == DECAP_TUN_GRE) {
		struct lvs_grehdr *g = (void *)(hdr + hlen);

		g->proto = bpf_htons(ifam == DECAP_AF_INET ? LVS_ETH_P_IP : LVS_ETH_P_IPV6);
	}

	if (bpf_skb_adjust_room(skb, hlen + tlen, BPF_ADJ_ROOM_MAC, flags))
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, LVS_ETH_HLEN, hdr, hlen + tlen > sizeof(hdr) ? sizeof(hdr) : hlen + tlen, 0))
		return TC_ACT_SHOT;
	if (t->family != ifam) {
		proto = bpf_htons(t->family == DECAP_AF_INET ? LVS_ETH_P_IP : LVS_ETH_P_IPV6);
		if (bpf_skb_store_bytes(skb, 12, &proto, sizeof(proto), 0))
			return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}
