package datapathtest

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"testing"

	"golvs/internal/datapath"
	"golvs/internal/lvs"
	"golvs/internal/packet"
	"golvs/internal/sched"
)

// World is the data plane the packet fixtures run against: a Net and a
// data plane holding the services and reals below, written with
// datapath.Plan through Apply as the engine writes them. The datapath
// package's fixture tests and the data-plane benchmark share it, so that
// the fixtures a benchmark times are the ones the tests check (Fixtures).
type World struct {
	Net      *Net
	Datapath *datapath.Datapath
	// reals and services are what NewWorld wrote, for the fixtures'
	// expected frames and for Reset.
	reals    map[datapath.RealID]lvs.Real
	services map[datapath.ServiceID]datapath.ServiceUpdate
}

// The services of a World, on the VIP. Reals 6..15 are named by their
// number.
const (
	SvcNAT    datapath.ServiceID = 1  // TCP VIP:80 rr -> reals 1, 2 (NAT, port 8080)
	SvcDR     datapath.ServiceID = 2  // TCP VIP:443 rr -> reals 3, 4 (DR)
	SvcUDP    datapath.ServiceID = 3  // UDP VIP:53 rr -> real 5 (NAT, port 5353)
	SvcWRR    datapath.ServiceID = 4  // TCP VIP:82 wrr sequence 6 7 6 6
	SvcLC     datapath.ServiceID = 5  // TCP VIP:83 lc over 8 9 10
	SvcWLC    datapath.ServiceID = 6  // TCP VIP:84 wlc over 11 12 13
	SvcQuiet  datapath.ServiceID = 7  // TCP VIP:85 rr over 14 (weight 0), 15
	SvcEmpty  datapath.ServiceID = 8  // TCP VIP:86, no reals
	SvcOdd    datapath.ServiceID = 9  // TCP VIP:87 rr -> 16 (NAT, no neighbour), 17 (NAT, unrouted)
	SvcDROdd  datapath.ServiceID = 10 // TCP VIP:88 rr -> 18 (DR, unrouted)
	SvcDRUDP  datapath.ServiceID = 11 // UDP VIP:54 -> 19 (DR)
	SvcIPIP   datapath.ServiceID = 12 // TCP VIP:8001 rr -> 100 (IPIP)
	SvcGUE    datapath.ServiceID = 13 // TCP VIP:8002 rr -> 101 (GUE, port 6080)
	SvcGRE    datapath.ServiceID = 14 // TCP VIP:8003 rr -> 102 (GRE)
	RealNAT1  datapath.RealID    = 1
	RealNAT2  datapath.RealID    = 2
	RealDR1   datapath.RealID    = 3
	RealDR2   datapath.RealID    = 4
	RealUDP   datapath.RealID    = 5
	RealNoNbr datapath.RealID    = 16
	RealUnrt  datapath.RealID    = 17
	RealDRUnr datapath.RealID    = 18
	RealDRUDP datapath.RealID    = 19
	RealIPIP  datapath.RealID    = 100
	RealGUE   datapath.RealID    = 101
	RealGRE   datapath.RealID    = 102
)

// GUEPort is the GUE real's destination port.
const GUEPort = 6080

// SchedService is one service of a World's new-flow fixtures, one per
// scheduler family: NAT over Reals reals of weights 1-4, with ids from
// FirstReal on.
type SchedService struct {
	ID        datapath.ServiceID
	Port      uint16
	Scheduler string
	Reals     int
	FirstReal datapath.RealID
}

// SchedServices are a World's services of the new-flow fixtures beyond
// SvcNAT (rr over 2 reals). The table schedulers pick with one lookup
// whatever the number of reals; lc and wlc walk every real.
var SchedServices = []SchedService{
	{40, 8010, "wrr", 16, 200},
	{41, 8011, "sh", 16, 220},
	{42, 8012, "mh", 16, 240},
	{43, 8020, "lc", 2, 260},
	{44, 8021, "lc", 16, 270},
	{45, 8022, "lc", 128, 300},
	{46, 8030, "wlc", 2, 430},
	{47, 8031, "wlc", 16, 440},
	{48, 8032, "wlc", 128, 460},
}

// ClientPort is the client's source port in every fixture of Fixtures.
const ClientPort uint16 = 40000

