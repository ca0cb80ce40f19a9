package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"golvs/internal/testnet"
)

// BenchmarkEndToEnd runs ab from the client of the classic layout through
// the VIP (NAT, DR and TUN with lvsrs-prepared real servers, two nginx
// real servers, rr) and straight to one real server, interleaved and
// repeated in one run, and reports the median requests/s of each. Run it
// with -benchtime 1x: it ignores b.N.
//
// The direct runs go to port 8080 of the real server: a reply from port 80
// to a client port that an earlier connection through the VIP used would
// match that connection's NAT entry while it lingers in TIME_WAIT, as it
// would with IPVS.
func BenchmarkEndToEnd(b *testing.B) {
	testnet.RequirePrivileged(b, "nginx", "ab")
	bin := buildBinaries(b)
	const rounds, requests, concurrency = 3, 20000, 50
	for _, m := range []testnet.Method{testnet.NAT, testnet.DR, testnet.TUN} {
		o := testnet.Options{Method: m}
		if m == testnet.TUN {
			o.LVSRS = filepath.Join(bin, "lvsrs")
		}
		c := testnet.NewLayout(b, o)
		d := testnet.StartLVSD(b, c.Director, bin, c.DirectorLinks())
		flag := map[testnet.Method]string{testnet.NAT: "-m", testnet.DR: "-g", testnet.TUN: "-i"}[m]
		d.MustAdm("-A", "-t", "198.18.0.10:80", "-s", "rr")
		for _, r := range c.Reals {
			d.MustAdm("-a", "-t", "198.18.0.10:80", "-r", r.Addr.String()+":80", flag)
		}
		targets := []struct{ name, url string }{
			{"vip-" + m.String(), "http://198.18.0.10/"},
			{"direct-" + m.String(), "http://198.19.0.11:8080/"},
		}
		rps := map[string][]float64{}
		for range rounds {
			for _, t := range targets {
				rps[t.name] = append(rps[t.name], ab(b, c.Client, t.url, requests, concurrency))
			}
		}
		for _, t := range targets {
			med := median(rps[t.name])
			b.ReportMetric(med, t.name+"-req/s")
			fmt.Printf("%-10s %-28s median %8.0f req/s of %v\n", t.name, t.url, med, rps[t.name])
		}
		fmt.Printf("%-10s through the VIP / straight to one real server: %.2f\n", m, median(rps[targets[0].name])/median(rps[targets[1].name]))
	}
}

var abRate = regexp.MustCompile(`(?m)^Requests per second:\s+([0-9.]+)`)
var abFailed = regexp.MustCompile(`(?m)^Failed requests:\s+(\d+)`)

func ab(b *testing.B, ns *testnet.Namespace, url string, n, c int) float64 {
	b.Helper()
	out, err := ns.Exec("ab", "-q", "-n", strconv.Itoa(n), "-c", strconv.Itoa(c), "-s", "10", url)
	if err != nil {
		b.Fatalf("ab %s: %v\n%s", url, err, out)
	}
	if m := abFailed.FindStringSubmatch(out); m == nil || m[1] != "0" {
		b.Fatalf("ab %s: failed requests\n%s", url, out)
	}
	m := abRate.FindStringSubmatch(out)
	if m == nil {
		b.Fatalf("ab %s: no rate in\n%s", url, out)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// buildBinaries builds lvsd, lvsadm and lvsrs from this tree into a
// temporary directory.
func buildBinaries(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator), "golvs/cmd/lvsd", "golvs/cmd/lvsadm", "golvs/cmd/lvsrs").CombinedOutput()
	if err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "lvsd")); err != nil {
		b.Fatal(err)
	}
	return dir
}
