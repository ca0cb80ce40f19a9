/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * conn.h is the connection table: IPVS's TCP state machine, timeouts, the
 * ActiveConn/InActConn counters and entry removal.
 *
 * Counter rule shared with lvsd's sweeper (which removes entries through
 * the lvs_sweep program): whoever deletes an entry decrements its real's
 * counters, and only when bpf_map_delete_elem returned 0, so an entry is
 * never released twice.
 */
#ifndef LVS_CONN_H
#define LVS_CONN_H

#include "maps.h"
#include "parse.h"

/* Directions of IPVS's set_tcp_state (ip_vs_proto_tcp.c). */
enum {
	LVS_DIR_INPUT = 0,      /* client -> real */
	LVS_DIR_OUTPUT = 1,     /* real -> client (NAT replies) */
	LVS_DIR_INPUT_ONLY = 2, /* client -> real, replies bypass us (DR) */
};

#define sNO LVS_TCP_NONE
#define sES LVS_TCP_ESTABLISHED
#define sSS LVS_TCP_SYN_SENT
#define sSR LVS_TCP_SYN_RECV
#define sFW LVS_TCP_FIN_WAIT
#define sTW LVS_TCP_TIME_WAIT
#define sCL LVS_TCP_CLOSE
#define sCW LVS_TCP_CLOSE_WAIT
#define sLA LVS_TCP_LAST_ACK
#define sLI LVS_TCP_LISTEN
#define sSA LVS_TCP_SYNACK

/* One row of IPVS's tcp_states[] packed as 4-bit next states, indexed by
 * the current state. */
#define LVS_ROW(a, b, c, d, e, f, g, h, i, j, k)                                                   \
	((__u64)(a) | (__u64)(b) << 4 | (__u64)(c) << 8 | (__u64)(d) << 12 | (__u64)(e) << 16 |   \
	 (__u64)(f) << 20 | (__u64)(g) << 24 | (__u64)(h) << 28 | (__u64)(i) << 32 |              \
	 (__u64)(j) << 36 | (__u64)(k) << 40)

/* lvs_tcp_states is IPVS's tcp_states[] (the normal, not the secure_tcp
 * table): [direction * 4 + event] -> row. Events: syn, fin, ack, rst. */
static const __u64 lvs_tcp_states[12] = {
	/*       sNO  sES  sSS  sSR  sFW  sTW  sCL  sCW  sLA  sLI  sSA */
	/* INPUT */
	LVS_ROW(sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR), /* syn */
	LVS_ROW(sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW), /* fin */
	LVS_ROW(sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES), /* ack */
	LVS_ROW(sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR), /* rst */
	/* OUTPUT */
	LVS_ROW(sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR), /* syn */
	LVS_ROW(sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW), /* fin */
	LVS_ROW(sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES), /* ack */
	LVS_ROW(sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL), /* rst */
	/* INPUT-ONLY */
	LVS_ROW(sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR), /* syn */
	LVS_ROW(sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW), /* fin */
	LVS_ROW(sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES), /* ack */
	LVS_ROW(sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL), /* rst */
};

/* tcp_state_active_table: these states count in ActiveConn. */
#define LVS_ACTIVE_STATES                                                                          \
	((1u << LVS_TCP_ESTABLISHED) | (1u << LVS_TCP_SYN_SENT) | (1u << LVS_TCP_SYN_RECV) |      \
	 (1u << LVS_TCP_SYNACK))

static __always_inline int lvs_state_active(__u8 proto, __u32 state)
{
	/* UDP entries are always inactive (ip_vs_proto_udp.c never clears
	 * IP_VS_CONN_F_INACTIVE). */
	return proto == LVS_IPPROTO_TCP && state < 32 && ((LVS_ACTIVE_STATES >> state) & 1);
}

/* lvs_tcp_next returns the state a TCP segment with flags moves state to
 * (tcp_state_idx + set_tcp_state). */
