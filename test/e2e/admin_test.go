package e2e

import (
	"strings"
	"testing"
	"time"

	"golvs/internal/testnet"
)

// TestPrivilegedSaveClearRestore saves a table with lvsadm -S, clears it
// and restores it with -R: the listing comes back identical, and the
// restored services balance traffic again.
func TestPrivilegedSaveClearRestore(t *testing.T) {
	l := newLab(t, testnet.NAT)
	for _, args := range [][]string{
		{"-A", "-t", vipPort, "-s", "wrr"},
		{"-a", "-t", vipPort, "-r", rs1, "-m", "-w", "3"},
		{"-a", "-t", vipPort, "-r", rs2, "-m", "-w", "1"},
		{"-A", "-t", "198.18.0.10:8080", "-s", "sh", "-b", "sh-fallback,sh-port"},
		{"-a", "-t", "198.18.0.10:8080", "-r", "198.19.0.11:80", "-m"},
		{"-A", "-t", "198.18.0.10:8081", "-s", "mh", "-b", "mh-port"},
		{"-a", "-t", "198.18.0.10:8081", "-r", "198.19.0.12:8080", "-m", "-w", "0"},
		{"-A", "-u", "198.18.0.10:53", "-s", "nq", "-o"},
		{"-a", "-u", "198.18.0.10:53", "-r", "198.19.0.11:53", "-m"},
		{"-A", "-t", "198.18.0.10:8082", "-s", "lblcr"},
	} {
		l.adm(args...)
	}
	before := l.adm("-Ln")
	saved := l.adm("-S", "-n")
	if !strings.Contains(saved, "-A -t 198.18.0.10:8080 -s sh -b sh-fallback,sh-port\n") ||
		!strings.Contains(saved, "-a -t 198.18.0.10:80 -r 198.19.0.11:80 -m -w 3\n") {
		t.Errorf("lvsadm -S -n:\n%s", saved)
	}
	l.adm("-C")
	if rows := parseList(t, l.adm("-Ln")); len(rows) != 0 {
		t.Fatalf("after -C: %+v", rows)
	}
	if r := l.lvsd.AdmInput(saved, "-R"); r.Code != 0 || r.Stderr != "" {
		t.Fatalf("lvsadm -R: exit %d: %s", r.Code, r.Stderr)
	}
	if after := l.adm("-Ln"); after != before {
		t.Fatalf("after -S, -C, -R:\n%s\nbefore:\n%s", after, before)
	}
	// wrr 3:1 over the restored reals: 8 connections, 6 and 2.
	count := map[string]int{}
	for _, s := range l.curls(8) {
		count[s]++
	}
	if count[rs1] != 6 || count[rs2] != 2 {
		t.Errorf("restored wrr 3:1 sent 8 connections as %v", count)
	}
}

// TestPrivilegedRestoreIsAllOrNothing feeds -R a script whose third line is
// bad: lvsadm names the line, and nothing of the script is applied.
func TestPrivilegedRestoreIsAllOrNothing(t *testing.T) {
	l := newLab(t, testnet.NAT)
	l.setup("rr", "-m")
	before := l.adm("-Ln")
	tests := []struct {
		name, script, want string
		code               int
	}{
		{"bad weight", "-A -t 198.18.0.10:81 -s rr\n-a -t 198.18.0.10:81 -r 198.19.0.11 -m\n-a -t 198.18.0.10:81 -r 198.19.0.12 -m -w 2147483648\n",
			"line 3: illegal weight specified\n", 2},
		{"refused by lvsd", "-D -t 198.18.0.10:80\n-A -t 198.18.0.10:81 -s rr\n-a -t 198.18.0.10:82 -r 198.19.0.12 -m\n",
			"line 3: Service not defined\n", 255},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := l.lvsd.AdmInput(tt.script, "-R")
			if r.Code != tt.code || r.Stderr != tt.want {
				t.Errorf("lvsadm -R: exit %d, %q; want exit %d, %q", r.Code, r.Stderr, tt.code, tt.want)
			}
			if after := l.adm("-Ln"); after != before {
				t.Errorf("a refused restore changed the table:\n%s\nbefore:\n%s", after, before)
			}
		})
	}
}

