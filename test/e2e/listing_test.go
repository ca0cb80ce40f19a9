package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golvs/internal/testnet"
)

// The formats below are ipvsadm 1.31's (list_all, print_title,
// print_service_entry, list_conn), the contract lvsadm keeps byte for byte.

var versionLine = regexp.MustCompile(`^IP Virtual Server version 1\.2\.1 \(size=\d+\)$`)

const listTitle = "Prot LocalAddress:Port Scheduler Flags\n" +
	"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"

// realRow is a real server's line of lvsadm -Ln.
type realRow struct {
	Addr    string
	Forward string
	Weight  int
	Active  int
	InAct   int
}

func (r realRow) String() string {
	return fmt.Sprintf("  -> %-28s %-7s %-6d %-10d %-10d\n", r.Addr, r.Forward, r.Weight, r.Active, r.InAct)
}

// wantList is what lvsadm -Ln prints after its version line for one TCP
// service on the VIP.
func wantList(sched string, reals ...realRow) string {
	var b strings.Builder
	b.WriteString(listTitle)
	fmt.Fprintf(&b, "TCP  %s %s\n", vipPort, sched)
	for _, r := range reals {
		b.WriteString(r.String())
	}
	return b.String()
}

// checkList runs lvsadm -Ln and compares it with want (after the version
// line, whose table size may differ).
func (l *lab) checkList(want string) {
	l.t.Helper()
	out := l.adm("-Ln")
	first, rest, _ := strings.Cut(out, "\n")
	if !versionLine.MatchString(first) {
		l.t.Errorf("lvsadm -Ln: first line %q, want \"IP Virtual Server version 1.2.1 (size=N)\"", first)
	}
	if rest != want {
		l.t.Errorf("lvsadm -Ln:\n%s\nwant (after the version line):\n%s", show(rest), show(want))
	}
}

// show makes trailing spaces visible.
func show(s string) string { return strings.ReplaceAll(s, " \n", " ⏎\n") }

// parseList returns the real servers of lvsadm -Ln output by address.
func parseList(t *testing.T, out string) map[string]realRow {
	t.Helper()
	rows := map[string]realRow{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 6 || f[0] != "->" || f[1] == "RemoteAddress:Port" {
			continue
		}
		r := realRow{Addr: f[1], Forward: f[2]}
		var err error
		for i, p := range []*int{&r.Weight, &r.Active, &r.InAct} {
			if *p, err = strconv.Atoi(f[3+i]); err != nil {
				t.Fatalf("lvsadm -Ln: bad line %q", line)
			}
		}
		rows[r.Addr] = r
	}
	return rows
}

// waitList polls lvsadm -Ln until cond holds for its real servers (the
// counters follow the traffic), for at most a few seconds, and returns the
// last rows.
func (l *lab) waitList(cond func(map[string]realRow) bool) (map[string]realRow, bool) {
	l.t.Helper()
	var rows map[string]realRow
	ok := testnet.WaitFor(3*time.Second, func() bool {
		rows = parseList(l.t, l.adm("-Ln"))
		return cond(rows)
	})
	return rows, ok
}

// stats are the five counters of lvsadm -Ln --stats --exact.
type stats struct{ Conns, InPkts, OutPkts, InBytes, OutBytes uint64 }

const statsTitle = "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n" +
	"  -> RemoteAddress:Port\n"

// statsOf runs lvsadm -Ln --stats --exact and returns the counters by
// service ("TCP 198.18.0.10:80") and real server ("198.19.0.11:80").
func (l *lab) statsOf() map[string]stats {
	l.t.Helper()
	out := l.adm("-Ln", "--stats", "--exact")
	first, rest, _ := strings.Cut(out, "\n")
	if !versionLine.MatchString(first) || !strings.HasPrefix(rest, statsTitle) {
		l.t.Errorf("lvsadm -Ln --stats --exact: unexpected titles:\n%s", out)
	}
	m := map[string]stats{}
	for _, line := range strings.Split(strings.TrimPrefix(rest, statsTitle), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 7 {
			l.t.Fatalf("lvsadm -Ln --stats --exact: bad line %q", line)
		}
		key := f[1]
		if f[0] != "->" {
			key = f[0] + " " + f[1]
		}
		var s stats
		for i, p := range []*uint64{&s.Conns, &s.InPkts, &s.OutPkts, &s.InBytes, &s.OutBytes} {
			v, err := strconv.ParseUint(f[2+i], 10, 64)
			if err != nil {
				l.t.Fatalf("lvsadm -Ln --stats --exact: bad number in %q", line)
			}
			*p = v
		}
		m[key] = s
	}
	return m
}

// conn is a line of lvsadm -Lnc.
type conn struct {
	Proto, Expire, State, Source, Virtual, Dest string
}

const connTitle = "IPVS connection entries\n" +
	"pro expire state       source             virtual            destination\n"

var (
	expireRE = regexp.MustCompile(`^\d{2,}:\d{2}$`)
	// IPVS's TCP state names (ip_vs_proto_tcp.c tcp_state_name_table).
	tcpStates = map[string]bool{
		"NONE": true, "ESTABLISHED": true, "SYN_SENT": true, "SYN_RECV": true,
		"FIN_WAIT": true, "TIME_WAIT": true, "CLOSE": true, "CLOSE_WAIT": true,
		"LAST_ACK": true, "LISTEN": true, "SYNACK": true,
	}
)

// conns runs lvsadm -Lnc, checks its layout and returns its entries.
func (l *lab) conns() []conn {
	l.t.Helper()
	out := l.adm("-Lnc")
	if !strings.HasPrefix(out, connTitle) {
		l.t.Fatalf("lvsadm -Lnc: want the title\n%s\ngot:\n%s", connTitle, out)
	}
	var cs []conn
	bad := 0
	report := func(format string, args ...any) {
		if bad++; bad <= 5 {
			l.t.Errorf(format, args...)
		}
	}
	for _, line := range strings.Split(strings.TrimPrefix(out, connTitle), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 6 {
			l.t.Fatalf("lvsadm -Lnc: bad line %q", line)
		}
		c := conn{f[0], f[1], f[2], f[3], f[4], f[5]}
		want := fmt.Sprintf("%-3s %-6s %-11s %-18s %-18s %s", c.Proto, c.Expire, c.State, c.Source, c.Virtual, c.Dest)
		if line != want {
			report("lvsadm -Lnc: line %q is not laid out as ipvsadm's %q", line, want)
		}
		if c.Proto != "TCP" || !expireRE.MatchString(c.Expire) || !tcpStates[c.State] {
			report("lvsadm -Lnc: bad entry %q", line)
		}
		cs = append(cs, c)
	}
	return cs
}
