package datapath_test

import (
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"golvs/internal/datapath"
	"golvs/internal/datapath/datapathtest"
	"golvs/internal/lvs"
	"golvs/internal/packet"
)

var quiet = slog.New(slog.DiscardHandler)

// send runs frames from the client through the data plane and wants each
// one redirected.
func send(t *testing.T, n *datapathtest.Net, d *datapath.Datapath, frames ...packet.Frame) {
	t.Helper()
	n.Do(t, func() {
		for _, f := range frames {
			v, _, err := datapath.NewHarness(d).Run(f.Bytes(), n.Client.Index)
			must(t, err)
			if v != datapath.VerdictRedirect {
				t.Fatalf("%s -> %s: verdict %s", f.Src, f.Dst, datapathtest.VerdictName(v))
			}
		}
	})
}

func synFrom(n *datapathtest.Net, proto int, sport uint16, dst netip.AddrPort, flags string) packet.Frame {
	return packet.Frame{SrcMAC: datapathtest.ClientMAC, DstMAC: n.Client.MAC, Src: cli(sport), Dst: dst, Proto: proto, Flags: flags}
}

// smallWorld is a TCP NAT service on VIP:80 and a UDP DR service on
// VIP:53, one real each.
func smallWorld(t *testing.T, opts datapath.Options) (*datapathtest.Net, *datapath.Datapath) {
	datapathtest.RequirePrivileged(t)
	n := datapathtest.NewNet(t)
	d := datapathtest.Open(t, opts)
	must(t, d.SetReal(1, lvs.Real{Addr: rip(0, 8080), Method: lvs.Masq, Weight: 1}))
	must(t, d.SetReal(2, lvs.Real{Addr: rip(1, 53), Method: lvs.Route, Weight: 1}))
	must(t, d.SetService(1, lvs.Service{ServiceKey: key(lvs.TCP, 80), Scheduler: "wlc"}, []datapath.RealID{1}, 0))
	must(t, d.SetService(2, lvs.Service{ServiceKey: key(lvs.UDP, 53), Scheduler: "rr"}, []datapath.RealID{2}, 0))
	return n, d
}

func TestPrivilegedConnsListsLiveEntries(t *testing.T) {
	n, d := smallWorld(t, datapath.Options{})
	send(t, n, d, synFrom(n, packet.TCP, 50000, vip(80), "S"), synFrom(n, packet.TCP, 50000, vip(80), "A"),
		synFrom(n, packet.UDP, 50001, vip(53), ""))

	cs, err := d.Conns()
	must(t, err)
	if len(cs) != 2 {
		t.Fatalf("%d connections, want 2: %+v", len(cs), cs)
	}
	byProto := map[lvs.Protocol]datapath.Conn{}
	for _, c := range cs {
		byProto[c.Protocol] = c
	}
	tc := byProto[lvs.TCP]
	if tc.Client != cli(50000) || tc.Virtual != vip(80) || tc.Conn.Real.Compare(rip(0, 8080)) != 0 ||
		tc.State != "ESTABLISHED" || tc.Service != 1 || tc.Real != 1 {
		t.Errorf("TCP connection %+v", tc)
	}
	if tc.Expires <= 899*time.Second || tc.Expires > 900*time.Second {
		t.Errorf("TCP expires in %v, want just under 900s", tc.Expires)
	}
	uc := byProto[lvs.UDP]
	if uc.State != "UDP" || uc.Conn.Real.Compare(rip(1, 53)) != 0 || uc.Service != 2 || uc.Expires > 300*time.Second || uc.Expires < 299*time.Second {
		t.Errorf("UDP connection %+v", uc)
	}

	must(t, d.AgeConnForTest(lvs.UDP, cli(50001), vip(53), time.Hour))
	cs, err = d.Conns()
	must(t, err)
	if len(cs) != 1 || cs[0].Protocol != lvs.TCP {
		t.Errorf("after expiry: %+v, want only the TCP connection", cs)
	}
}

