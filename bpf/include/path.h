/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * path.h holds what the TC path (lvs.c) and the XDP fast path (lvs_xdp.c)
 * decide alike about a packet, written once for both: whether a SYN
 * reuses a connection, what a client packet does to its connection's
 * state and counters, whether a NAT reply's connection is live, how a new
 * connection is scheduled and recorded (lvs_new) and what a full table
 * does to the packet that found it full. The two paths differ only in
 * how they read, rewrite and send packets (xmit.h, xdp.h) and in what the
 * fast path leaves to TC.
 */
#ifndef LVS_PATH_H
#define LVS_PATH_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "lvs_abi.h"
#include "maps.h"
#include "parse.h"
#include "stats.h"
#include "conn.h"
#include "sched.h"
#include "persist.h"
#include "xmit.h"

/* lvs_frag_key_of fills k with the key of p's datagram in lvs_frags. */
static __always_inline void lvs_frag_key_of(struct lvs_frag_key *k, const struct lvs_pkt *p)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->saddr = p->t.saddr;
	k->daddr = p->t.daddr;
	k->id = p->frag_id;
	k->proto = p->t.proto;
	k->family = p->t.family;
}

/* lvs_frag_track remembers the ports of a first fragment golvs forwards,
 * for the later fragments of its datagram (lvs_ingress). */
static __always_inline void lvs_frag_track(const struct lvs_pkt *p)
{
	struct lvs_frag_key k;
	struct lvs_frag v = {.sport = p->t.sport, .dport = p->t.dport};

	if (p->frag != LVS_FRAG_FIRST)
		return;
	lvs_frag_key_of(&k, p);
	if (!bpf_map_update_elem(&lvs_frags, &k, &v, BPF_ANY))
		lvs_count(LVS_CNT_FRAG_FIRST);
}

/*
 * lvs_conn_reuse reports whether client packet p, instead of following
 * its live connection c, expires it and is scheduled afresh:
 * conn_reuse_mode=1, a new connection's SYN meeting an entry in TIME_WAIT
 * or CLOSE. "New" is is_new_conn (ip_vs_core.c): SYN without ACK, FIN or
 * RST, stricter than tcp_conn_schedule's SYN without RST.
 */
static __always_inline int lvs_conn_reuse(const struct lvs_pkt *p, const struct lvs_conn *c)
{
	__u32 st = c->state;
	__u8 fl = p->tcp_flags & (LVS_TCP_SYN | LVS_TCP_ACK | LVS_TCP_FIN | LVS_TCP_RST);

	return p->t.proto == LVS_IPPROTO_TCP && fl == LVS_TCP_SYN &&
	       (st == LVS_TCP_TIME_WAIT || st == LVS_TCP_CLOSE);
}

/* lvs_in_dir is the direction of a client packet of connection c for the
 * TCP state table: IPVS's INPUT_ONLY when the replies do not come back
 * through the director (DR, TUN), INPUT otherwise. */
static __always_inline __u32 lvs_in_dir(const struct lvs_conn *c)
{
	return c->flags & LVS_CONN_F_NOOUTPUT ? LVS_DIR_INPUT_ONLY : LVS_DIR_INPUT;
}

/* lvs_in_update applies client packet p to its live connection c (to
 * real): the service's and real's counters, then the state and expiry
 * and the template assured by an established connection, in the order
 * of ip_vs_in_hook (ip_vs_in_stats, then ip_vs_set_state). */
static __always_inline void lvs_in_update(struct lvs_conn *c, const struct lvs_pkt *p, __u32 real, __u64 now)
{
	lvs_stats_in(c->service, real, p->ip_len, 0);
	if (lvs_conn_update(c, p, lvs_in_dir(c), now) && c->tmpl_gen)
		lvs_tmpl_assure(&p->t, c);
}

