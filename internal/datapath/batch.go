package datapath

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"golvs/internal/lvs"
)

// ServiceUpdate is one service for SetServices: SetService's arguments.
type ServiceUpdate struct {
	ID      ServiceID
	Service lvs.Service
	Table   []RealID
	RRStart uint32
	// RR, when set, has Apply work RRStart out from where the round
	// robin of the table being replaced is (SetServices ignores it).
	RR *RRCarry
}

// SetServices does SetService for each of us, switching all their
// scheduler tables in with one batch write of the table map. The kernel
// waits for an RCU grace period after every write to a map of maps (so
// that no program still sees the old inner map when the write returns),
// about 10 ms here: written one by one, a restore of 4,000 services took
// 50 s. The other maps are written in batches too, and the tables, a
// map each, are made by a few goroutines at once. Each service still
// sees its old table or its new one, never a mix. When it fails, the
// services before the failing one may have been written; the caller
// reapplies what it wants.
func (d *Datapath) SetServices(us []ServiceUpdate) error {
	if len(us) == 0 {
		return nil
	}
	keys := make([]lvsLvsServiceKey, len(us))
	vals := make([]lvsLvsService, len(us))
	ids := make([]uint32, len(us))
	starts := make([]uint32, len(us))
	for i, u := range us {
		k, v, err := serviceEntry(u)
		if err != nil {
			return err
		}
		keys[i], vals[i], ids[i], starts[i] = k, v, uint32(u.ID), u.RRStart
	}
	tables, err := d.newTables(us)
	if err != nil {
		return err
	}
	defer func() {
		for _, t := range tables {
			t.Close() // the table map holds its own reference
		}
	}()
	// -E to another scheduler destroys the old one's state: lblc/lblcr
	// state survives a change of the table, not of the scheduler.
	changed := map[ServiceID]bool{}
	for i := range us {
		var old lvsLvsService
		if err := d.objs.LvsServices.Lookup(&keys[i], &old); err == nil && old.Id == vals[i].Id && old.Scheduler != vals[i].Scheduler {
			changed[ServiceID(ids[i])] = true
		}
	}
	if err := d.dropSchedStates(changed); err != nil {
		return fmt.Errorf("set services: %w", err)
	}
	if err := batchPut(d.objs.LvsSchedPos, ids, starts); err != nil {
		return fmt.Errorf("set services: scheduler positions: %w", err)
	}
	// The VIPs NAT reverse entries name by service id (lvs_svc_vaddrs),
	// there before the first connection; never cleared, as connections
	// outlive their service.
	vaddrs := make([]lvsLvsAddr, len(keys))
	for i, k := range keys {
		vaddrs[i] = k.Vaddr
	}
	if err := batchPut(d.objs.LvsSvcVaddrs, ids, vaddrs); err != nil {
		return fmt.Errorf("set services: VIPs: %w", err)
	}
	fds := make([]uint32, len(tables))
	for i, t := range tables {
		fds[i] = uint32(t.FD())
	}
	if _, err := d.objs.LvsTables.BatchUpdate(ids, fds, nil); err != nil {
		if !errors.Is(err, ebpf.ErrNotSupported) {
			return fmt.Errorf("set service %s: swap scheduler table: %w", us[0].Service.ServiceKey, err)
		}
		for i, t := range tables {
			if err := d.objs.LvsTables.Put(ids[i], t); err != nil {
				return fmt.Errorf("set service %s: swap scheduler table: %w", us[i].Service.ServiceKey, err)
			}
		}
	}
	n, err := d.objs.LvsServices.BatchUpdate(keys, vals, nil)
	if errors.Is(err, ebpf.ErrNotSupported) {
		for n = range keys {
			if err = d.objs.LvsServices.Put(&keys[n], &vals[n]); err != nil {
				break
			}
		}
	}
	if err != nil {
		k := us[min(n, len(us)-1)].Service.ServiceKey
		if errors.Is(err, unix.E2BIG) { // hash map full
			return fmt.Errorf("set service %s: %w", k, lvs.ErrTableFull)
		}
		return fmt.Errorf("set service %s: %w", k, err)
	}
	for _, u := range us {
		if u.Service.Addr.Port() == 0 {
			if err := d.countPortZero(); err != nil {
				return fmt.Errorf("set services: %w", err)
			}
			break
		}
	}
	return nil
}