func TestPrivilegedSweep(t *testing.T) {
	n, d := smallWorld(t, datapath.Options{})
	send(t, n, d,
		synFrom(n, packet.TCP, 50000, vip(80), "S"), // SYN_RECV: active
		synFrom(n, packet.TCP, 50001, vip(80), "S"),
		synFrom(n, packet.TCP, 50001, vip(80), "FA"), // SYN_RECV -> TIME_WAIT: inactive
		synFrom(n, packet.UDP, 50002, vip(53), ""),   // inactive
	)
	counts := func(id datapath.RealID) [2]uint32 {
		a, i, err := d.RealConns(id)
		must(t, err)
		return [2]uint32{a, i}
	}
	natEntries := func() int {
		n, err := d.NATEntriesForTest()
		must(t, err)
		return n
	}
	if got := counts(1); got != [2]uint32{1, 1} {
		t.Fatalf("real 1 counts %v, want [1 1]", got)
	}
	if natEntries() != 2 {
		t.Fatalf("%d NAT reverse entries, want 2", natEntries())
	}

	removed, err := d.Sweep()
	must(t, err)
	if removed != 0 {
		t.Errorf("swept %d live connections", removed)
	}

	must(t, d.AgeConnForTest(lvs.TCP, cli(50000), vip(80), time.Hour))
	must(t, d.AgeConnForTest(lvs.UDP, cli(50002), vip(53), time.Hour))
	removed, err = d.Sweep()
	must(t, err)
	if removed != 2 {
		t.Errorf("swept %d, want 2", removed)
	}
	if got := counts(1); got != [2]uint32{0, 1} {
		t.Errorf("real 1 counts %v after sweep, want [0 1]", got)
	}
	if got := counts(2); got != [2]uint32{0, 0} {
		t.Errorf("real 2 counts %v after sweep, want [0 0]", got)
	}
	if natEntries() != 1 {
		t.Errorf("%d NAT reverse entries after sweep, want 1", natEntries())
	}

	// A second sweep finds nothing: no double release.
	removed, err = d.Sweep()
	must(t, err)
	if removed != 0 || counts(1) != [2]uint32{0, 1} {
		t.Errorf("second sweep removed %d, counts %v", removed, counts(1))
	}

	// A connection that vanished without lvs_conn_remove
	// leaves a reverse entry that the sweep drops.
	must(t, d.DeleteConnForTest(lvs.TCP, cli(50001), vip(80)))
	if _, err := d.Sweep(); err != nil {
		t.Fatal(err)
	}
	if natEntries() != 0 {
		t.Errorf("%d NAT reverse entries left after the orphan sweep", natEntries())
	}
}

func TestPrivilegedSweepManyBatches(t *testing.T) {
	n, d := smallWorld(t, datapath.Options{ConnTableSize: 1024})
	var frames []packet.Frame
	for i := range 100 {
		frames = append(frames, synFrom(n, packet.UDP, uint16(51000+i), vip(53), ""))
	}
	send(t, n, d, frames...)
	for i := range 100 {
		must(t, d.AgeConnForTest(lvs.UDP, cli(uint16(51000+i)), vip(53), time.Hour))
	}
	removed, err := d.Sweep()
	must(t, err)
	if removed != 100 {
		t.Errorf("swept %d, want 100", removed)
	}
	if a, i, _ := d.RealConns(2); a != 0 || i != 0 {
		t.Errorf("counts (%d, %d) after sweep, want 0", a, i)
	}
}

func TestPrivilegedFlushConns(t *testing.T) {
	n, d := smallWorld(t, datapath.Options{})
	send(t, n, d, synFrom(n, packet.TCP, 50000, vip(80), "S"), synFrom(n, packet.UDP, 50001, vip(53), ""))
	removed, err := d.FlushConns()
	must(t, err)
	if removed != 2 {
		t.Errorf("flushed %d, want 2", removed)
	}
	if cs, _ := d.Conns(); len(cs) != 0 {
		t.Errorf("connections left: %+v", cs)
	}
	for _, id := range []datapath.RealID{1, 2} {
		if a, i, _ := d.RealConns(id); a != 0 || i != 0 {
			t.Errorf("real %d counts (%d, %d) after flush", id, a, i)
		}
	}
	if n, _ := d.NATEntriesForTest(); n != 0 {
		t.Errorf("%d NAT reverse entries after flush", n)
	}
}

