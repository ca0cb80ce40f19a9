package engine

import (
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"

	"golvs/internal/datapath"
	"golvs/internal/estimator"
	"golvs/internal/lvs"
	"golvs/internal/sched"
)

// slots is what the engine keeps per service and real beside the
// configuration: the data-plane slot each occupies, what was last written
// there, zero points and rate estimators, and the slots of deleted reals
// and services that open connections still count against.
type slots struct {
	services map[lvs.ServiceKey]*serviceState
	svcIDs   idPool[datapath.ServiceID]
	realIDs  idPool[datapath.RealID]
	// retired are deleted reals whose slot is reused only once no
	// connection counts against it; retiredSvcs the slots of deleted
	// services, reused once none of their reals is retired.
	retired     []Retired
	retiredSvcs []datapath.ServiceID
	// retiredAt indexes retired during a reconcile, and revived lists
	// the entries revive took (see revive); both nil between reconciles.
	retiredAt map[retiredKey]int
	revived   []int
	// hints are the slots a restore asks for, by service.
	hints map[lvs.ServiceKey]ServiceSlots
}

func newSlots() slots {
	return slots{
		services: map[lvs.ServiceKey]*serviceState{},
		svcIDs:   idPool[datapath.ServiceID]{max: datapath.MaxServices},
		realIDs:  idPool[datapath.RealID]{max: datapath.MaxReals},
	}
}

// serviceState is a service's slot and what was last written to it.
type serviceState struct {
	id      datapath.ServiceID
	applied lvs.Service // Reals nil; the service options last written
	reals   map[netip.AddrPort]*realState
	// list and table are the real slots in list order and the scheduler
	// table last written, to carry the round-robin position over; written
	// are the reals the table was computed from.
	list, table []datapath.RealID
	written     []lvs.Real
	zero        lvs.Stats
	est         estimator.Estimator
}

// realState is a real's slot and what was last written to it.
type realState struct {
	id      datapath.RealID
	applied lvs.Real
	// lastWeight is the last weight above zero it had, which mh hashes with.
	lastWeight int
	zero       lvs.Stats
	est        estimator.Estimator
}

// reconcile writes to the data plane what differs between the applied
// configuration and next. It can be called again with the old table to
// undo a reconcile that failed half way.
func (e *Engine) reconcile(next lvs.Table) error {
	return e.reconcileRecreating(next, nil)
}

// reconcileRecreating is reconcile where the services in recreate are
// deleted and added afresh even though they are in both tables (a batch
// deleted and re-added them: they start with no counters or templates, as
// in IPVS).
func (e *Engine) reconcileRecreating(next lvs.Table, recreate map[lvs.ServiceKey]bool) error {
	defer e.slots.compactRetired()
	if next.Timeouts != e.timeouts {
		if err := e.dp.SetTimeouts(next.Timeouts); err != nil {
			return fmt.Errorf("set timeouts: %w", err)
		}
		e.timeouts = next.Timeouts
	}
	for k := range recreate {
		if st, ok := e.slots.services[k]; ok {
			if err := e.removeService(k, st); err != nil {
				return err
			}
		}
	}
	var tables tableBatch
	for _, svc := range next.Services {
		st, ok := e.slots.services[svc.ServiceKey]
		if !ok {
			var err error
			if st, err = e.newService(svc.ServiceKey); err != nil {
				return err
			}
		}
		if err := e.syncService(st, svc, &tables); err != nil {
			return err
		}
	}
	if err := tables.flush(e.dp); err != nil {
		return err
	}
	// Deletions come last: when the data plane refuses part of a change,
	// the rollback then never has to bring back a deleted service, whose
	// counters, templates and scheduler state would be lost.
	gone := map[datapath.ServiceID]lvs.ServiceKey{}
	keep := make(map[lvs.ServiceKey]bool, len(next.Services))
	for _, svc := range next.Services {
		keep[svc.ServiceKey] = true
	}
	for k, st := range e.slots.services {
		if !keep[k] {
			gone[st.id] = k
		}
	}
	if len(gone) == 0 {
		return nil
	}
	// One call for them all: each service's own would wait out an RCU
	// grace period (see tableBatch).
	if err := e.dp.DeleteServices(gone); err != nil {
		return fmt.Errorf("delete services: %w", err)
	}
	for _, k := range gone {
		e.forgetService(k, e.slots.services[k])
	}
	return nil
}

