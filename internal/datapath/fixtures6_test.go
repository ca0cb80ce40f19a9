package datapath_test

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"golvs/internal/datapath"
	"golvs/internal/datapath/datapathtest"
	"golvs/internal/lvs"
	"golvs/internal/packet"
)

// The fixtures of this file cover what the IPv4 world of fixtures_test.go
// does not: IPv6, tunnels, path MTU answers, ICMP errors and fragments.
// Every expected frame is built header by header with internal/packet,
// whose checksums are computed over whole packets, and every output is
// checked with packet.VerifyFrame, so a wrong incremental checksum update
// in the data plane shows either way.

// xworld is one namespace (with IPv6 and a narrow link) and a data plane
// with the services a test gives it.
type xworld struct {
	n      *datapathtest.Net
	d      *datapath.Datapath
	narrow datapathtest.Link
}

// xsvc is a service with a single real.
type xsvc struct {
	id    datapath.ServiceID
	proto lvs.Protocol
	vip   netip.AddrPort
	real  datapath.RealID
	r     lvs.Real
}

func newXWorld(t *testing.T, svcs ...xsvc) *xworld {
	datapathtest.RequirePrivileged(t)
	w := &xworld{n: datapathtest.NewNet(t), d: datapathtest.Open(t, datapath.Options{ConnTableSize: 4096})}
	w.n.AddIPv6(t)
	w.narrow = w.n.AddNarrowLink(t, true)
	useXDP(t, w.n, w.d, w.n.Client.Index, w.n.Reals.Index, w.narrow.Index)
	for _, s := range svcs {
		if s.r.Weight == 0 {
			s.r.Weight = 1
		}
		must(t, w.d.SetReal(s.real, s.r))
		must(t, w.d.SetService(s.id, lvs.Service{ServiceKey: lvs.ServiceKey{Protocol: s.proto, Addr: s.vip}, Scheduler: "rr"},
			[]datapath.RealID{s.real}, 0))
	}
	return w
}

// Addresses of the IPv4 and IPv6 halves.
var (
	xVIP4  = datapathtest.VIP
	xVIP6  = datapathtest.VIP6
	xCli4  = datapathtest.ClientAddr
	xCli6  = datapathtest.ClientAddr6
	xDIP4  = netip.MustParseAddr("198.18.1.1") // the director on the reals' link
	xDIP6  = datapathtest.RealsPrefix6.Addr()
	xRtr4  = netip.MustParseAddr("198.18.1.254") // a router on the reals' link
	xRtr6  = netip.MustParseAddr("2001:db8:1::fe")
	rtrMAC = net.HardwareAddr{0x02, 0, 0xc6, 0x12, 0x01, 0xfe}
)

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }
func rip4(i int, port uint16) netip.AddrPort      { return ap(datapathtest.RealAddrs[i], port) }
func rip6(i int, port uint16) netip.AddrPort      { return ap(datapathtest.RealAddrs6[i], port) }

// hdr is an IP header of either family; TTL 0 means 64. IPv4 headers
// carry DF unless noDF.
type hdr struct {
	src, dst netip.Addr
	proto    uint8
	ttl, tos uint8
	noDF     bool
	id       uint16
}

func (h hdr) v4() packet.IPv4 {
	return packet.IPv4{Src: h.src, Dst: h.dst, Proto: h.proto, TTL: h.ttl, TOS: h.tos, DF: !h.noDF, ID: h.id}
}

func (h hdr) v6() packet.IPv6 {
	return packet.IPv6{Src: h.src, Dst: h.dst, NextHdr: h.proto, HopLimit: h.ttl, TClass: h.tos}
}

func (h hdr) wrap(payload []byte) []byte {
	if h.src.Is4() {
		return h.v4().Wrap(payload)
	}
	return h.v6().Wrap(payload)
}

// tcpIP and udpIP are whole IP packets from src to dst.
func tcpIP(src, dst netip.AddrPort, flags string, ttl uint8, payload []byte) []byte {
	return hdr{src: src.Addr(), dst: dst.Addr(), proto: packet.ProtoTCP, ttl: ttl}.wrap(packet.TCPSeg(src, dst, flags, payload))
}

func udpIP(src, dst netip.AddrPort, ttl uint8, payload []byte) []byte {
	return hdr{src: src.Addr(), dst: dst.Addr(), proto: packet.ProtoUDP, ttl: ttl}.wrap(packet.UDPDgram(src, dst, payload, true))
}

// Frames on the links of w.
func (w *xworld) fromClient(ip []byte) []byte {
	return packet.Ether(datapathtest.ClientMAC, w.n.Client.MAC, ip)
}

func (w *xworld) toClient(ip []byte) []byte {
	return packet.Ether(w.n.Client.MAC, datapathtest.ClientMAC, ip)
}

func (w *xworld) toReal(i int, ip []byte) []byte {
	return packet.Ether(w.n.Reals.MAC, datapathtest.RealMACs[i], ip)
}

func (w *xworld) fromReal(i int, ip []byte) []byte {
	return packet.Ether(datapathtest.RealMACs[i], w.n.Reals.MAC, ip)
}

func (w *xworld) toNarrow(ip []byte) []byte {
	return packet.Ether(w.narrow.MAC, datapathtest.NarrowRealMAC, ip)
}

// xcase is a datapathtest.XCase in fewer words.
func xcase(name string, in []byte, verdict int, out []byte, want datapathtest.Delta) datapathtest.XCase {
	return datapathtest.XCase{Case: datapathtest.Case{Name: name, In: in, Verdict: verdict, Out: out, Want: want}}
}

// connTo checks the connection client -> virtual: its state, real id and
// the real's address as the table holds it.
func connTo(st string, client, virtual netip.AddrPort, real datapath.RealID, raddr netip.AddrPort) func(testing.TB, *datapath.Datapath) {
	return func(t testing.TB, d *datapath.Datapath) {
		t.Helper()
		c, err := datapathtest.FindConn(d, client, virtual)
		if err != nil {
			t.Fatal(err)
		}
		if c.State != st {
			t.Errorf("state %s, want %s", c.State, st)
		}
		if c.Real != real {
			t.Errorf("real %d, want %d", c.Real, real)
		}
		if c.Conn.Real != raddr {
			t.Errorf("real address %s, want %s", c.Conn.Real, raddr)
		}
	}
}

func stats(conns, inPkts, inBytes, outPkts, outBytes int) lvs.Stats {
	return lvs.Stats{Conns: uint64(conns), InPkts: uint64(inPkts), InBytes: uint64(inBytes), OutPkts: uint64(outPkts), OutBytes: uint64(outBytes)}
}

const (
	red  = datapath.VerdictRedirect
	pass = datapath.VerdictOK
	shot = datapath.VerdictShot
)

// TestPrivilegedIPv6NATAndDR: IPv6 NAT in both directions for TCP and
// UDP, and IPv6 DR.
func TestPrivilegedIPv6NATAndDR(t *testing.T) { bothPrograms(t, testIPv6NATAndDR) }