// NewWorld makes a Net and a data plane with opts (pinned in PinDir when
// opts has no PinDir) holding the World's services, all gone when the
// test ends.
func NewWorld(t testing.TB, opts datapath.Options) *World {
	t.Helper()
	RequirePrivileged(t)
	w := &World{Net: NewNet(t), Datapath: Open(t, opts),
		reals: map[datapath.RealID]lvs.Real{}, services: map[datapath.ServiceID]datapath.ServiceUpdate{}}
	rip := func(i int, port uint16) netip.AddrPort { return netip.AddrPortFrom(RealAddrs[i], port) }
	masq := func(a netip.AddrPort, weight int) lvs.Real {
		return lvs.Real{Addr: a, Method: lvs.Masq, Weight: weight}
	}
	route := func(a netip.AddrPort) lvs.Real { return lvs.Real{Addr: a, Method: lvs.Route, Weight: 1} }
	tun := func(a netip.AddrPort, typ lvs.TunnelType) lvs.Real {
		r := lvs.Real{Addr: a, Method: lvs.Tunnel, Weight: 1, TunType: typ}
		if typ == lvs.TunGUE {
			r.TunPort = GUEPort
		}
		return r
	}
	for id, r := range map[datapath.RealID]lvs.Real{
		RealNAT1:  masq(rip(0, 8080), 1),
		RealNAT2:  masq(rip(1, 8080), 1),
		RealDR1:   route(rip(0, 443)),
		RealDR2:   route(rip(1, 443)),
		RealUDP:   masq(rip(2, 5353), 1),
		6:         masq(rip(0, 9006), 3),
		7:         masq(rip(1, 9007), 1),
		8:         masq(rip(0, 9008), 1),
		9:         masq(rip(1, 9009), 1),
		10:        masq(rip(2, 9010), 1),
		11:        masq(rip(0, 9011), 1),
		12:        masq(rip(1, 9012), 3),
		13:        masq(rip(2, 9013), 0),
		14:        masq(rip(0, 9014), 0),
		15:        masq(rip(1, 9015), 1),
		RealNoNbr: masq(netip.AddrPortFrom(NoNeighAddr, 8080), 1),
		RealUnrt:  masq(netip.AddrPortFrom(Unrouted, 8080), 1),
		RealDRUnr: {Addr: netip.AddrPortFrom(Unrouted, 88), Method: lvs.Route, Weight: 1},
		RealDRUDP: route(rip(2, 54)),
		RealIPIP:  tun(rip(1, 8001), lvs.TunIPIP),
		RealGUE:   tun(rip(2, 8002), lvs.TunGUE),
		RealGRE:   tun(rip(2, 8003), lvs.TunGRE),
	} {
		w.reals[id] = r
	}
	service := func(id datapath.ServiceID, p lvs.Protocol, port uint16, s string, table ...datapath.RealID) {
		w.services[id] = datapath.ServiceUpdate{ID: id, Table: table, Service: lvs.Service{
			ServiceKey: lvs.ServiceKey{Protocol: p, Addr: netip.AddrPortFrom(VIP, port)}, Scheduler: s}}
	}
	service(SvcNAT, lvs.TCP, 80, "rr", RealNAT1, RealNAT2)
	service(SvcDR, lvs.TCP, 443, "rr", RealDR1, RealDR2)
	service(SvcUDP, lvs.UDP, 53, "rr", RealUDP)
	service(SvcWRR, lvs.TCP, 82, "wrr", 6, 7, 6, 6)
	service(SvcLC, lvs.TCP, 83, "lc", 8, 9, 10)
	service(SvcWLC, lvs.TCP, 84, "wlc", 11, 12, 13)
	service(SvcQuiet, lvs.TCP, 85, "rr", 14, 15)
	service(SvcEmpty, lvs.TCP, 86, "wlc")
	service(SvcOdd, lvs.TCP, 87, "rr", RealNoNbr, RealUnrt)
	service(SvcDROdd, lvs.TCP, 88, "rr", RealDRUnr)
	service(SvcDRUDP, lvs.UDP, 54, "rr", RealDRUDP)
	service(SvcIPIP, lvs.TCP, 8001, "rr", RealIPIP)
	service(SvcGUE, lvs.TCP, 8002, "rr", RealGUE)
	service(SvcGRE, lvs.TCP, 8003, "rr", RealGRE)
	for _, s := range SchedServices {
		// Tables as the engine builds them: sched.Table over the reals
		// in IPVS list order, mapped to their ids.
		ids := make([]datapath.RealID, s.Reals)
		dests := make([]sched.Dest, s.Reals)
		for i := range ids {
			ids[i] = s.FirstReal + datapath.RealID(i)
			r := masq(rip(int(ids[i])%3, uint16(9000+int(ids[i]))), 1+i%4)
			w.reals[ids[i]] = r
			dests[i] = sched.Dest{Addr: r.Addr, Weight: r.Weight, LastWeight: r.Weight}
		}
		var table []datapath.RealID
		for _, j := range sched.Table(s.Scheduler, 0, dests) {
			if j == sched.Empty {
				table = append(table, 0)
			} else {
				table = append(table, ids[j])
			}
		}
		service(s.ID, lvs.TCP, s.Port, s.Scheduler, table...)
	}

	var p datapath.Plan
	for _, id := range slices.Sorted(maps.Keys(w.reals)) {
		p.SetReals = append(p.SetReals, datapath.RealUpdate{ID: id, Real: w.reals[id]})
	}
	for _, id := range slices.Sorted(maps.Keys(w.services)) {
		p.Services = append(p.Services, w.services[id])
	}
	if _, err := w.Datapath.Apply(p); err != nil {
		t.Fatalf("set up the world's services: %v", err)
	}
	return w
}

