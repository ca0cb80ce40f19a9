package bench

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golvs/internal/datapath"
	"golvs/internal/datapath/datapathtest"
	"golvs/internal/lvs"
)

// BenchmarkConnTable measures the connection table at lvsd's default size,
// 1M and 10M entries,
// maps only (no namespace, no traffic): the memory the kernel reports for
// the tables (bpf map memlock, the figure /proc/<pid>/fdinfo shows) per
// connection, NAT reverse entry included, and the CPU time of lvsd's
// once-a-second expiry sweep (Datapath.Sweep) over a full table, with every
// entry live and with 10% expired. It prints its figures and asserts
// nothing about them. Run it with -benchtime 1x: it ignores b.N.
//
// GOLVS_BENCH_CONN_SIZES=n,m,... measures other sizes. The 10M run
// needs about 6 GiB; a size the machine cannot hold is
// reported and skipped.
func BenchmarkConnTable(b *testing.B) {
	datapathtest.RequirePrivileged(b)
	fmt.Printf("| entries | conns MiB | NAT MiB | templates MiB | bytes/conn (conns+NAT) | fill s | sweep CPU s/s, all live | sweep CPU s/s, 10%% expired | removed |\n")
	fmt.Printf("|---|---|---|---|---|---|---|---|---|\n")
	sizes := []int{datapath.DefaultConnTableSize, 1 << 20, 10 << 20}
	if v := os.Getenv("GOLVS_BENCH_CONN_SIZES"); v != "" { // e.g. 65536,131072 for a quick look
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatalf("GOLVS_BENCH_CONN_SIZES: %v", err)
			}
			sizes = append(sizes, n)
		}
	}
	for _, size := range sizes {
		b.Run(fmt.Sprintf("entries=%d", size), func(b *testing.B) { connTable(b, size) })
	}
}

func connTable(b *testing.B, size int) {
	d, err := datapath.Open(datapath.Options{PinDir: datapathtest.PinDir(b), ConnTableSize: size, Logger: slog.New(slog.DiscardHandler)})
	if errors.Is(err, lvs.ErrRange) {
		fmt.Printf("| %d | skipped: %v |\n", size, err)
		b.Skip(err)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.Close() })
	mem, err := d.ConnTableMemory()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := datapath.NewHarness(d).FillConns(0, size, 0); err != nil {
		b.Fatal(err)
	}
	fill := time.Since(start)

	// A sweep runs once a second (engine.SweepInterval): its CPU time in
	// seconds is the share of a core it takes.
	sweep := func() (cpu time.Duration, removed int) {
		runtime.GC()
		before := cpuTime()
		n, err := d.Sweep()
		if err != nil {
			b.Fatal(err)
		}
		return cpuTime() - before, n
	}
	const rounds = 3
	var live, expired []time.Duration
	removed := 0
	for range rounds {
		c, n := sweep()
		if n != 0 {
			b.Fatalf("sweep of a live table removed %d entries", n)
		}
		live = append(live, c)
	}
	for range rounds {
		if err := datapath.NewHarness(d).FillConns(0, size, 10); err != nil {
			b.Fatal(err)
		}
		c, n := sweep()
		expired = append(expired, c)
		removed = n
	}
	// A table larger than SweepBudget is swept a share at a time.
	// (reading whole batches, a little more than the budget).
	if read := min(size, datapath.SweepBudget); removed < read/10*9/10 || removed > read/10*11/10 {
		b.Errorf("sweep removed %d entries of the %d or so it read of %d, 10%% of them expired", removed, read, size)
	}
	mib := func(v uint64) float64 { return float64(v) / (1 << 20) }
	fmt.Printf("| %d | %.0f | %.0f | %.0f | %.0f | %.1f | %.2f | %.2f | %d |\n",
		size, mib(mem.Conns), mib(mem.NAT), mib(mem.Templates), mem.PerConn(), fill.Seconds(),
		minDur(live).Seconds(), minDur(expired).Seconds(), removed)
	b.ReportMetric(mem.PerConn(), "bytes/conn")
	b.ReportMetric(minDur(live).Seconds(), "sweep-cpu-s/s-live")
	b.ReportMetric(minDur(expired).Seconds(), "sweep-cpu-s/s-10%expired")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func minDur(v []time.Duration) time.Duration {
	m := v[0]
	for _, x := range v[1:] {
		m = min(m, x)
	}
	return m
}
