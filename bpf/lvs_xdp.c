// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
/*
 * lvs_xdp.c is golvs's XDP fast path (lvsd --xdp). It is built into lvs.c's
 * object (lvs.c includes it at its end), so that it shares the TC
 * program's maps; what both paths decide is in path.h, how the fast path
 * reads and writes frames in xdp.h.
 *
 * lvs_xdp forwards what it can take whole, before the
 * kernel allocates an skb: packets of live connections (NAT both ways, DR,
 * and TUN with the IPIP family of tunnels) and new connections to them,
 * with the same state, counters and bytes as the TC path. Everything else
 * (ICMP, fragments, IP options and IPv6 extension headers, GUE and GRE,
 * packets too big for the path, unresolved neighbours, expired entries,
 * conn reuse, one-packet scheduling, traffic that is not golvs's) gets
 * XDP_PASS before anything is changed, and lvs_ingress handles it as
 * always: the TC program stays attached beside it.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "lvs_abi.h"
#include "maps.h"
#include "parse.h"
#include "stats.h"
#include "conn.h"
#include "xmit.h"
#include "xdp.h"
#include "path.h"

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
	__u32 real = c->real;
	struct lvs_real *r = bpf_map_lookup_elem(&lvs_reals, &real);
	int native;

	if (!sc || !r || (r->flags & LVS_REAL_F_GONE) || p->ttl <= 1)
		return XDP_PASS;
	native = lvs_xdp_route_real(ctx, p, c, r, now, sc);
	if (native < 0)
		return XDP_PASS;
	lvs_in_update(c, p, real, now);
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

	if (!sc)
		return XDP_PASS;
	c = lvs_reply_conn(&k, &p->t, nv, now, &r);
	if (!c || p->ttl <= 1)
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

	return svc && !lvs_onepacket(svc->flags, p);
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
		/* A live entry another CPU made is TC's to follow; a full
		 * table drops the packet here rather than have TC schedule it
		 * a second time. */
		return lvs_new_conn(p, rc) ? XDP_PASS : XDP_DROP;
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
		/* Expiry and conn reuse are TC's. */
		if (now >= c->expires_ns || lvs_conn_reuse(&p, c))
			return XDP_PASS;
		return lvs_xdp_in(ctx, &p, c, now);
	}
	nv = bpf_map_lookup_elem(&lvs_nat_conns, &p.t);
	if (nv)
		return lvs_xdp_out(ctx, &p, nv, lvs_now());
	return lvs_xdp_new(ctx, &p);
}