// Reset writes services ids again as NewWorld wrote them: a round robin
// starts over at the first real of its table.
func (w *World) Reset(t testing.TB, ids ...datapath.ServiceID) {
	t.Helper()
	var p datapath.Plan
	for _, id := range ids {
		u, ok := w.services[id]
		if !ok {
			t.Fatalf("reset service %d: not in the world", id)
		}
		p.Services = append(p.Services, u)
	}
	if _, err := w.Datapath.Apply(p); err != nil {
		t.Fatalf("reset services %v: %v", ids, err)
	}
}

// Real returns real id as NewWorld wrote it.
func (w *World) Real(id datapath.RealID) lvs.Real { return w.reals[id] }

// VIP returns the VIP's address with port.
func (w *World) VIP(port uint16) netip.AddrPort { return netip.AddrPortFrom(VIP, port) }

// Client returns the client's address with port.
func (w *World) Client(port uint16) netip.AddrPort { return netip.AddrPortFrom(ClientAddr, port) }

// In is a frame from the client's sport to dst, as it reaches the
// director.
func (w *World) In(proto int, sport uint16, dst netip.AddrPort, flags string) packet.Frame {
	return packet.Frame{
		SrcMAC: ClientMAC, DstMAC: w.Net.Client.MAC,
		Src: w.Client(sport), Dst: dst, Proto: proto, Flags: flags,
	}
}

// ToReal is f as the director sends it to the real at RealAddrs[i]: NAT
// rewrites the destination to to (DR passes a zero to), TTL-1, MACs of
// the reals' link.
func (w *World) ToReal(f packet.Frame, i int, to netip.AddrPort) packet.Frame {
	if to.IsValid() {
		f.Dst = to
	}
	f.SrcMAC, f.DstMAC = w.Net.Reals.MAC, RealMACs[i]
	f.TTL = 63
	return f
}

// Reply is a frame from the real at RealAddrs[i] (from) back to the
// client's cport.
func (w *World) Reply(proto int, i int, from netip.AddrPort, cport uint16, flags string) packet.Frame {
	return packet.Frame{
		SrcMAC: RealMACs[i], DstMAC: w.Net.Reals.MAC,
		Src: from, Dst: w.Client(cport), Proto: proto, Flags: flags,
	}
}

// ToClient is a NAT reply f as the director sends it on.
func (w *World) ToClient(f packet.Frame, from netip.AddrPort) packet.Frame {
	f.Src = from
	f.SrcMAC, f.DstMAC = w.Net.Client.MAC, ClientMAC
	f.TTL = 63
	return f
}

// macIndex is the index in RealAddrs (and RealMACs) of a.
func macIndex(a netip.Addr) int {
	i := slices.Index(RealAddrs, a)
	if i < 0 {
		panic(fmt.Sprintf("datapathtest: %s is not one of RealAddrs", a))
	}
	return i
}

// WantConn returns a Check that the connection client -> virtual is in
// state want, on real when real is not 0.
func WantConn(want string, client, virtual netip.AddrPort, real datapath.RealID) func(testing.TB, *datapath.Datapath) {
	return func(t testing.TB, d *datapath.Datapath) {
		t.Helper()
		c, err := FindConn(d, client, virtual)
		if err != nil {
			t.Fatal(err)
		}
		if c.State != want {
			t.Errorf("state %s, want %s", c.State, want)
		}
		if real != 0 && c.Real != real {
			t.Errorf("real %d, want %d", c.Real, real)
		}
	}
}
