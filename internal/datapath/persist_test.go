package datapath_test

import (
	"net/netip"
	"testing"
	"time"

	"golvs/internal/datapath"
	"golvs/internal/datapath/datapathtest"
	"golvs/internal/lvs"
	"golvs/internal/packet"
)

// The persistence world, on top of newWorld's.
const (
	svcPersist datapath.ServiceID = 20 // TCP VIP:90 rr -p 300 -M 255.255.255.0 -> 30 31 32 (NAT :8080)
	svcPort0   datapath.ServiceID = 21 // TCP VIP:0 rr -p 300 -> 33 34 (NAT, port 0: keep)
	realP0     datapath.RealID    = 30
	realP1     datapath.RealID    = 31
	realP2     datapath.RealID    = 32
	realZ0     datapath.RealID    = 33
	realZ1     datapath.RealID    = 34
)

const persistTimeout = 300 * time.Second

var (
	clientA = datapathtest.ClientAddr             // 198.18.0.100
	clientB = netip.MustParseAddr("198.18.0.101") // A's /24
	clientC = netip.MustParseAddr("198.18.2.100") // another /24
	clientD = netip.MustParseAddr("198.18.3.100") // yet another
	netA    = netip.MustParseAddr("198.18.0.0")
	netC    = netip.MustParseAddr("198.18.2.0")
	netD    = netip.MustParseAddr("198.18.3.0")
)

func persistWorld(t *testing.T) *world {
	w := newWorld(t)
	for id, r := range map[datapath.RealID]lvs.Real{
		realP0: {Addr: rip(0, 8080), Method: lvs.Masq, Weight: 1},
		realP1: {Addr: rip(1, 8080), Method: lvs.Masq, Weight: 1},
		realP2: {Addr: rip(2, 8080), Method: lvs.Masq, Weight: 1},
		realZ0: {Addr: rip(0, 0), Method: lvs.Masq, Weight: 1},
		realZ1: {Addr: rip(1, 0), Method: lvs.Masq, Weight: 1},
	} {
		must(t, w.d.SetReal(id, r))
	}
	must(t, w.d.SetService(svcPersist, lvs.Service{ServiceKey: key(lvs.TCP, 90), Scheduler: "rr",
		Persistent: persistTimeout, Netmask: netip.MustParseAddr("255.255.255.0")},
		[]datapath.RealID{realP0, realP1, realP2}, 0))
	must(t, w.d.SetService(svcPort0, lvs.Service{ServiceKey: key(lvs.TCP, 0), Scheduler: "rr", Persistent: persistTimeout},
		[]datapath.RealID{realZ0, realZ1}, 0))
	return w
}

// from is a frame from client address a.
func (w *world) from(a netip.Addr, sport uint16, dst netip.AddrPort, flags string) packet.Frame {
	f := w.in(packet.TCP, sport, dst, flags)
	f.Src = netip.AddrPortFrom(a, sport)
	return f
}

// template returns the listed template <net:0, virtual>, failing the test
// when there is none.
func template(t testing.TB, d *datapath.Datapath, net netip.Addr, virtual netip.AddrPort) datapath.Conn {
	t.Helper()
	c, ok := findTemplate(t, d, net, virtual)
	if !ok {
		t.Fatalf("no template %s:0 -> %s", net, virtual)
	}
	return c
}

func findTemplate(t testing.TB, d *datapath.Datapath, net netip.Addr, virtual netip.AddrPort) (datapath.Conn, bool) {
	t.Helper()
	cs, err := d.Conns()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Template && c.Client == netip.AddrPortFrom(net, 0) && c.Virtual == virtual {
			return c, true
		}
	}
	return datapath.Conn{}, false
}

func persistConns(t testing.TB, d *datapath.Datapath, want map[datapath.RealID]uint32) {
	t.Helper()
	for id, w := range want {
		got, err := d.PersistConns(id)
		if err != nil {
			t.Fatal(err)
		}
		if got != w {
			t.Errorf("real %d PersistConn %d, want %d", id, got, w)
		}
	}
}

// TestPrivilegedPersistence follows IPVS's persistence (ref §4.6):
// templates keyed by the masked client, used before the scheduler, listed
// as -Lnc shows them, counted in PersistConn, re-armed by new connections,
// kept while they control connections, replaced when their real is gone.
func TestPrivilegedPersistence(t *testing.T) { bothPrograms(t, testPersistence) }

