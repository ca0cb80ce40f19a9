package datapathtest

import (
	"fmt"
	"net/netip"
	"testing"

	"golvs/internal/datapath"
	"golvs/internal/lvs"
	"golvs/internal/packet"
	"golvs/internal/sched"
)

// Fixtures are a World's shared packet fixtures: the paths the data-plane
// benchmark times (bench/dataplane_test.go looks its rows up here by
// name), checked by the datapath package's fixture tests through TC and
// through the XDP fast path with the same expectations. Each stands
// alone: its Setup flushes the connections, starts its service's round
// robin over and makes the connection the packet belongs to, so a
// fixture can run in any order, as often as wanted. Every packet comes
// from the client's ClientPort:
//
//   - "new flow NAT <scheduler> over <n> reals": a SYN to a NAT service
//     of that scheduler (rr over 2 reals, SvcNAT, then SchedServices)
//     makes a connection to the scheduler's first pick;
//   - "new flow DR": a SYN to SvcDR, forwarded to its first real;
//   - "established NAT", "established DR", "established TUN IPIP" (GUE,
//     GRE): an ACK of an ESTABLISHED connection goes to its real;
//   - "NAT reply": the real's ACK of that NAT connection goes back to the
//     client from the VIP;
//   - "not a service": a SYN to a port of the VIP with no service passes.
func (w *World) Fixtures() []XCase {
	const ipLen = 40 // IPv4 + TCP headers, no payload
	red := datapath.VerdictRedirect
	cp := ClientPort
	cli := w.Client(cp)
	fwd := map[string]uint64{"fwd_redirect": 1}
	var fs []XCase
	add := func(c Case) { fs = append(fs, XCase{Case: c}) }

	newFlow := func(name string, svc datapath.ServiceID, port uint16, real datapath.RealID) {
		r := w.reals[real]
		syn := w.In(packet.TCP, cp, w.VIP(port), "S")
		to := r.Addr
		if r.Method == lvs.Route {
			to = netip.AddrPort{} // DR leaves the addresses alone
		}
		st := lvs.Stats{Conns: 1, InPkts: 1, InBytes: ipLen}
		add(Case{
			Name: name, Setup: w.fresh(svc), In: syn.Bytes(), Verdict: red,
			Out: w.ToReal(syn, macIndex(r.Addr.Addr()), to).Bytes(),
			Want: Delta{
				Services: map[datapath.ServiceID]lvs.Stats{svc: st},
				Reals:    map[datapath.RealID]lvs.Stats{real: st},
				Conns:    map[datapath.RealID][2]int{real: {1, 0}},
				Verdicts: fwd,
			},
			Check: WantConn("SYN_RECV", cli, w.VIP(port), real),
		})
	}
	newFlow("new flow NAT rr over 2 reals", SvcNAT, 80, RealNAT1)
	for _, s := range SchedServices {
		newFlow(fmt.Sprintf("new flow NAT %s over %d reals", s.Scheduler, s.Reals), s.ID, s.Port, w.firstPick(s))
	}
	newFlow("new flow DR", SvcDR, 443, RealDR1)

	// established is the ACK of the connection to VIP:port on real,
	// made by the handshake of the Setup.
	established := func(name string, svc datapath.ServiceID, port uint16, real datapath.RealID) {
		r := w.reals[real]
		ack := w.In(packet.TCP, cp, w.VIP(port), "A")
		to := r.Addr
		if r.Method == lvs.Route {
			to = netip.AddrPort{}
		}
		st := lvs.Stats{InPkts: 1, InBytes: ipLen}
		add(Case{
			Name:  name,
			Setup: w.fresh(svc, w.In(packet.TCP, cp, w.VIP(port), "S").Bytes(), ack.Bytes()),
			In:    ack.Bytes(), Verdict: red, Out: w.ToReal(ack, macIndex(r.Addr.Addr()), to).Bytes(),
			Want: Delta{
				Services: map[datapath.ServiceID]lvs.Stats{svc: st},
				Reals:    map[datapath.RealID]lvs.Stats{real: st},
				Conns:    map[datapath.RealID][2]int{real: {0, 0}},
				Verdicts: fwd,
			},
			Check: WantConn("ESTABLISHED", cli, w.VIP(port), real),
		})
	}
	established("established NAT", SvcNAT, 80, RealNAT1)

	nat1 := w.reals[RealNAT1].Addr
	reply := w.Reply(packet.TCP, macIndex(nat1.Addr()), nat1, cp, "A")
	out := lvs.Stats{OutPkts: 1, OutBytes: ipLen}
	add(Case{
		Name:  "NAT reply",
		Setup: w.fresh(SvcNAT, w.In(packet.TCP, cp, w.VIP(80), "S").Bytes(), w.In(packet.TCP, cp, w.VIP(80), "A").Bytes()),
		In:    reply.Bytes(), Ifindex: w.Net.Reals.Index, Verdict: red, Out: w.ToClient(reply, w.VIP(80)).Bytes(),
		Want: Delta{
			Services: map[datapath.ServiceID]lvs.Stats{SvcNAT: out},
			Reals:    map[datapath.RealID]lvs.Stats{RealNAT1: out},
			Conns:    map[datapath.RealID][2]int{RealNAT1: {0, 0}},
			Verdicts: fwd,
		},
		Check: WantConn("ESTABLISHED", cli, w.VIP(80), RealNAT1),
	})
	established("established DR", SvcDR, 443, RealDR1)

	// The tunnels' frames are built header by header (no Ethernet
	// padding), so that the expected encapsulation is exact.
	for _, tun := range []struct {
		name string
		svc  datapath.ServiceID
		port uint16
		real datapath.RealID
	}{
		{"established TUN IPIP", SvcIPIP, 8001, RealIPIP},
		{"established TUN GUE", SvcGUE, 8002, RealGUE},
		{"established TUN GRE", SvcGRE, 8003, RealGRE},
	} {
		r := w.reals[tun.real]
		v := w.VIP(tun.port)
		ack := w.tcpIP(cli, v, "A", 64)
		build := w.encapsulate(r, w.tcpIP(cli, v, "A", 63))
		st := lvs.Stats{InPkts: 1, InBytes: uint64(len(ack))}
		x := XCase{Case: Case{
			Name:  tun.name,
			Setup: w.fresh(tun.svc, w.fromClient(w.tcpIP(cli, v, "S", 64)), w.fromClient(ack)),
			In:    w.fromClient(ack), Verdict: red, Out: build(0),
			Want: Delta{
				Services: map[datapath.ServiceID]lvs.Stats{tun.svc: st},
				Reals:    map[datapath.RealID]lvs.Stats{tun.real: st},
				Conns:    map[datapath.RealID][2]int{tun.real: {0, 0}},
				Verdicts: fwd,
			},
			Check: WantConn("ESTABLISHED", cli, v, tun.real),
		}}
		if r.TunType == lvs.TunGUE {
			x.Verify = packet.VerifyOptions{GUEPorts: []uint16{GUEPort}}
			x.Fix = GUEFix(build, nil)
		}
		fs = append(fs, x)
	}

	add(Case{
		Name: "not a service", In: w.In(packet.TCP, cp, w.VIP(22), "S").Bytes(), Verdict: datapath.VerdictOK,
		Want: Delta{Verdicts: map[string]uint64{"pass_no_service": 1}},
	})
	return fs
}

