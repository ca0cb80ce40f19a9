package datapath_test

import (
	"testing"

	"golvs/internal/datapath"
	"golvs/internal/datapath/datapathtest"
	"golvs/internal/lvs"
	"golvs/internal/packet"
)

// runOne runs f from the client (or, with ifindex, from that link) and
// returns the verdict and the output frame.
func runOne(t *testing.T, n *datapathtest.Net, d *datapath.Datapath, f packet.Frame, ifindex int) (int, []byte) {
	t.Helper()
	if ifindex == 0 {
		ifindex = n.Client.Index
	}
	var (
		v   int
		out []byte
	)
	n.Do(t, func() {
		var err error
		v, out, err = datapath.NewHarness(d).Run(f.Bytes(), ifindex)
		must(t, err)
	})
	return v, out
}

func counter(t *testing.T, d *datapath.Datapath, name string) uint64 {
	t.Helper()
	cs, err := d.Counters()
	must(t, err)
	v, ok := cs[name]
	if !ok {
		t.Fatalf("no counter %q", name)
	}
	return v
}

// TestPrivilegedConnTableFull fills a 64-entry table: the connections made
// are exactly the ones counted, they keep working, and further SYNs are
// dropped rather than evicting live connections (as an LRU table did,
// leaking their counters).
func TestPrivilegedConnTableFull(t *testing.T) {
	const size = 64
	n, d := smallWorld(t, datapath.Options{ConnTableSize: size})
	if d.ConnTableSize() != size {
		t.Fatalf("conn table of %d entries", d.ConnTableSize())
	}
	for i := range size + 16 {
		want := datapath.VerdictRedirect
		if i >= size {
			want = datapath.VerdictShot
		}
		if v, _ := runOne(t, n, d, synFrom(n, packet.TCP, uint16(52000+i), vip(80), "S"), 0); v != want {
			t.Fatalf("SYN %d: verdict %s, want %s", i, datapathtest.VerdictName(v), datapathtest.VerdictName(want))
		}
	}
	if got := counter(t, d, "drop_conn_full"); got != 16 {
		t.Errorf("drop_conn_full %d, want 16", got)
	}
	entries, err := d.ConnEntriesForTest()
	must(t, err)
	a, i, err := d.RealConns(1)
	must(t, err)
	if entries != size || int(a+i) != entries || a != size {
		t.Errorf("%d entries, real counts (%d, %d); want %d active", entries, a, i, size)
	}
	if nat, _ := d.NATEntriesForTest(); nat != size {
		t.Errorf("%d NAT reverse entries, want %d", nat, size)
	}
	st, err := d.ServiceStats(1)
	must(t, err)
	if st.Conns != size || st.InPkts != size {
		t.Errorf("service stats %+v: dropped SYNs counted", st)
	}

	// The first connection still works both ways.
	send(t, n, d, synFrom(n, packet.TCP, 52000, vip(80), "A"))
	if c, err := datapathtest.FindConn(d, cli(52000), vip(80)); err != nil || c.State != "ESTABLISHED" {
		t.Errorf("first connection after the table filled: %+v, %v", c, err)
	}
	reply := packet.Frame{SrcMAC: datapathtest.RealMACs[0], DstMAC: n.Reals.MAC, Src: rip(0, 8080), Dst: cli(52000), Proto: packet.TCP, Flags: "A"}
	if v, _ := runOne(t, n, d, reply, n.Reals.Index); v != datapath.VerdictRedirect {
		t.Errorf("NAT reply: verdict %s", datapathtest.VerdictName(v))
	}
	// A DR/UDP flow finds no room either.
	if v, _ := runOne(t, n, d, synFrom(n, packet.UDP, 53000, vip(53), ""), 0); v != datapath.VerdictShot {
		t.Errorf("UDP with a full table: verdict %s", datapathtest.VerdictName(v))
	}

	// Once an entry is swept, a new connection fits again.
	must(t, d.AgeConnForTest(lvs.TCP, cli(52001), vip(80), 1<<40))
	if removed, err := d.Sweep(); err != nil || removed != 1 {
		t.Fatalf("sweep removed %d, %v", removed, err)
	}
	send(t, n, d, synFrom(n, packet.TCP, 52100, vip(80), "S"))
	if a, i, _ := d.RealConns(1); a != size || i != 0 {
		t.Errorf("real counts (%d, %d) after one out, one in; want (%d, 0)", a, i, size)
	}
}

// TestPrivilegedNATReverseTableFull: a NAT connection whose reverse entry
// does not fit is undone (its counters too) and its packet dropped.
func TestPrivilegedNATReverseTableFull(t *testing.T) {
	const size = 64
	n, d := smallWorld(t, datapath.Options{ConnTableSize: size})
	must(t, d.FillNATForTest(size))
	if v, _ := runOne(t, n, d, synFrom(n, packet.TCP, 52000, vip(80), "S"), 0); v != datapath.VerdictShot {
		t.Fatalf("SYN with the reverse table full: verdict %s", datapathtest.VerdictName(v))
	}
	if got := counter(t, d, "drop_conn_full"); got != 1 {
		t.Errorf("drop_conn_full %d, want 1", got)
	}
	if a, i, _ := d.RealConns(1); a != 0 || i != 0 {
		t.Errorf("real counts (%d, %d) after the undo, want (0, 0)", a, i)
	}
	if entries, _ := d.ConnEntriesForTest(); entries != 0 {
		t.Errorf("%d conn entries after the undo, want 0", entries)
	}
	// DR needs no reverse entry.
	send(t, n, d, synFrom(n, packet.UDP, 53000, vip(53), ""))

	// The sweep deletes the orphans; then NAT connections fit again.
	if _, err := d.Sweep(); err != nil {
		t.Fatal(err)
	}
	if nat, _ := d.NATEntriesForTest(); nat != 0 {
		t.Errorf("%d NAT reverse entries after the sweep, want 0", nat)
	}
	send(t, n, d, synFrom(n, packet.TCP, 52000, vip(80), "S"))
}

// TestPrivilegedSweepKeepsReplacedReverseEntry: a connection missing when
// Sweep lists the reverse entries and back before it removes orphans (the
// conn_reuse window between lvs_conn_remove and lvs_new) keeps its reverse
// entry, so its replies are still translated.
func TestPrivilegedSweepKeepsReplacedReverseEntry(t *testing.T) {
	n, d := smallWorld(t, datapath.Options{})
	syn := synFrom(n, packet.TCP, 50000, vip(80), "S")
	send(t, n, d, syn, synFrom(n, packet.TCP, 50001, vip(80), "S"))
	must(t, d.DeleteConnForTest(lvs.TCP, cli(50000), vip(80)))
	must(t, d.DeleteConnForTest(lvs.TCP, cli(50001), vip(80)))
	if _, err := d.SweepPausedForTest(func() { send(t, n, d, syn) }); err != nil {
		t.Fatal(err)
	}
	if nat, _ := d.NATEntriesForTest(); nat != 1 {
		t.Errorf("%d NAT reverse entries after the sweep, want 1 (50000's, not the orphan of 50001)", nat)
	}
	reply := packet.Frame{SrcMAC: datapathtest.RealMACs[0], DstMAC: n.Reals.MAC, Src: rip(0, 8080), Dst: cli(50000), Proto: packet.TCP, Flags: "SA"}
	if v, _ := runOne(t, n, d, reply, n.Reals.Index); v != datapath.VerdictRedirect {
		t.Errorf("reply of the re-made connection: verdict %s, want it translated", datapathtest.VerdictName(v))
	}
}
