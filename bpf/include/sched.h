/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * sched.h picks a real for a new connection, with the algorithms of the
 * kernel's net/netfilter/ipvs/ip_vs_*.c. Three kinds of table, built by
 * lvsd (internal/sched) and swapped in whole:
 *
 *   - rr, wrr: the pick sequence (the table is the algorithm);
 *   - lc, wlc, sed, nq, fo, ovf, twos, lblc, lblcr: the dest list in IPVS
 *     order (newest first), walked here with the kernel's comparisons;
 *   - sh, dh (LVS_SH_TAB_SIZE buckets) and mh (LVS_MH_TAB_SIZE slots):
 *     the kernel's lookup table, RealID 0 for an empty bucket; the hashing
 *     and the fallback probing are done here.
 *
 * A dest is "overloaded" while lvs_overload holds 1 for it (IPVS's
 * IP_VS_DEST_F_OVERLOAD, the -x/-y thresholds). Reals marked
 * LVS_REAL_F_GONE (IPVS: not IP_VS_DEST_F_AVAILABLE) are never picked.
 *
 * Every scheduler with a loop is a global (non-inlined) function so that
 * the verifier checks it once, not once per caller path; the walks of the
 * dest list run in bpf_loop (kernel 5.17).
 */
#ifndef LVS_SCHED_H
#define LVS_SCHED_H

#include "maps.h"
#include "conn.h"

/* GOLDEN_RATIO_32 of include/linux/hash.h. */
#define LVS_GOLDEN_RATIO_32 0x61C88647u

/* lvs_hash_32 is the kernel's hash_32(v, bits). */
static __always_inline __u32 lvs_hash_32(__u32 v, __u32 bits)
{
	return (v * LVS_GOLDEN_RATIO_32) >> (32 - bits);
}

static __always_inline int lvs_overloaded(__u32 id)
{
	__u32 *o = bpf_map_lookup_elem(&lvs_overload, &id);

	return o && *o;
}

/* lvs_real_available reports whether r may take new connections: not
 * quiesced (weight 0) and not deleted (IPVS skips both). */
static __always_inline int lvs_real_available(const struct lvs_real *r)
{
	return r->weight > 0 && !(r->flags & LVS_REAL_F_GONE);
}

/* struct lvs_dest is what a scheduler reads of one real. */
struct lvs_dest {
	__u32 id;
	__u32 weight;
	__u32 active;
	__u32 inactive;
	__u32 overload;
	__u32 gone;
};

/* lvs_dest_load fills d for real id; 0 when id is 0 or unknown. */
static __always_inline int lvs_dest_load(__u32 id, struct lvs_dest *d)
{
	struct lvs_real *r;
	struct lvs_real_conns *rc;

	if (!id)
		return 0;
	r = bpf_map_lookup_elem(&lvs_reals, &id);
	rc = bpf_map_lookup_elem(&lvs_conn_counts, &id);
	if (!r || !rc)
		return 0;
	d->id = id;
	d->weight = r->weight;
	d->active = *(volatile __u32 *)&rc->active;
	d->inactive = *(volatile __u32 *)&rc->inactive;
	d->overload = lvs_overloaded(id);
	d->gone = r->flags & LVS_REAL_F_GONE;
	return 1;
}

/*
 * The dest-list walks run in bpf_loop: the verifier checks a callback
 * once, where a bounded loop over up to LVS_MAX_DESTS reals (or a whole
 * rr/wrr sequence) whose accumulators change every step would be
 * followed step by step.
 * struct lvs_walk is a walk's state, kept in the per-CPU scratch (the
 * callback context is NULL): the stack is short.
 */
struct lvs_walk {
	__u32 service;
	__u32 mode;  /* enum lvs_walk_mode */
	__u32 best;  /* RealID chosen so far, 0 for none */
	__u32 arg;   /* LVS_WALK_FIND: the RealID looked for */
	__u32 acc;   /* twos: the weight total, or what is left of r */
	__u32 pad;
	__u64 boh;   /* best's overhead */
	__u64 bw;    /* best's weight */
};

