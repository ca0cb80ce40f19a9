package bench

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golvs/internal/testnet"
)

// target is one way from the client to the real servers' nginx.
type target struct {
	// key names the target in runs.json; label in tables, short on charts.
	key, label, short string
	// kind is "floor", "golvs" or "other" (the chart's colour).
	kind string
	// about says what the target is, under the report's header.
	about  string
	client *testnet.Namespace
	url    string
	// pages are the pages a healthy target serves over a few requests:
	// both real servers for a balancer.
	pages []string
	// before and after, when set, run around each of the target's runs.
	before, after func() error
}

// Listening ports of the alternatives on the VIP of the plain layout. The
// nftables DNAT takes port 80 (the kernel rewrites only the address), so
// the proxies, which must own a socket, listen beside it.
const (
	nginxStreamPort = 81
	haproxyPort     = 82
	nftTable        = "golvs_bench"
)

// BenchmarkEndToEnd compares golvs with the floor and the alternatives a
// user would pick, end to end on the classic layout, and writes the
// report (bench.md, charts, runs.json) into $GOLVS_BENCH_OUT (default
// ../results/<time>). Run it with -benchtime 1x: it ignores b.N.
//
// Four copies of the layout stand side by side, so that no target's
// setup is in another's path: one without lvsd for the floor and the
// alternatives, and one each for golvs NAT, DR and TUN. Every target runs
// once per round, wrk with Connection: close, wrk keep-alive and ab; the
// rounds interleave so that whatever else the machine does spreads over
// all targets alike.
func BenchmarkEndToEnd(b *testing.B) {
	testnet.RequirePrivileged(b, "nginx", "ab", "wrk", "haproxy", "nft", "curl")
	testnet.SweepStale()
	rounds := 5
	if v := os.Getenv("GOLVS_BENCH_ROUNDS"); v != "" {
		if _, err := fmt.Sscan(v, &rounds); err != nil || rounds < 1 || rounds > 20 {
			b.Fatalf("GOLVS_BENCH_ROUNDS=%q: want a count from 1 to 20", v)
		}
	}
	bin := buildBinaries(b)
	targets := setupTargets(b, bin)

	threads := runtime.NumCPU()
	res := results{}
	for _, m := range modes {
		res[m.key] = map[string][]sample{}
	}
	start := time.Now()
	for _, t := range targets {
		checkTarget(b, t)
		// Warm-up, not counted: fills ARP and route caches, nginx's
		// worker pools and golvs's maps the way a running system has them.
		if _, err := runTarget(t, modeKeepAlive, threads, time.Second); err != nil {
			b.Fatalf("%s: warm-up: %v", t.label, err)
		}
	}
	for r := range rounds {
		for _, t := range targets {
			for _, m := range modes {
				s, err := runTarget(t, m, threads, wrkDuration)
				if err != nil {
					b.Fatalf("%s, %s, round %d: %v", t.label, m.key, r+1, err)
				}
				s.Round = r + 1
				res[m.key][t.key] = append(res[m.key][t.key], s)
				fmt.Printf("round %d  %-22s %-9s %9.0f/s  p99 %7.2f ms  cpu %5.2f s (softirq %5.2f s)\n",
					r+1, t.label, m.key, s.RPS, s.P99, s.Busy, s.Softirq)
			}
		}
	}
	fmt.Printf("measured in %v\n\n", time.Since(start).Round(time.Second))

	out := os.Getenv("GOLVS_BENCH_OUT")
	if out == "" {
		out = filepath.Join("..", "results", time.Now().Format("20060102-150405"))
	}
	md, err := writeResults(out, machine(), targets, res, rounds)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Print(md)
	abs, _ := filepath.Abs(out)
	fmt.Printf("\nwritten to %s\n", abs)
	for _, m := range modes {
		b.ReportMetric(summarize(res[m.key][targets[1].key]).Median, "golvs-NAT-"+m.key+"/s")
	}
}

func runTarget(t target, m mode, threads int, d time.Duration) (sample, error) {
	if t.before != nil {
		if err := t.before(); err != nil {
			return sample{}, err
		}
	}
	s, err := run(t.client, m, t.url, threads, d)
	if t.after != nil {
		if aerr := t.after(); err == nil {
			err = aerr
		}
	}
	return s, err
}

