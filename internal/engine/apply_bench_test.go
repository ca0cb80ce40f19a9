package engine

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"golvs/internal/datapath"
	"golvs/internal/datapath/datapathtest"
	"golvs/internal/lvs"
)

// BenchmarkPrivilegedApply times the engine applying one batch of
// services of 10 reals each (an `lvsadm -R`) to the real data plane, as
// many services as its service map holds up to 10,000, saving the
// configuration as lvsd does; it also reports the time of listing them
// (Services, what -Ln shows), of adding and deleting one real at that
// size, and of clearing them. It is the in-process half of
// bench/controlplane_test.go, for profiling:
//
//	GOLVS_TEST_PRIVILEGED=1 go test -run '^$' -bench PrivilegedApply -benchtime 3x -cpuprofile cpu.out ./internal/engine/
func BenchmarkPrivilegedApply(b *testing.B) {
	datapathtest.RequirePrivileged(b)
	services := min(10000, datapath.MaxServices-1)
	if v, err := strconv.Atoi(os.Getenv("GOLVS_BENCH_SERVICES")); err == nil && v > 0 {
		services = min(v, services)
	}
	const realsPer = 10
	var changes []lvs.Change
	for i := range services {
		k := lvs.ServiceKey{Protocol: lvs.TCP, Addr: netip.MustParseAddrPort(fmt.Sprintf("198.18.%d.%d:80", i>>8, i&255))}
		changes = append(changes, lvs.Change{Op: lvs.OpAddService, Service: lvs.Service{ServiceKey: k, Scheduler: "wrr"}})
		for j := range realsPer {
			r := lvs.Real{Addr: netip.MustParseAddrPort(fmt.Sprintf("198.19.0.%d:8080", j+1)), Method: lvs.Masq, Weight: j + 1}
			changes = append(changes, lvs.Change{Op: lvs.OpAddReal, Service: lvs.Service{ServiceKey: k}, Real: r})
		}
	}
	clear := []lvs.Change{{Op: lvs.OpClear}}
	dp := datapathtest.Open(b, datapath.Options{ConnTableSize: 1024})
	store, err := NewStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	e := New(dp, store, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	one := changes[1]
	one.Real.Addr = netip.MustParseAddrPort("198.19.1.1:8080")
	var clearing, listing, single time.Duration
	b.ResetTimer()
	for range b.N {
		if err := e.Apply(ctx, changes); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		start := time.Now()
		if _, err := e.Services(ctx); err != nil {
			b.Fatal(err)
		}
		listing += time.Since(start)
		start = time.Now()
		for range 5 {
			if err := e.AddReal(ctx, one.Service.ServiceKey, one.Real); err != nil {
				b.Fatal(err)
			}
			if err := e.DeleteReal(ctx, one.Service.ServiceKey, one.Real.Addr); err != nil {
				b.Fatal(err)
			}
		}
		single += time.Since(start) / 10
		start = time.Now()
		if err := e.Apply(ctx, clear); err != nil {
			b.Fatal(err)
		}
		clearing += time.Since(start)
		b.StartTimer()
	}
	b.ReportMetric(float64(services*realsPer)*float64(b.N)/b.Elapsed().Seconds(), "reals/s")
	b.ReportMetric(clearing.Seconds()/float64(b.N), "clear-s")
	b.ReportMetric(listing.Seconds()/float64(b.N), "services-s")
	b.ReportMetric(single.Seconds()/float64(b.N), "one-change-s")
}
