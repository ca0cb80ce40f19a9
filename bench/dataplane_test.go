// Package bench measures golvs. BenchmarkDataplane times the eBPF data
// plane per packet with BPF_PROG_TEST_RUN's kernel-measured duration:
//
//	sudo go test -run '^$' -bench Dataplane -benchtime 200000x -count 3 ./bench/
//
// ns/op is the kernel's time per packet (not the wall clock), including a
// frame restore and a tail call shared by every path; "restore" is that
// overhead alone ("restore_new_flow" with the per-repeat source change the
// new-flow paths add) and "floor" a trivial rewrite-and-forward behind the
// same restore, so path - restore is the data plane's own cost. TC's
// tunnel rows run one packet per test run (an skb encapsulates once), so
// their harness is "restore_per_call". The rows named xdp_* run the XDP
// fast path (lvs_xdp) the same way, as on native XDP links, behind an
// XDP restore, against an XDP floor; a packet it passes to TC stops there
// (xdp_not_a_service is the cost of declining). The run ends with a table
// of every row's min and median over the -count runs.
package bench

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"golvs/internal/datapath"
	"golvs/internal/datapath/datapathtest"
	"golvs/internal/lvs"
	"golvs/internal/packet"
	"golvs/internal/sched"
)

// chunk is the most repeats one BPF_PROG_TEST_RUN call makes; new flows
// flush the conn table between chunks (outside the timing) so they measure
// inserts into a table that is not full (a full one drops new flows).
const chunk = 1 << 16

// dpRow is one path BenchmarkDataplane times.
type dpRow struct {
	name     string
	xdp      bool
	frame    []byte
	ifindex  int
	target   datapathtest.BenchTarget
	newFlows bool
	// svc is, for new flows, the service whose connection count must
	// grow by one per repeat (so that every repeat was a new flow).
	svc     datapath.ServiceID
	verdict int
	// same says the last repeat's output must equal one Run (RunXDP) of
	// the frame: the restore gave every repeat the original frame.
	same bool
	// perCall runs every packet in a test run of its own (TC tunnels,
	// see datapathtest.BenchOptions.CallPerPacket); restore_per_call is
	// their harness cost.
	perCall bool
}

// dpBench is BenchmarkDataplane's director: a namespace, a data plane
// with the services every row needs, and the rows.
type dpBench struct {
	n     *datapathtest.Net
	d     *datapath.Datapath
	h     *datapath.Harness
	bench *datapathtest.Bench
	rows  []dpRow
	// prime flushes the connections and makes those of the established
	// rows again.
	prime func(tb testing.TB)
}