// newTables builds the scheduler tables of us, in their order. Making a
// map is a few system calls of some microseconds each, tens of
// thousands of them in a restore: a few goroutines make them at once.
func (d *Datapath) newTables(us []ServiceUpdate) ([]*ebpf.Map, error) {
	tables := make([]*ebpf.Map, len(us))
	errs := make([]error, len(us))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), 4, (len(us)+255)/256) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(us) {
					return
				}
				if tables[i], errs[i] = d.newTable(us[i].Table); errs[i] != nil {
					// The others stop at their next table.
					next.Store(int64(len(us)))
					return
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			for _, t := range tables {
				if t != nil {
					t.Close()
				}
			}
			return nil, fmt.Errorf("set service %s: scheduler table: %w", us[i].Service.ServiceKey, err)
		}
	}
	return tables, nil
}

// DeleteServices is DeleteService for each of keys (service id -> key),
// emptying all their scheduler table slots with one batch write
// and reading the template and lblc tables once rather than once per
// service: a Clear of 4,000 services took 50 s one by one. The slots are
// left holding an empty table rather than none (see emptyTables).
func (d *Datapath) DeleteServices(keys map[ServiceID]lvs.ServiceKey) error {
	if len(keys) == 0 {
		return nil
	}
	var errs []error
	ids := make([]uint32, 0, len(keys))
	skeys := make([]lvsLvsServiceKey, 0, len(keys))
	portZero := false
	for id, k := range keys {
		if err := checkService(id); err != nil {
			return fmt.Errorf("delete service %s: %w", k, err)
		}
		key, err := serviceKey(k)
		if err != nil {
			return fmt.Errorf("delete service %s: %w", k, err)
		}
		ids, skeys = append(ids, uint32(id)), append(skeys, key)
		portZero = portZero || k.Addr.Port() == 0
	}
	first := len(errs)
	for j, i := range deleteAll(d.objs.LvsServices, skeys, &errs) {
		// deleteAll adds one error per failed key, in order.
		errs[first+j] = fmt.Errorf("delete service %s: %w", keys[ServiceID(ids[i])], errs[first+j])
	}
	if err := batchPut(d.objs.LvsSchedPos, ids, make([]uint32, len(ids))); err != nil {
		errs = append(errs, fmt.Errorf("delete services: scheduler positions: %w", err))
	}
	if err := d.emptyTables(ids); err != nil {
		errs = append(errs, fmt.Errorf("delete services: scheduler tables: %w", err))
	}
	svcs := make(map[ServiceID]bool, len(keys))
	for id := range keys {
		svcs[id] = true
	}
	if err := d.dropSchedStates(svcs); err != nil {
		errs = append(errs, fmt.Errorf("delete services: %w", err))
	}
	// IPVS flushes a service's templates with it; its connections live on.
	tmpls, err := keysOf(d.objs.LvsTemplates, func(_ *lvsLvsTuple, t *lvsLvsTmpl) bool { _, ok := keys[ServiceID(t.Service)]; return ok })
	if err == nil {
		_, err = d.remove(tmpls, sweepAllTemplates)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("delete services: persistence templates: %w", err))
	}
	if portZero {
		if err := d.countPortZero(); err != nil {
			errs = append(errs, fmt.Errorf("delete services: %w", err))
		}
	}
	return errors.Join(errs...)
}

// RealUpdate is one real for SetReals: SetReal's arguments.
type RealUpdate struct {
	ID   RealID
	Real lvs.Real
}