func testIPv6NATAndDR(t *testing.T) {
	const (
		svcTCP, svcUDP, svcDR    datapath.ServiceID = 1, 2, 3
		realTCP, realUDP, realDR datapath.RealID    = 1, 2, 3
	)
	w := newXWorld(t,
		xsvc{svcTCP, lvs.TCP, ap(xVIP6, 80), realTCP, lvs.Real{Addr: rip6(0, 8080), Method: lvs.Masq}},
		xsvc{svcUDP, lvs.UDP, ap(xVIP6, 53), realUDP, lvs.Real{Addr: rip6(2, 5353), Method: lvs.Masq}},
		xsvc{svcDR, lvs.TCP, ap(xVIP6, 443), realDR, lvs.Real{Addr: rip6(1, 443), Method: lvs.Route}},
	)
	c, v, r := ap(xCli6, 40001), ap(xVIP6, 80), rip6(0, 8080)
	payload := []byte("GET / HTTP/1.0\r\n\r\n")
	cases := []datapathtest.XCase{
		func() datapathtest.XCase {
			x := xcase("NAT SYN: destination rewritten to the real, hop limit 63",
				w.fromClient(tcpIP(c, v, "S", 64, nil)), red, w.toReal(0, tcpIP(c, r, "S", 63, nil)),
				datapathtest.Delta{
					Services: map[datapath.ServiceID]lvs.Stats{svcTCP: stats(1, 1, 60, 0, 0)},
					Reals:    map[datapath.RealID]lvs.Stats{realTCP: stats(1, 1, 60, 0, 0)},
					Conns:    conns(realTCP, [2]int{1, 0}),
					Verdicts: verdicts("fwd_redirect", 1),
				})
			x.Check = connTo("SYN_RECV", c, v, realTCP, r)
			return x
		}(),
		func() datapathtest.XCase {
			x := xcase("NAT reply SYN+ACK: source back to the VIP",
				w.fromReal(0, tcpIP(r, c, "SA", 64, nil)), red, w.toClient(tcpIP(v, c, "SA", 63, nil)),
				datapathtest.Delta{Services: map[datapath.ServiceID]lvs.Stats{svcTCP: stats(0, 0, 0, 1, 60)}})
			x.Ifindex = w.n.Reals.Index
			x.Check = connTo("SYN_RECV", c, v, realTCP, r)
			return x
		}(),
		func() datapathtest.XCase {
			x := xcase("NAT data from the client: established, payload untouched",
				w.fromClient(tcpIP(c, v, "PA", 64, payload)), red, w.toReal(0, tcpIP(c, r, "PA", 63, payload)),
				datapathtest.Delta{Services: map[datapath.ServiceID]lvs.Stats{svcTCP: stats(0, 1, 60+len(payload), 0, 0)}})
			x.Check = connTo("ESTABLISHED", c, v, realTCP, r)
			return x
		}(),
		func() datapathtest.XCase {
			x := xcase("NAT reply data",
				w.fromReal(0, tcpIP(r, c, "PA", 64, payload)), red, w.toClient(tcpIP(v, c, "PA", 63, payload)),
				datapathtest.Delta{Services: map[datapath.ServiceID]lvs.Stats{svcTCP: stats(0, 0, 0, 1, 60+len(payload))}})
			x.Ifindex = w.n.Reals.Index
			return x
		}(),
		xcase("NAT SYN with hop limit 1 passes", w.fromClient(tcpIP(ap(xCli6, 40002), v, "S", 1, nil)), pass, nil,
			datapathtest.Delta{Verdicts: verdicts("pass_ttl", 1)}),
		func() datapathtest.XCase {
			uc, uv, ur := ap(xCli6, 42000), ap(xVIP6, 53), rip6(2, 5353)
			x := xcase("UDP NAT: destination rewritten, checksum fixed",
				w.fromClient(udpIP(uc, uv, 64, []byte("query"))), red, w.toReal(2, udpIP(uc, ur, 63, []byte("query"))),
				datapathtest.Delta{
					Services: map[datapath.ServiceID]lvs.Stats{svcUDP: stats(1, 1, 53, 0, 0)},
					Conns:    conns(realUDP, [2]int{0, 1}),
				})
			x.Check = connTo("UDP", uc, uv, realUDP, ur)
			return x
		}(),
		func() datapathtest.XCase {
			uc, uv, ur := ap(xCli6, 42000), ap(xVIP6, 53), rip6(2, 5353)
			x := xcase("UDP NAT reply: source back to the VIP",
				w.fromReal(2, udpIP(ur, uc, 64, []byte("answer"))), red, w.toClient(udpIP(uv, uc, 63, []byte("answer"))),
				datapathtest.Delta{Services: map[datapath.ServiceID]lvs.Stats{svcUDP: stats(0, 0, 0, 1, 54)}})
			x.Ifindex = w.n.Reals.Index
			return x
		}(),
		func() datapathtest.XCase {
			dc, dv := ap(xCli6, 41000), ap(xVIP6, 443)
			x := xcase("DR SYN: MACs to the real, hop limit 63, addresses untouched",
				w.fromClient(tcpIP(dc, dv, "S", 64, nil)), red, w.toReal(1, tcpIP(dc, dv, "S", 63, nil)),
				datapathtest.Delta{
					Reals:    map[datapath.RealID]lvs.Stats{realDR: stats(1, 1, 60, 0, 0)},
					Conns:    conns(realDR, [2]int{1, 0}),
					Verdicts: verdicts("fwd_redirect", 1),
				})
			x.Check = connTo("SYN_RECV", dc, dv, realDR, rip6(1, 443))
			return x
		}(),
		func() datapathtest.XCase {
			dc, dv := ap(xCli6, 41000), ap(xVIP6, 443)
			x := xcase("DR ACK: established on the same real",
				w.fromClient(tcpIP(dc, dv, "A", 64, nil)), red, w.toReal(1, tcpIP(dc, dv, "A", 63, nil)),
				datapathtest.Delta{Conns: conns(realDR, [2]int{0, 0})})
			x.Check = connTo("ESTABLISHED", dc, dv, realDR, rip6(1, 443))
			return x
		}(),
	}
	w.n.RunX(t, w.d, cases)
	wantTaken(t, w.n, "NAT SYN: destination rewritten to the real, hop limit 63",
		"NAT reply SYN+ACK: source back to the VIP", "NAT data from the client: established, payload untouched",
		"NAT reply data", "UDP NAT: destination rewritten, checksum fixed", "UDP NAT reply: source back to the VIP",
		"DR SYN: MACs to the real, hop limit 63, addresses untouched", "DR ACK: established on the same real")
}

// tunnel builds what the director sends real i through a tunnel: an
// outer header from the director's address on the reals' link (of rip's
// family) to rip, TTL/hop limit 63 and TOS tos, around payload of
// protocol proto.
func (w *xworld) tunnel(i int, rip netip.Addr, proto, tos uint8, payload []byte) []byte {
	src := xDIP4
	if rip.Is6() {
		src = xDIP6
	}
	return w.toReal(i, hdr{src: src, dst: rip, proto: proto, ttl: 63, tos: tos}.wrap(payload))
}

// innerProto is the IP protocol number of an inner packet (4 or 41).
func innerProto(ip []byte) uint8 {
	if ip[0]>>4 == 6 {
		return packet.ProtoIPv6
	}
	return packet.ProtoIPIP
}

// innerEthertype is its GRE protocol.
func innerEthertype(ip []byte) uint16 {
	if ip[0]>>4 == 6 {
		return 0x86DD
	}
	return 0x0800
}