static __always_inline __u32 lvs_tcp_next(__u32 dir, __u8 flags, __u32 state)
{
	__u32 ev;

	if (flags & LVS_TCP_RST)
		ev = 3;
	else if (flags & LVS_TCP_SYN)
		ev = 0;
	else if (flags & LVS_TCP_FIN)
		ev = 1;
	else if (flags & LVS_TCP_ACK)
		ev = 2;
	else
		return LVS_TCP_CLOSE; /* no table: new_state keeps its initial sCL */
	ev += dir * 4;
	if (state > LVS_TCP_SYNACK || ev >= 12)
		return LVS_TCP_CLOSE;
	return (lvs_tcp_states[ev] >> (state * 4)) & 0xf;
}

/*
 * lvs_now is the connection clock: CLOCK_MONOTONIC_COARSE, the same
 * timeline as CLOCK_MONOTONIC at tick resolution (a few ms, plenty for
 * timeouts of seconds) and about half the cost of bpf_ktime_get_ns.
 * lvsd reads the same clock (datapath.Now).
 */
static __always_inline __u64 lvs_now(void)
{
	return bpf_ktime_get_coarse_ns();
}

static __always_inline __u64 lvs_timeout(__u32 slot)
{
	__u64 *t = bpf_map_lookup_elem(&lvs_timeouts, &slot);

	return t ? *t : 0;
}

/* lvs_set_overload sets or clears real's IP_VS_DEST_F_OVERLOAD. */
static __always_inline void lvs_set_overload(__u32 real, __u32 on)
{
	__u32 *o = bpf_map_lookup_elem(&lvs_overload, &real);

	if (o && *o != on)
		*o = on;
}

/*
 * lvs_conns_add counts a new connection of real in its initial state and
 * applies ip_vs_bind_dest's threshold rule to the total it made: OVERLOAD
 * is set when u_threshold != 0 and active + inactive >= u_threshold.
 */
static __always_inline void lvs_conns_add(__u32 real, int active)
{
	struct lvs_real_conns *rc = bpf_map_lookup_elem(&lvs_conn_counts, &real);
	struct lvs_real *r;
	__u64 total;

	if (!rc)
		return;
	if (active)
		total = (__u64)__sync_fetch_and_add(&rc->active, 1) + 1 + *(volatile __u32 *)&rc->inactive;
	else
		total = (__u64)__sync_fetch_and_add(&rc->inactive, 1) + 1 + *(volatile __u32 *)&rc->active;
	r = bpf_map_lookup_elem(&lvs_reals, &real);
	if (r && r->u_threshold && total >= r->u_threshold)
		lvs_set_overload(real, 1);
}

/*
 * lvs_conns_release uncounts a removed connection and applies
 * ip_vs_unbind_dest's rule (the classic one) to the total it left:
 * OVERLOAD is cleared when total < l_threshold, or without l_threshold
 * when total * 4 < u_threshold * 3, or without thresholds at all.
 */
static __always_inline void lvs_conns_release(__u32 real, int active)
{
	struct lvs_real_conns *rc = bpf_map_lookup_elem(&lvs_conn_counts, &real);
	struct lvs_real *r;
	__u64 total;
	int clear;

	if (!rc)
		return;
	if (active)
		total = (__u64)(__u32)(__sync_fetch_and_sub(&rc->active, 1) - 1) + *(volatile __u32 *)&rc->inactive;
	else
		total = (__u64)(__u32)(__sync_fetch_and_sub(&rc->inactive, 1) - 1) + *(volatile __u32 *)&rc->active;
	r = bpf_map_lookup_elem(&lvs_reals, &real);
	if (!r)
		return;
	if (r->l_threshold)
		clear = total < r->l_threshold;
	else if (r->u_threshold)
		clear = total * 4 < (__u64)r->u_threshold * 3;
	else
		clear = 1;
	if (clear)
		lvs_set_overload(real, 0);
}

/* lvs_conns_move moves a connection between ActiveConn and InActConn. */
static __always_inline void lvs_conns_move(__u32 real, int to_active)
{
	struct lvs_real_conns *rc = bpf_map_lookup_elem(&lvs_conn_counts, &real);

	if (!rc)
		return;
	if (to_active) {
		__sync_fetch_and_add(&rc->active, 1);
		__sync_fetch_and_sub(&rc->inactive, 1);
	} else {
		__sync_fetch_and_sub(&rc->active, 1);
		__sync_fetch_and_add(&rc->inactive, 1);
	}
}

