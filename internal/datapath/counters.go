package datapath

import (
	"fmt"

	"golvs/internal/lvs"
)

// counterNames are the names Counters reports, by enum lvs_counter.
var counterNames = map[lvsLvsCounter]string{
	lvsLvsCounterLVS_CNT_PASS_NOT_IP:      "pass_not_ip",
	lvsLvsCounterLVS_CNT_PASS_FRAGMENT:    "pass_fragment",
	lvsLvsCounterLVS_CNT_PASS_MALFORMED:   "pass_malformed",
	lvsLvsCounterLVS_CNT_PASS_NOT_L4:      "pass_not_l4",
	lvsLvsCounterLVS_CNT_PASS_NO_SERVICE:  "pass_no_service",
	lvsLvsCounterLVS_CNT_PASS_NOT_SYN:     "pass_not_syn",
	lvsLvsCounterLVS_CNT_PASS_NO_DEST:     "pass_no_dest",
	lvsLvsCounterLVS_CNT_PASS_TTL:         "pass_ttl",
	lvsLvsCounterLVS_CNT_PASS_FIB:         "pass_fib",
	lvsLvsCounterLVS_CNT_DROP_CONN_FULL:   "drop_conn_full",
	lvsLvsCounterLVS_CNT_DROP_METHOD:      "drop_method",
	lvsLvsCounterLVS_CNT_DROP_FIB:         "drop_fib",
	lvsLvsCounterLVS_CNT_DROP_HELPER:      "drop_helper",
	lvsLvsCounterLVS_CNT_FWD_REDIRECT:     "fwd_redirect",
	lvsLvsCounterLVS_CNT_FWD_NEIGH:        "fwd_neigh",
	lvsLvsCounterLVS_CNT_CONN_REUSED:      "conn_reused",
	lvsLvsCounterLVS_CNT_CONN_EXPIRED:     "conn_expired",
	lvsLvsCounterLVS_CNT_DROP_NODEST:      "drop_nodest",
	lvsLvsCounterLVS_CNT_DROP_TTL:         "drop_ttl",
	lvsLvsCounterLVS_CNT_TMPL_HIT:         "tmpl_hit",
	lvsLvsCounterLVS_CNT_TMPL_NEW:         "tmpl_new",
	lvsLvsCounterLVS_CNT_DROP_TMPL_FULL:   "drop_tmpl_full",
	lvsLvsCounterLVS_CNT_FRAG_FIRST:       "frag_first",
	lvsLvsCounterLVS_CNT_FRAG_FOLLOW:      "frag_follow",
	lvsLvsCounterLVS_CNT_ICMP_IN:          "icmp_in",
	lvsLvsCounterLVS_CNT_ICMP_OUT:         "icmp_out",
	lvsLvsCounterLVS_CNT_ICMP_TUNNEL:      "icmp_tunnel",
	lvsLvsCounterLVS_CNT_TOO_BIG:          "too_big",
	lvsLvsCounterLVS_CNT_DROP_TOO_BIG:     "drop_too_big",
	lvsLvsCounterLVS_CNT_PASS_TO_FRAGMENT: "pass_to_fragment",
	lvsLvsCounterLVS_CNT_XDP_FWD:          "xdp_fwd",
}

// Counters returns the data plane's verdict counters by reason
// ("pass_no_service", "fwd_redirect", "drop_fib", ...), summed over CPUs.
func (d *Datapath) Counters() (map[string]uint64, error) {
	out := make(map[string]uint64, len(counterNames))
	for c, name := range counterNames {
		var per []uint64
		if err := d.objs.LvsCounters.Lookup(uint32(c), &per); err != nil {
			return nil, fmt.Errorf("read counter %s: %w", name, err)
		}
		var sum uint64
		for _, v := range per {
			sum += v
		}
		out[name] = sum
	}
	return out, nil
}

// RealCounters are what ipvsadm -L shows of a real beside its
// configuration: its connection counts and its statistics.
type RealCounters struct {
	ActiveConns, InActConns, PersistConns uint32
	Stats                                 lvs.Stats
}

// RealCounters returns the counters of reals ids, in their order: what
// RealConns, PersistConns and RealStats return, read in batches, so that
// listing 100,000 reals takes a few calls rather than 300,000.
func (d *Datapath) RealCounters(ids []RealID) ([]RealCounters, error) {
	keys, err := realKeys(ids)
	if err != nil {
		return nil, fmt.Errorf("counters of reals: %w", err)
	}
	conns, err := lookupArray[lvsLvsRealConns](d.objs.LvsConnCounts, keys)
	if err != nil {
		return nil, fmt.Errorf("connections of reals: %w", err)
	}
	stats, err := sumPerCPU(d.objs.LvsRealStats, keys)
	if err != nil {
		return nil, fmt.Errorf("stats of reals: %w", err)
	}
	out := make([]RealCounters, len(keys))
	for i, c := range conns {
		out[i] = RealCounters{ActiveConns: c.Active, InActConns: c.Inactive, PersistConns: c.Persist, Stats: stats[i]}
	}
	return out, nil
}

// ServiceCounters returns the statistics of services ids, in their order,
// summed over CPUs and read in batches.
func (d *Datapath) ServiceCounters(ids []ServiceID) ([]lvs.Stats, error) {
	keys, err := serviceKeys(ids)
	if err != nil {
		return nil, fmt.Errorf("stats of services: %w", err)
	}
	stats, err := sumPerCPU(d.objs.LvsSvcStats, keys)
	if err != nil {
		return nil, fmt.Errorf("stats of services: %w", err)
	}
	return stats, nil
}

func sum(per []lvsLvsStats) lvs.Stats {
	var s lvs.Stats
	for _, c := range per {
		s.Conns += c.Conns
		s.InPkts += c.Inpkts
		s.OutPkts += c.Outpkts
		s.InBytes += c.Inbytes
		s.OutBytes += c.Outbytes
	}
	return s
}