enum lvs_walk_mode {
	LVS_WALK_LC = 0,
	LVS_WALK_WLC = 1,
	LVS_WALK_SED = 2,
	LVS_WALK_NQ = 3,
	LVS_WALK_FO = 4,
	LVS_WALK_OVF = 5,
	LVS_WALK_TWOS_TOTAL = 6,
	LVS_WALK_TWOS_PICK = 7,
	LVS_WALK_LIGHT = 8, /* some dest has active*2 < weight */
	LVS_WALK_FIND = 9,  /* arg is in the list and not deleted */
	LVS_WALK_SEQ = 10,  /* rr/wrr: the first available from entry arg on */
};

/*
 * struct lvs_sched_scratch is per-CPU room for the schedulers' larger
 * values: the program's own frame leaves too little stack for them. Slot
 * d[0] belongs to the innermost helpers (lvs_walk_step, lvs_hash_usable),
 * d[1] and d[2] to the schedulers that call them; tk and tv to persist.h
 * (which calls the schedulers while it holds tk).
 */
struct lvs_sched_scratch {
	struct lvs_walk w;
	struct lvs_lblc_key key;
	__u32 size; /* lblcr: members in set */
	__u64 soh, sw, moh, mw; /* lblcr: set_min's and set_max's best */
	__u64 now, lastmod;
	struct lvs_dest d[3];
	__u32 set[LVS_LBLCR_SET_MAX];
	__u8 fresh[sizeof(struct lvs_lblc_entry)]; /* a struct lvs_lblc_entry */
	struct lvs_tuple tk; /* persist.h: a template's key */
	struct lvs_tmpl tv;  /* persist.h: a new template */
	struct lvs_conn conn; /* lvs.c: a new connection */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lvs_sched_scratch);
} lvs_sched_scratch SEC(".maps");

static __always_inline struct lvs_sched_scratch *lvs_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&lvs_sched_scratch, &zero);
}

/* lvs_dest_at fills d for entry i (0-based) of table tbl. */
static __always_inline int lvs_dest_at(void *tbl, __u32 i, struct lvs_dest *d)
{
	__u32 key = i + 1, *id;

	id = bpf_map_lookup_elem(tbl, &key);
	if (!id)
		return 0;
	return lvs_dest_load(*id, d);
}

/* ip_vs_dest_conn_overhead, the classic formula: active*256 + inactive. */
static __always_inline __u64 lvs_conn_overhead(const struct lvs_dest *d)
{
	return ((__u64)d->active << 8) + d->inactive;
}

/* lvs_table returns service id's scheduler table and its length n. */
static __always_inline void *lvs_table(__u32 id, __u32 *n)
{
	__u32 zero = 0, *cnt;
	void *tbl;

	tbl = bpf_map_lookup_elem(&lvs_tables, &id);
	if (!tbl)
		return 0;
	cnt = bpf_map_lookup_elem(tbl, &zero);
	if (!cnt || *cnt == 0)
		return 0;
	*n = *cnt;
	return tbl;
}

/*
 * lvs_walk_step looks at dest i of the walk's service. The comparisons:
 *  lc (ip_vs_lc.c): skip OVERLOAD or weight 0; least overhead, strict <.
 *  wlc (ip_vs_wlc.c): the first dest without OVERLOAD with weight > 0 is
 *    the least; a later one without OVERLOAD wins when
 *    loh * w_dest > doh * w_least (s64); weight 0 can never win.
 *  sed (ip_vs_sed.c): wlc with overhead active + 1.
 *  nq (ip_vs_nq.c): skip OVERLOAD or weight 0; an idle dest (active 0)
 *    wins at once; else sed's comparison.
 *  fo (ip_vs_fo.c): without OVERLOAD, the highest weight (weight > hw,
 *    hw starting at 0), the first of equals.
 *  ovf (ip_vs_ovf.c): without OVERLOAD, weight != 0 and active <= weight,
 *    the highest weight, the first of equals.
 */
