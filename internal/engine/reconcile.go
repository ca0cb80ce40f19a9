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
	retiredSvcs []retiredService
	// retiredAt indexes retired during a reconcile, and revived lists
	// the entries revive took (see revive); both nil between reconciles.
	// retiredSvcAt indexes retiredSvcs by key (see takeRetiredService).
	retiredAt    map[retiredKey]int
	revived      []int
	retiredSvcAt map[lvs.ServiceKey]int
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
	w := &writes{next: &next}
	if len(recreate) > 0 {
		gone := map[datapath.ServiceID]lvs.ServiceKey{}
		for k := range recreate {
			if st, ok := e.slots.services[k]; ok {
				gone[st.id] = k
			}
		}
		if err := e.deleteServices(gone, w); err != nil {
			return err
		}
	}
	for _, svc := range next.Services {
		st, ok := e.slots.services[svc.ServiceKey]
		if !ok {
			var err error
			if st, err = e.newService(svc.ServiceKey, w); err != nil {
				return err
			}
		}
		if err := e.syncService(st, svc, w); err != nil {
			return err
		}
	}
	if err := e.flush(w); err != nil {
		return err
	}
	// Deletions come last: when the data plane refuses part of a change,
	// the rollback then never has to bring back a deleted service, whose
	// counters, templates and scheduler state would be lost.
	gone := map[datapath.ServiceID]lvs.ServiceKey{}
	for k, st := range e.slots.services {
		if next.Service(k) < 0 {
			gone[st.id] = k
		}
	}
	return e.deleteServices(gone, w)
}

// deleteServices deletes services gone (slot -> key) from the data plane
// and retires their reals. One call for them all: each service's own
// would wait out an RCU grace period (see tableBatch).
func (e *Engine) deleteServices(gone map[datapath.ServiceID]lvs.ServiceKey, w *writes) error {
	if len(gone) == 0 {
		return nil
	}
	if err := e.dp.DeleteServices(gone); err != nil {
		// Part of it may be done (a service's table emptied, its
		// templates flushed): what the states say was written no
		// longer holds, so the rollback writes these services again.
		for _, k := range gone {
			if st := e.slots.services[k]; st != nil {
				st.applied, st.written = lvs.Service{}, nil
			}
		}
		return fmt.Errorf("delete services: %w", err)
	}
	first := len(w.retire)
	for _, k := range gone {
		e.forgetService(k, e.slots.services[k], w)
	}
	// Retired now, not by flush (they stay in w.retiring).
	e.retireReals(w.retire[first:])
	w.retire = w.retire[:first]
	return nil
}

// writes collects what one reconcile writes to the data plane, written in
// batches by flush: a map write is a system call, and a restore of
// 100,000 reals made over half a million of them one by one.
type writes struct {
	// next is the table being applied.
	next *lvs.Table
	// clearSvcs are new service slots to clear; added the reals to
	// write into slots that held other reals, reals those to write into
	// their own slots (changed or revived). addedStates and realStates
	// are their states, whose applied is set once they are written.
	clearSvcs   []datapath.ServiceID
	added       []datapath.RealUpdate
	addedStates []*realState
	reals       []datapath.RealUpdate
	realStates  []*realState
	// retire are the reals retired in this reconcile that flush is to
	// mark so, retiring all it retired (deleteServices marks its own);
	// revived those of them a later service took back.
	retire   []datapath.RealID
	retiring map[datapath.RealID]bool
	revived  map[datapath.RealID]bool
	tables   tableBatch
	// released is set once slots were released for want of free ones.
	released bool
}