// gue builds the GUE frame to real i at rip:port from source port sport.
func (w *xworld) gue(i int, rip netip.Addr, port uint16, csum bool, tos uint8, inner []byte) func(sport uint16) []byte {
	return func(sport uint16) []byte {
		src := xDIP4
		if rip.Is6() {
			src = xDIP6
		}
		u := packet.UDPDgram(ap(src, sport), ap(rip, port), packet.GUE(innerProto(inner), inner), csum)
		return w.tunnel(i, rip, packet.ProtoUDP, tos, u)
	}
}

// TestPrivilegedTunnelOutput checks the bytes of every encapsulation:
// IPIP, IPv6-in-IPv6, 4in6, 6in4, GUE and GRE with and without checksums.
func TestPrivilegedTunnelOutput(t *testing.T) { bothPrograms(t, testTunnelOutput) }

func testTunnelOutput(t *testing.T) {
	const guePort = 6080
	tun := func(a netip.AddrPort, typ lvs.TunnelType, flags lvs.TunnelFlags) lvs.Real {
		r := lvs.Real{Addr: a, Method: lvs.Tunnel, TunType: typ, TunFlags: flags}
		if typ == lvs.TunGUE {
			r.TunPort = guePort
		}
		return r
	}
	type tc struct {
		name    string
		proto   lvs.Protocol
		vip     netip.AddrPort
		real    lvs.Real
		ri      int   // index of the real's MAC
		tos     uint8 // of the client's packet
		wantTOS uint8 // of the outer header
	}
	v4, v6 := func(p uint16) netip.AddrPort { return ap(xVIP4, p) }, func(p uint16) netip.AddrPort { return ap(xVIP6, p) }
	tcs := []tc{
		{"IPIP", lvs.TCP, v4(90), tun(rip4(0, 90), lvs.TunIPIP, 0), 0, 0xb8, 0xb8},
		{"IPIP, ECN CE inner: outer ECT(0) as INET_ECN_encapsulate", lvs.TCP, v4(89), tun(rip4(0, 89), lvs.TunIPIP, 0), 0, 0xbb, 0xba},
		{"4in6", lvs.TCP, v4(91), tun(rip6(0, 91), lvs.TunIPIP, 0), 0, 0x20, 0x20},
		{"GUE without checksum", lvs.TCP, v4(92), tun(rip4(1, 92), lvs.TunGUE, 0), 1, 0, 0},
		{"GUE with checksum", lvs.TCP, v4(93), tun(rip4(1, 93), lvs.TunGUE, lvs.TunCsum), 1, 0, 0},
		{"GUE with checksum, inner UDP", lvs.UDP, v4(93), tun(rip4(1, 93), lvs.TunGUE, lvs.TunCsum), 1, 0, 0},
		{"GRE without checksum", lvs.TCP, v4(94), tun(rip4(2, 94), lvs.TunGRE, 0), 2, 0, 0},
		{"GRE with checksum", lvs.TCP, v4(95), tun(rip4(2, 95), lvs.TunGRE, lvs.TunCsum), 2, 0x10, 0x10},
		{"GRE with checksum, inner UDP", lvs.UDP, v4(95), tun(rip4(2, 95), lvs.TunGRE, lvs.TunCsum), 2, 0, 0},
		{"IPv6-in-IPv6", lvs.TCP, v6(90), tun(rip6(0, 90), lvs.TunIPIP, 0), 0, 0xb8, 0xb8},
		{"6in4", lvs.TCP, v6(91), tun(rip4(0, 91), lvs.TunIPIP, 0), 0, 0, 0},
		{"GUE over IPv6 with checksum", lvs.TCP, v6(92), tun(rip6(1, 92), lvs.TunGUE, lvs.TunCsum), 1, 0, 0},
		{"GUE over IPv6 with checksum, inner UDP", lvs.UDP, v6(92), tun(rip6(1, 92), lvs.TunGUE, lvs.TunCsum), 1, 0, 0},
		{"GUE over IPv6 without checksum", lvs.TCP, v6(93), tun(rip6(1, 93), lvs.TunGUE, 0), 1, 0, 0},
		{"GUE 6in4 with checksum", lvs.TCP, v6(94), tun(rip4(1, 94), lvs.TunGUE, lvs.TunCsum), 1, 0, 0},
		{"GRE over IPv6 with checksum", lvs.TCP, v6(95), tun(rip6(2, 95), lvs.TunGRE, lvs.TunCsum), 2, 0, 0},
	}
	for i, c := range tcs {
		t.Run(c.name, func(t *testing.T) {
			sid, rid := datapath.ServiceID(1), datapath.RealID(1)
			w := newXWorld(t, xsvc{sid, c.proto, c.vip, rid, c.real})
			cli := ap(datapathtest.ClientAddr, uint16(45000+i))
			if c.vip.Addr().Is6() {
				cli = ap(xCli6, uint16(45000+i))
			}
			payload := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
			mk := func(flags string, ttl uint8) []byte {
				h := hdr{src: cli.Addr(), dst: c.vip.Addr(), ttl: ttl, tos: c.tos}
				if c.proto == lvs.UDP {
					h.proto = packet.ProtoUDP
					return h.wrap(packet.UDPDgram(cli, c.vip, payload, true))
				}
				h.proto = packet.ProtoTCP
				return h.wrap(packet.TCPSeg(cli, c.vip, flags, payload))
			}
			raddr := c.real.Addr.Addr()
			out := func(inner []byte) (build func(uint16) []byte, frame []byte) {
				switch c.real.TunType {
				case lvs.TunGUE:
					build = w.gue(c.ri, raddr, guePort, c.real.TunFlags&lvs.TunCsum != 0, c.wantTOS, inner)
					return build, build(0)
				case lvs.TunGRE:
					return nil, w.tunnel(c.ri, raddr, packet.ProtoGRE, c.wantTOS,
						packet.GRE(innerEthertype(inner), c.real.TunFlags&lvs.TunCsum != 0, inner))
				}
				return nil, w.tunnel(c.ri, raddr, innerProto(inner), c.wantTOS, inner)
			}
			var sport uint16
			var cases []datapathtest.XCase
			for _, step := range []struct {
				flags, st string
				active    [2]int
			}{{"S", "SYN_RECV", [2]int{1, 0}}, {"A", "ESTABLISHED", [2]int{0, 0}}} {
				if c.proto == lvs.UDP && step.flags != "S" {
					continue
				}
				in := mk(step.flags, 64)
				build, o := out(mk(step.flags, 63))
				st, act := step.st, step.active
				if c.proto == lvs.UDP {
					st, act = "UDP", [2]int{0, 1}
				}
				x := xcase(step.flags+" encapsulated", w.fromClient(in), red, o, datapathtest.Delta{
					Reals:    map[datapath.RealID]lvs.Stats{rid: {Conns: uint64(act[0] + act[1]), InPkts: 1, InBytes: uint64(len(in))}},
					Conns:    conns(rid, act),
					Verdicts: verdicts("fwd_redirect", 1),
				})
				x.Verify = packet.VerifyOptions{GUEPorts: []uint16{guePort}}
				if build != nil {
					x.Fix = datapathtest.GUEFix(build, &sport)
				}
				x.Check = connTo(st, cli, c.vip, rid, c.real.Addr)
				cases = append(cases, x)
			}
			w.n.RunX(t, w.d, cases)
			if c.real.TunType == lvs.TunIPIP {
				wantTaken(t, w.n, "S encapsulated", "A encapsulated")
			}
		})
	}
}