static long lvs_walk_step(__u64 i, void *unused)
{
	struct lvs_sched_scratch *sc = lvs_scratch();
	__u32 key = (__u32)i + 1, *id;
	struct lvs_walk *w;
	struct lvs_dest *dp;
	void *tbl;
	__u64 doh, wt;

	if (!sc)
		return 1;
	w = &sc->w;
	if (w->mode == LVS_WALK_SEQ)
		key = (w->arg + (__u32)i) % w->acc + 1;
	dp = &sc->d[0];
	tbl = bpf_map_lookup_elem(&lvs_tables, &w->service);
	if (!tbl)
		return 1;
	id = bpf_map_lookup_elem(tbl, &key);
	if (!id)
		return 1;
	if (!lvs_dest_load(*id, dp) || dp->gone)
		return 0;
#define d (*dp)
	wt = d.weight;
	switch (w->mode) {
	case LVS_WALK_FIND:
		if (d.id != w->arg)
			return 0;
		w->best = d.id;
		return 1;
	case LVS_WALK_LIGHT:
		if ((__u64)d.active * 2 >= wt)
			return 0;
		w->best = d.id;
		return 1;
	case LVS_WALK_SEQ:
		/* Available (weight > 0) and not OVERLOAD; boh counts the
		 * entries stepped over, which the position moves past too. */
		if (!wt || d.overload)
			return 0;
		w->best = d.id;
		w->boh = i;
		return 1;
	}
	if (d.overload)
		return 0;
	switch (w->mode) {
	case LVS_WALK_FO:
		if (wt > w->bw) {
			w->best = d.id;
			w->bw = wt;
		}
		return 0;
	case LVS_WALK_OVF:
		if (!wt || d.active > wt)
			return 0;
		if (!w->best || wt > w->bw) {
			w->best = d.id;
			w->bw = wt;
		}
		return 0;
	case LVS_WALK_TWOS_TOTAL:
		/* 32-bit, so that the verifier sees one range from the
		 * second step on; it wraps as IPVS's int total does. */
		if (wt)
			w->acc = (__u32)(w->acc + (__u32)wt);
		return 0;
	case LVS_WALK_TWOS_PICK:
		/* r -= weight; r <= 0 picks (ip_vs_twos.c), unsigned. */
		if (!wt)
			return 0;
		if (w->acc > wt) {
			w->acc = (__u32)(w->acc - (__u32)wt);
			return 0;
		}
		w->best = d.id;
		return 1;
	case LVS_WALK_NQ:
		if (wt && d.active == 0) {
			w->best = d.id;
			return 1;
		}
		break;
	}
	if (w->mode == LVS_WALK_LC || w->mode == LVS_WALK_WLC)
		doh = lvs_conn_overhead(&d);
	else
		doh = (__u64)d.active + 1;
	if (!w->best) {
		if (!wt)
			return 0;
	} else if (w->mode == LVS_WALK_LC ? !(wt && doh < w->boh) : !(w->boh * wt > doh * w->bw)) {
		return 0;
	}
	w->best = d.id;
	w->boh = doh;
	w->bw = wt;
	return 0;
#undef d
}

/* lvs_walk runs mode over service's dest list; returns the walk's pick. */
static __always_inline __u32 lvs_walk(__u32 service, __u32 mode, __u32 arg, __u32 *acc)
{
	struct lvs_sched_scratch *sc = lvs_scratch();
	__u32 n = 0;

	if (!sc || !lvs_table(service, &n))
		return 0;
	if (n > LVS_MAX_DESTS)
		n = LVS_MAX_DESTS;
	__builtin_memset(&sc->w, 0, sizeof(sc->w));
	sc->w.service = service;
	sc->w.mode = mode;
	sc->w.arg = arg;
	sc->w.acc = acc ? *acc : 0;
	bpf_loop(n, lvs_walk_step, 0, 0);
	if (acc)
		*acc = sc->w.acc;
	return sc->w.best;
}

/*
 * lvs_sched_seq returns the next real of an rr/wrr sequence. lvsd leaves
 * weight-0 reals out of the sequence; an overloaded real (or one that
 * raced with a table swap) is stepped over, and the position moves past
 * the real picked, as ip_vs_rr.c and ip_vs_wrr.c continue after the dest
 * they returned.
 */
