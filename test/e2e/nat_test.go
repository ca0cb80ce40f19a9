package e2e

import (
	"slices"
	"testing"
	"time"

	"golvs/internal/testnet"
)

// TestPrivilegedNAT is the classic LVS-NAT tutorial: rr over two nginx
// real servers, then everything an operator would look at.
func TestPrivilegedNAT(t *testing.T) {
	l := newLab(t, testnet.NAT)
	l.saveLogsOnFailure()
	l.setup("rr", "-m")
	l.checkList(wantList("rr",
		realRow{Addr: rs1, Forward: "Masq", Weight: 1},
		realRow{Addr: rs2, Forward: "Masq", Weight: 1}))

	// IPVS's rr walks the real servers newest first, so the first
	// connection goes to the real server added last.
	got := l.curls(6)
	want := []string{rs2, rs1, rs2, rs1, rs2, rs1}
	if !slices.Equal(got, want) {
		t.Fatalf("curl %s six times: servers %v, want %v", vipURL, got, want)
	}
	l.waitAccessLogs(6)
	if n := l.accessLogCounts(); n[rs1] != 3 || n[rs2] != 3 {
		t.Errorf("nginx access logs after six requests: %v, want 3 each", n)
	}

	st := l.statsOf()
	svc := st["TCP "+vipPort]
	if svc.Conns != 6 || svc.InPkts == 0 || svc.OutPkts == 0 || svc.InBytes == 0 || svc.OutBytes == 0 {
		t.Errorf("lvsadm -Ln --stats --exact: service %+v, want 6 conns and nonzero in/out packets and bytes", svc)
	}
	for _, rs := range []string{rs1, rs2} {
		if s := st[rs]; s.Conns != 3 || s.InPkts == 0 || s.OutPkts == 0 {
			t.Errorf("lvsadm -Ln --stats --exact: real %s %+v, want 3 conns and nonzero in/out packets", rs, s)
		}
	}

	// A connection held open is listed ESTABLISHED and counted active.
	ka := l.openKeepAlive()
	holder := l.get(ka)
	if holder.Addr.String()+":80" != rs2 {
		t.Errorf("the seventh connection went to %s, want %s (rr)", holder.Addr, rs2)
	}
	var found bool
	for _, c := range l.conns() {
		if c.Virtual != vipPort {
			t.Errorf("lvsadm -Lnc: entry %+v for another virtual address", c)
		}
		if c.Source == ka.conn.LocalAddr().String() {
			found = true
			if c.State != "ESTABLISHED" || c.Dest != rs2 {
				t.Errorf("lvsadm -Lnc: open connection %+v, want ESTABLISHED to %s", c, rs2)
			}
		}
	}
	if !found {
		t.Errorf("lvsadm -Lnc: no entry for the open connection from %s", ka.conn.LocalAddr())
	}
	if rows, ok := l.waitList(func(m map[string]realRow) bool { return m[rs2].Active == 1 && m[rs1].Active == 0 }); !ok {
		t.Errorf("lvsadm -Ln with one open connection to %s: %+v, want ActiveConn 1 there and 0 on %s", rs2, rows, rs1)
	}
	l.checkNoDirectorSocket()

	l.ab(2000, 50)
	l.waitAccessLogs(6 + 1 + 2000)
	if n := l.checkAccessLogs(""); n != 6+1+2000 {
		t.Errorf("the real servers logged %d requests, want %d", n, 6+1+2000)
	}
	l.checkNoDirectorSocket()
	st = l.statsOf()
	if got, want := st["TCP "+vipPort].Conns, l.clientConnects(); got != want || got < 6+1+2000 {
		t.Errorf("lvsadm -Ln --stats --exact: service Conns %d, want %d (the connections the client opened)", got, want)
	}
	if a, b, svc := st[rs1].Conns, st[rs2].Conns, st["TCP "+vipPort].Conns; a+b != svc {
		t.Errorf("lvsadm -Ln --stats --exact: real servers' Conns %d + %d, want the service's %d", a, b, svc)
	}
	if cs := l.conns(); len(cs) < 2 {
		t.Errorf("lvsadm -Lnc after ab lists %d entries, want the recent connections", len(cs))
	}
	// The kept-alive connection still works after all that.
	if r := l.get(ka); r != holder {
		t.Errorf("second request on the open connection answered by %s, want %s", r.Name, holder.Name)
	}
}

