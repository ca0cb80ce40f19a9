// Package engine owns lvsd's configuration and applies every change to the
// data plane through one loop: API calls, batches, restores, the periodic
// connection sweep and the rate estimator all run there, one at a time.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"golvs/internal/api"
	"golvs/internal/datapath"
	"golvs/internal/estimator"
	"golvs/internal/lvs"
)

// Datapath is what the engine needs of the data plane; *datapath.Datapath
// implements it and tests use a fake.
type Datapath interface {
	ConnTableSize() int
	SetReal(id datapath.RealID, r lvs.Real) error
	ClearReal(id datapath.RealID) error
	RetireReal(id datapath.RealID) error
	SetServices(us []datapath.ServiceUpdate) error
	SchedPosition(id datapath.ServiceID) (uint32, error)
	DeleteService(id datapath.ServiceID, k lvs.ServiceKey) error
	DeleteServices(keys map[datapath.ServiceID]lvs.ServiceKey) error
	ClearService(id datapath.ServiceID) error
	Services() (map[lvs.ServiceKey]datapath.ServiceID, error)
	SetTimeouts(t lvs.Timeouts) error
	RealConns(id datapath.RealID) (active, inactive uint32, err error)
	PersistConns(id datapath.RealID) (uint32, error)
	ServiceStats(id datapath.ServiceID) (lvs.Stats, error)
	RealStats(id datapath.RealID) (lvs.Stats, error)
	Conns() ([]datapath.Conn, error)
	Sweep() (int, error)
	SweepSchedState() error
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
	table    lvs.Table // the configuration, as applied to the data plane
	slots    slots
	timeouts lvs.Timeouts // as applied to the data plane
}

type op struct {
	fn   func() error
	done chan error
}

// New returns an engine over dp that saves its configuration in store
// (nil: not saved).
func New(dp Datapath, store *Store, log *slog.Logger) *Engine {
	return &Engine{
		dp:    dp,
		store: store,
		log:   log,
		ops:   make(chan op),
		table: lvs.Table{Timeouts: lvs.DefaultTimeouts},
		slots: newSlots(),
	}
}