__attribute__((noinline)) __u32 lvs_sched_seq(__u32 service)
{
	struct lvs_sched_scratch *sc = lvs_scratch();
	__u32 *pos, *id, idx, key, n = 0;
	struct lvs_real *r;
	void *tbl;

	if (!sc)
		return 0;
	tbl = lvs_table(service, &n);
	if (!tbl)
		return 0;
	pos = bpf_map_lookup_elem(&lvs_sched_pos, &service);
	if (!pos)
		return 0;
	idx = __sync_fetch_and_add(pos, 1) % n;
	/* The entry the position names is nearly always available: taken
	 * without a walk. */
	key = idx + 1;
	id = bpf_map_lookup_elem(tbl, &key);
	if (!id)
		return 0;
	r = bpf_map_lookup_elem(&lvs_reals, id);
	if (r && lvs_real_available(r) && !lvs_overloaded(*id))
		return *id;
	/* Else the rest of the sequence at most, as ip_vs_rr.c walks the
	 * whole list: arg is where the walk starts, acc the sequence's
	 * length. */
	__builtin_memset(&sc->w, 0, sizeof(sc->w));
	sc->w.service = service;
	sc->w.mode = LVS_WALK_SEQ;
	sc->w.arg = idx;
	sc->w.acc = n;
	bpf_loop(n, lvs_walk_step, 0, 0);
	if (sc->w.best && sc->w.boh)
		__sync_fetch_and_add(pos, (__u32)sc->w.boh);
	return sc->w.best;
}

/* lvs_sched_least is lc, wlc, sed or nq (mode) over service's list. */
__attribute__((noinline)) __u32 lvs_sched_least(__u32 service, __u32 mode)
{
	return lvs_walk(service, mode, 0, 0);
}

/*
 * lvs_random_below is the kernel's __get_random_u32_below(ceil): Lemire's
 * multiply-shift with rejection, over bpf_get_prandom_u32. The rejection
 * loop is bounded; its 8th retry is taken with probability below 2^-64.
 */
static __always_inline __u32 lvs_random_below(__u32 ceil)
{
	__u32 rand = bpf_get_prandom_u32();
	__u64 mult;

	if (!ceil)
		return rand;
	mult = (__u64)ceil * rand;
	if ((__u32)mult < ceil) {
		__u32 bound = -ceil % ceil;

		for (int i = 0; i < 8 && (__u32)mult < bound; i++)
			mult = (__u64)ceil * bpf_get_prandom_u32();
	}
	return mult >> 32;
}

/*
 * lvs_sched_twos is ip_vs_twos.c: two dests drawn at random by weight
 * (random_u32_below(total + 1) each, so the first dest has weight + 1 of
 * total + 1 outcomes), the less loaded by weighted overhead wins
 * (w2 * oh1 > w1 * oh2 picks the second). IPVS draws both in one walk;
 * separate walks give the same dests. The products are 64-bit (IPVS's are
 * int, which only differs past 2^31).
 */
__attribute__((noinline)) __u32 lvs_sched_twos(__u32 service)
{
	__u32 total = 0, r1, r2, c1, c2;
	struct lvs_sched_scratch *sc = lvs_scratch();
	struct lvs_dest *d1, *d2;

	if (!sc)
		return 0;
	d1 = &sc->d[1];
	d2 = &sc->d[2];
	lvs_walk(service, LVS_WALK_TWOS_TOTAL, 0, &total);
	if (total == 0 || total == 0xffffffff)
		return 0;
	r1 = lvs_random_below(total + 1);
	r2 = lvs_random_below(total + 1);
	c1 = lvs_walk(service, LVS_WALK_TWOS_PICK, 0, &r1);
	c2 = lvs_walk(service, LVS_WALK_TWOS_PICK, 0, &r2);
	if (!lvs_dest_load(c1, d1))
		return c2;
	if (!lvs_dest_load(c2, d2))
		return c1;
	if ((__u64)d2->weight * lvs_conn_overhead(d1) > (__u64)d1->weight * lvs_conn_overhead(d2))
		return c2;
	return c1;
}

/* lvs_hash_usable is is_unavailable() of ip_vs_sh.c / ip_vs_mh.c negated:
 * weight > 0 and not OVERLOAD (and not deleted). */