/*
 * lvs_conn_update applies one packet to a live entry: the TCP transition
 * (by cmpxchg, so when two CPUs race on one transition only the winner
 * moves the counters) and the re-armed expiry, now + timeout[new state],
 * re-read on every packet as IPVS does. Returns 1 when this packet moved
 * the connection to ESTABLISHED (the CPU whose cmpxchg won).
 */
static __always_inline int lvs_conn_update(struct lvs_conn *c, const struct lvs_pkt *p, __u32 dir,
					   __u64 now)
{
	__u32 slot = LVS_TIMEOUT_UDP;
	int established = 0;

	if (p->t.proto == LVS_IPPROTO_TCP) {
		__u32 old = *(volatile __u32 *)&c->state;
		__u32 next = old;

		for (int i = 0; i < 4; i++) {
			__u32 prev;

			next = lvs_tcp_next(dir, p->tcp_flags, old);
			if (next == old)
				break;
			prev = __sync_val_compare_and_swap(&c->state, old, next);
			if (prev == old) {
				int was = lvs_state_active(LVS_IPPROTO_TCP, old);
				int is = lvs_state_active(LVS_IPPROTO_TCP, next);

				if (was != is)
					lvs_conns_move(c->real, is);
				established = next == LVS_TCP_ESTABLISHED;
				break;
			}
			old = prev;
		}
		slot = next;
	}
	c->expires_ns = now + lvs_timeout(slot);
	return established;
}

/*
 * lvs_conn_set_flag sets flag in c->flags atomically. BPF has atomics for
 * 32- and 64-bit words only: the OR is made on the aligned word that
 * holds service, method and flags, in which flags is the top byte on
 * this little-endian target. Nothing writes the other two bytes of a live
 * entry.
 */
_Static_assert(__builtin_offsetof(struct lvs_conn, service) % 4 == 0 &&
		       __builtin_offsetof(struct lvs_conn, flags) == __builtin_offsetof(struct lvs_conn, service) + 3,
	       "lvs_conn: flags is not the top byte of the service word");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "lvs_conn_set_flag assumes little-endian");
_Static_assert(LVS_MAX_SERVICES <= 0x10000, "lvs_conn.service holds a ServiceID in 16 bits");

static __always_inline void lvs_conn_set_flag(struct lvs_conn *c, __u8 flag)
{
	__sync_fetch_and_or((__u32 *)&c->service, (__u32)flag << 24);
}

/*
 * lvs_conn_rport is the port connection c (with key dport dport) sends to
 * on real r: the real's own, or the packet's for a real of port 0 ("keep
 * the service port") and for a connection of a port-zero service
 * (ip_vs_sched_persist). A real's port never changes while a connection
 * holds its id: lvsd keys reals by address and port.
 */
static __always_inline __be16 lvs_conn_rport(const struct lvs_conn *c, const struct lvs_real *r, __be16 dport)
{
	return (c->flags & LVS_CONN_F_PORT_ZERO) || !r->port ? dport : r->port;
}

/* lvs_conn_tmpl_vport is the vport of the key of c's template (c's key's
 * dport is dport): 0 for a port-zero service (ip_vs_sched_persist). */
static __always_inline __be16 lvs_conn_tmpl_vport(const struct lvs_conn *c, __be16 dport)
{
	return c->flags & LVS_CONN_F_PORT_ZERO ? 0 : dport;
}

static __always_inline int lvs_tuple_eq(const struct lvs_tuple *a, const struct lvs_tuple *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
	__u32 d = 0;

#pragma unroll
	for (int i = 0; i < sizeof(*a) / 4; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

/* lvs_nat_reverse fills r with the tuple of the real's replies to the
 * connection keyed by k. */
static __always_inline void lvs_nat_reverse(struct lvs_tuple *r, const struct lvs_tuple *k,
					    const union lvs_addr *raddr, __be16 rport)
{
	__builtin_memset(r, 0, sizeof(*r));
	r->saddr = *raddr;
	r->daddr = k->saddr;
	r->sport = rport;
	r->dport = k->sport;
	r->proto = k->proto;
	r->family = k->family;
}

/* lvs_addr_eq compares two addresses, all 16 bytes. */
static __always_inline int lvs_addr_eq(const union lvs_addr *x, const union lvs_addr *y)
{
	const __u32 *a = (const __u32 *)x, *b = (const __u32 *)y;

	return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3])) == 0;
}