func testPersistence(t *testing.T) {
	w := persistWorld(t)
	red := datapath.VerdictRedirect
	v90 := vip(90)
	syn := func(a netip.Addr, p uint16) packet.Frame { return w.from(a, p, v90, "S") }
	to := func(f packet.Frame, i int) []byte { return w.toReal(f, i, rip(i, 8080)).Bytes() }
	tmplIs := func(net netip.Addr, real netip.AddrPort, state string) func(testing.TB, *datapath.Datapath) {
		return func(t testing.TB, d *datapath.Datapath) {
			t.Helper()
			c := template(t, d, net, v90)
			if c.Conn.Real != real || c.State != state || c.Protocol != lvs.TCP || c.Service != svcPersist {
				t.Errorf("template %+v, want real %s state %s", c, real, state)
			}
			if c.Expires <= persistTimeout-5*time.Second || c.Expires > persistTimeout {
				t.Errorf("template expires in %v, want about %v", c.Expires, persistTimeout)
			}
		}
	}
	one := [2]int{1, 0}

	cases := []datapathtest.Case{
		{
			Name: "first connection of client A is scheduled (rr: real 0) and makes a template",
			In:   syn(clientA, 40000).Bytes(), Verdict: red, Out: to(syn(clientA, 40000), 0),
			Want: datapathtest.Delta{Conns: conns(realP0, one, realP1, [2]int{}), Verdicts: verdicts("tmpl_new", 1, "tmpl_hit", 0)},
			Check: func(t testing.TB, d *datapath.Datapath) {
				tmplIs(netA, rip(0, 8080), "NONE")(t, d)
				persistConns(t, d, map[datapath.RealID]uint32{realP0: 1, realP1: 0, realP2: 0})
			},
		},
	}
	for i := range 5 {
		p := uint16(40001 + i)
		cases = append(cases, datapathtest.Case{
			Name: "client A's next connection keeps real 0",
			In:   syn(clientA, p).Bytes(), Verdict: red, Out: to(syn(clientA, p), 0),
			Want: datapathtest.Delta{Conns: conns(realP0, one, realP1, [2]int{}), Verdicts: verdicts("tmpl_new", 0, "tmpl_hit", 1)},
		})
	}
	cases = append(cases,
		datapathtest.Case{
			Name: "client B in A's /24 keeps real 0 too",
			In:   syn(clientB, 40000).Bytes(), Verdict: red, Out: to(syn(clientB, 40000), 0),
			Want: datapathtest.Delta{Conns: conns(realP0, one), Verdicts: verdicts("tmpl_hit", 1)},
			Check: func(t testing.TB, d *datapath.Datapath) {
				persistConns(t, d, map[datapath.RealID]uint32{realP0: 1})
			},
		},
		datapathtest.Case{
			Name: "client C in another /24 is scheduled: rr moves on to real 1",
			In:   syn(clientC, 40000).Bytes(), Verdict: red, Out: to(syn(clientC, 40000), 1),
			Want: datapathtest.Delta{Conns: conns(realP0, [2]int{}, realP1, one), Verdicts: verdicts("tmpl_new", 1)},
			Check: func(t testing.TB, d *datapath.Datapath) {
				tmplIs(netC, rip(1, 8080), "NONE")(t, d)
				persistConns(t, d, map[datapath.RealID]uint32{realP0: 1, realP1: 1})
			},
		},
		datapathtest.Case{
			Name: "ESTABLISHED makes the template ASSURED",
			In:   w.from(clientA, 40000, v90, "A").Bytes(), Verdict: red, Out: to(w.from(clientA, 40000, v90, "A"), 0),
			Want: datapathtest.Delta{Conns: conns(realP0, [2]int{})},
			Check: func(t testing.TB, d *datapath.Datapath) {
				tmplIs(netA, rip(0, 8080), "ASSURED")(t, d)
				state("ESTABLISHED", netip.AddrPortFrom(clientA, 40000), v90, realP0)(t, d)
			},
		},
		datapathtest.Case{
			Name: "a template to a quiesced real is still used",
			Setup: func(t testing.TB, d *datapath.Datapath) {
				must(t, d.SetReal(realP0, lvs.Real{Addr: rip(0, 8080), Method: lvs.Masq, Weight: 0}))
			},
			In: syn(clientB, 40001).Bytes(), Verdict: red, Out: to(syn(clientB, 40001), 0),
			Want: datapathtest.Delta{Conns: conns(realP0, one), Verdicts: verdicts("tmpl_hit", 1)},
		},
		datapathtest.Case{
			Name: "a new connection re-arms the template",
			Setup: func(t testing.TB, d *datapath.Datapath) {
				must(t, d.AgeTemplateForTest(lvs.TCP, netA, v90, 200*time.Second))
				if c := template(t, d, netA, v90); c.Expires > 101*time.Second {
					t.Fatalf("aged template expires in %v", c.Expires)
				}
			},
			In: syn(clientA, 40010).Bytes(), Verdict: red, Out: to(syn(clientA, 40010), 0),
			Check: tmplIs(netA, rip(0, 8080), "ASSURED"),
		},
		datapathtest.Case{
			Name: "a template to a retired real is replaced: scheduled afresh (rr: real 2)",
			Setup: func(t testing.TB, d *datapath.Datapath) {
				must(t, d.RetireReal(realP0))
			},
			In: syn(clientA, 40011).Bytes(), Verdict: red, Out: to(syn(clientA, 40011), 2),
			Want: datapathtest.Delta{Conns: conns(realP0, [2]int{}, realP2, one), Verdicts: verdicts("tmpl_new", 1, "tmpl_hit", 0)},
			Check: func(t testing.TB, d *datapath.Datapath) {
				tmplIs(netA, rip(2, 8080), "NONE")(t, d)
				persistConns(t, d, map[datapath.RealID]uint32{realP0: 0, realP2: 1})
			},
		},
		datapathtest.Case{
			Name: "and the replacement holds",
			In:   syn(clientB, 40012).Bytes(), Verdict: red, Out: to(syn(clientB, 40012), 2),
			Want: datapathtest.Delta{Conns: conns(realP2, one), Verdicts: verdicts("tmpl_hit", 1)},
		},
		datapathtest.Case{
			Name: "client D is scheduled (rr skips the retired real 0: real 1)",
			In:   syn(clientD, 40000).Bytes(), Verdict: red, Out: to(syn(clientD, 40000), 1),
			Want: datapathtest.Delta{Conns: conns(realP1, one), Verdicts: verdicts("tmpl_new", 1)},
			Check: func(t testing.TB, d *datapath.Datapath) {
				persistConns(t, d, map[datapath.RealID]uint32{realP1: 2})
			},
		},
	)
	w.n.Run(t, w.d, cases)
	d := w.d

	t.Run("expired template controlling nothing is absent and swept", func(t *testing.T) {
		// D's only connection expires and is swept: the template controls nothing.
		must(t, d.AgeConnForTest(lvs.TCP, netip.AddrPortFrom(clientD, 40000), v90, time.Hour))
		if _, err := d.Sweep(); err != nil {
			t.Fatal(err)
		}
		template(t, d, netD, v90) // still live: persistence outlasts the connection
		persistConns(t, d, map[datapath.RealID]uint32{realP1: 2})
		must(t, d.AgeTemplateForTest(lvs.TCP, netD, v90, time.Hour))
		if _, ok := findTemplate(t, d, netD, v90); ok {
			t.Error("expired template listed")
		}
		before, _ := d.TemplateEntriesForTest()
		if _, err := d.Sweep(); err != nil {
			t.Fatal(err)
		}
		after, _ := d.TemplateEntriesForTest()
		if after != before-1 {
			t.Errorf("templates %d -> %d after the sweep, want one fewer", before, after)
		}
		persistConns(t, d, map[datapath.RealID]uint32{realP1: 1})
	})

	t.Run("expired template controlling a live connection is extended, not removed", func(t *testing.T) {
		must(t, d.AgeTemplateForTest(lvs.TCP, netC, v90, time.Hour))
		c := template(t, d, netC, v90) // listed with the time to its extension
		if c.Expires <= 0 || c.Expires > 60*time.Second {
			t.Errorf("controlling template expires in %v, want within 60s", c.Expires)
		}
		if _, err := d.Sweep(); err != nil {
			t.Fatal(err)
		}
		c = template(t, d, netC, v90)
		if c.Expires <= 0 || c.Expires > 60*time.Second {
			t.Errorf("extended template expires in %v, want within 60s", c.Expires)
		}
		persistConns(t, d, map[datapath.RealID]uint32{realP1: 1})
		// It still places C's new connections.
		f := syn(clientC, 40001)
		w.n.RunCase(t, d, datapathtest.Case{In: f.Bytes(), Verdict: red, Out: to(f, 1),
			Want: datapathtest.Delta{Verdicts: verdicts("tmpl_hit", 1)}})
	})

	t.Run("deleting the service removes its templates", func(t *testing.T) {
		must(t, d.DeleteService(svcPersist, key(lvs.TCP, 90)))
		for _, n := range []netip.Addr{netA, netC} {
			if _, ok := findTemplate(t, d, n, v90); ok {
				t.Errorf("template %s still listed", n)
			}
		}
		persistConns(t, d, map[datapath.RealID]uint32{realP0: 0, realP1: 0, realP2: 0})
	})

	t.Run("counters exact after a flush", func(t *testing.T) {
		if _, err := d.FlushConns(); err != nil {
			t.Fatal(err)
		}
		for _, id := range []datapath.RealID{realP0, realP1, realP2} {
			a, i, err := d.RealConns(id)
			if err != nil {
				t.Fatal(err)
			}
			if a != 0 || i != 0 {
				t.Errorf("real %d ActiveConn %d InActConn %d after the flush", id, a, i)
			}
		}
		if n, _ := d.TemplateEntriesForTest(); n != 0 {
			t.Errorf("%d templates after the flush", n)
		}
	})
}

