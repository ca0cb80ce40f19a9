package datapath

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"golvs/internal/lvs"
)

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

func realKeys(ids []RealID) ([]uint32, error) {
	keys := make([]uint32, len(ids))
	for i, id := range ids {
		if err := checkReal(id); err != nil {
			return nil, err
		}
		keys[i] = uint32(id)
	}
	return keys, nil
}

func serviceKeys(ids []ServiceID) ([]uint32, error) {
	keys := make([]uint32, len(ids))
	for i, id := range ids {
		if err := checkService(id); err != nil {
			return nil, err
		}
		keys[i] = uint32(id)
	}
	return keys, nil
}

// rangeReadFactor decides between reading an array's keys one by one and
// reading the array from its start up to the largest key in one batch:
// a lookup costs a system call, a batch element a copy about this many
// times cheaper.
const rangeReadFactor = 16

// readWhole reports whether keys are better read with one batch read of
// entries 0..max(keys) than one by one.
func readWhole(keys []uint32) (n int, whole bool) {
	var top uint32
	for _, k := range keys {
		top = max(top, k)
	}
	n = int(top) + 1
	return n, len(keys) > 1 && n <= len(keys)*rangeReadFactor
}

// lookupArray returns the values of keys of array m, in their order.
func lookupArray[V any](m *ebpf.Map, keys []uint32) ([]V, error) {
	out := make([]V, len(keys))
	if n, whole := readWhole(keys); whole {
		all := make([]V, n)
		err := readArray(m, n, all)
		if err == nil {
			for i, k := range keys {
				out[i] = all[k]
			}
			return out, nil
		}
		if !errors.Is(err, ebpf.ErrNotSupported) {
			return nil, err
		}
	}
	for i, k := range keys {
		if err := m.Lookup(k, &out[i]); err != nil {
			return nil, fmt.Errorf("key %d: %w", k, err)
		}
	}
	return out, nil
}

// sumPerCPU returns the statistics of keys of per-CPU array m, in their
// order, summed over CPUs.
func sumPerCPU(m *ebpf.Map, keys []uint32) ([]lvs.Stats, error) {
	out := make([]lvs.Stats, len(keys))
	cpus := possibleCPUs()
	if n, whole := readWhole(keys); whole {
		all := make([]lvsLvsStats, n*cpus)
		err := readArray(m, n, all)
		if err == nil {
			for i, k := range keys {
				out[i] = sum(all[int(k)*cpus : int(k+1)*cpus])
			}
			return out, nil
		}
		if !errors.Is(err, ebpf.ErrNotSupported) {
			return nil, err
		}
	}
	per := make([]lvsLvsStats, cpus)
	for i, k := range keys {
		if err := m.Lookup(k, per); err != nil {
			return nil, fmt.Errorf("key %d: %w", k, err)
		}
		out[i] = sum(per)
	}
	return out, nil
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

// readArray reads entries 0..n-1 of array m into vals (n values, or n
// times possibleCPUs() for a per-CPU array) with batch reads.
func readArray[V any](m *ebpf.Map, n int, vals []V) error {
	if n > int(m.MaxEntries()) {
		return fmt.Errorf("read %d entries of %s: %w", n, m, ErrRange)
	}
	per := len(vals) / n
	keys := make([]uint32, n)
	var cursor ebpf.MapBatchCursor
	for got := 0; got < n; {
		c, err := m.BatchLookup(&cursor, keys[got:], vals[got*per:], nil)
		got += c
		switch {
		case errors.Is(err, ebpf.ErrKeyNotExist), err == nil && c == 0:
			// The end of the array.
			if got < n {
				return fmt.Errorf("read %d entries of %s: only %d: %w", n, m, got, ErrRange)
			}
		case err != nil:
			return err
		}
	}
	return nil
}
