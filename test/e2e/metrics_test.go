package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golvs/internal/testnet"
)

// metricsAddr is where the tests' lvsd serves metrics: the director
// namespace's own loopback.
const metricsAddr = "127.0.0.1:9469"

// scrape fetches /metrics from lvsd inside the director namespace and
// returns each sample's value by its series ("name{labels}" as exposed).
func (l *lab) scrape() map[string]float64 {
	l.t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return l.Director.Dial(ctx, network, addr)
		},
	}}
	resp, err := c.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		l.t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		l.t.Fatalf("scrape: %s %v\n%s", resp.Status, err, body)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			l.t.Fatalf("scrape: bad line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

var ipvsSeries = regexp.MustCompile(`^node_ipvs_`)

func backendSeries(name, real string) string {
	addr, port, _ := strings.Cut(real, ":")
	return fmt.Sprintf(`%s{local_address="198.18.0.10",local_mark="",local_port="80",proto="TCP",remote_address="%s",remote_port="%s"}`, name, addr, port)
}

func TestPrivilegedMetricsMatchLvsadm(t *testing.T) {
	testnet.RequirePrivileged(t, "nginx", "curl", "ab", "ss", "nstat")
	bin := binaries(t)
	c := testnet.NewClassic(t, testnet.NAT)
	d := testnet.StartLVSDWith(t, c.Director, bin, c.DirectorLinks(), "--metrics-addr", metricsAddr)
	l := &lab{Classic: c, lvsd: d, t: t}
	l.adm("-A", "-t", vipPort, "-s", "wrr")
	l.adm("-a", "-t", vipPort, "-r", rs1, "-m", "-w", "3")
	l.adm("-a", "-t", vipPort, "-r", rs2, "-m", "-w", "1")
	l.ab(400, 4)
	kept := l.openKeepAlive()
	l.get(kept) // one active connection

	// The counters are still once ab is done; compare one scrape with
	// lvsadm before and after it.
	st, list := l.statsOf(), parseList(t, l.adm("-Ln"))
	m := l.scrape()
	if st2, list2 := l.statsOf(), parseList(t, l.adm("-Ln")); fmt.Sprint(st2, list2) != fmt.Sprint(st, list) {
		t.Fatalf("counters moved during the scrape: %v %v then %v %v", st, list, st2, list2)
	}
	svc := st["TCP "+vipPort]
	if svc.Conns < 400 {
		t.Fatalf("lvsadm --stats: %d connections, want at least ab's 400", svc.Conns)
	}
	for name, want := range map[string]uint64{
		"node_ipvs_connections_total":      svc.Conns,
		"node_ipvs_incoming_packets_total": svc.InPkts,
		"node_ipvs_outgoing_packets_total": svc.OutPkts,
		"node_ipvs_incoming_bytes_total":   svc.InBytes,
		"node_ipvs_outgoing_bytes_total":   svc.OutBytes,
	} {
		if got, ok := m[name]; !ok || uint64(got) != want {
			t.Errorf("%s = %v (present %v), want %d as lvsadm -Ln --stats --exact", name, got, ok, want)
		}
	}
	for _, real := range []string{rs1, rs2} {
		row := list[real]
		for name, want := range map[string]int{
			"node_ipvs_backend_connections_active":   row.Active,
			"node_ipvs_backend_connections_inactive": row.InAct,
			"node_ipvs_backend_weight":               row.Weight,
		} {
			s := backendSeries(name, real)
			if got, ok := m[s]; !ok || int(got) != want {
				t.Errorf("%s = %v (present %v), want %d as lvsadm -Ln", s, got, ok, want)
			}
		}
	}
	n := 0
	for s := range m {
		if ipvsSeries.MatchString(s) {
			n++
		}
	}
	if n != 5+3*2 {
		t.Errorf("%d node_ipvs_ series, want 11 (5 totals, 3 per real)", n)
	}
	for _, s := range []string{
		`golvs_datapath_attached{hook="tcx",interface="eth0"}`,
		`golvs_datapath_attached{hook="tcx",interface="eth1"}`,
	} {
		if m[s] != 1 {
			t.Errorf("%s = %v, want 1", s, m[s])
		}
	}
	if m["golvs_conn_table_capacity"] <= 0 || m["golvs_scrape_errors"] != 0 {
		t.Errorf("golvs_conn_table_capacity %v, golvs_scrape_errors %v: want >0 and 0",
			m["golvs_conn_table_capacity"], m["golvs_scrape_errors"])
	}
	if got := m[`golvs_datapath_events_total{reason="fwd_redirect"}`] + m[`golvs_datapath_events_total{reason="fwd_neigh"}`]; got == 0 {
		t.Errorf("golvs_datapath_events_total: no packet forwarded (fwd_redirect, fwd_neigh) after ab's %d", svc.InPkts)
	}
}

func TestPrivilegedMetricsHealth(t *testing.T) {
	l, _ := newConfigLab(t, natService("", `
      - {address: 198.19.0.11, port: 80, checks: [{tcp_check: {}}]}
      - {address: 198.19.0.12, port: 80, checks: [{tcp_check: {}}]}
`), "--metrics-addr", metricsAddr)
	l.waitReals(detectBound, "at start", rs1, rs2)
	up := func(real string) string {
		addr, port, _ := strings.Cut(real, ":")
		return fmt.Sprintf(`golvs_real_up{local_address="198.18.0.10",local_port="80",proto="TCP",remote_address="%s",remote_port="%s"}`, addr, port)
	}
	if !testnet.WaitFor(detectBound, func() bool { m := l.scrape(); return m[up(rs1)] == 1 && m[up(rs2)] == 1 }) {
		t.Fatalf("golvs_real_up: want 1 for both reals once checked:\n%v", l.scrape())
	}
	if err := l.RealByName("rs2").Nginx.Stop(); err != nil {
		t.Fatal(err)
	}
	l.waitReals(detectBound, "nginx stopped on rs2", rs1)
	m := l.scrape()
	if m[up(rs1)] != 1 || m[up(rs2)] != 0 {
		t.Errorf("after rs2 went down: %s = %v, %s = %v; want 1 and 0", up(rs1), m[up(rs1)], up(rs2), m[up(rs2)])
	}
	check := `golvs_real_check_up{check="TCP_CHECK 198.19.0.12:80",local_address="198.18.0.10",local_port="80",proto="TCP",remote_address="198.19.0.12",remote_port="80"}`
	if v, ok := m[check]; !ok || v != 0 {
		t.Errorf("%s = %v (present %v), want 0", check, v, ok)
	}
	if _, ok := m[backendSeries("node_ipvs_backend_weight", rs2)]; ok {
		t.Errorf("node_ipvs_backend_weight still has rs2, which left the table")
	}
}
