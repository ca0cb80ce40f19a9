// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
/*
 * decap.c is the real server's end of LVS-TUN, on TC ingress of its links:
 * it unwraps what a director sends with ip_vs_tunnel_xmit (and golvs's
 * lvsd with -i) so that the kernel sees the client's own packet, on kernels
 * without the ipip, fou or ip_gre modules.
 *
 * It unwraps, when the inner destination is a VIP of decap_vips:
 *   - IP-in-IP: IPv4 in IPv4 (proto 4), IPv6 in IPv6 (nexthdr 41), and the
 *     mixed 4in6 (nexthdr 4) and 6in4 (proto 41) that IPVS sends when the
 *     real's family differs from the service's;
 *   - GUE (ipvs_gue_encap): outer UDP to a port of decap_gue_ports, a
 *     version 0 header with proto_ctype 4 or 41 and the private REMCSUM
 *     option, or version 1 (the inner IP packet right after UDP);
 *   - GRE (ipvs_gre_encap): version 0, protocol 0x0800 or 0x86DD, with
 *     the optional checksum (and key and sequence number, which IPVS never
 *     sends but cost nothing to skip).
 *
 * What counts as "for this host": the frame is addressed to this link's MAC
 * (PACKET_HOST), the inner destination is a VIP and the outer destination
 * is not one. The outer destination is not compared with the host's own
 * addresses: those change (DHCP, SLAAC) without lvsrs hearing of it, and a
 * frame sent to our MAC with a tunnel to our VIP has no other consumer here.
 *
 * After bpf_skb_adjust_room has removed the outer headers the program
 * returns TC_ACT_UNSPEC: with TCX and with cls_bpf alike that means "no
 * verdict, go on", so the inner packet goes through any later TC program
 * (lvsd's, a firewall's) and then up the stack as if it had arrived on this
 * link; with no other program it is exactly TC_ACT_OK. Everything that is
 * not a tunnel to a VIP gets the same verdict untouched, so the program
 * never hides traffic from another TC program. It drops only tunnel
 * packets to a VIP that cannot be delivered (counted DROP_*).
 *
 * Outer checksums (GRE's, GUE's UDP one) are not verified: the inner
 * TCP/UDP checksum, which the kernel verifies after decapsulation, covers
 * the payload end to end, and a local sender's CHECKSUM_PARTIAL packets
 * carry no complete outer checksum that BPF could tell apart. The one
 * exception is GUE's remote checksum offload, where the inner checksum is
 * computed here from the data: there the outer UDP checksum is the only
 * integrity check, so it is verified first, as fou's udp receive path would.
 *
 * Kernel: bpf_skb_adjust_room with BPF_ADJ_ROOM_MAC (5.2); the
 * DECAP_L3 flags that make 4in6 and 6in4 possible need 6.3, older
 * kernels refuse those packets (DROP_ADJUST); bpf_loop (5.17) for the
 * remote checksum.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "decap_abi.h"
#include "csum.h"
#include "hdr.h"

char _license[] SEC("license") = "Dual MIT/GPL";

/* decap_abi_info names every enum of decap_abi.h so that they reach BTF
 * and bpf2go generates them as Go constants. */
const volatile struct {
	enum decap_abi version;
	enum decap_family family;
	enum decap_tunnel tunnel;
	enum decap_counter counter;
} decap_abi_info = {.version = DECAP_ABI_VERSION};

/* Not in the uapi headers a BPF build has on older distributions. */
#define DECAP_F_ADJ_ROOM_DECAP_L3_IPV4 (1ULL << 7)
#define DECAP_F_ADJ_ROOM_DECAP_L3_IPV6 (1ULL << 8)

/* skb->pkt_type of a frame addressed to this link's MAC. */
#define DECAP_PACKET_HOST 0

