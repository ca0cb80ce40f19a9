package configfile

import (
	"context"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"golvs/internal/config"
	"golvs/internal/health"
	"golvs/internal/lvs"
)

var (
	web   = lvs.ServiceKey{Protocol: lvs.TCP, Addr: netip.MustParseAddrPort("198.18.0.10:80")}
	mail  = lvs.ServiceKey{Protocol: lvs.TCP, Addr: netip.MustParseAddrPort("198.18.0.10:25")}
	hand  = lvs.ServiceKey{Protocol: lvs.TCP, Addr: netip.MustParseAddrPort("198.18.0.20:80")}
	rs1   = netip.MustParseAddrPort("198.19.0.11:80")
	rs2   = netip.MustParseAddrPort("198.19.0.12:80")
	rsBy  = netip.MustParseAddrPort("198.19.0.13:80") // added by hand with lvsadm
	rsNew = netip.MustParseAddrPort("198.19.0.14:80")
)

func real(a netip.AddrPort, w int) lvs.Real { return lvs.Real{Addr: a, Method: lvs.Masq, Weight: w} }

func service(k lvs.ServiceKey, sched string, reals ...lvs.Real) config.Service {
	s := config.Service{Service: lvs.Service{ServiceKey: k, Scheduler: sched}, Quorum: 1}
	for _, r := range reals {
		s.Reals = append(s.Reals, config.Real{Real: r})
	}
	return s
}