// TestPrivilegedPersistencePortZero: a persistent port-zero service takes
// every port of its VIP without a service of its own, keeps the packet's
// port, and pins the client across ports with one vport-0 template.
func TestPrivilegedPersistencePortZero(t *testing.T) { bothPrograms(t, testPersistencePortZero) }

func testPersistencePortZero(t *testing.T) {
	w := persistWorld(t)
	red := datapath.VerdictRedirect
	syn := func(p, dport uint16) packet.Frame { return w.in(packet.TCP, p, vip(dport), "S") }

	w.n.Run(t, w.d, []datapathtest.Case{
		{
			Name: "port 7777 goes to the port-zero service, port kept",
			In:   syn(41000, 7777).Bytes(), Verdict: red, Out: w.toReal(syn(41000, 7777), 0, rip(0, 7777)).Bytes(),
			Want: datapathtest.Delta{Conns: conns(realZ0, [2]int{1, 0}), Verdicts: verdicts("tmpl_new", 1)},
			Check: func(t testing.TB, d *datapath.Datapath) {
				c := template(t, d, clientA, vip(0))
				if c.Conn.Real != rip(0, 0) || c.State != "NONE" || c.Service != svcPort0 {
					t.Errorf("template %+v", c)
				}
				state("SYN_RECV", cli(41000), vip(7777), realZ0)(t, d)
				if c, err := datapathtest.FindConn(d, cli(41000), vip(7777)); err != nil || c.Conn.Real != rip(0, 7777) {
					t.Errorf("connection %+v (%v), want its real at %s", c, err, rip(0, 7777))
				}
				persistConns(t, d, map[datapath.RealID]uint32{realZ0: 1, realZ1: 0})
			},
		},
		{
			Name: "port 8888 from the same client: same real (one template for all ports), port kept",
			In:   syn(41001, 8888).Bytes(), Verdict: red, Out: w.toReal(syn(41001, 8888), 0, rip(0, 8888)).Bytes(),
			Want: datapathtest.Delta{Conns: conns(realZ0, [2]int{1, 0}, realZ1, [2]int{}), Verdicts: verdicts("tmpl_hit", 1, "tmpl_new", 0)},
			Check: func(t testing.TB, d *datapath.Datapath) {
				persistConns(t, d, map[datapath.RealID]uint32{realZ0: 1, realZ1: 0})
			},
		},
		{
			Name: "a port with its own service still goes there",
			In:   syn(41002, 80).Bytes(), Verdict: red, Out: w.toReal(syn(41002, 80), 0, rip(0, 8080)).Bytes(),
			Want: datapathtest.Delta{Conns: conns(realNAT1, [2]int{1, 0}, realZ0, [2]int{})},
		},
		{
			Name: "another client /32 is scheduled (rr: real 1)",
			In:   w.from(clientB, 41000, vip(7777), "S").Bytes(), Verdict: red,
			Out:  w.toReal(w.from(clientB, 41000, vip(7777), "S"), 1, rip(1, 7777)).Bytes(),
			Want: datapathtest.Delta{Conns: conns(realZ1, [2]int{1, 0}), Verdicts: verdicts("tmpl_new", 1)},
		},
	})
	must(t, w.d.DeleteService(svcPort0, key(lvs.TCP, 0)))
	persistConns(t, w.d, map[datapath.RealID]uint32{realZ0: 0, realZ1: 0})
	f := syn(41003, 7777)
	w.n.RunCase(t, w.d, datapathtest.Case{Name: "after the delete the port is not ours", In: f.Bytes(), Verdict: datapath.VerdictOK,
		Want: datapathtest.Delta{Verdicts: verdicts("pass_no_service", 1)}})
}