/* lvs_conn_real_is reports whether connection c (key dport dport) sends
 * to addr:port, and returns its real in *rp. */
static __always_inline int lvs_conn_real_is(const struct lvs_conn *c, __be16 dport, const union lvs_addr *addr,
					    __be16 port, struct lvs_real **rp)
{
	__u32 real = c->real;
	struct lvs_real *r = bpf_map_lookup_elem(&lvs_reals, &real);

	*rp = r;
	return r && lvs_conn_rport(c, r, dport) == port && lvs_addr_eq(&r->addr, addr);
}

/*
 * lvs_nat_forward fills fk with the client-side key of the connection
 * whose NAT reverse entry is rk -> v: client address and port from rk,
 * the VIP from lvs_svc_vaddrs. Returns -1 when v names no service.
 */
static __always_inline int lvs_nat_forward(struct lvs_tuple *fk, const struct lvs_tuple *rk,
					   const struct lvs_nat_conn *v)
{
	__u32 service = v->service;
	union lvs_addr *vaddr = bpf_map_lookup_elem(&lvs_svc_vaddrs, &service);

	if (!vaddr)
		return -1;
	__builtin_memset(fk, 0, sizeof(*fk));
	fk->saddr = rk->daddr;
	fk->daddr = *vaddr;
	fk->sport = rk->dport;
	fk->dport = v->vport;
	fk->proto = rk->proto;
	fk->family = rk->family;
	return 0;
}

/* lvs_nat_owned reports whether conn entry fk exists and is a NAT
 * connection whose replies carry reverse tuple rk. */
static __always_inline int lvs_nat_owned(const struct lvs_tuple *rk, const struct lvs_tuple *fk)
{
	struct lvs_conn *c = bpf_map_lookup_elem(&lvs_conns, fk);
	struct lvs_real *r;

	return c && c->method == LVS_METHOD_MASQ && lvs_conn_real_is(c, fk->dport, &rk->saddr, rk->sport, &r);
}

/*
 * lvs_nat_unlink deletes NAT reverse entry rk unless the conn entry it
 * points at still owns it (lvs_nat_owned). With only set, it touches rk
 * only while rk points at *only. Returns 1 when rk was deleted for good.
 *
 * A hash map has no compare-and-delete, so check and delete race with a
 * new connection of the same tuple on another CPU: lvs_new inserts its
 * conn entry first and its reverse entry second, and that reverse entry
 * may land between our check and our delete (a conn_reuse, an expired
 * entry replaced, the sweeper meeting either). The delete is therefore
 * followed by a second look at the conn entry: a connection that owns rk
 * by then was inserted before its reverse entry, so if we deleted that
 * reverse entry we see the connection here and put the entry back
 * (BPF_NOEXIST: if lvs_new writes it after our delete, its write stands).
 * A reverse entry put back for a connection removed again meanwhile is
 * only an orphan, which lvs_out ignores and the next sweep deletes.
 */
static __always_inline int lvs_nat_unlink(const struct lvs_tuple *rk, const struct lvs_tuple *only)
{
	struct lvs_nat_conn nv, *v;
	struct lvs_tuple fk;

	v = bpf_map_lookup_elem(&lvs_nat_conns, rk);
	if (!v)
		return 0;
	nv = *v;
	if (lvs_nat_forward(&fk, rk, &nv)) {
		/* Names no service: nothing owns it. */
		return !bpf_map_delete_elem(&lvs_nat_conns, rk);
	}
	if (only && !lvs_tuple_eq(&fk, only))
		return 0;
	if (lvs_nat_owned(rk, &fk))
		return 0;
	if (bpf_map_delete_elem(&lvs_nat_conns, rk))
		return 0;
	if (lvs_nat_owned(rk, &fk)) {
		bpf_map_update_elem(&lvs_nat_conns, rk, &nv, BPF_NOEXIST);
		return 0;
	}
	return 1;
}