// Fixture returns the fixture of Fixtures named name, failing t when
// there is none.
func (w *World) Fixture(t testing.TB, name string) XCase {
	t.Helper()
	for _, x := range w.Fixtures() {
		if x.Name == name {
			return x
		}
	}
	t.Fatalf("no fixture %q", name)
	return XCase{}
}

// fresh returns a Setup that flushes the connections, writes service svc
// again (its round robin starts over) and runs the frames in, from the
// client's link, each of which must be forwarded.
func (w *World) fresh(svc datapath.ServiceID, in ...[]byte) func(testing.TB, *datapath.Datapath) {
	return func(t testing.TB, d *datapath.Datapath) {
		t.Helper()
		if _, err := d.FlushConns(); err != nil {
			t.Fatal(err)
		}
		w.Reset(t, svc)
		h := datapath.NewHarness(d)
		w.Net.Do(t, func() {
			for _, f := range in {
				if v, _, err := h.Run(f, w.Net.Client.Index); err != nil || v != datapath.VerdictRedirect {
					t.Fatalf("setting up the connection: verdict %s, %v", VerdictName(v), err)
				}
			}
		})
	}
}

// firstPick is the real scheduler s picks first for a new connection
// from the client when every real is idle: the head of an rr or wrr
// sequence; the first real in list order for lc and wlc (no real is
// less loaded); the client address's bucket for sh and slot for mh
// (ip_vs_sh.c, ip_vs_mh.c; no port hashed in).
func (w *World) firstPick(s SchedService) datapath.RealID {
	table := w.services[s.ID].Table
	a := ClientAddr.As4()
	addr := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	switch s.Scheduler {
	case "sh":
		// hash_32(addr, 8) & (IP_VS_SH_TAB_SIZE - 1)
		return table[(addr*0x61C88647)>>24&(sched.ShSize-1)]
	case "mh":
		return table[sched.MhHash(ClientAddr, 0, 0)%sched.MhSize]
	}
	return table[0]
}