// TestPrivilegedReuseDropsUnassuredTemplate: a connection reused by a new
// SYN (conn_reuse_mode) is expired on purpose; when it was the last one of
// a template that never became ASSURED, the template goes with it and the
// client is scheduled afresh (ip_vs_conn_expire). An ASSURED template stays.
func TestPrivilegedReuseDropsUnassuredTemplate(t *testing.T) {
	bothPrograms(t, testReuseDropsUnassuredTemplate)
}

func testReuseDropsUnassuredTemplate(t *testing.T) {
	w := persistWorld(t)
	red := datapath.VerdictRedirect
	v90 := vip(90)
	syn := func(a netip.Addr, p uint16) packet.Frame { return w.from(a, p, v90, "S") }
	to := func(f packet.Frame, i int) []byte { return w.toReal(f, i, rip(i, 8080)).Bytes() }
	closeConn := func(a netip.Addr, p uint16) func(testing.TB, *datapath.Datapath) {
		return func(t testing.TB, d *datapath.Datapath) {
			must(t, d.SetConnStateForTest(lvs.TCP, netip.AddrPortFrom(a, p), v90, lvs.StateClose))
		}
	}
	w.n.Run(t, w.d, []datapathtest.Case{
		{
			Name: "client A's first connection: real 0, template NONE",
			In:   syn(clientA, 41000).Bytes(), Verdict: red, Out: to(syn(clientA, 41000), 0),
		},
		{
			Name:  "its connection failed (CLOSE); a new SYN on the same tuple drops the unassured template and rr moves on to real 1",
			Setup: closeConn(clientA, 41000),
			In:    syn(clientA, 41000).Bytes(), Verdict: red, Out: to(syn(clientA, 41000), 1),
			Want: datapathtest.Delta{Verdicts: verdicts("tmpl_new", 1, "tmpl_hit", 0)},
			Check: func(t testing.TB, d *datapath.Datapath) {
				if c := template(t, d, netA, v90); c.Conn.Real != rip(1, 8080) || c.State != "NONE" {
					t.Errorf("template after the reuse: %+v, want a new one to real 1", c)
				}
				persistConns(t, d, map[datapath.RealID]uint32{realP0: 0, realP1: 1})
			},
		},
		{
			Name: "client A's connection becomes ESTABLISHED: the template is ASSURED",
			In:   w.from(clientA, 41000, v90, "A").Bytes(), Verdict: red, Out: w.toReal(w.from(clientA, 41000, v90, "A"), 1, rip(1, 8080)).Bytes(),
			Check: func(t testing.TB, d *datapath.Datapath) {
				if c := template(t, d, netA, v90); c.State != "ASSURED" {
					t.Errorf("template state %s, want ASSURED", c.State)
				}
			},
		},
		{
			Name:  "a reuse of an ASSURED template's connection keeps the template (real 1)",
			Setup: closeConn(clientA, 41000),
			In:    syn(clientA, 41000).Bytes(), Verdict: red, Out: to(syn(clientA, 41000), 1),
			Want: datapathtest.Delta{Verdicts: verdicts("tmpl_new", 0, "tmpl_hit", 1)},
		},
	})
}
