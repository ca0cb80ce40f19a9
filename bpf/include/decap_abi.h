/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * decap_abi.h is the contract between decap.c (the real server's
 * decapsulation program) and lvsrs: every struct its maps hold and every
 * constant both sides use. Go sees these through bpf2go's -type generation.
 *
 * Rules as in lvs_abi.h: fixed-width types, explicit padding, no bitfields,
 * sizes checked below; addresses and ports in network byte order. A layout
 * change bumps DECAP_ABI_VERSION, which is part of the pin path.
 */
#ifndef DECAP_ABI_H
#define DECAP_ABI_H

#include <linux/types.h>

/* enum decap_abi: version and limits shared with Go. */
enum decap_abi {
	DECAP_ABI_VERSION = 1,
	DECAP_MAX_VIPS = 4096,
	DECAP_MAX_PORTS = 64, /* GUE ports */
};

/* enum decap_family: address families, with the kernel's AF_ values. */
enum decap_family {
	DECAP_AF_INET = 2,
	DECAP_AF_INET6 = 10,
};

/* enum decap_tunnel: bits of struct decap_config.tunnels, the kinds of
 * tunnel the program unwraps. GUE also needs its ports in decap_gue_ports. */
enum decap_tunnel {
	DECAP_TUN_IPIP = 1 << 0, /* IPIP, IP6IP6, 4in6, 6in4 (IPVS --tun-type ipip) */
	DECAP_TUN_GUE = 1 << 1,  /* UDP + GUE (IPVS --tun-type gue) */
	DECAP_TUN_GRE = 1 << 2,  /* GRE (IPVS --tun-type gre) */
};

/*
 * enum decap_counter: indexes of the per-CPU decap_counters map. DECAP_CNT_*
 * counts a packet that was unwrapped, PASS_* one left untouched for the
 * kernel, DROP_* one of a tunnel to a VIP that could not be delivered.
 */
enum decap_counter {
	DECAP_CNT_IPIP = 0,              /* IP-in-IP of any family pair unwrapped */
	DECAP_CNT_GUE = 1,               /* GUE unwrapped */
	DECAP_CNT_GRE = 2,               /* GRE unwrapped */
	DECAP_CNT_REMCSUM = 3,           /* GUE remote checksum completed (also in GUE) */
	DECAP_CNT_ECN_CE = 4,            /* outer CE mark copied to the inner header */
	DECAP_CNT_PASS_NOT_IP = 5,       /* neither IPv4 nor IPv6 */
	DECAP_CNT_PASS_NOT_TUNNEL = 6,   /* no tunnel protocol, or UDP not to a GUE port */
	DECAP_CNT_PASS_TUNNEL_OFF = 7,   /* a tunnel to a VIP, of a kind that is not enabled */
	DECAP_CNT_PASS_FRAGMENT = 8,     /* outer fragment: cannot be unwrapped here */
	DECAP_CNT_PASS_MALFORMED = 9,    /* truncated or inconsistent outer or inner header */
	DECAP_CNT_PASS_UNSUPPORTED = 10, /* GRE routing/version, GUE control or unknown flags, non-IP inner */
	DECAP_CNT_PASS_NOT_VIP = 11,     /* inner destination is not a VIP */
	DECAP_CNT_PASS_NOT_HOST = 12,    /* frame not addressed to this host's MAC */
	DECAP_CNT_PASS_OUTER_VIP = 13,   /* outer destination is itself a VIP */
	DECAP_CNT_DROP_ADJUST = 14,      /* bpf_skb_adjust_room refused (kernel < 6.3 for 4in6/6in4) */
	DECAP_CNT_DROP_CSUM = 15,        /* GUE remote checksum with a wrong outer UDP checksum */
	DECAP_CNT_DROP_REMCSUM = 16,     /* GUE remote checksum offsets outside the inner packet */
	DECAP_CNT_DROP_ECN = 17,         /* outer CE on a not-ECT inner packet (RFC 6040) */
	DECAP_CNT_MAX = 32,
};

/* struct decap_vip_key is the decap_vips map key: one VIP. IPv4 uses the
 * first four bytes of addr; the rest are zero so keys compare equal. */
struct decap_vip_key {
	__u8 family; /* enum decap_family */
	__u8 pad[3];
	__u8 addr[16];
};

/* struct decap_config is the only value of the decap_cfg map. */
struct decap_config {
	__u32 tunnels; /* enum decap_tunnel bits */
	__u32 pad;
};

_Static_assert(sizeof(struct decap_vip_key) == 20, "decap_vip_key layout");
_Static_assert(sizeof(struct decap_config) == 8, "decap_config layout");

#endif /* DECAP_ABI_H */
