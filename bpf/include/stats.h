/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/* stats.h keeps the IPVS counters and the verdict reason counters. */
#ifndef LVS_STATS_H
#define LVS_STATS_H

#include "maps.h"

static __always_inline void lvs_count(__u32 reason)
{
	__u64 *v = bpf_map_lookup_elem(&lvs_counters, &reason);

	if (v)
		*v += 1; /* per-CPU: no atomics needed */
}

/* lvs_stats_in counts a client->server packet (and a new connection when
 * conns is 1) for the service and the real. */
static __always_inline void lvs_stats_in(__u32 service, __u32 real, __u32 bytes, __u32 conns)
{
	struct lvs_stats *s;

	s = bpf_map_lookup_elem(&lvs_svc_stats, &service);
	if (s) {
		s->conns += conns;
		s->inpkts++;
		s->inbytes += bytes;
	}
	s = bpf_map_lookup_elem(&lvs_real_stats, &real);
	if (s) {
		s->conns += conns;
		s->inpkts++;
		s->inbytes += bytes;
	}
}

/* lvs_stats_in_undo takes back the packet (not the connection) that
 * lvs_stats_in counted, when the XDP fast path made a connection but
 * leaves its first packet to TC, which counts the packet again. The undo
 * runs on the CPU that counted, so each per-CPU value stays exact. */
static __always_inline void lvs_stats_in_undo(__u32 service, __u32 real, __u32 bytes)
{
	struct lvs_stats *s;

	s = bpf_map_lookup_elem(&lvs_svc_stats, &service);
	if (s) {
		s->inpkts--;
		s->inbytes -= bytes;
	}
	s = bpf_map_lookup_elem(&lvs_real_stats, &real);
	if (s) {
		s->inpkts--;
		s->inbytes -= bytes;
	}
}

/* lvs_stats_out counts a NAT reply. */
static __always_inline void lvs_stats_out(__u32 service, __u32 real, __u32 bytes)
{
	struct lvs_stats *s;

	s = bpf_map_lookup_elem(&lvs_svc_stats, &service);
	if (s) {
		s->outpkts++;
		s->outbytes += bytes;
	}
	s = bpf_map_lookup_elem(&lvs_real_stats, &real);
	if (s) {
		s->outpkts++;
		s->outbytes += bytes;
	}
}

#endif /* LVS_STATS_H */