// newService takes a slot for service k: the restore's hint if it is
// free (keeping what the pinned maps hold for it), else a cleared one.
func (e *Engine) newService(k lvs.ServiceKey) (*serviceState, error) {
	hint := e.slots.hints[k]
	id, err := slot(&e.slots.svcIDs, hint.ID, e.dp.ClearService)
	if err != nil {
		return nil, fmt.Errorf("add service %s: %w", k, err)
	}
	st := &serviceState{id: id, reals: map[netip.AddrPort]*realState{}}
	if id == hint.ID {
		st.zero = hint.Zero
	}
	e.slots.services[k] = st
	return st, nil
}

func (e *Engine) removeService(k lvs.ServiceKey, st *serviceState) error {
	if err := e.dp.DeleteService(st.id, k); err != nil {
		return fmt.Errorf("delete service %s: %w", k, err)
	}
	e.forgetService(k, st)
	return nil
}

// forgetService retires the reals of service k, deleted from the data
// plane, and frees its slot once they are released.
func (e *Engine) forgetService(k lvs.ServiceKey, st *serviceState) {
	for addr := range st.reals {
		e.retire(k, st, addr)
	}
	e.slots.retiredSvcs = append(e.slots.retiredSvcs, st.id)
	delete(e.slots.services, k)
}

// tableBatch collects the scheduler tables of one reconcile, written in
// one SetServices call: each write of the data plane's map of tables
// waits out an RCU grace period, so written one by one they bounded a
// restore to about 100 services a second.
type tableBatch struct {
	updates []datapath.ServiceUpdate
	// written records, for each update, what it wrote in its service's
	// state; lost forgets what the service's state says was written.
	written, lost []func()
}

func (b *tableBatch) flush(dp Datapath) error {
	if len(b.updates) == 0 {
		return nil
	}
	if err := dp.SetServices(b.updates); err != nil {
		// Some of them may have been written: the rollback then
		// rewrites them all.
		for _, f := range b.lost {
			f()
		}
		return fmt.Errorf("apply services: %w", err)
	}
	for _, f := range b.written {
		f()
	}
	return nil
}

// syncService brings service st's reals and scheduler table to svc; the
// table goes into tables.
func (e *Engine) syncService(st *serviceState, svc lvs.Service, tables *tableBatch) error {
	k := svc.ServiceKey
	for addr := range st.reals {
		if svc.Real(addr) < 0 {
			e.retire(k, st, addr)
		}
	}
	for _, r := range svc.Reals {
		rs, ok := st.reals[r.Addr]
		if !ok {
			var err error
			if rs, err = e.newReal(k, r); err != nil {
				return err
			}
			st.reals[r.Addr] = rs
		}
		if rs.applied != r {
			if err := e.dp.SetReal(rs.id, r); err != nil {
				return fmt.Errorf("set real %s: %w", r.Addr, err)
			}
			rs.applied = r
		}
	}
	opts := svc
	opts.Reals = nil
	list := make([]datapath.RealID, len(svc.Reals))
	for i, r := range svc.Reals {
		list[i] = st.reals[r.Addr].id
	}
	if reflect.DeepEqual(opts, st.applied) && slices.Equal(svc.Reals, st.written) {
		return nil
	}
	e.writeTable(st, svc, list, st.applied.Scheduler != svc.Scheduler, tables)
	tables.written = append(tables.written, func() { st.applied = opts })
	return nil
}