/*
 * lvs_client_route returns where lvs_route_at keeps the route of replies
 * to p's destination (a NAT client) that arrive on link iif: its
 * lvs_client_routes entry, or, when there is none (*fresh), sc->fc,
 * emptied, which lvs_client_route_keep adds once the FIB answered.
 */
static __always_inline struct lvs_fib_cache *lvs_client_route(struct lvs_xmit_scratch *sc, const struct lvs_pkt *p,
							      __u32 iif, int *fresh)
{
	struct lvs_fib_cache *fc;

	__builtin_memset(&sc->crk, 0, sizeof(sc->crk));
	sc->crk.addr = p->t.daddr;
	sc->crk.iif = iif;
	sc->crk.family = p->t.family;
	fc = bpf_map_lookup_elem(&lvs_client_routes, &sc->crk);
	*fresh = !fc;
	if (fc)
		return fc;
	sc->fc.expires_ns = 0;
	return &sc->fc;
}

static __always_inline void lvs_client_route_keep(struct lvs_xmit_scratch *sc, int fresh)
{
	if (fresh && sc->fc.expires_ns)
		bpf_map_update_elem(&lvs_client_routes, &sc->crk, &sc->fc, BPF_ANY);
}

/* lvs_reply_update applies NAT reply p to connection c (key k): the
 * OUTPUT table, and its template assured by an established TCP
 * connection or any UDP reply (ip_vs_control_assure_ct). */
static __always_inline void lvs_reply_update(struct lvs_conn *c, const struct lvs_tuple *k, const struct lvs_pkt *p,
					     __u64 now)
{
	if ((lvs_conn_update(c, p, LVS_DIR_OUTPUT, now) || p->t.proto == LVS_IPPROTO_UDP) && c->tmpl_gen &&
	    !(c->flags & LVS_CONN_F_ASSURED))
		lvs_tmpl_assure(k, c);
}

/*
 * lvs_reply_conn returns the connection a NAT reply t (its tuple) belongs
 * to by its reverse entry nv, with the connection's key in k and its real
 * in *rp, or NULL when nv is not a live NAT connection's: the service is
 * gone, the connection expired or was replaced by one that is not NAT, or
 * it now sends to another real (the reverse entry outlived its own).
 */
static __always_inline struct lvs_conn *lvs_reply_conn(struct lvs_tuple *k, const struct lvs_tuple *t,
						       const struct lvs_nat_conn *nv, __u64 now, struct lvs_real **rp)
{
	struct lvs_conn *c;

	if (lvs_nat_forward(k, t, nv))
		return 0;
	c = bpf_map_lookup_elem(&lvs_conns, k);
	if (!c || now >= c->expires_ns || c->method != LVS_METHOD_MASQ ||
	    !lvs_conn_real_is(c, k->dport, &t->saddr, t->sport, rp))
		return 0;
	return c;
}

/* What lvs_new did besides a TC verdict: the caller sends the packet
 * (lvs_new_or_follow), which keeps the call chain within the stack. */
#define LVS_NEW_EXISTS (-2)    /* could not add its connection */
#define LVS_NEW_MADE (-3)      /* added it (in lvs_conns) */
#define LVS_NEW_ONEPACKET (-4) /* a one-packet datagram: the scratch conn */

/* lvs_onepacket says whether p, to a service with flags svc_flags, is
 * scheduled as a connection of its own (-o, IP_VS_CONN_F_ONE_PACKET:
 * UDP only), which is never recorded. */
static __always_inline int lvs_onepacket(__u32 svc_flags, const struct lvs_pkt *p)
{
	return (svc_flags & LVS_SVC_F_ONEPACKET) && p->t.proto == LVS_IPPROTO_UDP;
}

/*
 * lvs_new_service returns the virtual service p is for when it may start a
 * connection (filling sk, whose vport is 0 for a port-zero service), or
 * NULL, counting why not unless quiet.
 */