/* The largest chunk one bpf_csum_diff call sums (its limit is 512). */
#define DECAP_CHUNK 256

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DECAP_MAX_VIPS);
	__type(key, struct decap_vip_key);
	__type(value, __u32); /* reserved, 0 */
} decap_vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DECAP_MAX_PORTS);
	__type(key, __be16);
	__type(value, __u32); /* reserved, 0 */
} decap_gue_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct decap_config);
} decap_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DECAP_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} decap_counters SEC(".maps");

/* decap_scratch holds one chunk of packet for the checksum sums. */
struct decap_chunk {
	union {
		__u8 b[DECAP_CHUNK];
		__u64 w[DECAP_CHUNK / 8]; /* so that clearing it takes 8-byte stores */
	};
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct decap_chunk);
} decap_scratch SEC(".maps");

/* struct decap_pkt is what parsing learnt about a tunnel packet. Offsets
 * are from the start of the frame. */
struct decap_pkt {
	__u32 outer_end; /* just past the outer IP packet (before any padding) */
	__u32 l4_off;    /* the outer IP payload */
	__u32 inner_off; /* the inner IP header */
	__u32 inner_len; /* the inner IP packet's length */
	__u32 udp_len;   /* GUE: the UDP length */
	__u8 outer_family;
	__u8 inner_family;
	__u8 outer_ecn;
	__u8 inner_ecn;
	__u8 proto;  /* outer protocol / next header */
	__u8 kind;   /* enum decap_tunnel */
	__u8 frag;   /* outer IPv4 fragment */
	__u8 remcsum; /* GUE remote checksum option present */
	__be16 rc_start;  /* GUE remote checksum: start, from the inner header */
	__be16 rc_offset; /* GUE remote checksum: where the checksum goes */
	__sum16 udp_check;
	__u8 pad[2];
	struct decap_vip_key outer_src;
	struct decap_vip_key outer_dst;
	struct decap_vip_key inner_dst;
};

/* Parsing results besides a counter: go on. */
#define DECAP_GO_ON (-1)

static __always_inline void decap_count(__u32 c)
{
	__u64 *v = bpf_map_lookup_elem(&decap_counters, &c);

	if (v)
		*v += 1; /* per-CPU: no atomics needed */
}

/* decap_is_gso tells a GSO skb (a GRO aggregate, or a local sender's big
 * packet over veth): its lengths may be 0 (BIG TCP) and its checksums are
 * validated or left partial by the kernel. */
static __always_inline int decap_is_gso(struct __sk_buff *skb)
{
	return skb->gso_size != 0;
}

/* decap_outer4 parses an outer IPv4 header. */
static __always_inline int decap_outer4(struct __sk_buff *skb, struct decap_pkt *p)
{
	struct lvs_iphdr ip;
	__u32 ihl, tot;

	if (bpf_skb_load_bytes(skb, LVS_ETH_HLEN, &ip, sizeof(ip)))
		return DECAP_CNT_PASS_MALFORMED;
	if ((ip.ver_ihl >> 4) != 4)
		return DECAP_CNT_PASS_MALFORMED;
	p->proto = ip.protocol;
	if (p->proto != LVS_IPPROTO_IPIP && p->proto != LVS_IPPROTO_IPV6 &&
	    p->proto != LVS_IPPROTO_GRE && p->proto != LVS_IPPROTO_UDP)
		return DECAP_CNT_PASS_NOT_TUNNEL;
	ihl = (ip.ver_ihl & 0xf) * 4;
	tot = bpf_ntohs(ip.tot_len);
	if (tot == 0 && decap_is_gso(skb))
		tot = skb->len - LVS_ETH_HLEN;
	if (ihl < sizeof(ip) || tot < ihl || tot > skb->len - LVS_ETH_HLEN)
		return DECAP_CNT_PASS_MALFORMED;
	p->outer_family = DECAP_AF_INET;
	p->outer_ecn = ip.tos & 3;
	p->l4_off = LVS_ETH_HLEN + ihl;
	p->outer_end = LVS_ETH_HLEN + tot;
	if (ip.frag_off & bpf_htons((LVS_IP_MF | LVS_IP_OFFMASK)))
		p->frag = (ip.frag_off & bpf_htons(LVS_IP_OFFMASK)) ? 2 : 1; /* 1: first */
	p->outer_src.family = DECAP_AF_INET;
	__builtin_memcpy(p->outer_src.addr, &ip.saddr, 4);
	p->outer_dst.family = DECAP_AF_INET;
	__builtin_memcpy(p->outer_dst.addr, &ip.daddr, 4);
	return DECAP_GO_ON;
}