// Run serves the engine's operations, sweeps the connection table and
// samples the rates until ctx is cancelled.
func (e *Engine) Run(ctx context.Context) {
	sweep := time.NewTicker(SweepInterval)
	defer sweep.Stop()
	rates := time.NewTicker(estimator.Interval)
	defer rates.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-e.ops:
			o.done <- o.fn()
		case <-sweep.C:
			e.sweep()
		case <-rates.C:
			e.sampleRates()
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

// Apply makes every change of a batch or none: the changes are made to a
// copy of the configuration, which is applied to the data plane as one
// diff only when every change was accepted.
func (e *Engine) Apply(ctx context.Context, changes []api.Change) error {
	return e.do(ctx, func() error { return e.apply(changes) })
}

func (e *Engine) apply(changes []api.Change) error {
	next := e.table.Clone()
	var zero []*lvs.ServiceKey
	// Services the batch deletes (or clears) and adds again are new
	// services, not the old ones kept.
	deleted, recreate := map[lvs.ServiceKey]bool{}, map[lvs.ServiceKey]bool{}
	for i, c := range changes {
		switch c.Op {
		case api.OpClear:
			for _, s := range next.Services {
				deleted[s.ServiceKey] = true
			}
		case api.OpDeleteService:
			deleted[c.Service.ServiceKey] = true
		case api.OpAddService:
			if deleted[c.Service.ServiceKey] && e.table.Service(c.Service.ServiceKey) >= 0 {
				recreate[c.Service.ServiceKey] = true
			}
		}
		if err := change(&next, c, &zero); err != nil {
			return &api.ChangeError{Index: i, Err: err}
		}
	}
	if err := e.commitRecreating(next, recreate); err != nil {
		return err
	}
	for _, k := range zero {
		e.zero(k)
	}
	if len(zero) > 0 {
		e.save()
	}
	return nil
}

// change makes change c to t; a zero request is collected in zero, to be
// done once the batch is applied.
func change(t *lvs.Table, c api.Change, zero *[]*lvs.ServiceKey) error {
	k := c.Service.ServiceKey
	switch c.Op {
	case api.OpAddService:
		return t.AddService(c.Service)
	case api.OpEditService:
		return t.EditService(c.Service)
	case api.OpDeleteService:
		return t.DeleteService(k)
	case api.OpClear:
		t.Clear()
		return nil
	case api.OpAddReal:
		return t.AddReal(k, c.Real)
	case api.OpEditReal:
		return t.EditReal(k, c.Real)
	case api.OpDeleteReal:
		return t.DeleteReal(k, c.Real.Addr)
	case api.OpSetTimeouts:
		return t.SetTimeouts(c.Timeouts)
	case api.OpZero:
		if k == (lvs.ServiceKey{}) {
			*zero = append(*zero, nil)
			return nil
		}
		if t.Service(k) < 0 {
			return fmt.Errorf("%w: %s", lvs.ErrNoService, k)
		}
		*zero = append(*zero, &k)
		return nil
	}
	return fmt.Errorf("%w: unknown change %q", lvs.ErrInvalid, c.Op)
}

// commit applies next to the data plane as a diff from what is applied.
// When the data plane refuses part of it, what was applied is rolled back.
func (e *Engine) commit(next lvs.Table) error { return e.commitRecreating(next, nil) }

// commitRecreating is commit where the services in recreate are deleted
// and added afresh.
func (e *Engine) commitRecreating(next lvs.Table, recreate map[lvs.ServiceKey]bool) error {
	if err := e.reconcileRecreating(next, recreate); err != nil {
		if rerr := e.reconcile(e.table); rerr != nil {
			e.log.Error("roll back a refused change", slog.Any("err", rerr))
		}
		return err
	}
	e.table = next
	e.save()
	return nil
}

// one runs a batch of one change and returns its error unwrapped.
func (e *Engine) one(ctx context.Context, c api.Change) error {
	err := e.Apply(ctx, []api.Change{c})
	if ce, ok := errors.AsType[*api.ChangeError](err); ok {
		return ce.Err
	}
	return err
}

// AddService adds virtual service s.
func (e *Engine) AddService(ctx context.Context, s lvs.Service) error {
	return e.one(ctx, api.Change{Op: api.OpAddService, Service: s})
}

// EditService replaces the options of service s.
func (e *Engine) EditService(ctx context.Context, s lvs.Service) error {
	return e.one(ctx, api.Change{Op: api.OpEditService, Service: s})
}

// DeleteService deletes service k and its reals.
func (e *Engine) DeleteService(ctx context.Context, k lvs.ServiceKey) error {
	return e.one(ctx, api.Change{Op: api.OpDeleteService, Service: lvs.Service{ServiceKey: k}})
}

// Clear deletes every service.
func (e *Engine) Clear(ctx context.Context) error {
	return e.one(ctx, api.Change{Op: api.OpClear})
}

// AddReal adds real r to service k.
func (e *Engine) AddReal(ctx context.Context, k lvs.ServiceKey, r lvs.Real) error {
	return e.one(ctx, api.Change{Op: api.OpAddReal, Service: lvs.Service{ServiceKey: k}, Real: r})
}

// EditReal replaces the options of real r.Addr of service k.
func (e *Engine) EditReal(ctx context.Context, k lvs.ServiceKey, r lvs.Real) error {
	return e.one(ctx, api.Change{Op: api.OpEditReal, Service: lvs.Service{ServiceKey: k}, Real: r})
}

// DeleteReal deletes real addr from service k. Its open connections stay
// in the table until they expire, and their packets are dropped.
func (e *Engine) DeleteReal(ctx context.Context, k lvs.ServiceKey, addr netip.AddrPort) error {
	return e.one(ctx, api.Change{Op: api.OpDeleteReal, Service: lvs.Service{ServiceKey: k}, Real: lvs.Real{Addr: addr}})
}

// SetTimeouts changes the connection timeouts; zero fields stay as they are.
func (e *Engine) SetTimeouts(ctx context.Context, t lvs.Timeouts) error {
	return e.one(ctx, api.Change{Op: api.OpSetTimeouts, Timeouts: t})
}

// Zero zeroes the statistics and rates of service k, or of all when k is nil.
func (e *Engine) Zero(ctx context.Context, k *lvs.ServiceKey) error {
	c := api.Change{Op: api.OpZero}
	if k != nil {
		c.Service.ServiceKey = *k
	}
	return e.one(ctx, c)
}

// Services lists the services with their counters and rates.
func (e *Engine) Services(ctx context.Context) ([]lvs.ServiceStatus, error) {
	var out []lvs.ServiceStatus
	err := e.do(ctx, func() error {
		out = make([]lvs.ServiceStatus, 0, len(e.table.Services))
		for _, s := range e.table.Services {
			st := e.slots.services[s.ServiceKey]
			ss := lvs.ServiceStatus{Service: s, Reals: make([]lvs.RealStatus, 0, len(s.Reals)), Rates: st.est.Rates()}
			ss.Service.Reals = nil
			stats, err := e.dp.ServiceStats(st.id)
			if err != nil {
				return fmt.Errorf("stats of %s: %w", s.ServiceKey, err)
			}
			ss.Stats = since(stats, st.zero)
			for _, r := range s.Reals {
				rs := st.reals[r.Addr]
				x := lvs.RealStatus{Real: r, Rates: rs.est.Rates()}
				if x.ActiveConns, x.InActConns, err = e.dp.RealConns(rs.id); err != nil {
					return fmt.Errorf("counters of %s: %w", r.Addr, err)
				}
				if x.PersistConns, err = e.dp.PersistConns(rs.id); err != nil {
					return fmt.Errorf("persistence counter of %s: %w", r.Addr, err)
				}
				if stats, err = e.dp.RealStats(rs.id); err != nil {
					return fmt.Errorf("stats of %s: %w", r.Addr, err)
				}
				x.Stats = since(stats, rs.zero)
				ss.Reals = append(ss.Reals, x)
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

// sweep removes expired connections and frees the slots of deleted
// services and reals that no connection counts against any more.
func (e *Engine) sweep() {
	n, err := e.dp.Sweep()
	if err != nil {
		e.log.Error("sweep connections", slog.Any("err", err))
	}
	if n > 0 {
		e.log.Debug("swept connections", slog.Int("expired", n))
	}
	if err := e.dp.SweepSchedState(); err != nil {
		e.log.Error("sweep lblc/lblcr state", slog.Any("err", err))
	}
	if e.slots.release(e.dp) {
		e.save()
	}
}

// sampleRates feeds every service's and real's estimator.
func (e *Engine) sampleRates() {
	for _, st := range e.slots.services {
		if s, err := e.dp.ServiceStats(st.id); err == nil {
			st.est.Sample(s)
		}
		for _, rs := range st.reals {
			if s, err := e.dp.RealStats(rs.id); err == nil {
				rs.est.Sample(s)
			}
		}
	}
}

// zero takes the current statistics of service k (all when nil) and its
// reals as their new zero point and clears their rates, as ip_vs_zero_stats.
func (e *Engine) zero(k *lvs.ServiceKey) {
	for key, st := range e.slots.services {
		if k != nil && key != *k {
			continue
		}
		if s, err := e.dp.ServiceStats(st.id); err == nil {
			st.zero = s
			st.est.Reset(s)
		}
		for _, rs := range st.reals {
			if s, err := e.dp.RealStats(rs.id); err == nil {
				rs.zero = s
				rs.est.Reset(s)
			}
		}
	}
}

// since returns the counters of s counted from zero point z.
func since(s, z lvs.Stats) lvs.Stats {
	return lvs.Stats{
		Conns:    s.Conns - z.Conns,
		InPkts:   s.InPkts - z.InPkts,
		OutPkts:  s.OutPkts - z.OutPkts,
		InBytes:  s.InBytes - z.InBytes,
		OutBytes: s.OutBytes - z.OutBytes,
	}
}
