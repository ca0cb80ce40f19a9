package engine

import (
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"

	"golvs/internal/datapath"
	"golvs/internal/lvs"
	"golvs/internal/sched"
)

// plan is one reconcile: the datapath.Plan that takes the data plane from
// what the slots say it holds to the configuration wanted, and what the
// engine records about each step once the data plane has written it.
type plan struct {
	datapath.Plan
	timeouts  lvs.Timeouts     // for StepTimeouts
	recreated []recreation     // for StepRecreate
	added     []*realState     // Plan.AddReals's states, in their order
	set       []*realState     // Plan.SetReals's states, in their order
	tables    []tableWrite     // Plan.Services's states, in their order
	deleted   []lvs.ServiceKey // for StepDelete
}

// recreation is a service that a change deletes and adds again: old is
// its state until the data plane has deleted it, fresh from then on, and
// retired are the reals of old that fresh does not take back.
type recreation struct {
	key        lvs.ServiceKey
	old, fresh *serviceState
	retired    []Retired
}

// tableWrite is what a service's state says once its table is written.
type tableWrite struct {
	st          *serviceState
	opts        lvs.Service
	list, table []datapath.RealID
	reals       []lvs.Real
}

// allSteps is past the last step of a plan: record's stop when all of it
// was written.
const allSteps = datapath.StepDelete + 1

// planner computes a plan. It reads no data plane: what it needs to know
// of it (which retired reals are idle) it is given. It takes and retires
// slots as it goes; what it writes is recorded only once written.
type planner struct {
	s    *slots
	next *lvs.Table
	// idle are the retired reals no connection counts against, read
	// beforehand when the change may run out of slots (nil otherwise).
	idle map[datapath.RealID]bool
	p    *plan
	// fresh are the new states of the services being recreated, used in
	// place of their slots' states while planning.
	fresh map[lvs.ServiceKey]*serviceState
	// retiring are the reals this plan retires; revived those of them
	// that a later service takes back.
	retiring, revived map[datapath.RealID]bool
	released          bool
}

// plan computes the plan that applies next, the configuration wanted, to
// a data plane holding what s says with timeouts applied; the services in
// recreate are deleted and added afresh. idle is as planner's.
func (s *slots) plan(next *lvs.Table, applied lvs.Timeouts, recreate map[lvs.ServiceKey]bool, idle map[datapath.RealID]bool) (*plan, error) {
	pl := &planner{s: s, next: next, idle: idle, p: &plan{timeouts: next.Timeouts},
		fresh: map[lvs.ServiceKey]*serviceState{}, retiring: map[datapath.RealID]bool{}, revived: map[datapath.RealID]bool{}}
	p := pl.p
	if next.Timeouts != applied {
		t := next.Timeouts
		p.Timeouts = &t
	}
	for _, k := range slices.SortedFunc(maps.Keys(recreate), compareKeys) {
		if old, ok := s.services[k]; ok && next.Service(k) >= 0 {
			pl.recreate(k, old)
		}
	}
	for _, svc := range next.Services {
		st := pl.state(svc.ServiceKey)
		if st == nil {
			var err error
			if st, err = pl.newService(svc.ServiceKey); err != nil {
				return nil, err
			}
		}
		if err := pl.syncService(st, svc); err != nil {
			return nil, err
		}
	}
	p.Retire = slices.DeleteFunc(p.Retire, func(id datapath.RealID) bool { return pl.revived[id] })
	for _, k := range slices.SortedFunc(maps.Keys(s.services), compareKeys) {
		if next.Service(k) >= 0 {
			continue
		}
		st := s.services[k]
		if p.Delete == nil {
			p.Delete = map[datapath.ServiceID]lvs.ServiceKey{}
		}
		p.Delete[st.id] = k
		for _, addr := range sortedAddrs(st.reals) {
			p.DeleteRetire = append(p.DeleteRetire, st.reals[addr].id)
		}
		p.deleted = append(p.deleted, k)
	}
	return p, nil
}

// state is service k's state while planning: the fresh one of a service
// being recreated, else its slot's, nil for a new service.
func (pl *planner) state(k lvs.ServiceKey) *serviceState {
	if st, ok := pl.fresh[k]; ok {
		return st
	}
	return pl.s.services[k]
}

// recreate plans service k, whose state is old, deleted and added again
// in the same slot: the slot is cleared, reals the service still has keep
// their slots and counters (as IPVS revives destinations from its trash),
// the others are retired.
func (pl *planner) recreate(k lvs.ServiceKey, old *serviceState) {
	p := pl.p
	if p.Recreate == nil {
		p.Recreate = map[datapath.ServiceID]lvs.ServiceKey{}
	}
	p.Recreate[old.id] = k
	p.ClearServices = append(p.ClearServices, old.id)
	svc := pl.next.Services[pl.next.Service(k)]
	rec := recreation{key: k, old: old, fresh: &serviceState{id: old.id, reals: map[netip.AddrPort]*realState{}}}
	for _, addr := range sortedAddrs(old.reals) {
		rs := old.reals[addr]
		if svc.Real(addr) >= 0 {
			rec.fresh.reals[addr] = &realState{id: rs.id, zero: rs.zero, lastWeight: rs.lastWeight}
			continue
		}
		p.Retire = append(p.Retire, rs.id)
		pl.retiring[rs.id] = true
		rec.retired = append(rec.retired, Retired{Service: k, Addr: addr, ID: rs.id, ServiceID: old.id, Zero: rs.zero, LastWeight: rs.lastWeight})
	}
	pl.fresh[k] = rec.fresh
	p.recreated = append(p.recreated, rec)
}