// setupTargets builds the layouts and returns the targets in the order of
// a round, the floor first.
func setupTargets(b *testing.B, bin string) []target {
	b.Helper()
	vip := testnet.VIP
	reals := testnet.RealAddrs
	var pages []string
	var upstreams []netip.AddrPort
	for i, r := range reals {
		pages = append(pages, testnet.Page(fmt.Sprintf("rs%d", i+1), r))
		upstreams = append(upstreams, netip.AddrPortFrom(r, 80))
	}

	plain := testnet.NewLayout(b, testnet.Options{Method: testnet.NAT})
	tune(b, plain)
	d := plain.Director
	nginx := d.StartNginxStream(netip.AddrPortFrom(vip, nginxStreamPort), upstreams)
	haproxy := d.StartHAProxy(netip.AddrPortFrom(vip, haproxyPort), upstreams)
	nftVIP := netip.AddrPortFrom(vip, 80)
	// The DNAT table exists only during its own runs: with it, the
	// director's namespace tracks every connection (conntrack), which
	// would slow the floor and the proxies too.
	addNFT := func() error { return d.NFT(testnet.NFTRoundRobinDNAT(nftTable, nftVIP, reals)) }
	delNFT := func() error { return d.NFT("delete table ip " + nftTable + "\n") }

	targets := []target{{
		key: "floor", label: "A no balancer (floor)", short: "A floor", kind: "floor",
		about:  "the client fetches from one real server (port 8080) through the director as a plain router, nothing attached",
		client: plain.Client, url: fmt.Sprintf("http://%s:8080/", reals[0]), pages: pages[:1],
	}}
	for _, m := range []testnet.Method{testnet.NAT, testnet.DR, testnet.TUN} {
		o := testnet.Options{Method: m}
		if m == testnet.TUN {
			o.LVSRS = filepath.Join(bin, "lvsrs")
		}
		c := testnet.NewLayout(b, o)
		tune(b, c)
		lvsd := testnet.StartLVSD(b, c.Director, bin, c.DirectorLinks())
		flag := map[testnet.Method]string{testnet.NAT: "-m", testnet.DR: "-g", testnet.TUN: "-i"}[m]
		lvsd.MustAdm("-A", "-t", vip.String()+":80", "-s", "rr")
		for _, r := range c.Reals {
			lvsd.MustAdm("-a", "-t", vip.String()+":80", "-r", r.Addr.String()+":80", flag)
		}
		about := map[testnet.Method]string{
			testnet.NAT: "lvsd on the director, -m (masquerading), rr over both real servers",
			testnet.DR:  "lvsd, -g (direct routing; real servers prepared by lvsrs --tunnel none), rr",
			testnet.TUN: "lvsd, -i (IPIP tunnel; real servers prepared by lvsrs --tunnel ipip), rr",
		}[m]
		targets = append(targets, target{
			key: "golvs-" + m.String(), label: "B golvs " + m.String(), short: "B golvs " + m.String(), kind: "golvs",
			about: about, client: c.Client, url: fmt.Sprintf("http://%s/", vip), pages: pages,
		})
	}
	targets = append(targets,
		target{
			key: "nftables", label: "C nftables DNAT", short: "C nftables", kind: "other",
			about:  fmt.Sprintf("nft `dnat to numgen inc mod 2 map {...}` in prerouting of the director, port %d; the table exists only during its runs", nftVIP.Port()),
			client: plain.Client, url: fmt.Sprintf("http://%s/", vip), pages: pages, before: addNFT, after: delNFT,
		},
		target{
			key: "nginx-stream", label: "D nginx stream", short: "D nginx", kind: "other",
			about:  fmt.Sprintf("nginx %s in the director, `stream` proxy_pass to both real servers (round robin), worker_processes auto, port %d", nginxVersion(), nginx.Listen.Port()),
			client: plain.Client, url: fmt.Sprintf("http://%s/", nginx.Listen), pages: pages,
		},
		target{
			key: "haproxy", label: "E HAProxy TCP", short: "E HAProxy", kind: "other",
			about:  fmt.Sprintf("HAProxy in the director, mode tcp, balance roundrobin, default threads (one per CPU), port %d", haproxy.Listen.Port()),
			client: plain.Client, url: fmt.Sprintf("http://%s/", haproxy.Listen), pages: pages,
		},
	)
	return targets
}

// tune widens the ephemeral port ranges of the client and the director
// (the proxies' upstream connections) and lets the director reuse
// TIME_WAIT ports for them: a 5 s run of Connection: close opens tens of
// thousands of connections, more than the default range holds.
func tune(b *testing.B, c *testnet.Classic) {
	b.Helper()
	for _, ns := range []*testnet.Namespace{c.Client, c.Director} {
		ns.Sysctl("net.ipv4.ip_local_port_range", "1024 65000")
	}
	c.Director.Sysctl("net.ipv4.tcp_tw_reuse", "1")
}

// checkTarget fetches the page a few times and fails loudly unless every
// real server the target should reach answered: a broken balancer must
// not pass for a slow one.
func checkTarget(b *testing.B, t target) {
	b.Helper()
	if t.before != nil {
		if err := t.before(); err != nil {
			b.Fatalf("%s: %v", t.label, err)
		}
	}
	seen := map[string]bool{}
	for range 4 {
		out, err := t.client.Exec("curl", "-sS", "--max-time", "5", t.url)
		if err != nil {
			b.Fatalf("%s: %v", t.label, err)
		}
		seen[out] = true
	}
	if t.after != nil {
		if err := t.after(); err != nil {
			b.Fatalf("%s: %v", t.label, err)
		}
	}
	for _, p := range t.pages {
		if !seen[p] {
			b.Fatalf("%s (%s): four requests never got %q, got %q", t.label, t.url, p, keys(seen))
		}
	}
	if len(seen) != len(t.pages) {
		b.Fatalf("%s (%s): want only %q, got %q", t.label, t.url, t.pages, keys(seen))
	}
}

func keys(m map[string]bool) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	return k
}

func nginxVersion() string {
	v := firstLine(command("nginx", "-v"))
	_, after, ok := strings.Cut(v, "nginx/")
	if !ok {
		return v
	}
	return after
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