/* lvs_tmpl_key fills tk with the key of a persistence template:
 * <proto, net, 0, vaddr, vport> (ip_vs_sched_persist). */
static __always_inline void lvs_tmpl_key(struct lvs_tuple *tk, __u8 proto, __u8 family,
					 const union lvs_addr *net, const union lvs_addr *vaddr, __be16 vport)
{
	__builtin_memset(tk, 0, sizeof(*tk));
	tk->saddr = *net;
	tk->daddr = *vaddr;
	tk->dport = vport;
	tk->proto = proto;
	tk->family = family;
}

/* lvs_persist_count adds delta to real's PersistConn. */
static __always_inline void lvs_persist_count(__u32 real, int delta)
{
	struct lvs_real_conns *rc = bpf_map_lookup_elem(&lvs_conn_counts, &real);

	if (rc)
		__sync_fetch_and_add(&rc->persist, delta);
}

/* lvs_tmpl_uncontrol takes one controlled connection off template tk if
 * it is still the template of generation gen (ip_vs_control_del). */
static __always_inline void lvs_tmpl_uncontrol(const struct lvs_tuple *tk, __u32 gen)
{
	struct lvs_tmpl *t = bpf_map_lookup_elem(&lvs_templates, tk);

	if (t && t->gen == gen)
		__sync_fetch_and_sub(&t->controls, 1);
}

/*
 * lvs_tmpl_remove deletes template tk (whose value is t) and, when the
 * delete was ours, uncounts it from its real's PersistConn, as
 * lvs_conn_remove does for connections. Returns 1 when this call removed
 * it. Connections it controlled keep its generation, which no later
 * template of the key has, so their removal leaves that one alone.
 */
static __always_inline int lvs_tmpl_remove(const struct lvs_tuple *tk, struct lvs_tmpl *t)
{
	__u32 real = t->real;

	if (bpf_map_delete_elem(&lvs_templates, tk))
		return 0;
	lvs_persist_count(real, -1);
	return 1;
}

/*
 * lvs_conn_remove deletes entry k (whose value is c) and, when the delete
 * was ours, uncounts it (from its real and from its template) and drops
 * its NAT reverse entry if that still points at k (a newer connection may own the same real-side tuple).
 * Returns 1 when this call removed the entry.
 */
static __attribute__((noinline)) int lvs_conn_remove(const struct lvs_tuple *k, struct lvs_conn *c)
{
	/* Copy before the delete: a preallocated element goes back to the
	 * free list at once, and another CPU may reuse it. The real's
	 * address too: once the delete released the connection, lvsd may
	 * give the RealID to another real. */
	__u32 state = *(volatile __u32 *)&c->state;
	__u32 real = c->real;
	__u32 gen = c->tmpl_gen;
	union lvs_addr net = c->tmpl_net;
	__be16 vport = lvs_conn_tmpl_vport(c, k->dport);
	__u8 method = c->method;
	struct lvs_real *rv = bpf_map_lookup_elem(&lvs_reals, &real);
	union lvs_addr raddr = {};
	__be16 rport = 0;
	struct lvs_tuple r;

	/* (rv is NULL only for an id past the array, which the data plane
	 * never stores; the zero address then finds no reverse entry.) */
	if (rv) {
		raddr = rv->addr;
		rport = lvs_conn_rport(c, rv, k->dport);
	}
	if (bpf_map_delete_elem(&lvs_conns, k))
		return 0;
	lvs_conns_release(real, lvs_state_active(k->proto, state));
	if (gen) {
		lvs_tmpl_key(&r, k->proto, k->family, &net, &k->daddr, vport);
		lvs_tmpl_uncontrol(&r, gen);
	}
	if (method != LVS_METHOD_MASQ)
		return 1;
	lvs_nat_reverse(&r, k, &raddr, rport);
	lvs_nat_unlink(&r, k);
	return 1;
}

#endif /* LVS_CONN_H */