/* decap_check4 verifies the outer IPv4 header checksum, which the kernel
 * would verify (ip_rcv) before anything else looked at the packet. */
static __always_inline int decap_check4(struct __sk_buff *skb, struct decap_pkt *p)
{
	__u32 hdr[15];
	__u32 ihl = p->l4_off - LVS_ETH_HLEN;
	__s64 s;

	if (ihl < 20 || ihl > sizeof(hdr))
		return DECAP_CNT_PASS_MALFORMED;
	if (bpf_skb_load_bytes(skb, LVS_ETH_HLEN, hdr, ihl))
		return DECAP_CNT_PASS_MALFORMED;
	s = bpf_csum_diff(0, 0, hdr, ihl, 0);
	if (s < 0 || lvs_csum_fold(s) != 0xffff)
		return DECAP_CNT_PASS_MALFORMED;
	return DECAP_GO_ON;
}

/* decap_outer6 parses an outer IPv6 header. Extension headers (IPVS adds
 * none) are left to the kernel. */
static __always_inline int decap_outer6(struct __sk_buff *skb, struct decap_pkt *p)
{
	struct lvs_ipv6hdr ip;
	__u32 plen;

	if (bpf_skb_load_bytes(skb, LVS_ETH_HLEN, &ip, sizeof(ip)))
		return DECAP_CNT_PASS_MALFORMED;
	if ((bpf_ntohl(ip.ver_tc_flow) >> 28) != 6)
		return DECAP_CNT_PASS_MALFORMED;
	p->proto = ip.nexthdr;
	if (p->proto != LVS_IPPROTO_IPIP && p->proto != LVS_IPPROTO_IPV6 &&
	    p->proto != LVS_IPPROTO_GRE && p->proto != LVS_IPPROTO_UDP)
		return DECAP_CNT_PASS_NOT_TUNNEL;
	plen = bpf_ntohs(ip.payload_len);
	if (plen == 0 && decap_is_gso(skb))
		plen = skb->len - LVS_ETH_HLEN - sizeof(ip);
	if (LVS_ETH_HLEN + sizeof(ip) + plen > skb->len)
		return DECAP_CNT_PASS_MALFORMED;
	p->outer_family = DECAP_AF_INET6;
	p->outer_ecn = (bpf_ntohl(ip.ver_tc_flow) >> 20) & 3;
	p->l4_off = LVS_ETH_HLEN + sizeof(ip);
	p->outer_end = p->l4_off + plen;
	p->outer_src.family = DECAP_AF_INET6;
	__builtin_memcpy(p->outer_src.addr, &ip.saddr, 16);
	p->outer_dst.family = DECAP_AF_INET6;
	__builtin_memcpy(p->outer_dst.addr, &ip.daddr, 16);
	return DECAP_GO_ON;
}

/* decap_gre parses a GRE header as ipvs_gre_encap (gre_build_header) makes it. */
static __always_inline int decap_gre(struct __sk_buff *skb, struct decap_pkt *p)
{
	struct lvs_grehdr g;
	__u16 flags;
	__u32 hlen = sizeof(g);

	if (p->l4_off + sizeof(g) > p->outer_end)
		return DECAP_CNT_PASS_MALFORMED;
	if (bpf_skb_load_bytes(skb, p->l4_off, &g, sizeof(g)))
		return DECAP_CNT_PASS_MALFORMED;
	flags = bpf_ntohs(g.flags);
	/* Any other bit (routing, strict source route, recursion, version) is
	 * not IPVS's GRE. */
	if (flags & ~(LVS_GRE_CSUM | LVS_GRE_KEY | LVS_GRE_SEQ))
		return DECAP_CNT_PASS_UNSUPPORTED;
	if (flags & LVS_GRE_CSUM)
		hlen += 4; /* checksum and reserved1 */
	if (flags & LVS_GRE_KEY)
		hlen += 4;
	if (flags & LVS_GRE_SEQ)
		hlen += 4;
	switch (bpf_ntohs(g.proto)) {
	case LVS_ETH_P_IP:
		p->inner_family = DECAP_AF_INET;
		break;
	case LVS_ETH_P_IPV6:
		p->inner_family = DECAP_AF_INET6;
		break;
	default:
		return DECAP_CNT_PASS_UNSUPPORTED;
	}
	p->inner_off = p->l4_off + hlen;
	return DECAP_GO_ON;
}

