/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * lvs_abi.h is the one contract between the data plane and lvsd: every
 * struct a map holds and every constant both sides use. Go sees these
 * through bpf2go's -type generation, never through a hand-copied layout.
 *
 * Rules: fixed-width types only, explicit padding, no bitfields, sizes
 * checked below. Addresses and ports are in network byte order. Any change
 * to a layout or a map's shape bumps LVS_ABI_VERSION, which is part of the
 * pin path, so a new lvsd never reads an old table as if it were its own.
 */
#ifndef LVS_ABI_H
#define LVS_ABI_H

#include <linux/types.h>
#include <linux/bpf.h> /* struct bpf_spin_lock */

/* enum lvs_abi: versions and limits shared with Go. */
enum lvs_abi {
	LVS_ABI_VERSION = 9,
	LVS_MAX_SERVICES = 16384, /* service ids 1..16383 */
	LVS_MAX_REALS = 131072,   /* real ids 1..131071 */
	LVS_MAX_DESTS = 16384,    /* reals a service may have (the walks see them all) */
	LVS_SH_TAB_SIZE = 256,    /* sh and dh buckets (IP_VS_SH_TAB_BITS 8) */
	LVS_MH_TAB_SIZE = 4093,   /* mh lookup table (primes[IP_VS_MH_TAB_INDEX - 8]) */
	LVS_LBLC_ENTRIES = 65536, /* lblc/lblcr destination-address entries, all services */
	LVS_LBLCR_SET_MAX = 16,   /* reals an lblcr entry's set holds at most */
	LVS_LBLC_EXPIRATION_S = 86400, /* lblcr set shrink age (sysctl lblcr_expiration) */
	LVS_CONN_TABLE_DEFAULT = 262144,
	LVS_SWEEP_BATCH = 32,     /* conn keys per lvs_sweep run */
	LVS_SWEEP_ALL = 0xff,     /* lvs_sweep mode: remove live entries too */
	LVS_SWEEP_NAT = 0xfe,     /* lvs_sweep mode: keys are NAT reverse keys */
	LVS_SWEEP_TMPL = 0xfd,    /* lvs_sweep mode: template keys, expired ones */
	LVS_SWEEP_TMPL_ALL = 0xfc, /* lvs_sweep mode: template keys, all of them */
	LVS_EXPIRE_LATER_S = 60,  /* a controlling template's extension (ip_vs_conn.c expire_later) */
	LVS_FIB_CACHE_MS = 50,    /* how long a route cache entry reuses a FIB answer */
	LVS_CLIENT_ROUTES = 65536, /* NAT replies' route cache entries, by client address (LRU) */
	LVS_FRAG_ENTRIES = 16384, /* fragmented datagrams tracked at once (LRU) */
	LVS_XDP_LINKS = 256,      /* links lvs_xdp runs on in native mode (lvs_xdp_tx) */
};

/* enum lvs_family: address families, with the kernel's AF_ values. */
enum lvs_family {
	LVS_AF_INET = 2,
	LVS_AF_INET6 = 10,
};

/* enum lvs_sched: scheduler ids (the scheduler field of struct lvs_service). */
enum lvs_sched {
	LVS_SCHED_RR = 1,
	LVS_SCHED_WRR = 2,
	LVS_SCHED_LC = 3,
	LVS_SCHED_WLC = 4,
	LVS_SCHED_SED = 5,
	LVS_SCHED_NQ = 6,
	LVS_SCHED_FO = 7,
	LVS_SCHED_OVF = 8,
	LVS_SCHED_TWOS = 9,
	LVS_SCHED_SH = 10,
	LVS_SCHED_DH = 11,
	LVS_SCHED_MH = 12,
	LVS_SCHED_LBLC = 13,
	LVS_SCHED_LBLCR = 14,
};

/* enum lvs_svc_flags: bits of struct lvs_service.flags, with IPVS's
 * IP_VS_SVC_F_* values (include/uapi/linux/ip_vs.h). */
enum lvs_svc_flags {
	LVS_SVC_F_PERSISTENT = 0x0001, /* -p */
	LVS_SVC_F_ONEPACKET = 0x0004,  /* -o */
	LVS_SVC_F_SCHED1 = 0x0008,     /* sh-fallback, mh-fallback */
	LVS_SVC_F_SCHED2 = 0x0010,     /* sh-port, mh-port */
	LVS_SVC_F_SCHED3 = 0x0020,
};

