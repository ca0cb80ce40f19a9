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
 *
 * The object lvsd loads holds three programs that share its maps: this
 * one, the XDP fast path in front of it (lvs_xdp.c) and lvsd's sweeper
 * (lvs_sweep.c), both included at the end of this file. What the TC and
 * XDP paths decide alike is written once in path.h.
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
#include "path.h"

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

/* LVS_IN_GONE: lvs_in expired the connection (its real is gone and
 * expire_nodest_conn is on); the caller schedules the packet afresh. */
#define LVS_IN_GONE (-5)

/* lvs_in forwards a client packet of a live connection. */
static __attribute__((noinline)) int lvs_in(struct __sk_buff *skb, const struct lvs_pkt *p, struct lvs_conn *c,
				  __u64 now)
{
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
	lvs_in_update(c, p, real, now);
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

	if (!sc)
		return -1;
	c = lvs_reply_conn(&k, &p->t, nv, now, &r);
	if (!c)
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

/* lvs_new_or_follow is lvs_new, then the packet sent: along the new
 * connection, or, when another CPU made the same one first, along that
 * entry. Not done inside lvs_new: one call level less keeps the stack
 * within its 512 bytes. */
static __always_inline int lvs_new_or_follow(struct __sk_buff *skb, const struct lvs_pkt *p, __u64 now)
{
	struct lvs_conn *c;
	struct lvs_real *r;
	__u32 real;
	int rc = lvs_new(p, now, 0);

	if (rc >= 0)
		return rc;
	c = lvs_new_conn(p, rc);
	if (!c)
		return TC_ACT_SHOT;
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
	if (nv) {
		c = lvs_reply_conn(&xs->ck, k, nv, now, &r);
		if (c) {
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
			if (!lvs_conn_reuse(&p, c)) {
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

/* The other programs of the object (see the top of this file). */
#include "lvs_xdp.c"
#include "lvs_sweep.c"