func newDPBench(b testing.TB) *dpBench {
	datapathtest.RequirePrivileged(b)
	n := datapathtest.NewNet(b)
	d := datapathtest.Open(b, datapath.Options{ConnTableSize: 1 << 18})
	h := datapath.NewHarness(d)

	vip := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(datapathtest.VIP, port) }
	real := func(i int, port uint16) netip.AddrPort { return netip.AddrPortFrom(datapathtest.RealAddrs[i], port) }
	client := netip.AddrPortFrom(datapathtest.ClientAddr, 40000)
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}

	// service sets up service id on vip:port with scheduler s over reals
	// (new real ids each), its table built as the engine builds it.
	nextReal := datapath.RealID(1)
	service := func(id datapath.ServiceID, port uint16, s string, reals []lvs.Real) func() {
		var ids []datapath.RealID
		var dests []sched.Dest
		for _, r := range reals {
			_, err := d.Apply(datapath.Plan{SetReals: []datapath.RealUpdate{{ID: nextReal, Real: r}}})
			must(err)
			ids = append(ids, nextReal)
			dests = append(dests, sched.Dest{Addr: r.Addr, Weight: r.Weight, LastWeight: max(r.Weight, 1)})
			nextReal++
		}
		var table []datapath.RealID
		for _, j := range sched.Table(s, 0, dests) {
			if j >= 0 {
				table = append(table, ids[j])
			} else {
				table = append(table, 0)
			}
		}
		set := func() {
			_, err := d.Apply(datapath.Plan{Services: []datapath.ServiceUpdate{{ID: id, Service: lvs.Service{ServiceKey: lvs.ServiceKey{Protocol: lvs.TCP, Addr: vip(port)}, Scheduler: s}, Table: table}}})
			must(err)
		}
		set()
		return set
	}
	// nat gives n masquerading reals on the three real addresses, each on
	// a port of its own, with weights 1-4.
	nat := func(n int) []lvs.Real {
		rs := make([]lvs.Real, n)
		for i := range rs {
			rs[i] = lvs.Real{Addr: real(i%3, uint16(9000+int(nextReal)+i)), Method: lvs.Masq, Weight: 1 + i%4}
		}
		return rs
	}
	tun := func(i int, port uint16, typ lvs.TunnelType) []lvs.Real {
		r := lvs.Real{Addr: real(i, port), Method: lvs.Tunnel, Weight: 1, TunType: typ}
		if typ == lvs.TunGUE {
			r.TunPort = 6080
		}
		return []lvs.Real{r}
	}

	// Real 1 (real(0, 8080)) is rr's first pick of vip:80: the
	// established NAT connection and its replies.
	resetRR := service(1, 80, "rr", []lvs.Real{
		{Addr: real(0, 8080), Method: lvs.Masq, Weight: 1}, {Addr: real(1, 8080), Method: lvs.Masq, Weight: 1}})
	service(2, 443, "rr", []lvs.Real{{Addr: real(0, 443), Method: lvs.Route, Weight: 1}})
	service(3, 8001, "rr", tun(1, 8001, lvs.TunIPIP))
	service(4, 8002, "rr", tun(2, 8002, lvs.TunGUE))
	service(5, 8003, "rr", tun(2, 8003, lvs.TunGRE))
	// The table schedulers pick with one lookup whatever the number of
	// reals; lc and wlc walk every real (the counter loop).
	type schedSvc struct {
		row   string
		id    datapath.ServiceID
		port  uint16
		sched string
		reals int
	}
	scheds := []schedSvc{
		{"new_flow_nat_rr", 1, 80, "rr", 2},
		{"new_flow_nat_wrr", 10, 85, "wrr", 16},
		{"new_flow_nat_sh", 11, 86, "sh", 16},
		{"new_flow_nat_mh", 12, 87, "mh", 16},
		{"new_flow_nat_lc2", 13, 90, "lc", 2},
		{"new_flow_nat_lc16", 14, 91, "lc", 16},
		{"new_flow_nat_lc128", 15, 92, "lc", 128},
		{"new_flow_nat_wlc2", 16, 93, "wlc", 2},
		{"new_flow_nat_wlc16", 17, 84, "wlc", 16},
		{"new_flow_nat_wlc128", 18, 94, "wlc", 128},
	}
	for _, s := range scheds[1:] {
		service(s.id, s.port, s.sched, nat(s.reals))
	}

	fromClient := func(dst netip.AddrPort, flags string) []byte {
		return packet.Frame{SrcMAC: datapathtest.ClientMAC, DstMAC: n.Client.MAC, Src: client, Dst: dst, Proto: packet.TCP, Flags: flags}.Bytes()
	}
	natReply := packet.Frame{SrcMAC: datapathtest.RealMACs[0], DstMAC: n.Reals.MAC, Src: real(0, 8080), Dst: client, Proto: packet.TCP, Flags: "A"}.Bytes()

	// prime makes the connections of the established paths, all
	// ESTABLISHED: client:40000 -> VIP:80 on real 1, -> VIP:443 (DR) and
	// -> the tunnel VIPs.
	prime := func(b testing.TB) {
		if _, err := d.FlushConns(); err != nil {
			b.Fatal(err)
		}
		resetRR()
		n.Do(b, func() {
			for _, port := range []uint16{80, 443, 8001, 8002, 8003} {
				for _, flags := range []string{"S", "A"} {
					if v, _, err := h.Run(fromClient(vip(port), flags), n.Client.Index); err != nil || v != datapath.VerdictRedirect {
						b.Fatalf("priming the connection to %s: verdict %s, %v", vip(port), datapathtest.VerdictName(v), err)
					}
				}
			}
		})
	}

	ci, ri := n.Client.Index, n.Reals.Index
	ok, redirect := datapath.VerdictOK, datapath.VerdictRedirect
	ingress, floor, restore := datapathtest.BenchIngress, datapathtest.BenchFloor, datapathtest.BenchRestore
	rows := []dpRow{
		{name: "restore", frame: fromClient(vip(80), "A"), ifindex: ci, target: restore, verdict: ok, same: true},
		{name: "restore_new_flow", frame: fromClient(vip(80), "S"), ifindex: ci, target: restore, newFlows: true, verdict: ok},
		{name: "restore_per_call", frame: fromClient(vip(80), "A"), ifindex: ci, target: restore, verdict: ok, same: true, perCall: true},
		{name: "floor", frame: fromClient(vip(80), "A"), ifindex: ci, target: floor, verdict: redirect},
	}
	for _, s := range scheds {
		rows = append(rows, dpRow{name: s.row, frame: fromClient(vip(s.port), "S"), ifindex: ci, target: ingress, newFlows: true, svc: s.id, verdict: redirect})
	}
	rows = append(rows,
		dpRow{name: "new_flow_dr", frame: fromClient(vip(443), "S"), ifindex: ci, target: ingress, newFlows: true, svc: 2, verdict: redirect},
		dpRow{name: "established_nat", frame: fromClient(vip(80), "A"), ifindex: ci, target: ingress, verdict: redirect, same: true},
		dpRow{name: "nat_reply", frame: natReply, ifindex: ri, target: ingress, verdict: redirect, same: true},
		dpRow{name: "established_dr", frame: fromClient(vip(443), "A"), ifindex: ci, target: ingress, verdict: redirect, same: true},
		dpRow{name: "established_tun_ipip", frame: fromClient(vip(8001), "A"), ifindex: ci, target: ingress, verdict: redirect, same: true, perCall: true},
		dpRow{name: "established_tun_gue", frame: fromClient(vip(8002), "A"), ifindex: ci, target: ingress, verdict: redirect, same: true, perCall: true},
		dpRow{name: "established_tun_gre", frame: fromClient(vip(8003), "A"), ifindex: ci, target: ingress, verdict: redirect, same: true, perCall: true},
		dpRow{name: "not_a_service", frame: fromClient(vip(22), "S"), ifindex: ci, target: ingress, verdict: ok, same: true},
	)
	// The XDP fast path's rows: the paths it forwards itself (it leaves
	// GUE and GRE to TC; the other schedulers are the same code in both
	// programs) and one it declines.
	for _, r := range slices.Clone(rows) {
		switch r.name {
		case "restore", "restore_new_flow", "floor", "new_flow_nat_rr", "new_flow_dr", "established_nat",
			"nat_reply", "established_dr", "established_tun_ipip", "not_a_service":
			// The XDP restore gives back what an encapsulation
			// prepended: every path repeats in one call.
			r.name, r.xdp, r.perCall = "xdp_"+r.name, true, false
			rows = append(rows, r)
		}
	}

	// The XDP rows arrive as on links with native XDP, where the fast
	// path takes every method (generic XDP leaves all but DR to TC).
	n.Do(b, func() { must(h.MarkXDPNative(ci, ri)) })
	return &dpBench{n: n, d: d, h: h, bench: datapathtest.NewBench(b, d), rows: rows, prime: prime}
}

