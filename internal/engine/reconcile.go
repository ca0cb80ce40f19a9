package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"

	"golvs/internal/datapath"
	"golvs/internal/lvs"
)

// A reconcile is two steps: plan (plan.go) computes from the slots and
// the configuration wanted everything the data plane is to write, without
// reading it, and the data plane applies the plan in one call, stopping
// at the first step the kernel refuses. The engine then records in the
// slots what was written.

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
	var idle map[datapath.RealID]bool
	if e.slots.needsIdle(&next) {
		idle = e.idleRetired()
	}
	p, err := e.slots.plan(&next, e.timeouts, recreate, idle)
	if err != nil {
		return err
	}
	if e.log.Enabled(context.Background(), slog.LevelDebug) {
		e.log.Debug("apply plan", slog.String("plan", p.String()))
	}
	retireErr, err := e.dp.Apply(p.Plan)
	if retireErr != nil {
		// The reals are out of every scheduler table already; their open
		// connections keep being forwarded, which is worth a log.
		e.log.Error("retire reals", slog.Any("err", retireErr))
	}
	stop := allSteps
	if pe, ok := errors.AsType[*datapath.PlanError](err); ok {
		stop = pe.Step
	}
	p.record(&e.slots, &e.timeouts, stop)
	return err
}

// idleRetired reads which retired reals no connection or persistence
// template counts against any more, in one batch; on an error it says
// none is, and the next sweep tries again.
func (e *Engine) idleRetired() map[datapath.RealID]bool {
	if len(e.slots.retired) == 0 {
		return nil
	}
	ids := make([]datapath.RealID, len(e.slots.retired))
	for i, r := range e.slots.retired {
		ids[i] = r.ID
	}
	cs, err := e.dp.RealCounters(ids)
	if err != nil {
		e.log.Error("read retired reals' counters", slog.Any("err", err))
		return nil
	}
	idle := make(map[datapath.RealID]bool, len(ids))
	for i, c := range cs {
		if c.ActiveConns == 0 && c.InActConns == 0 && c.PersistConns == 0 {
			idle[ids[i]] = true
		}
	}
	return idle
}

// prune deletes the services the pinned maps hold that the configuration
// does not: left by an lvsd whose state was lost, they would go on
// balancing traffic that no listing shows.
func (e *Engine) prune() error {
	live, err := e.dp.Services()
	if err != nil {
		return fmt.Errorf("list data plane services: %w", err)
	}
	stale := map[datapath.ServiceID]lvs.ServiceKey{}
	for k, id := range live {
		// Ours when the slots have it; SetServices pointed the key at
		// our slot.
		if _, ok := e.slots.services[k]; !ok {
			stale[id] = k
		}
	}
	if len(stale) == 0 {
		return nil
	}
	if _, err := e.dp.Apply(datapath.Plan{Delete: stale}); err != nil {
		return fmt.Errorf("delete stale services: %w", err)
	}
	for k := range maps.Values(stale) {
		e.log.Warn("deleted a service the saved configuration does not have", slog.String("service", k.String()))
	}
	return nil
}
