package datapath_test

import (
	"testing"

	"golvs/internal/datapath"
	"golvs/internal/datapath/datapathtest"
	"golvs/internal/lvs"
	"golvs/internal/packet"
)

// TestPrivilegedRetiredReal follows IPVS with expire_nodest_conn=0 (§4.8):
// a deleted real's connections stay, their client packets are dropped,
// NAT replies still pass, conn_reuse still reschedules, no new connection
// picks the real, and adding it back revives its connections.
func TestPrivilegedRetiredReal(t *testing.T) { bothPrograms(t, testRetiredReal) }

func testRetiredReal(t *testing.T) {
	w := newWorld(t)
	const tcp = packet.TCP
	red, shot := datapath.VerdictRedirect, datapath.VerdictShot
	nat1, nat2 := rip(0, 8080), rip(1, 8080)
	syn := func(p uint16) packet.Frame { return w.in(tcp, p, vip(80), "S") }
	ack := func(p uint16) packet.Frame { return w.in(tcp, p, vip(80), "A") }
	reply := w.reply(tcp, 0, nat1, 46000, "SA")
	noStats := map[datapath.ServiceID]lvs.Stats{svcNAT: {}}

	cases := []datapathtest.Case{
		{Name: "first connection to real 1", In: syn(46000).Bytes(), Verdict: red, Out: w.toReal(syn(46000), 0, nat1).Bytes()},
		{Name: "second to real 2", In: syn(46001).Bytes(), Verdict: red, Out: w.toReal(syn(46001), 1, nat2).Bytes()},
		{Name: "third to real 1", In: syn(46002).Bytes(), Verdict: red, Out: w.toReal(syn(46002), 0, nat1).Bytes()},
		{
			Name:  "client packet of a connection to a retired real is dropped, entry left as it was",
			Setup: func(t testing.TB, d *datapath.Datapath) { must(t, d.RetireReal(realNAT1)) },
			In:    ack(46000).Bytes(), Verdict: shot,
			Want: datapathtest.Delta{
				Services: noStats,
				Conns:    conns(realNAT1, [2]int{0, 0}),
				Verdicts: verdicts("drop_nodest", 1),
			},
			Check: state("SYN_RECV", cli(46000), vip(80), realNAT1),
		},
		{
			Name: "NAT reply from the retired real is still translated",
			In:   reply.Bytes(), Ifindex: w.n.Reals.Index, Verdict: red, Out: w.toClient(reply, vip(80)).Bytes(),
			Want: datapathtest.Delta{Verdicts: verdicts("drop_nodest", 0)},
		},
		{
			Name: "new connection skips the retired real (rr)",
			In:   syn(46003).Bytes(), Verdict: red, Out: w.toReal(syn(46003), 1, nat2).Bytes(),
			Want: datapathtest.Delta{Conns: conns(realNAT1, [2]int{0, 0}, realNAT2, [2]int{1, 0})},
		},
		{
			Name: "and again",
			In:   syn(46004).Bytes(), Verdict: red, Out: w.toReal(syn(46004), 1, nat2).Bytes(),
		},
		{
			Name: "a SYN on a TIME_WAIT entry of the retired real is rescheduled, not dropped",
			Setup: func(t testing.TB, d *datapath.Datapath) {
				must(t, d.SetConnStateForTest(lvs.TCP, cli(46000), vip(80), lvs.StateTimeWait))
				must(t, d.SetRealConnsForTest(realNAT1, 1, 1))
			},
			In: syn(46000).Bytes(), Verdict: red, Out: w.toReal(syn(46000), 1, nat2).Bytes(),
			Want: datapathtest.Delta{
				Conns:    conns(realNAT1, [2]int{0, -1}, realNAT2, [2]int{1, 0}),
				Verdicts: verdicts("conn_reused", 1, "drop_nodest", 0),
			},
			Check: state("SYN_RECV", cli(46000), vip(80), realNAT2),
		},
		{
			Name: "SetReal revives the real: its connections carry on",
			Setup: func(t testing.TB, d *datapath.Datapath) {
				must(t, d.SetReal(realNAT1, lvs.Real{Addr: nat1, Method: lvs.Masq, Weight: 1}))
			},
			In: ack(46002).Bytes(), Verdict: red, Out: w.toReal(ack(46002), 0, nat1).Bytes(),
			Check: state("ESTABLISHED", cli(46002), vip(80), realNAT1),
		},
		{
			Name: "expire_nodest_conn=1: a packet of a connection to a retired real expires it (not a SYN: the kernel's)",
			Setup: func(t testing.TB, d *datapath.Datapath) {
				must(t, d.SetExpireNodestConn(true))
				must(t, d.RetireReal(realNAT1))
			},
			In: ack(46002).Bytes(), Verdict: datapath.VerdictOK, Out: ack(46002).Bytes(),
			Want: datapathtest.Delta{
				Services: noStats,
				Conns:    conns(realNAT1, [2]int{-1, 0}),
				Verdicts: verdicts("drop_nodest", 0, "pass_not_syn", 1),
			},
			Check: func(t testing.TB, d *datapath.Datapath) {
				if c, err := datapathtest.FindConn(d, cli(46002), vip(80)); err == nil {
					t.Errorf("connection still there: %+v", c)
				}
			},
		},
		{
			Name: "expire_nodest_conn=1: the client's new SYN is scheduled to a live real",
			In:   syn(46002).Bytes(), Verdict: red, Out: w.toReal(syn(46002), 1, nat2).Bytes(),
			Want:  datapathtest.Delta{Conns: conns(realNAT1, [2]int{0, 0}, realNAT2, [2]int{1, 0})},
			Check: state("SYN_RECV", cli(46002), vip(80), realNAT2),
		},
		{
			Name: "expire_nodest_conn back to 0: dropped again",
			Setup: func(t testing.TB, d *datapath.Datapath) {
				must(t, d.SetExpireNodestConn(false))
				must(t, d.SetConnStateForTest(lvs.TCP, cli(46002), vip(80), lvs.StateEstablished))
				must(t, d.RetireReal(realNAT2))
			},
			In: ack(46002).Bytes(), Verdict: shot,
			Want: datapathtest.Delta{Services: noStats, Verdicts: verdicts("drop_nodest", 1)},
		},
	}

	// lc and wlc skip a retired real even when it is the least loaded.
	idle := func(t testing.TB, d *datapath.Datapath) {
		for _, id := range []datapath.RealID{8, 9, 10, 11, 12, 13} {
			must(t, d.SetRealConnsForTest(id, 0, 0))
		}
	}
	for _, c := range []struct {
		name          string
		port          uint16
		retired, want datapath.RealID
		addr          int
	}{
		{"lc skips a retired real", 83, 8, 9, 1},
		{"wlc skips a retired real", 84, 11, 12, 1},
	} {
		f := w.in(tcp, 46100, vip(c.port), "S")
		cases = append(cases, datapathtest.Case{
			Name: c.name,
			Setup: func(t testing.TB, d *datapath.Datapath) {
				idle(t, d)
				must(t, d.RetireReal(c.retired))
			},
			In: f.Bytes(), Verdict: red, Out: w.toReal(f, c.addr, rip(c.addr, 9000+uint16(c.want))).Bytes(),
			Check: state("SYN_RECV", cli(46100), vip(c.port), c.want),
		})
	}
	w.n.Run(t, w.d, cases)

	if err := w.d.RetireReal(0); err == nil {
		t.Error("RetireReal(0) worked")
	}
}