// newReal takes a slot for real r of service k: a retired real of the same
// service and address is revived with its counters, as IPVS revives a
// destination from its trash; else the restore's hint if it is free;
// else a cleared slot.
func (e *Engine) newReal(k lvs.ServiceKey, r lvs.Real) (*realState, error) {
	if x, ok := e.slots.revive(k, r.Addr); ok {
		// SetReal, which follows, clears the real's retired flag.
		return &realState{id: x.ID, zero: x.Zero, lastWeight: x.LastWeight}, nil
	}
	var hint RealSlot
	if h, ok := e.slots.hints[k]; ok {
		if i := slices.IndexFunc(h.Reals, func(x RealSlot) bool { return x.Addr == r.Addr }); i >= 0 {
			hint = h.Reals[i]
		}
	}
	id, err := slot(&e.slots.realIDs, hint.ID, e.dp.ClearReal)
	if err != nil {
		return nil, fmt.Errorf("add real %s: %w", r.Addr, err)
	}
	rs := &realState{id: id}
	if id == hint.ID {
		rs.zero, rs.lastWeight = hint.Zero, hint.LastWeight
	}
	return rs, nil
}

// retire takes real addr out of service k's state: its slot stays taken,
// and its connections' packets are dropped, until they expire.
func (e *Engine) retire(k lvs.ServiceKey, st *serviceState, addr netip.AddrPort) {
	rs := st.reals[addr]
	if err := e.dp.RetireReal(rs.id); err != nil {
		// The real is out of every scheduler table already; its open
		// connections keep being forwarded, which is worth a log.
		e.log.Error("retire real", slog.String("real", addr.String()), slog.Any("err", err))
	}
	e.slots.retired = append(e.slots.retired, Retired{Service: k, Addr: addr, ID: rs.id, ServiceID: st.id, Zero: rs.zero, LastWeight: rs.lastWeight})
	if e.slots.retiredAt != nil {
		e.slots.retiredAt[retiredKey{k, addr}] = len(e.slots.retired) - 1
	}
	delete(st.reals, addr)
}

// retiredKey names a retired real: its service and address.
type retiredKey struct {
	svc  lvs.ServiceKey
	addr netip.AddrPort
}

// revive takes real addr of service k out of the retired reals, if it is
// there. Revived entries are only marked, and removed by compactRetired
// at the end of the reconcile: a lvsadm -C and -R in one batch revives
// every real, and a scan and a delete in the list for each made that
// quadratic (tens of seconds at 100,000 reals).
func (s *slots) revive(k lvs.ServiceKey, addr netip.AddrPort) (Retired, bool) {
	if s.retiredAt == nil {
		s.retiredAt = make(map[retiredKey]int, len(s.retired))
		for i, x := range s.retired {
			s.retiredAt[retiredKey{x.Service, x.Addr}] = i
		}
	}
	i, ok := s.retiredAt[retiredKey{k, addr}]
	if !ok {
		return Retired{}, false
	}
	delete(s.retiredAt, retiredKey{k, addr})
	s.revived = append(s.revived, i)
	return s.retired[i], true
}

// compactRetired removes the reals revive took from the retired list.
func (s *slots) compactRetired() {
	if len(s.revived) > 0 {
		gone := make(map[int]bool, len(s.revived))
		for _, i := range s.revived {
			gone[i] = true
		}
		j := 0
		for i, x := range s.retired {
			if !gone[i] {
				s.retired[j] = x
				j++
			}
		}
		s.retired = slices.Delete(s.retired, j, len(s.retired))
	}
	s.retiredAt, s.revived = nil, nil
}

// release frees the slots of retired reals that no connection or
// persistence template counts against, and of deleted services none of
// whose reals is retired. It reports whether anything was freed.
func (s *slots) release(dp Datapath) bool {
	n := len(s.retired) + len(s.retiredSvcs)
	s.retired = slices.DeleteFunc(s.retired, func(r Retired) bool {
		a, i, err := dp.RealConns(r.ID)
		if err != nil || a != 0 || i != 0 {
			return false
		}
		if p, err := dp.PersistConns(r.ID); err != nil || p != 0 {
			return false
		}
		s.realIDs.put(r.ID)
		return true
	})
	held := make(map[datapath.ServiceID]bool, len(s.retiredSvcs))
	for _, r := range s.retired {
		held[r.ServiceID] = true
	}
	s.retiredSvcs = slices.DeleteFunc(s.retiredSvcs, func(id datapath.ServiceID) bool {
		if held[id] {
			return false
		}
		s.svcIDs.put(id)
		return true
	})
	return len(s.retired)+len(s.retiredSvcs) != n
}