func BenchmarkDataplane(b *testing.B) {
	s := newDPBench(b)
	var results dpResults
	// Printed, not logged: a parent benchmark's log shows only with -v.
	defer func() { fmt.Print(results.table()) }()

	for _, c := range s.rows {
		b.Run(c.name, func(b *testing.B) {
			ns := s.run(b, c, b.N, b)
			// The kernel's time per packet replaces the wall clock, which
			// also counts syscalls and flushes.
			b.ReportMetric(ns, "ns/op")
			results.add(c, b.N, ns)
		})
	}
}

// TestPrivilegedDataplaneHarness runs every row of BenchmarkDataplane a
// few repeats at a time, with all its checks: the verdict, the last
// repeat's frame equal to one run's (every repeat began from the
// original frame, a tunnel's encapsulation given back), one connection
// per repeat for new flows.
func TestPrivilegedDataplaneHarness(t *testing.T) {
	s := newDPBench(t)
	for _, c := range s.rows {
		t.Run(c.name, func(t *testing.T) {
			if ns := s.run(t, c, 5, nil); ns <= 0 {
				t.Errorf("%.1f ns per packet", ns)
			}
		})
	}
}

// run primes the connections and runs row c n times in chunks, checking
// every chunk, and returns the kernel-measured ns per packet. b, when
// not nil, has its timer stopped around the checks.
func (s *dpBench) run(tb testing.TB, c dpRow, n int, b *testing.B) float64 {
	tb.Helper()
	d := s.d
	pause := func(f func()) {
		if b != nil {
			b.StopTimer()
			defer b.StartTimer()
		}
		f()
	}
	s.prime(tb)
	var total float64
	s.n.Do(tb, func() {
		var want []byte
		if c.same {
			want = reference(tb, s.h, c)
		}
		if b != nil {
			b.ResetTimer()
		}
		for done := 0; done < n; {
			r := min(n-done, chunk)
			var before lvs.Stats
			if c.newFlows && c.svc != 0 {
				pause(func() { before = serviceStats(tb, d, c.svc) })
			}
			res, err := s.bench.Benchmark(c.frame, datapathtest.BenchOptions{
				Target: c.target, Ifindex: c.ifindex, Repeat: r, NewFlows: c.newFlows, XDP: c.xdp,
				CallPerPacket: c.perCall,
			})
			if err != nil {
				tb.Fatal(err)
			}
			if res.Verdict != c.verdict {
				tb.Fatalf("verdict %s, want %s", datapathtest.VerdictName(res.Verdict), datapathtest.VerdictName(c.verdict))
			}
			if want != nil && !bytes.Equal(res.Out, want) {
				tb.Fatalf("the last of %d repeats left a frame other than one run does:\n%s", r, packet.Diff(want, res.Out))
			}
			total += float64(res.PerPacket.Nanoseconds()) * float64(r)
			done += r
			if c.newFlows {
				pause(func() {
					if c.svc != 0 {
						if got := serviceStats(tb, d, c.svc).Conns - before.Conns; got != uint64(r) {
							tb.Fatalf("%d repeats made %d connections: not every repeat was a new flow", r, got)
						}
					}
					if _, err := d.FlushConns(); err != nil {
						tb.Fatal(err)
					}
				})
			}
		}
	})
	return total / float64(n)
}

