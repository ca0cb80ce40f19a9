package metrics

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"golvs/internal/api"
	"golvs/internal/golden"
	"golvs/internal/lvs"
)

// state is a fixed lvsd state: an IPv4 TCP service with two reals (one of
// them down and out of the table), an IPv6 UDP one, health, counters and
// one attached link.
func state() Sources {
	web := lvs.ServiceKey{Protocol: lvs.TCP, Addr: netip.MustParseAddrPort("198.18.0.10:80")}
	dns := lvs.ServiceKey{Protocol: lvs.UDP, Addr: netip.MustParseAddrPort("[2001:db8:18::10]:53")}
	rs1 := netip.MustParseAddrPort("198.19.0.11:8080")
	rs2 := netip.MustParseAddrPort("198.19.0.12:8080")
	rs6 := netip.MustParseAddrPort("[2001:db8:19::11]:53")
	return Sources{
		Services: func(context.Context) ([]lvs.ServiceStatus, error) {
			return []lvs.ServiceStatus{
				{
					Service: lvs.Service{ServiceKey: web, Scheduler: "wrr"},
					Stats:   lvs.Stats{Conns: 1500, InPkts: 12000, OutPkts: 11000, InBytes: 900000, OutBytes: 15000000},
					Reals: []lvs.RealStatus{
						{Real: lvs.Real{Addr: rs1, Method: lvs.Masq, Weight: 3}, ActiveConns: 12, InActConns: 40},
					},
				},
				{
					Service: lvs.Service{ServiceKey: dns, Scheduler: "rr"},
					Stats:   lvs.Stats{Conns: 7, InPkts: 7, OutPkts: 7, InBytes: 420, OutBytes: 910},
					Reals: []lvs.RealStatus{
						{Real: lvs.Real{Addr: rs6, Method: lvs.Masq, Weight: 1}, ActiveConns: 0, InActConns: 7},
					},
				},
			}, nil
		},
		Health: func(context.Context) ([]api.ServiceHealth, error) {
			return []api.ServiceHealth{{
				Service: web, QuorumUp: true, Quorum: 1, LiveWeight: 3,
				Reals: []api.RealHealth{
					{Addr: rs1, State: "up", Weight: 3, InTable: true, TableWeight: 3, Checks: []api.CheckHealth{{
						Name: "HTTP_GET http://198.19.0.11:8080/health", State: "up",
						Last: api.CheckResult{OK: true, Latency: 1500 * time.Microsecond},
					}}},
					{Addr: rs2, State: "down", Weight: 3, Reason: "TCP_CHECK 198.19.0.12:8080: connection refused", Checks: []api.CheckHealth{{
						Name: "TCP_CHECK 198.19.0.12:8080", State: "down", Failures: 2,
						Last: api.CheckResult{Latency: 250 * time.Microsecond},
					}}},
				},
			}}, nil
		},
		Counters: func() (map[string]uint64, error) {
			return map[string]uint64{"fwd_redirect": 23000, "pass_no_service": 41, "drop_fib": 0}, nil
		},
		Attached:      func() map[string]string { return map[string]string{"eth0": "tcx"} },
		ConnTableSize: 1 << 20,
	}
}

func exposition(t *testing.T, c *Collector) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

func TestExposition(t *testing.T) {
	got := exposition(t, New(state(), nil))
	golden.Check(t, "testdata/metrics.golden", got)
}

func TestScrapeErrorsCounted(t *testing.T) {
	src := state()
	src.Services = func(context.Context) ([]lvs.ServiceStatus, error) { return nil, errors.New("engine stopped") }
	src.Health = nil
	got := exposition(t, New(src, nil))
	for _, want := range []string{"golvs_scrape_errors 1\n", "golvs_conn_table_capacity 1.048576e+06\n"} {
		if !bytes.Contains([]byte(got), []byte(want)) {
			t.Errorf("exposition with a failing source lacks %q:\n%s", want, got)
		}
	}
	if bytes.Contains([]byte(got), []byte("node_ipvs_connections_total")) {
		t.Errorf("exposition with a failing services source has node_ipvs_ series:\n%s", got)
	}
}

// The node_ipvs_*_total counters never go down: not when a service is
// deleted (its counts stay, as in the kernel's global stats), nor when one
// is zeroed.
func TestTotalsNeverDecrease(t *testing.T) {
	web := lvs.ServiceKey{Protocol: lvs.TCP, Addr: netip.MustParseAddrPort("198.18.0.10:80")}
	dns := lvs.ServiceKey{Protocol: lvs.UDP, Addr: netip.MustParseAddrPort("198.18.0.10:53")}
	svc := func(k lvs.ServiceKey, conns uint64) lvs.ServiceStatus {
		return lvs.ServiceStatus{Service: lvs.Service{ServiceKey: k, Scheduler: "rr"}, Stats: lvs.Stats{Conns: conns}}
	}
	steps := []struct {
		name string
		svcs []lvs.ServiceStatus
		want float64
	}{
		{"two services", []lvs.ServiceStatus{svc(web, 100), svc(dns, 10)}, 110},
		{"more connections", []lvs.ServiceStatus{svc(web, 150), svc(dns, 10)}, 160},
		{"dns deleted", []lvs.ServiceStatus{svc(web, 160)}, 170},
		{"web zeroed", []lvs.ServiceStatus{svc(web, 5)}, 175},
		{"dns added again", []lvs.ServiceStatus{svc(web, 5), svc(dns, 1)}, 176},
	}
	var cur []lvs.ServiceStatus
	c := New(Sources{Services: func(context.Context) ([]lvs.ServiceStatus, error) { return cur, nil }}, nil)
	for _, s := range steps {
		cur = s.svcs
		ch := make(chan prometheus.Metric, 100)
		c.collectIPVS(ch, cur)
		close(ch)
		for m := range ch {
			if m.Desc() != ipvsConnections {
				continue
			}
			var pb dto.Metric
			if err := m.Write(&pb); err != nil {
				t.Fatal(err)
			}
			if got := pb.GetCounter().GetValue(); got != s.want {
				t.Errorf("%s: node_ipvs_connections_total %v, want %v", s.name, got, s.want)
			}
		}
	}
}
