package datapath

import (
	"fmt"

	"github.com/cilium/ebpf"

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

// ServiceStats returns the counters of service id, summed over CPUs.
func (d *Datapath) ServiceStats(id ServiceID) (lvs.Stats, error) {
	if err := checkService(id); err != nil {
		return lvs.Stats{}, fmt.Errorf("stats of service %d: %w", id, err)
	}
	s, err := sumStats(d.objs.LvsSvcStats, uint32(id))
	if err != nil {
		return s, fmt.Errorf("stats of service %d: %w", id, err)
	}
	return s, nil
}

// RealStats returns the counters of real id, summed over CPUs.
func (d *Datapath) RealStats(id RealID) (lvs.Stats, error) {
	if err := checkReal(id); err != nil {
		return lvs.Stats{}, fmt.Errorf("stats of real %d: %w", id, err)
	}
	s, err := sumStats(d.objs.LvsRealStats, uint32(id))
	if err != nil {
		return s, fmt.Errorf("stats of real %d: %w", id, err)
	}
	return s, nil
}

func sumStats(m *ebpf.Map, id uint32) (lvs.Stats, error) {
	var per []lvsLvsStats
	if err := m.Lookup(id, &per); err != nil {
		return lvs.Stats{}, err
	}
	return sum(per), nil
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

// RealConns returns real id's ActiveConn and InActConn.
func (d *Datapath) RealConns(id RealID) (active, inactive uint32, err error) {
	if err := checkReal(id); err != nil {
		return 0, 0, fmt.Errorf("connections of real %d: %w", id, err)
	}
	var v lvsLvsRealConns
	if err := d.objs.LvsConnCounts.Lookup(uint32(id), &v); err != nil {
		return 0, 0, fmt.Errorf("connections of real %d: %w", id, err)
	}
	return v.Active, v.Inactive, nil
}

// PersistConns returns real id's PersistConn: the persistence templates
// bound to it, expired ones included until the sweeper removes them.
func (d *Datapath) PersistConns(id RealID) (uint32, error) {
	if err := checkReal(id); err != nil {
		return 0, fmt.Errorf("persistent connections of real %d: %w", id, err)
	}
	var v lvsLvsRealConns
	if err := d.objs.LvsConnCounts.Lookup(uint32(id), &v); err != nil {
		return 0, fmt.Errorf("persistent connections of real %d: %w", id, err)
	}
	return v.Persist, nil
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
