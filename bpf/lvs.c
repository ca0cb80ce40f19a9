// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
/*
 * lvs.c is golvs's data plane on TC ingress: IPVS's packet path for IPv4
 * TCP and UDP, NAT and DR.
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
	enum lvs_counter counter;
} lvs_abi_info = {.version = LVS_ABI_VERSION};

/* lvs_xmit rewrites the packet for the connection's method and sends it. */
static __always_inline int lvs_xmit(struct __sk_buff *skb, const struct lvs_pkt *p, __u8 method,
				    __be32 raddr, __be16 rport, struct lvs_fib_cache *fc, __u64 now)
{
	switch (method) {
	case LVS_METHOD_MASQ:
		if (lvs_nat_rewrite(skb, p, LVS_NAT_DST, raddr, rport)) {
			lvs_count(LVS_CNT_DROP_HELPER);
			return TC_ACT_SHOT;
		}
		return lvs_forward(skb, p->t.saddr.v4, raddr, p->t.proto, 0, fc, now);
	case LVS_METHOD_ROUTE:
		if (lvs_dr_rewrite(skb)) {
			lvs_count(LVS_CNT_DROP_HELPER);
			return TC_ACT_SHOT;
		}
		return lvs_forward(skb, p->t.saddr.v4, raddr, p->t.proto, 1, fc, now);
	}
	lvs_count(LVS_CNT_PASS_METHOD);
	return TC_ACT_OK;
}

