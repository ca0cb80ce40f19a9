package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golvs/internal/testnet"
)

// TestPrivilegedIPv6 is the NAT and DR tutorial over IPv6: services and
// real servers written as ipvsadm writes IPv6 ([addr]:port), curl
// alternating between the real servers, nginx seeing the client's own
// IPv6 address, ab without failures, and the listings.
func TestPrivilegedIPv6(t *testing.T) {
	tests := []struct {
		method testnet.Method
		flag   string
		fwd    string
	}{
		{testnet.NAT, "-m", "Masq"},
		{testnet.DR, "-g", "Route"},
	}
	for _, tc := range tests {
		t.Run(tc.method.String(), func(t *testing.T) {
			l := newLab(t, tc.method)
			l.saveLogsOnFailure()
			vs := virtualService{
				VIP:    testnet.VIP6,
				Client: testnet.ClientAddr6,
				Reals:  []netip.Addr{testnet.RealAddrs6[0], testnet.RealAddrs6[1]},
				Flags:  []string{tc.flag},
				Fwd:    tc.fwd,
			}
			l.checkVirtualService(vs)

			// -S then -C and -R: the IPv6 service comes back as it was.
			saved := l.adm("-S", "-n")
			for _, want := range []string{
				"-A -t [2001:db8:18::10]:80 -s rr\n",
				"-a -t [2001:db8:18::10]:80 -r [2001:db8:19::11]:80 " + tc.flag + " -w 1\n",
				"-a -t [2001:db8:18::10]:80 -r [2001:db8:19::12]:80 " + tc.flag + " -w 1\n",
			} {
				if !strings.Contains(saved, want) {
					t.Errorf("lvsadm -S -n lacks %q:\n%s", want, saved)
				}
			}
			before := l.adm("-Ln")
			l.adm("-C")
			if r := l.lvsd.AdmInput(saved, "-R"); r.Code != 0 || r.Stderr != "" {
				t.Fatalf("lvsadm -R of lvsadm -S -n's output: exit %d, %s", r.Code, r.Stderr)
			}
			if after := l.adm("-Ln"); stripCounts(after) != stripCounts(before) {
				t.Errorf("lvsadm -Ln after -S, -C, -R:\n%s\nbefore:\n%s", after, before)
			}
			if got := l.fetchNames(vs.url(), 2); !slices.Contains(got, "rs1") || !slices.Contains(got, "rs2") {
				t.Errorf("after -R two connections went to %v, want both real servers", got)
			}
		})
	}
}

// virtualService is a TCP service on port 80 under test and how its real
// servers are added.
type virtualService struct {
	// VIP is the service's address; Client is the client's address of
	// the same family.
	VIP, Client netip.Addr
	// Reals are the addresses given to -r, for rs1 and rs2.
	Reals []netip.Addr
	// Flags follow "-a -t VIP:80 -r RIP:80": the method and tunnel options.
	Flags []string
	// Fwd is the Forward column of lvsadm -Ln: Masq, Route or Tunnel.
	Fwd string
	// TunInfo is the TunnelInfo column of lvsadm -Ln --tun-info, when
	// not "".
	TunInfo string
}

func (vs virtualService) addr() string { return netip.AddrPortFrom(vs.VIP, 80).String() }
func (vs virtualService) url() string  { return "http://" + vs.addr() + "/" }
func (vs virtualService) real(i int) string {
	return netip.AddrPortFrom(vs.Reals[i], 80).String()
}

// checkVirtualService adds vs with rr and checks what an operator looks
// at: the listing, curl alternating between the real servers (rs2 first,
// IPVS's rr walks them newest first), nginx logging the client's own
// address, ab without failures, the statistics (OutPkts only for NAT),
// and an open connection in lvsadm -Lnc.
func (l *lab) checkVirtualService(vs virtualService) {
	t := l.t
	t.Helper()
	l.adm("-A", "-t", vs.addr(), "-s", "rr")
	for i := range vs.Reals {
		l.adm(append([]string{"-a", "-t", vs.addr(), "-r", vs.real(i)}, vs.Flags...)...)
	}
	want := listTitle + fmt.Sprintf("TCP  %s rr\n", vs.addr())
	for i := range vs.Reals {
		want += realRow{Addr: vs.real(i), Forward: vs.Fwd, Weight: 1}.String()
	}
	l.checkList(want)
	if vs.TunInfo != "" {
		out := l.adm("-Ln", "--tun-info")
		for i := range vs.Reals {
			row := fmt.Sprintf("  -> %-28s %-7s %-13s %-6d %-10d %-10d\n", vs.real(i), vs.Fwd, vs.TunInfo, 1, 0, 0)
			if !strings.Contains(out, row) {
				t.Errorf("lvsadm -Ln --tun-info lacks %q:\n%s", row, show(out))
			}
		}
	}

	got := l.fetchNames(vs.url(), 6)
	if want := []string{"rs2", "rs1", "rs2", "rs1", "rs2", "rs1"}; !slices.Equal(got, want) {
		t.Fatalf("curl %s six times: servers %v, want %v", vs.url(), got, want)
	}
	const n = 500
	l.abURL(vs.url(), n, 20)
	l.waitAccessLogs(6 + n)
	if total := l.checkAccessLogsOf(vs); total != 6+n {
		t.Errorf("the real servers logged %d requests, want %d", total, 6+n)
	}
	l.checkNoDirectorSocketOn(vs.addr())

	st := l.statsOf()
	svc, ok := st["TCP "+vs.addr()]
	if !ok {
		t.Fatalf("lvsadm -Ln --stats --exact has no line for TCP %s:\n%v", vs.addr(), st)
	}
	if want := l.clientConnects(); svc.Conns != want || svc.InPkts == 0 || svc.InBytes == 0 {
		t.Errorf("lvsadm -Ln --stats --exact: service %+v, want %d conns (the connections the client opened) and nonzero in packets and bytes", svc, want)
	}
	nat := vs.Fwd == "Masq"
	for _, k := range []string{"TCP " + vs.addr(), vs.real(0), vs.real(1)} {
		if s := st[k]; nat != (s.OutPkts != 0) {
			t.Errorf("lvsadm -Ln --stats --exact: %s OutPkts %d, want nonzero only for NAT (%s)", k, s.OutPkts, vs.Fwd)
		}
	}
	for i := range vs.Reals {
		if s := st[vs.real(i)]; s.Conns == 0 || s.InPkts == 0 {
			t.Errorf("lvsadm -Ln --stats --exact: real %s %+v, want nonzero conns and in packets", vs.real(i), s)
		}
	}

	ka := l.openKeepAliveTo(vs.addr())
	held := l.get(ka)
	heldAddr := vs.real(slices.Index(l.Reals, held))
	var found bool
	for _, c := range l.conns() {
		if c.Source == ka.conn.LocalAddr().String() {
			found = true
			if c.State != "ESTABLISHED" || c.Virtual != vs.addr() || c.Dest != heldAddr {
				t.Errorf("lvsadm -Lnc: open connection %+v, want ESTABLISHED from %s to %s via %s", c, ka.conn.LocalAddr(), heldAddr, vs.addr())
			}
		}
	}
	if !found {
		t.Errorf("lvsadm -Lnc: no entry for the open connection from %s:\n%s", ka.conn.LocalAddr(), l.adm("-Lnc"))
	}
	if r := l.get(ka); r != held {
		t.Errorf("second request on the open connection answered by %s, want %s", r.Name, held.Name)
	}
}