static __always_inline int lvs_hash_usable(__u32 id)
{
	struct lvs_sched_scratch *sc = lvs_scratch();
	struct lvs_dest *d;

	if (!sc)
		return 0;
	d = &sc->d[0];
	return lvs_dest_load(id, d) && !d->gone && !d->overload && d->weight > 0;
}

static __always_inline __u32 lvs_bucket(void *tbl, __u32 i)
{
	__u32 key = i + 1, *id = bpf_map_lookup_elem(tbl, &key);

	return id ? *id : 0;
}

/*
 * lvs_sched_sh is ip_vs_sh.c. addr is the client address, port its
 * source port with sh-port (else 0), both in host order. The bucket is
 * (offset + hash_32(port + addr, 8)) & 255; with sh-fallback an unusable
 * dest sends the probe round the table from there, an empty bucket ends it.
 */
__attribute__((noinline)) __u32 lvs_sched_sh(__u32 service, __u32 flags, __u32 addr, __u32 port)
{
	__u32 n = 0, ihash, id;
	void *tbl = lvs_table(service, &n);

	if (!tbl || n != LVS_SH_TAB_SIZE)
		return 0;
	ihash = lvs_hash_32(port + addr, 8) & (LVS_SH_TAB_SIZE - 1);
	id = lvs_bucket(tbl, ihash);
	if (!id)
		return 0;
	if (lvs_hash_usable(id))
		return id;
	if (!(flags & LVS_SVC_F_SCHED1))
		return 0;
	for (__u32 off = 0; off < LVS_SH_TAB_SIZE; off++) {
		__u32 roffset = (off + ihash) % LVS_SH_TAB_SIZE;

		id = lvs_bucket(tbl, (roffset + ihash) & (LVS_SH_TAB_SIZE - 1));
		if (!id)
			break;
		if (lvs_hash_usable(id))
			return id;
	}
	return 0;
}

/* lvs_sched_dh is ip_vs_dh.c: bucket hash_32(daddr, 8) of the packet's
 * destination address (host order). */
__attribute__((noinline)) __u32 lvs_sched_dh(__u32 service, __u32 daddr)
{
	__u32 n = 0, id;
	void *tbl = lvs_table(service, &n);

	if (!tbl || n != LVS_SH_TAB_SIZE)
		return 0;
	id = lvs_bucket(tbl, lvs_hash_32(daddr, 8) & (LVS_SH_TAB_SIZE - 1));
	if (id && lvs_hash_usable(id))
		return id;
	return 0;
}

#define LVS_SIP_ROL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define LVS_SIPROUND                                                                               \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = LVS_SIP_ROL(v1, 13);                                                          \
		v1 ^= v0;                                                                          \
		v0 = LVS_SIP_ROL(v0, 32);                                                          \
		v2 += v3;                                                                          \
		v3 = LVS_SIP_ROL(v3, 16);                                                          \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = LVS_SIP_ROL(v3, 21);                                                          \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = LVS_SIP_ROL(v1, 17);                                                          \
		v1 ^= v2;                                                                          \
		v2 = LVS_SIP_ROL(v2, 32);                                                          \
	} while (0)

/* ip_vs_mh.c's hash1 key, {2654435761, 2654435761} (64-bit longs). */
#define LVS_MH_HASH1 2654435761ULL

/*
 * lvs_mh_hash is ip_vs_mh_hashkey with hash1 on a 64-bit kernel:
 * hsiphash(&v, 4, key), which there is SipHash-1-3 with a 128-bit key
 * (lib/siphash.c, BITS_PER_LONG == 64), truncated to 32 bits. v is
 * offset + port + addr in host order, hashed as its 4 little-endian bytes.
 */
__attribute__((noinline)) __u32 lvs_mh_hash(__u32 v)
{
	__u64 v0 = 0x736f6d6570736575ULL, v1 = 0x646f72616e646f6dULL;
	__u64 v2 = 0x6c7967656e657261ULL, v3 = 0x7465646279746573ULL;
	__u64 b = ((__u64)4 << 56) | v;

	v3 ^= LVS_MH_HASH1;
	v2 ^= LVS_MH_HASH1;
	v1 ^= LVS_MH_HASH1;
	v0 ^= LVS_MH_HASH1;
	v3 ^= b;
	LVS_SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	LVS_SIPROUND;
	LVS_SIPROUND;
	LVS_SIPROUND;
	return (__u32)((v0 ^ v1) ^ (v2 ^ v3));
}

