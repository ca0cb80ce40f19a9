package ipvsadm

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golvs/internal/api"
	"golvs/internal/datapath"
	"golvs/internal/datapath/datapathtest"
	"golvs/internal/engine"
)

// BenchmarkPrivilegedControlPlane is bench/controlplane_test.go in one
// process, for profiling the whole control plane at once: lvsadm's
// parsing and listing, the API's JSON both ways over a unix socket, the
// engine and the real data plane's maps. Each round restores 10,000
// services of 10 reals with `lvsadm -R` (GOLVS_BENCH_SERVICES changes the
// number), lists them with `lvsadm -Ln`, adds and deletes one real five
// times (`lvsadm -a`, `lvsadm -d`), reloads them as an operator
// would, `lvsadm -C` then `lvsadm -R`, and again with both in one -R
// batch, then clears them with `lvsadm -C`, saving the configuration as
// lvsd does:
//
//	GOLVS_TEST_PRIVILEGED=1 go test -run '^$' -bench PrivilegedControlPlane -benchtime 2x -cpuprofile cpu.out ./internal/ipvsadm/
func BenchmarkPrivilegedControlPlane(b *testing.B) {
	datapathtest.RequirePrivileged(b)
	services := min(10000, datapath.MaxServices-1)
	if v, err := strconv.Atoi(os.Getenv("GOLVS_BENCH_SERVICES")); err == nil && v > 0 {
		services = min(v, services)
	}
	const realsPer = 10
	script := restoreScript(services, realsPer)

	dp := datapathtest.Open(b, datapath.Options{ConnTableSize: 1024})
	store, err := engine.NewStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	e := engine.New(dp, store, log)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	go e.Run(ctx)
	// Unix socket paths are short: not under b.TempDir().
	dir, err := os.MkdirTemp("", "gltcp")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "lvsd.sock")
	l, err := api.Listen(sock)
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- api.Serve(ctx, l, e, log) }()
	b.Cleanup(func() { cancel(); <-served })
	client := api.NewClient(sock)
	lvsadm := func(stdin string, args ...string) string {
		b.Helper()
		var out, errOut bytes.Buffer
		status := run(append([]string{"lvsadm"}, args...), strings.NewReader(stdin), &out, &errOut, client)
		if status != 0 || errOut.Len() != 0 {
			b.Fatalf("lvsadm %s: exit %d: %s", strings.Join(args, " "), status, errOut.String())
		}
		return out.String()
	}

	list := func() {
		b.Helper()
		out := lvsadm("", "-Ln")
		if got, want := strings.Count(out, "\n"), 3+services*(1+realsPer); got != want {
			b.Fatalf("lvsadm -Ln listed %d lines, want %d", got, want)
		}
	}
	var restore, listing, one, reload, reloadBatch, clear time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		lvsadm(script, "-R")
		restore += time.Since(start)
		start = time.Now()
		list()
		listing += time.Since(start)
		start = time.Now()
		for i := range 5 {
			vip := fmt.Sprintf("198.18.%d.%d:80", i>>8, i&255)
			lvsadm("", "-a", "-t", vip, "-r", "198.19.1.1:8080", "-m")
			lvsadm("", "-d", "-t", vip, "-r", "198.19.1.1:8080")
		}
		one += time.Since(start) / 10
		start = time.Now()
		lvsadm("", "-C")
		lvsadm(script, "-R")
		reload += time.Since(start)
		list()
		start = time.Now()
		lvsadm("-C\n"+script, "-R")
		reloadBatch += time.Since(start)
		list()
		start = time.Now()
		lvsadm("", "-C")
		clear += time.Since(start)
	}
	n := float64(b.N)
	b.ReportMetric(restore.Seconds()/n, "restore-s")
	b.ReportMetric(listing.Seconds()/n, "list-s")
	b.ReportMetric(one.Seconds()/n, "one-change-s")
	b.ReportMetric(reload.Seconds()/n, "reload-s")
	b.ReportMetric(reloadBatch.Seconds()/n, "reload-batch-s")
	b.ReportMetric(clear.Seconds()/n, "clear-s")
}

// restoreScript is `lvsadm -R` input adding services of realsPer NAT reals
// each, as bench/controlplane_test.go makes it.
func restoreScript(services, realsPer int) string {
	var s strings.Builder
	for i := range services {
		vip := fmt.Sprintf("198.18.%d.%d:80", i>>8, i&255)
		fmt.Fprintf(&s, "-A -t %s -s wrr\n", vip)
		for j := range realsPer {
			fmt.Fprintf(&s, "-a -t %s -r 198.19.0.%d:8080 -m -w %d\n", vip, j+1, j+1)
		}
	}
	return s.String()
}