/* enum lvs_method: forwarding methods, with IPVS's IP_VS_CONN_F_* codes. */
enum lvs_method {
	LVS_METHOD_MASQ = 0,
	LVS_METHOD_TUNNEL = 2,
	LVS_METHOD_ROUTE = 3,
};

/* enum lvs_tun_type: a TUN real's encapsulation, IPVS's
 * IP_VS_CONN_F_TUNNEL_TYPE_* values. */
enum lvs_tun_type {
	LVS_TUN_IPIP = 0,
	LVS_TUN_GUE = 1,
	LVS_TUN_GRE = 2,
};

/* enum lvs_tun_flags: bits of struct lvs_real.tun_flags, IPVS's
 * IP_VS_TUNNEL_ENCAP_FLAG_* values. */
enum lvs_tun_flags {
	LVS_TUN_F_CSUM = 1 << 0,    /* GUE: UDP checksum; GRE: GRE checksum */
	LVS_TUN_F_REMCSUM = 1 << 1, /* GUE: remote checksum offload option */
};

/* enum lvs_tcp_state: IPVS's TCP states (ip_vs_proto_tcp.c), the index of
 * the timeouts map. LVS_TIMEOUT_UDP is the UDP slot of that map. */
enum lvs_tcp_state {
	LVS_TCP_NONE = 0,
	LVS_TCP_ESTABLISHED = 1,
	LVS_TCP_SYN_SENT = 2,
	LVS_TCP_SYN_RECV = 3,
	LVS_TCP_FIN_WAIT = 4,
	LVS_TCP_TIME_WAIT = 5,
	LVS_TCP_CLOSE = 6,
	LVS_TCP_CLOSE_WAIT = 7,
	LVS_TCP_LAST_ACK = 8,
	LVS_TCP_LISTEN = 9,
	LVS_TCP_SYNACK = 10,
	LVS_TIMEOUT_UDP = 11,
	LVS_TIMEOUT_SLOTS = 12,
};

/* enum lvs_real_flags: bits of struct lvs_real.flags. */
enum lvs_real_flags {
	/* The real was deleted from its service but its connections live on
	 * (IPVS's dest trash with expire_nodest_conn=0, ip_vs_ctl.c): their
	 * client packets are dropped, NAT replies still pass, and no new
	 * connection is scheduled to it. */
	LVS_REAL_F_GONE = 1 << 0,
};

/* enum lvs_setting_flags: bits of the lvs_settings map, director-wide choices
 * IPVS makes with sysctls. */
enum lvs_setting_flags {
	/* expire_nodest_conn=1: a packet of a connection whose real was
	 * deleted expires the connection and is scheduled afresh
	 * (ip_vs_in_hook), rather than dropped. */
	LVS_SET_EXPIRE_NODEST_CONN = 1 << 0,
};

/* enum lvs_conn_flags: bits of struct lvs_conn.flags. */
enum lvs_conn_flags {
	/* Only client->server packets pass the director (DR, TUN): TCP uses
	 * IPVS's INPUT-ONLY table (IP_VS_CONN_F_NOOUTPUT). */
	LVS_CONN_F_NOOUTPUT = 1 << 0,
	/* This connection has made its template ASSURED already: later
	 * packets skip the template lookup. */
	LVS_CONN_F_ASSURED = 1 << 1,
	/* Scheduled by a port-zero service (for a port its VIP has no
	 * service of): its template's vport is 0, and the real gets the
	 * packet's port whatever its own (ip_vs_sched_persist). Otherwise
	 * the template's vport is the key's dport. */
	LVS_CONN_F_PORT_ZERO = 1 << 2,
};

/* enum lvs_tmpl_state: struct lvs_tmpl.state, IPVS's IP_VS_CTPL_S_*. */
enum lvs_tmpl_state {
	LVS_TMPL_NONE = 0,
	LVS_TMPL_ASSURED = 1,
};

/*
 * enum lvs_counter: indexes of the per-CPU lvs_counters map, one per
 * verdict reason, for metrics and debugging.
 */