// tcpIP is a TCP segment without payload from src to dst in an IPv4
// packet with DF and ttl.
func (w *World) tcpIP(src, dst netip.AddrPort, flags string, ttl uint8) []byte {
	return packet.IPv4{Src: src.Addr(), Dst: dst.Addr(), Proto: packet.ProtoTCP, TTL: ttl, DF: true}.
		Wrap(packet.TCPSeg(src, dst, flags, nil))
}

func (w *World) fromClient(ip []byte) []byte { return packet.Ether(ClientMAC, w.Net.Client.MAC, ip) }

// encapsulate returns what the director sends tunnel real r for inner:
// an outer IPv4 header from its address on the reals' link, TTL 63, DF,
// around inner as r's tunnel type carries it, to r's MAC; GUE from the
// source port given.
func (w *World) encapsulate(r lvs.Real, inner []byte) func(sport uint16) []byte {
	dip := w.Net.Reals.Addr.Addr()
	outer := func(proto uint8, payload []byte) []byte {
		return packet.Ether(w.Net.Reals.MAC, RealMACs[macIndex(r.Addr.Addr())],
			packet.IPv4{Src: dip, Dst: r.Addr.Addr(), Proto: proto, TTL: 63, DF: true}.Wrap(payload))
	}
	return func(sport uint16) []byte {
		switch r.TunType {
		case lvs.TunGUE:
			return outer(packet.ProtoUDP, packet.UDPDgram(netip.AddrPortFrom(dip, sport), netip.AddrPortFrom(r.Addr.Addr(), r.TunPort),
				packet.GUE(packet.ProtoIPIP, inner), false))
		case lvs.TunGRE:
			return outer(packet.ProtoGRE, packet.GRE(0x0800, false, inner))
		}
		return outer(packet.ProtoIPIP, inner)
	}
}

// GUEFix returns an XCase.Fix for a GUE frame: it checks the outer UDP
// source port of the output, which the data plane takes from the flow
// hash (udp_flow_src_port: within the local port range), and returns
// build's frame with that port. seen, when not nil, keeps a flow's port:
// every packet of the flow must carry the same.
func GUEFix(build func(sport uint16) []byte, seen *uint16) func(t testing.TB, want, got []byte) []byte {
	return func(t testing.TB, want, got []byte) []byte {
		t.Helper()
		off := 14 + 20
		if len(got) > 14 && got[14]>>4 == 6 {
			off = 14 + 40
		}
		if len(got) < off+8 {
			t.Errorf("no outer UDP header in %x", got)
			return want
		}
		sport := uint16(got[off])<<8 | uint16(got[off+1])
		if sport < 32768 || sport > 60999 {
			t.Errorf("GUE source port %d outside the local port range 32768-60999", sport)
		}
		if seen != nil {
			if *seen != 0 && *seen != sport {
				t.Errorf("GUE source port %d, the flow's earlier packets had %d", sport, *seen)
			}
			*seen = sport
		}
		return build(sport)
	}
}
