package datapath

import (
	"fmt"
	"math"

	"golvs/internal/datapath/wire"
	"golvs/internal/lvs"
)

// RealUpdate is one real of a Plan: its slot and what to write there.
type RealUpdate struct {
	ID   RealID
	Real lvs.Real
}

// setReals does SetReal for each of us, with one batch write of the reals
// map and of the overload flags and one read of the connection counts
// rather than three calls a real: a restore of 100,000 reals spent most
// of its time in those calls. When it fails, some of us may have been
// written; the caller reapplies what it wants.
func (d *Datapath) setReals(us []RealUpdate) error {
	if len(us) == 0 {
		return nil
	}
	ids, vals, err := realValues(us)
	if err != nil {
		return err
	}
	d.realMu.Lock()
	defer d.realMu.Unlock()
	if err := batchPut(d.objs.LvsReals, ids, vals); err != nil {
		return fmt.Errorf("set reals: %w", err)
	}
	conns, err := lookupArray[lvsLvsRealConns](d.objs.LvsConnCounts, ids)
	if err != nil {
		return fmt.Errorf("set reals: overload: %w", err)
	}
	var oids, ovals []uint32
	for i, u := range us {
		if on, change := overload(conns[i], u.Real.UThreshold, u.Real.LThreshold); change {
			oids, ovals = append(oids, ids[i]), append(ovals, on)
		}
	}
	if len(oids) == 0 {
		return nil
	}
	if err := batchPut(d.objs.LvsOverload, oids, ovals); err != nil {
		return fmt.Errorf("set reals: overload: %w", err)
	}
	return nil
}

// realValues checks us and returns their slots and reals map values.
func realValues(us []RealUpdate) ([]uint32, []lvsLvsReal, error) {
	ids := make([]uint32, len(us))
	vals := make([]lvsLvsReal, len(us))
	for i, u := range us {
		v, err := realValue(u.ID, u.Real)
		if err != nil {
			return nil, nil, err
		}
		ids[i], vals[i] = uint32(u.ID), v
	}
	return ids, vals, nil
}

// realValue checks real r for slot id and returns it as the reals map
// holds it.
func realValue(id RealID, r lvs.Real) (lvsLvsReal, error) {
	var v lvsLvsReal
	if err := checkReal(id); err != nil {
		return v, fmt.Errorf("set real %d: %w", id, err)
	}
	if r.Weight < 0 || r.Weight > lvs.MaxWeight {
		return v, fmt.Errorf("set real %d: weight %d: %w", id, r.Weight, lvs.ErrRange)
	}
	if r.UThreshold > math.MaxInt32 || r.LThreshold > math.MaxInt32 {
		return v, fmt.Errorf("set real %d: thresholds %d/%d: %w", id, r.UThreshold, r.LThreshold, lvs.ErrInvalid)
	}
	a, fam, err := addr(r.Addr.Addr())
	if err != nil {
		return v, fmt.Errorf("set real %d: %w", id, err)
	}
	v = lvsLvsReal{
		Port:        wire.Hton(r.Addr.Port()),
		Method:      uint8(r.Method),
		Family:      fam,
		Weight:      uint32(r.Weight),
		U_threshold: r.UThreshold,
		L_threshold: r.LThreshold,
		TunPort:     wire.Hton(r.TunPort),
		TunType:     uint8(r.TunType),
		TunFlags:    uint8(r.TunFlags),
	}
	v.Addr.Bytes = a
	return v, nil
}

// overload is SetReal's overload rule for a real with connections c and
// thresholds u and l: the flag to write, and whether to write it.
func overload(c lvsLvsRealConns, u, l uint32) (on uint32, change bool) {
	total := uint64(c.Active) + uint64(c.Inactive)
	var set, clear bool
	switch {
	case u == 0:
		clear = true
	case total >= uint64(u):
		set = true
	case l != 0:
		clear = total < uint64(l)
	default:
		clear = total*4 < uint64(u)*3
	}
	if set {
		return 1, true
	}
	return 0, clear
}

// addReals writes each of us into a slot that held another real or none:
// what ClearReal and then SetReal do, in fewer writes, as the counters
// it zeroes leave the overload flag clear (see SetReal).
func (d *Datapath) addReals(us []RealUpdate) error {
	if len(us) == 0 {
		return nil
	}
	ids, vals, err := realValues(us)
	if err != nil {
		return err
	}
	d.realMu.Lock()
	defer d.realMu.Unlock()
	if err := d.clearReals(ids); err != nil {
		return fmt.Errorf("add reals: %w", err)
	}
	if err := batchPut(d.objs.LvsReals, ids, vals); err != nil {
		return fmt.Errorf("add reals: %w", err)
	}
	return nil
}

// retireReals does RetireReal for each of ids, reading and writing the
// reals map in batches.
func (d *Datapath) retireReals(ids []RealID) error {
	if len(ids) == 0 {
		return nil
	}
	keys, err := realKeys(ids)
	if err != nil {
		return fmt.Errorf("retire reals: %w", err)
	}
	d.realMu.Lock()
	defer d.realMu.Unlock()
	vals, err := lookupArray[lvsLvsReal](d.objs.LvsReals, keys)
	if err != nil {
		return fmt.Errorf("retire reals: %w", err)
	}
	for i := range vals {
		vals[i].Flags |= uint32(lvsLvsRealFlagsLVS_REAL_F_GONE)
	}
	if err := batchPut(d.objs.LvsReals, keys, vals); err != nil {
		return fmt.Errorf("retire reals: %w", err)
	}
	return nil
}

// clearReals zeroes the counters, statistics, overload flags and route
// caches of reals keys.
func (d *Datapath) clearReals(keys []uint32) error {
	if err := batchPut(d.objs.LvsConnCounts, keys, make([]lvsLvsRealConns, len(keys))); err != nil {
		return err
	}
	if err := batchPut(d.objs.LvsRealRoutes, keys, make([]lvsLvsFibCache, len(keys))); err != nil {
		return err
	}
	if err := batchPut(d.objs.LvsOverload, keys, make([]uint32, len(keys))); err != nil {
		return err
	}
	return batchPutPerCPU(d.objs.LvsRealStats, keys, zeroStats(len(keys)))
}

// zeroStats returns the per-CPU values of n zeroed statistics, for
// batchPutPerCPU. They are pointers, all to one zero value: cilium/ebpf
// copies a per-CPU value that is a struct with reflection, field by
// field, and one it points to as memory.
func zeroStats(n int) []*lvsLvsStats {
	zero := new(lvsLvsStats)
	vals := make([]*lvsLvsStats, n*possibleCPUs())
	for i := range vals {
		vals[i] = zero
	}
	return vals
}
