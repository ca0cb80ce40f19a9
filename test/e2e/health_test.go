package e2e

import (
	"crypto/md5"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golvs/internal/testnet"
)

// Health-check timers of the tests' configurations: a check every second,
// one retry a second later, a one-second connect timeout. keepalived's
// semantics put a stopped real out of the table within
// delay_loop + retry × delay_before_retry + connect_timeout (plus the
// first check's warmup of at most delay_loop at start).
const (
	checkTimers = `
    delay_loop: 1
    connect_timeout: 1
    retry: 1
    delay_before_retry: 1`
	// detectBound is delay_loop × (retry+1) + connect_timeout with a
	// margin for a loaded machine.
	detectBound = 2*time.Second + time.Second + 7*time.Second
)

// newConfigLab builds the NAT layout and starts lvsd with the golvs YAML
// configuration conf and more lvsd arguments args; it returns the lab and the configuration's path.
func newConfigLab(t *testing.T, conf string, args ...string) (*lab, string) {
	t.Helper()
	testnet.RequirePrivileged(t, "nginx", "curl", "ab", "ss", "nstat")
	bin := binaries(t)
	c := testnet.NewClassic(t, testnet.NAT)
	path := filepath.Join(t.TempDir(), "lvsd.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	d := testnet.StartLVSDWith(t, c.Director, bin, c.DirectorLinks(), append([]string{"--config", path}, args...)...)
	return &lab{Classic: c, lvsd: d, t: t}, path
}

// reals returns the addresses lvsadm -Ln lists, sorted.
func (l *lab) reals() []string {
	l.t.Helper()
	var out []string
	for a := range parseList(l.t, l.adm("-Ln")) {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// waitReals waits up to d until lvsadm -Ln lists exactly want (sorted)
// and fails the test otherwise.
func (l *lab) waitReals(d time.Duration, why string, want ...string) {
	l.t.Helper()
	var got []string
	if !testnet.WaitFor(d, func() bool { got = l.reals(); return slices.Equal(got, want) }) {
		l.t.Fatalf("%s: lvsadm -Ln lists %v after %v, want %v\nlvsadm --status:\n%s", why, got, d, want, l.status())
	}
}

// status returns lvsadm --status.
func (l *lab) status() string {
	l.t.Helper()
	r := l.lvsd.Adm("--status")
	if r.Code != 0 {
		l.t.Errorf("lvsadm --status: exit %d: %s", r.Code, r.Stderr)
	}
	return r.Stdout
}

// statusLine returns the line of lvsadm --status about real addr.
func (l *lab) statusLine(addr string) string {
	l.t.Helper()
	for _, line := range strings.Split(l.status(), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "->" && f[1] == addr {
			return line
		}
	}
	return ""
}

// curlsAll fetches the VIP n times with new connections and fails the test
// on any failure; it returns the answering servers' names.
func (l *lab) curlsAll(n int) []string {
	l.t.Helper()
	var got []string
	for range n {
		got = append(got, l.curl().Name)
	}
	return got
}

func natService(extra, reals string) string {
	return fmt.Sprintf(`
services:
  - protocol: tcp
    vip: 198.18.0.10
    port: 80
    scheduler: rr
    method: nat%s%s
    reals:
%s`, checkTimers, extra, reals)
}

func TestPrivilegedHealthTCPCheck(t *testing.T) {
	l, _ := newConfigLab(t, natService("", `
      - {address: 198.19.0.11, port: 80, checks: [{tcp_check: {}}]}
      - {address: 198.19.0.12, port: 80, checks: [{tcp_check: {}}]}
`))
	l.waitReals(detectBound, "at start", rs1, rs2)
	if got := l.curlsAll(4); !slices.Contains(got, "rs1") || !slices.Contains(got, "rs2") {
		t.Errorf("both reals up: curls answered by %v, want both", got)
	}

	rs2NS := l.RealByName("rs2")
	if err := rs2NS.Nginx.Stop(); err != nil {
		t.Fatal(err)
	}
	l.waitReals(detectBound, "nginx stopped on rs2", rs1)
	line := l.statusLine(rs2)
	if !strings.Contains(line, " down ") {
		t.Errorf("lvsadm --status after nginx stopped on rs2: line %q, want state down\n%s", line, l.status())
	}
	if st := l.status(); !strings.Contains(st, "reason: TCP_CHECK") {
		t.Errorf("lvsadm --status: no reason for rs2 being down:\n%s", st)
	}
	// Detected: every new request goes to rs1 and none fails.
	for i, name := range l.curlsAll(10) {
		if name != "rs1" {
			t.Errorf("curl %d after rs2 went down: answered by %s, want rs1", i, name)
		}
	}

	rs2NS.Nginx.Restart(t, rs2NS.NS)
	l.waitReals(detectBound, "nginx restarted on rs2", rs1, rs2)
	if line := l.statusLine(rs2); !strings.Contains(line, " up ") {
		t.Errorf("lvsadm --status after nginx restarted on rs2: line %q, want state up", line)
	}
	if got := l.curlsAll(4); !slices.Contains(got, "rs2") {
		t.Errorf("rs2 back: curls answered by %v, want rs2 among them", got)
	}
}

func TestPrivilegedHealthHTTPStatusCode(t *testing.T) {
	// nginx answers / with 200: rs2's check wants 404 and fails.
	l, path := newConfigLab(t, natService("", `
      - {address: 198.19.0.11, port: 80, checks: [{http_get: {urls: [{path: /, status_code: [200]}]}}]}
      - {address: 198.19.0.12, port: 80, checks: [{http_get: {urls: [{path: /, status_code: [404]}]}}]}
`))
	l.waitReals(detectBound, "rs2's check wants 404", rs1)
	if st := l.status(); !strings.Contains(st, "HTTP_GET") || !strings.Contains(st, "200") {
		t.Errorf("lvsadm --status: want rs2's failing HTTP_GET with the status it got:\n%s", st)
	}
	// A check for a page rs2 lacks fails too; one it has passes.
	if err := l.RealByName("rs2").Nginx.WriteFile("health.html", []byte("ok\n")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, natService("", `
      - {address: 198.19.0.11, port: 80, checks: [{http_get: {urls: [{path: /missing.html}]}}]}
      - {address: 198.19.0.12, port: 80, checks: [{http_get: {urls: [{path: /health.html}]}}]}
`))
	if r := l.lvsd.Adm("--reload"); r.Code != 0 {
		t.Fatalf("lvsadm --reload: exit %d: %s", r.Code, r.Stderr)
	}
	l.waitReals(detectBound, "rs1's page is missing, rs2's is there", rs2)
}

func TestPrivilegedHealthMiscCheck(t *testing.T) {
	flag := filepath.Join(t.TempDir(), "rs2-up")
	l, _ := newConfigLab(t, natService("", fmt.Sprintf(`
      - {address: 198.19.0.11, port: 80}
      - {address: 198.19.0.12, port: 80, checks: [{misc_check: {misc_path: "test -e %s", misc_timeout: 1}}]}
`, flag)))
	l.waitReals(detectBound, "misc_check exits 1", rs1)
	writeFile(t, flag, "")
	l.waitReals(detectBound, "misc_check exits 0", rs1, rs2)
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	l.waitReals(detectBound, "misc_check exits 1 again", rs1)
}

func TestPrivilegedHealthQuorumSorryServer(t *testing.T) {
	const sorry = "198.19.0.12:8080"
	l, _ := newConfigLab(t, natService(`
    quorum: 2
    sorry_server: {address: 198.19.0.12, port: 8080}`, `
      - {address: 198.19.0.11, port: 80, checks: [{tcp_check: {}}]}
      - {address: 198.19.0.12, port: 80, checks: [{tcp_check: {}}]}
`))
	l.waitReals(detectBound, "quorum met", rs1, rs2)
	if st := l.status(); !strings.Contains(st, "quorum up") || !strings.Contains(st, "sorry server "+sorry+": standby") {
		t.Errorf("lvsadm --status with quorum: want quorum up and the sorry server on standby:\n%s", st)
	}
	if err := l.RealByName("rs1").Nginx.Stop(); err != nil {
		t.Fatal(err)
	}
	// Live weight 1 < quorum 2: the sorry server replaces the reals.
	l.waitReals(detectBound, "quorum lost", sorry)
	if st := l.status(); !strings.Contains(st, "quorum lost") || !strings.Contains(st, "sorry server "+sorry+": ACTIVE") {
		t.Errorf("lvsadm --status without quorum: want quorum lost and the sorry server active:\n%s", st)
	}
	for i, name := range l.curlsAll(4) {
		if name != "rs2" {
			t.Errorf("curl %d without quorum: answered by %s, want rs2 (the sorry server)", i, name)
		}
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPrivilegedKeepalivedConf(t *testing.T) {
	testnet.RequirePrivileged(t, "nginx", "curl", "ab", "ss", "nstat")
	bin := binaries(t)
	c := testnet.NewClassic(t, testnet.NAT)
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	writeFile(t, path, `! an existing keepalived.conf, unchanged
global_defs {
    router_id director1
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        198.18.0.10
    }
}
virtual_server 198.18.0.10 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 198.19.0.11 80 {
        weight 2
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server 198.19.0.12 80 {
        weight 1
        HTTP_GET {
            url {
                path /
                status_code 404
            }
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
`)
	d := testnet.StartLVSDWith(t, c.Director, bin, c.DirectorLinks(), "--keepalived-conf", path)
	l := &lab{Classic: c, lvsd: d, t: t}
	// rs2 answers / with 200, not the 404 its check wants.
	l.waitReals(detectBound, "rs2's HTTP_GET wants 404", rs1)
	if row := parseList(t, l.adm("-Ln"))[rs1]; row.Weight != 2 || row.Forward != "Masq" {
		t.Errorf("rs1 from keepalived.conf: %+v, want weight 2, Masq", row)
	}
	if err := d.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !testnet.WaitFor(5*time.Second, func() bool { return strings.Contains(d.Log(), "configuration reloaded") }) {
		t.Fatalf("SIGHUP: lvsd did not reload:\n%s", d.Log())
	}
	if n := strings.Count(d.Log(), "vrrp_instance"); n != 1 {
		t.Errorf("lvsd logged the ignored vrrp_instance %d times over a start and a reload, want once:\n%s", n, d.Log())
	}
}

func TestPrivilegedHealthHTTPDigest(t *testing.T) {
	// rs1's check expects the MD5 of its page, rs2's that of another body.
	page := testnet.Page("rs1", testnet.RealAddrs[0])
	l, _ := newConfigLab(t, natService("", fmt.Sprintf(`
      - {address: 198.19.0.11, port: 80, checks: [{http_get: {urls: [{path: /, digest: %x}]}}]}
      - {address: 198.19.0.12, port: 80, checks: [{http_get: {urls: [{path: /, digest: %x}]}}]}
`, md5.Sum([]byte(page)), md5.Sum([]byte("another page\n")))))
	l.waitReals(detectBound, "rs2's page has another digest", rs1)
	if st := l.status(); !strings.Contains(st, "digest") {
		t.Errorf("lvsadm --status: rs2's failure does not mention the digest:\n%s", st)
	}
}
