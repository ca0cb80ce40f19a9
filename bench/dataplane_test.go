// Package bench measures golvs. BenchmarkDataplane times the eBPF data
// plane per packet with BPF_PROG_TEST_RUN's kernel-measured duration:
//
//	sudo go test -run '^$' -bench Dataplane ./bench/
//
// ns/op is the kernel's time per packet (not the wall clock), including a
// frame restore and a tail call shared by every path; "restore" is that
// overhead alone ("restore_new_flow" with the per-repeat source change the
// new-flow paths add) and "floor" a trivial rewrite-and-forward behind the
// same restore, so path - restore is the data plane's own cost. Each run
// ends with a table of both.
package bench

import (
	"fmt"
	"net/netip"
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

func BenchmarkDataplane(b *testing.B) {
	datapathtest.RequirePrivileged(b)
	n := datapathtest.NewNet(b)
	d := datapathtest.Open(b, datapath.Options{ConnTableSize: 1 << 18})

	vip := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(datapathtest.VIP, port) }
	real := func(i int, port uint16) netip.AddrPort { return netip.AddrPortFrom(datapathtest.RealAddrs[i], port) }
	client := netip.AddrPortFrom(datapathtest.ClientAddr, 40000)
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(d.SetReal(1, lvs.Real{Addr: real(0, 8080), Method: lvs.Masq, Weight: 1}))
	must(d.SetReal(2, lvs.Real{Addr: real(1, 8080), Method: lvs.Masq, Weight: 1}))
	must(d.SetReal(3, lvs.Real{Addr: real(0, 443), Method: lvs.Route, Weight: 1}))
	must(d.SetService(1, lvs.Service{ServiceKey: lvs.ServiceKey{Protocol: lvs.TCP, Addr: vip(80)}, Scheduler: "rr"}, []datapath.RealID{1, 2}, 0))
	must(d.SetService(2, lvs.Service{ServiceKey: lvs.ServiceKey{Protocol: lvs.TCP, Addr: vip(443)}, Scheduler: "rr"}, []datapath.RealID{3}, 0))
	// wlc over 16 reals: the longest scheduler walk of these paths.
	var wlc []datapath.RealID
	for i := range 16 {
		id := datapath.RealID(10 + i)
		must(d.SetReal(id, lvs.Real{Addr: real(i%3, uint16(9000+i)), Method: lvs.Masq, Weight: 1 + i%4}))
		wlc = append(wlc, id)
	}
	must(d.SetService(3, lvs.Service{ServiceKey: lvs.ServiceKey{Protocol: lvs.TCP, Addr: vip(84)}, Scheduler: "wlc"}, wlc, 0))

	fromClient := func(dst netip.AddrPort, flags string) []byte {
		return packet.Frame{SrcMAC: datapathtest.ClientMAC, DstMAC: n.Client.MAC, Src: client, Dst: dst, Proto: packet.TCP, Flags: flags}.Bytes()
	}
	natReply := packet.Frame{SrcMAC: datapathtest.RealMACs[0], DstMAC: n.Reals.MAC, Src: real(0, 8080), Dst: client, Proto: packet.TCP, Flags: "A"}.Bytes()

	// prime makes the connections of the established paths: client:40000
	// -> VIP:80 on real 1 (rr's first pick) and -> VIP:443, both
	// ESTABLISHED.
	prime := func(b *testing.B) {
		if _, err := d.FlushConns(); err != nil {
			b.Fatal(err)
		}
		must(d.SetService(1, lvs.Service{ServiceKey: lvs.ServiceKey{Protocol: lvs.TCP, Addr: vip(80)}, Scheduler: "rr"}, []datapath.RealID{1, 2}, 0))
		n.Do(b, func() {
			for _, f := range [][]byte{fromClient(vip(80), "S"), fromClient(vip(80), "A"), fromClient(vip(443), "S"), fromClient(vip(443), "A")} {
				if v, _, err := d.Run(f, n.Client.Index); err != nil || v != datapath.VerdictRedirect {
					b.Fatalf("priming connections: verdict %d, %v", v, err)
				}
			}
		})
	}

	var results []pathResult
	// Printed, not logged: a parent benchmark's log shows only with -v.
	defer func() { fmt.Print(table(results)) }()

	for _, c := range []struct {
		name     string
		frame    []byte
		ifindex  int
		target   datapath.BenchTarget
		newFlows bool
		verdict  int
	}{
		{"restore", fromClient(vip(80), "A"), n.Client.Index, datapath.BenchRestore, false, datapath.VerdictOK},
		{"restore_new_flow", fromClient(vip(80), "S"), n.Client.Index, datapath.BenchRestore, true, datapath.VerdictOK},
		{"floor", fromClient(vip(80), "A"), n.Client.Index, datapath.BenchFloor, false, datapath.VerdictRedirect},
		{"new_flow_nat_rr", fromClient(vip(80), "S"), n.Client.Index, datapath.BenchIngress, true, datapath.VerdictRedirect},
		{"new_flow_nat_wlc16", fromClient(vip(84), "S"), n.Client.Index, datapath.BenchIngress, true, datapath.VerdictRedirect},
		{"new_flow_dr", fromClient(vip(443), "S"), n.Client.Index, datapath.BenchIngress, true, datapath.VerdictRedirect},
		{"established_nat", fromClient(vip(80), "A"), n.Client.Index, datapath.BenchIngress, false, datapath.VerdictRedirect},
		{"nat_reply", natReply, n.Reals.Index, datapath.BenchIngress, false, datapath.VerdictRedirect},
		{"established_dr", fromClient(vip(443), "A"), n.Client.Index, datapath.BenchIngress, false, datapath.VerdictRedirect},
		{"not_a_service", fromClient(vip(22), "S"), n.Client.Index, datapath.BenchIngress, false, datapath.VerdictOK},
	} {
		b.Run(c.name, func(b *testing.B) {
			prime(b)
			var total float64
			n.Do(b, func() {
				b.ResetTimer()
				for done := 0; done < b.N; {
					r := min(b.N-done, chunk)
					dur, verdict, err := d.Benchmark(c.frame, datapath.BenchOptions{
						Target: c.target, Ifindex: c.ifindex, Repeat: r, NewFlows: c.newFlows,
					})
					if err != nil {
						b.Fatal(err)
					}
					if verdict != c.verdict {
						b.Fatalf("verdict %s, want %s", datapathtest.VerdictName(verdict), datapathtest.VerdictName(c.verdict))
					}
					total += float64(dur.Nanoseconds()) * float64(r)
					done += r
					if c.newFlows {
						b.StopTimer()
						if _, err := d.FlushConns(); err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
					}
				}
			})
			// The kernel's time per packet replaces the wall clock, which
			// also counts syscalls and flushes.
			b.ReportMetric(total/float64(b.N), "ns/op")
			// The last run of a name is the one with the final b.N.
			r := pathResult{c.name, total / float64(b.N), c.newFlows}
			for i := range results {
				if results[i].name == c.name {
					results[i] = r
					return
				}
			}
			results = append(results, r)
		})
	}
}

// pathResult is one path's kernel-measured ns per packet.
type pathResult struct {
	name     string
	ns       float64
	newFlows bool
}

// table formats the results of one BenchmarkDataplane run: ns per packet,
// the data plane's own share (minus the matching restore row) and that
// share as a multiple of the floor's.
func table(rs []pathResult) string {
	by := map[string]float64{}
	for _, r := range rs {
		by[r.name] = r.ns
	}
	floor := by["floor"] - by["restore"]
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%-20s %10s %10s %8s\n", "path", "ns/pkt", "own ns", "x floor")
	for _, r := range rs {
		n, ns, nf := r.name, r.ns, r.newFlows
		base := by["restore"]
		if nf {
			base = by["restore_new_flow"]
		}
		own := ns - base
		if strings.HasPrefix(n, "restore") {
			fmt.Fprintf(&sb, "%-20s %10.1f %10s %8s\n", n, ns, "-", "-")
			continue
		}
		x := "-"
		if floor > 0 {
			x = fmt.Sprintf("%.1f", own/floor)
		}
		fmt.Fprintf(&sb, "%-20s %10.1f %10.1f %8s\n", n, ns, own, x)
	}
	return sb.String()
}