// TestPrivilegedNATWeightedRoundRobin checks wrr's exact proportions and
// IPVS's interleaving for weights 3:1.
func TestPrivilegedNATWeightedRoundRobin(t *testing.T) {
	l := newLab(t, testnet.NAT)
	l.adm("-A", "-t", vipPort, "-s", "wrr")
	l.adm("-a", "-t", vipPort, "-r", rs1, "-m", "-w", "3")
	l.adm("-a", "-t", vipPort, "-r", rs2, "-m", "-w", "1")
	l.checkList(wantList("wrr",
		realRow{Addr: rs1, Forward: "Masq", Weight: 3},
		realRow{Addr: rs2, Forward: "Masq", Weight: 1}))

	got := l.curls(12) // three periods of 3+1
	count := map[string]int{}
	for _, s := range got {
		count[s]++
	}
	if count[rs1] != 9 || count[rs2] != 3 {
		t.Fatalf("12 connections with weights 3:1 went %d to %s and %d to %s, want 9 and 3 (order %v)", count[rs1], rs1, count[rs2], rs2, got)
	}
	// ip_vs_wrr.c: the current weight starts at the maximum and steps
	// down by the gcd, each pass taking the reals (newest first) whose
	// weight reaches it: rs1, rs1, rs2 (cw 3, 2, 1), rs1 in the same pass.
	want := []string{rs1, rs1, rs2, rs1, rs1, rs1, rs2, rs1, rs1, rs1, rs2, rs1}
	if !slices.Equal(got, want) {
		t.Errorf("wrr order %v, want IPVS's %v", got, want)
	}
}

// TestPrivilegedLeastConnection holds one connection open to a real server
// and checks that lc and wlc send new connections to the other one.
func TestPrivilegedLeastConnection(t *testing.T) {
	for _, sched := range []string{"lc", "wlc"} {
		t.Run(sched, func(t *testing.T) {
			l := newLab(t, testnet.NAT)
			l.setup(sched, "-m")
			ka := l.openKeepAlive()
			busy := l.get(ka)
			busyAddr := busy.Addr.String() + ":80"
			if _, ok := l.waitList(func(m map[string]realRow) bool { return m[busyAddr].Active == 1 }); !ok {
				t.Fatalf("lvsadm -Ln: ActiveConn of %s did not become 1 with a connection open:\n%s", busyAddr, l.adm("-Ln"))
			}
			// Each finished connection adds an inactive one (overhead 1)
			// to the idle server; the busy one has 256 for its active
			// connection, so the next connections all go to the idle one.
			for i, s := range l.curls(5) {
				if s == busyAddr {
					t.Fatalf("%s: new connection %d went to %s, which has the open connection:\n%s", sched, i+1, s, l.adm("-Ln"))
				}
			}
			if r := l.get(ka); r != busy {
				t.Errorf("second request on the open connection answered by %s, want %s", r.Name, busy.Name)
			}
		})
	}
}

// TestPrivilegedQuiesce sets a real server's weight to 0: it gets no new
// connections, but a connection it already has keeps working.
func TestPrivilegedQuiesce(t *testing.T) {
	l := newLab(t, testnet.NAT)
	l.setup("rr", "-m")
	ka := l.openKeepAlive()
	held := l.get(ka)
	heldAddr := held.Addr.String() + ":80"
	other := rs1
	if heldAddr == rs1 {
		other = rs2
	}

	l.adm("-e", "-t", vipPort, "-r", heldAddr, "-m", "-w", "0")
	rows := parseList(t, l.adm("-Ln"))
	if rows[heldAddr].Weight != 0 || rows[heldAddr].Forward != "Masq" || rows[other].Weight != 1 {
		t.Errorf("lvsadm -Ln after -e -w 0: %+v", rows)
	}
	for i, s := range l.curls(4) {
		if s != other {
			t.Fatalf("new connection %d went to %s, want %s (%s has weight 0)", i+1, s, other, heldAddr)
		}
	}
	if r := l.get(ka); r != held {
		t.Errorf("second request on the connection opened before -w 0 answered by %s, want %s", r.Name, held.Name)
	}

	// Weight back to 1: the real server takes new connections again.
	l.adm("-e", "-t", vipPort, "-r", heldAddr, "-m", "-w", "1")
	if got := l.curls(4); !slices.Contains(got, heldAddr) {
		t.Errorf("after -w 1 new connections went to %v, want %s among them", got, heldAddr)
	}
}