// newService takes a slot for service k: the restore's hint if it is
// free (keeping what the pinned maps hold for it), else a cleared one.
func (pl *planner) newService(k lvs.ServiceKey) (*serviceState, error) {
	s := pl.s
	hint := s.hints[k]
	var (
		id        datapath.ServiceID
		clear, ok bool
	)
	if hint.ID != 0 && s.svcIDs.take(hint.ID) {
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
		id, ok = s.takeRetiredService(k)
		clear = ok
	}
	if !ok {
		id, clear, ok = take(&s.svcIDs, 0)
	}
	if !ok && pl.releaseNow() {
		id, clear, ok = take(&s.svcIDs, 0)
	}
	if !ok {
		return nil, fmt.Errorf("add service %s: %w", k, lvs.ErrTableFull)
	}
	if clear {
		pl.p.ClearServices = append(pl.p.ClearServices, id)
	}
	st := &serviceState{id: id, reals: map[netip.AddrPort]*realState{}}
	if id == hint.ID {
		st.zero = hint.Zero
	}
	s.services[k] = st
	return st, nil
}

// syncService plans bringing service st's reals and scheduler table to svc.
func (pl *planner) syncService(st *serviceState, svc lvs.Service) error {
	if unchanged(st, svc) {
		// Most services of a change are: checked first, without
		// building anything.
		return nil
	}
	p := pl.p
	k := svc.ServiceKey
	for _, addr := range sortedAddrs(st.reals) {
		if svc.Real(addr) < 0 {
			pl.retire(k, st, addr)
		}
	}
	for _, r := range svc.Reals {
		rs, ok := st.reals[r.Addr]
		if !ok {
			var fresh bool
			var err error
			if rs, fresh, err = pl.newReal(k, r); err != nil {
				return err
			}
			st.reals[r.Addr] = rs
			if fresh {
				p.AddReals = append(p.AddReals, datapath.RealUpdate{ID: rs.id, Real: r})
				p.added = append(p.added, rs)
				continue
			}
		}
		if rs.applied != r {
			p.SetReals = append(p.SetReals, datapath.RealUpdate{ID: rs.id, Real: r})
			p.set = append(p.set, rs)
		}
	}
	opts := svc
	opts.Reals = nil
	if reflect.DeepEqual(opts, st.applied) && slices.Equal(svc.Reals, st.written) {
		return nil
	}
	pl.writeTable(st, svc, opts)
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
func (pl *planner) newReal(k lvs.ServiceKey, r lvs.Real) (_ *realState, fresh bool, _ error) {
	s := pl.s
	if x, ok := s.revive(k, r.Addr); ok {
		// Written with SetReals, which clears the real's retired flag.
		if pl.retiring[x.ID] {
			pl.revived[x.ID] = true
		}
		return &realState{id: x.ID, zero: x.Zero, lastWeight: x.LastWeight}, false, nil
	}
	var hint RealSlot
	if h, ok := s.hints[k]; ok {
		if i := slices.IndexFunc(h.Reals, func(x RealSlot) bool { return x.Addr == r.Addr }); i >= 0 {
			hint = h.Reals[i]
		}
	}
	id, clear, ok := take(&s.realIDs, hint.ID)
	if !ok && pl.releaseNow() {
		id, clear, ok = take(&s.realIDs, 0)
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

// releaseNow frees, when a plan runs out of slots, what the next sweep
// would free, so that a restore right after `lvsadm -C` need not wait for
// it. It leaves alone the reals this plan retires (their scheduler tables
// are not rewritten yet) and the reals the table being applied takes
// back, which keep their counters. It reports whether it freed anything;
// it runs once a plan.
func (pl *planner) releaseNow() bool {
	if pl.released {
		return false
	}
	pl.released = true
	pl.s.compactRetired()
	return pl.s.release(pl.idle, func(r Retired) bool {
		if pl.retiring[r.ID] {
			return true
		}
		i := pl.next.Service(r.Service)
		return i >= 0 && pl.next.Services[i].Real(r.Addr) >= 0
	})
}

// retire takes real addr out of service k's state: its slot stays taken,
// and its connections' packets are dropped, until they expire.
func (pl *planner) retire(k lvs.ServiceKey, st *serviceState, addr netip.AddrPort) {
	s := pl.s
	rs := st.reals[addr]
	pl.p.Retire = append(pl.p.Retire, rs.id)
	pl.retiring[rs.id] = true
	s.retired = append(s.retired, Retired{Service: k, Addr: addr, ID: rs.id, ServiceID: st.id, Zero: rs.zero, LastWeight: rs.lastWeight})
	if s.retiredAt != nil {
		s.retiredAt[retiredKey{k, addr}] = len(s.retired) - 1
	}
	delete(st.reals, addr)
}

// writeTable plans writing service svc's options opts and scheduler
// table, switched in with one map write.
func (pl *planner) writeTable(st *serviceState, svc lvs.Service, opts lvs.Service) {
	list := make([]datapath.RealID, len(svc.Reals))
	dests := make([]sched.Dest, len(svc.Reals))
	weights := make([]int, len(svc.Reals))
	for i, r := range svc.Reals {
		rs := st.reals[r.Addr]
		list[i] = rs.id
		rs.lastWeight = sched.LastWeight(rs.lastWeight, r.Weight)
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
	u := datapath.ServiceUpdate{ID: st.id, Service: svc, Table: table}
	// A round robin carries on after the real it chose last, unless the
	// service was just switched to it.
	if k, _ := sched.KindOf(svc.Scheduler); k.KeepsPosition && st.applied.Scheduler == svc.Scheduler {
		u.RR = &datapath.RRCarry{PrevTable: st.table, PrevList: st.list, List: list, Weights: weights}
	}
	pl.p.Services = append(pl.p.Services, u)
	pl.p.tables = append(pl.p.tables, tableWrite{st: st, opts: opts, list: list, table: table, reals: slices.Clone(svc.Reals)})
}

// record records in the slots what the data plane holds after p was
// written up to step stop (allSteps: all of it). A step that failed may
// have been written in part: what its states say was written is
// forgotten, so that the plan undoing it writes them all again.
func (p *plan) record(s *slots, timeouts *lvs.Timeouts, stop datapath.PlanStep) {
	done := func(step datapath.PlanStep) bool { return step < stop }
	if done(datapath.StepTimeouts) {
		*timeouts = p.timeouts
	}
	for _, rec := range p.recreated {
		if !done(datapath.StepRecreate) {
			rec.old.applied, rec.old.written = lvs.Service{}, nil
			continue
		}
		s.services[rec.key] = rec.fresh
		for _, r := range rec.retired {
			s.retired = append(s.retired, r)
			if s.retiredAt != nil {
				s.retiredAt[retiredKey{r.Service, r.Addr}] = len(s.retired) - 1
			}
		}
	}
	recordReals := func(step datapath.PlanStep, us []datapath.RealUpdate, states []*realState) {
		for i, rs := range states {
			if done(step) {
				rs.applied = us[i].Real
			} else {
				rs.applied = lvs.Real{}
			}
		}
	}
	recordReals(datapath.StepAddReals, p.AddReals, p.added)
	recordReals(datapath.StepSetReals, p.SetReals, p.set)
	for _, w := range p.tables {
		if done(datapath.StepServices) {
			w.st.applied, w.st.list, w.st.table, w.st.written = w.opts, w.list, w.table, w.reals
		} else {
			w.st.applied, w.st.written = lvs.Service{}, nil
		}
	}
	for _, k := range p.deleted {
		st := s.services[k]
		if !done(datapath.StepDelete) {
			st.applied, st.written = lvs.Service{}, nil
			continue
		}
		s.forget(k, st)
	}
}

// forget retires the reals of service k, deleted from the data plane, and
// frees its slot once they are released.
func (s *slots) forget(k lvs.ServiceKey, st *serviceState) {
	for _, addr := range sortedAddrs(st.reals) {
		rs := st.reals[addr]
		s.retired = append(s.retired, Retired{Service: k, Addr: addr, ID: rs.id, ServiceID: st.id, Zero: rs.zero, LastWeight: rs.lastWeight})
	}
	s.retiredAt = nil // may index the list no more
	s.retiredSvcs = append(s.retiredSvcs, retiredService{st.id, k})
	s.retiredSvcAt = nil
	delete(s.services, k)
}

// needsIdle reports whether applying next may run out of slots, so that
// the plan needs to know which retired reals are idle: it counts, as an
// upper bound, the services and reals next has that hold no slot.
func (s *slots) needsIdle(next *lvs.Table) bool {
	svcs, reals := 0, 0
	for _, svc := range next.Services {
		st := s.services[svc.ServiceKey]
		if st == nil {
			svcs++
			reals += len(svc.Reals)
			continue
		}
		for _, r := range svc.Reals {
			if st.reals[r.Addr] == nil {
				reals++
			}
		}
	}
	return svcs > s.svcIDs.available() || reals > s.realIDs.available()
}

func compareKeys(a, b lvs.ServiceKey) int {
	if a.Protocol != b.Protocol {
		return int(a.Protocol) - int(b.Protocol)
	}
	return a.Addr.Compare(b.Addr)
}

// sortedAddrs returns the addresses of reals in order, so that a plan
// does not depend on map order.
func sortedAddrs(reals map[netip.AddrPort]*realState) []netip.AddrPort {
	return slices.SortedFunc(maps.Keys(reals), netip.AddrPort.Compare)
}