// writeTable adds service svc's scheduler table to tables, to be written
// to the data plane in one swap; list holds its reals' slots in list
// order.
func (e *Engine) writeTable(st *serviceState, svc lvs.Service, list []datapath.RealID, resetRR bool, tables *tableBatch) {
	dests := make([]sched.Dest, len(svc.Reals))
	weights := make([]int, len(svc.Reals))
	for i, r := range svc.Reals {
		rs := st.reals[r.Addr]
		// mh keeps a quiesced real's slots: it hashes with the last
		// weight above zero (ip_vs_mh.c's last_weight).
		if r.Weight > 0 {
			rs.lastWeight = r.Weight
		}
		dests[i] = sched.Dest{Addr: r.Addr, Weight: r.Weight, LastWeight: rs.lastWeight}
		weights[i] = r.Weight
	}
	idx := sched.Table(svc.Scheduler, svc.SchedFlags, dests)
	table := make([]datapath.RealID, len(idx))
	for i, j := range idx {
		if j != sched.Empty {
			table[i] = list[j]
		}
	}
	start := 0
	if svc.Scheduler == "rr" && !resetRR {
		last, ok := e.lastScheduled(st)
		start = sched.RRStart(st.list, last, ok, list, weights)
	}
	tables.updates = append(tables.updates, datapath.ServiceUpdate{ID: st.id, Service: svc, Table: table, RRStart: uint32(start)})
	reals := slices.Clone(svc.Reals)
	tables.written = append(tables.written, func() { st.list, st.table, st.written = list, table, reals })
	tables.lost = append(tables.lost, func() { st.applied, st.written = lvs.Service{}, nil })
}

// lastScheduled returns the real the round robin of st chose last.
func (e *Engine) lastScheduled(st *serviceState) (datapath.RealID, bool) {
	pos, err := e.dp.SchedPosition(st.id)
	if err != nil || len(st.table) == 0 || pos == 0 {
		return 0, false
	}
	return st.table[(pos-1)%uint32(len(st.table))], true
}

// slot takes id from pool when it is free, keeping what the data plane
// holds for it; otherwise it allocates a fresh id and clears it.
func slot[T ~uint32](pool *idPool[T], id T, clear func(T) error) (T, error) {
	if id != 0 && pool.take(id) {
		return id, nil
	}
	id, ok := pool.get()
	if !ok {
		return 0, lvs.ErrTableFull
	}
	if err := clear(id); err != nil {
		pool.put(id)
		return 0, err
	}
	return id, nil
}

// idPool hands out small integer ids, 1..max-1, reusing freed ones.
type idPool[T ~uint32] struct {
	max  int
	next T
	free []T
}

func (p *idPool[T]) get() (T, bool) {
	if n := len(p.free); n > 0 {
		id := p.free[n-1]
		p.free = p.free[:n-1]
		return id, true
	}
	if int(p.next)+1 >= p.max {
		return 0, false
	}
	p.next++
	return p.next, true
}

func (p *idPool[T]) put(id T) { p.free = append(p.free, id) }

// take marks id as used; it reports false when id is out of range or in use.
func (p *idPool[T]) take(id T) bool {
	if id == 0 || int(id) >= p.max {
		return false
	}
	if id > p.next {
		for x := p.next + 1; x < id; x++ {
			p.free = append(p.free, x)
		}
		p.next = id
		return true
	}
	i := slices.Index(p.free, id)
	if i < 0 {
		return false
	}
	p.free = slices.Delete(p.free, i, i+1)
	return true
}