/* decap_gue parses the GUE header after the UDP header at l4_off, as
 * ipvs_gue_encap makes it and fou's gue_udp_recv reads it. */
static __always_inline int decap_gue(struct __sk_buff *skb, struct decap_pkt *p)
{
	struct lvs_guehdr g;
	__u32 opt, off = p->l4_off + sizeof(struct lvs_udphdr);
	__u8 ver;

	if (p->udp_len < sizeof(struct lvs_udphdr) + sizeof(g) || p->l4_off + p->udp_len > p->outer_end)
		return DECAP_CNT_PASS_MALFORMED;
	if (bpf_skb_load_bytes(skb, off, &g, sizeof(g)))
		return DECAP_CNT_PASS_MALFORMED;
	ver = g.ver_c_hlen >> 6;
	if (ver == 1) {
		/* Version 1: no GUE header, the IP packet follows UDP; its
		 * version nibble is the first two bits' "01". */
		p->inner_family = (g.ver_c_hlen >> 4) == 4 ? DECAP_AF_INET :
				  (g.ver_c_hlen >> 4) == 6 ? DECAP_AF_INET6 : 0;
		if (!p->inner_family)
			return DECAP_CNT_PASS_UNSUPPORTED;
		p->inner_off = off;
		return DECAP_GO_ON;
	}
	if (ver != 0 || (g.ver_c_hlen & LVS_GUE_CONTROL))
		return DECAP_CNT_PASS_UNSUPPORTED;
	opt = (g.ver_c_hlen & LVS_GUE_HLEN_MASK) * 4;
	if (sizeof(struct lvs_udphdr) + sizeof(g) + opt > p->udp_len)
		return DECAP_CNT_PASS_MALFORMED;
	/* fou refuses flags it does not know (validate_gue_flags). */
	if (g.flags & ~bpf_htons(LVS_GUE_FLAG_PRIV))
		return DECAP_CNT_PASS_UNSUPPORTED;
	if (g.flags & bpf_htons(LVS_GUE_FLAG_PRIV)) {
		__be32 priv;

		if (opt < 4)
			return DECAP_CNT_PASS_MALFORMED;
		if (bpf_skb_load_bytes(skb, off + sizeof(g), &priv, sizeof(priv)))
			return DECAP_CNT_PASS_MALFORMED;
		if (priv & ~bpf_htonl(LVS_GUE_PFLAG_REMCSUM))
			return DECAP_CNT_PASS_UNSUPPORTED;
		if (priv & bpf_htonl(LVS_GUE_PFLAG_REMCSUM)) {
			__be16 rc[2];

			if (opt < 8)
				return DECAP_CNT_PASS_MALFORMED;
			if (bpf_skb_load_bytes(skb, off + sizeof(g) + 4, rc, sizeof(rc)))
				return DECAP_CNT_PASS_MALFORMED;
			p->remcsum = 1;
			p->rc_start = rc[0];
			p->rc_offset = rc[1];
		}
	}
	switch (g.proto_ctype) {
	case LVS_IPPROTO_IPIP:
		p->inner_family = DECAP_AF_INET;
		break;
	case LVS_IPPROTO_IPV6:
		p->inner_family = DECAP_AF_INET6;
		break;
	default:
		return DECAP_CNT_PASS_UNSUPPORTED;
	}
	p->inner_off = off + sizeof(g) + opt;
	return DECAP_GO_ON;
}

