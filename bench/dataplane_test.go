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
// (xdp_not_a_service is the cost of declining). Every row's packet is a
// fixture of datapathtest.World, the same the datapath package's fixture
// tests check: a row runs it once with the fixture's checks (verdict,
// output frame, counters) before timing it. The run ends with a table of
// every row's min and median over the -count runs.
package bench

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"golvs/internal/datapath"
	"golvs/internal/datapath/datapathtest"
	"golvs/internal/lvs"
	"golvs/internal/packet"
)

// chunk is the most repeats one BPF_PROG_TEST_RUN call makes; new flows
// flush the conn table between chunks (outside the timing) so they measure
// inserts into a table that is not full (a full one drops new flows).
const chunk = 1 << 16

// dpRow is one path BenchmarkDataplane times.
type dpRow struct {
	name string
	xdp  bool
	// fixture is the packet and what one run of it must do: a fixture
	// of datapathtest.World, checked once before the row is timed, its
	// Setup run again before the timing.
	fixture  datapathtest.XCase
	target   datapathtest.BenchTarget
	newFlows bool
	// same says the last repeat's output must equal one Run (RunXDP) of
	// the frame: the restore gave every repeat the original frame.
	same bool
	// perCall runs every packet in a test run of its own (TC tunnels,
	// see datapathtest.BenchOptions.CallPerPacket); restore_per_call is
	// their harness cost.
	perCall bool
}

// verdict is the verdict every repeat of row r must end with: the
// fixture's for the data plane, the harness programs' own otherwise.
func (r dpRow) verdict() int {
	switch r.target {
	case datapathtest.BenchRestore:
		return datapath.VerdictOK
	case datapathtest.BenchFloor:
		return datapath.VerdictRedirect
	}
	return r.fixture.Verdict
}