enum lvs_counter {
	LVS_CNT_PASS_NOT_IP = 0,     /* not IPv4 or IPv6 (ARP, ...) */
	LVS_CNT_PASS_FRAGMENT = 1,   /* later fragment whose first one was not seen (or not ours) */
	LVS_CNT_PASS_MALFORMED = 2,  /* truncated or bad header */
	LVS_CNT_PASS_NOT_L4 = 3,     /* neither TCP nor UDP */
	LVS_CNT_PASS_NO_SERVICE = 4, /* no conn, no NAT reply, no service */
	LVS_CNT_PASS_NOT_SYN = 5,    /* TCP to a service without a conn, not a SYN */
	LVS_CNT_PASS_NO_DEST = 6,    /* scheduler found no real */
	LVS_CNT_PASS_TTL = 7,        /* new flow or NAT reply with TTL <= 1: the kernel answers */
	LVS_CNT_PASS_FIB = 8,        /* NAT: no FIB answer, kernel routes it */
	LVS_CNT_DROP_CONN_FULL = 9,  /* conn or NAT reverse table full */
	LVS_CNT_DROP_METHOD = 10,    /* a method (or a family across methods) a real cannot be sent with */
	LVS_CNT_DROP_FIB = 11,       /* DR: no FIB answer */
	LVS_CNT_DROP_HELPER = 12,    /* a rewrite helper failed */
	LVS_CNT_FWD_REDIRECT = 13,   /* sent with bpf_redirect */
	LVS_CNT_FWD_NEIGH = 14,      /* sent with bpf_redirect_neigh */
	LVS_CNT_CONN_REUSED = 15,    /* SYN replaced a TIME_WAIT/CLOSE entry */
	LVS_CNT_CONN_EXPIRED = 16,   /* expired entry replaced by a new flow */
	LVS_CNT_DROP_NODEST = 17,    /* client packet of a connection to a gone real */
	LVS_CNT_DROP_TTL = 18,       /* client packet of a connection with TTL <= 1 */
	LVS_CNT_TMPL_HIT = 19,       /* new connection placed by a persistence template */
	LVS_CNT_TMPL_NEW = 20,       /* persistence template made (scheduled) */
	LVS_CNT_DROP_TMPL_FULL = 21, /* template table full (or lost a race): dropped */
	LVS_CNT_FRAG_FIRST = 22,     /* first fragment of a golvs datagram: tracked */
	LVS_CNT_FRAG_FOLLOW = 23,    /* later fragment forwarded after its first */
	LVS_CNT_ICMP_IN = 24,        /* ICMP error about a conn, toward the real */
	LVS_CNT_ICMP_OUT = 25,       /* ICMP error about a NAT conn, toward the client */
	LVS_CNT_ICMP_TUNNEL = 26,    /* ICMP error about a tunnel packet, relayed to the client */
	LVS_CNT_TOO_BIG = 27,        /* packet too big for the path: ICMP sent to the client */
	LVS_CNT_DROP_TOO_BIG = 28,   /* too big, and no ICMP could be made */
	LVS_CNT_PASS_TO_FRAGMENT = 29, /* NAT, too big, no DF: translated, the kernel fragments it */
	LVS_CNT_XDP_FWD = 30,        /* forwarded by the XDP fast path (lvs_xdp) */
	LVS_CNT_MAX = 32,
};

/*
 * union lvs_addr is an IPv4 or IPv6 address in network byte order. IPv4
 * uses the first four bytes; the rest are zero so keys compare equal.
 */
union lvs_addr {
	__u8 bytes[16];
	__be32 v4;
	__be32 v6[4];
};

/* struct lvs_service_key is the services map key: (family, proto, VIP, port). */
struct lvs_service_key {
	union lvs_addr vaddr;
	__be16 vport;
	__u8 proto;
	__u8 family;
};

/* struct lvs_service is the services map value. */
struct lvs_service {
	__u32 id;         /* ServiceID: index of every per-service map */
	__u32 scheduler;  /* enum lvs_sched */
	__u32 flags;      /* enum lvs_svc_flags */
	__u32 pad;
	__u64 timeout_ns; /* -p: persistence timeout */
	union lvs_addr netmask; /* -M: persistence granularity, a mask of the service's family */
};

/* struct lvs_real is the reals map value, indexed by RealID. */
struct lvs_real {
	union lvs_addr addr;
	__be16 port;   /* 0: keep the service port */
	__u8 method;   /* enum lvs_method */
	__u8 family;
	__u32 weight;  /* 0 quiesces the real */
	__u32 flags;   /* enum lvs_real_flags */
	__u32 u_threshold; /* -x: 0 none */
	__u32 l_threshold; /* -y: 0 means 3/4 of u_threshold */
	__be16 tun_port;   /* GUE: the real's UDP port */
	__u8 tun_type;     /* enum lvs_tun_type */
	__u8 tun_flags;    /* enum lvs_tun_flags */
};