// tooBig is the answer the director sends back to the client for packet
// ip (as it arrived) that does not fit an mtu-byte path: ICMP
// fragmentation needed or ICMPv6 packet too big from the address ip was
// sent to, quoting ip's header and its whole TCP header (8 bytes of
// anything else), out of the link it came in on with the MACs swapped.
func (w *xworld) tooBig(ip []byte, mtu int) []byte {
	l3, proto := int(ip[0]&0xf)*4, ip[9]
	if ip[0]>>4 == 6 {
		l3, proto = 40, ip[6]
	}
	quote := l3 + 8
	if proto == 6 {
		quote = l3 + int(ip[l3+12]>>4)*4
	}
	if ip[0]>>4 == 6 {
		src, dst := netip.AddrFrom16([16]byte(ip[24:40])), netip.AddrFrom16([16]byte(ip[8:24]))
		return w.toClient(hdr{src: src, dst: dst, proto: packet.ProtoICMPv6, ttl: 255}.wrap(
			packet.ICMPv6(src, dst, 2, 0, uint32(mtu), ip[:quote])))
	}
	src, dst := netip.AddrFrom4([4]byte(ip[16:20])), netip.AddrFrom4([4]byte(ip[12:16]))
	return w.toClient(hdr{src: src, dst: dst, proto: packet.ProtoICMP, ttl: 64, tos: 0xc0, noDF: true}.wrap(
		packet.ICMPv4(3, 4, uint32(mtu), ip[:quote])))
}

// TestPrivilegedPathMTU: what does not fit the path after encapsulation
// (or out of a narrower link) is answered with ICMP, as IPVS's
// ensure_mtu_is_adequate does; what fits exactly is forwarded.
func TestPrivilegedPathMTU(t *testing.T) { bothPrograms(t, testPathMTU) }

func testPathMTU(t *testing.T) {
	const guePort = 6080
	narrow4, narrow6 := datapathtest.NarrowReal, datapathtest.NarrowReal6
	// fwd returns the frame the director sends for the packet mk makes
	// (given its destination and TTL), and for GUE the frame's builder.
	type fwd func(w *xworld, vip netip.AddrPort, mk func(dst netip.AddrPort, ttl uint8) []byte) ([]byte, func(uint16) []byte)
	tunnel := func(i int, rip netip.Addr, proto uint8) fwd {
		return func(w *xworld, vip netip.AddrPort, mk func(netip.AddrPort, uint8) []byte) ([]byte, func(uint16) []byte) {
			return w.tunnel(i, rip, proto, 0, mk(vip, 63)), nil
		}
	}
	gue := func(i int, rip netip.Addr) fwd {
		return func(w *xworld, vip netip.AddrPort, mk func(netip.AddrPort, uint8) []byte) ([]byte, func(uint16) []byte) {
			b := w.gue(i, rip, guePort, false, 0, mk(vip, 63))
			return b(0), b
		}
	}
	gre := func(i int, rip netip.Addr) fwd {
		return func(w *xworld, vip netip.AddrPort, mk func(netip.AddrPort, uint8) []byte) ([]byte, func(uint16) []byte) {
			inner := mk(vip, 63)
			return w.tunnel(i, rip, packet.ProtoGRE, 0, packet.GRE(innerEthertype(inner), true, inner)), nil
		}
	}
	nat := func(to netip.AddrPort) fwd {
		return func(w *xworld, vip netip.AddrPort, mk func(netip.AddrPort, uint8) []byte) ([]byte, func(uint16) []byte) {
			return w.toNarrow(mk(to, 63)), nil
		}
	}
	dr := func(w *xworld, vip netip.AddrPort, mk func(netip.AddrPort, uint8) []byte) ([]byte, func(uint16) []byte) {
		return w.toNarrow(mk(vip, 63)), nil
	}
	rip4a, rip6a := datapathtest.RealAddrs, datapathtest.RealAddrs6
	type tc struct {
		name string
		vip  netip.AddrPort
		real lvs.Real
		mtu  int // what the answer announces
		fwd  fwd
	}
	tcs := []tc{
		{"IPIP", ap(xVIP4, 90), lvs.Real{Addr: rip4(0, 90), Method: lvs.Tunnel}, 1480, tunnel(0, rip4a[0], packet.ProtoIPIP)},
		{"GUE", ap(xVIP4, 92), lvs.Real{Addr: rip4(1, 92), Method: lvs.Tunnel, TunType: lvs.TunGUE, TunPort: guePort}, 1468, gue(1, rip4a[1])},
		{"GRE with checksum", ap(xVIP4, 94), lvs.Real{Addr: rip4(2, 94), Method: lvs.Tunnel, TunType: lvs.TunGRE, TunFlags: lvs.TunCsum}, 1472, gre(2, rip4a[2])},
		{"4in6", ap(xVIP4, 91), lvs.Real{Addr: rip6(0, 91), Method: lvs.Tunnel}, 1460, tunnel(0, rip6a[0], packet.ProtoIPIP)},
		{"NAT out of a narrow link", ap(xVIP4, 97), lvs.Real{Addr: ap(narrow4, 8080), Method: lvs.Masq}, 1400, nat(ap(narrow4, 8080))},
		{"DR out of a narrow link", ap(xVIP4, 98), lvs.Real{Addr: ap(narrow4, 98), Method: lvs.Route}, 1400, dr},
		{"IPv6-in-IPv6", ap(xVIP6, 90), lvs.Real{Addr: rip6(0, 90), Method: lvs.Tunnel}, 1460, tunnel(0, rip6a[0], packet.ProtoIPv6)},
		{"6in4 GUE", ap(xVIP6, 92), lvs.Real{Addr: rip4(1, 92), Method: lvs.Tunnel, TunType: lvs.TunGUE, TunPort: guePort}, 1468, gue(1, rip4a[1])},
		{"IPv6 NAT out of a narrow link", ap(xVIP6, 97), lvs.Real{Addr: ap(narrow6, 8080), Method: lvs.Masq}, 1400, nat(ap(narrow6, 8080))},
		{"IPv6 DR out of a narrow link", ap(xVIP6, 98), lvs.Real{Addr: ap(narrow6, 98), Method: lvs.Route}, 1400, dr},
	}
	for i, c := range tcs {
		t.Run(c.name, func(t *testing.T) {
			w := newXWorld(t, xsvc{1, lvs.TCP, c.vip, 1, c.real})
			cli := ap(xCli4, uint16(46000+i))
			l3 := 20
			if c.vip.Addr().Is6() {
				cli, l3 = ap(xCli6, uint16(46000+i)), 40
			}
			// seg makes n-byte IP packets (0: a SYN).
			seg := func(n int) func(netip.AddrPort, uint8) []byte {
				return func(dst netip.AddrPort, ttl uint8) []byte {
					if n == 0 {
						return tcpIP(cli, dst, "S", ttl, nil)
					}
					return tcpIP(cli, dst, "A", ttl, make([]byte, n-l3-20))
				}
			}
			step := func(name string, n int, out []byte, want datapathtest.Delta) datapathtest.XCase {
				x := xcase(name, w.fromClient(seg(n)(c.vip, 64)), red, out, want)
				x.Verify = packet.VerifyOptions{GUEPorts: []uint16{guePort}}
				if out == nil {
					o, build := c.fwd(w, c.vip, seg(n))
					x.Out = o
					if build != nil {
						x.Fix = datapathtest.GUEFix(build, nil)
					}
				}
				return x
			}
			big := seg(1500)(c.vip, 64)
			w.n.RunX(t, w.d, []datapathtest.XCase{
				step("SYN forwarded", 0, nil, datapathtest.Delta{Conns: conns(datapath.RealID(1), [2]int{1, 0})}),
				step("1500 bytes: answered from the VIP, back out of the client link", 1500, w.tooBig(big, c.mtu),
					datapathtest.Delta{
						Verdicts: verdicts("too_big", 1, "fwd_redirect", 0, "drop_too_big", 0),
						Reals:    map[datapath.RealID]lvs.Stats{1: stats(0, 1, 1500, 0, 0)},
					}),
				step("exactly the path MTU fits: forwarded", c.mtu, nil, datapathtest.Delta{Verdicts: verdicts("too_big", 0, "fwd_redirect", 1)}),
			})
		})
	}

	// IPv4 without DF through NAT: IPVS forwards it and the kernel
	// fragments it, so golvs translates it and hands it to the kernel.
	t.Run("NAT, IPv4 without DF: translated, left to the kernel to fragment", func(t *testing.T) {
		vip, rip := ap(xVIP4, 97), ap(narrow4, 8080)
		w := newXWorld(t, xsvc{1, lvs.UDP, vip, 1, lvs.Real{Addr: rip, Method: lvs.Masq}})
		cli := ap(xCli4, 47000)
		dgram := func(dst netip.AddrPort, ttl uint8) []byte {
			return hdr{src: cli.Addr(), dst: dst.Addr(), proto: packet.ProtoUDP, ttl: ttl, noDF: true}.wrap(
				packet.UDPDgram(cli, dst, make([]byte, 1500-20-8), true))
		}
		w.n.RunX(t, w.d, []datapathtest.XCase{
			xcase("1500 bytes, no DF", w.fromClient(dgram(vip, 64)), pass, w.fromClient(dgram(rip, 63)),
				datapathtest.Delta{
					Verdicts: verdicts("pass_to_fragment", 1, "too_big", 0),
					Conns:    conns(datapath.RealID(1), [2]int{0, 1}),
				}),
		})
	})
}

