// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
/*
 * lvs_sweep.c is lvsd's way into the connection table: the program it runs
 * (BPF_PROG_TEST_RUN, never attached) to remove expired connections,
 * templates and NAT reverse entries with the data plane's own accounting.
 * It is built into lvs.c's object (lvs.c includes it at its end), so that
 * it shares the data plane's maps.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "lvs_abi.h"
#include "maps.h"
#include "parse.h"
#include "conn.h"

/*
 * lvs_sweep removes expired connections for lvsd. Its input frame is a
 * 14-byte header followed by up to LVS_SWEEP_BATCH struct lvs_tuple keys;
 * it returns how many entries it removed. Going through the data plane's
 * own lvs_conn_remove keeps the counters exact: expiry is re-checked here
 * (a packet may have re-armed the entry since lvsd looked) and only a
 * successful delete decrements. A first header byte of LVS_SWEEP_ALL
 * removes the entries whether they expired or not (a flush).
 *
 * With LVS_SWEEP_TMPL the keys are persistence template keys: an expired
 * template is removed (releasing its real's PersistConn) unless it still
 * controls connections, in which case it is extended in 60 s steps as
 * IPVS's expire_later does; LVS_SWEEP_TMPL_ALL removes them regardless.
 *
 * With LVS_SWEEP_NAT the keys are NAT reverse keys, and an entry is
 * removed when its connection no longer owns it (lvs_nat_unlink). The
 * check is made here, next to the delete, rather than in lvsd: between
 * lvs_conn_remove and lvs_new of a conn_reuse the connection is briefly
 * missing, and a check made from user space, long before its delete,
 * would take the fresh reverse entry for an orphan. lvs_nat_unlink closes
 * the remaining window by looking again after its delete.
 */
SEC("tc")
int lvs_sweep(struct __sk_buff *skb)
{
	__u64 now = lvs_now();
	__u32 removed = 0;
	__u8 mode = 0;

	if (bpf_skb_load_bytes(skb, 0, &mode, 1))
		return 0;
	if (mode == LVS_SWEEP_ALL)
		now = ~0ULL;
	if (mode == LVS_SWEEP_TMPL || mode == LVS_SWEEP_TMPL_ALL) {
		for (__u32 i = 0; i < LVS_SWEEP_BATCH; i++) {
			struct lvs_tuple tk;
			struct lvs_tmpl *t;
			__u32 off = LVS_ETH_HLEN + i * sizeof(tk);
			__u64 exp;

			if (off + sizeof(tk) > skb->len)
				break;
			if (bpf_skb_load_bytes(skb, off, &tk, sizeof(tk)))
				break;
			t = bpf_map_lookup_elem(&lvs_templates, &tk);
			if (!t)
				continue;
			exp = *(volatile __u64 *)&t->expires_ns;
			if (mode == LVS_SWEEP_TMPL) {
				if (now < exp)
					continue;
				if (*(volatile __u32 *)&t->controls) {
					/* expire_later: a template controlling
					 * connections lives on in 60 s steps.
					 * cmpxchg: a new connection's re-arm
					 * meanwhile wins. */
					__u64 step = LVS_EXPIRE_LATER_S * 1000000000ULL;

					__sync_val_compare_and_swap(&t->expires_ns, exp,
								    exp + ((now - exp) / step + 1) * step);
					continue;
				}
			}
			removed += lvs_tmpl_remove(&tk, t);
		}
		return removed;
	}
	if (mode == LVS_SWEEP_NAT) {
		for (__u32 i = 0; i < LVS_SWEEP_BATCH; i++) {
			struct lvs_tuple rk;
			__u32 off = LVS_ETH_HLEN + i * sizeof(rk);

			if (off + sizeof(rk) > skb->len)
				break;
			if (bpf_skb_load_bytes(skb, off, &rk, sizeof(rk)))
				break;
			removed += lvs_nat_unlink(&rk, 0);
		}
		return removed;
	}

	for (__u32 i = 0; i < LVS_SWEEP_BATCH; i++) {
		struct lvs_tuple k;
		struct lvs_conn *c;
		__u32 off = LVS_ETH_HLEN + i * sizeof(k);

		if (off + sizeof(k) > skb->len)
			break;
		if (bpf_skb_load_bytes(skb, off, &k, sizeof(k)))
			break;
		c = bpf_map_lookup_elem(&lvs_conns, &k);
		if (!c || now < c->expires_ns)
			continue;
		removed += lvs_conn_remove(&k, c);
	}
	return removed;
}
