package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"golvs/internal/datapath"
	"golvs/internal/lvs"
)

// TestPlan applies a sequence of configurations to the slots, as the
// engine does, and checks each plan as it prints: what is written to the
// data plane, step by step, by slot.
func TestPlan(t *testing.T) {
	s := newSlots()
	applied := lvs.DefaultTimeouts
	svc := func(sched string, reals ...lvs.Real) lvs.Service {
		return lvs.Service{ServiceKey: vip, Scheduler: sched, Reals: reals}
	}
	steps := []struct {
		name     string
		next     lvs.Table
		recreate map[lvs.ServiceKey]bool
		want     string
	}{
		{"a new service takes fresh slots, cleared", lvs.Table{Timeouts: applied, Services: []lvs.Service{svc("rr", nat(rip2, 1), nat(rip1, 1))}}, nil, `
clear-services [1]
add-real 1 198.19.0.12:80 Masq 1
add-real 2 198.19.0.11:80 Masq 1
service 1 TCP 198.18.0.10:80 rr table [1 2]
`},
		{"nothing changed, nothing written", lvs.Table{Timeouts: applied, Services: []lvs.Service{svc("rr", nat(rip2, 1), nat(rip1, 1))}}, nil, ``},
		{"a weight changes: the real is set in its slot, the table swapped, rr carried over", lvs.Table{Timeouts: applied, Services: []lvs.Service{svc("rr", nat(rip2, 1), nat(rip1, 3))}}, nil, `
set-real 2 198.19.0.11:80 Masq 3
service 1 TCP 198.18.0.10:80 rr table [1 2] rr-carry from [1 2]
`},
		{"a deleted real is retired; another scheduler starts afresh", lvs.Table{Timeouts: applied, Services: []lvs.Service{svc("wrr", nat(rip1, 3))}}, nil, `
retire [1]
service 1 TCP 198.18.0.10:80 wrr table [2]
`},
		{"the real comes back: revived in its slot", lvs.Table{Timeouts: applied, Services: []lvs.Service{svc("wrr", nat(rip2, 1), nat(rip1, 3))}}, nil, `
set-real 1 198.19.0.12:80 Masq 1
service 1 TCP 198.18.0.10:80 wrr table [2 2 1 2]
`},
		{"deleted and added again in one batch: the slot is cleared, kept reals stay, others retire", lvs.Table{Timeouts: applied, Services: []lvs.Service{svc("wrr", nat(rip1, 3), nat(rip3, 1))}}, map[lvs.ServiceKey]bool{vip: true}, `
recreate 1 TCP 198.18.0.10:80
retire [1]
clear-services [1]
add-real 3 198.19.0.13:80 Masq 1
set-real 2 198.19.0.11:80 Masq 3
service 1 TCP 198.18.0.10:80 wrr table [2 2 2 3]
`},
		{"timeouts, and the service deleted last with its reals retired", lvs.Table{Timeouts: lvs.Timeouts{TCP: time.Minute, TCPFin: applied.TCPFin, UDP: applied.UDP}}, nil, `
timeouts 1m0s 2m0s 5m0s
delete 1 TCP 198.18.0.10:80
delete-retire [2 3]
`},
	}
	for _, st := range steps {
		p, err := s.plan(&st.next, applied, st.recreate, nil)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if diff := cmp.Diff(strings.TrimPrefix(st.want, "\n"), p.String()); diff != "" {
			t.Errorf("%s: plan (-want +got):\n%s", st.name, diff)
		}
		p.record(&s, &applied, allSteps)
		s.compactRetired()
	}
	if len(s.services) != 0 || len(s.retiredSvcs) != 1 || len(s.retired) != 3 {
		t.Fatalf("after deleting everything: %d services, %d retired services, %d retired reals; want 0, 1, 3", len(s.services), len(s.retiredSvcs), len(s.retired))
	}
}

// TestPlanRecordsOnlyWhatWasWritten checks that a plan the data plane
// stopped at a step leaves the states of that step and later ones saying
// nothing was written, so the plan undoing it writes them again.
func TestPlanRecordsOnlyWhatWasWritten(t *testing.T) {
	s := newSlots()
	applied := lvs.DefaultTimeouts
	next := lvs.Table{Timeouts: applied, Services: []lvs.Service{{ServiceKey: vip, Scheduler: "rr", Reals: []lvs.Real{nat(rip1, 1)}}}}
	p, err := s.plan(&next, applied, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.record(&s, &applied, datapath.StepServices)
	st := s.services[vip]
	if st.reals[rip1].applied != nat(rip1, 1) {
		t.Errorf("the real written before the failing step is not recorded: %+v", st.reals[rip1].applied)
	}
	if st.applied.Scheduler != "" || st.written != nil {
		t.Errorf("the table of the failing step is recorded as written: %+v", st.applied)
	}
	// The same configuration again writes the table, and only it.
	p, err = s.plan(&next, applied, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "service 1 TCP 198.18.0.10:80 rr table [1]\n"; p.String() != want {
		t.Errorf("replan after the failure:\n%s\nwant:\n%s", p, want)
	}
}