// natQuote is quoted packet q (an IPv4 or IPv6 packet's first bytes) with
// its source (src) or destination (!src) address and port replaced, as
// ip_vs_nat_icmp rewrites it: the quoted IPv4 header checksum fixed, the
// quoted L4 checksum left as it was.
func natQuote(q []byte, src bool, to netip.AddrPort) []byte {
	q = append([]byte(nil), q...)
	a := to.Addr().AsSlice()
	l3 := 40
	if q[0]>>4 == 4 {
		l3 = int(q[0]&0x0f) * 4
		if src {
			copy(q[12:], a)
		} else {
			copy(q[16:], a)
		}
		binary.BigEndian.PutUint16(q[10:], 0)
		binary.BigEndian.PutUint16(q[10:], ^foldSum(q[:l3]))
	} else if src {
		copy(q[8:], a)
	} else {
		copy(q[24:], a)
	}
	if src {
		binary.BigEndian.PutUint16(q[l3:], to.Port())
	} else {
		binary.BigEndian.PutUint16(q[l3+2:], to.Port())
	}
	return q
}

// icmpErr is an ICMP error (IPv4 type/code, or ICMPv6 type6/code6) from
// src to dst quoting q, TTL/hop limit ttl.
func icmpErr(src, dst netip.Addr, ttl uint8, typ, code uint8, info uint32, q []byte) []byte {
	if src.Is6() {
		return hdr{src: src, dst: dst, proto: packet.ProtoICMPv6, ttl: ttl}.wrap(packet.ICMPv6(src, dst, typ, code, info, q))
	}
	return hdr{src: src, dst: dst, proto: packet.ProtoICMP, ttl: ttl, tos: 0xc0, noDF: true}.wrap(packet.ICMPv4(typ, code, info, q))
}

// TestPrivilegedICMPErrors: ICMP errors about connections, both ways,
// for NAT, DR and TUN (ip_vs_in_icmp, ip_vs_out_icmp), IPv4 and IPv6.
func TestPrivilegedICMPErrors(t *testing.T) { bothPrograms(t, testICMPErrors) }