// reference runs c's frame once through the program c times, outside
// the timing, and returns the frame it leaves.
func reference(b testing.TB, h *datapath.Harness, c dpRow) []byte {
	b.Helper()
	switch {
	case c.target == datapathtest.BenchRestore:
		return c.frame // the nop leaves it as it is
	case c.target != datapathtest.BenchIngress:
		b.Fatalf("no reference output for target %d", c.target)
	case c.xdp:
		_, out, _, err := h.RunXDP(c.frame, c.ifindex)
		if err != nil {
			b.Fatal(err)
		}
		return out
	}
	_, out, err := h.Run(c.frame, c.ifindex)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

func serviceStats(b testing.TB, d *datapath.Datapath, id datapath.ServiceID) lvs.Stats {
	b.Helper()
	st, err := d.ServiceCounters([]datapath.ServiceID{id})
	if err != nil {
		b.Fatal(err)
	}
	return st[0]
}

// dpResults are the kernel-measured ns per packet of every row, in the
// order the rows ran.
type dpResults []*dpRuns

// dpRuns are one row's runs at the largest b.N seen: the -count runs of
// -benchtime, without the b.N = 1 probe before each.
type dpRuns struct {
	row dpRow
	n   int
	ns  []float64
}

func (rs *dpResults) add(row dpRow, n int, ns float64) {
	for _, r := range *rs {
		if r.row.name != row.name {
			continue
		}
		if n > r.n {
			r.n, r.ns = n, nil
		}
		if n == r.n {
			r.ns = append(r.ns, ns)
		}
		return
	}
	*rs = append(*rs, &dpRuns{row: row, n: n, ns: []float64{ns}})
}

func (r *dpRuns) min() float64 { return slices.Min(r.ns) }

func (r *dpRuns) median() float64 {
	s := slices.Sorted(slices.Values(r.ns))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// table formats the results: per row the min and median ns per packet
// over the runs, the data plane's own share of the median (minus the
// matching restore row's median) and that share as a multiple of the
// floor's, TC rows against TC's restore and floor, XDP rows against
// XDP's.
func (rs dpResults) table() string {
	if len(rs) == 0 {
		return ""
	}
	by := map[string]*dpRuns{}
	for _, r := range rs {
		by[r.row.name] = r
	}
	runs := 0
	for _, r := range rs {
		runs = max(runs, len(r.ns))
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nns/packet, min and median of %d run(s). own: median minus the harness (the matching restore row's\n"+
		"median: restore_new_flow for new flows, restore_per_call for TC tunnels, run one packet per call);\n"+
		"x floor: own / the floor's own\n", runs)
	for _, prog := range []struct {
		title  string
		prefix string
		xdp    bool
	}{{"TC (lvs_ingress)", "", false}, {"XDP (lvs_xdp)", "xdp_", true}} {
		restoreOf := func(row dpRow) *dpRuns {
			switch {
			case row.perCall:
				return by[prog.prefix+"restore_per_call"]
			case row.newFlows:
				return by[prog.prefix+"restore_new_flow"]
			}
			return by[prog.prefix+"restore"]
		}
		floor := -1.0
		if f := by[prog.prefix+"floor"]; f != nil && restoreOf(f.row) != nil {
			r := restoreOf(f.row)
			floor = f.median() - r.median()
		}
		header := false
		for _, r := range rs {
			if r.row.xdp != prog.xdp {
				continue
			}
			if !header {
				fmt.Fprintf(&sb, "\n%-26s %9s %9s %9s %8s\n", prog.title, "min", "median", "own", "x floor")
				header = true
			}
			own, x := "-", "-"
			if base := restoreOf(r.row); base != nil && r.row.target != datapathtest.BenchRestore {
				o := r.median() - base.median()
				own = fmt.Sprintf("%.1f", o)
				if floor > 0 {
					x = fmt.Sprintf("%.1f", o/floor)
				}
			}
			fmt.Fprintf(&sb, "%-26s %9.1f %9.1f %9s %8s\n", r.row.name, r.min(), r.median(), own, x)
		}
	}
	return sb.String()
}

// TestDataplaneTable checks the summary's arithmetic: the b.N = 1 probes
// left out, min and median over the runs, own against the matching
// restore row, x floor against the same program's floor.
func TestDataplaneTable(t *testing.T) {
	restore := datapathtest.BenchRestore
	var rs dpResults
	add := func(row dpRow, ns ...float64) {
		rs.add(row, 1, 5000) // the probe before the runs
		for _, v := range ns {
			rs.add(row, 1000, v)
			rs.add(row, 1, 7000) // the probe before the next run
		}
	}
	add(dpRow{name: "restore", target: restore}, 52, 50, 51)
	add(dpRow{name: "restore_new_flow", target: restore, newFlows: true}, 60, 60, 60)
	add(dpRow{name: "restore_per_call", target: restore, perCall: true}, 120, 130, 125)
	add(dpRow{name: "floor", target: datapathtest.BenchFloor}, 61, 60, 70)
	add(dpRow{name: "new_flow_nat_rr", newFlows: true}, 1100, 1000, 1060)
	add(dpRow{name: "established_tun_ipip", perCall: true}, 400, 425, 500)
	add(dpRow{name: "established_nat"}, 140, 152)
	add(dpRow{name: "xdp_restore", target: restore, xdp: true}, 40, 40, 40)
	add(dpRow{name: "xdp_floor", target: datapathtest.BenchFloor, xdp: true}, 45, 45, 45)
	add(dpRow{name: "xdp_established_nat", xdp: true}, 90, 80, 100)

	got := rs.table()
	for _, want := range []string{
		"min and median of 3 run(s)",
		fmt.Sprintf("%-26s %9.1f %9.1f %9s %8s\n", "restore", 50.0, 51.0, "-", "-"),
		fmt.Sprintf("%-26s %9.1f %9.1f %9s %8s\n", "floor", 60.0, 61.0, "10.0", "1.0"),
		fmt.Sprintf("%-26s %9.1f %9.1f %9s %8s\n", "new_flow_nat_rr", 1000.0, 1060.0, "1000.0", "100.0"),
		fmt.Sprintf("%-26s %9.1f %9.1f %9s %8s\n", "established_tun_ipip", 400.0, 425.0, "300.0", "30.0"),
		// Two runs: the median is their mean.
		fmt.Sprintf("%-26s %9.1f %9.1f %9s %8s\n", "established_nat", 140.0, 146.0, "95.0", "9.5"),
		fmt.Sprintf("%-26s %9.1f %9.1f %9s %8s\n", "xdp_floor", 45.0, 45.0, "5.0", "1.0"),
		fmt.Sprintf("%-26s %9.1f %9.1f %9s %8s\n", "xdp_established_nat", 80.0, 90.0, "50.0", "10.0"),
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the table lacks %q:\n%s", want, got)
		}
	}
	if i, j := strings.Index(got, "TC (lvs_ingress)"), strings.Index(got, "XDP (lvs_xdp)"); i < 0 || j < i ||
		strings.Contains(got[:j], "xdp_") || strings.Contains(got[j:], "\nestablished_nat") {
		t.Errorf("TC and XDP rows are not in sections of their own:\n%s", got)
	}
	if (dpResults{}).table() != "" {
		t.Error("no results should print no table")
	}
}