/* struct lvs_mh_probe carries lvs_sched_mh's fallback probe through
 * bpf_loop. */
struct lvs_mh_probe {
	__u32 service;
	__u32 ihash;
	__u32 key;    /* port + addr */
	__u32 result; /* RealID found, 0 for none */
};

/* lvs_mh_probe_one is one step of ip_vs_mh_get_fallback's probe. */
static long lvs_mh_probe_one(__u64 off, void *data)
{
	struct lvs_mh_probe *pr = data;
	__u32 roffset = ((__u32)off + pr->ihash) % LVS_MH_TAB_SIZE, id;
	void *tbl = bpf_map_lookup_elem(&lvs_tables, &pr->service);

	if (!tbl)
		return 1;
	id = lvs_bucket(tbl, lvs_mh_hash(roffset + pr->key) % LVS_MH_TAB_SIZE);
	if (!id)
		return 1;
	if (lvs_hash_usable(id)) {
		pr->result = id;
		return 1;
	}
	return 0;
}

/*
 * lvs_sched_mh is ip_vs_mh.c: slot hash(port + addr) % M. With
 * mh-fallback an unusable dest starts a probe of up to M steps whose
 * offsets are hashed in (hash(roffset + port + addr) % M), an empty slot
 * ending it. The probe runs in bpf_loop: M iterations of a bounded loop
 * are more than the verifier follows.
 */
__attribute__((noinline)) __u32 lvs_sched_mh(__u32 service, __u32 flags, __u32 addr, __u32 port)
{
	struct lvs_mh_probe pr = {};
	__u32 n = 0, id;
	void *tbl = lvs_table(service, &n);

	if (!tbl || n != LVS_MH_TAB_SIZE)
		return 0;
	pr.service = service;
	pr.key = port + addr;
	pr.ihash = lvs_mh_hash(pr.key) % LVS_MH_TAB_SIZE;
	id = lvs_bucket(tbl, pr.ihash);
	if (!id)
		return 0;
	if (lvs_hash_usable(id))
		return id;
	if (!(flags & LVS_SVC_F_SCHED1))
		return 0;
	bpf_loop(LVS_MH_TAB_SIZE, lvs_mh_probe_one, &pr, 0);
	return pr.result;
}

/* lvs_in_service reports whether real is in service's dest list and not
 * deleted (IPVS: IP_VS_DEST_F_AVAILABLE). */
static __always_inline int lvs_in_service(__u32 service, __u32 real)
{
	return real && lvs_walk(service, LVS_WALK_FIND, real, 0) != 0;
}

/* lvs_any_light reports whether some dest of service has
 * active * 2 < weight: the second half of lblc's is_overloaded. */
static __always_inline int lvs_any_light(__u32 service)
{
	return lvs_walk(service, LVS_WALK_LIGHT, 0, 0) != 0;
}

/* lvs_lblc_overloaded is is_overloaded() of ip_vs_lblc.c/ip_vs_lblcr.c:
 * active > weight while some dest of the service has active*2 < weight. */
static __always_inline int lvs_lblc_overloaded(__u32 service, const struct lvs_dest *d)
{
	return d->active > d->weight && lvs_any_light(service);
}

/*
 * lvs_lblc_schedule is ip_vs_lblc.c (replicated 0) and ip_vs_lblcr.c
 * (replicated 1), keyed by the packet's destination address daddr
 * (network order).
 *
 * lblc: the cached dest is used when still in the service (IPVS:
 * AVAILABLE), weight > 0 and not is_overloaded (its OVERLOAD threshold
 * flag is not checked, as in IPVS); else wlc decides and the entry is
 * replaced. lblcr: the weighted least loaded member of the set
 * (ip_vs_dest_set_min: skips OVERLOAD, weight 0 and members gone); when
 * the set has more than one member and was not changed for
 * LVS_LBLC_EXPIRATION_S its weighted most loaded member is dropped
 * (ip_vs_dest_set_max); if no member fits or it is_overloaded, wlc decides
 * and the choice joins the set at its head. A set that already holds
 * LVS_LBLCR_SET_MAX reals takes no more, as when IPVS's allocation of a
 * set element fails: the real chosen is used all the same.
 */