func testICMPErrors(t *testing.T) {
	const guePort = 6080
	const (
		sNAT, sDR, sIPIP, sGUE, sGRE, sNAT6, sIP6, sDR6 datapath.ServiceID = 1, 2, 3, 4, 5, 6, 7, 8
		rNAT, rDR, rIPIP, rGUE, rGRE, rNAT6, rIP6, rDR6 datapath.RealID    = 1, 2, 3, 4, 5, 6, 7, 8
	)
	w := newXWorld(t,
		xsvc{sNAT, lvs.TCP, ap(xVIP4, 80), rNAT, lvs.Real{Addr: rip4(0, 8080), Method: lvs.Masq}},
		xsvc{sDR, lvs.TCP, ap(xVIP4, 443), rDR, lvs.Real{Addr: rip4(1, 443), Method: lvs.Route}},
		xsvc{sIPIP, lvs.TCP, ap(xVIP4, 90), rIPIP, lvs.Real{Addr: rip4(0, 90), Method: lvs.Tunnel}},
		xsvc{sGUE, lvs.TCP, ap(xVIP4, 92), rGUE, lvs.Real{Addr: rip4(1, 92), Method: lvs.Tunnel, TunType: lvs.TunGUE, TunPort: guePort}},
		xsvc{sGRE, lvs.TCP, ap(xVIP4, 94), rGRE, lvs.Real{Addr: rip4(2, 94), Method: lvs.Tunnel, TunType: lvs.TunGRE, TunFlags: lvs.TunCsum}},
		xsvc{sNAT6, lvs.TCP, ap(xVIP6, 80), rNAT6, lvs.Real{Addr: rip6(0, 8080), Method: lvs.Masq}},
		xsvc{sIP6, lvs.TCP, ap(xVIP6, 90), rIP6, lvs.Real{Addr: rip6(0, 90), Method: lvs.Tunnel}},
		xsvc{sDR6, lvs.TCP, ap(xVIP6, 443), rDR6, lvs.Real{Addr: rip6(1, 443), Method: lvs.Route}},
	)
	fromRouter := func(ip []byte) []byte { return packet.Ether(rtrMAC, w.n.Reals.MAC, ip) }
	onReals := func(x datapathtest.XCase) datapathtest.XCase { x.Ifindex = w.n.Reals.Index; return x }
	icmpOpts := packet.VerifyOptions{GUEPorts: []uint16{guePort}}

	// NAT (IPv4): the connection and what the real received.
	c, v, r := ap(xCli4, 40001), ap(xVIP4, 80), rip4(0, 8080)
	synToReal := tcpIP(c, r, "S", 63, nil)
	// (a) the real answers the SYN with port unreachable, a router on the
	// way with fragmentation needed: both quote client -> real.
	unreach := icmpErr(r.Addr(), c.Addr(), 64, 3, 3, 0, synToReal)
	unreachOut := icmpErr(v.Addr(), c.Addr(), 63, 3, 3, 0, natQuote(synToReal, false, v))
	fragNeeded := icmpErr(xRtr4, c.Addr(), 64, 3, 4, 1400, synToReal)
	fragNeededOut := icmpErr(v.Addr(), c.Addr(), 63, 3, 4, 1400, natQuote(synToReal, false, v))
	// (b) the client answers a reply VIP -> client with port unreachable.
	reply := tcpIP(v, c, "SA", 63, nil)
	cliUnreach := icmpErr(c.Addr(), v.Addr(), 64, 3, 3, 0, reply)
	cliUnreachOut := icmpErr(c.Addr(), r.Addr(), 63, 3, 3, 0, natQuote(reply, true, r))

	// DR: forwarded as the connection's packets are.
	dc, dv := ap(xCli4, 41000), ap(xVIP4, 443)
	drErr := icmpErr(dc.Addr(), dv.Addr(), 64, 3, 3, 0, tcpIP(dv, dc, "SA", 63, nil))
	drErrOut := icmpErr(dc.Addr(), dv.Addr(), 63, 3, 3, 0, tcpIP(dv, dc, "SA", 63, nil))

	// TUN: a router between the director and the real says the tunnel
	// packet is too big; the client hears of its own packet.
	tc, tv := ap(xCli4, 40100), ap(xVIP4, 90)
	tInner := tcpIP(tc, tv, "S", 63, nil)
	tOuter := hdr{src: xDIP4, dst: datapathtest.RealAddrs[0], proto: packet.ProtoIPIP, ttl: 63}.wrap(tInner)
	tRelay := icmpErr(tv.Addr(), tc.Addr(), 64, 3, 4, 1380, tInner[:28])

	gc, gv := ap(xCli4, 40101), ap(xVIP4, 92)
	gInner := tcpIP(gc, gv, "S", 63, nil)
	var gueSport uint16
	gBuild := w.gue(1, datapathtest.RealAddrs[1], guePort, false, 0, gInner)

	rc, rv := ap(xCli4, 40102), ap(xVIP4, 94)
	rInner := tcpIP(rc, rv, "S", 63, nil)
	rOuter := hdr{src: xDIP4, dst: datapathtest.RealAddrs[2], proto: packet.ProtoGRE, ttl: 63}.wrap(packet.GRE(0x0800, true, rInner))

	// IPv6 NAT and IPv6-in-IPv6.
	c6, v6, r6 := ap(xCli6, 40001), ap(xVIP6, 80), rip6(0, 8080)
	syn6ToReal := tcpIP(c6, r6, "S", 63, nil)
	reply6 := tcpIP(v6, c6, "SA", 63, nil)
	t6c, t6v := ap(xCli6, 40100), ap(xVIP6, 90)
	t6Inner := tcpIP(t6c, t6v, "S", 63, nil)
	t6Outer := hdr{src: xDIP6, dst: datapathtest.RealAddrs6[0], proto: packet.ProtoIPv6, ttl: 63}.wrap(t6Inner)
	d6c, d6v := ap(xCli6, 41000), ap(xVIP6, 443)

	cases := []datapathtest.XCase{
		xcase("NAT SYN", w.fromClient(tcpIP(c, v, "S", 64, nil)), red, w.toReal(0, synToReal), datapathtest.Delta{}),
		onReals(xcase("(a) NAT: port unreachable from the real, to the client from the VIP, quoting VIP:vport",
			w.fromReal(0, unreach), red, w.toClient(unreachOut), datapathtest.Delta{
				Verdicts: verdicts("icmp_out", 1, "fwd_redirect", 1),
				Services: map[datapath.ServiceID]lvs.Stats{sNAT: stats(0, 0, 0, 1, len(unreach))},
			})),
		onReals(xcase("(a) NAT: fragmentation needed from a router, to the client from the VIP",
			fromRouter(fragNeeded), red, w.toClient(fragNeededOut), datapathtest.Delta{
				Verdicts: verdicts("icmp_out", 1),
				Services: map[datapath.ServiceID]lvs.Stats{sNAT: stats(0, 0, 0, 1, len(fragNeeded))},
			})),
		xcase("(b) NAT: port unreachable from the client, to the real, quoting RIP:rport",
			w.fromClient(cliUnreach), red, w.toReal(0, cliUnreachOut), datapathtest.Delta{
				Verdicts: verdicts("icmp_in", 1, "fwd_redirect", 1),
				Services: map[datapath.ServiceID]lvs.Stats{sNAT: stats(0, 1, len(cliUnreach), 0, 0)},
			}),
		xcase("(b) NAT: an error from the client with TTL 1 is dropped (decrement_ttl), not forwarded with TTL 0",
			w.fromClient(icmpErr(c.Addr(), v.Addr(), 1, 3, 3, 0, reply)), shot, nil, datapathtest.Delta{
				Verdicts: verdicts("drop_ttl", 1, "fwd_redirect", 0),
			}),
		onReals(xcase("(a) NAT: an error from the real with TTL 1 is the kernel's (ip_forward answers time exceeded)",
			w.fromReal(0, icmpErr(r.Addr(), c.Addr(), 1, 3, 3, 0, synToReal)), pass, nil, datapathtest.Delta{
				Verdicts: verdicts("pass_ttl", 1, "fwd_redirect", 0),
			})),
		xcase("DR SYN", w.fromClient(tcpIP(dc, dv, "S", 64, nil)), red, w.toReal(1, tcpIP(dc, dv, "S", 63, nil)), datapathtest.Delta{}),
		xcase("(b) DR: an error from the client goes to the real unchanged but TTL and MACs",
			w.fromClient(drErr), red, w.toReal(1, drErrOut), datapathtest.Delta{
				Verdicts: verdicts("icmp_in", 1),
				Services: map[datapath.ServiceID]lvs.Stats{sDR: stats(0, 1, len(drErr), 0, 0)},
			}),
		xcase("(b) DR: an error from the client with TTL 1 is dropped, not forwarded with TTL 0",
			w.fromClient(icmpErr(dc.Addr(), dv.Addr(), 1, 3, 3, 0, tcpIP(dv, dc, "SA", 63, nil))), shot, nil, datapathtest.Delta{
				Verdicts: verdicts("drop_ttl", 1, "fwd_redirect", 0),
			}),
		xcase("TUN IPIP SYN", w.fromClient(tcpIP(tc, tv, "S", 64, nil)), red, w.tunnel(0, datapathtest.RealAddrs[0], packet.ProtoIPIP, 0, tInner), datapathtest.Delta{}),
		onReals(xcase("(c) TUN IPIP: a router's fragmentation needed becomes the client's, mtu - 20, quoting its packet",
			fromRouter(icmpErr(xRtr4, xDIP4, 64, 3, 4, 1400, tOuter)), red, w.toClient(tRelay), datapathtest.Delta{
				Verdicts: verdicts("icmp_tunnel", 1, "icmp_in", 0, "icmp_out", 0),
			})),
		onReals(xcase("(c) TUN IPIP: a router's host unreachable reaches the client as it is, quoting its packet",
			fromRouter(icmpErr(xRtr4, xDIP4, 64, 3, 1, 0, tOuter)), red,
			w.toClient(icmpErr(tv.Addr(), tc.Addr(), 64, 3, 1, 0, tInner[:28])), datapathtest.Delta{
				Verdicts: verdicts("icmp_tunnel", 1),
			})),
		onReals(xcase("(c) TUN IPIP: fragmentation needed about a client packet without DF is the kernel's (no PMTUD there)",
			fromRouter(icmpErr(xRtr4, xDIP4, 64, 3, 4, 1400, hdr{src: xDIP4, dst: datapathtest.RealAddrs[0], proto: packet.ProtoIPIP, ttl: 63}.wrap(
				hdr{src: tc.Addr(), dst: tv.Addr(), proto: packet.ProtoTCP, ttl: 63, noDF: true}.wrap(packet.TCPSeg(tc, tv, "A", nil))))), pass, nil,
			datapathtest.Delta{Verdicts: verdicts("icmp_tunnel", 0)})),
		func() datapathtest.XCase {
			x := xcase("TUN GUE SYN", w.fromClient(tcpIP(gc, gv, "S", 64, nil)), red, gBuild(0), datapathtest.Delta{})
			x.Fix = datapathtest.GUEFix(gBuild, &gueSport)
			x.Verify = icmpOpts
			return x
		}(),
		// In is set below: the router quotes the tunnel packet with the
		// source port the SYN went out with, which the Fix of the case
		// before reads.
		onReals(xcase("(c) TUN GUE: fragmentation needed relayed with mtu - 32",
			nil, red, w.toClient(icmpErr(gv.Addr(), gc.Addr(), 64, 3, 4, 1368, gInner[:28])), datapathtest.Delta{
				Verdicts: verdicts("icmp_tunnel", 1),
			})),
		xcase("TUN GRE SYN", w.fromClient(tcpIP(rc, rv, "S", 64, nil)), red, w.toReal(2, rOuter), datapathtest.Delta{}),
		onReals(xcase("(c) TUN GRE with checksum: fragmentation needed relayed with mtu - 28",
			fromRouter(icmpErr(xRtr4, xDIP4, 64, 3, 4, 1400, rOuter)), red,
			w.toClient(icmpErr(rv.Addr(), rc.Addr(), 64, 3, 4, 1372, rInner[:28])), datapathtest.Delta{
				Verdicts: verdicts("icmp_tunnel", 1),
			})),
		xcase("IPv6 NAT SYN", w.fromClient(tcpIP(c6, v6, "S", 64, nil)), red, w.toReal(0, syn6ToReal), datapathtest.Delta{}),
		onReals(xcase("(a) IPv6 NAT: port unreachable from the real, to the client from the VIP",
			w.fromReal(0, icmpErr(r6.Addr(), c6.Addr(), 64, 1, 4, 0, syn6ToReal)), red,
			w.toClient(icmpErr(v6.Addr(), c6.Addr(), 63, 1, 4, 0, natQuote(syn6ToReal, false, v6))), datapathtest.Delta{
				Verdicts: verdicts("icmp_out", 1),
				Services: map[datapath.ServiceID]lvs.Stats{sNAT6: stats(0, 0, 0, 1, 40+8+60)},
			})),
		onReals(xcase("(a) IPv6 NAT: packet too big from a router, to the client from the VIP",
			fromRouter(icmpErr(xRtr6, c6.Addr(), 64, 2, 0, 1400, syn6ToReal)), red,
			w.toClient(icmpErr(v6.Addr(), c6.Addr(), 63, 2, 0, 1400, natQuote(syn6ToReal, false, v6))), datapathtest.Delta{
				Verdicts: verdicts("icmp_out", 1),
			})),
		xcase("(b) IPv6 NAT: port unreachable from the client, to the real, quoting RIP:rport",
			w.fromClient(icmpErr(c6.Addr(), v6.Addr(), 64, 1, 4, 0, reply6)), red,
			w.toReal(0, icmpErr(c6.Addr(), r6.Addr(), 63, 1, 4, 0, natQuote(reply6, true, r6))), datapathtest.Delta{
				Verdicts: verdicts("icmp_in", 1),
				Services: map[datapath.ServiceID]lvs.Stats{sNAT6: stats(0, 1, 40+8+60, 0, 0)},
			}),
		xcase("IPv6 DR SYN", w.fromClient(tcpIP(d6c, d6v, "S", 64, nil)), red, w.toReal(1, tcpIP(d6c, d6v, "S", 63, nil)), datapathtest.Delta{}),
		xcase("(b) IPv6 DR: an error from the client goes to the real unchanged but hop limit and MACs",
			w.fromClient(icmpErr(d6c.Addr(), d6v.Addr(), 64, 1, 4, 0, tcpIP(d6v, d6c, "SA", 63, nil))), red,
			w.toReal(1, icmpErr(d6c.Addr(), d6v.Addr(), 63, 1, 4, 0, tcpIP(d6v, d6c, "SA", 63, nil))), datapathtest.Delta{
				Verdicts: verdicts("icmp_in", 1),
			}),
		xcase("IPv6-in-IPv6 SYN", w.fromClient(tcpIP(t6c, t6v, "S", 64, nil)), red,
			w.tunnel(0, datapathtest.RealAddrs6[0], packet.ProtoIPv6, 0, t6Inner), datapathtest.Delta{}),
		onReals(xcase("(c) IPv6-in-IPv6: a router's packet too big becomes the client's, mtu - 40, quoting its packet",
			fromRouter(icmpErr(xRtr6, xDIP6, 64, 2, 0, 1400, t6Outer)), red,
			w.toClient(hdr{src: t6v.Addr(), dst: t6c.Addr(), proto: packet.ProtoICMPv6, ttl: 255}.wrap(
				packet.ICMPv6(t6v.Addr(), t6c.Addr(), 2, 0, 1360, t6Inner[:48]))), datapathtest.Delta{
				Verdicts: verdicts("icmp_tunnel", 1),
			})),
		xcase("echo request to the VIP passes untouched", w.fromClient(
			hdr{src: xCli4, dst: xVIP4, proto: packet.ProtoICMP}.wrap(packet.ICMPv4(8, 0, 0x12340001, []byte("ping")))), pass, nil,
			datapathtest.Delta{Verdicts: verdicts("pass_not_l4", 1)}),
		xcase("ICMPv6 echo request to the VIP passes untouched", w.fromClient(
			hdr{src: xCli6, dst: xVIP6, proto: packet.ProtoICMPv6}.wrap(packet.ICMPv6(xCli6, xVIP6, 128, 0, 0x12340001, []byte("ping")))), pass, nil,
			datapathtest.Delta{Verdicts: verdicts("pass_not_l4", 1)}),
		xcase("an error about no connection passes untouched", w.fromClient(
			icmpErr(xCli4, xVIP4, 64, 3, 3, 0, tcpIP(ap(xVIP4, 80), ap(xCli4, 49999), "SA", 63, nil))), pass, nil,
			datapathtest.Delta{Verdicts: verdicts("icmp_in", 0, "icmp_out", 0)}),
	}
	for i := range cases {
		cases[i].Verify = icmpOpts
	}
	// Run up to the GUE relay, then build it from the port seen.
	k := 0
	for cases[k].In != nil {
		k++
	}
	w.n.RunX(t, w.d, cases[:k])
	gOuter := gBuild(gueSport)[14:]
	cases[k].In = fromRouter(icmpErr(xRtr4, xDIP4, 64, 3, 4, 1400, gOuter))
	w.n.RunX(t, w.d, cases[k:])
}