/* lvs_in forwards a client packet of a live connection. */
static __always_inline int lvs_in(struct __sk_buff *skb, const struct lvs_pkt *p, struct lvs_conn *c,
				  __u64 now)
{
	__u32 dir = c->flags & LVS_CONN_F_NOOUTPUT ? LVS_DIR_INPUT_ONLY : LVS_DIR_INPUT;
	__be32 raddr = c->raddr.v4;
	__be16 rport = c->rport;
	__u8 method = c->method;
	__u32 real = c->real;
	struct lvs_real *r;

	/* expire_nodest_conn=0 (ip_vs_in_hook): a packet of a connection
	 * whose real was deleted is dropped silently, without re-arming the
	 * entry, so a real added back in time can carry on with it. */
	r = bpf_map_lookup_elem(&lvs_reals, &real);
	if (r && (r->flags & LVS_REAL_F_GONE)) {
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
	return lvs_xmit(skb, p, method, raddr, rport, &c->fib[0], now);
}

/*
 * lvs_out handles a reply from a NAT real (fk: its connection's key).
 * Returns -1 when the connection is gone, so the packet is not a reply.
 */
static __always_inline int lvs_out(struct __sk_buff *skb, const struct lvs_pkt *p,
				   const struct lvs_tuple *fk, __u64 now)
{
	struct lvs_tuple k = *fk;
	struct lvs_conn *c;
	__be32 vaddr = k.daddr.v4;
	__be16 vport = k.dport;

	c = bpf_map_lookup_elem(&lvs_conns, &k);
	if (!c || now >= c->expires_ns || c->method != LVS_METHOD_MASQ ||
	    c->raddr.v4 != p->t.saddr.v4 || c->rport != p->t.sport)
		return -1;
	/* Addressed to the client, not to us: the kernel forwards it, and
	 * ip_forward answers TTL <= 1 with time exceeded as it should. */
	if (p->ttl <= 1) {
		lvs_count(LVS_CNT_PASS_TTL);
		return TC_ACT_OK;
	}
	if ((lvs_conn_update(c, p, LVS_DIR_OUTPUT, now) || p->t.proto == LVS_IPPROTO_UDP) && c->tmpl_gen &&
	    !(c->flags & LVS_CONN_F_ASSURED))
		lvs_tmpl_assure(&k, c);
	lvs_stats_out(c->service, c->real, p->ip_len);
	if (lvs_nat_rewrite(skb, p, LVS_NAT_SRC, vaddr, vport)) {
		lvs_count(LVS_CNT_DROP_HELPER);
		return TC_ACT_SHOT;
	}
	return lvs_forward(skb, vaddr, p->t.daddr.v4, p->t.proto, 0, &c->fib[1], now);
}

/* lvs_new schedules a new connection to a virtual service. now is 0 when
 * the caller has not read the clock yet. */
static __always_inline int lvs_new(struct __sk_buff *skb, const struct lvs_pkt *p, __u64 now)
{
	struct lvs_service_key sk = {};
	struct lvs_service *svc;
	struct lvs_sched_scratch *sc;
	struct lvs_conn *c;
	struct lvs_conn *live;
	struct lvs_real *r;
	__u32 service, real, slot, flags;
	int active;

	sk.vaddr = p->t.daddr;
	sk.vport = p->t.dport;
	sk.proto = p->t.proto;
	sk.family = p->t.family;
	svc = bpf_map_lookup_elem(&lvs_services, &sk);
	if (!svc && sk.vport) {
		/* ip_vs_service_find: a port-zero service takes the ports of
		 * its VIP that no service of their own has. */
		__u32 zero = 0, *n = bpf_map_lookup_elem(&lvs_port_zero, &zero);

		if (n && *n) {
			sk.vport = 0;
			svc = bpf_map_lookup_elem(&lvs_services, &sk);
		}
	}
	if (!svc) {
		lvs_count(LVS_CNT_PASS_NO_SERVICE);
		return TC_ACT_OK;
	}
	/* tcp_conn_schedule: only SYN without RST starts a connection; the
	 * kernel answers the rest (RST, since nothing listens on VIP:port). */
	if (p->t.proto == LVS_IPPROTO_TCP &&
	    (p->tcp_flags & (LVS_TCP_SYN | LVS_TCP_RST)) != LVS_TCP_SYN) {
		lvs_count(LVS_CNT_PASS_NOT_SYN);
		return TC_ACT_OK;
	}
	/* No connection yet: the kernel answers (time exceeded, or a RST
	 * from the VIP), as it would without golvs. */
	if (p->ttl <= 1) {
		lvs_count(LVS_CNT_PASS_TTL);
		return TC_ACT_OK;
	}
	if (!now)
		now = lvs_now();
	/* The new entry is built in the per-CPU scratch: the stack is short. */
	sc = lvs_scratch();
	if (!sc)
		return TC_ACT_OK;
	c = &sc->conn;
	__builtin_memset(c, 0, sizeof(*c));
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
		real = lvs_schedule(svc, p->t.saddr.v4, p->t.sport, p->t.daddr.v4);
	}
	r = real ? bpf_map_lookup_elem(&lvs_reals, &real) : 0;
	if (!r) {
		/* ip_vs_leave answers with ICMP port unreachable; the kernel
		 * does the same here (RST for TCP) as nothing listens on
		 * VIP:port. */
		lvs_count(LVS_CNT_PASS_NO_DEST);
		return TC_ACT_OK;
	}
	if (r->method != LVS_METHOD_MASQ && r->method != LVS_METHOD_ROUTE) {
		lvs_tmpl_release(&p->t, c);
		lvs_count(LVS_CNT_PASS_METHOD);
		return TC_ACT_OK;
	}

	c->raddr = r->addr;
	/* The real's port for a packet to the service port; a port-zero
	 * service keeps the packet's (ip_vs_sched_persist). */
	c->rport = r->port && sk.vport == p->t.dport ? r->port : p->t.dport;
	c->method = r->method;
	c->service = service;
	c->real = real;
	if (c->method != LVS_METHOD_MASQ)
		c->flags = LVS_CONN_F_NOOUTPUT;
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
		 * datagram counts as a connection of its own. */
		lvs_conns_add(real, 0);
		lvs_conns_release(real, 0);
		lvs_tmpl_release(&p->t, c);
		lvs_stats_in(service, real, p->ip_len, 1);
		return lvs_xmit(skb, p, c->method, c->raddr.v4, c->rport, 0, now);
	}

	if (bpf_map_update_elem(&lvs_conns, &p->t, c, BPF_NOEXIST)) {
		lvs_tmpl_release(&p->t, c);
		/* Another CPU created it first: follow that entry. */
		live = bpf_map_lookup_elem(&lvs_conns, &p->t);
		if (live && now < live->expires_ns)
			return lvs_in(skb, p, live, now);
		/* The table is full: IPVS drops the packet when
		 * ip_vs_conn_new fails, and the client retries. */
		lvs_count(LVS_CNT_DROP_CONN_FULL);
		return TC_ACT_SHOT;
	}
	active = lvs_state_active(p->t.proto, c->state);
	lvs_conns_add(real, active);
	if (c->method == LVS_METHOD_MASQ) {
		struct lvs_tuple rk;

		lvs_nat_reverse(&rk, &p->t, &c->raddr, c->rport);
		if (bpf_map_update_elem(&lvs_nat_conns, &rk, &p->t, BPF_ANY)) {
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
	return lvs_xmit(skb, p, c->method, c->raddr.v4, c->rport, 0, now);
}

SEC("tc")
int lvs_ingress(struct __sk_buff *skb)
{
	struct lvs_pkt p;
	struct lvs_conn *c;
	struct lvs_tuple *fk;
	__u64 now;
	int rc;

	rc = lvs_parse(skb, &p);
	switch (rc) {
	case LVS_PARSE_OK:
		break;
	case LVS_PARSE_NOT_IP:
		lvs_count(LVS_CNT_PASS_NOT_IP);
		return TC_ACT_OK;
	case LVS_PARSE_FRAGMENT:
		lvs_count(LVS_CNT_PASS_FRAGMENT);
		return TC_ACT_OK;
	case LVS_PARSE_NOT_L4:
		lvs_count(LVS_CNT_PASS_NOT_L4);
		return TC_ACT_OK;
	default:
		lvs_count(LVS_CNT_PASS_MALFORMED);
		return TC_ACT_OK;
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
			      (st == LVS_TCP_TIME_WAIT || st == LVS_TCP_CLOSE)))
				return lvs_in(skb, &p, c, now);
			lvs_count(LVS_CNT_CONN_REUSED);
			{
				__u32 gen = c->tmpl_gen;
				__be32 net = c->tmpl_net;
				__be16 vport = c->tmpl_vport;

				if (lvs_conn_remove(&p.t, c))
					lvs_tmpl_drop_unassured(&p.t, gen, net, vport);
			}
			return lvs_new(skb, &p, now);
		} else {
			lvs_count(LVS_CNT_CONN_EXPIRED);
		}
		/* An expired entry is absent; remove it so a new one fits. */
		lvs_conn_remove(&p.t, c);
		return lvs_new(skb, &p, now);
	}

	fk = bpf_map_lookup_elem(&lvs_nat_conns, &p.t);
	if (fk) {
		now = lvs_now();
		rc = lvs_out(skb, &p, fk, now);
		if (rc >= 0)
			return rc;
		return lvs_new(skb, &p, now);
	}
	return lvs_new(skb, &p, 0);
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
