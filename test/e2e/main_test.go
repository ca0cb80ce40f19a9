// Package e2e tests golvs end to end: lvsd and lvsadm built from this tree
// drive the eBPF data plane on the classic LVS layouts (NAT and DR) in
// network namespaces, with nginx real servers and curl and ab as clients.
// The tests assert what an operator would look at: which server answers,
// failed requests, the client address nginx logs, sockets on the director,
// and lvsadm's listings.
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golvs/internal/testnet"
)

var (
	binDir    string
	buildOnce sync.Once
	buildErr  error
)

// TestMain first removes what a killed earlier run left behind (its
// namespaces, pin directories and temporary files, see
// testnet.SweepStale); lvsd and lvsadm are built on first use.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", testnet.Prefix+"bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	binDir = dir
	if os.Geteuid() == 0 {
		testnet.SweepStale()
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// binaries builds lvsd and lvsadm from this tree (once per test run) and
// returns the directory holding them.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = "/usr/local/go/bin/go"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goBin, "build", "-o", binDir+"/", "golvs/cmd/lvsd", "golvs/cmd/lvsadm", "golvs/cmd/lvsrs")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build lvsd lvsadm: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// lab is the classic layout with lvsd running on the director.
type lab struct {
	*testnet.Classic
	lvsd *testnet.LVSD
	t    *testing.T
}

// newLab builds the layout for method m and starts lvsd on the director's
// two links, with no virtual service yet.
func newLab(t *testing.T, m testnet.Method) *lab {
	t.Helper()
	testnet.RequirePrivileged(t, "nginx", "curl", "ab", "ss", "nstat")
	bin := binaries(t)
	c := testnet.NewClassic(t, m)
	d := testnet.StartLVSD(t, c.Director, bin, c.DirectorLinks())
	return &lab{Classic: c, lvsd: d, t: t}
}

const (
	vip     = "198.18.0.10"
	vipPort = "198.18.0.10:80"
	vipURL  = "http://198.18.0.10/"
	rs1     = "198.19.0.11:80"
	rs2     = "198.19.0.12:80"
	client  = "198.18.0.2"
)

// adm runs lvsadm and fails the test unless it succeeds silently.
func (l *lab) adm(args ...string) string {
	l.t.Helper()
	return l.lvsd.MustAdm(args...)
}

// setup runs the tutorial's commands: a service with scheduler sched and
// the two real servers with the given method flag (-m or -g), rs1 first.
func (l *lab) setup(sched, method string) {
	l.t.Helper()
	l.adm("-A", "-t", vipPort, "-s", sched)
	l.adm("-a", "-t", vipPort, "-r", rs1, method)
	l.adm("-a", "-t", vipPort, "-r", rs2, method)
}

// curlFrom fetches url with curl from inside ns and returns the body.
func curlFrom(ns *testnet.Namespace, url string) (string, error) {
	return ns.Exec("curl", "-sS", "--max-time", "5", url)
}

// curl fetches the VIP from the client with a new connection and returns
// the real server that answered.
func (l *lab) curl() *testnet.Real {
	l.t.Helper()
	body, err := curlFrom(l.Client, vipURL)
	if err != nil {
		l.t.Fatalf("curl %s from the client: %v", vipURL, err)
	}
	r := l.RealByPage(body)
	if r == nil {
		l.t.Fatalf("curl %s: unexpected page %q", vipURL, body)
	}
	return r
}

// curls fetches the VIP n times and returns the answering servers'
// addresses ("198.19.0.11:80").
func (l *lab) curls(n int) []string {
	l.t.Helper()
	var got []string
	for range n {
		got = append(got, l.curl().Addr.String()+":80")
	}
	return got
}

// ab runs ab from the client against the VIP and checks that every request
// succeeded; it returns ab's output.
func (l *lab) ab(n, c int) string {
	l.t.Helper()
	out, err := l.Client.Exec("ab", "-n", strconv.Itoa(n), "-c", strconv.Itoa(c), "-s", "10", vipURL)
	if err != nil {
		l.t.Fatalf("ab: %v\n%s", err, out)
	}
	checkAB(l.t, out, n)
	return out
}

var (
	abFailed   = regexp.MustCompile(`(?m)^Failed requests:\s+(\d+)$`)
	abComplete = regexp.MustCompile(`(?m)^Complete requests:\s+(\d+)$`)
)

func checkAB(t *testing.T, out string, n int) {
	t.Helper()
	if !strings.Contains(out, "Failed requests:        0\n") {
		m := abFailed.FindStringSubmatch(out)
		t.Errorf("ab: want \"Failed requests:        0\", got %q\n%s", m, out)
	}
	if m := abComplete.FindStringSubmatch(out); m == nil || m[1] != strconv.Itoa(n) {
		t.Errorf("ab: want %d complete requests, got %q\n%s", n, m, out)
	}
	if strings.Contains(out, "Non-2xx responses:") {
		t.Errorf("ab: non-2xx responses\n%s", out)
	}
}

// clientConnects returns how many TCP connections the client has opened
// (its TcpActiveOpens counter); in these tests all go to the VIP. ab opens
// a few more connections than it sends requests (it connects ahead and
// closes the spare ones at the end), so this, not the request count, is
// what the director's Conns counter must equal.
func (l *lab) clientConnects() uint64 {
	l.t.Helper()
	return nstat(l.t, l.Client, "TcpActiveOpens")
}

// nstat returns a kernel counter of namespace ns.
func nstat(t *testing.T, ns *testnet.Namespace, name string) uint64 {
	t.Helper()
	out := ns.MustExec("nstat", "-asz", name)
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == name {
			n, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				t.Fatalf("nstat: %q", line)
			}
			return n
		}
	}
	t.Fatalf("nstat: no %s in %q", name, out)
	return 0
}

