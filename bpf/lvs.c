// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
/*
 * lvs.c is golvs's data plane on TC ingress: IPVS's packet path for IPv4
 * and IPv6 TCP and UDP, NAT, DR and TUN, with the ICMP errors about its
 * connections and the fragments of their datagrams.
 *
 * Per packet: a live conn entry for the client-side tuple forwards to its
 * real; else a live NAT reverse entry makes it a reply to rewrite back to
 * VIP:vport; else a TCP SYN (without RST) or any UDP datagram to a virtual
 * service (or to a persistent port-zero service of its VIP) is scheduled,
 * through the client's persistence template if the service has -p
 * (persist.h). Everything else returns TC_ACT_OK untouched, so the
 * kernel handles it as if golvs were absent. Packets are dropped where IPVS
 * drops them: a client packet of a connection whose real was deleted, one
 * with TTL <= 1 (IPVS also sends time exceeded), a new connection that
 * finds the table full.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "lvs_abi.h"
#include "maps.h"
#include "parse.h"
#include "stats.h"
#include "conn.h"
#include "sched.h"
#include "persist.h"
#include "xmit.h"
#include "icmp.h"
#include "xdp.h"

char _license[] SEC("license") = "Dual MIT/GPL";

/*
 * lvs_abi_info names every enum of lvs_abi.h so that they reach BTF and
 * bpf2go generates them as Go constants; lvsd also reads the ABI version of
 * the object it loads from here.
 */
const volatile struct {
	enum lvs_abi version;
	enum lvs_family family;
	enum lvs_sched sched;
	enum lvs_svc_flags svc_flags;
	enum lvs_method method;
	enum lvs_real_flags real_flags;
	enum lvs_tcp_state state;
	enum lvs_conn_flags conn_flags;
	enum lvs_tmpl_state tmpl_state;
	enum lvs_tun_type tun_type;
	enum lvs_tun_flags tun_flags;
	enum lvs_setting_flags settings;
	enum lvs_counter counter;
} lvs_abi_info = {.version = LVS_ABI_VERSION};

/*
 * lvs_xmit rewrites a client packet for connection c's method and sends
 * it toward c's real r (its address, port and tunnel settings), along the
 * real's route cache entry (lvs_real_routes). now is the caller's
 * lvs_now(): the clock is read once per packet. A function of its own
 * (a BPF-to-BPF call), not inlined at each caller: inlined four times the
 * program outgrows the jump range of BPF branches.
 */