func TestPrivilegedTimeouts(t *testing.T) {
	n, d := smallWorld(t, datapath.Options{})
	got, err := d.Timeouts()
	must(t, err)
	if got != lvs.DefaultTimeouts {
		t.Errorf("timeouts at open %+v, want IPVS's defaults %+v", got, lvs.DefaultTimeouts)
	}
	must(t, d.SetTimeouts(lvs.Timeouts{TCP: 30 * time.Second}))
	got, err = d.Timeouts()
	must(t, err)
	if want := (lvs.Timeouts{TCP: 30 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}); got != want {
		t.Errorf("after --set 30 0 0: %+v, want %+v", got, want)
	}
	if err := d.SetTimeouts(lvs.Timeouts{UDP: -1}); !errors.Is(err, lvs.ErrInvalid) {
		t.Errorf("negative timeout: %v", err)
	}
	send(t, n, d, synFrom(n, packet.TCP, 50000, vip(80), "S"), synFrom(n, packet.TCP, 50000, vip(80), "A"))
	c, err := datapathtest.FindConn(d, cli(50000), vip(80))
	must(t, err)
	if c.Expires > 30*time.Second || c.Expires < 29*time.Second {
		t.Errorf("ESTABLISHED expires in %v, want the new 30s", c.Expires)
	}
}

func TestPrivilegedServiceTables(t *testing.T) {
	n, d := smallWorld(t, datapath.Options{})
	must(t, d.SetReal(3, lvs.Real{Addr: rip(1, 8080), Method: lvs.Masq, Weight: 1}))
	must(t, d.SetService(1, lvs.Service{ServiceKey: key(lvs.TCP, 80), Scheduler: "rr"}, []datapath.RealID{1, 3}, 1))
	pos, err := d.SchedPosition(1)
	must(t, err)
	if pos != 1 {
		t.Errorf("position %d after SetService(rrStart=1)", pos)
	}
	send(t, n, d, synFrom(n, packet.TCP, 50000, vip(80), "S"))
	c, err := datapathtest.FindConn(d, cli(50000), vip(80))
	must(t, err)
	if c.Real != 3 {
		t.Errorf("rrStart 1 picked real %d, want 3", c.Real)
	}
	if pos, _ := d.SchedPosition(1); pos != 2 {
		t.Errorf("position %d after one pick, want 2", pos)
	}

	// Swap in a table without real 3.
	must(t, d.SetService(1, lvs.Service{ServiceKey: key(lvs.TCP, 80), Scheduler: "rr"}, []datapath.RealID{1}, 0))
	send(t, n, d, synFrom(n, packet.TCP, 50001, vip(80), "S"), synFrom(n, packet.TCP, 50002, vip(80), "S"))
	for _, p := range []uint16{50001, 50002} {
		c, err := datapathtest.FindConn(d, cli(p), vip(80))
		must(t, err)
		if c.Real != 1 {
			t.Errorf("port %d went to real %d after the swap", p, c.Real)
		}
	}
	st, err := d.ServiceStats(1)
	must(t, err)
	if st.Conns != 3 || st.InPkts != 3 || st.InBytes != 120 {
		t.Errorf("service stats %+v", st)
	}
	must(t, d.ClearService(1))
	must(t, d.ClearReal(1))
	if st, _ := d.ServiceStats(1); st != (lvs.Stats{}) {
		t.Errorf("service stats after clear %+v", st)
	}
	if st, _ := d.RealStats(1); st != (lvs.Stats{}) {
		t.Errorf("real stats after clear %+v", st)
	}
	if a, i, _ := d.RealConns(1); a != 0 || i != 0 {
		t.Errorf("real counts after clear (%d, %d)", a, i)
	}

	// Established connections outlive their service; new ones pass.
	must(t, d.DeleteService(1, key(lvs.TCP, 80)))
	send(t, n, d, synFrom(n, packet.TCP, 50000, vip(80), "A"))
	n.Do(t, func() {
		v, _, err := datapath.NewHarness(d).Run(synFrom(n, packet.TCP, 50003, vip(80), "S").Bytes(), n.Client.Index)
		must(t, err)
		if v != datapath.VerdictOK {
			t.Errorf("SYN to a deleted service: %s", datapathtest.VerdictName(v))
		}
	})
}

