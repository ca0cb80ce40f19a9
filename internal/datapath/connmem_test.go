package datapath_test

import (
	"net/netip"
	"testing"

	"golvs/internal/datapath"
	"golvs/internal/datapath/datapathtest"
	"golvs/internal/lvs"
	"golvs/internal/packet"
)

// A connection entry holds its real by id (issue 6: 40 bytes a
// connection); the real's address, port and route come from per-real
// maps. These tests cover what that sharing could get wrong.

// TestPrivilegedRealEditKeepsConnMethod: a connection keeps the method it
// was made with when its real is edited (IPVS's cp->flags), and
// connections of both methods to one real share its route cache without
// a NAT lookup's answer lending a tunnel its outer source.
func TestPrivilegedRealEditKeepsConnMethod(t *testing.T) {
	const (
		sid datapath.ServiceID = 1
		rid datapath.RealID    = 1
	)
	v, r := ap(xVIP4, 90), rip4(0, 90)
	w := newXWorld(t, xsvc{sid, lvs.TCP, v, rid, lvs.Real{Addr: r, Method: lvs.Masq}})
	c1, c2 := ap(xCli4, 43001), ap(xCli4, 43002)
	tun := func(c netip.AddrPort, flags string) []byte {
		return w.tunnel(0, r.Addr(), packet.ProtoIPIP, 0, tcpIP(c, v, flags, 63, nil))
	}
	w.n.RunX(t, w.d, []datapathtest.XCase{
		func() datapathtest.XCase {
			x := xcase("NAT SYN", w.fromClient(tcpIP(c1, v, "S", 64, nil)), red, w.toReal(0, tcpIP(c1, r, "S", 63, nil)),
				datapathtest.Delta{Conns: conns(rid, [2]int{1, 0})})
			x.Check = connTo("SYN_RECV", c1, v, rid, r)
			return x
		}(),
		func() datapathtest.XCase {
			x := xcase("after an edit to TUN a new connection tunnels, from the director's address",
				w.fromClient(tcpIP(c2, v, "S", 64, nil)), red, tun(c2, "S"),
				datapathtest.Delta{Conns: conns(rid, [2]int{1, 0})})
			x.Setup = func(t testing.TB, d *datapath.Datapath) {
				must(t, d.SetReal(rid, lvs.Real{Addr: r, Method: lvs.Tunnel, Weight: 1}))
			}
			x.Check = connTo("SYN_RECV", c2, v, rid, r)
			return x
		}(),
		func() datapathtest.XCase {
			x := xcase("the NAT connection stays NAT", w.fromClient(tcpIP(c1, v, "A", 64, nil)), red,
				w.toReal(0, tcpIP(c1, r, "A", 63, nil)), datapathtest.Delta{Conns: conns(rid, [2]int{0, 0})})
			x.Check = connTo("ESTABLISHED", c1, v, rid, r)
			return x
		}(),
		func() datapathtest.XCase {
			x := xcase("and its replies are translated", w.fromReal(0, tcpIP(r, c1, "A", 64, nil)), red,
				w.toClient(tcpIP(v, c1, "A", 63, nil)), datapathtest.Delta{Services: map[datapath.ServiceID]lvs.Stats{sid: stats(0, 0, 0, 1, 40)}})
			x.Ifindex = w.n.Reals.Index
			return x
		}(),
		xcase("the TUN connection still tunnels after the NAT one's lookup", w.fromClient(tcpIP(c2, v, "A", 64, nil)), red,
			tun(c2, "A"), datapathtest.Delta{Conns: conns(rid, [2]int{0, 0})}),
	})
}

// TestPrivilegedRealIDReuse: a RealID given to another real (ClearReal,
// then SetReal) leaves nothing of the old real's route behind.
func TestPrivilegedRealIDReuse(t *testing.T) {
	const (
		sid datapath.ServiceID = 1
		rid datapath.RealID    = 1
	)
	v := ap(xVIP4, 90)
	w := newXWorld(t, xsvc{sid, lvs.TCP, v, rid, lvs.Real{Addr: rip4(0, 90), Method: lvs.Masq}})
	c1, c2 := ap(xCli4, 44001), ap(xCli4, 44002)
	cached := func(want bool) func(testing.TB, *datapath.Datapath) {
		return func(t testing.TB, d *datapath.Datapath) {
			t.Helper()
			got, err := d.RealRouteCachedForTest(rid)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("route of real %d cached: %v, want %v", rid, got, want)
			}
		}
	}
	w.n.RunX(t, w.d, []datapathtest.XCase{
		func() datapathtest.XCase {
			x := xcase("SYN to the first real", w.fromClient(tcpIP(c1, v, "S", 64, nil)), red,
				w.toReal(0, tcpIP(c1, rip4(0, 90), "S", 63, nil)), datapathtest.Delta{})
			x.Check = cached(true)
			return x
		}(),
		func() datapathtest.XCase {
			x := xcase("the id given to another real: its MAC, not the cached one",
				w.fromClient(tcpIP(c2, v, "S", 64, nil)), red, w.toReal(1, tcpIP(c2, rip4(1, 90), "S", 63, nil)),
				datapathtest.Delta{})
			x.Setup = func(t testing.TB, d *datapath.Datapath) {
				must(t, d.DeleteConnForTest(lvs.TCP, c1, v))
				must(t, d.ClearReal(rid))
				cached(false)(t, d)
				must(t, d.SetReal(rid, lvs.Real{Addr: rip4(1, 90), Method: lvs.Masq, Weight: 1}))
			}
			x.Check = connTo("SYN_RECV", c2, v, rid, rip4(1, 90))
			return x
		}(),
	})
}