// SetReals does SetReal for each of us, with one batch write of the reals
// map and of the overload flags and one read of the connection counts
// rather than three calls a real: a restore of 100,000 reals spent most
// of its time in those calls. When it fails, some of us may have been
// written; the caller reapplies what it wants.
func (d *Datapath) SetReals(us []RealUpdate) error {
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

// AddReals writes each of us into a slot that held another real or none:
// what ClearReal and then SetReal do, in fewer writes, as the counters
// it zeroes leave the overload flag clear (see SetReal).
func (d *Datapath) AddReals(us []RealUpdate) error {
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

// ClearReals does ClearReal for each of ids, with one batch write of each
// map.
func (d *Datapath) ClearReals(ids []RealID) error {
	if len(ids) == 0 {
		return nil
	}
	keys, err := realKeys(ids)
	if err != nil {
		return fmt.Errorf("clear reals: %w", err)
	}
	if err := d.clearReals(keys); err != nil {
		return fmt.Errorf("clear reals: %w", err)
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

// RetireReals does RetireReal for each of ids, reading and writing the
// reals map in batches.
func (d *Datapath) RetireReals(ids []RealID) error {
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

// ClearServices does ClearService for each of ids, with one batch write.
func (d *Datapath) ClearServices(ids []ServiceID) error {
	if len(ids) == 0 {
		return nil
	}
	keys, err := serviceKeys(ids)
	if err != nil {
		return fmt.Errorf("clear services: %w", err)
	}
	if err := batchPutPerCPU(d.objs.LvsSvcStats, keys, zeroStats(len(keys))); err != nil {
		return fmt.Errorf("clear services: %w", err)
	}
	return nil
}

// batchPutPerCPU writes keys of per-CPU map m, vals holding
// possibleCPUs() values for each key in turn.
func batchPutPerCPU[V any](m *ebpf.Map, keys []uint32, vals []V) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := m.BatchUpdate(keys, vals, nil)
	if errors.Is(err, ebpf.ErrNotSupported) {
		n := possibleCPUs()
		for i, k := range keys {
			if err := m.Put(k, vals[i*n:(i+1)*n]); err != nil {
				return err
			}
		}
		return nil
	}
	return err
}

// dropSchedStates does dropSchedState for each of ids, reading the lblc
// map once.
func (d *Datapath) dropSchedStates(ids map[ServiceID]bool) error {
	if len(ids) == 0 {
		return nil
	}
	keys, err := keysOf(d.objs.LvsLblc, func(k *lvsLvsLblcKey, _ *lvsLvsLblcEntry) bool { return ids[ServiceID(k.Service)] })
	if err != nil {
		return fmt.Errorf("scheduler state: %w", err)
	}
	for _, k := range keys {
		if err := d.objs.LvsLblc.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("scheduler state: %w", err)
		}
	}
	return nil
}

// deleteAll deletes keys of m in batches (a hash map: the kernel has no
// batch delete for an array of maps). A batch stops at a key that is not
// there (a half-done earlier delete), which is no error: the next batch
// goes on after it. It appends the errors to errs and returns, for each,
// the index of its key.
func deleteAll[K any](m *ebpf.Map, keys []K, errs *[]error) (failed []int) {
	for done := 0; done < len(keys); {
		n, err := m.BatchDelete(keys[done:], nil)
		if errors.Is(err, ebpf.ErrNotSupported) {
			for i := done; i < len(keys); i++ {
				if err := m.Delete(&keys[i]); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
					*errs = append(*errs, err)
					failed = append(failed, i)
				}
			}
			return failed
		}
		done += n
		if err == nil {
			return failed
		}
		if !errors.Is(err, ebpf.ErrKeyNotExist) {
			*errs = append(*errs, err)
			failed = append(failed, done)
		}
		done++ // past the key the batch stopped at
	}
	return failed
}

// emptyTables points the scheduler table slots ids at one empty table.
// The kernel has no batch delete for a map of maps, and waits out an RCU
// grace period after each delete (10 ms or more): deleting the slots of
// 10,000 services took two minutes. One batch write waits once. A
// service's table is only looked up once its key is found in the
// services map, which is deleted first, so the empty table is never
// scheduled from; the slot's next service writes its own.
func (d *Datapath) emptyTables(ids []uint32) error {
	empty, err := d.newTable(nil)
	if err != nil {
		return err
	}
	defer empty.Close() // the slots hold their own references
	fds := make([]uint32, len(ids))
	for i := range fds {
		fds[i] = uint32(empty.FD())
	}
	_, err = d.objs.LvsTables.BatchUpdate(ids, fds, nil)
	if errors.Is(err, ebpf.ErrNotSupported) {
		for _, id := range ids {
			if err := d.objs.LvsTables.Put(id, empty); err != nil {
				return err
			}
		}
		return nil
	}
	return err
}
