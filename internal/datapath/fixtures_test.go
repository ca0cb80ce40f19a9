package datapath_test

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golvs/internal/datapath"
	"golvs/internal/datapath/datapathtest"
	"golvs/internal/lvs"
	"golvs/internal/packet"
)

// The fixture world is datapathtest.World: one namespace, its services
// and reals, and the fixtures it shares with the data-plane benchmark
// (TestPrivilegedFixtures runs them after its own cases); these are the
// names of its services and reals (which the constants in datapathtest
// describe). Real addresses index datapathtest.RealAddrs.
const (
	svcNAT    = datapathtest.SvcNAT
	svcDR     = datapathtest.SvcDR
	svcUDP    = datapathtest.SvcUDP
	svcWRR    = datapathtest.SvcWRR
	svcLC     = datapathtest.SvcLC
	svcWLC    = datapathtest.SvcWLC
	svcQuiet  = datapathtest.SvcQuiet
	svcEmpty  = datapathtest.SvcEmpty
	svcOdd    = datapathtest.SvcOdd
	svcDROdd  = datapathtest.SvcDROdd
	svcDRUDP  = datapathtest.SvcDRUDP
	realNAT1  = datapathtest.RealNAT1
	realNAT2  = datapathtest.RealNAT2
	realDR1   = datapathtest.RealDR1
	realDR2   = datapathtest.RealDR2
	realUDP   = datapathtest.RealUDP
	realNoNbr = datapathtest.RealNoNbr
	realUnrt  = datapathtest.RealUnrt
	realDRUnr = datapathtest.RealDRUnr
	realDRUDP = datapathtest.RealDRUDP
)

func vip(port uint16) netip.AddrPort { return netip.AddrPortFrom(datapathtest.VIP, port) }
func cli(port uint16) netip.AddrPort { return netip.AddrPortFrom(datapathtest.ClientAddr, port) }
func rip(i int, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(datapathtest.RealAddrs[i], port)
}

func key(p lvs.Protocol, port uint16) lvs.ServiceKey {
	return lvs.ServiceKey{Protocol: p, Addr: vip(port)}
}

// world is a datapathtest.World under the short names the tests use.
type world struct {
	*datapathtest.World
	n *datapathtest.Net
	d *datapath.Datapath
}

// xdpRun names bothPrograms' run with the XDP fast path in front of TC.
const xdpRun = "xdp+tc"

// bothPrograms runs a fixture test twice: against the TC program alone
// ("tc"), and with every packet going through the XDP fast path first
// ("xdp+tc", datapathtest.Net.XDP), with the same cases and expectations.
// The worlds the test makes know which run they are in by its name.
func bothPrograms(t *testing.T, test func(t *testing.T)) {
	for _, name := range []string{"tc", xdpRun} {
		t.Run(name, test)
	}
}

// fastPath says whether t runs in bothPrograms' XDP run.
func fastPath(t testing.TB) bool { return strings.Contains(t.Name(), "/"+xdpRun) }

// useXDP sets n up for bothPrograms' XDP run, when t is in it: packets
// go through the fast path first, arriving as on a native XDP link (the
// links by index: the ones a native attach would list in lvs_xdp_tx).
func useXDP(t *testing.T, n *datapathtest.Net, d *datapath.Datapath, links ...int) {
	n.XDP = fastPath(t)
	if n.XDP {
		n.Do(t, func() { must(t, datapath.NewHarness(d).MarkXDPNative(links...)) })
	}
}

// wantTaken checks, in the XDP run, that the fast path handled the named
// cases itself rather than leave them to TC.
func wantTaken(t testing.TB, n *datapathtest.Net, names ...string) {
	t.Helper()
	if !n.XDP {
		return
	}
	for _, name := range names {
		if !slices.Contains(n.Taken, name) {
			t.Errorf("the XDP fast path left %q to TC; it took %q", name, n.Taken)
		}
	}
}

