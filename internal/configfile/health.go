package configfile

import (
	"context"

	"golvs/internal/api"
	"golvs/internal/health"
)

// Health lists the checker's view of every service and real.
func (f *Controller) Health(ctx context.Context) ([]api.ServiceHealth, error) {
	f.reload.Lock()
	ch := f.checker
	f.reload.Unlock()
	if ch == nil {
		return nil, api.ErrNoConfig
	}
	st, err := ch.Status(ctx)
	if err != nil {
		return nil, err
	}
	return healthView(st), nil
}

// healthView converts the checker's status to the API's wire types. It is
// the one place the two meet: internal/api imports only internal/lvs, and
// internal/health keeps its typed states for its own state machine.
func healthView(st []health.ServiceStatus) []api.ServiceHealth {
	out := make([]api.ServiceHealth, 0, len(st))
	for _, s := range st {
		sh := api.ServiceHealth{
			Service: s.Service, QuorumUp: s.QuorumUp, Quorum: s.Quorum, Hysteresis: s.Hysteresis,
			LiveWeight: s.LiveWeight, SorryServer: s.SorryServer, SorryActive: s.SorryActive,
			Reals: make([]api.RealHealth, 0, len(s.Reals)),
		}
		for _, r := range s.Reals {
			rh := api.RealHealth{
				Addr: r.Addr, State: r.State.String(), Weight: r.Weight, InTable: r.InTable,
				TableWeight: r.TableWeight, LastChange: r.LastChange, Reason: r.Reason,
			}
			for _, k := range r.Checks {
				rh.Checks = append(rh.Checks, api.CheckHealth{
					Name: k.Name, State: k.State.String(),
					Last:        api.CheckResult(k.Last),
					LastFailure: api.CheckResult(k.LastFailure),
					Failures:    k.Failures, Next: k.Next,
				})
			}
			sh.Reals = append(sh.Reals, rh)
		}
		out = append(out, sh)
	}
	return out
}
