package lvs

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

// TestApplyMakesEachChange runs a script of changes through Table.Apply
// and checks the table each leaves, and that a refused change leaves the
// table as it was.
func TestApplyMakesEachChange(t *testing.T) {
	k := ServiceKey{Protocol: TCP, Addr: netip.MustParseAddrPort("198.18.0.10:80")}
	other := ServiceKey{Protocol: UDP, Addr: k.Addr}
	rip := netip.MustParseAddrPort("198.19.0.11:80")
	svc := Service{ServiceKey: k}
	var tb Table
	tb.Timeouts = DefaultTimeouts
	steps := []struct {
		c    Change
		err  error
		want func() bool
	}{
		{Change{Op: OpAddService, Service: Service{ServiceKey: k, Scheduler: "rr"}}, nil, func() bool { return len(tb.Services) == 1 }},
		{Change{Op: OpAddService, Service: Service{ServiceKey: k, Scheduler: "rr"}}, ErrServiceExists, nil},
		{Change{Op: OpEditService, Service: Service{ServiceKey: k, Scheduler: "wlc"}}, nil, func() bool { return tb.Services[0].Scheduler == "wlc" }},
		{Change{Op: OpAddReal, Service: svc, Real: Real{Addr: rip, Method: Masq, Weight: 1}}, nil, func() bool { return len(tb.Services[0].Reals) == 1 }},
		{Change{Op: OpEditReal, Service: svc, Real: Real{Addr: rip, Method: Masq, Weight: 5}}, nil, func() bool { return tb.Services[0].Reals[0].Weight == 5 }},
		{Change{Op: OpZero, Service: Service{ServiceKey: other}}, ErrNoService, nil},
		{Change{Op: OpZero, Service: svc}, nil, nil},
		{Change{Op: OpZero}, nil, nil},
		{Change{Op: OpSetTimeouts, Timeouts: Timeouts{TCP: time.Minute}}, nil, func() bool { return tb.Timeouts.TCP == time.Minute && tb.Timeouts.UDP == DefaultTimeouts.UDP }},
		{Change{Op: "rename"}, ErrInvalid, nil},
		{Change{Op: OpDeleteReal, Service: svc, Real: Real{Addr: rip}}, nil, func() bool { return len(tb.Services[0].Reals) == 0 }},
		{Change{Op: OpDeleteService, Service: svc}, nil, func() bool { return len(tb.Services) == 0 }},
		{Change{Op: OpAddService, Service: Service{ServiceKey: k, Scheduler: "rr"}}, nil, nil},
		{Change{Op: OpClear}, nil, func() bool { return len(tb.Services) == 0 }},
	}
	for i, s := range steps {
		before := tb.Clone()
		err := tb.Apply(s.c)
		if !errors.Is(err, s.err) || (err == nil) != (s.err == nil) {
			t.Fatalf("step %d (%s): error %v, want %v", i, s.c.Op, err, s.err)
		}
		if err != nil && !equalTables(before, tb) {
			t.Fatalf("step %d (%s): a refused change changed the table", i, s.c.Op)
		}
		if s.want != nil && !s.want() {
			t.Fatalf("step %d (%s): table is %+v", i, s.c.Op, tb)
		}
	}
}

func equalTables(a, b Table) bool {
	if a.Timeouts != b.Timeouts || len(a.Services) != len(b.Services) {
		return false
	}
	for i := range a.Services {
		x, y := a.Services[i], b.Services[i]
		if x.ServiceKey != y.ServiceKey || x.Scheduler != y.Scheduler || len(x.Reals) != len(y.Reals) {
			return false
		}
		for j := range x.Reals {
			if x.Reals[j] != y.Reals[j] {
				return false
			}
		}
	}
	return true
}