/* struct lvs_real_conns is the real_conns map value: the connection counts
 * ipvsadm shows as ActiveConn, InActConn and PersistConn (persistence
 * templates bound to the real), kept with atomic adds. */
struct lvs_real_conns {
	__u32 active;
	__u32 inactive;
	__u32 persist;
};

/*
 * struct lvs_lblc_key keys the lvs_lblc map: a service and a packet
 * destination address (ip_vs_lblc.c / ip_vs_lblcr.c key their per-service
 * tables by iph->daddr).
 */
struct lvs_lblc_key {
	union lvs_addr addr;
	__u32 service;
};

/*
 * struct lvs_lblc_entry is an lblc or lblcr entry. lblc uses reals[0] only;
 * lblcr keeps a set of up to LVS_LBLCR_SET_MAX reals, newest first as
 * ip_vs_dest_set_insert adds at the head. lock guards size, lastmod_ns
 * and reals (IPVS's svc->sched_lock); lastuse_ns is written without it,
 * as IPVS does.
 */
struct lvs_lblc_entry {
	struct bpf_spin_lock lock;
	__u32 size;        /* members in reals */
	__u64 lastuse_ns;  /* lvs_now() of the last lookup (lblc/lblcr lastuse) */
	__u64 lastmod_ns;  /* lvs_now() of the last set change (set.lastmod) */
	__u32 reals[LVS_LBLCR_SET_MAX];
};

/* struct lvs_stats is one CPU's share of a service's or real's counters.
 * Bytes are IP lengths, as IPVS counts them. */
struct lvs_stats {
	__u64 conns;
	__u64 inpkts;
	__u64 outpkts;
	__u64 inbytes;
	__u64 outbytes;
};

/*
 * struct lvs_tuple is a flow as a packet carries it. It keys the conns map
 * (client -> VIP: saddr=CIP, daddr=VIP) and the NAT reverse map
 * (real -> client: saddr=RIP, daddr=CIP).
 */
struct lvs_tuple {
	union lvs_addr saddr;
	union lvs_addr daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u8 pad[2];
};

/*
 * struct lvs_fib_cache is a FIB answer kept so that packets skip
 * bpf_fib_lookup (the largest cost of an established packet) for
 * LVS_FIB_CACHE_MS: toward a real in lvs_real_routes, toward a NAT client
 * in lvs_client_routes. Only a BPF_FIB_LKUP_RET_SUCCESS answer is kept; a
 * neighbour or route change reaches a flow within that time. Written only
 * by the data plane; zero means empty.
 */
struct lvs_fib_cache {
	__u64 expires_ns; /* lvs_now() until which the rest holds */
	__u32 iif;        /* ingress link the answer is for */
	__u32 oif;        /* egress link */
	__u32 mtu;        /* of oif */
	__u8 dmac[6];
	__u8 smac[6];
	/* The director's address toward the destination (TUN's outer
	 * source), from a BPF_FIB_LOOKUP_SRC lookup; zero when the lookup
	 * that filled the entry did not ask for it (NAT and DR ask with the
	 * client's address as source instead). */
	union lvs_addr src;
};

/* struct lvs_client_route keys lvs_client_routes: where replies to a NAT
 * client go, as seen from the link they arrive on. */
struct lvs_client_route {
	union lvs_addr addr; /* the client's */
	__u32 iif;
	__u8 family;
	__u8 pad[3];
};

/*
 * struct lvs_conn is the conns map value: one connection and its real,
 * 40 bytes (a preallocated hash element costs its 48-byte header, the key
 * and this). What the connection does not own lives elsewhere: the real's
 * address, port and family in lvs_reals[real], which never change while a
 * connection holds the id (lvsd reuses a RealID only once no connection
 * or template counts against it: internal/engine's retired reals), and
 * the routes in lvs_real_routes and lvs_client_routes. The method is the
 * connection's own: IPVS copies the dest's forwarding method into
 * cp->flags once (ip_vs_bind_dest, ip_vs_conn.c), so a connection keeps
 * the method it was made with when the real is edited.
 */