// flush writes w's services and reals, their scheduler tables last.
func (e *Engine) flush(w *writes) error {
	// Retired first: SetReals then clears the flag of those revived.
	var retire []datapath.RealID
	for _, id := range w.retire {
		if !w.revived[id] {
			retire = append(retire, id)
		}
	}
	e.retireReals(retire)
	if err := e.dp.ClearServices(w.clearSvcs); err != nil {
		return fmt.Errorf("add services: %w", err)
	}
	if err := writeReals(e.dp.AddReals, w.added, w.addedStates); err != nil {
		return fmt.Errorf("add reals: %w", err)
	}
	if err := writeReals(e.dp.SetReals, w.reals, w.realStates); err != nil {
		return fmt.Errorf("set reals: %w", err)
	}
	return w.tables.flush(e.dp)
}

// writeReals writes reals us with write and records in states what they
// hold. When write fails, any of them may have been written: their
// states then say nothing was, so that the rollback writes them all.
func writeReals(write func([]datapath.RealUpdate) error, us []datapath.RealUpdate, states []*realState) error {
	if len(us) == 0 {
		return nil
	}
	if err := write(us); err != nil {
		for _, rs := range states {
			rs.applied = lvs.Real{}
		}
		return err
	}
	for i, rs := range states {
		rs.applied = us[i].Real
	}
	return nil
}

// retireReals marks reals ids retired in the data plane.
func (e *Engine) retireReals(ids []datapath.RealID) {
	if err := e.dp.RetireReals(ids); err != nil {
		// The reals are out of every scheduler table already; their open
		// connections keep being forwarded, which is worth a log.
		e.log.Error("retire reals", slog.Int("reals", len(ids)), slog.Any("err", err))
	}
}

// newService takes a slot for service k: the restore's hint if it is
// free (keeping what the pinned maps hold for it), else a cleared one.
func (e *Engine) newService(k lvs.ServiceKey, w *writes) (*serviceState, error) {
	hint := e.slots.hints[k]
	var (
		id        datapath.ServiceID
		clear, ok bool
	)
	if hint.ID != 0 && e.slots.svcIDs.take(hint.ID) {
		id, ok = hint.ID, true
	}
	if !ok {
		// A deleted service's slot, held for its reals' connections,
		// goes back to a service of the same key, before any other
		// slot: the reals it revives keep their connections, which
		// name that slot, and their NAT replies find the VIP by it
		// (lvs_svc_vaddrs), so it must stay this key's. IPVS counts the
		// traffic of a revived real's connections to the service it is
		// in now, as this does. It is also what lets `-C` followed by a
		// restore of more than half the slots work while connections
		// live.
		id, ok = e.slots.takeRetiredService(k)
		clear = ok
	}
	if !ok {
		id, clear, ok = take(&e.slots.svcIDs, 0)
	}
	if !ok && e.releaseNow(w) {
		id, clear, ok = take(&e.slots.svcIDs, 0)
	}
	if !ok {
		return nil, fmt.Errorf("add service %s: %w", k, lvs.ErrTableFull)
	}
	if clear {
		w.clearSvcs = append(w.clearSvcs, id)
	}
	st := &serviceState{id: id, reals: map[netip.AddrPort]*realState{}}
	if id == hint.ID {
		st.zero = hint.Zero
	}
	e.slots.services[k] = st
	return st, nil
}