func TestPrivilegedBadArguments(t *testing.T) {
	_, d := smallWorld(t, datapath.Options{})
	k := key(lvs.TCP, 80)
	for name, err := range map[string]error{
		"service id 0":         d.SetService(0, lvs.Service{ServiceKey: k, Scheduler: "rr"}, nil, 0),
		"service id too big":   d.SetService(datapath.ServiceID(datapath.MaxServices), lvs.Service{ServiceKey: k, Scheduler: "rr"}, nil, 0),
		"real id 0":            d.SetReal(0, lvs.Real{Addr: rip(0, 80), Weight: 1}),
		"real id in a table":   d.SetService(1, lvs.Service{ServiceKey: k, Scheduler: "rr"}, []datapath.RealID{0}, 0),
		"real id out of range": d.ClearReal(datapath.RealID(datapath.MaxReals)),
	} {
		if !errors.Is(err, lvs.ErrRange) {
			t.Errorf("%s: %v, want ErrRange", name, err)
		}
	}
	if err := d.SetService(1, lvs.Service{ServiceKey: k, Scheduler: "nosuch"}, nil, 0); !errors.Is(err, lvs.ErrNoScheduler) {
		t.Errorf("unknown scheduler: %v", err)
	}
	if err := d.SetReal(1, lvs.Real{Addr: netip.MustParseAddrPort("[fe80::1%eth0]:80"), Weight: 1}); !errors.Is(err, lvs.ErrFamily) {
		t.Errorf("IPv6 real with a zone: %v", err)
	}
	if err := d.SetReal(1, lvs.Real{Addr: rip(0, 80), Weight: lvs.MaxWeight + 1}); !errors.Is(err, lvs.ErrRange) {
		t.Errorf("weight past MaxWeight: %v", err)
	}
}

func TestPrivilegedRestartAdoptsPinnedMaps(t *testing.T) {
	datapathtest.RequirePrivileged(t)
	n := datapathtest.NewNet(t)
	dir := datapathtest.PinDir(t)
	d, err := datapath.Open(datapath.Options{Logger: quiet, PinDir: dir, ConnTableSize: 2048})
	must(t, err)
	must(t, d.SetReal(1, lvs.Real{Addr: rip(0, 8080), Method: lvs.Masq, Weight: 1}))
	must(t, d.SetService(1, lvs.Service{ServiceKey: key(lvs.TCP, 80), Scheduler: "rr"}, []datapath.RealID{1}, 0))
	must(t, d.SetTimeouts(lvs.Timeouts{UDP: time.Minute}))
	send(t, n, d, synFrom(n, packet.TCP, 50000, vip(80), "S"))
	must(t, d.Close())

	d, err = datapath.Open(datapath.Options{Logger: quiet, PinDir: dir})
	must(t, err)
	defer d.Close()
	if d.ConnTableSize() != 2048 {
		t.Errorf("adopted conn table has %d entries, want 2048", d.ConnTableSize())
	}
	if _, err := datapathtest.FindConn(d, cli(50000), vip(80)); err != nil {
		t.Errorf("connection lost across the restart: %v", err)
	}
	if a, _, _ := d.RealConns(1); a != 1 {
		t.Errorf("ActiveConn %d after restart, want 1", a)
	}
	if to, _ := d.Timeouts(); to.UDP != time.Minute {
		t.Errorf("UDP timeout %v after restart, want the 1m set before", to.UDP)
	}
	// The adopted service still schedules.
	send(t, n, d, synFrom(n, packet.TCP, 50000, vip(80), "A"), synFrom(n, packet.TCP, 50001, vip(80), "S"))

	if _, err := datapath.Open(datapath.Options{Logger: quiet, PinDir: dir, ConnTableSize: 4096}); !errors.Is(err, datapath.ErrABIMismatch) {
		t.Errorf("other conn table size: %v, want ErrABIMismatch", err)
	}
}