/* decap_inner parses the inner IP header: its family must be the one the
 * tunnel header announced, its lengths must fit the outer packet. */
static __always_inline int decap_inner(struct __sk_buff *skb, struct decap_pkt *p)
{
	__u32 room;

	if (p->inner_off >= p->outer_end)
		return DECAP_CNT_PASS_MALFORMED;
	room = p->outer_end - p->inner_off;
	if (p->inner_family == DECAP_AF_INET) {
		struct lvs_iphdr ip;
		__u32 ihl, tot;

		if (room < sizeof(ip) || bpf_skb_load_bytes(skb, p->inner_off, &ip, sizeof(ip)))
			return DECAP_CNT_PASS_MALFORMED;
		if ((ip.ver_ihl >> 4) != 4)
			return DECAP_CNT_PASS_MALFORMED;
		ihl = (ip.ver_ihl & 0xf) * 4;
		tot = bpf_ntohs(ip.tot_len);
		if (tot == 0 && decap_is_gso(skb))
			tot = room;
		if (ihl < sizeof(ip) || tot < ihl || tot > room)
			return DECAP_CNT_PASS_MALFORMED;
		p->inner_len = tot;
		p->inner_ecn = ip.tos & 3;
		p->inner_dst.family = DECAP_AF_INET;
		__builtin_memcpy(p->inner_dst.addr, &ip.daddr, 4);
		return DECAP_GO_ON;
	}
	{
		struct lvs_ipv6hdr ip;
		__u32 plen;

		if (room < sizeof(ip) || bpf_skb_load_bytes(skb, p->inner_off, &ip, sizeof(ip)))
			return DECAP_CNT_PASS_MALFORMED;
		if ((bpf_ntohl(ip.ver_tc_flow) >> 28) != 6)
			return DECAP_CNT_PASS_MALFORMED;
		plen = bpf_ntohs(ip.payload_len);
		if (plen == 0 && decap_is_gso(skb))
			plen = room - sizeof(ip);
		if (sizeof(ip) + plen > room)
			return DECAP_CNT_PASS_MALFORMED;
		p->inner_len = sizeof(ip) + plen;
		p->inner_ecn = (bpf_ntohl(ip.ver_tc_flow) >> 20) & 3;
		p->inner_dst.family = DECAP_AF_INET6;
		__builtin_memcpy(p->inner_dst.addr, &ip.daddr, 16);
		return DECAP_GO_ON;
	}
}

/* decap_parse fills p for a tunnel packet this program should unwrap, or
 * returns the counter that says why not. */