// fetch fetches url with curl from the client with a new connection and
// returns the real server that answered.
func (l *lab) fetch(url string) *testnet.Real {
	l.t.Helper()
	// -g: the brackets of an IPv6 literal are not a curl glob.
	body, err := l.Client.Exec("curl", "-gsS", "--max-time", "5", url)
	if err != nil {
		l.t.Fatalf("curl %s from the client: %v", url, err)
	}
	r := l.RealByPage(body)
	if r == nil {
		l.t.Fatalf("curl %s: unexpected page %q", url, body)
	}
	return r
}

// fetchNames fetches url n times and returns the names of the answering
// real servers.
func (l *lab) fetchNames(url string, n int) []string {
	l.t.Helper()
	var got []string
	for range n {
		got = append(got, l.fetch(url).Name)
	}
	return got
}

// abURL runs ab from the client against url and checks that every request
// succeeded.
func (l *lab) abURL(url string, n, c int) string {
	l.t.Helper()
	out, err := l.Client.Exec("ab", "-n", strconv.Itoa(n), "-c", strconv.Itoa(c), "-s", "10", url)
	if err != nil {
		l.t.Fatalf("ab %s: %v\n%s", url, err, out)
	}
	checkAB(l.t, out, n)
	return out
}

// checkAccessLogsOf checks that every request nginx logged came from
// vs.Client (any port) and reached the address nginx must see as its
// own: the real's address that vs uses for NAT, the VIP otherwise. It
// returns how many requests were logged.
func (l *lab) checkAccessLogsOf(vs virtualService) (total int) {
	l.t.Helper()
	for i, r := range l.Reals {
		lines, err := r.Nginx.AccessLogLines()
		if err != nil {
			l.t.Fatal(err)
		}
		server := vs.VIP
		if vs.Fwd == "Masq" {
			server = vs.Reals[i]
		}
		bad := 0
		for _, line := range lines {
			// "$remote_addr:$remote_port $server_addr:$server_port ...",
			// IPv6 addresses without brackets.
			f := strings.Fields(line)
			if len(f) < 2 || !strings.HasPrefix(f[0], vs.Client.String()+":") || f[1] != server.String()+":80" {
				if bad < 5 {
					l.t.Errorf("%s access log: %q, want client %s and server %s:80", r.Name, line, vs.Client, server)
				}
				bad++
			}
		}
		total += len(lines)
	}
	return total
}

// checkNoDirectorSocketOn checks that the director has no TCP socket on
// addr (VIP:port, IPv6 in brackets) nor on the wildcard of its port.
func (l *lab) checkNoDirectorSocketOn(addr string) {
	l.t.Helper()
	ap := netip.MustParseAddrPort(addr)
	port := strconv.Itoa(int(ap.Port()))
	out := l.Director.MustExec("ss", "-tan")
	var bad []string
	for _, line := range strings.Split(out, "\n") {
		for _, f := range strings.Fields(line) {
			if f == addr || f == "*:"+port || f == "0.0.0.0:"+port || f == "[::]:"+port {
				bad = append(bad, line)
				break
			}
		}
	}
	if len(bad) > 0 {
		l.t.Errorf("the director has sockets on %s (ss -tan):\n%s", addr, strings.Join(bad, "\n"))
	}
}

// openKeepAliveTo connects from the client namespace to addr.
func (l *lab) openKeepAliveTo(addr string) *keepAlive {
	l.t.Helper()
	c, err := l.Client.Dial(context.Background(), "tcp", addr)
	if err != nil {
		l.t.Fatalf("connect to %s from the client: %v", addr, err)
	}
	l.t.Cleanup(func() { c.Close() })
	return &keepAlive{conn: c, br: bufio.NewReader(c)}
}

// stripCounts blanks the ActiveConn and InActConn columns of lvsadm -Ln,
// which follow the traffic.
func stripCounts(list string) string {
	var b strings.Builder
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) == 6 && f[0] == "->" && f[1] != "RemoteAddress:Port" {
			line = strings.Join(f[:4], " ")
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}
