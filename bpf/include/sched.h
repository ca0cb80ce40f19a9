/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * sched.h picks a real for a new connection. rr and wrr walk a sequence
 * lvsd computed (the table is the algorithm); lc and wlc walk the dest list
 * in IPVS order (newest first) with ip_vs_lc.c / ip_vs_wlc.c's comparisons. Reals marked
 * LVS_REAL_F_GONE are never picked.
 */
#ifndef LVS_SCHED_H
#define LVS_SCHED_H

#include "maps.h"

/* lvs_real_available reports whether r may take new connections: not
 * quiesced (weight 0) and not deleted (IPVS skips both). */
static __always_inline int lvs_real_available(const struct lvs_real *r)
{
	return r->weight > 0 && !(r->flags & LVS_REAL_F_GONE);
}

/* lvs_sched_seq returns the next real of an rr/wrr sequence of n entries. */
static __always_inline __u32 lvs_sched_seq(void *tbl, __u32 service, __u32 n)
{
	__u32 *pos = bpf_map_lookup_elem(&lvs_sched_pos, &service);
	__u32 idx;

	if (!pos)
		return 0;
	idx = __sync_fetch_and_add(pos, 1) % n;
	/* lvsd leaves weight-0 and gone reals out of the sequence; skipping
	 * them here too covers a change that raced with the table swap. */
	for (__u32 i = 0; i < LVS_MAX_DESTS; i++) {
		/* Computed from the loop-invariant idx each time, so that the
		 * verifier meets one state per iteration, not one per place
		 * the walk could have wrapped. */
		__u32 key = (idx + i) % n + 1, *id;
		struct lvs_real *r;

		if (i >= n)
			break;
		id = bpf_map_lookup_elem(tbl, &key);
		if (!id)
			return 0;
		r = bpf_map_lookup_elem(&lvs_reals, id);
		if (r && lvs_real_available(r))
			return *id;
	}
	return 0;
}

/*
 * lvs_sched_lc returns the least loaded real of a dest list of n entries,
 * overhead = active*256 + inactive (ip_vs_dest_conn_overhead, the classic
 * formula). lc: strict < so the first of equals wins. wlc: the first
 * available real is the least so far, then a later one wins when
 * loh * w > doh * w_least, in 64 bits as ip_vs_wlc.c does. Weight-0 reals
 * never win either way.
 */
static __always_inline __u32 lvs_sched_lc(void *tbl, __u32 n, int weighted)
{
	__u64 loh = 0, lw = 0;
	__u32 least = 0;

	for (__u32 i = 0; i < LVS_MAX_DESTS; i++) {
		__u32 key = i + 1, *id;
		struct lvs_real *r;
		struct lvs_real_conns *rc;
		__u64 doh, w;

		if (i >= n)
			break;
		id = bpf_map_lookup_elem(tbl, &key);
		if (!id)
			break;
		r = bpf_map_lookup_elem(&lvs_reals, id);
		rc = bpf_map_lookup_elem(&lvs_conn_counts, id);
		if (!r || !rc || !lvs_real_available(r))
			continue;
		w = r->weight;
		doh = ((__u64)rc->active << 8) + rc->inactive;
		if (!least || (weighted ? loh * w > doh * lw : doh < loh)) {
			least = *id;
			loh = doh;
			lw = w;
		}
	}
	return least;
}

/*
 * lvs_schedule returns the RealID for a new connection to service id, 0 for
 * none. It is a global (non-inlined) function so the verifier checks its
 * bounded loops once, not once per path that reaches them.
 */
__attribute__((noinline)) __u32 lvs_schedule(__u32 id, __u32 scheduler)
{
	__u32 zero = 0, n, *cnt;
	void *tbl;

	tbl = bpf_map_lookup_elem(&lvs_tables, &id);
	if (!tbl)
		return 0;
	cnt = bpf_map_lookup_elem(tbl, &zero);
	if (!cnt)
		return 0;
	n = *cnt;
	if (n == 0)
		return 0;
	switch (scheduler) {
	case LVS_SCHED_RR:
	case LVS_SCHED_WRR:
		return lvs_sched_seq(tbl, id, n);
	case LVS_SCHED_LC:
		return lvs_sched_lc(tbl, n, 0);
	case LVS_SCHED_WLC:
		return lvs_sched_lc(tbl, n, 1);
	}
	return 0;
}

#endif /* LVS_SCHED_H */