static __always_inline int decap_parse(struct __sk_buff *skb, struct decap_pkt *p)
{
	struct decap_config *cfg;
	__u32 zero = 0;
	__be16 proto;
	int r;

	if (bpf_skb_load_bytes(skb, 12, &proto, sizeof(proto)))
		return DECAP_CNT_PASS_NOT_IP;
	if (proto == bpf_htons(LVS_ETH_P_IP))
		r = decap_outer4(skb, p);
	else if (proto == bpf_htons(LVS_ETH_P_IPV6))
		r = decap_outer6(skb, p);
	else
		return DECAP_CNT_PASS_NOT_IP;
	if (r != DECAP_GO_ON)
		return r;

	switch (p->proto) {
	case LVS_IPPROTO_IPIP:
		p->kind = DECAP_TUN_IPIP;
		p->inner_family = DECAP_AF_INET;
		p->inner_off = p->l4_off;
		break;
	case LVS_IPPROTO_IPV6:
		p->kind = DECAP_TUN_IPIP;
		p->inner_family = DECAP_AF_INET6;
		p->inner_off = p->l4_off;
		break;
	case LVS_IPPROTO_GRE:
		p->kind = DECAP_TUN_GRE;
		break;
	default: {
		struct lvs_udphdr u;

		/* A later fragment has no UDP header to say which port. */
		if (p->frag == 2)
			return DECAP_CNT_PASS_NOT_TUNNEL;
		if (p->l4_off + sizeof(u) > p->outer_end || bpf_skb_load_bytes(skb, p->l4_off, &u, sizeof(u)))
			return DECAP_CNT_PASS_NOT_TUNNEL;
		if (!bpf_map_lookup_elem(&decap_gue_ports, &u.dest))
			return DECAP_CNT_PASS_NOT_TUNNEL;
		p->kind = DECAP_TUN_GUE;
		p->udp_len = bpf_ntohs(u.len);
		if (p->udp_len == 0 && decap_is_gso(skb))
			p->udp_len = p->outer_end - p->l4_off;
		p->udp_check = u.check;
	}
	}
	/* The kernel reassembles fragments only after TC; with no tunnel
	 * module it then has nothing to hand the whole packet to. */
	if (p->frag)
		return DECAP_CNT_PASS_FRAGMENT;
	if (p->outer_family == DECAP_AF_INET) {
		r = decap_check4(skb, p);
		if (r != DECAP_GO_ON)
			return r;
	}
	if (p->kind == DECAP_TUN_GRE)
		r = decap_gre(skb, p);
	else if (p->kind == DECAP_TUN_GUE)
		r = decap_gue(skb, p);
	if (r != DECAP_GO_ON)
		return r;
	r = decap_inner(skb, p);
	if (r != DECAP_GO_ON)
		return r;
	if (!bpf_map_lookup_elem(&decap_vips, &p->inner_dst))
		return DECAP_CNT_PASS_NOT_VIP;
	/* Only now, so that the counter means "a director sends a kind of
	 * tunnel that is not enabled", not "this host sees someone's GRE". */
	cfg = bpf_map_lookup_elem(&decap_cfg, &zero);
	if (!cfg || !(cfg->tunnels & p->kind))
		return DECAP_CNT_PASS_TUNNEL_OFF;
	if (skb->pkt_type != DECAP_PACKET_HOST)
		return DECAP_CNT_PASS_NOT_HOST;
	if (bpf_map_lookup_elem(&decap_vips, &p->outer_dst))
		return DECAP_CNT_PASS_OUTER_VIP;
	return DECAP_GO_ON;
}

struct decap_sum_ctx {
	struct __sk_buff *skb;
	__u32 off;
	__u32 end;
	__u32 sum;
	__u32 err;
};

/* decap_sum_chunk adds the next chunk of [off, end) to the sum; a short
 * last chunk is padded with zeros, which adds nothing. */
static long decap_sum_chunk(__u32 i, void *data)
{
	struct decap_sum_ctx *c = data;
	struct decap_chunk *buf;
	__u32 zero = 0, n, padded;
	__s64 s;

	if (c->off >= c->end)
		return 1;
	buf = bpf_map_lookup_elem(&decap_scratch, &zero);
	if (!buf) {
		c->err = 1;
		return 1;
	}
	n = c->end - c->off;
	if (n >= DECAP_CHUNK) {
		if (bpf_skb_load_bytes(c->skb, c->off, buf->b, DECAP_CHUNK)) {
			c->err = 1;
			return 1;
		}
		s = bpf_csum_diff(0, 0, (__be32 *)buf->b, DECAP_CHUNK, c->sum);
		c->off += DECAP_CHUNK;
	} else {
		/* n is 1..255 here; the mask and the +1 let the verifier see it. */
		n = ((n - 1) & (DECAP_CHUNK - 1)) + 1;
		__builtin_memset(buf, 0, sizeof(*buf));
		if (bpf_skb_load_bytes(c->skb, c->off, buf->b, n)) {
			c->err = 1;
			return 1;
		}
		padded = (n + 3) & ~3U;
		if (padded > DECAP_CHUNK)
			padded = DECAP_CHUNK;
		s = bpf_csum_diff(0, 0, (__be32 *)buf->b, padded, c->sum);
		c->off = c->end;
	}
	if (s < 0) {
		c->err = 1;
		return 1;
	}
	c->sum = (__u32)s;
	return 0;
}