static __always_inline struct lvs_service *lvs_new_service(const struct lvs_pkt *p, struct lvs_service_key *sk,
							   int quiet)
{
	struct lvs_service *svc;

	/* A later fragment starts nothing: it carries no L4 header. */
	if (p->frag == LVS_FRAG_LATER) {
		if (!quiet)
			lvs_count(LVS_CNT_PASS_FRAGMENT);
		return 0;
	}
	__builtin_memset(sk, 0, sizeof(*sk));
	sk->vaddr = p->t.daddr;
	sk->vport = p->t.dport;
	sk->proto = p->t.proto;
	sk->family = p->t.family;
	svc = bpf_map_lookup_elem(&lvs_services, sk);
	if (!svc && sk->vport) {
		/* ip_vs_service_find: a port-zero service takes the ports of
		 * its VIP that no service of their own has. */
		__u32 zero = 0, *n = bpf_map_lookup_elem(&lvs_port_zero, &zero);

		if (n && *n) {
			sk->vport = 0;
			svc = bpf_map_lookup_elem(&lvs_services, sk);
		}
	}
	if (!svc) {
		if (!quiet)
			lvs_count(LVS_CNT_PASS_NO_SERVICE);
		return 0;
	}
	/* tcp_conn_schedule: only SYN without RST starts a connection; the
	 * kernel answers the rest (RST, since nothing listens on VIP:port). */
	if (p->t.proto == LVS_IPPROTO_TCP &&
	    (p->tcp_flags & (LVS_TCP_SYN | LVS_TCP_RST)) != LVS_TCP_SYN) {
		if (!quiet)
			lvs_count(LVS_CNT_PASS_NOT_SYN);
		return 0;
	}
	/* No connection yet: the kernel answers (time exceeded, or a RST
	 * from the VIP), as it would without golvs. */
	if (p->ttl <= 1) {
		if (!quiet)
			lvs_count(LVS_CNT_PASS_TTL);
		return 0;
	}
	return svc;
}

/* lvs_new schedules a new connection to a virtual service. now is 0 when
 * the caller has not read the clock yet. quiet (the XDP fast path, which
 * hands what it does not take to TC) leaves the pass counters to TC. */
