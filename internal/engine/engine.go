// Package engine owns lvsd's configuration and applies every change to the
// data plane through one loop: API calls, batches, restores, the periodic
// connection sweep and the rate estimator all run there, one at a time.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"golvs/internal/datapath"
	"golvs/internal/estimator"
	"golvs/internal/lvs"
)

// Datapath is what the engine needs of the data plane; *datapath.Datapath
// implements it and tests use a fake.
// Reals and services are written and read in batches: at 100,000 reals a
// call per real cost seconds.
type Datapath interface {
	ConnTableSize() int
	// Apply writes a plan; see datapath.Datapath.Apply.
	Apply(p datapath.Plan) (retireErr, err error)
	Services() (map[lvs.ServiceKey]datapath.ServiceID, error)
	// RealCounters and ServiceCounters return the counters of ids, in
	// their order.
	RealCounters(ids []datapath.RealID) ([]datapath.RealCounters, error)
	ServiceCounters(ids []datapath.ServiceID) ([]lvs.Stats, error)
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

// Update runs fn on a copy of the configuration and applies the result to
// the data plane as one diff, or nothing when fn or the data plane refuses
// it. Services and reals that fn leaves as they were keep their
// connections, counters and scheduler state: this is how changes, batches,
// configuration files and health checks all change the table.
// fn runs inside the engine's loop and must not call the engine.
func (e *Engine) Update(ctx context.Context, fn func(t *lvs.Table) error) error {
	return e.do(ctx, func() error { return e.update(fn, nil) })
}

// Apply makes every change of a batch or none (a single ipvsadm command
// is a batch of one): Update with lvs.Table.Apply for each change. A
// refused change is returned as a *lvs.ChangeError.
func (e *Engine) Apply(ctx context.Context, changes []lvs.Change) error {
	return e.do(ctx, func() error {
		var zero []*lvs.ServiceKey
		// Services the batch deletes (or clears) and adds again are new
		// services, not the old ones kept, as in IPVS.
		recreate := map[lvs.ServiceKey]bool{}
		err := e.update(func(next *lvs.Table) error {
			deleted := map[lvs.ServiceKey]bool{}
			for i, c := range changes {
				k := c.Service.ServiceKey
				switch c.Op {
				case lvs.OpClear:
					for _, s := range next.Services {
						deleted[s.ServiceKey] = true
					}
				case lvs.OpDeleteService:
					deleted[k] = true
				case lvs.OpAddService:
					if deleted[k] && e.table.Service(k) >= 0 {
						recreate[k] = true
					}
				}
				if err := next.Apply(c); err != nil {
					return &lvs.ChangeError{Index: i, Err: err}
				}
				if c.Op == lvs.OpZero {
					if k == (lvs.ServiceKey{}) {
						zero = append(zero, nil)
					} else {
						zero = append(zero, &k)
					}
				}
			}
			return nil
		}, recreate)
		if err != nil {
			return err
		}
		for _, k := range zero {
			e.zero(k)
		}
		if len(zero) > 0 {
			e.save()
		}
		return nil
	})
}

// update runs fn on a copy of the configuration and commits the result,
// deleting and adding afresh the services in recreate.
func (e *Engine) update(fn func(t *lvs.Table) error, recreate map[lvs.ServiceKey]bool) error {
	next := e.table.Clone()
	if err := fn(&next); err != nil {
		return err
	}
	return e.commitRecreating(next, recreate)
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

// Services lists the services with their counters and rates.
func (e *Engine) Services(ctx context.Context) ([]lvs.ServiceStatus, error) {
	var out []lvs.ServiceStatus
	err := e.do(ctx, func() error {
		svcIDs := make([]datapath.ServiceID, 0, len(e.table.Services))
		var realIDs []datapath.RealID
		for _, s := range e.table.Services {
			st := e.slots.services[s.ServiceKey]
			svcIDs = append(svcIDs, st.id)
			for _, r := range s.Reals {
				realIDs = append(realIDs, st.reals[r.Addr].id)
			}
		}
		svcStats, err := e.dp.ServiceCounters(svcIDs)
		if err != nil {
			return fmt.Errorf("list services: %w", err)
		}
		realCounters, err := e.dp.RealCounters(realIDs)
		if err != nil {
			return fmt.Errorf("list services: %w", err)
		}
		out = make([]lvs.ServiceStatus, 0, len(e.table.Services))
		// One allocation for every real's status rather than one a service.
		all := make([]lvs.RealStatus, 0, len(realIDs))
		for i, s := range e.table.Services {
			st := e.slots.services[s.ServiceKey]
			ss := lvs.ServiceStatus{Service: s, Rates: st.est.Rates(), Stats: since(svcStats[i], st.zero)}
			ss.Service.Reals = nil
			first := len(all)
			for _, r := range s.Reals {
				rs := st.reals[r.Addr]
				c := realCounters[len(all)]
				all = append(all, lvs.RealStatus{
					Real: r, Rates: rs.est.Rates(), Stats: since(c.Stats, rs.zero),
					ActiveConns: c.ActiveConns, InActConns: c.InActConns, PersistConns: c.PersistConns,
				})
			}
			ss.Reals = all[first:len(all):len(all)]
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

// Timeouts returns the connection timeouts in force.
func (e *Engine) Timeouts(ctx context.Context) (lvs.Timeouts, error) {
	var out lvs.Timeouts
	err := e.do(ctx, func() error { out = e.table.Timeouts; return nil })
	return out, err
}

// ConnTableSize is the capacity of the connection table.
func (e *Engine) ConnTableSize() int { return e.dp.ConnTableSize() }

// Table returns a copy of the configuration.
func (e *Engine) Table(ctx context.Context) (lvs.Table, error) {
	var out lvs.Table
	err := e.do(ctx, func() error { out = e.table.Clone(); return nil })
	return out, err
}

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
	if len(e.slots.retired)+len(e.slots.retiredSvcs) > 0 && e.slots.release(e.idleRetired(), nil) {
		e.save()
	}
}

// sampleRates feeds every service's and real's estimator.
func (e *Engine) sampleRates() {
	err := e.eachStats(nil, func(st *serviceState, s lvs.Stats) { st.est.Sample(s) },
		func(rs *realState, s lvs.Stats) { rs.est.Sample(s) })
	if err != nil {
		e.log.Error("sample rates", slog.Any("err", err))
	}
}

// zero takes the current statistics of service k (all when nil) and its
// reals as their new zero point and clears their rates, as ip_vs_zero_stats.
func (e *Engine) zero(k *lvs.ServiceKey) {
	err := e.eachStats(k, func(st *serviceState, s lvs.Stats) { st.zero = s; st.est.Reset(s) },
		func(rs *realState, s lvs.Stats) { rs.zero = s; rs.est.Reset(s) })
	if err != nil {
		e.log.Error("zero statistics", slog.Any("err", err))
	}
}

// eachStats reads the statistics of service k (all when nil) and of its
// reals in two batches, and calls svc and real with each.
func (e *Engine) eachStats(k *lvs.ServiceKey, svc func(*serviceState, lvs.Stats), real func(*realState, lvs.Stats)) error {
	var (
		sts    []*serviceState
		svcIDs []datapath.ServiceID
		rss    []*realState
		ids    []datapath.RealID
	)
	for key, st := range e.slots.services {
		if k != nil && key != *k {
			continue
		}
		sts, svcIDs = append(sts, st), append(svcIDs, st.id)
		for _, rs := range st.reals {
			rss, ids = append(rss, rs), append(ids, rs.id)
		}
	}
	if len(svcIDs) == 0 {
		return nil
	}
	stats, err := e.dp.ServiceCounters(svcIDs)
	if err != nil {
		return err
	}
	for i, st := range sts {
		svc(st, stats[i])
	}
	if len(ids) == 0 {
		return nil
	}
	counters, err := e.dp.RealCounters(ids)
	if err != nil {
		return err
	}
	for i, rs := range rss {
		real(rs, counters[i].Stats)
	}
	return nil
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