// newConns are, for a row of new flows through the data plane, the
// services whose connection count must grow by one per repeat (so that
// every repeat was a new flow): those the fixture counts a connection
// for.
func (r dpRow) newConns() []datapath.ServiceID {
	if !r.newFlows || r.target != datapathtest.BenchIngress {
		return nil
	}
	var ids []datapath.ServiceID
	for id, st := range r.fixture.Want.Services {
		if st.Conns == 1 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// dpBench is BenchmarkDataplane's director: datapathtest's World (a
// namespace and a data plane with the services of its fixtures) and the
// rows.
type dpBench struct {
	w     *datapathtest.World
	h     *datapath.Harness
	bench *datapathtest.Bench
	rows  []dpRow
}

func newDPBench(b testing.TB) *dpBench {
	w := datapathtest.NewWorld(b, datapath.Options{ConnTableSize: 1 << 18})
	h := datapath.NewHarness(w.Datapath)
	fixture := func(name string) datapathtest.XCase { return w.Fixture(b, name) }

	ingress, floor, restore := datapathtest.BenchIngress, datapathtest.BenchFloor, datapathtest.BenchRestore
	established := fixture("established NAT")
	rows := []dpRow{
		{name: "restore", fixture: established, target: restore, same: true},
		{name: "restore_new_flow", fixture: fixture("new flow NAT rr over 2 reals"), target: restore, newFlows: true},
		{name: "restore_per_call", fixture: established, target: restore, same: true, perCall: true},
		{name: "floor", fixture: established, target: floor},
	}
	// The table schedulers pick with one lookup whatever the number of
	// reals; lc and wlc walk every real (the counter loop).
	for _, s := range []struct{ row, fixture string }{
		{"new_flow_nat_rr", "new flow NAT rr over 2 reals"},
		{"new_flow_nat_wrr", "new flow NAT wrr over 16 reals"},
		{"new_flow_nat_sh", "new flow NAT sh over 16 reals"},
		{"new_flow_nat_mh", "new flow NAT mh over 16 reals"},
		{"new_flow_nat_lc2", "new flow NAT lc over 2 reals"},
		{"new_flow_nat_lc16", "new flow NAT lc over 16 reals"},
		{"new_flow_nat_lc128", "new flow NAT lc over 128 reals"},
		{"new_flow_nat_wlc2", "new flow NAT wlc over 2 reals"},
		{"new_flow_nat_wlc16", "new flow NAT wlc over 16 reals"},
		{"new_flow_nat_wlc128", "new flow NAT wlc over 128 reals"},
		{"new_flow_dr", "new flow DR"},
	} {
		rows = append(rows, dpRow{name: s.row, fixture: fixture(s.fixture), target: ingress, newFlows: true})
	}
	rows = append(rows,
		dpRow{name: "established_nat", fixture: established, target: ingress, same: true},
		dpRow{name: "nat_reply", fixture: fixture("NAT reply"), target: ingress, same: true},
		dpRow{name: "established_dr", fixture: fixture("established DR"), target: ingress, same: true},
		dpRow{name: "established_tun_ipip", fixture: fixture("established TUN IPIP"), target: ingress, same: true, perCall: true},
		dpRow{name: "established_tun_gue", fixture: fixture("established TUN GUE"), target: ingress, same: true, perCall: true},
		dpRow{name: "established_tun_gre", fixture: fixture("established TUN GRE"), target: ingress, same: true, perCall: true},
		dpRow{name: "not_a_service", fixture: fixture("not a service"), target: ingress, same: true},
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
	w.Net.Do(b, func() {
		if err := h.MarkXDPNative(w.Net.Client.Index, w.Net.Reals.Index); err != nil {
			b.Fatal(err)
		}
	})
	return &dpBench{w: w, h: h, bench: datapathtest.NewBench(b, w.Datapath), rows: rows}
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
// few repeats at a time, with all its checks: its fixture's (verdict,
// output frame, counters, connection), then the verdict of the repeats,
// the last repeat's frame equal to one run's (every repeat began from
// the original frame, a tunnel's encapsulation given back), one
// connection per repeat for new flows.
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

// run checks row c's fixture once, sets it up again and runs it n times
// in chunks, checking every chunk, and returns the kernel-measured ns
// per packet. b, when not nil, has its timer stopped around the checks.
func (s *dpBench) run(tb testing.TB, c dpRow, n int, b *testing.B) float64 {
	tb.Helper()
	d := s.w.Datapath
	pause := func(f func()) {
		if b != nil {
			b.StopTimer()
			defer b.StartTimer()
		}
		f()
	}
	// The fixture through the program the row times (XDP rows: the fast
	// path, then TC for what it passes, as in the fixture tests).
	s.w.Net.XDP = c.xdp
	s.w.Net.RunXCase(tb, d, c.fixture)
	if tb.Failed() {
		tb.FailNow()
	}
	if c.fixture.Setup != nil {
		c.fixture.Setup(tb, d)
	}
	ifindex := c.fixture.Ifindex
	if ifindex == 0 {
		ifindex = s.w.Net.Client.Index
	}
	svcs := c.newConns()
	var total float64
	s.w.Net.Do(tb, func() {
		var want []byte
		if c.same {
			want = reference(tb, s.h, c, ifindex)
		}
		if b != nil {
			b.ResetTimer()
		}
		for done := 0; done < n; {
			r := min(n-done, chunk)
			var before []lvs.Stats
			if len(svcs) > 0 {
				pause(func() { before = serviceStats(tb, d, svcs) })
			}
			res, err := s.bench.Benchmark(c.fixture.In, datapathtest.BenchOptions{
				Target: c.target, Ifindex: ifindex, Repeat: r, NewFlows: c.newFlows, XDP: c.xdp,
				CallPerPacket: c.perCall,
			})
			if err != nil {
				tb.Fatal(err)
			}
			if res.Verdict != c.verdict() {
				tb.Fatalf("verdict %s, want %s", datapathtest.VerdictName(res.Verdict), datapathtest.VerdictName(c.verdict()))
			}
			if want != nil && !bytes.Equal(res.Out, want) {
				tb.Fatalf("the last of %d repeats left a frame other than one run does:\n%s", r, packet.Diff(want, res.Out))
			}
			total += float64(res.PerPacket.Nanoseconds()) * float64(r)
			done += r
			if c.newFlows {
				pause(func() {
					for i, st := range serviceStats(tb, d, svcs) {
						if got := st.Conns - before[i].Conns; got != uint64(r) {
							tb.Fatalf("%d repeats made %d connections to service %d: not every repeat was a new flow", r, got, svcs[i])
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
func reference(b testing.TB, h *datapath.Harness, c dpRow, ifindex int) []byte {
	b.Helper()
	switch {
	case c.target == datapathtest.BenchRestore:
		return c.fixture.In // the nop leaves it as it is
	case c.target != datapathtest.BenchIngress:
		b.Fatalf("no reference output for target %d", c.target)
	case c.xdp:
		_, out, _, err := h.RunXDP(c.fixture.In, ifindex)
		if err != nil {
			b.Fatal(err)
		}
		return out
	}
	_, out, err := h.Run(c.fixture.In, ifindex)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

func serviceStats(b testing.TB, d *datapath.Datapath, ids []datapath.ServiceID) []lvs.Stats {
	b.Helper()
	st, err := d.ServiceCounters(ids)
	if err != nil {
		b.Fatal(err)
	}
	return st
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
