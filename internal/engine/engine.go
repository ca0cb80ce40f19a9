// Package engine owns lvsd's desired configuration and applies every change
// to the data plane through one loop: API calls, restores and the periodic
// connection sweep all run there, one at a time.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"golvs/internal/api"
	"golvs/internal/datapath"
	"golvs/internal/lvs"
	"golvs/internal/sched"
)

// Datapath is what the engine needs of the data plane; *datapath.Datapath
// implements it and tests use a fake.
type Datapath interface {
	ConnTableSize() int
	SetReal(id datapath.RealID, r lvs.Real) error
	ClearReal(id datapath.RealID) error
	SetService(id datapath.ServiceID, k lvs.ServiceKey, scheduler string, table []datapath.RealID, rrStart uint32) error
	SchedPosition(id datapath.ServiceID) (uint32, error)
	DeleteService(id datapath.ServiceID, k lvs.ServiceKey) error
	ClearService(id datapath.ServiceID) error
	SetTimeouts(t lvs.Timeouts) error
	RetireReal(id datapath.RealID) error
	Services() (map[lvs.ServiceKey]datapath.ServiceID, error)
	RealConns(id datapath.RealID) (active, inactive uint32, err error)
	ServiceStats(id datapath.ServiceID) (lvs.Stats, error)
	RealStats(id datapath.RealID) (lvs.Stats, error)
	Conns() ([]datapath.Conn, error)
	Sweep() (int, error)
}

// SweepInterval is how often expired connections are removed.
const SweepInterval = time.Second

// Engine is the single owner of the configuration. Its methods may be
// called from any goroutine; they run inside Run's loop.
type Engine struct {
	dp    Datapath
	store *Store
	log   *slog.Logger
	ops   chan op

	// Owned by the loop in Run.
	table    lvs.Table
	services map[lvs.ServiceKey]*serviceState
	svcIDs   idPool[datapath.ServiceID]
	realIDs  idPool[datapath.RealID]
	// retired are deleted reals whose slot is reused only once no
	// connection counts against it; the slot of a deleted service is reused
	// once none of its reals is retired.
	retired     []Retired
	retiredSvcs []datapath.ServiceID
}

// serviceState is what the engine keeps per service beside its config.
type serviceState struct {
	id    datapath.ServiceID
	reals map[netip.AddrPort]datapath.RealID
	// list is the service's real ids in list order and rr the scheduler
	// table written last, used to carry the round-robin position over.
	list, table []datapath.RealID
}

type op struct {
	fn   func() error
	done chan error
}

// New returns an engine over dp that persists its configuration in store
// (nil: not persisted).
func New(dp Datapath, store *Store, log *slog.Logger) *Engine {
	return &Engine{
		dp:       dp,
		store:    store,
		log:      log,
		ops:      make(chan op),
		services: map[lvs.ServiceKey]*serviceState{},
		table:    lvs.Table{Timeouts: lvs.DefaultTimeouts},
		svcIDs:   idPool[datapath.ServiceID]{max: datapath.MaxServices},
		realIDs:  idPool[datapath.RealID]{max: datapath.MaxReals},
	}
}

// Restore applies a saved state, before Run starts. Services and reals
// keep their data-plane slots, so counters and connections carry over. A
// service that cannot be restored is logged and skipped, never
// half-applied.
func (e *Engine) Restore(s Saved) error {
	if err := e.dp.SetTimeouts(s.Timeouts); err != nil {
		return fmt.Errorf("restore timeouts: %w", err)
	}
	e.table.Timeouts = s.Timeouts
	for _, r := range s.Retired {
		if e.realIDs.take(r.ID) {
			e.retired = append(e.retired, r)
		}
	}
	slots := map[lvs.ServiceKey]ServiceSlots{}
	for _, sl := range s.Slots {
		slots[sl.Service] = sl
	}
	for _, svc := range s.Services {
		if err := e.restoreService(svc, slots[svc.ServiceKey]); err != nil {
			e.log.Error("restore service", slog.String("service", svc.String()), slog.Any("err", err))
		}
	}
	for _, r := range e.retired {
		if e.svcIDs.take(r.ServiceID) {
			e.retiredSvcs = append(e.retiredSvcs, r.ServiceID)
		}
	}
	return e.prune()
}

