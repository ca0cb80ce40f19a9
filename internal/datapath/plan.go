package datapath

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"golvs/internal/lvs"
	"golvs/internal/sched"
)

// Plan is everything one change of the configuration writes to the data
// plane, computed by the engine from the configuration it wants and the
// slots it holds, and written by Apply in one call. Its fields are listed
// in the order Apply writes them.
type Plan struct {
	// Timeouts, when not nil, are written first (ipvsadm --set).
	Timeouts *lvs.Timeouts
	// Recreate are services (slot -> key) deleted before anything else
	// because the change deletes and adds them again: they come back with
	// no counters, templates or scheduler state, as in IPVS.
	Recreate map[ServiceID]lvs.ServiceKey
	// Retire are reals taken out of their service: their slots stay, and
	// their connections' packets are dropped until the connections expire.
	Retire []RealID
	// ClearServices are slots that services are about to take afresh:
	// their counters are zeroed.
	ClearServices []ServiceID
	// AddReals go into slots that are cleared first (counters and
	// connection counts zeroed); SetReals into slots that keep them (a real
	// changed, or one revived from the retired reals).
	AddReals, SetReals []RealUpdate
	// Services are scheduler tables and service entries to write, each
	// service's table switched in with one map write.
	Services []ServiceUpdate
	// Delete are services (slot -> key) that the change deletes, deleted
	// last so that a refused change never has to bring one back, and
	// DeleteRetire their reals, retired once they are.
	Delete       map[ServiceID]lvs.ServiceKey
	DeleteRetire []RealID
}

// RRCarry is what a round robin needs to carry on where it was when its
// service's table is replaced (ip_vs_rr.c keeps a pointer to the last real
// it chose): the table and list of reals being replaced and the new list
// with its weights.
type RRCarry struct {
	PrevTable, PrevList, List []RealID
	Weights                   []int
}

// PlanStep names a step of Apply, in the order they run.
type PlanStep int

// The steps of Apply.
const (
	StepTimeouts PlanStep = iota
	StepRecreate
	StepClearServices
	StepAddReals
	StepSetReals
	StepServices
	StepDelete
)

// PlanError is the error of a plan that Apply stopped at step Step: the
// steps before it were written, Step may be in part, the later ones not.
type PlanError struct {
	Step PlanStep
	Err  error
}

// Error is Err's message, which names the operation already.
func (e *PlanError) Error() string { return e.Err.Error() }
func (e *PlanError) Unwrap() error { return e.Err }

// Apply writes plan p, step by step in the order of its fields. It stops
// at the first step the kernel refuses, returning a *PlanError; the
// caller then applies a plan that undoes it. Retiring a real is not a
// step that can fail a plan: the real is out of every scheduler table
// already and its connections keep being forwarded, so a failure is only
// reported, as retireErr.
func (d *Datapath) Apply(p Plan) (retireErr, err error) {
	var retireErrs []error
	retire := func(ids []RealID) {
		if err := d.retireReals(ids); err != nil {
			retireErrs = append(retireErrs, err)
		}
	}
	fail := func(s PlanStep, err error) (error, error) {
		return errors.Join(retireErrs...), &PlanError{Step: s, Err: err}
	}
	if p.Timeouts != nil {
		if err := d.SetTimeouts(*p.Timeouts); err != nil {
			return fail(StepTimeouts, err)
		}
	}
	if err := d.deleteServices(p.Recreate); err != nil {
		return fail(StepRecreate, err)
	}
	// Retired before the reals are written: setReals clears the flag of
	// a real that is revived.
	retire(p.Retire)
	if err := d.clearServices(p.ClearServices); err != nil {
		return fail(StepClearServices, err)
	}
	if err := d.addReals(p.AddReals); err != nil {
		return fail(StepAddReals, err)
	}
	if err := d.setReals(p.SetReals); err != nil {
		return fail(StepSetReals, err)
	}
	us, err := d.carryRR(p.Services)
	if err == nil {
		err = d.setServices(us)
	}
	if err != nil {
		return fail(StepServices, err)
	}
	if err := d.deleteServices(p.Delete); err != nil {
		return fail(StepDelete, err)
	}
	retire(p.DeleteRetire)
	return errors.Join(retireErrs...), nil
}

// carryRR returns us with the round-robin start of each update that
// carries one over worked out from its service's current position, read
// in one batch.
func (d *Datapath) carryRR(us []ServiceUpdate) ([]ServiceUpdate, error) {
	var ids []uint32
	for _, u := range us {
		if u.RR != nil {
			ids = append(ids, uint32(u.ID))
		}
	}
	if len(ids) == 0 {
		return us, nil
	}
	pos, err := lookupArray[uint32](d.objs.LvsSchedPos, ids)
	if err != nil {
		return nil, fmt.Errorf("set services: scheduler positions: %w", err)
	}
	out := slices.Clone(us)
	i := 0
	for j := range out {
		if c := out[j].RR; c != nil {
			out[j].RRStart = uint32(c.Start(pos[i]))
			i++
		}
	}
	return out, nil
}

// Start is where the round robin continues in the new table, given pos,
// the position (index of the next pick, modulo the table's length) it has
// in the table being replaced.
func (c *RRCarry) Start(pos uint32) int {
	last, ok := sched.LastPicked(c.PrevTable, pos)
	return sched.RRStart(c.PrevList, last, ok, c.List, c.Weights)
}

// String lists what p writes, a line a step, services and reals by slot.
func (p Plan) String() string {
	var b strings.Builder
	ids := func(name string, xs []RealID) {
		if len(xs) > 0 {
			fmt.Fprintf(&b, "%s %v\n", name, xs)
		}
	}
	svcs := func(name string, m map[ServiceID]lvs.ServiceKey) {
		for _, id := range slices.Sorted(maps.Keys(m)) {
			fmt.Fprintf(&b, "%s %d %s\n", name, id, m[id])
		}
	}
	reals := func(name string, us []RealUpdate) {
		for _, u := range us {
			fmt.Fprintf(&b, "%s %d %s %s %d\n", name, u.ID, u.Real.Addr, u.Real.Method, u.Real.Weight)
		}
	}
	if p.Timeouts != nil {
		fmt.Fprintf(&b, "timeouts %v %v %v\n", p.Timeouts.TCP, p.Timeouts.TCPFin, p.Timeouts.UDP)
	}
	svcs("recreate", p.Recreate)
	ids("retire", p.Retire)
	if len(p.ClearServices) > 0 {
		fmt.Fprintf(&b, "clear-services %v\n", p.ClearServices)
	}
	reals("add-real", p.AddReals)
	reals("set-real", p.SetReals)
	for _, u := range p.Services {
		fmt.Fprintf(&b, "service %d %s %s table %v", u.ID, u.Service.ServiceKey, u.Service.Scheduler, u.Table)
		if u.RR != nil {
			fmt.Fprintf(&b, " rr-carry from %v", u.RR.PrevTable)
		}
		b.WriteByte('\n')
	}
	svcs("delete", p.Delete)
	ids("delete-retire", p.DeleteRetire)
	return b.String()
}