static __always_inline __u32 lvs_lblc_schedule(__u32 service, const union lvs_addr *daddr,
						const __u32 replicated)
{
	struct lvs_sched_scratch *sc = lvs_scratch();
	struct lvs_lblc_entry *en, *fresh;
	struct lvs_dest *d;
	__u32 least, pick = 0;

	if (!sc || !daddr) /* a global function: the verifier sees any pointer */
		return 0;
	sc->now = lvs_now();
	sc->size = 0;
	sc->lastmod = 0;
	d = &sc->d[1];
	sc->key.addr = *daddr;
	sc->key.service = service;
	en = bpf_map_lookup_elem(&lvs_lblc, &sc->key);
	if (en) {
		en->lastuse_ns = sc->now;
		bpf_spin_lock(&en->lock);
		sc->size = en->size;
		sc->lastmod = en->lastmod_ns;
		for (int j = 0; j < LVS_LBLCR_SET_MAX; j++)
			sc->set[j] = en->reals[j];
		bpf_spin_unlock(&en->lock);
	}

	if (en && !replicated) {
		__u32 cached = sc->set[0];

		if (lvs_in_service(service, cached) && lvs_dest_load(cached, d) && d->weight > 0 &&
		    !lvs_lblc_overloaded(service, d))
			return cached;
	}
	if (en && replicated) {
		__u32 most = 0;

		sc->soh = sc->sw = sc->moh = sc->mw = 0;

		/* ip_vs_dest_set_min over the members still in the service. */
		for (int j = 0; j < LVS_LBLCR_SET_MAX; j++) {
			__u64 doh;

			if (j >= sc->size || !lvs_dest_load(sc->set[j], d) || d->overload)
				continue;
			if (!lvs_in_service(service, d->id))
				continue;
			doh = lvs_conn_overhead(d);
			if (!pick) {
				if (!d->weight)
					continue;
			} else if (!(sc->soh * d->weight > doh * sc->sw)) {
				continue;
			}
			pick = d->id;
			sc->soh = doh;
			sc->sw = d->weight;
		}
		/* ip_vs_dest_set_max, when the set was not changed for
		 * lblcr_expiration; members gone from the service count. */
		if (sc->size > 1 && sc->now - sc->lastmod > (__u64)LVS_LBLC_EXPIRATION_S * 1000000000ULL) {
			for (int j = 0; j < LVS_LBLCR_SET_MAX; j++) {
				__u64 doh;

				if (j >= sc->size || !lvs_dest_load(sc->set[j], d) || !d->weight)
					continue;
				doh = lvs_conn_overhead(d);
				if (most && !(sc->moh * d->weight < doh * sc->mw))
					continue;
				most = d->id;
				sc->moh = doh;
				sc->mw = d->weight;
			}
			if (most) {
				bpf_spin_lock(&en->lock);
				if (en->size > 1) {
					int hit = 0;

					for (int j = 0; j < LVS_LBLCR_SET_MAX - 1; j++) {
						if (en->reals[j] == most)
							hit = 1;
						if (hit)
							en->reals[j] = en->reals[j + 1];
					}
					if (hit || en->reals[LVS_LBLCR_SET_MAX - 1] == most) {
						en->reals[LVS_LBLCR_SET_MAX - 1] = 0;
						en->size--;
						en->lastmod_ns = sc->now;
					}
				}
				bpf_spin_unlock(&en->lock);
			}
		}
		if (pick && lvs_dest_load(pick, d) && !lvs_lblc_overloaded(service, d))
			return pick;
	}

	/* __ip_vs_lblc_schedule / __ip_vs_lblcr_schedule are wlc. */
	least = lvs_walk(service, LVS_WALK_WLC, 0, 0);
	if (!least)
		return 0;
	if (en) {
		bpf_spin_lock(&en->lock);
		if (!replicated) {
			en->reals[0] = least;
			en->size = 1;
		} else {
			/* ip_vs_dest_set_insert(check): newest at the head. */
			int have = 0;

			for (int j = 0; j < LVS_LBLCR_SET_MAX; j++)
				if (en->reals[j] == least)
					have = 1;
			if (!have && en->size < LVS_LBLCR_SET_MAX) {
				for (int j = LVS_LBLCR_SET_MAX - 1; j > 0; j--)
					en->reals[j] = en->reals[j - 1];
				en->reals[0] = least;
				en->size++;
				en->lastmod_ns = sc->now;
			}
		}
		bpf_spin_unlock(&en->lock);
		return least;
	}
	fresh = (struct lvs_lblc_entry *)sc->fresh;
	__builtin_memset(sc->fresh, 0, sizeof(sc->fresh));
	fresh->size = 1;
	fresh->lastuse_ns = sc->now;
	fresh->lastmod_ns = sc->now;
	fresh->reals[0] = least;
	/* A full table, or another CPU's entry made meanwhile, leaves the
	 * entry as it is: the real chosen is used all the same. */
	bpf_map_update_elem(&lvs_lblc, &sc->key, sc->fresh, BPF_NOEXIST);
	return least;
}