func newWorld(t *testing.T) *world {
	datapathtest.RequirePrivileged(t)
	dw := datapathtest.NewWorld(t, datapath.Options{ConnTableSize: 4096})
	w := &world{World: dw, n: dw.Net, d: dw.Datapath}
	useXDP(t, w.n, w.d, w.n.Client.Index, w.n.Reals.Index)
	return w
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// in is a frame from the client to dst, as it reaches the director.
func (w *world) in(proto int, sport uint16, dst netip.AddrPort, flags string) packet.Frame {
	return w.In(proto, sport, dst, flags)
}

// toReal is f as the director sends it to real i: NAT rewrites the
// destination to to (DR passes a zero to), TTL-1, MACs of the reals' link.
func (w *world) toReal(f packet.Frame, i int, to netip.AddrPort) packet.Frame {
	return w.ToReal(f, i, to)
}

// reply is a frame from real i (at from) back to the client port.
func (w *world) reply(proto int, i int, from netip.AddrPort, cport uint16, flags string) packet.Frame {
	return w.Reply(proto, i, from, cport, flags)
}

// toClient is a NAT reply f as the director sends it on.
func (w *world) toClient(f packet.Frame, from netip.AddrPort) packet.Frame {
	return w.ToClient(f, from)
}

// state checks the connection client -> virtual: its state, and its real
// when real is not 0.
func state(want string, client, virtual netip.AddrPort, real datapath.RealID) func(testing.TB, *datapath.Datapath) {
	return datapathtest.WantConn(want, client, virtual, real)
}

func conns(pairs ...any) map[datapath.RealID][2]int {
	m := map[datapath.RealID][2]int{}
	for i := 0; i < len(pairs); i += 2 {
		m[pairs[i].(datapath.RealID)] = pairs[i+1].([2]int)
	}
	return m
}

func verdicts(kv ...any) map[string]uint64 {
	m := map[string]uint64{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = uint64(kv[i+1].(int))
	}
	return m
}

// fragment marks an IPv4 frame as a non-first fragment.
func fragment(b []byte) []byte {
	b = append([]byte(nil), b...)
	ip := b[14:34]
	binary.BigEndian.PutUint16(ip[6:], 185) // offset 1480 bytes
	binary.BigEndian.PutUint16(ip[10:], 0)
	var s uint32
	for i := 0; i < 20; i += 2 {
		s += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(s))
	return b
}

func TestPrivilegedFixtures(t *testing.T) { bothPrograms(t, testFixtures) }

func testFixtures(t *testing.T) {
	w := newWorld(t)
	const tcp, udp = packet.TCP, packet.UDP
	ipLen := uint64(40) // IPv4 + TCP headers, no payload
	nat1, nat2 := rip(0, 8080), rip(1, 8080)
	red := datapath.VerdictRedirect
	ok := datapath.VerdictOK

	syn := w.in(tcp, 40001, vip(80), "S")
	synAck := w.reply(tcp, 0, nat1, 40001, "SA")
	ack := w.in(tcp, 40001, vip(80), "A")
	fin := w.in(tcp, 40001, vip(80), "FA")
	srvFin := w.reply(tcp, 0, nat1, 40001, "FA")
	ttl1 := w.in(tcp, 40009, vip(80), "S")
	ttl1.TTL = 1

	cases := []datapathtest.Case{
		{
			Name: "address that is no VIP passes",
			In:   w.in(tcp, 40000, netip.AddrPortFrom(netip.MustParseAddr("198.18.0.20"), 80), "S").Bytes(), Verdict: ok,
			Want: datapathtest.Delta{Verdicts: verdicts("pass_no_service", 1)},
		},
		{
			Name: "ARP passes", Verdict: ok,
			In:   packet.ARP(datapathtest.ClientMAC, datapathtest.ClientAddr, datapathtest.VIP),
			Want: datapathtest.Delta{Verdicts: verdicts("pass_not_ip", 1)},
		},
		{
			Name: "other port of the VIP passes", Verdict: ok,
			In:   w.in(tcp, 40000, vip(22), "S").Bytes(),
			Want: datapathtest.Delta{Verdicts: verdicts("pass_no_service", 1)},
		},
		{
			Name: "UDP to a TCP service port passes", Verdict: ok,
			In:   w.in(udp, 40000, vip(80), "").Bytes(),
			Want: datapathtest.Delta{Verdicts: verdicts("pass_no_service", 1)},
		},
		{
			Name: "TCP ACK without a connection passes", Verdict: ok,
			In:   ack.Bytes(),
			Want: datapathtest.Delta{Verdicts: verdicts("pass_not_syn", 1), Conns: conns(realNAT1, [2]int{0, 0})},
		},
		{
			Name: "TCP SYN+RST without a connection passes", Verdict: ok,
			In:   w.in(tcp, 40001, vip(80), "SR").Bytes(),
			Want: datapathtest.Delta{Verdicts: verdicts("pass_not_syn", 1)},
		},
		{
			Name: "non-first fragment passes", Verdict: ok,
			In:   fragment(syn.Bytes()),
			Want: datapathtest.Delta{Verdicts: verdicts("pass_fragment", 1)},
		},
		{
			Name: "TTL 1 passes", Verdict: ok, In: ttl1.Bytes(),
			Want: datapathtest.Delta{Verdicts: verdicts("pass_ttl", 1)},
		},
		{
			Name: "NAT in: SYN makes a connection to the first real",
			In:   syn.Bytes(), Verdict: red, Out: w.toReal(syn, 0, nat1).Bytes(),
			Want: datapathtest.Delta{
				Services: map[datapath.ServiceID]lvs.Stats{svcNAT: {Conns: 1, InPkts: 1, InBytes: ipLen}},
				Reals:    map[datapath.RealID]lvs.Stats{realNAT1: {Conns: 1, InPkts: 1, InBytes: ipLen}, realNAT2: {}},
				Conns:    conns(realNAT1, [2]int{1, 0}, realNAT2, [2]int{0, 0}),
				Verdicts: verdicts("fwd_redirect", 1),
			},
			Check: state("SYN_RECV", cli(40001), vip(80), realNAT1),
		},
		{
			Name: "NAT reply SYN+ACK: source rewritten to VIP, stays SYN_RECV",
			In:   synAck.Bytes(), Ifindex: w.n.Reals.Index, Verdict: red, Out: w.toClient(synAck, vip(80)).Bytes(),
			Want: datapathtest.Delta{
				Services: map[datapath.ServiceID]lvs.Stats{svcNAT: {OutPkts: 1, OutBytes: ipLen}},
				Reals:    map[datapath.RealID]lvs.Stats{realNAT1: {OutPkts: 1, OutBytes: ipLen}},
				Conns:    conns(realNAT1, [2]int{0, 0}),
			},
			Check: state("SYN_RECV", cli(40001), vip(80), realNAT1),
		},
		{
			Name: "NAT established: client ACK goes to the same real",
			In:   ack.Bytes(), Verdict: red, Out: w.toReal(ack, 0, nat1).Bytes(),
			Want: datapathtest.Delta{
				Services: map[datapath.ServiceID]lvs.Stats{svcNAT: {InPkts: 1, InBytes: ipLen}},
				Conns:    conns(realNAT1, [2]int{0, 0}),
			},
			Check: state("ESTABLISHED", cli(40001), vip(80), realNAT1),
		},
		func() datapathtest.Case {
			f := w.in(tcp, 40001, vip(80), "A")
			f.TTL = 1
			return datapathtest.Case{
				// Passed on, the kernel would deliver it to the local VIP
				// and answer with a RST that kills the connection.
				Name: "TTL 1 on a live connection: counted, state moved, dropped",
				In:   f.Bytes(), Verdict: datapath.VerdictShot,
				Want: datapathtest.Delta{
					Services: map[datapath.ServiceID]lvs.Stats{svcNAT: {InPkts: 1, InBytes: ipLen}},
					Conns:    conns(realNAT1, [2]int{0, 0}),
					Verdicts: verdicts("drop_ttl", 1, "pass_ttl", 0),
				},
				Check: state("ESTABLISHED", cli(40001), vip(80), realNAT1),
			}
		}(),
		{
			Name: "NAT client FIN: ESTABLISHED -> CLOSE_WAIT, active -> inactive",
			In:   fin.Bytes(), Verdict: red, Out: w.toReal(fin, 0, nat1).Bytes(),
			Want:  datapathtest.Delta{Conns: conns(realNAT1, [2]int{-1, 1})},
			Check: state("CLOSE_WAIT", cli(40001), vip(80), 0),
		},
		{
			Name: "NAT server FIN: CLOSE_WAIT -> TIME_WAIT (OUTPUT table)",
			In:   srvFin.Bytes(), Ifindex: w.n.Reals.Index, Verdict: red, Out: w.toClient(srvFin, vip(80)).Bytes(),
			Want:  datapathtest.Delta{Conns: conns(realNAT1, [2]int{0, 0})},
			Check: state("TIME_WAIT", cli(40001), vip(80), 0),
		},
		{
			Name: "NAT last ACK stays TIME_WAIT",
			In:   ack.Bytes(), Verdict: red, Out: w.toReal(ack, 0, nat1).Bytes(),
			Check: state("TIME_WAIT", cli(40001), vip(80), 0),
		},
		{
			// is_new_conn: SYN without ACK, FIN or RST.
			Name: "SYN+ACK on a TIME_WAIT entry follows it: not a new connection's SYN",
			In:   w.in(tcp, 40001, vip(80), "SA").Bytes(), Verdict: red,
			Out: w.toReal(w.in(tcp, 40001, vip(80), "SA"), 0, nat1).Bytes(),
			Want: datapathtest.Delta{
				Conns:    conns(realNAT1, [2]int{1, -1}, realNAT2, [2]int{0, 0}),
				Verdicts: verdicts("conn_reused", 0),
			},
			Check: state("SYN_RECV", cli(40001), vip(80), realNAT1),
		},
		{
			Name: "SYN+FIN on a TIME_WAIT entry follows it too",
			Setup: func(t testing.TB, d *datapath.Datapath) {
				must(t, d.SetConnStateForTest(lvs.TCP, cli(40001), vip(80), lvs.StateTimeWait))
				must(t, d.SetRealConnsForTest(realNAT1, 0, 1))
			},
			In: w.in(tcp, 40001, vip(80), "SF").Bytes(), Verdict: red,
			Out: w.toReal(w.in(tcp, 40001, vip(80), "SF"), 0, nat1).Bytes(),
			Want: datapathtest.Delta{
				Conns:    conns(realNAT1, [2]int{1, -1}),
				Verdicts: verdicts("conn_reused", 0),
			},
			Check: func(t testing.TB, d *datapath.Datapath) {
				state("SYN_RECV", cli(40001), vip(80), realNAT1)(t, d)
				// Back to TIME_WAIT for the next case.
				must(t, d.SetConnStateForTest(lvs.TCP, cli(40001), vip(80), lvs.StateTimeWait))
				must(t, d.SetRealConnsForTest(realNAT1, 0, 1))
			},
		},
		{
			Name: "SYN reuses a TIME_WAIT entry: old one released, scheduled afresh (rr: second real)",
			In:   syn.Bytes(), Verdict: red, Out: w.toReal(syn, 1, nat2).Bytes(),
			Want: datapathtest.Delta{
				Conns:    conns(realNAT1, [2]int{0, -1}, realNAT2, [2]int{1, 0}),
				Verdicts: verdicts("conn_reused", 1),
				Services: map[datapath.ServiceID]lvs.Stats{svcNAT: {Conns: 1, InPkts: 1, InBytes: ipLen}},
			},
			Check: state("SYN_RECV", cli(40001), vip(80), realNAT2),
		},
		{
			Name: "NAT reply from the old real no longer matches: passes",
			In:   synAck.Bytes(), Ifindex: w.n.Reals.Index, Verdict: ok,
		},
		{
			Name: "rr: the next new connection goes to the first real again",
			In:   w.in(tcp, 40002, vip(80), "S").Bytes(), Verdict: red,
			Out:  w.toReal(w.in(tcp, 40002, vip(80), "S"), 0, nat1).Bytes(),
			Want: datapathtest.Delta{Conns: conns(realNAT1, [2]int{1, 0})},
		},
		{
			Name: "client RST: SYN_RECV -> SYN_RECV (INPUT rst row keeps sSR)",
			In:   w.in(tcp, 40002, vip(80), "R").Bytes(), Verdict: red,
			Out:   w.toReal(w.in(tcp, 40002, vip(80), "R"), 0, nat1).Bytes(),
			Check: state("SYN_RECV", cli(40002), vip(80), realNAT1),
		},
		{
			Name: "expired entry is absent: an ACK passes and the entry is released",
			Setup: func(t testing.TB, d *datapath.Datapath) {
				must(t, d.AgeConnForTest(lvs.TCP, cli(40002), vip(80), time.Hour))
			},
			In: w.in(tcp, 40002, vip(80), "A").Bytes(), Verdict: ok,
			Want: datapathtest.Delta{
				Conns:    conns(realNAT1, [2]int{-1, 0}),
				Verdicts: verdicts("conn_expired", 1, "pass_not_syn", 1),
			},
		},
		{
			Name: "expired entry is absent: a SYN makes a new connection",
			Setup: func(t testing.TB, d *datapath.Datapath) {
				must(t, d.AgeConnForTest(lvs.TCP, cli(40001), vip(80), time.Hour))
			},
			// rr position 3: the second real again.
			In: syn.Bytes(), Verdict: red, Out: w.toReal(syn, 1, nat2).Bytes(),
			Want: datapathtest.Delta{
				Conns:    conns(realNAT2, [2]int{0, 0}),
				Verdicts: verdicts("conn_expired", 1),
			},
			Check: state("SYN_RECV", cli(40001), vip(80), realNAT2),
		},
		{
			Name: "segment without SYN/FIN/ACK/RST moves to CLOSE",
			In:   w.in(tcp, 40001, vip(80), "").Bytes(), Verdict: red,
			Out:   w.toReal(w.in(tcp, 40001, vip(80), ""), 1, nat2).Bytes(),
			Want:  datapathtest.Delta{Conns: conns(realNAT2, [2]int{-1, 1})},
			Check: state("CLOSE", cli(40001), vip(80), 0),
		},

		// DR: INPUT-ONLY table, only MACs and TTL change.
		{
			Name: "DR new SYN: Ethernet to the real's MAC, IP unchanged but TTL",
			In:   w.in(tcp, 41000, vip(443), "S").Bytes(), Verdict: red,
			Out: w.toReal(w.in(tcp, 41000, vip(443), "S"), 0, netip.AddrPort{}).Bytes(),
			Want: datapathtest.Delta{
				Conns: conns(realDR1, [2]int{1, 0}),
				Reals: map[datapath.RealID]lvs.Stats{realDR1: {Conns: 1, InPkts: 1, InBytes: ipLen}},
			},
			Check: state("SYN_RECV", cli(41000), vip(443), realDR1),
		},
		{
			Name: "DR established: ACK -> ESTABLISHED, same real",
			In:   w.in(tcp, 41000, vip(443), "A").Bytes(), Verdict: red,
			Out:   w.toReal(w.in(tcp, 41000, vip(443), "A"), 0, netip.AddrPort{}).Bytes(),
			Check: state("ESTABLISHED", cli(41000), vip(443), realDR1),
		},
		{
			Name: "DR second connection goes to the second real",
			In:   w.in(tcp, 41001, vip(443), "S").Bytes(), Verdict: red,
			Out:  w.toReal(w.in(tcp, 41001, vip(443), "S"), 1, netip.AddrPort{}).Bytes(),
			Want: datapathtest.Delta{Conns: conns(realDR2, [2]int{1, 0})},
		},
		{
			Name: "DR client FIN: ESTABLISHED -> FIN_WAIT (INPUT-ONLY, not CLOSE_WAIT)",
			In:   w.in(tcp, 41000, vip(443), "FA").Bytes(), Verdict: red,
			Out:   w.toReal(w.in(tcp, 41000, vip(443), "FA"), 0, netip.AddrPort{}).Bytes(),
			Want:  datapathtest.Delta{Conns: conns(realDR1, [2]int{-1, 1})},
			Check: state("FIN_WAIT", cli(41000), vip(443), 0),
		},
		{
			Name: "DR RST on SYN_RECV stays SYN_RECV (INPUT-ONLY rst row)",
			In:   w.in(tcp, 41001, vip(443), "R").Bytes(), Verdict: red,
			Out:   w.toReal(w.in(tcp, 41001, vip(443), "R"), 1, netip.AddrPort{}).Bytes(),
			Want:  datapathtest.Delta{Conns: conns(realDR2, [2]int{0, 0})},
			Check: state("SYN_RECV", cli(41001), vip(443), 0),
		},
		{
			Name: "DR RST on FIN_WAIT: -> CLOSE",
			In:   w.in(tcp, 41000, vip(443), "R").Bytes(), Verdict: red,
			Out:   w.toReal(w.in(tcp, 41000, vip(443), "R"), 0, netip.AddrPort{}).Bytes(),
			Want:  datapathtest.Delta{Conns: conns(realDR1, [2]int{0, 0})},
			Check: state("CLOSE", cli(41000), vip(443), 0),
		},
		{
			Name: "DR UDP: MACs change, inactive connection",
			In:   w.in(udp, 41002, vip(54), "").Bytes(), Verdict: red,
			Out:   w.toReal(w.in(udp, 41002, vip(54), ""), 2, netip.AddrPort{}).Bytes(),
			Want:  datapathtest.Delta{Conns: conns(realDRUDP, [2]int{0, 1})},
			Check: state("UDP", cli(41002), vip(54), realDRUDP),
		},

		// UDP NAT.
		{
			Name: "UDP new flow: DNAT to the real, counted inactive",
			In:   w.in(udp, 42000, vip(53), "").Bytes(), Verdict: red,
			Out: w.toReal(w.in(udp, 42000, vip(53), ""), 2, rip(2, 5353)).Bytes(),
			Want: datapathtest.Delta{
				Conns:    conns(realUDP, [2]int{0, 1}),
				Services: map[datapath.ServiceID]lvs.Stats{svcUDP: {Conns: 1, InPkts: 1, InBytes: 28}},
			},
			Check: state("UDP", cli(42000), vip(53), realUDP),
		},
		{
			Name: "UDP reply: source back to VIP:53",
			In:   w.reply(udp, 2, rip(2, 5353), 42000, "").Bytes(), Ifindex: w.n.Reals.Index, Verdict: red,
			Out: w.toClient(w.reply(udp, 2, rip(2, 5353), 42000, ""), vip(53)).Bytes(),
			Want: datapathtest.Delta{
				Conns:    conns(realUDP, [2]int{0, 0}),
				Services: map[datapath.ServiceID]lvs.Stats{svcUDP: {OutPkts: 1, OutBytes: 28}},
			},
		},
		func() datapathtest.Case {
			f := w.in(udp, 42001, vip(53), "")
			f.NoUDPChecksum = true
			o := w.toReal(f, 2, rip(2, 5353))
			return datapathtest.Case{
				Name: "UDP without checksum keeps checksum 0",
				In:   f.Bytes(), Verdict: red, Out: o.Bytes(),
			}
		}(),

		// Schedulers.
		{
			Name: "no real available: passes to the kernel",
			In:   w.in(tcp, 43000, vip(86), "S").Bytes(), Verdict: ok,
			Want: datapathtest.Delta{Verdicts: verdicts("pass_no_dest", 1)},
		},
		{
			Name: "NAT real without a neighbour entry: bpf_redirect_neigh, MACs left to the kernel",
			In:   w.in(tcp, 43001, vip(87), "S").Bytes(), Verdict: red,
			Out: func() []byte {
				f := w.in(tcp, 43001, vip(87), "S")
				f.Dst, f.TTL = netip.AddrPortFrom(datapathtest.NoNeighAddr, 8080), 63
				return f.Bytes()
			}(),
			Want: datapathtest.Delta{Verdicts: verdicts("fwd_neigh", 1)},
		},
		{
			Name: "NAT real without a route: rewritten packet goes to the kernel",
			In:   w.in(tcp, 43002, vip(87), "S").Bytes(), Verdict: ok,
			Out: func() []byte {
				f := w.in(tcp, 43002, vip(87), "S")
				f.Dst, f.TTL = netip.AddrPortFrom(datapathtest.Unrouted, 8080), 63
				return f.Bytes()
			}(),
			Want: datapathtest.Delta{Verdicts: verdicts("pass_fib", 1), Conns: conns(realUnrt, [2]int{1, 0})},
		},
		{
			Name: "DR real without a route: dropped",
			In:   w.in(tcp, 43003, vip(88), "S").Bytes(), Verdict: datapath.VerdictShot,
			Out:  w.in(tcp, 43003, vip(88), "S").Bytes(), // dropped before any rewrite
			Want: datapathtest.Delta{Verdicts: verdicts("drop_fib", 1)},
		},
	}
	cases = append(cases, w.schedCases()...)
	w.n.Run(t, w.d, cases)
	// The fixtures shared with the data-plane benchmark: each sets up the
	// connections it needs, so they run after the cases above, which
	// build on each other's.
	shared := w.Fixtures()
	w.n.RunX(t, w.d, shared)
	for _, x := range shared {
		switch x.Name {
		case "established TUN GUE", "established TUN GRE", "not a service":
			// The fast path leaves GUE and GRE to TC, and what is no
			// service to the kernel.
		default:
			wantTaken(t, w.n, x.Name)
		}
	}
	wantTaken(t, w.n, "NAT in: SYN makes a connection to the first real",
		"NAT reply SYN+ACK: source rewritten to VIP, stays SYN_RECV",
		"NAT established: client ACK goes to the same real",
		"NAT client FIN: ESTABLISHED -> CLOSE_WAIT, active -> inactive",
		"DR new SYN: Ethernet to the real's MAC, IP unchanged but TTL",
		"DR established: ACK -> ESTABLISHED, same real",
		"DR UDP: MACs change, inactive connection",
		"UDP new flow: DNAT to the real, counted inactive",
		"UDP reply: source back to VIP:53")
}

// schedCases check the pick of each scheduler for new connections.
func (w *world) schedCases() []datapathtest.Case {
	var cs []datapathtest.Case
	pick := func(name string, port, sport uint16, real datapath.RealID, addr int, rport uint16, setup func(testing.TB, *datapath.Datapath)) {
		f := w.in(packet.TCP, sport, vip(port), "S")
		cs = append(cs, datapathtest.Case{
			Name: name, Setup: setup, In: f.Bytes(), Verdict: datapath.VerdictRedirect,
			Out:   w.toReal(f, addr, rip(addr, rport)).Bytes(),
			Want:  datapathtest.Delta{Conns: conns(real, [2]int{1, 0})},
			Check: state("SYN_RECV", cli(sport), vip(port), real),
		})
	}
	// wrr: the table is the sequence.
	for i, r := range []datapath.RealID{6, 7, 6, 6, 6} {
		addr := map[datapath.RealID]int{6: 0, 7: 1}[r]
		pick("wrr follows the sequence, pick "+string(rune('1'+i)), 82, uint16(44000+i), r, addr, uint16(9000+r), nil)
	}
	// weight 0 is skipped.
	pick("rr skips a weight-0 real", 85, 44100, 15, 1, 9015, nil)
	pick("rr skips a weight-0 real again", 85, 44101, 15, 1, 9015, nil)

	preset := func(c map[datapath.RealID][2]uint32) func(testing.TB, *datapath.Datapath) {
		return func(t testing.TB, d *datapath.Datapath) {
			for id, v := range c {
				must(t, d.SetRealConnsForTest(id, v[0], v[1]))
			}
		}
	}
	// lc: overhead = active*256 + inactive, first of the least wins.
	pick("lc picks the least overhead (first of equals)", 83, 44200, 9, 1, 9009,
		preset(map[datapath.RealID][2]uint32{8: {1, 0}, 9: {0, 5}, 10: {0, 5}}))
	pick("lc counts active 256 times inactive", 83, 44201, 10, 2, 9010,
		preset(map[datapath.RealID][2]uint32{8: {0, 300}, 9: {1, 0}, 10: {0, 255}}))
	pick("lc: all idle, the first real wins", 83, 44202, 8, 0, 9008,
		preset(map[datapath.RealID][2]uint32{8: {0, 0}, 9: {0, 0}, 10: {0, 0}}))
	// wlc: loh * w_dest > doh * w_least.
	pick("wlc weighs overhead by weight", 84, 44300, 12, 1, 9012,
		preset(map[datapath.RealID][2]uint32{11: {1, 0}, 12: {2, 0}, 13: {0, 0}}))
	pick("wlc keeps the first on a tie", 84, 44301, 11, 0, 9011,
		preset(map[datapath.RealID][2]uint32{11: {1, 0}, 12: {3, 0}, 13: {0, 0}}))
	pick("wlc never picks weight 0", 84, 44302, 11, 0, 9011,
		preset(map[datapath.RealID][2]uint32{11: {0, 0}, 12: {0, 0}, 13: {0, 0}}))
	return cs
}

// TestPrivilegedXDPGenericTakesDROnly: on a link in generic XDP mode (not
// in lvs_xdp_tx) the fast path forwards DR and leaves NAT, in both
// directions, to TC, which gives the same result as without XDP.
func TestPrivilegedXDPGenericTakesDROnly(t *testing.T) {
	w := newWorld(t)
	w.n.XDP = true
	const tcp = packet.TCP
	red := datapath.VerdictRedirect
	ipLen := uint64(40)
	nat1 := rip(0, 8080)
	syn := w.in(tcp, 46001, vip(80), "S")
	synAck := w.reply(tcp, 0, nat1, 46001, "SA")
	dr := w.in(tcp, 46002, vip(443), "S")
	w.n.Run(t, w.d, []datapathtest.Case{
		{
			Name: "NAT SYN", In: syn.Bytes(), Verdict: red, Out: w.toReal(syn, 0, nat1).Bytes(),
			Want: datapathtest.Delta{Reals: map[datapath.RealID]lvs.Stats{realNAT1: {Conns: 1, InPkts: 1, InBytes: ipLen}}},
		},
		{
			Name: "NAT reply", In: synAck.Bytes(), Verdict: red, Out: w.toClient(synAck, vip(80)).Bytes(),
			Ifindex: w.n.Reals.Index,
		},
		{
			Name: "DR SYN", In: dr.Bytes(), Verdict: red, Out: w.toReal(dr, 0, netip.AddrPort{}).Bytes(),
			Want: datapathtest.Delta{Reals: map[datapath.RealID]lvs.Stats{realDR1: {Conns: 1, InPkts: 1, InBytes: ipLen}}},
		},
	})
	if !slices.Equal(w.n.Taken, []string{"DR SYN"}) {
		t.Errorf("the generic fast path took %q, want only the DR SYN", w.n.Taken)
	}
}