// keepAlive is an HTTP/1.1 connection from the client to the VIP that
// stays open between requests.
type keepAlive struct {
	conn net.Conn
	br   *bufio.Reader
}

// openKeepAlive connects from the client namespace to the VIP.
func (l *lab) openKeepAlive() *keepAlive {
	l.t.Helper()
	c, err := l.Client.Dial(context.Background(), "tcp", vipPort)
	if err != nil {
		l.t.Fatalf("connect to %s from the client: %v", vipPort, err)
	}
	l.t.Cleanup(func() { c.Close() })
	return &keepAlive{conn: c, br: bufio.NewReader(c)}
}

// get sends GET / on the open connection and returns the real server that
// answered.
func (l *lab) get(k *keepAlive) *testnet.Real {
	l.t.Helper()
	body, err := k.get()
	if err != nil {
		l.t.Fatalf("GET / on the kept-alive connection %s: %v", k.conn.LocalAddr(), err)
	}
	r := l.RealByPage(body)
	if r == nil {
		l.t.Fatalf("GET / on the kept-alive connection: unexpected page %q", body)
	}
	return r
}

func (k *keepAlive) get() (string, error) { return k.getWithin(5 * time.Second) }

// getWithin is get with a deadline of d for the whole exchange.
func (k *keepAlive) getWithin(d time.Duration) (string, error) {
	if err := k.conn.SetDeadline(time.Now().Add(d)); err != nil {
		return "", err
	}
	defer k.conn.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(k.conn, "GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: golvs-e2e\r\n\r\n", vip); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK || resp.Close {
		return "", fmt.Errorf("status %q, close %v", resp.Status, resp.Close)
	}
	return string(body), nil
}

// directorSockets returns the lines of "ss -tan" on the director that
// involve the VIP's port 80: there must be none, the director forwards
// packets and never terminates a connection.
func (l *lab) directorSockets() []string {
	l.t.Helper()
	out := l.Director.MustExec("ss", "-tan")
	var bad []string
	for _, line := range strings.Split(out, "\n") {
		for _, f := range strings.Fields(line) {
			if f == vipPort || f == "*:80" || f == "0.0.0.0:80" {
				bad = append(bad, line)
				break
			}
		}
	}
	return bad
}

func (l *lab) checkNoDirectorSocket() {
	l.t.Helper()
	if bad := l.directorSockets(); len(bad) > 0 {
		l.t.Errorf("the director has sockets on port 80 (ss -tan):\n%s", strings.Join(bad, "\n"))
	}
}

// waitAccessLogs waits (a few seconds at most) until the real servers
// have logged n requests in all: nginx writes the log line after it has
// sent the response, so the client can be a little ahead of the log.
func (l *lab) waitAccessLogs(n int) {
	l.t.Helper()
	testnet.WaitFor(3*time.Second, func() bool {
		total := 0
		for _, c := range l.accessLogCounts() {
			total += c
		}
		return total >= n
	})
}

// checkAccessLogs checks that every request nginx logged came from the
// client's own address and reached serverAddr ("" = the real's own).
func (l *lab) checkAccessLogs(serverAddr string) (total int) {
	l.t.Helper()
	for _, r := range l.Reals {
		lines, err := r.Nginx.AccessLogLines()
		if err != nil {
			l.t.Fatal(err)
		}
		want := serverAddr
		if want == "" {
			want = r.Addr.String()
		}
		bad := 0
		for _, line := range lines {
			f := strings.Fields(line)
			if len(f) < 2 || !strings.HasPrefix(f[0], client+":") || f[1] != want+":80" {
				if bad < 5 {
					l.t.Errorf("%s access log: %q, want client %s and server %s:80", r.Name, line, client, want)
				}
				bad++
			}
		}
		total += len(lines)
	}
	return total
}

// accessLogCounts returns how many requests each real server logged.
func (l *lab) accessLogCounts() map[string]int {
	l.t.Helper()
	m := map[string]int{}
	for _, r := range l.Reals {
		lines, err := r.Nginx.AccessLogLines()
		if err != nil {
			l.t.Fatal(err)
		}
		m[r.Addr.String()+":80"] = len(lines)
	}
	return m
}

// saveLogs keeps copies of the nginx access logs in the test's output
// directory when the test fails.
func (l *lab) saveLogsOnFailure() {
	l.t.Cleanup(func() {
		if !l.t.Failed() {
			return
		}
		for _, r := range l.Reals {
			b, _ := os.ReadFile(r.Nginx.AccessLog)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) > 10 {
				lines = lines[len(lines)-10:]
			}
			l.t.Logf("%s access log (%s), last lines:\n%s", r.Name, filepath.Base(r.Nginx.AccessLog), strings.Join(lines, "\n"))
		}
	})
}
