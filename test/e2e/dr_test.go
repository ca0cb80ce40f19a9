package e2e

import (
	"slices"
	"testing"

	"golvs/internal/testnet"
)

// TestPrivilegedDR is LVS-DR: the real servers hold the VIP on lo and
// answer the client themselves, so the director sees no replies.
func TestPrivilegedDR(t *testing.T) {
	l := newLab(t, testnet.DR)
	l.saveLogsOnFailure()
	l.setup("rr", "-g")
	l.checkList(wantList("rr",
		realRow{Addr: rs1, Forward: "Route", Weight: 1},
		realRow{Addr: rs2, Forward: "Route", Weight: 1}))

	got := l.curls(6)
	want := []string{rs2, rs1, rs2, rs1, rs2, rs1}
	if !slices.Equal(got, want) {
		t.Fatalf("curl %s six times: servers %v, want %v", vipURL, got, want)
	}
	l.ab(1000, 20)

	// nginx saw the client's own address, on the VIP it holds on lo.
	l.waitAccessLogs(6 + 1000)
	if n := l.checkAccessLogs(vip); n != 6+1000 {
		t.Errorf("the real servers logged %d requests, want %d", n, 6+1000)
	}
	l.checkNoDirectorSocket()

	st := l.statsOf()
	svc := st["TCP "+vipPort]
	if want := l.clientConnects(); svc.Conns != want || svc.InPkts == 0 || svc.InBytes == 0 {
		t.Errorf("lvsadm -Ln --stats --exact: service %+v, want %d conns (the connections the client opened) and nonzero in packets and bytes", svc, want)
	}
	for _, k := range []string{"TCP " + vipPort, rs1, rs2} {
		if s := st[k]; s.OutPkts != 0 || s.OutBytes != 0 {
			t.Errorf("lvsadm -Ln --stats --exact: %s OutPkts %d OutBytes %d, want 0 (DR replies bypass the director)", k, s.OutPkts, s.OutBytes)
		}
	}
	for _, rs := range []string{rs1, rs2} {
		if s := st[rs]; s.Conns == 0 || s.InPkts == 0 {
			t.Errorf("lvsadm -Ln --stats --exact: real %s %+v, want nonzero conns and in packets", rs, s)
		}
	}

	ka := l.openKeepAlive()
	held := l.get(ka)
	var found bool
	for _, c := range l.conns() {
		if c.Source == ka.conn.LocalAddr().String() {
			found = true
			if c.State != "ESTABLISHED" || c.Dest != held.Addr.String()+":80" || c.Virtual != vipPort {
				t.Errorf("lvsadm -Lnc: open connection %+v, want ESTABLISHED to %s:80", c, held.Addr)
			}
		}
	}
	if !found {
		t.Errorf("lvsadm -Lnc: no entry for the open connection from %s", ka.conn.LocalAddr())
	}
	if r := l.get(ka); r != held {
		t.Errorf("second request on the open connection answered by %s, want %s", r.Name, held.Name)
	}
}