// prune deletes the services the pinned maps hold that the restored
// configuration does not: left by an lvsd whose state was lost, they would
// go on balancing traffic that no listing shows.
func (e *Engine) prune() error {
	live, err := e.dp.Services()
	if err != nil {
		return fmt.Errorf("list data plane services: %w", err)
	}
	for k, id := range live {
		if st, ok := e.services[k]; ok && st.id == id {
			continue
		}
		if _, ok := e.services[k]; ok {
			// Our key in a stale slot: SetService already points the key
			// at our slot; nothing reaches the old one.
			continue
		}
		if err := e.dp.DeleteService(id, k); err != nil {
			return fmt.Errorf("delete stale service %s: %w", k, err)
		}
		e.log.Warn("deleted a service the saved configuration does not have", slog.String("service", k.String()))
	}
	return nil
}

func (e *Engine) restoreService(svc lvs.Service, sl ServiceSlots) error {
	if err := lvs.ValidateService(svc); err != nil {
		return err
	}
	if e.table.Service(svc.ServiceKey) >= 0 {
		return fmt.Errorf("%w: %s", lvs.ErrServiceExists, svc.ServiceKey)
	}
	reals := svc.Reals[:0:0]
	for _, r := range svc.Reals {
		if err := lvs.ValidateReal(svc.ServiceKey, r); err != nil || slices.ContainsFunc(reals, func(x lvs.Real) bool { return x.Addr == r.Addr }) {
			e.log.Error("restore real", slog.String("service", svc.String()), slog.String("real", r.Addr.String()), slog.Any("err", err))
			continue
		}
		reals = append(reals, r)
	}
	svc.Reals = reals
	if len(reals) > datapath.MaxDests {
		return fmt.Errorf("%w: %d reals", lvs.ErrTableFull, len(reals))
	}

	st := &serviceState{reals: map[netip.AddrPort]datapath.RealID{}}
	var taken []datapath.RealID
	rollback := func(err error) error {
		for _, id := range taken {
			e.realIDs.put(id)
		}
		e.svcIDs.put(st.id)
		return err
	}
	var err error
	if st.id, err = slot(&e.svcIDs, sl.ID, e.dp.ClearService); err != nil {
		return err
	}
	for _, r := range reals {
		want := datapath.RealID(0)
		if i := slices.IndexFunc(sl.Reals, func(x RealSlot) bool { return x.Addr == r.Addr }); i >= 0 {
			want = sl.Reals[i].ID
		}
		id, err := slot(&e.realIDs, want, e.dp.ClearReal)
		if err != nil {
			return rollback(err)
		}
		taken = append(taken, id)
		if err := e.dp.SetReal(id, r); err != nil {
			return rollback(err)
		}
		st.reals[r.Addr] = id
	}
	e.services[svc.ServiceKey] = st
	if err := e.apply(svc, true); err != nil {
		delete(e.services, svc.ServiceKey)
		return rollback(err)
	}
	e.table.Services = append(e.table.Services, svc)
	return nil
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

// Run serves the engine's operations and sweeps the connection table until
// ctx is cancelled.
func (e *Engine) Run(ctx context.Context) {
	tick := time.NewTicker(SweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-e.ops:
			o.done <- o.fn()
		case <-tick.C:
			e.sweep()
		}
	}
}

