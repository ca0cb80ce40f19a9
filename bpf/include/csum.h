/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * csum.h updates checksums incrementally (RFC 1624, eqn. 3).
 *
 * The IPv4 header checksum is updated here in place: the header is always
 * linear, never offloaded, and a header with a correct checksum adds
 * nothing to a CHECKSUM_COMPLETE skb->csum, so a direct update is exact
 * and saves a helper call per field. L4 checksums go through
 * bpf_l4_csum_replace (see xmit.h), which also handles CHECKSUM_PARTIAL
 * skbs (GSO/GRO, veth) whose checksum field holds only the pseudo-header
 * sum.
 */
#ifndef LVS_CSUM_H
#define LVS_CSUM_H

#include <linux/types.h>

static __always_inline __u16 lvs_csum_fold(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

/* lvs_csum_start opens an incremental update of checksum check. */
static __always_inline __u64 lvs_csum_start(__sum16 check)
{
	return (__u16)~check;
}

/* lvs_csum_add32 accounts for a 32-bit field (as stored in the packet)
 * changing from from to to. */
static __always_inline __u64 lvs_csum_add32(__u64 s, __u32 from, __u32 to)
{
	return s + (__u32)~from + to;
}

/* lvs_csum_add16 is lvs_csum_add32 for a 16-bit field. */
static __always_inline __u64 lvs_csum_add16(__u64 s, __u16 from, __u16 to)
{
	return s + (__u16)~from + to;
}

/* lvs_csum_finish returns the new checksum to store. */
static __always_inline __sum16 lvs_csum_finish(__u64 s)
{
	return (__sum16)~lvs_csum_fold(s);
}

#endif /* LVS_CSUM_H */