// desiredOf is what a fresh health checker wants for c: reals without
// checks are up at their configured weight.
func desiredOf(t *testing.T, c *config.Config) []health.Desired {
	t.Helper()
	ch, err := health.New(c.Services, health.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ch.Run(ctx) }()
	defer func() { cancel(); <-done }()
	d, err := ch.Desired(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// table builds a table with services and their reals (in list order).
func table(t *testing.T, svcs ...lvs.Service) lvs.Table {
	t.Helper()
	tb := lvs.Table{Timeouts: lvs.DefaultTimeouts}
	for _, s := range svcs {
		if err := tb.AddService(s); err != nil {
			t.Fatal(err)
		}
		for _, r := range slices.Backward(s.Reals) {
			if err := tb.AddReal(s.ServiceKey, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	return tb
}

func svc(k lvs.ServiceKey, sched string, reals ...lvs.Real) lvs.Service {
	return lvs.Service{ServiceKey: k, Scheduler: sched, Reals: reals}
}

func TestTransform(t *testing.T) {
	for _, tc := range []struct {
		name string
		have lvs.Table
		prev managed
		next *config.Config
		want lvs.Table
	}{{
		name: "first start adds the file's services with their reals",
		have: table(t),
		prev: managed{},
		next: &config.Config{Services: []config.Service{service(web, "rr", real(rs1, 1), real(rs2, 2))}},
		want: table(t, svc(web, "rr", real(rs2, 2), real(rs1, 1))),
	}, {
		name: "a start keeps services and reals added by hand",
		have: table(t, svc(web, "rr", real(rsBy, 5), real(rs1, 1)), svc(hand, "wlc", real(rs2, 1))),
		prev: managed{},
		next: &config.Config{Services: []config.Service{service(web, "rr", real(rs1, 1))}},
		want: table(t, svc(web, "rr", real(rsBy, 5), real(rs1, 1)), svc(hand, "wlc", real(rs2, 1))),
	}, {
		name: "a reload changes a weight and adds a real, keeping the hand-added one",
		have: table(t, svc(web, "rr", real(rsBy, 5), real(rs2, 1), real(rs1, 1))),
		prev: managed{web: {rs1, rs2}},
		next: &config.Config{Services: []config.Service{service(web, "rr", real(rs1, 3), real(rs2, 1), real(rsNew, 1))}},
		want: table(t, svc(web, "rr", real(rsNew, 1), real(rsBy, 5), real(rs2, 1), real(rs1, 3))),
	}, {
		name: "a reload deletes what the file no longer names, and only that",
		have: table(t, svc(web, "rr", real(rsBy, 5), real(rs2, 1), real(rs1, 1)), svc(mail, "rr", real(rs1, 1)), svc(hand, "wlc")),
		prev: managed{web: {rs1, rs2}, mail: {rs1}},
		next: &config.Config{Services: []config.Service{service(web, "rr", real(rs1, 1))}},
		want: table(t, svc(web, "rr", real(rsBy, 5), real(rs1, 1)), svc(hand, "wlc")),
	}, {
		name: "a reload changes a scheduler and keeps the reals",
		have: table(t, svc(web, "rr", real(rs2, 1), real(rs1, 1))),
		prev: managed{web: {rs1, rs2}},
		next: &config.Config{Services: []config.Service{service(web, "wlc", real(rs1, 1), real(rs2, 1))}},
		want: table(t, svc(web, "wlc", real(rs2, 1), real(rs1, 1))),
	}, {
		name: "a service deleted by hand comes back only at a reload that names it",
		have: table(t),
		prev: managed{web: {rs1}},
		next: &config.Config{Services: []config.Service{service(web, "rr", real(rs1, 1))}},
		want: table(t, svc(web, "rr", real(rs1, 1))),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.have.Clone()
			if err := transform(&got, tc.prev, tc.next, desiredOf(t, tc.next)); err != nil {
				t.Fatal(err)
			}
			if !equalTables(got, tc.want) {
				t.Errorf("table:\n%+v\nwant:\n%+v", got.Services, tc.want.Services)
			}
		})
	}
}

func equalTables(a, b lvs.Table) bool {
	if a.Timeouts != b.Timeouts || len(a.Services) != len(b.Services) {
		return false
	}
	for i := range a.Services {
		x, y := a.Services[i], b.Services[i]
		if !slices.Equal(x.Reals, y.Reals) {
			return false
		}
		x.Reals, y.Reals = nil, nil
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

func TestTransformRefusesAnUnknownScheduler(t *testing.T) {
	have := table(t, svc(web, "rr", real(rs1, 1)))
	next := &config.Config{Services: []config.Service{service(web, "nosuch", real(rs1, 1))}}
	got := have.Clone()
	if err := transform(&got, managed{web: {rs1}}, next, nil); err == nil {
		t.Fatalf("transform to an unknown scheduler: no error")
	}
}

// A health change applies only what the checker changed since its last
// Apply: an operator's weight 0 on a real whose health did not change
// stays (keepalived touches only the real whose state changed).
func TestApplyDesiredKeepsManualEdits(t *testing.T) {
	k := lvs.ServiceKey{Protocol: lvs.TCP, Addr: netip.MustParseAddrPort("198.18.0.10:80")}
	rs1 := lvs.Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: lvs.Masq, Weight: 3}
	rs2 := lvs.Real{Addr: netip.MustParseAddrPort("198.19.0.12:80"), Method: lvs.Masq, Weight: 2}
	drained := rs1
	drained.Weight = 0
	tb := lvs.Table{}
	if err := tb.AddService(lvs.Service{ServiceKey: k, Scheduler: "rr"}); err != nil {
		t.Fatal(err)
	}
	if err := tb.AddReal(k, drained); err != nil {
		t.Fatal(err)
	}
	want := []health.Desired{{Service: k, Reals: []lvs.Real{rs1, rs2}}}

	incremental := tb.Clone()
	if err := applyDesired(&incremental, want, map[lvs.ServiceKey][]lvs.Real{k: {rs1}}); err != nil {
		t.Fatal(err)
	}
	if got := incremental.Services[0].Reals; len(got) != 2 || got[incremental.Services[0].Real(rs1.Addr)].Weight != 0 ||
		incremental.Services[0].Real(rs2.Addr) < 0 {
		t.Errorf("health change: reals %+v, want rs1 still at weight 0 and rs2 added", got)
	}

	full := tb.Clone()
	if err := applyDesired(&full, want, nil); err != nil {
		t.Fatal(err)
	}
	if got := full.Services[0].Reals; got[full.Services[0].Real(rs1.Addr)].Weight != 3 {
		t.Errorf("reload: reals %+v, want rs1 back at weight 3", got)
	}
}