// TestPrivilegedFragments: the later fragments of a datagram whose first
// fragment golvs forwarded follow it to the same real (lvs_frags), both
// ways for NAT, through DR and TUN; an unknown datagram's later fragment
// is the kernel's.
func TestPrivilegedFragments(t *testing.T) { bothPrograms(t, testFragments) }

func testFragments(t *testing.T) {
	const (
		sNAT, sDR, sTUN, sNAT6, sTUN6 datapath.ServiceID = 1, 2, 3, 4, 5
		rNAT, rDR, rTUN, rNAT6, rTUN6 datapath.RealID    = 1, 2, 3, 4, 5
	)
	w := newXWorld(t,
		xsvc{sNAT, lvs.UDP, ap(xVIP4, 53), rNAT, lvs.Real{Addr: rip4(2, 5353), Method: lvs.Masq}},
		xsvc{sDR, lvs.UDP, ap(xVIP4, 54), rDR, lvs.Real{Addr: rip4(1, 54), Method: lvs.Route}},
		xsvc{sTUN, lvs.UDP, ap(xVIP4, 55), rTUN, lvs.Real{Addr: rip4(1, 55), Method: lvs.Tunnel}},
		xsvc{sNAT6, lvs.UDP, ap(xVIP6, 53), rNAT6, lvs.Real{Addr: rip6(2, 5353), Method: lvs.Masq}},
		xsvc{sTUN6, lvs.UDP, ap(xVIP6, 55), rTUN6, lvs.Real{Addr: rip6(1, 55), Method: lvs.Tunnel}},
	)
	payload := make([]byte, 40) // 48 bytes of UDP: three 16-byte fragments
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	// frags4 and frags6 are the fragments of a UDP datagram src -> dst
	// (the UDP checksum over the whole datagram).
	frags4 := func(src, dst netip.AddrPort, id uint16, ttl uint8) [][]byte {
		return packet.IPv4{Src: src.Addr(), Dst: dst.Addr(), Proto: packet.ProtoUDP, TTL: ttl, ID: id}.
			Fragments(packet.UDPDgram(src, dst, payload, true), 16)
	}
	frags6 := func(src, dst netip.AddrPort, id uint32, ttl uint8) [][]byte {
		return packet.IPv6{Src: src.Addr(), Dst: dst.Addr(), NextHdr: packet.ProtoUDP, HopLimit: ttl}.
			Fragments(packet.UDPDgram(src, dst, payload, true), 16, id)
	}
	var cases []datapathtest.XCase
	// seq adds the cases of one datagram: in from the client (or from a
	// real, on the reals' link), out as want.
	seq := func(what string, in, want [][]byte, frame func([]byte) []byte, fromReals bool, first datapathtest.Delta) {
		names := []string{"first fragment", "middle fragment", "last fragment"}
		for i := range in {
			d := datapathtest.Delta{Verdicts: verdicts("frag_follow", 1, "frag_first", 0)}
			if i == 0 {
				d = first
			}
			var x datapathtest.XCase
			if fromReals {
				x = xcase(what+": "+names[i], w.fromReal(2, in[i]), red, frame(want[i]), d)
				x.Ifindex = w.n.Reals.Index
			} else {
				x = xcase(what+": "+names[i], w.fromClient(in[i]), red, frame(want[i]), d)
			}
			cases = append(cases, x)
		}
	}
	c, v, r := ap(xCli4, 42000), ap(xVIP4, 53), rip4(2, 5353)
	seq("NAT", frags4(c, v, 0x1234, 64), frags4(c, r, 0x1234, 63), func(b []byte) []byte { return w.toReal(2, b) }, false,
		datapathtest.Delta{
			Verdicts: verdicts("frag_first", 1, "frag_follow", 0),
			Conns:    conns(rNAT, [2]int{0, 1}),
			Services: map[datapath.ServiceID]lvs.Stats{sNAT: stats(1, 1, 20+16, 0, 0)},
		})
	cases[len(cases)-1].Check = connTo("UDP", c, v, rNAT, r)
	seq("NAT reply", frags4(r, c, 0x4321, 64), frags4(v, c, 0x4321, 63), w.toClient, true,
		datapathtest.Delta{
			Verdicts: verdicts("frag_first", 1, "frag_follow", 0),
			Services: map[datapath.ServiceID]lvs.Stats{sNAT: stats(0, 0, 0, 1, 20+16)},
		})
	cases = append(cases,
		xcase("a later fragment of an unknown datagram passes", w.fromClient(frags4(c, v, 0x1235, 64)[1]), pass, nil,
			datapathtest.Delta{Verdicts: verdicts("pass_fragment", 1, "frag_follow", 0)}),
	)
	other := netip.MustParseAddr("198.18.0.101")
	cases = append(cases, xcase("a later fragment with the id of a known datagram from another client passes",
		w.fromClient(frags4(ap(other, 42000), v, 0x1234, 64)[1]), pass, nil,
		datapathtest.Delta{Verdicts: verdicts("pass_fragment", 1, "frag_follow", 0)}))

	dc, dv := ap(xCli4, 42001), ap(xVIP4, 54)
	seq("DR", frags4(dc, dv, 0x2000, 64), frags4(dc, dv, 0x2000, 63), func(b []byte) []byte { return w.toReal(1, b) }, false,
		datapathtest.Delta{Verdicts: verdicts("frag_first", 1), Conns: conns(rDR, [2]int{0, 1})})
	tc, tv := ap(xCli4, 42002), ap(xVIP4, 55)
	seq("TUN", frags4(tc, tv, 0x3000, 64), frags4(tc, tv, 0x3000, 63), func(b []byte) []byte {
		return w.tunnel(1, datapathtest.RealAddrs[1], packet.ProtoIPIP, 0, b)
	}, false, datapathtest.Delta{Verdicts: verdicts("frag_first", 1), Conns: conns(rTUN, [2]int{0, 1})})

	c6, v6, r6 := ap(xCli6, 42000), ap(xVIP6, 53), rip6(2, 5353)
	seq("IPv6 NAT", frags6(c6, v6, 0xabcdef01, 64), frags6(c6, r6, 0xabcdef01, 63), func(b []byte) []byte { return w.toReal(2, b) }, false,
		datapathtest.Delta{
			Verdicts: verdicts("frag_first", 1, "frag_follow", 0),
			Conns:    conns(rNAT6, [2]int{0, 1}),
			Services: map[datapath.ServiceID]lvs.Stats{sNAT6: stats(1, 1, 40+8+16, 0, 0)},
		})
	seq("IPv6 NAT reply", frags6(r6, c6, 0x01020304, 64), frags6(v6, c6, 0x01020304, 63), w.toClient, true,
		datapathtest.Delta{Verdicts: verdicts("frag_first", 1)})
	cases = append(cases, xcase("IPv6: a later fragment of an unknown datagram passes", w.fromClient(frags6(c6, v6, 0xabcdef02, 64)[2]), pass, nil,
		datapathtest.Delta{Verdicts: verdicts("pass_fragment", 1, "frag_follow", 0)}))
	t6c, t6v := ap(xCli6, 42002), ap(xVIP6, 55)
	seq("IPv6 TUN", frags6(t6c, t6v, 0x3000, 64), frags6(t6c, t6v, 0x3000, 63), func(b []byte) []byte {
		return w.tunnel(1, datapathtest.RealAddrs6[1], packet.ProtoIPv6, 0, b)
	}, false, datapathtest.Delta{Verdicts: verdicts("frag_first", 1), Conns: conns(rTUN6, [2]int{0, 1})})
	w.n.RunX(t, w.d, cases)
}

// foldSum is the folded one's complement sum of b.
func foldSum(b []byte) uint16 { return packet.Fold(packet.Sum(b, 0)) }