/* decap_sum returns the ones' complement sum (unfolded) of bytes [off, end)
 * of the packet plus seed, or -1. */
static __always_inline __s64 decap_sum(struct __sk_buff *skb, __u32 off, __u32 end, __u32 seed)
{
	struct decap_sum_ctx c = {.skb = skb, .off = off, .end = end, .sum = seed};

	if (end < off || end - off > 0xffff)
		return -1;
	bpf_loop((end - off) / DECAP_CHUNK + 1, decap_sum_chunk, &c, 0);
	if (c.err || c.off != c.end)
		return -1;
	return c.sum;
}

/* decap_pseudo_sum returns the sum of the outer UDP pseudo-header. */
static __always_inline __s64 decap_pseudo_sum(struct decap_pkt *p)
{
	if (p->outer_family == DECAP_AF_INET) {
		struct {
			__u8 saddr[4];
			__u8 daddr[4];
			__u8 zero;
			__u8 proto;
			__be16 len;
		} ph = {.proto = LVS_IPPROTO_UDP, .len = bpf_htons(p->udp_len)};

		__builtin_memcpy(ph.saddr, p->outer_src.addr, 4);
		__builtin_memcpy(ph.daddr, p->outer_dst.addr, 4);
		return bpf_csum_diff(0, 0, (__be32 *)&ph, sizeof(ph), 0);
	}
	{
		struct {
			__u8 saddr[16];
			__u8 daddr[16];
			__be32 len;
			__u8 zero[3];
			__u8 nexthdr;
		} ph = {.len = bpf_htonl(p->udp_len), .nexthdr = LVS_IPPROTO_UDP};

		__builtin_memcpy(ph.saddr, p->outer_src.addr, 16);
		__builtin_memcpy(ph.daddr, p->outer_dst.addr, 16);
		return bpf_csum_diff(0, 0, (__be32 *)&ph, sizeof(ph), 0);
	}
}

/*
 * decap_remcsum does what the receiving end of GUE's remote checksum
 * offload must (fou's gue_remcsum, skb_remcsum_process): the sender left
 * the inner checksum field at rc_offset holding only its seed and said so
 * in the option; the checksum over [rc_start, end) of the inner packet,
 * folded and complemented, goes into that field. A GSO skb is left alone:
 * its checksum is CHECKSUM_PARTIAL, which the kernel completes or trusts.
 */
static __always_inline int decap_remcsum(struct __sk_buff *skb, struct decap_pkt *p)
{
	__u32 start = bpf_ntohs(p->rc_start), off = bpf_ntohs(p->rc_offset);
	__s64 s, ph;
	__u16 check;

	if (decap_is_gso(skb))
		return DECAP_GO_ON;
	if (start >= p->inner_len || off + 2 > p->inner_len)
		return DECAP_CNT_DROP_REMCSUM;
	if (p->udp_check) {
		ph = decap_pseudo_sum(p);
		if (ph < 0)
			return DECAP_CNT_DROP_CSUM;
		s = decap_sum(skb, p->l4_off, p->l4_off + p->udp_len, (__u32)ph);
		if (s < 0 || lvs_csum_fold(s) != 0xffff)
			return DECAP_CNT_DROP_CSUM;
	}
	s = decap_sum(skb, p->inner_off + start, p->inner_off + p->inner_len, 0);
	if (s < 0)
		return DECAP_CNT_DROP_REMCSUM;
	check = ~lvs_csum_fold(s);
	if (bpf_skb_store_bytes(skb, p->inner_off + off, &check, sizeof(check), BPF_F_RECOMPUTE_CSUM))
		return DECAP_CNT_DROP_REMCSUM;
	decap_count(DECAP_CNT_REMCSUM);
	return DECAP_GO_ON;
}

/*
 * decap_set_ce copies a congestion mark of the outer header to the inner
 * one (RFC 6040, the kernel's INET_ECN_decapsulate), on the inner header
 * now at the start of the frame's payload.
 */
