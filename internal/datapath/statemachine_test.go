package datapath_test

import (
	"fmt"
	"net/netip"
	"testing"

	"golvs/internal/datapath"
	"golvs/internal/datapath/datapathtest"
	"golvs/internal/lvs"
	"golvs/internal/packet"
)

// tcpStates is IPVS's tcp_states[] (ip_vs_proto_tcp.c) typed in again from
// the reference, independently of bpf/include/conn.h: [direction][event][state].
var tcpStates = func() [3][4][11]int {
	const (
		sNO = lvs.StateNone
		sES = lvs.StateEstablished
		sSS = lvs.StateSynSent
		sSR = lvs.StateSynRecv
		sFW = lvs.StateFinWait
		sTW = lvs.StateTimeWait
		sCL = lvs.StateClose
		sCW = lvs.StateCloseWait
		sLA = lvs.StateLastAck
		sLI = lvs.StateListen
		sSA = lvs.StateSynAck
	)
	_ = sNO
	return [3][4][11]int{
		{ // INPUT
			{sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR},
			{sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW},
			{sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES},
			{sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR},
		},
		{ // OUTPUT
			{sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR},
			{sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW},
			{sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES},
			{sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL},
		},
		{ // INPUT-ONLY
			{sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR},
			{sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW},
			{sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES},
			{sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL},
		},
	}
}()

func active(s int) bool {
	switch s {
	case lvs.StateEstablished, lvs.StateSynSent, lvs.StateSynRecv, lvs.StateSynAck:
		return true
	}
	return false
}

// TestPrivilegedTCPStateMachine drives every (direction, event, state) of
// IPVS's table through the data plane and checks the new state and the
// ActiveConn/InActConn change.
func TestPrivilegedTCPStateMachine(t *testing.T) {
	datapathtest.RequirePrivileged(t)
	n := datapathtest.NewNet(t)
	d := datapathtest.Open(t, datapath.Options{ConnTableSize: 1024})
	const (
		svcNAT, svcDR   datapath.ServiceID = 1, 2
		realNAT, realDR datapath.RealID    = 1, 2
	)
	natReal := netip.AddrPortFrom(datapathtest.RealAddrs[0], 8080)
	must(t, d.SetReal(realNAT, lvs.Real{Addr: natReal, Method: lvs.Masq, Weight: 1}))
	must(t, d.SetReal(realDR, lvs.Real{Addr: netip.AddrPortFrom(datapathtest.RealAddrs[1], 91), Method: lvs.Route, Weight: 1}))
	must(t, d.SetService(svcNAT, lvs.Service{ServiceKey: key(lvs.TCP, 90), Scheduler: "rr"}, []datapath.RealID{realNAT}, 0))
	must(t, d.SetService(svcDR, lvs.Service{ServiceKey: key(lvs.TCP, 91), Scheduler: "rr"}, []datapath.RealID{realDR}, 0))

	events := []string{"S", "F", "A", "R"}
	dirs := []string{"INPUT", "OUTPUT", "INPUT-ONLY"}
	client := cli(45000)
	for dir := range dirs {
		vport, real, ifindex := uint16(90), realNAT, n.Client.Index
		if dir == 2 {
			vport, real = 91, realDR
		}
		virtual := vip(vport)
		for ev, flags := range events {
			for st := range 11 {
				name := fmt.Sprintf("%s %s in %s", dirs[dir], map[string]string{"S": "syn", "F": "fin", "A": "ack", "R": "rst"}[flags], lvs.TCPStateName(st))
				t.Run(name, func(t *testing.T) {
					// A live entry in state st, with counters far from 0.
					if _, err := datapathtest.FindConn(d, client, virtual); err != nil {
						syn := packet.Frame{SrcMAC: datapathtest.ClientMAC, DstMAC: n.Client.MAC, Src: client, Dst: virtual, Proto: packet.TCP, Flags: "S"}
						n.Do(t, func() {
							if v, _, err := datapath.NewHarness(d).Run(syn.Bytes(), n.Client.Index); err != nil || v != datapath.VerdictRedirect {
								t.Fatalf("SYN: verdict %d, %v", v, err)
							}
						})
					}
					must(t, d.SetConnStateForTest(lvs.TCP, client, virtual, st))
					must(t, d.SetRealConnsForTest(real, 100, 100))

					f := packet.Frame{SrcMAC: datapathtest.ClientMAC, DstMAC: n.Client.MAC, Src: client, Dst: virtual, Proto: packet.TCP, Flags: flags}
					in := ifindex
					if dir == 1 {
						f = packet.Frame{SrcMAC: datapathtest.RealMACs[0], DstMAC: n.Reals.MAC, Src: natReal, Dst: client, Proto: packet.TCP, Flags: flags}
						in = n.Reals.Index
					}
					var verdict int
					n.Do(t, func() {
						var err error
						verdict, _, err = datapath.NewHarness(d).Run(f.Bytes(), in)
						must(t, err)
					})
					if verdict != datapath.VerdictRedirect {
						t.Fatalf("verdict %s", datapathtest.VerdictName(verdict))
					}

					want := tcpStates[dir][ev][st]
					c, err := datapathtest.FindConn(d, client, virtual)
					must(t, err)
					if c.State != lvs.TCPStateName(want) {
						t.Errorf("state %s, want %s", c.State, lvs.TCPStateName(want))
					}
					wantA, wantI := 100, 100
					reuse := dir != 1 && flags == "S" && (st == lvs.StateTimeWait || st == lvs.StateClose)
					switch {
					case reuse: // conn_reuse_mode: old entry released, new one made
						wantI--
						wantA++
					case active(st) && !active(want):
						wantA, wantI = wantA-1, wantI+1
					case !active(st) && active(want):
						wantA, wantI = wantA+1, wantI-1
					}
					a, i, err := d.RealConns(real)
					must(t, err)
					if int(a) != wantA || int(i) != wantI {
						t.Errorf("counters (%d, %d), want (%d, %d)", a, i, wantA, wantI)
					}
				})
			}
		}
	}
}