func TestPrivilegedRefusesOtherABIVersion(t *testing.T) {
	datapathtest.RequirePrivileged(t)
	dir := datapathtest.PinDir(t)
	d, err := datapath.Open(datapath.Options{Logger: quiet, PinDir: dir})
	must(t, err)
	must(t, d.Close())
	// What a future lvsd would have left.
	other := filepath.Join(dir, "v99")
	must(t, os.MkdirAll(filepath.Join(other, "links"), 0o700)) // bpffs holds no regular files
	_, err = datapath.Open(datapath.Options{Logger: quiet, PinDir: dir})
	if !errors.Is(err, datapath.ErrABIMismatch) {
		t.Fatalf("open beside v99 pins: %v, want ErrABIMismatch", err)
	}
	t.Log(err)
}

func TestPrivilegedAttach(t *testing.T) {
	for _, hook := range []string{"tcx", "clsact"} {
		t.Run(hook, func(t *testing.T) {
			datapathtest.RequirePrivileged(t)
			n := datapathtest.NewNet(t)
			d, err := datapath.Open(datapath.Options{Logger: quiet, PinDir: datapathtest.PinDir(t)})
			must(t, err)
			attach := d.Attach
			if hook == "clsact" {
				attach = d.AttachClsactForTest
			}
			filters := func() int {
				var nf int
				n.Do(t, func() {
					l, err := netlink.LinkByName(n.Client.Name)
					must(t, err)
					fs, err := netlink.FilterList(l, netlink.HANDLE_MIN_INGRESS)
					if err != nil {
						return // no clsact qdisc
					}
					nf = len(fs)
				})
				return nf
			}
			n.Do(t, func() {
				must(t, attach(n.Client.Name))
				must(t, attach(n.Reals.Name))
				if err := attach(n.Client.Name); !errors.Is(err, datapath.ErrAttached) {
					t.Errorf("second attach: %v", err)
				}
				if err := attach("gltdp-none"); err == nil {
					t.Error("attach to a missing link worked")
				}
			})
			got := d.Attached()
			if got[n.Client.Name] != hook || got[n.Reals.Name] != hook {
				t.Errorf("attached %v, want %s on both links", got, hook)
			}
			if hook == "clsact" && filters() != 1 {
				t.Errorf("%d ingress filters, want 1", filters())
			}
			n.Do(t, func() { must(t, d.Detach(n.Reals.Name)) })
			if _, ok := d.Attached()[n.Reals.Name]; ok {
				t.Error("still attached after Detach")
			}
			n.Do(t, func() { must(t, d.Close()) })
			if filters() != 0 {
				t.Errorf("%d ingress filters left after Close", filters())
			}
		})
	}
}

// TestPrivilegedServices lists the services map, including one an earlier
// lvsd left behind, and checks that DeleteService leaves nothing of a
// service: neither its key nor a real in its scheduler table.
func TestPrivilegedServices(t *testing.T) {
	_, d := smallWorld(t, datapath.Options{})
	stale := key(lvs.TCP, 99)
	must(t, d.PutServiceForTest(7, stale))
	got, err := d.Services()
	must(t, err)
	want := map[lvs.ServiceKey]datapath.ServiceID{key(lvs.TCP, 80): 1, key(lvs.UDP, 53): 2, stale: 7}
	if len(got) != len(want) {
		t.Errorf("services %v, want %v", got, want)
	}
	for k, id := range want {
		if got[k] != id {
			t.Errorf("service %s: id %d, want %d", k, got[k], id)
		}
	}

	for _, s := range []struct {
		id datapath.ServiceID
		k  lvs.ServiceKey
	}{{7, stale}, {1, key(lvs.TCP, 80)}} {
		must(t, d.DeleteService(s.id, s.k))
		if n, _, err := d.TableRealsForTest(s.id); err != nil || n != 0 {
			t.Errorf("service %d: scheduler table of %d reals left after delete (%v)", s.id, n, err)
		}
	}
	if n, _, _ := d.TableRealsForTest(2); n != 1 {
		t.Errorf("service 2's scheduler table holds %d reals, want its 1", n)
	}
	got, err = d.Services()
	must(t, err)
	if len(got) != 1 || got[key(lvs.UDP, 53)] != 2 {
		t.Errorf("services after deletes %v, want only UDP :53", got)
	}
	// Deleting again is no error: the key is gone already.
	must(t, d.DeleteService(1, key(lvs.TCP, 80)))
}