static __attribute__((noinline)) int lvs_new(const struct lvs_pkt *p, __u64 now, int quiet)
{
	struct lvs_service_key sk;
	struct lvs_service *svc;
	struct lvs_sched_scratch *sc;
	struct lvs_conn *c;
	struct lvs_conn *live;
	struct lvs_real *r;
	__u32 service, real, slot, flags;
	int active;

	svc = lvs_new_service(p, &sk, quiet);
	if (!svc)
		return TC_ACT_OK;
	if (!now)
		now = lvs_now();
	/* The new entry is built in the per-CPU scratch: the stack is short. */
	sc = lvs_scratch();
	if (!sc)
		return TC_ACT_OK;
	c = &sc->conn;
	__builtin_memset(c, 0, sizeof(*c));
	if (sk.vport != p->t.dport)
		c->flags = LVS_CONN_F_PORT_ZERO;
	service = svc->id;
	flags = svc->flags;
	if (flags & LVS_SVC_F_PERSISTENT) {
		real = lvs_sched_persist(svc, p, sk.vport, now, c);
		if (real == ~0u) {
			lvs_count(LVS_CNT_DROP_TMPL_FULL);
			return TC_ACT_SHOT;
		}
	} else if (sk.vport != p->t.dport) {
		/* ip_vs_schedule: "port zero only supported in persistent
		 * services". */
		real = 0;
	} else {
		real = lvs_schedule(svc, &p->t);
	}
	r = real ? bpf_map_lookup_elem(&lvs_reals, &real) : 0;
	if (!r) {
		/* ip_vs_leave answers with ICMP port unreachable; the kernel
		 * does the same here (RST for TCP) as nothing listens on
		 * VIP:port. */
		if (!quiet)
			lvs_count(LVS_CNT_PASS_NO_DEST);
		return TC_ACT_OK;
	}

	/* The real's address and port are read from lvs_reals when needed
	 * (lvs_conn_rport); the method is copied: it is the connection's. */
	c->method = r->method;
	c->service = service;
	c->real = real;
	if (c->method != LVS_METHOD_MASQ)
		c->flags |= LVS_CONN_F_NOOUTPUT;
	slot = LVS_TIMEOUT_UDP;
	if (p->t.proto == LVS_IPPROTO_TCP) {
		c->state = lvs_tcp_next(lvs_in_dir(c), p->tcp_flags, LVS_TCP_NONE);
		slot = c->state;
	}
	c->expires_ns = now + lvs_timeout(slot);

	if (lvs_onepacket(flags, p)) {
		/* One-packet scheduling (IP_VS_CONN_F_ONE_PACKET): the entry
		 * IPVS makes is never hashed and expires at once, so it is
		 * bound and released here (the thresholds see both) and the
		 * datagram counts as a connection of its own. Its later
		 * fragments, if any, find no connection: IPVS reassembles
		 * first, golvs cannot here. */
		lvs_conns_add(real, 0);
		lvs_conns_release(real, 0);
		lvs_tmpl_release(&p->t, c);
		lvs_stats_in(service, real, p->ip_len, 1);
		return LVS_NEW_ONEPACKET;
	}

	if (bpf_map_update_elem(&lvs_conns, &p->t, c, BPF_NOEXIST)) {
		lvs_tmpl_release(&p->t, c);
		/* Another CPU created it first, or the table is full: the
		 * caller tells them apart (lvs_new_or_follow). */
		return LVS_NEW_EXISTS;
	}
	active = lvs_state_active(p->t.proto, c->state);
	lvs_conns_add(real, active);
	if (c->method == LVS_METHOD_MASQ) {
		struct lvs_tuple rk;
		struct lvs_nat_conn nv = {.service = service, .vport = p->t.dport};

		lvs_nat_reverse(&rk, &p->t, &r->addr, lvs_conn_rport(c, r, p->t.dport));
		if (bpf_map_update_elem(&lvs_nat_conns, &rk, &nv, BPF_ANY)) {
			/* Without a reverse entry the replies would leave
			 * un-NATed: undo the connection (through
			 * lvs_conn_remove, which releases exactly what it
			 * counts, though another CPU may already follow it). */
			live = bpf_map_lookup_elem(&lvs_conns, &p->t);
			if (live)
				lvs_conn_remove(&p->t, live);
			lvs_count(LVS_CNT_DROP_CONN_FULL);
			return TC_ACT_SHOT;
		}
	}
	lvs_stats_in(service, real, p->ip_len, 1);
	lvs_frag_track(p);
	return LVS_NEW_MADE;
}

/*
 * lvs_new_conn returns the connection a packet goes on with after lvs_new
 * returned rc (< 0): the entry it made, the per-CPU one of a one-packet
 * datagram, or, when it could not add its own (LVS_NEW_EXISTS), the live
 * entry another CPU made first for the same tuple, which the packet
 * follows rather than be scheduled a second time. NULL means the table is
 * full (no entry, or an expired one) and the packet is to be dropped, as
 * IPVS drops it when ip_vs_conn_new fails (the client retries). The
 * clock is read only for that rare race.
 */
static __always_inline struct lvs_conn *lvs_new_conn(const struct lvs_pkt *p, int rc)
{
	struct lvs_sched_scratch *sc;
	struct lvs_conn *c;

	if (rc == LVS_NEW_ONEPACKET) {
		sc = lvs_scratch();
		c = sc ? &sc->conn : 0;
	} else {
		c = bpf_map_lookup_elem(&lvs_conns, &p->t);
	}
	if (!c || (rc == LVS_NEW_EXISTS && lvs_now() >= c->expires_ns)) {
		lvs_count(LVS_CNT_DROP_CONN_FULL);
		return 0;
	}
	return c;
}

#endif /* LVS_PATH_H */