struct lvs_conn {
	__u64 expires_ns;  /* CLOCK_MONOTONIC_COARSE ns (lvs_now) */
	__u32 state;       /* enum lvs_tcp_state; 0 for UDP; changed by cmpxchg */
	__u32 real;        /* RealID */
	/* The persistence template controlling this connection (IPVS's
	 * cp->control): its key is <proto, tmpl_net, 0, VIP, vport> (vport
	 * 0 with LVS_CONN_F_PORT_ZERO, else the key's dport) and it is that
	 * entry only while its gen equals tmpl_gen; 0: none. */
	__u32 tmpl_gen;
	/* service, method and flags share one aligned 32-bit word: flags
	 * is changed with an atomic OR on that word (lvs_conn_set_flag),
	 * BPF having no 8-bit atomics. */
	__u16 service;     /* ServiceID (< LVS_MAX_SERVICES) */
	__u8 method;       /* enum lvs_method */
	__u8 flags;        /* enum lvs_conn_flags */
	union lvs_addr tmpl_net; /* client address & netmask */
};

/*
 * struct lvs_nat_conn is the NAT reverse map value. With its key (the
 * real-side tuple: RIP, client address, their ports) it rebuilds the
 * connection's client-side key: the client address and port are the
 * key's, the VIP is lvs_svc_vaddrs[service] and the VIP's port vport.
 * 8 bytes instead of the 40 of a whole tuple.
 */
struct lvs_nat_conn {
	__u16 service; /* ServiceID */
	__be16 vport;
	__u32 pad;
};

/*
 * struct lvs_frag_key keys lvs_frags: one fragmented datagram, as IP
 * reassembly tells them apart (ip_frag's <saddr, daddr, id, protocol>).
 */
struct lvs_frag_key {
	union lvs_addr saddr;
	union lvs_addr daddr;
	__be32 id;     /* IPv4: the 16-bit id in the first two bytes */
	__u8 proto;
	__u8 family;
	__u8 pad[2];
};

/* struct lvs_frag is the lvs_frags value: the ports of a datagram's first
 * fragment, which its later fragments lack. */
struct lvs_frag {
	__be16 sport;
	__be16 dport;
};

/*
 * struct lvs_tmpl is the lvs_templates map value: a persistence template
 * (IPVS's IP_VS_CONN_F_TEMPLATE entry). Its key is a struct lvs_tuple
 * <proto, client & netmask, port 0, VIP, vport> (vport 0 for a port-zero
 * service). controls counts the connections it controls (n_control);
 * while it is not 0 the template does not expire.
 */
struct lvs_tmpl {
	union lvs_addr raddr;
	__u64 expires_ns;  /* lvs_now() */
	__be16 rport;      /* the real's port (0 for a port-zero service) */
	__u8 rfamily;      /* the real's family */
	__u8 pad0;
	__u32 state;       /* enum lvs_tmpl_state */
	__u32 service;     /* ServiceID */
	__u32 real;        /* RealID */
	__u32 controls;    /* connections it controls, atomic */
	__u32 gen;         /* random, not 0: tells this entry from a later one of its key */
};

#define LVS_ASSERT_SIZE(t, n) _Static_assert(sizeof(t) == (n), "ABI: sizeof(" #t ") != " #n)
LVS_ASSERT_SIZE(union lvs_addr, 16);
LVS_ASSERT_SIZE(struct lvs_service_key, 20);
LVS_ASSERT_SIZE(struct lvs_service, 40);
LVS_ASSERT_SIZE(struct lvs_real, 40);
LVS_ASSERT_SIZE(struct lvs_lblc_key, 20);
LVS_ASSERT_SIZE(struct lvs_lblc_entry, 88);
LVS_ASSERT_SIZE(struct lvs_real_conns, 12);
LVS_ASSERT_SIZE(struct lvs_stats, 40);
LVS_ASSERT_SIZE(struct lvs_tuple, 40);
LVS_ASSERT_SIZE(struct lvs_fib_cache, 48);
LVS_ASSERT_SIZE(struct lvs_client_route, 24);
LVS_ASSERT_SIZE(struct lvs_conn, 40);
LVS_ASSERT_SIZE(struct lvs_nat_conn, 8);
LVS_ASSERT_SIZE(struct lvs_frag_key, 40);
LVS_ASSERT_SIZE(struct lvs_frag, 4);
LVS_ASSERT_SIZE(struct lvs_tmpl, 48);

#endif /* LVS_ABI_H */