// do runs fn in the loop and returns its error.
func (e *Engine) do(ctx context.Context, fn func() error) error {
	o := op{fn: fn, done: make(chan error, 1)}
	select {
	case e.ops <- o:
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-o.done
}

// change runs fn in the loop and, when it succeeds, saves the table.
func (e *Engine) change(ctx context.Context, fn func() error) error {
	return e.do(ctx, func() error {
		if err := fn(); err != nil {
			return err
		}
		return e.save()
	})
}

func (e *Engine) save() error {
	if e.store == nil {
		return nil
	}
	saved := Saved{Table: e.table, Retired: e.retired}
	for _, svc := range e.table.Services {
		st := e.services[svc.ServiceKey]
		sl := ServiceSlots{Service: svc.ServiceKey, ID: st.id}
		for _, r := range svc.Reals {
			sl.Reals = append(sl.Reals, RealSlot{Addr: r.Addr, ID: st.reals[r.Addr]})
		}
		saved.Slots = append(saved.Slots, sl)
	}
	if err := e.store.Save(saved); err != nil {
		// The change is live; losing it at the next restart is worth a loud log,
		// not a refusal of a change that already took effect.
		e.log.Error("save configuration", slog.Any("err", err))
	}
	return nil
}

func (e *Engine) sweep() {
	n, err := e.dp.Sweep()
	if err != nil {
		e.log.Error("sweep connections", slog.Any("err", err))
	}
	if n > 0 {
		e.log.Debug("swept connections", slog.Int("expired", n))
	}
	// Reuse the slot of a deleted real once nothing counts against it, and
	// that of a deleted service once none of its reals is retired.
	kept := e.retired[:0]
	for _, r := range e.retired {
		a, i, err := e.dp.RealConns(r.ID)
		if err == nil && a == 0 && i == 0 {
			e.realIDs.put(r.ID)
			continue
		}
		kept = append(kept, r)
	}
	e.retired = kept
	e.retiredSvcs = slices.DeleteFunc(e.retiredSvcs, func(id datapath.ServiceID) bool {
		if slices.ContainsFunc(e.retired, func(r Retired) bool { return r.ServiceID == id }) {
			return false
		}
		e.svcIDs.put(id)
		return true
	})
}

// AddService adds virtual service s.
func (e *Engine) AddService(ctx context.Context, s lvs.Service) error {
	s.Reals = nil
	return e.change(ctx, func() error { return e.addService(s) })
}

func (e *Engine) addService(s lvs.Service) error {
	if err := lvs.ValidateService(s); err != nil {
		return err
	}
	if e.table.Service(s.ServiceKey) >= 0 {
		return fmt.Errorf("%w: %s", lvs.ErrServiceExists, s.ServiceKey)
	}
	id, ok := e.svcIDs.get()
	if !ok {
		return fmt.Errorf("%w: %d services", lvs.ErrTableFull, datapath.MaxServices-1)
	}
	st := &serviceState{id: id, reals: map[netip.AddrPort]datapath.RealID{}}
	if err := e.dp.ClearService(id); err != nil {
		e.svcIDs.put(id)
		return fmt.Errorf("add service %s: %w", s.ServiceKey, err)
	}
	if err := e.dp.SetService(id, s.ServiceKey, s.Scheduler, nil, 0); err != nil {
		e.svcIDs.put(id)
		return fmt.Errorf("add service %s: %w", s.ServiceKey, err)
	}
	e.table.Services = append(e.table.Services, s)
	e.services[s.ServiceKey] = st
	return nil
}

// EditService replaces the scheduler of service s.
func (e *Engine) EditService(ctx context.Context, s lvs.Service) error {
	return e.change(ctx, func() error {
		if err := lvs.ValidateService(s); err != nil {
			return err
		}
		i := e.table.Service(s.ServiceKey)
		if i < 0 {
			return fmt.Errorf("%w: %s", lvs.ErrNoService, s.ServiceKey)
		}
		next := e.table.Services[i]
		resetRR := next.Scheduler != s.Scheduler // a new scheduler starts fresh (ip_vs_ctl.c)
		next.Scheduler = s.Scheduler
		if err := e.apply(next, resetRR); err != nil {
			return err
		}
		e.table.Services[i] = next
		return nil
	})
}

// DeleteService deletes service k and its reals.
func (e *Engine) DeleteService(ctx context.Context, k lvs.ServiceKey) error {
	return e.change(ctx, func() error { return e.deleteService(k) })
}

func (e *Engine) deleteService(k lvs.ServiceKey) error {
	i := e.table.Service(k)
	if i < 0 {
		return fmt.Errorf("%w: %s", lvs.ErrNoService, k)
	}
	st := e.services[k]
	if err := e.dp.DeleteService(st.id, k); err != nil {
		return fmt.Errorf("delete service %s: %w", k, err)
	}
	for _, r := range e.table.Services[i].Reals {
		e.retire(k, st, r.Addr)
	}
	e.retiredSvcs = append(e.retiredSvcs, st.id)
	delete(e.services, k)
	e.table.Services = slices.Delete(e.table.Services, i, i+1)
	return nil
}

// Clear deletes every service.
func (e *Engine) Clear(ctx context.Context) error {
	return e.change(ctx, func() error {
		for len(e.table.Services) > 0 {
			if err := e.deleteService(e.table.Services[0].ServiceKey); err != nil {
				return err
			}
		}
		return nil
	})
}

// AddReal adds real r to service k, at the head of its list as IPVS does.
func (e *Engine) AddReal(ctx context.Context, k lvs.ServiceKey, r lvs.Real) error {
	return e.change(ctx, func() error { return e.addReal(k, r) })
}

func (e *Engine) addReal(k lvs.ServiceKey, r lvs.Real) error {
	i := e.table.Service(k)
	if i < 0 {
		return fmt.Errorf("%w: %s", lvs.ErrNoService, k)
	}
	if err := lvs.ValidateReal(k, r); err != nil {
		return err
	}
	svc := e.table.Services[i]
	if svc.Real(r.Addr) >= 0 {
		return fmt.Errorf("%w: %s", lvs.ErrRealExists, r.Addr)
	}
	if len(svc.Reals) >= datapath.MaxDests {
		return fmt.Errorf("%w: %d reals in %s", lvs.ErrTableFull, datapath.MaxDests, k)
	}
	// A real deleted from this service while its connections live on
	// comes back with its slot and counters, as IPVS revives a destination
	// from its trash.
	revived := slices.IndexFunc(e.retired, func(x Retired) bool { return x.Service == k && x.Addr == r.Addr })
	var id datapath.RealID
	if revived >= 0 {
		id = e.retired[revived].ID
	} else {
		var ok bool
		if id, ok = e.realIDs.get(); !ok {
			return fmt.Errorf("%w: %d reals", lvs.ErrTableFull, datapath.MaxReals-1)
		}
		if err := e.dp.ClearReal(id); err != nil {
			e.realIDs.put(id)
			return fmt.Errorf("add real %s: %w", r.Addr, err)
		}
	}
	fail := func(err error) error {
		if revived >= 0 {
			e.dp.RetireReal(id)
		} else {
			e.realIDs.put(id)
		}
		return fmt.Errorf("add real %s: %w", r.Addr, err)
	}
	if err := e.dp.SetReal(id, r); err != nil {
		return fail(err)
	}
	st := e.services[k]
	st.reals[r.Addr] = id
	next := svc
	next.Reals = append([]lvs.Real{r}, svc.Reals...)
	if err := e.apply(next, false); err != nil {
		delete(st.reals, r.Addr)
		return fail(err)
	}
	if revived >= 0 {
		e.retired = slices.Delete(e.retired, revived, revived+1)
	}
	e.table.Services[i] = next
	return nil
}

// retire takes real addr out of service k's state: its slot stays taken,
// and its connections' packets are dropped, until they expire.
func (e *Engine) retire(k lvs.ServiceKey, st *serviceState, addr netip.AddrPort) {
	id := st.reals[addr]
	if err := e.dp.RetireReal(id); err != nil {
		// The real is out of every scheduler table already; its open
		// connections keep being forwarded, which is logged.
		e.log.Error("retire real", slog.String("real", addr.String()), slog.Any("err", err))
	}
	e.retired = append(e.retired, Retired{Service: k, Addr: addr, ID: id, ServiceID: st.id})
	delete(st.reals, addr)
}

// EditReal replaces the method and weight of real r.Addr of service k.
func (e *Engine) EditReal(ctx context.Context, k lvs.ServiceKey, r lvs.Real) error {
	return e.change(ctx, func() error {
		i, j, err := e.findReal(k, r.Addr)
		if err != nil {
			return err
		}
		svc := e.table.Services[i]
		if err := lvs.ValidateReal(k, r); err != nil {
			return err
		}
		id := e.services[k].reals[r.Addr]
		old := svc.Reals[j]
		if err := e.dp.SetReal(id, r); err != nil {
			return fmt.Errorf("edit real %s: %w", r.Addr, err)
		}
		next := svc
		next.Reals = slices.Clone(svc.Reals)
		next.Reals[j] = r
		if err := e.apply(next, false); err != nil {
			e.dp.SetReal(id, old)
			return err
		}
		e.table.Services[i] = next
		return nil
	})
}

// DeleteReal deletes real addr from service k. Its connections stay in the
// table until they expire.
func (e *Engine) DeleteReal(ctx context.Context, k lvs.ServiceKey, addr netip.AddrPort) error {
	return e.change(ctx, func() error {
		i, j, err := e.findReal(k, addr)
		if err != nil {
			return err
		}
		svc := e.table.Services[i]
		next := svc
		next.Reals = slices.Delete(slices.Clone(svc.Reals), j, j+1)
		if err := e.apply(next, false); err != nil {
			return err
		}
		e.retire(k, e.services[k], addr)
		e.table.Services[i] = next
		return nil
	})
}

// findReal returns the indexes of service k and of its real addr.
func (e *Engine) findReal(k lvs.ServiceKey, addr netip.AddrPort) (svc, real int, err error) {
	svc = e.table.Service(k)
	if svc < 0 {
		return 0, 0, fmt.Errorf("%w: %s", lvs.ErrNoService, k)
	}
	real = e.table.Services[svc].Real(addr)
	if real < 0 {
		return 0, 0, fmt.Errorf("%w: %s", lvs.ErrNoReal, addr)
	}
	return svc, real, nil
}

// apply writes service svc's scheduler table to the data plane in one swap.
func (e *Engine) apply(svc lvs.Service, resetRR bool) error {
	st := e.services[svc.ServiceKey]
	list := make([]datapath.RealID, len(svc.Reals))
	weights := make([]int, len(svc.Reals))
	for i, r := range svc.Reals {
		list[i] = st.reals[r.Addr]
		weights[i] = r.Weight
	}
	var idx []int
	start := 0
	switch svc.Scheduler {
	case "rr":
		idx = sched.RR(weights)
		if !resetRR {
			last, ok := e.lastScheduled(st)
			start = sched.RRStart(st.list, last, ok, list, weights)
		}
	case "wrr":
		idx = sched.WRR(weights)
	default:
		// The least-connection family walks the whole list in the data plane.
		for i := range list {
			idx = append(idx, i)
		}
	}
	table := make([]datapath.RealID, len(idx))
	for i, j := range idx {
		table[i] = list[j]
	}
	if err := e.dp.SetService(st.id, svc.ServiceKey, svc.Scheduler, table, uint32(start)); err != nil {
		return fmt.Errorf("apply service %s: %w", svc.ServiceKey, err)
	}
	st.list, st.table = list, table
	return nil
}

// lastScheduled returns the real the round robin of st chose last.
func (e *Engine) lastScheduled(st *serviceState) (datapath.RealID, bool) {
	pos, err := e.dp.SchedPosition(st.id)
	if err != nil || len(st.table) == 0 || pos == 0 {
		return 0, false
	}
	return st.table[(pos-1)%uint32(len(st.table))], true
}

// Services lists the services with their counters.
func (e *Engine) Services(ctx context.Context) ([]lvs.ServiceStatus, error) {
	var out []lvs.ServiceStatus
	err := e.do(ctx, func() error {
		out = make([]lvs.ServiceStatus, 0, len(e.table.Services))
		for _, s := range e.table.Services {
			st := e.services[s.ServiceKey]
			ss := lvs.ServiceStatus{Service: s, Reals: make([]lvs.RealStatus, 0, len(s.Reals))}
			ss.Service.Reals = nil
			var err error
			if ss.Stats, err = e.dp.ServiceStats(st.id); err != nil {
				return fmt.Errorf("stats of %s: %w", s.ServiceKey, err)
			}
			for _, r := range s.Reals {
				id := st.reals[r.Addr]
				rs := lvs.RealStatus{Real: r}
				if rs.ActiveConns, rs.InActConns, err = e.dp.RealConns(id); err != nil {
					return fmt.Errorf("counters of %s: %w", r.Addr, err)
				}
				if rs.Stats, err = e.dp.RealStats(id); err != nil {
					return fmt.Errorf("stats of %s: %w", r.Addr, err)
				}
				ss.Reals = append(ss.Reals, rs)
			}
			out = append(out, ss)
		}
		return nil
	})
	return out, err
}

// Conns lists the connection table.
func (e *Engine) Conns(ctx context.Context) ([]lvs.Conn, error) {
	// The data plane's table is read directly: listing a large table must
	// not hold up configuration changes.
	conns, err := e.dp.Conns()
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	out := make([]lvs.Conn, len(conns))
	for i, c := range conns {
		out[i] = c.Conn
	}
	return out, nil
}

// Info describes the daemon.
func (e *Engine) Info(ctx context.Context) (api.Info, error) {
	var out api.Info
	err := e.do(ctx, func() error {
		out = api.Info{Version: api.Version, ConnTableSize: e.dp.ConnTableSize(), Timeouts: e.table.Timeouts}
		return nil
	})
	return out, err
}

// Table returns a copy of the configuration.
func (e *Engine) Table(ctx context.Context) (lvs.Table, error) {
	var out lvs.Table
	err := e.do(ctx, func() error { out = e.table.Clone(); return nil })
	return out, err
}

var _ api.Director = (*Engine)(nil)

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