// TestPrivilegedTimeoutsZeroAndRates covers --set and --timeout, -Z, and
// the --rate estimator.
func TestPrivilegedTimeoutsZeroAndRates(t *testing.T) {
	l := newLab(t, testnet.NAT)
	l.setup("rr", "-m")
	if got := l.adm("-L", "--timeout"); got != "Timeout (tcp tcpfin udp): 900 120 300\n" {
		t.Errorf("lvsadm -L --timeout: %q", got)
	}
	l.adm("--set", "600", "0", "30")
	if got := l.adm("-L", "--timeout"); got != "Timeout (tcp tcpfin udp): 600 120 30\n" {
		t.Errorf("after --set 600 0 30: %q", got)
	}
	ka := l.openKeepAlive()
	l.get(ka)
	for _, c := range connsOf(t, l.adm("-Lnc")) {
		// An established connection's expiry now counts down from 10:00.
		if c.state == "ESTABLISHED" && c.expire > "10:00" {
			t.Errorf("established entry expires in %s after --set 600", c.expire)
		}
	}

	// Traffic over more than two 2-second samples gives a rate.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		l.curl()
	}
	rate := l.adm("-Ln", "--rate")
	if f := strings.Fields(lineOf(rate, "TCP  "+vipPort)); len(f) != 7 || f[2] == "0" {
		t.Errorf("lvsadm -Ln --rate after 5 s of requests: %q", lineOf(rate, "TCP  "+vipPort))
	}
	l.adm("-Z", "-t", vipPort)
	stats := l.adm("-Ln", "--stats")
	if f := strings.Fields(lineOf(stats, "TCP  "+vipPort)); len(f) != 7 || f[2] != "0" || f[3] != "0" {
		t.Errorf("lvsadm -Ln --stats after -Z: %q", lineOf(stats, "TCP  "+vipPort))
	}
	if f := strings.Fields(lineOf(l.adm("-Ln", "--rate"), "TCP  "+vipPort)); len(f) != 7 || f[2] != "0" {
		t.Errorf("rates after -Z: %v", f)
	}
}

// TestPrivilegedThresholds gives a real server an upper threshold of one
// connection: once it holds one (TIME_WAIT counts), new connections go to
// the other real server.
func TestPrivilegedThresholds(t *testing.T) {
	l := newLab(t, testnet.NAT)
	l.adm("-A", "-t", vipPort, "-s", "rr")
	l.adm("-a", "-t", vipPort, "-r", rs1, "-m", "-x", "1")
	l.adm("-a", "-t", vipPort, "-r", rs2, "-m")
	count := map[string]int{}
	for _, s := range l.curls(6) {
		count[s]++
	}
	if count[rs1] != 1 || count[rs2] != 5 {
		t.Errorf("with -x 1 on %s, six connections went %v; want 1 there and 5 to %s", rs1, count, rs2)
	}
	th := l.adm("-Ln", "--thresholds")
	if f := strings.Fields(lineOf(th, "-> "+rs1)); len(f) != 6 || f[2] != "1" || f[3] != "0" {
		t.Errorf("lvsadm -Ln --thresholds: %q", lineOf(th, "-> "+rs1))
	}
}

// TestPrivilegedSourceHashing: sh sends every connection of one client to
// one real server.
func TestPrivilegedSourceHashing(t *testing.T) {
	l := newLab(t, testnet.NAT)
	l.setup("sh", "-m")
	got := l.curls(6)
	for _, s := range got {
		if s != got[0] {
			t.Fatalf("sh sent one client's connections to %v", got)
		}
	}
}

// lineOf returns the first line of out that contains s.
func lineOf(out, s string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

type connRow struct{ proto, expire, state, client, virtual, real string }

// connsOf parses lvsadm -Lnc.
func connsOf(t *testing.T, out string) []connRow {
	t.Helper()
	var rows []connRow
	for _, line := range strings.Split(out, "\n")[min(2, strings.Count(out, "\n")):] {
		if f := strings.Fields(line); len(f) == 6 {
			rows = append(rows, connRow{f[0], f[1], f[2], f[3], f[4], f[5]})
		}
	}
	return rows
}