static __attribute__((noinline)) int lvs_xmit(struct __sk_buff *skb, const struct lvs_pkt *p,
					      const struct lvs_conn *c, const struct lvs_real *r, __u64 now)
{
	__u32 real = c->real;
	struct lvs_fib_cache *fc = bpf_map_lookup_elem(&lvs_real_routes, &real);
	struct lvs_xmit_scratch *sc = lvs_xscratch();
	struct lvs_tunnel tun = {
		.type = r->tun_type, .flags = r->tun_flags, .port = r->tun_port, .family = r->family};
	__u8 method = c->method, rfamily = r->family;
	const union lvs_addr *raddr = &r->addr;
	/* (Used by NAT only: an ICMP error lvs_icmp sends along a DR or TUN
	 * connection has no ports of its own.) */
	__be16 rport = lvs_conn_rport(c, r, p->t.dport);
	__u32 oh = 0;

	if (!sc || !fc)
		return TC_ACT_SHOT;
	if (method == LVS_METHOD_TUNNEL) {
		oh = lvs_tun_overhead(rfamily, &tun);
	} else if (rfamily != p->t.family) {
		lvs_count(LVS_CNT_DROP_METHOD);
		return TC_ACT_SHOT;
	}
	/* TUN asks the FIB for the outer source address. */
	if (lvs_route(skb, &sc->fib, rfamily, method == LVS_METHOD_TUNNEL ? 0 : &p->t.saddr, raddr,
		      method == LVS_METHOD_TUNNEL, fc, now, &sc->rt)) {
		if (method != LVS_METHOD_MASQ) {
			/* Still addressed to the VIP, a local address: the
			 * kernel would only deliver it locally. */
			lvs_count(LVS_CNT_DROP_FIB);
			return TC_ACT_SHOT;
		}
		/* No FIB answer: the kernel routes the translated packet like
		 * any forwarded one. */
		if (lvs_nat_rewrite(skb, p, LVS_NAT_DST, raddr, rport))
			goto helper;
		lvs_count(LVS_CNT_PASS_FIB);
		return TC_ACT_OK;
	}
	/* ensure_mtu_is_adequate: what does not fit is answered with ICMP.
	 * A segmentation offload packet is judged by its segments, which
	 * lvs_encap makes smaller by the overhead for TCP (UDP's keep their
	 * size: the overhead counts). */
	if (sc->rt.mtu && lvs_seg_len(skb, p) + (skb->gso_size && p->t.proto == LVS_IPPROTO_TCP ? 0 : oh) > sc->rt.mtu &&
	    p->t.proto != LVS_IPPROTO_ICMP && p->t.proto != LVS_IPPROTO_ICMPV6) {
		/* (An ICMP error is never answered with another: IPVS
		 * exempts them.) */
		/* Only a first fragment (or a whole packet) is answered, as
		 * IPVS answers; the rest of the datagram is lost with it. */
		if (p->frag == LVS_FRAG_LATER && (method != LVS_METHOD_MASQ || p->df)) {
			lvs_count(LVS_CNT_DROP_TOO_BIG);
			return TC_ACT_SHOT;
		}
		if (method == LVS_METHOD_MASQ && !p->df) {
			/* IPv4 without DF: IPVS forwards it, fragmented. The
			 * translated packet is for the real, not for us, so the
			 * kernel's forwarding fragments it. (DR and TUN packets
			 * cannot be handed over: DR's is still for the VIP, and
			 * a tunnel's outer fragments would not reach lvsrs's
			 * decapsulation whole; they are answered with ICMP.) */
			if (lvs_nat_rewrite(skb, p, LVS_NAT_DST, raddr, rport))
				goto helper;
			lvs_count(LVS_CNT_PASS_TO_FRAGMENT);
			return TC_ACT_OK;
		}
		return lvs_too_big(skb, p, sc->rt.mtu - oh);
	}
	switch (method) {
	case LVS_METHOD_MASQ:
		if (lvs_nat_rewrite(skb, p, LVS_NAT_DST, raddr, rport))
			goto helper;
		break;
	case LVS_METHOD_ROUTE:
		if (lvs_ttl_dec(skb, p->t.family))
			goto helper;
		break;
	case LVS_METHOD_TUNNEL:
		if (lvs_ttl_dec(skb, p->t.family) || lvs_encap(skb, p, raddr, &sc->rt.src, &tun))
			goto helper;
		break;
	default:
		lvs_count(LVS_CNT_DROP_METHOD);
		return TC_ACT_SHOT;
	}
	return lvs_send(skb, &sc->rt);
helper:
	lvs_count(LVS_CNT_DROP_HELPER);
	return TC_ACT_SHOT;
}

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

/* LVS_IN_GONE: lvs_in expired the connection (its real is gone and
 * expire_nodest_conn is on); the caller schedules the packet afresh. */
#define LVS_IN_GONE (-5)

