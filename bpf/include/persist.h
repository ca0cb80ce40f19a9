/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * persist.h is IPVS's persistence (-p, -M): templates that send a client
 * network's new connections to the real its first one was scheduled to
 * (ip_vs_sched_persist in ip_vs_core.c, ip_vs_check_template and the
 * control accounting in ip_vs_conn.c).
 *
 * A template lives in lvs_templates, keyed <proto, client & netmask, 0,
 * VIP, vport>. Every connection made under it names it (tmpl_net,
 * tmpl_gen, and LVS_CONN_F_PORT_ZERO for the vport: lvs_conn_tmpl_vport)
 * and counts in its controls until the connection's
 * entry is removed (lvs_conn_remove). The template's timer is the
 * persistence timeout, re-armed by each new connection; lvsd's sweeper
 * (lvs_sweep) removes it once expired, or extends it by 60 s while it
 * still controls connections, so a template that controls any is never
 * expired here either.
 */
#ifndef LVS_PERSIST_H
#define LVS_PERSIST_H

#include "maps.h"
#include "conn.h"
#include "sched.h"

/* lvs_tmpl_control makes c a connection controlled by template t (key
 * built in *tk, whose vport c's LVS_CONN_F_PORT_ZERO tells already) and
 * re-arms t to the persistence timeout (ip_vs_control_add, then
 * ip_vs_conn_put of the template). */
static __always_inline void lvs_tmpl_control(struct lvs_conn *c, struct lvs_tmpl *t, const struct lvs_tuple *tk,
					     __u64 now, __u64 timeout)
{
	__sync_fetch_and_add(&t->controls, 1);
	t->expires_ns = now + timeout;
	c->tmpl_gen = t->gen;
	c->tmpl_net = tk->saddr;
}

/*
 * lvs_sched_persist picks the real for a new connection p to persistent
 * service svc, whose key has port vport (0: a port-zero service), and
 * makes c controlled by the template it used or made. A live template
 * whose real is still in the service is used as it is, even when the
 * real is quiesced or overloaded; one whose real was deleted (GONE; or
 * whose RealID now names another server) is invalid and replaced
 * (ip_vs_check_template). Returns the RealID, 0 when the scheduler found
 * none, ~0 when no template could be made (the table is full, or another
 * CPU made the same one first: the client's retry will find it).
 */
static __always_inline __u32 lvs_sched_persist(const struct lvs_service *svc, const struct lvs_pkt *p,
					       __be16 vport, __u64 now, struct lvs_conn *c)
{
	struct lvs_sched_scratch *sc = lvs_scratch();
	struct lvs_tmpl *t, *tv;
	struct lvs_real *r;
	__u32 real;

	if (!sc)
		return 0;
	{
		union lvs_addr net;

		/* -M: the client address under the service's mask. */
		for (int i = 0; i < 4; i++)
			net.v6[i] = p->t.saddr.v6[i] & svc->netmask.v6[i];
		lvs_tmpl_key(&sc->tk, p->t.proto, p->t.family, &net, &p->t.daddr, vport);
	}
	t = bpf_map_lookup_elem(&lvs_templates, &sc->tk);
	if (t) {
		real = t->real;
		r = bpf_map_lookup_elem(&lvs_reals, &real);
		if (r && !(r->flags & LVS_REAL_F_GONE) && !__builtin_memcmp(&r->addr, &t->raddr, sizeof(r->addr)) && t->service == svc->id &&
		    (now < t->expires_ns || *(volatile __u32 *)&t->controls)) {
			lvs_tmpl_control(c, t, &sc->tk, now, svc->timeout_ns);
			lvs_count(LVS_CNT_TMPL_HIT);
			return real;
		}
		/* Expired, or invalid: IPVS unhashes it and makes another. */
		lvs_tmpl_remove(&sc->tk, t);
	}

	real = lvs_schedule(svc, &p->t);
	r = real ? bpf_map_lookup_elem(&lvs_reals, &real) : 0;
	if (!r)
		return 0;
	tv = &sc->tv;
	tv->raddr = r->addr;
	/* ip_vs_sched_persist: the template's dport is the dest's port for
	 * a packet to the service port, 0 for a port-zero service. */
	tv->rport = vport ? (r->port ? r->port : vport) : 0;
	tv->rfamily = r->family;
	tv->pad0 = 0;
	tv->expires_ns = now + svc->timeout_ns;
	tv->state = LVS_TMPL_NONE;
	tv->service = svc->id;
	tv->real = real;
	tv->controls = 1; /* c */
	tv->gen = bpf_get_prandom_u32() | 1;
	if (bpf_map_update_elem(&lvs_templates, &sc->tk, tv, BPF_NOEXIST))
		return ~0u;
	lvs_persist_count(real, 1);
	lvs_count(LVS_CNT_TMPL_NEW);
	c->tmpl_gen = tv->gen;
	c->tmpl_net = sc->tk.saddr;
	return real;
}

/* lvs_tmpl_release takes connection c, not made after all, off the
 * template lvs_sched_persist gave it. ck is the connection's key. */
static __always_inline void lvs_tmpl_release(const struct lvs_tuple *ck, const struct lvs_conn *c)
{
	struct lvs_sched_scratch *sc = lvs_scratch();

	if (!c->tmpl_gen || !sc)
		return;
	lvs_tmpl_key(&sc->tk, ck->proto, ck->family, &c->tmpl_net, &ck->daddr, lvs_conn_tmpl_vport(c, ck->dport));
	lvs_tmpl_uncontrol(&sc->tk, c->tmpl_gen);
}

/*
 * lvs_tmpl_drop_unassured deletes the template of generation gen that a
 * connection just expired on purpose (conn reuse) was under, when no
 * connection of it ever reached ESTABLISHED (or had a UDP reply) and it
 * controls nothing more: ip_vs_conn_expire drops such a template with its
 * last connection, so a client whose connection failed is scheduled afresh.
 */
static __always_inline void lvs_tmpl_drop_unassured(const struct lvs_tuple *ck, __u32 gen,
						    const union lvs_addr *net, __be16 vport)
{
	struct lvs_sched_scratch *sc = lvs_scratch();
	struct lvs_tmpl *t;

	if (!gen || !sc)
		return;
	lvs_tmpl_key(&sc->tk, ck->proto, ck->family, net, &ck->daddr, vport);
	t = bpf_map_lookup_elem(&lvs_templates, &sc->tk);
	if (t && t->gen == gen && t->state != LVS_TMPL_ASSURED && !t->controls)
		lvs_tmpl_remove(&sc->tk, t);
}

/* lvs_tmpl_assure marks the template controlling connection c (key ck)
 * ASSURED: c reached ESTABLISHED, or is UDP and the real replied
 * (ip_vs_control_assure_ct). */
static __always_inline void lvs_tmpl_assure(const struct lvs_tuple *ck, struct lvs_conn *c)
{
	struct lvs_sched_scratch *sc = lvs_scratch();
	struct lvs_tmpl *t;

	if (!sc)
		return;
	lvs_conn_set_flag(c, LVS_CONN_F_ASSURED);
	lvs_tmpl_key(&sc->tk, ck->proto, ck->family, &c->tmpl_net, &ck->daddr, lvs_conn_tmpl_vport(c, ck->dport));
	t = bpf_map_lookup_elem(&lvs_templates, &sc->tk);
	if (t && t->gen == c->tmpl_gen && t->state != LVS_TMPL_ASSURED)
		t->state = LVS_TMPL_ASSURED;
}

#endif /* LVS_PERSIST_H */