// forgetService retires the reals of service k, deleted from the data
// plane, and frees its slot once they are released.
func (e *Engine) forgetService(k lvs.ServiceKey, st *serviceState, w *writes) {
	for addr := range st.reals {
		e.retire(k, st, addr, w)
	}
	e.slots.retiredSvcs = append(e.slots.retiredSvcs, retiredService{st.id, k})
	e.slots.retiredSvcAt = nil // may index the list no more
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
// writes go into w.
func (e *Engine) syncService(st *serviceState, svc lvs.Service, w *writes) error {
	if unchanged(st, svc) {
		// Most services of a change are: checked first, without
		// building anything.
		return nil
	}
	k := svc.ServiceKey
	for addr := range st.reals {
		if svc.Real(addr) < 0 {
			e.retire(k, st, addr, w)
		}
	}
	for _, r := range svc.Reals {
		rs, ok := st.reals[r.Addr]
		if !ok {
			var fresh bool
			var err error
			if rs, fresh, err = e.newReal(k, r, w); err != nil {
				return err
			}
			st.reals[r.Addr] = rs
			if fresh {
				w.added = append(w.added, datapath.RealUpdate{ID: rs.id, Real: r})
				w.addedStates = append(w.addedStates, rs)
				continue
			}
		}
		if rs.applied != r {
			w.reals = append(w.reals, datapath.RealUpdate{ID: rs.id, Real: r})
			w.realStates = append(w.realStates, rs)
		}
	}
	opts := svc
	opts.Reals = nil
	if reflect.DeepEqual(opts, st.applied) && slices.Equal(svc.Reals, st.written) {
		return nil
	}
	list := make([]datapath.RealID, len(svc.Reals))
	for i, r := range svc.Reals {
		list[i] = st.reals[r.Addr].id
	}
	e.writeTable(st, svc, list, st.applied.Scheduler != svc.Scheduler, &w.tables)
	w.tables.written = append(w.tables.written, func() { st.applied = opts })
	return nil
}

// unchanged reports whether service st holds svc: its options, reals and
// scheduler table are all as written.
func unchanged(st *serviceState, svc lvs.Service) bool {
	if len(st.reals) != len(svc.Reals) || !slices.Equal(svc.Reals, st.written) {
		return false
	}
	for _, r := range svc.Reals {
		if rs := st.reals[r.Addr]; rs == nil || rs.applied != r {
			return false
		}
	}
	opts := svc
	opts.Reals = nil
	return reflect.DeepEqual(opts, st.applied)
}

// newReal takes a slot for real r of service k: a retired real of the same
// service and address is revived with its counters, as IPVS revives a
// destination from its trash; else the restore's hint if it is free;
// else a slot that fresh says is to be cleared as r is written.
func (e *Engine) newReal(k lvs.ServiceKey, r lvs.Real, w *writes) (_ *realState, fresh bool, _ error) {
	if x, ok := e.slots.revive(k, r.Addr); ok {
		// SetReals, which follows, clears the real's retired flag.
		if w.retiring[x.ID] {
			if w.revived == nil {
				w.revived = map[datapath.RealID]bool{}
			}
			w.revived[x.ID] = true
		}
		return &realState{id: x.ID, zero: x.Zero, lastWeight: x.LastWeight}, false, nil
	}
	var hint RealSlot
	if h, ok := e.slots.hints[k]; ok {
		if i := slices.IndexFunc(h.Reals, func(x RealSlot) bool { return x.Addr == r.Addr }); i >= 0 {
			hint = h.Reals[i]
		}
	}
	id, clear, ok := take(&e.slots.realIDs, hint.ID)
	if !ok && e.releaseNow(w) {
		id, clear, ok = take(&e.slots.realIDs, 0)
	}
	if !ok {
		return nil, false, fmt.Errorf("add real %s: %w", r.Addr, lvs.ErrTableFull)
	}
	rs := &realState{id: id}
	if id == hint.ID {
		rs.zero, rs.lastWeight = hint.Zero, hint.LastWeight
	}
	return rs, clear, nil
}

// releaseNow frees, when a reconcile runs out of slots, what the next
// sweep would free, so that a restore right after `lvsadm -C` need not
// wait for it. It leaves alone the reals retired by this reconcile (their
// scheduler tables are not rewritten yet) and the reals the table being
// applied takes back, which keep their counters. It reports whether it
// freed anything; it runs once a reconcile.
func (e *Engine) releaseNow(w *writes) bool {
	if w.released {
		return false
	}
	w.released = true
	e.slots.compactRetired()
	return e.slots.release(e.dp, func(r Retired) bool {
		if w.retiring[r.ID] {
			return true
		}
		i := w.next.Service(r.Service)
		return i >= 0 && w.next.Services[i].Real(r.Addr) >= 0
	})
}

// retire takes real addr out of service k's state: its slot stays taken,
// and its connections' packets are dropped, until they expire. The data
// plane learns it from w.
func (e *Engine) retire(k lvs.ServiceKey, st *serviceState, addr netip.AddrPort, w *writes) {
	rs := st.reals[addr]
	w.retire = append(w.retire, rs.id)
	if w.retiring == nil {
		w.retiring = map[datapath.RealID]bool{}
	}
	w.retiring[rs.id] = true
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
	if s.retiredSvcAt != nil {
		s.retiredSvcs = slices.DeleteFunc(s.retiredSvcs, func(x retiredService) bool { return x.id == 0 })
		s.retiredSvcAt = nil
	}
}

// release frees the slots of retired reals that no connection or
// persistence template counts against, and of deleted services none of
// whose reals is retired; keep, when not nil, names retired reals to
// leave alone whatever their counters. The counters are read in one
// batch: the sweep runs every second, over as many retired reals as a
// `lvsadm -C` leaves. It reports whether anything was freed.
func (s *slots) release(dp Datapath, keep func(Retired) bool) bool {
	n := len(s.retired) + len(s.retiredSvcs)
	var (
		ids  []datapath.RealID
		at   []int // at[j] is the index in s.retired of ids[j]
		free = map[int]bool{}
	)
	for i, r := range s.retired {
		if keep == nil || !keep(r) {
			ids, at = append(ids, r.ID), append(at, i)
		}
	}
	if len(ids) > 0 {
		// On an error nothing is freed; the next sweep tries again.
		if cs, err := dp.RealCounters(ids); err == nil {
			for j, c := range cs {
				if c.ActiveConns == 0 && c.InActConns == 0 && c.PersistConns == 0 {
					free[at[j]] = true
				}
			}
		}
	}
	if len(free) > 0 {
		j := 0
		for i, r := range s.retired {
			if free[i] {
				s.realIDs.put(r.ID)
				continue
			}
			s.retired[j] = r
			j++
		}
		s.retired = slices.Delete(s.retired, j, len(s.retired))
	}
	held := make(map[datapath.ServiceID]bool, len(s.retiredSvcs))
	for _, r := range s.retired {
		held[r.ServiceID] = true
	}
	s.retiredSvcs = slices.DeleteFunc(s.retiredSvcs, func(x retiredService) bool {
		switch {
		case x.id == 0: // taken back by takeRetiredService
			return true
		case held[x.id]:
			return false
		}
		s.svcIDs.put(x.id)
		return true
	})
	s.retiredSvcAt = nil
	return len(s.retired)+len(s.retiredSvcs) != n
}

// retiredService is the slot of a deleted service that the connections of
// its retired reals may still count against.
type retiredService struct {
	id  datapath.ServiceID
	key lvs.ServiceKey
}

// takeRetiredService takes back a retired slot of service k, if there is
// one. The entry taken is only marked (id 0), and removed by
// compactRetired, for the reason revive gives.
func (s *slots) takeRetiredService(k lvs.ServiceKey) (datapath.ServiceID, bool) {
	if s.retiredSvcAt == nil {
		s.retiredSvcAt = make(map[lvs.ServiceKey]int, len(s.retiredSvcs))
		for i, x := range s.retiredSvcs {
			if x.id != 0 {
				s.retiredSvcAt[x.key] = i
			}
		}
	}
	i, ok := s.retiredSvcAt[k]
	if !ok {
		return 0, false
	}
	delete(s.retiredSvcAt, k)
	id := s.retiredSvcs[i].id
	s.retiredSvcs[i].id = 0
	return id, true
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

// take takes id from pool when it is free, keeping what the data plane
// holds for it; otherwise it allocates another id, which the caller
// clears (clear is set). ok is false when pool has no free id.
func take[T ~uint32](pool *idPool[T], id T) (_ T, clear, ok bool) {
	if id != 0 && pool.take(id) {
		return id, false, true
	}
	id, ok = pool.get()
	return id, true, ok
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