// TestPrivilegedDeleteReal deletes a real server that has an open
// connection. As with IPVS (expire_nodest_conn=0) the connection's packets
// are dropped, not sent elsewhere; adding the real server back revives it
// with its connection counts, and the connection resumes (TCP retransmits
// what was dropped).
func TestPrivilegedDeleteReal(t *testing.T) {
	l := newLab(t, testnet.NAT)
	l.setup("rr", "-m")
	ka := l.openKeepAlive()
	held := l.get(ka)
	heldAddr := held.Addr.String() + ":80"
	other := rs1
	if heldAddr == rs1 {
		other = rs2
	}
	l.adm("-d", "-t", vipPort, "-r", heldAddr)
	if rows := parseList(t, l.adm("-Ln")); len(rows) != 1 || rows[other].Forward != "Masq" {
		t.Fatalf("lvsadm -Ln after -d lists %+v, want only %s", rows, other)
	}
	for i, s := range l.curls(3) {
		if s != other {
			t.Fatalf("new connection %d went to %s, want %s", i+1, s, other)
		}
	}
	type answer struct {
		body string
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		body, err := ka.getWithin(15 * time.Second)
		done <- answer{body, err}
	}()
	select {
	case a := <-done:
		t.Fatalf("request on a connection to the deleted real answered: %q, %v; want its packets dropped", a.body, a.err)
	case <-time.After(1500 * time.Millisecond):
	}
	l.adm("-a", "-t", vipPort, "-r", heldAddr, "-m")
	if rows := parseList(t, l.adm("-Ln")); rows[heldAddr].Active != 1 {
		t.Errorf("re-added real lists %+v, want its open connection counted (ActiveConn 1)", rows[heldAddr])
	}
	a := <-done
	if a.err != nil || l.RealByPage(a.body) != held {
		t.Fatalf("request on the revived connection: %q, %v; want %s's page", a.body, a.err, held.Name)
	}
}

// TestPrivilegedRestart stops lvsd and starts it again on the same state
// and pin directories: the configuration survives, traffic flows again,
// and a connection open across the restart keeps working (the connection
// table is pinned, DESIGN.md "Restart and upgrade").
func TestPrivilegedRestart(t *testing.T) {
	l := newLab(t, testnet.NAT)
	l.setup("rr", "-m")
	l.adm("-A", "-t", "198.18.0.10:8080", "-s", "wlc")
	l.adm("-a", "-t", "198.18.0.10:8080", "-r", "198.19.0.11:80", "-m", "-w", "5")
	l.curls(2)
	ka := l.openKeepAlive()
	held := l.get(ka)
	before := l.adm("-Ln")
	beforeStats := l.adm("-Ln", "--stats", "--exact")

	if err := l.lvsd.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := l.lvsd.Start(); err != nil {
		t.Fatal(err)
	}
	// Services, reals, their connection counts and their statistics all
	// carry over: the maps are pinned and each service and real gets its
	// slot back.
	if after := l.adm("-Ln"); after != before {
		t.Errorf("lvsadm -Ln after a restart:\n%s\nbefore:\n%s", after, before)
	}
	if after := l.adm("-Ln", "--stats", "--exact"); after != beforeStats {
		t.Errorf("lvsadm -Ln --stats --exact after a restart:\n%s\nbefore:\n%s", after, beforeStats)
	}
	got := l.curls(4)
	if !slices.Contains(got, rs1) || !slices.Contains(got, rs2) {
		t.Errorf("after a restart four connections went to %v, want both real servers", got)
	}
	if body, err := ka.get(); err != nil || body != held.Nginx.Page {
		t.Errorf("request on a connection opened before the restart: %q, %v; want %s's page", body, err, held.Name)
	}
}
