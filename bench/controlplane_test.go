package bench

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golvs/internal/datapath"
	"golvs/internal/testnet"
)

// BenchmarkControlPlane measures lvsd's control plane at the size,
// 10,000 services of 10 reals each (100,000 reals): the wall time of one
// `lvsadm -R` batch that adds them all to an empty lvsd, of `lvsadm -Ln`
// listing them, of one real added and deleted at that size, and of two
// ways an operator reloads the whole table: `lvsadm -C` then `lvsadm -R`,
// and one `lvsadm -R` whose input starts with -C. lvsd runs in a namespace
// of its own with its own socket, pin and state dirs. It prints its
// figures (medians of repeated runs, except the first restore) and
// asserts only that every listing is complete. Run it with -benchtime 1x:
// it ignores b.N.
func BenchmarkControlPlane(b *testing.B) {
	testnet.RequirePrivileged(b)
	const services, realsPer = 10000, 10
	reals := services * realsPer
	if services > datapath.MaxServices-1 || reals > datapath.MaxReals-1 {
		b.Fatalf("the data plane holds %d services and %d reals, fewer than the %d and %d measured", datapath.MaxServices-1, datapath.MaxReals-1, services, reals)
	}
	bin := buildLVS(b)
	n := testnet.NewNet(b)
	dir, peer := n.AddNamespace("cp"), n.AddNamespace("cppeer")
	testnet.Veth(dir, "cp0", peer, "cp1")
	d := testnet.StartLVSD(b, dir, bin, []string{"cp0"})

	var script strings.Builder
	for i := range services {
		vip := fmt.Sprintf("198.18.%d.%d:80", i>>8, i&255)
		fmt.Fprintf(&script, "-A -t %s -s wrr\n", vip)
		for j := range realsPer {
			fmt.Fprintf(&script, "-a -t %s -r 198.19.0.%d:8080 -m -w %d\n", vip, j+1, j+1)
		}
	}
	restoreIn := func(input string) time.Duration {
		b.Helper()
		start := time.Now()
		if r := d.AdmInput(input, "-R"); r.Code != 0 || r.Stderr != "" {
			b.Fatalf("lvsadm -R: exit %d: %s", r.Code, r.Stderr)
		}
		return time.Since(start)
	}
	list := func() time.Duration {
		b.Helper()
		start := time.Now()
		out := d.MustAdm("-Ln")
		took := time.Since(start)
		// 3 header lines, then one line per service and per real.
		if got := strings.Count(out, "\n"); got != 3+services+reals {
			b.Fatalf("lvsadm -Ln listed %d lines, want %d", got, 3+services+reals)
		}
		return took
	}

	// lvsd takes its socket before it loads the data plane: the first
	// call waits for that, and is not what is measured.
	d.MustAdm("-Ln")
	restore := restoreIn(script.String())
	var listing []time.Duration
	for range 5 {
		listing = append(listing, list())
	}
	var add, del []time.Duration
	for i := range 5 {
		vip := fmt.Sprintf("198.18.%d.%d:80", i>>8, i&255)
		start := time.Now()
		d.MustAdm("-a", "-t", vip, "-r", "198.19.1.1:8080", "-m")
		add = append(add, time.Since(start))
		start = time.Now()
		d.MustAdm("-d", "-t", vip, "-r", "198.19.1.1:8080")
		del = append(del, time.Since(start))
	}
	// Each reload deletes every service and adds it back: their slots
	// stay taken until the sweep, and the data plane must still hold
	// the new ones.
	var reload, reloadBatch []time.Duration
	for range 3 {
		start := time.Now()
		d.MustAdm("-C")
		restoreIn(script.String())
		reload = append(reload, time.Since(start))
		list()
		reloadBatch = append(reloadBatch, restoreIn("-C\n"+script.String()))
		list()
	}
	fmt.Printf("| services | reals | lvsadm -R | reals/s | lvsadm -Ln | one -a | one -d | -C, then -R | -R of -C and the table |\n|---|---|---|---|---|---|---|---|---|\n")
	rate := float64(reals) / restore.Seconds()
	fmt.Printf("| %d | %d | %.2f s | %.0f | %.0f ms | %.0f ms | %.0f ms | %.2f s | %.2f s |\n", services, reals, restore.Seconds(), rate,
		ms(medianDur(listing)), ms(medianDur(add)), ms(medianDur(del)), medianDur(reload).Seconds(), medianDur(reloadBatch).Seconds())
	b.ReportMetric(restore.Seconds(), "restore-s")
	b.ReportMetric(rate, "reals/s")
	b.ReportMetric(ms(medianDur(listing)), "list-ms")
	b.ReportMetric(ms(medianDur(add)), "add-real-ms")
	b.ReportMetric(medianDur(reload).Seconds(), "reload-s")
	b.ReportMetric(medianDur(reloadBatch).Seconds(), "reload-batch-s")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func medianDur(v []time.Duration) time.Duration {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// buildLVS builds lvsd and lvsadm from this tree into a temporary
// directory.
func buildLVS(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator), "golvs/cmd/lvsd", "golvs/cmd/lvsadm").CombinedOutput()
	if err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}
