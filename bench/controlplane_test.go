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
// 10,000 services of 10 reals each, or as many services as the data
// plane's service map holds when that is fewer (datapath.MaxServices):
// the wall time of one `lvsadm -R` batch that adds them all, of `lvsadm
// -Ln` listing them, and of one real added and deleted at that size. lvsd
// runs in a namespace of its own with its own socket, pin and state dirs.
// It prints its figures and asserts only that the listing is complete.
// Run it with -benchtime 1x: it ignores b.N.
func BenchmarkControlPlane(b *testing.B) {
	testnet.RequirePrivileged(b)
	bin := buildLVS(b)
	const wantServices, realsPer = 10000, 10
	services := min(wantServices, datapath.MaxServices-1)
	if services < wantServices {
		fmt.Printf("the data plane holds %d services (LVS_MAX_SERVICES-1) and %d reals (LVS_MAX_REALS-1): measuring %d services x %d reals\n",
			datapath.MaxServices-1, datapath.MaxReals-1, services, realsPer)
	}
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
	reals := services * realsPer

	start := time.Now()
	if r := d.AdmInput(script.String(), "-R"); r.Code != 0 || r.Stderr != "" {
		b.Fatalf("lvsadm -R: exit %d: %s", r.Code, r.Stderr)
	}
	restore := time.Since(start)

	var list []time.Duration
	var out string
	for range 5 {
		start := time.Now()
		out = d.MustAdm("-Ln")
		list = append(list, time.Since(start))
	}
	// 3 header lines, then one line per service and per real.
	if got := strings.Count(out, "\n"); got != 3+services+reals {
		b.Fatalf("lvsadm -Ln listed %d lines, want %d", got, 3+services+reals)
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
	fmt.Printf("| services | reals | lvsadm -R | reals/s | 100,000 reals at that rate | lvsadm -Ln (median of 5) | one -a (median) | one -d (median) |\n|---|---|---|---|---|---|---|---|\n")
	rate := float64(reals) / restore.Seconds()
	fmt.Printf("| %d | %d | %.2f s | %.0f | %.2f s | %.0f ms | %.0f ms | %.0f ms |\n", services, reals, restore.Seconds(), rate,
		100000/rate, ms(medianDur(list)), ms(medianDur(add)), ms(medianDur(del)))
	b.ReportMetric(restore.Seconds(), "restore-s")
	b.ReportMetric(rate, "reals/s")
	b.ReportMetric(ms(medianDur(list)), "list-ms")
	b.ReportMetric(ms(medianDur(add)), "add-real-ms")
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