__attribute__((noinline)) __u32 lvs_sched_lblc(__u32 service, const union lvs_addr *daddr)
{
	return lvs_lblc_schedule(service, daddr, 0);
}

__attribute__((noinline)) __u32 lvs_sched_lblcr(__u32 service, const union lvs_addr *daddr)
{
	return lvs_lblc_schedule(service, daddr, 1);
}

/* lvs_addr_fold is the 32 bits of an address IPVS's hashing schedulers
 * hash: an IPv6 address's four words XORed (ip_vs_sh_hashkey,
 * ip_vs_dh_hashkey, ip_vs_mh_hashkey). Host order. */
static __always_inline __u32 lvs_addr_fold(const union lvs_addr *a, __u8 family)
{
	if (family == LVS_AF_INET6)
		return bpf_ntohl(a->v6[0] ^ a->v6[1] ^ a->v6[2] ^ a->v6[3]);
	return bpf_ntohl(a->v4);
}

/*
 * lvs_schedule returns the RealID for a new connection t to service svc,
 * 0 for none.
 */
static __always_inline __u32 lvs_schedule(const struct lvs_service *svc, const struct lvs_tuple *t)
{
	__u32 id = svc->id, flags = svc->flags;
	__u32 port = flags & LVS_SVC_F_SCHED2 ? bpf_ntohs(t->sport) : 0;

	switch (svc->scheduler) {
	case LVS_SCHED_RR:
	case LVS_SCHED_WRR:
		return lvs_sched_seq(id);
	case LVS_SCHED_LC:
		return lvs_sched_least(id, LVS_WALK_LC);
	case LVS_SCHED_WLC:
		return lvs_sched_least(id, LVS_WALK_WLC);
	case LVS_SCHED_SED:
		return lvs_sched_least(id, LVS_WALK_SED);
	case LVS_SCHED_NQ:
		return lvs_sched_least(id, LVS_WALK_NQ);
	case LVS_SCHED_FO:
		return lvs_sched_least(id, LVS_WALK_FO);
	case LVS_SCHED_OVF:
		return lvs_sched_least(id, LVS_WALK_OVF);
	case LVS_SCHED_TWOS:
		return lvs_sched_twos(id);
	case LVS_SCHED_SH:
		return lvs_sched_sh(id, flags, lvs_addr_fold(&t->saddr, t->family), port);
	case LVS_SCHED_DH:
		return lvs_sched_dh(id, lvs_addr_fold(&t->daddr, t->family));
	case LVS_SCHED_MH:
		return lvs_sched_mh(id, flags, lvs_addr_fold(&t->saddr, t->family), port);
	case LVS_SCHED_LBLC:
		return lvs_sched_lblc(id, &t->daddr);
	case LVS_SCHED_LBLCR:
		return lvs_sched_lblcr(id, &t->daddr);
	}
	return 0;
}

#endif /* LVS_SCHED_H */