static __always_inline int decap_set_ce(struct __sk_buff *skb, __u8 family)
{
	__u8 b[2];

	if (bpf_skb_load_bytes(skb, LVS_ETH_HLEN, b, sizeof(b)))
		return -1;
	if (family == DECAP_AF_INET) {
		__be16 from, to;

		__builtin_memcpy(&from, b, 2);
		b[1] |= LVS_ECN_CE;
		__builtin_memcpy(&to, b, 2);
		/* tos and check change by opposite amounts, so the bytes'
		 * sum (a CHECKSUM_COMPLETE skb->csum) stays the same. */
		if (bpf_skb_store_bytes(skb, LVS_ETH_HLEN, b, sizeof(b), 0))
			return -1;
		return bpf_l3_csum_replace(skb, LVS_ETH_HLEN + 10, from, to, sizeof(to)) ? -1 : 0;
	}
	b[1] |= LVS_ECN_CE << 4;
	return bpf_skb_store_bytes(skb, LVS_ETH_HLEN + 1, &b[1], 1, BPF_F_RECOMPUTE_CSUM) ? -1 : 0;
}

SEC("tc")
int decap_ingress(struct __sk_buff *skb)
{
	struct decap_pkt p = {};
	__u64 flags = BPF_F_ADJ_ROOM_FIXED_GSO;
	int set_ce = 0, r;

	r = decap_parse(skb, &p);
	if (r != DECAP_GO_ON) {
		decap_count(r);
		return TC_ACT_UNSPEC;
	}
	if (p.outer_ecn == LVS_ECN_CE) {
		if (p.inner_ecn == LVS_ECN_NOT_ECT) {
			decap_count(DECAP_CNT_DROP_ECN);
			return TC_ACT_SHOT;
		}
		set_ce = p.inner_ecn != LVS_ECN_CE;
	}
	if (p.remcsum) {
		r = decap_remcsum(skb, &p);
		if (r != DECAP_GO_ON) {
			decap_count(r);
			return TC_ACT_SHOT;
		}
	}
	/*
	 * FIXED_GSO: a GRO aggregate's gso_size is the inner MSS, which
	 * removing outer headers does not change (without the flag the
	 * kernel would grow it by the removed length). The DECAP_L3 flag
	 * makes skb->protocol follow the inner family; it is passed only
	 * when the family changes, so that same-family tunnels also work
	 * on kernels before 6.3.
	 */
	if (p.outer_family != p.inner_family)
		flags |= p.inner_family == DECAP_AF_INET ? DECAP_F_ADJ_ROOM_DECAP_L3_IPV4 :
							   DECAP_F_ADJ_ROOM_DECAP_L3_IPV6;
	if (bpf_skb_adjust_room(skb, -(__s32)(p.inner_off - LVS_ETH_HLEN), BPF_ADJ_ROOM_MAC, flags)) {
		decap_count(DECAP_CNT_DROP_ADJUST);
		return TC_ACT_SHOT;
	}
	if (p.outer_family != p.inner_family) {
		__be16 proto = bpf_htons(p.inner_family == DECAP_AF_INET ? LVS_ETH_P_IP : LVS_ETH_P_IPV6);

		/* The Ethernet header is outside the checksummed bytes. */
		if (bpf_skb_store_bytes(skb, 12, &proto, sizeof(proto), 0)) {
			decap_count(DECAP_CNT_DROP_ADJUST);
			return TC_ACT_SHOT;
		}
	}
	if (set_ce) {
		if (decap_set_ce(skb, p.inner_family)) {
			decap_count(DECAP_CNT_DROP_ADJUST);
			return TC_ACT_SHOT;
		}
		decap_count(DECAP_CNT_ECN_CE);
	}
	decap_count(p.kind == DECAP_TUN_GUE ? DECAP_CNT_GUE : p.kind == DECAP_TUN_GRE ? DECAP_CNT_GRE : DECAP_CNT_IPIP);
	return TC_ACT_UNSPEC;
}