/* lvs_in forwards a client packet of a live connection. */
static __attribute__((noinline)) int lvs_in(struct __sk_buff *skb, const struct lvs_pkt *p, struct lvs_conn *c,
				  __u64 now)
{
	__u32 dir = c->flags & LVS_CONN_F_NOOUTPUT ? LVS_DIR_INPUT_ONLY : LVS_DIR_INPUT;
	__u32 real = c->real;
	struct lvs_real *r;

	/* ip_vs_in_hook: a packet of a connection whose real was deleted is
	 * dropped silently, without re-arming the entry, so a real added back
	 * in time can carry on with it (expire_nodest_conn=0); or it expires
	 * the connection and is scheduled afresh (expire_nodest_conn=1). */
	r = bpf_map_lookup_elem(&lvs_reals, &real);
	if (!r || (r->flags & LVS_REAL_F_GONE)) {
		__u32 zero = 0, *set = bpf_map_lookup_elem(&lvs_settings, &zero);

		if (set && (*set & LVS_SET_EXPIRE_NODEST_CONN)) {
			lvs_conn_remove(&p->t, c);
			return LVS_IN_GONE;
		}
		lvs_count(LVS_CNT_DROP_NODEST);
		return TC_ACT_SHOT;
	}
	if (lvs_conn_update(c, p, dir, now) && c->tmpl_gen)
		lvs_tmpl_assure(&p->t, c);
	lvs_stats_in(c->service, real, p->ip_len, 0);
	if (p->ttl <= 1) {
		/* IPVS counts the packet and moves the state first; then its
		 * xmit (decrement_ttl, ip_vs_xmit.c) sends ICMP time exceeded
		 * and drops it. golvs drops it without the ICMP for now. It
		 * must not reach the kernel: addressed to the VIP, a local
		 * address, it would be delivered locally and answered with a
		 * RST that kills the client's connection. */
		lvs_count(LVS_CNT_DROP_TTL);
		return TC_ACT_SHOT;
	}
	lvs_frag_track(p);
	return lvs_xmit(skb, p, c, r, now);
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
 * lvs_out handles a reply from a NAT real (nv: its NAT reverse entry).
 * Returns -1 when the connection is gone, so the packet is not a reply.
 */
static __attribute__((noinline)) int lvs_out(struct __sk_buff *skb, const struct lvs_pkt *p,
					     const struct lvs_nat_conn *nv, __u64 now)
{
	struct lvs_xmit_scratch *sc = lvs_xscratch();
	struct lvs_tuple k;
	struct lvs_conn *c;
	struct lvs_real *r;
	struct lvs_fib_cache *fc;
	int fresh;

	if (!sc || lvs_nat_forward(&k, &p->t, nv))
		return -1;
	c = bpf_map_lookup_elem(&lvs_conns, &k);
	if (!c || now >= c->expires_ns || c->method != LVS_METHOD_MASQ ||
	    !lvs_conn_real_is(c, k.dport, &p->t.saddr, p->t.sport, &r))
		return -1;
	/* Addressed to the client, not to us: the kernel forwards it, and
	 * ip_forward answers TTL <= 1 with time exceeded as it should. */
	if (p->ttl <= 1) {
		lvs_count(LVS_CNT_PASS_TTL);
		return TC_ACT_OK;
	}
	lvs_reply_update(c, &k, p, now);
	lvs_stats_out(c->service, c->real, p->ip_len);
	lvs_frag_track(p);
	fc = lvs_client_route(sc, p, skb->ifindex, &fresh);
	if (lvs_route(skb, &sc->fib, p->t.family, &k.daddr, &p->t.daddr, 0, fc, now, &sc->rt)) {
		if (lvs_nat_rewrite(skb, p, LVS_NAT_SRC, &k.daddr, k.dport))
			goto helper;
		lvs_count(LVS_CNT_PASS_FIB);
		return TC_ACT_OK;
	}
	lvs_client_route_keep(sc, fresh);
	if (sc->rt.mtu && lvs_seg_len(skb, p) > sc->rt.mtu) {
		/* Untranslated, the kernel's forwarding answers the real
		 * with fragmentation needed itself, quoting what it sent.
		 * An IPv4 packet that may be fragmented cannot be: golvs
		 * does not fragment, and the kernel would send it
		 * untranslated. */
		if (p->df)
			return TC_ACT_OK;
		lvs_count(LVS_CNT_DROP_TOO_BIG);
		return TC_ACT_SHOT;
	}
	if (lvs_nat_rewrite(skb, p, LVS_NAT_SRC, &k.daddr, k.dport))
		goto helper;
	return lvs_send(skb, &sc->rt);
helper:
	lvs_count(LVS_CNT_DROP_HELPER);
	return TC_ACT_SHOT;
}

/* What lvs_new did besides a TC verdict: the caller sends the packet
 * (lvs_new_or_follow), which keeps the call chain within the stack. */
#define LVS_NEW_EXISTS (-2)    /* could not add its connection */
#define LVS_NEW_MADE (-3)      /* added it (in lvs_conns) */
#define LVS_NEW_ONEPACKET (-4) /* a one-packet datagram: the scratch conn */

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
		c->state = lvs_tcp_next(c->flags & LVS_CONN_F_NOOUTPUT ? LVS_DIR_INPUT_ONLY : LVS_DIR_INPUT,
				       p->tcp_flags, LVS_TCP_NONE);
		slot = c->state;
	}
	c->expires_ns = now + lvs_timeout(slot);

	if ((flags & LVS_SVC_F_ONEPACKET) && p->t.proto == LVS_IPPROTO_UDP) {
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

/* lvs_new_or_follow is lvs_new, then the packet sent: along the new
 * connection, or, when another CPU made the same one first, along that
 * entry. Not done inside lvs_new: one call level less keeps the stack
 * within its 512 bytes. */
static __always_inline int lvs_new_or_follow(struct __sk_buff *skb, const struct lvs_pkt *p, __u64 now)
{
	struct lvs_sched_scratch *sc;
	struct lvs_conn *c;
	struct lvs_real *r;
	__u32 real;
	int rc = lvs_new(p, now, 0);

	if (rc >= 0)
		return rc;
	if (rc == LVS_NEW_ONEPACKET) {
		sc = lvs_scratch();
		c = sc ? &sc->conn : 0;
	} else {
		c = bpf_map_lookup_elem(&lvs_conns, &p->t);
	}
	if (!c || (rc == LVS_NEW_EXISTS && lvs_now() >= c->expires_ns)) {
		/* The table is full: IPVS drops the packet when
		 * ip_vs_conn_new fails, and the client retries. */
		lvs_count(LVS_CNT_DROP_CONN_FULL);
		return TC_ACT_SHOT;
	}
	if (rc == LVS_NEW_EXISTS) {
		/* Not rescheduled a second time: dropped, as IPVS drops what
		 * meets a connection it cannot use. */
		rc = lvs_in(skb, p, c, lvs_now());
		return rc == LVS_IN_GONE ? TC_ACT_SHOT : rc;
	}
	real = c->real;
	r = bpf_map_lookup_elem(&lvs_reals, &real);
	if (!r)
		return TC_ACT_SHOT;
	return lvs_xmit(skb, p, c, r, now ?: lvs_now());
}

/*
 * lvs_icmp handles an ICMP error message p (icmp.h). Returns TC_ACT_OK
 * for the kernel when it is not about a golvs connection.
 */
static __attribute__((noinline)) int lvs_icmp(struct __sk_buff *skb, const struct lvs_pkt *p)
{
	struct lvs_xmit_scratch *xs = lvs_xscratch();
	struct lvs_icmphdr *ic;
	struct lvs_quote *q;
	struct lvs_tuple *k;
	struct lvs_nat_conn *nv;
	struct lvs_conn *c;
	struct lvs_real *r;
	__u64 now;
	__u32 real;

	if (!xs)
		return TC_ACT_OK;
	/* The locals live in the scratch: this runs three calls deep. */
	ic = (void *)xs->icmp;
	q = (void *)xs->quote;
	k = &xs->k;
	if (bpf_skb_load_bytes(skb, p->l4_off, ic, sizeof(*ic)))
		return TC_ACT_OK;
	if (lvs_quote_parse(skb, p->t.family, p->l4_off + sizeof(*ic), q))
		return TC_ACT_OK;
	/* The quoted packet, seen from the connection's side: a reply
	 * VIP -> client for lvs_conns, a client -> real packet for the NAT
	 * reverse table. */
	__builtin_memset(k, 0, sizeof(*k));
	k->saddr = q->t.daddr;
	k->daddr = q->t.saddr;
	k->sport = q->t.dport;
	k->dport = q->t.sport;
	k->proto = q->t.proto;
	k->family = q->t.family;
	now = lvs_now();

	c = bpf_map_lookup_elem(&lvs_conns, k);
	if (c && now < c->expires_ns) {
		/* ip_vs_in_icmp: to the real, as the connection's packets go. */
		real = c->real;
		r = bpf_map_lookup_elem(&lvs_reals, &real);
		if (!r || (r->flags & LVS_REAL_F_GONE))
			return TC_ACT_SHOT;
		lvs_stats_in(c->service, real, p->ip_len, 0);
		lvs_count(LVS_CNT_ICMP_IN);
		/* decrement_ttl, as for every packet IPVS forwards. */
		if (p->ttl <= 1) {
			lvs_count(LVS_CNT_DROP_TTL);
			return TC_ACT_SHOT;
		}
		if (c->method != LVS_METHOD_MASQ)
			return lvs_xmit(skb, p, c, r, now);
		q->in = 1;
		xs->ck.saddr = r->addr; /* the new destination */
		if (lvs_icmp_nat(skb, p, q, &xs->ck.saddr, lvs_conn_rport(c, r, k->dport)) ||
		    lvs_ttl_dec(skb, p->t.family))
			goto helper;
		if (lvs_route(skb, &xs->fib, p->t.family, &p->t.saddr, &xs->ck.saddr, 0, 0, now, &xs->rt))
			return TC_ACT_OK;
		return lvs_send(skb, &xs->rt);
	}

	nv = bpf_map_lookup_elem(&lvs_nat_conns, k);
	if (nv && !lvs_nat_forward(&xs->ck, k, nv)) {
		c = bpf_map_lookup_elem(&lvs_conns, &xs->ck);
		if (c && now < c->expires_ns && c->method == LVS_METHOD_MASQ &&
		    lvs_conn_real_is(c, xs->ck.dport, &q->t.daddr, q->t.dport, &r)) {
			/* ip_vs_out_icmp: to the client, from the VIP. Like any
			 * reply, one that would die here is the kernel's. */
			if (p->ttl <= 1) {
				lvs_count(LVS_CNT_PASS_TTL);
				return TC_ACT_OK;
			}
			lvs_stats_out(c->service, c->real, p->ip_len);
			lvs_count(LVS_CNT_ICMP_OUT);
			q->in = 0;
			if (lvs_icmp_nat(skb, p, q, &xs->ck.daddr, xs->ck.dport) || lvs_ttl_dec(skb, p->t.family))
				goto helper;
			if (lvs_route(skb, &xs->fib, p->t.family, &xs->ck.daddr, &xs->ck.saddr, 0, 0, now, &xs->rt))
				return TC_ACT_OK;
			return lvs_send(skb, &xs->rt);
		}
	}

	if (q->t.proto == LVS_IPPROTO_IPIP || q->t.proto == LVS_IPPROTO_IPV6 || q->t.proto == LVS_IPPROTO_UDP ||
	    q->t.proto == LVS_IPPROTO_GRE) {
		int rc = lvs_icmp_relay_tunnel(skb, p, q, ic);

		if (rc >= 0)
			return rc;
	}
	return TC_ACT_OK;
helper:
	lvs_count(LVS_CNT_DROP_HELPER);
	return TC_ACT_SHOT;
}

SEC("tc")
int lvs_ingress(struct __sk_buff *skb)
{
	struct lvs_pkt p;
	struct lvs_conn *c;
	struct lvs_nat_conn *nv;
	__u64 now;
	int rc;

	rc = lvs_parse(skb, &p);
	switch (rc) {
	case LVS_PARSE_OK:
		break;
	case LVS_PARSE_NOT_IP:
		lvs_count(LVS_CNT_PASS_NOT_IP);
		return TC_ACT_OK;
	case LVS_PARSE_NOT_L4:
		lvs_count(LVS_CNT_PASS_NOT_L4);
		return TC_ACT_OK;
	case LVS_PARSE_ICMP:
		return lvs_icmp(skb, &p);
	default:
		lvs_count(LVS_CNT_PASS_MALFORMED);
		return TC_ACT_OK;
	}
	if (p.frag == LVS_FRAG_LATER) {
		/* A later fragment takes its ports from its datagram's first
		 * fragment, if golvs forwarded that one (the way Cilium
		 * tracks fragments); else it is not golvs's, or came first,
		 * and the kernel has it. */
		struct lvs_frag_key fk;
		struct lvs_frag *fv;

		lvs_frag_key_of(&fk, &p);
		fv = bpf_map_lookup_elem(&lvs_frags, &fk);
		if (!fv) {
			lvs_count(LVS_CNT_PASS_FRAGMENT);
			return TC_ACT_OK;
		}
		p.t.sport = fv->sport;
		p.t.dport = fv->dport;
		lvs_count(LVS_CNT_FRAG_FOLLOW);
	}

	/* The clock is read only for packets that need it: most traffic
	 * that is not ours never does. */
	c = bpf_map_lookup_elem(&lvs_conns, &p.t);
	if (c) {
		now = lvs_now();
		if (now < c->expires_ns) {
			/* conn_reuse_mode=1: a new connection's SYN meeting an
			 * entry in TIME_WAIT or CLOSE expires it and is
			 * scheduled afresh. "New" is is_new_conn (ip_vs_core.c):
			 * SYN without ACK, FIN or RST, stricter than
			 * tcp_conn_schedule's SYN without RST. */
			__u32 st = c->state;
			__u8 fl = p.tcp_flags & (LVS_TCP_SYN | LVS_TCP_ACK | LVS_TCP_FIN | LVS_TCP_RST);

			if (!(p.t.proto == LVS_IPPROTO_TCP && fl == LVS_TCP_SYN &&
			      (st == LVS_TCP_TIME_WAIT || st == LVS_TCP_CLOSE))) {
				rc = lvs_in(skb, &p, c, now);
				if (rc != LVS_IN_GONE)
					return rc;
				return lvs_new_or_follow(skb, &p, now);
			}
			lvs_count(LVS_CNT_CONN_REUSED);
			{
				__u32 gen = c->tmpl_gen;
				union lvs_addr net = c->tmpl_net;
				__be16 vport = lvs_conn_tmpl_vport(c, p.t.dport);

				if (lvs_conn_remove(&p.t, c))
					lvs_tmpl_drop_unassured(&p.t, gen, &net, vport);
			}
			return lvs_new_or_follow(skb, &p, now);
		} else {
			lvs_count(LVS_CNT_CONN_EXPIRED);
		}
		/* An expired entry is absent; remove it so a new one fits. */
		lvs_conn_remove(&p.t, c);
		return lvs_new_or_follow(skb, &p, now);
	}

	nv = bpf_map_lookup_elem(&lvs_nat_conns, &p.t);
	if (nv) {
		now = lvs_now();
		rc = lvs_out(skb, &p, nv, now);
		if (rc >= 0)
			return rc;
		return lvs_new_or_follow(skb, &p, now);
	}
	return lvs_new_or_follow(skb, &p, 0);
}

/*
 * The XDP fast path. lvs_xdp forwards what it can take whole, before the
 * kernel allocates an skb: packets of live connections (NAT both ways, DR,
 * and TUN with the IPIP family of tunnels) and new connections to them,
 * with the same state, counters and bytes as the TC path. Everything else
 * (ICMP, fragments, IP options and IPv6 extension headers, GUE and GRE,
 * packets too big for the path, unresolved neighbours, expired entries,
 * conn reuse, one-packet scheduling, traffic that is not golvs's) gets
 * XDP_PASS before anything is changed, and lvs_ingress handles it as
 * always: the TC program stays attached beside it.
 */

/* lvs_xdp_xmit rewrites the frame for connection c's method toward its
 * real r and sends it along sc->rt (lvs_xdp_route's answer, native or
 * not). */
static __always_inline int lvs_xdp_xmit(struct xdp_md *ctx, const struct lvs_pkt *p, const struct lvs_conn *c,
					const struct lvs_real *r, struct lvs_xmit_scratch *sc, int native)
{
	int err;

	if (c->method == LVS_METHOD_MASQ)
		err = lvs_xdp_nat(ctx, p, LVS_NAT_DST, &r->addr, lvs_conn_rport(c, r, p->t.dport));
	else if (c->method == LVS_METHOD_TUNNEL)
		err = lvs_xdp_ttl_dec(ctx, p->t.family) || lvs_xdp_encap(ctx, p, &r->addr, &sc->rt.src, r->family);
	else
		err = lvs_xdp_ttl_dec(ctx, p->t.family);
	if (err) {
		lvs_count(LVS_CNT_DROP_HELPER);
		return XDP_DROP;
	}
	return lvs_xdp_send(ctx, &sc->rt, native);
}

/* lvs_xdp_route_real is lvs_xdp_route for a client packet of connection c
 * toward its real r, along the real's route cache entry. */
static __always_inline int lvs_xdp_route_real(struct xdp_md *ctx, const struct lvs_pkt *p, const struct lvs_conn *c,
					      const struct lvs_real *r, __u64 now, struct lvs_xmit_scratch *sc)
{
	__u32 real = c->real;
	struct lvs_fib_cache *fc = bpf_map_lookup_elem(&lvs_real_routes, &real);

	if (!fc)
		return -1;
	return lvs_xdp_route(ctx, p, c->method, r->family, r, c->method == LVS_METHOD_TUNNEL ? 0 : &p->t.saddr,
			     &r->addr, fc, now, sc);
}

/* lvs_xdp_in is lvs_in for the fast path. */
static __attribute__((noinline)) int lvs_xdp_in(struct xdp_md *ctx, const struct lvs_pkt *p, struct lvs_conn *c,
						__u64 now)
{
	struct lvs_xmit_scratch *sc = lvs_xscratch();
	__u32 dir = c->flags & LVS_CONN_F_NOOUTPUT ? LVS_DIR_INPUT_ONLY : LVS_DIR_INPUT;
	__u32 real = c->real;
	struct lvs_real *r = bpf_map_lookup_elem(&lvs_reals, &real);
	int native;

	if (!sc || !r || (r->flags & LVS_REAL_F_GONE) || p->ttl <= 1)
		return XDP_PASS;
	native = lvs_xdp_route_real(ctx, p, c, r, now, sc);
	if (native < 0)
		return XDP_PASS;
	if (lvs_conn_update(c, p, dir, now) && c->tmpl_gen)
		lvs_tmpl_assure(&p->t, c);
	lvs_stats_in(c->service, real, p->ip_len, 0);
	return lvs_xdp_xmit(ctx, p, c, r, sc, native);
}

/* lvs_xdp_out is lvs_out for the fast path: a NAT reply (nv: its NAT
 * reverse entry). */
static __attribute__((noinline)) int lvs_xdp_out(struct xdp_md *ctx, const struct lvs_pkt *p,
						 const struct lvs_nat_conn *nv, __u64 now)
{
	struct lvs_xmit_scratch *sc = lvs_xscratch();
	struct lvs_fib_cache *fc;
	struct lvs_tuple k;
	struct lvs_conn *c;
	struct lvs_real *r;
	int native, fresh;

	if (!sc || lvs_nat_forward(&k, &p->t, nv))
		return XDP_PASS;
	c = bpf_map_lookup_elem(&lvs_conns, &k);
	if (!c || now >= c->expires_ns || c->method != LVS_METHOD_MASQ ||
	    !lvs_conn_real_is(c, k.dport, &p->t.saddr, p->t.sport, &r) || p->ttl <= 1)
		return XDP_PASS;
	fc = lvs_client_route(sc, p, ctx->ingress_ifindex, &fresh);
	native = lvs_xdp_route(ctx, p, LVS_METHOD_MASQ, p->t.family, r, &k.daddr, &p->t.daddr, fc, now, sc);
	if (native < 0)
		return XDP_PASS;
	lvs_client_route_keep(sc, fresh);
	lvs_reply_update(c, &k, p, now);
	lvs_stats_out(c->service, c->real, p->ip_len);
	if (lvs_xdp_nat(ctx, p, LVS_NAT_SRC, &k.daddr, k.dport)) {
		lvs_count(LVS_CNT_DROP_HELPER);
		return XDP_DROP;
	}
	return lvs_xdp_send(ctx, &sc->rt, native);
}

/* lvs_xdp_may_new says whether p may start a connection the fast path
 * schedules: one-packet datagrams are scheduled per packet, TC's alone. A
 * function of its own so that the key stays off the stack of the lvs_new
 * call chain. */
static __attribute__((noinline)) int lvs_xdp_may_new(const struct lvs_pkt *p)
{
	struct lvs_service_key sk;
	struct lvs_service *svc = lvs_new_service(p, &sk, 1);

	return svc && !((svc->flags & LVS_SVC_F_ONEPACKET) && p->t.proto == LVS_IPPROTO_UDP);
}

/* lvs_xdp_send_new sends the first packet of the connection lvs_new just
 * made for it, or leaves it to TC. A function of its own, beside lvs_new
 * rather than around it: the stack of the lvs_new call chain stays short. */
static __attribute__((noinline)) int lvs_xdp_send_new(struct xdp_md *ctx, const struct lvs_pkt *p, __u64 now)
{
	struct lvs_xmit_scratch *sc = lvs_xscratch();
	struct lvs_conn *c = bpf_map_lookup_elem(&lvs_conns, &p->t);
	struct lvs_real *r;
	__u32 real;
	int native = -1;

	if (!c)
		return XDP_PASS;
	real = c->real;
	r = bpf_map_lookup_elem(&lvs_reals, &real);
	if (r && sc)
		native = lvs_xdp_route_real(ctx, p, c, r, now, sc);
	if (native < 0 || !r || !sc) {
		/* The connection stands; TC finds it and counts the packet. */
		lvs_stats_in_undo(c->service, real, p->ip_len);
		return XDP_PASS;
	}
	return lvs_xdp_xmit(ctx, p, c, r, sc, native);
}

/* lvs_xdp_new is lvs_new_or_follow for the fast path. */
static __always_inline int lvs_xdp_new(struct xdp_md *ctx, const struct lvs_pkt *p)
{
	__u64 now;
	int rc;

	if (!lvs_xdp_may_new(p))
		return XDP_PASS;
	now = lvs_now();
	rc = lvs_new(p, now, 1);
	if (rc == TC_ACT_SHOT)
		return XDP_DROP;
	if (rc == LVS_NEW_EXISTS) {
		/* As lvs_new_or_follow: a live entry another CPU made is TC's
		 * to follow; none, or an expired one, means the table is
		 * full, and the packet is dropped here rather than scheduled
		 * a second time by TC. */
		struct lvs_conn *c = bpf_map_lookup_elem(&lvs_conns, &p->t);

		if (c && now < c->expires_ns)
			return XDP_PASS;
		lvs_count(LVS_CNT_DROP_CONN_FULL);
		return XDP_DROP;
	}
	if (rc != LVS_NEW_MADE)
		return XDP_PASS; /* no real: the kernel answers */
	return lvs_xdp_send_new(ctx, p, now);
}

SEC("xdp")
int lvs_xdp(struct xdp_md *ctx)
{
	struct lvs_pkt p;
	struct lvs_conn *c;
	struct lvs_nat_conn *nv;
	__u64 now;

	if (lvs_xdp_parse(ctx, &p))
		return XDP_PASS;
	c = bpf_map_lookup_elem(&lvs_conns, &p.t);
	if (c) {
		now = lvs_now();
		/* Expiry and conn reuse (a SYN meeting TIME_WAIT or CLOSE,
		 * see lvs_ingress) are TC's. */
		if (now >= c->expires_ns ||
		    (p.t.proto == LVS_IPPROTO_TCP &&
		     (p.tcp_flags & (LVS_TCP_SYN | LVS_TCP_ACK | LVS_TCP_FIN | LVS_TCP_RST)) == LVS_TCP_SYN &&
		     (c->state == LVS_TCP_TIME_WAIT || c->state == LVS_TCP_CLOSE)))
			return XDP_PASS;
		return lvs_xdp_in(ctx, &p, c, now);
	}
	nv = bpf_map_lookup_elem(&lvs_nat_conns, &p.t);
	if (nv)
		return lvs_xdp_out(ctx, &p, nv, lvs_now());
	return lvs_xdp_new(ctx, &p);
}

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
