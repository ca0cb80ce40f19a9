/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * maps.h declares every map of the data plane. lvsd pins all of them under
 * <pindir>/v<LVS_ABI_VERSION>/ so a restarted lvsd adopts them. Sizes that
 * Go may change (the conn table) are set again by the loader.
 */
#ifndef LVS_MAPS_H
#define LVS_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "lvs_abi.h"

/* lvs_services: (family, proto, VIP, port) -> service. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LVS_MAX_SERVICES);
	__type(key, struct lvs_service_key);
	__type(value, struct lvs_service);
} lvs_services SEC(".maps");

/*
 * lvs_sched_table is the shape of one service's scheduler table: element 0
 * is the number of entries n, elements 1..n are RealIDs (the rr/wrr
 * sequence, or the dest list in IPVS order for lc/wlc). BPF_F_INNER_MAP
 * lets every service's table have its own size.
 */
struct lvs_sched_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_INNER_MAP);
	__type(key, __u32);
	__type(value, __u32);
};

/* lvs_tables: ServiceID -> its table. lvsd builds a new inner map and
 * swaps it in with one update, so a packet sees the old or the new table. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, LVS_MAX_SERVICES);
	__type(key, __u32);
	__array(values, struct lvs_sched_table);
} lvs_tables SEC(".maps");

/* lvs_port_zero: element 0 is the number of port-zero services, so that
 * packets to a VIP port without a service look for one only when there is
 * one (most traffic through a director is not for a service at all). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} lvs_port_zero SEC(".maps");

/* lvs_sched_pos: ServiceID -> rr/wrr position, advanced atomically. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LVS_MAX_SERVICES);
	__type(key, __u32);
	__type(value, __u32);
} lvs_sched_pos SEC(".maps");

/* lvs_reals: RealID -> real server. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LVS_MAX_REALS);
	__type(key, __u32);
	__type(value, struct lvs_real);
} lvs_reals SEC(".maps");

/* lvs_conn_counts: RealID -> ActiveConn/InActConn, shared by all CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LVS_MAX_REALS);
	__type(key, __u32);
	__type(value, struct lvs_real_conns);
} lvs_conn_counts SEC(".maps");

/*
 * lvs_overload: RealID -> 1 while IPVS's IP_VS_DEST_F_OVERLOAD is set (the
 * -x/-y thresholds). Set and cleared by the data plane as connections are
 * bound and released, and recomputed by lvsd when a real is edited. A map
 * of its own so that lvsd's SetReal never overwrites the data plane's bit.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LVS_MAX_REALS);
	__type(key, __u32);
	__type(value, __u32);
} lvs_overload SEC(".maps");

/*
 * lvs_lblc: (ServiceID, destination address) -> lblc/lblcr entry. One
 * table for all services; a new entry that does not fit is not made and
 * the scheduled real is used anyway, as IPVS does when its allocation
 * fails. lvsd's SweepSchedState expires entries as IPVS's timer does.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LVS_LBLC_ENTRIES);
	__type(key, struct lvs_lblc_key);
	__type(value, struct lvs_lblc_entry);
} lvs_lblc SEC(".maps");

/* lvs_svc_stats, lvs_real_stats: per-CPU IPVS counters. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LVS_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct lvs_stats);
} lvs_svc_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LVS_MAX_REALS);
	__type(key, __u32);
	__type(value, struct lvs_stats);
} lvs_real_stats SEC(".maps");

/*
 * lvs_conns: client-side tuple -> connection. A plain, preallocated hash,
 * not an LRU one: an LRU map would evict live connections silently and
 * without releasing their real's ActiveConn/InActConn. When it is full a
 * new connection's first packet is dropped, as IPVS drops one when
 * ip_vs_conn_new fails; entries leave only through lvs_conn_remove.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LVS_CONN_TABLE_DEFAULT);
	__type(key, struct lvs_tuple);
	__type(value, struct lvs_conn);
} lvs_conns SEC(".maps");

/* lvs_nat_conns: real-side tuple of a NAT reply -> what rebuilds the
 * client-side tuple with it (struct lvs_nat_conn), sized and kept like
 * lvs_conns. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LVS_CONN_TABLE_DEFAULT);
	__type(key, struct lvs_tuple);
	__type(value, struct lvs_nat_conn);
} lvs_nat_conns SEC(".maps");

/*
 * lvs_svc_vaddrs: ServiceID -> its VIP, for lvs_nat_conns entries to name
 * their VIP in two bytes. Written by lvsd with the service and never
 * cleared: a deleted service's connections live on, and lvsd gives its id
 * to another service only once none is left (internal/engine's retired
 * services), so an id names one VIP while any connection holds it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LVS_MAX_SERVICES);
	__type(key, __u32);
	__type(value, union lvs_addr);
} lvs_svc_vaddrs SEC(".maps");

/*
 * lvs_real_routes: RealID -> the route toward that real, shared by its
 * connections rather than kept in each (which cost 48 bytes a
 * connection): the FIB's answer for a real does not depend on the client
 * the packet comes from, short of source-based policy routing. The answer
 * is for one ingress link (its iif): a real whose clients arrive on
 * several links takes a lookup whenever the link changes. lvsd clears an
 * id's entry when it gives the id to another real (ClearReal).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LVS_MAX_REALS);
	__type(key, __u32);
	__type(value, struct lvs_fib_cache);
} lvs_real_routes SEC(".maps");

/*
 * lvs_client_routes: (client address, ingress link) -> the route of NAT
 * replies toward that client. An LRU of its own rather than a cache in
 * each connection: a client's connections share it, and an entry lost to
 * eviction costs only a FIB lookup.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LVS_CLIENT_ROUTES);
	__type(key, struct lvs_client_route);
	__type(value, struct lvs_fib_cache);
} lvs_client_routes SEC(".maps");

/*
 * lvs_templates: persistence templates, <proto, client & netmask, 0, VIP,
 * vport> -> real. A table of their own, sized like lvs_conns and kept the
 * same way (preallocated, entries leave only through lvs_tmpl_remove):
 * IPVS hashes them with the connections but looks them up separately
 * (ip_vs_ct_in_get), and apart they neither take connection slots nor
 * make every connection lookup and sweep step over them.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LVS_CONN_TABLE_DEFAULT);
	__type(key, struct lvs_tuple);
	__type(value, struct lvs_tmpl);
} lvs_templates SEC(".maps");

/* lvs_timeouts: TCP state (or LVS_TIMEOUT_UDP) -> timeout in ns. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LVS_TIMEOUT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} lvs_timeouts SEC(".maps");

/* lvs_settings: one word of enum lvs_setting_flags bits. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} lvs_settings SEC(".maps");

/* lvs_counters: enum lvs_counter -> packets, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LVS_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} lvs_counters SEC(".maps");

/*
 * lvs_frags: a fragmented datagram of a golvs flow -> its first
 * fragment's ports, so its later fragments (which carry no L4 header)
 * follow the same connection. An LRU: an entry is only needed while the
 * datagram's fragments are in flight, and losing one costs only that
 * datagram, which IP would lose anyway after its reassembly timeout.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LVS_FRAG_ENTRIES);
	__type(key, struct lvs_frag_key);
	__type(value, struct lvs_frag);
} lvs_frags SEC(".maps");

/*
 * lvs_xdp_tx: ifindex -> itself, for every link lvs_xdp runs on in native
 * (driver) mode. A packet that arrived through native XDP may only be
 * redirected to a link whose driver takes XDP frames (ndo_xdp_xmit); these
 * are the links golvs knows to, and anything routed elsewhere is left to
 * TC. Generic (skb) XDP redirects to any link. Not pinned: it is the
 * running lvsd's.
 */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, LVS_XDP_LINKS);
	__type(key, __u32);
	__type(value, __u32);
} lvs_xdp_tx SEC(".maps");

/* LVS_ICMP_QUOTE_MAX bounds how much of a packet an ICMP error golvs
 * makes or relays quotes: the IP header with extension headers and 8
 * bytes of L4 (RFC 792's minimum, what every stack matches on). */
#define LVS_ICMP_QUOTE_MAX 256

/* lvs_icmp_buf: per-CPU room to build headers golvs writes (a tunnel's)
 * and to checksum an ICMP message it writes. */
struct lvs_icmp_buf {
	__u8 b[8 + LVS_ICMP_QUOTE_MAX + 8]; /* + rounding to 4 bytes, with room to spare for the verifier */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lvs_icmp_buf);
} lvs_icmp_scratch SEC(".maps");

#endif /* LVS_MAPS_H */
