package health

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"golvs/internal/config"
	"golvs/internal/lvs"
)

// listenTCP listens on a loopback port and returns its address.
func listenTCP(t *testing.T, network, addr string) (net.Listener, netip.AddrPort) {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("listen %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { l.Close() })
	return l, l.Addr().(*net.TCPAddr).AddrPort()
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) netip.AddrPort {
	t.Helper()
	l, a := listenTCP(t, "tcp4", "127.0.0.1:0")
	l.Close()
	return a
}

func probeJob(kind config.CheckKind, addr netip.AddrPort, mod func(*config.Check)) job {
	ck := config.Check{Kind: kind, ConnectTimeout: 2 * time.Second, DelayLoop: 5 * time.Second}
	if mod != nil {
		mod(&ck)
	}
	return job{check: ck, real: addr}
}

func TestProbeTCP(t *testing.T) {
	_, up4 := listenTCP(t, "tcp4", "127.0.0.1:0")
	_, up6 := listenTCP(t, "tcp6", "[::1]:0")
	down := closedPort(t)
	tests := []struct {
		name   string
		real   netip.AddrPort
		ok     bool
		reason string
	}{
		{"listening IPv4 port", up4, true, fmt.Sprintf("TCP_CHECK %s: connected", up4)},
		{"listening IPv6 port", up6, true, fmt.Sprintf("TCP_CHECK %s: connected", up6)},
		{"closed port", down, false, fmt.Sprintf("TCP_CHECK %s: connect: connection refused", down)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runProbe(context.Background(), probeJob(config.TCPCheck, tt.real, nil))
			if r.OK != tt.ok || r.Reason != tt.reason {
				t.Errorf("got ok=%v %q, want ok=%v %q", r.OK, r.Reason, tt.ok, tt.reason)
			}
			if r.Latency <= 0 || r.At.IsZero() {
				t.Errorf("latency %v at %v: not measured", r.Latency, r.At)
			}
		})
	}
}

// connect_ip/connect_port redirect the check; bindto/bind_port set its
// source.
func TestProbeTCPConnectAndBind(t *testing.T) {
	l, addr := listenTCP(t, "tcp4", "127.0.0.1:0")
	src := closedPort(t) // a free port to bind to
	accepted := make(chan netip.AddrPort, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c.RemoteAddr().(*net.TCPAddr).AddrPort()
			c.Close()
		}
	}()
	j := probeJob(config.TCPCheck, netip.MustParseAddrPort("127.0.0.1:1"), func(c *config.Check) {
		c.ConnectIP, c.ConnectPort = addr.Addr(), addr.Port()
		c.BindTo, c.BindPort = src.Addr(), src.Port()
	})
	if r := runProbe(context.Background(), j); !r.OK {
		t.Fatalf("check through connect_ip/connect_port failed: %s", r.Reason)
	}
	if got := <-accepted; got != src {
		t.Errorf("server saw the check from %s, want bindto %s", got, src)
	}
}

// request is what a test web server saw.
type request struct {
	proto, host, agent, sni, connection string
}

func webServer(t *testing.T, tls bool) (*httptest.Server, func() request) {
	t.Helper()
	var mu sync.Mutex
	var last request
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		last = request{proto: r.Proto, host: r.Host, agent: r.UserAgent(), connection: r.Header.Get("Connection")}
		if r.TLS != nil {
			last.sni = r.TLS.ServerName
		}
		mu.Unlock()
		switch r.URL.Path {
		case "/health":
			fmt.Fprint(w, "hello")
		case "/broken":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "/moved":
			http.Redirect(w, r, "/health", http.StatusFound)
		case "/slow":
			<-r.Context().Done()
		default:
			http.NotFound(w, r)
		}
	})
	var s *httptest.Server
	if tls {
		s = httptest.NewTLSServer(mux)
	} else {
		s = httptest.NewServer(mux)
	}
	t.Cleanup(s.Close)
	return s, func() request { mu.Lock(); defer mu.Unlock(); return last }
}

func serverAddr(s *httptest.Server) netip.AddrPort {
	return s.Listener.Addr().(*net.TCPAddr).AddrPort()
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestProbeHTTP(t *testing.T) {
	plain, _ := webServer(t, false)
	secure, _ := webServer(t, true)
	pa, sa := serverAddr(plain), serverAddr(secure)
	down := closedPort(t)
	tests := []struct {
		name   string
		kind   config.CheckKind
		real   netip.AddrPort
		url    config.URL
		ok     bool
		reason string
	}{
		{"200 passes by default", config.HTTPCheck, pa, config.URL{Path: "/health"}, true,
			"HTTP_GET http://%s/health: status 200"},
		{"500 fails by default", config.HTTPCheck, pa, config.URL{Path: "/broken"}, false,
			"HTTP_GET http://%s/broken: status 500, want 200-299"},
		{"302 fails by default", config.HTTPCheck, pa, config.URL{Path: "/moved"}, false,
			"HTTP_GET http://%s/moved: status 302, want 200-299"},
		{"status_code 500 accepts 500", config.HTTPCheck, pa, config.URL{Path: "/broken", StatusCodes: []config.StatusRange{{Lo: 500, Hi: 500}}}, true,
			"HTTP_GET http://%s/broken: status 500"},
		{"status_code 200 refuses 404", config.HTTPCheck, pa, config.URL{Path: "/nothing", StatusCodes: []config.StatusRange{{Lo: 200, Hi: 200}, {Lo: 301, Hi: 302}}}, false,
			"HTTP_GET http://%s/nothing: status 404, want 200,301-302"},
		{"matching digest", config.HTTPCheck, pa, config.URL{Path: "/health", Digest: md5hex("hello")}, true,
			"HTTP_GET http://%s/health: status 200, digest ok"},
		{"other digest", config.HTTPCheck, pa, config.URL{Path: "/health", Digest: md5hex("goodbye")}, false,
			"HTTP_GET http://%s/health: digest " + md5hex("hello") + ", want " + md5hex("goodbye")},
		{"connection refused", config.HTTPCheck, down, config.URL{Path: "/health"}, false,
			"HTTP_GET http://%s/health: connect: connection refused"},
		{"SSL_GET of a self-signed server", config.SSLCheck, sa, config.URL{Path: "/health", Digest: md5hex("hello")}, true,
			"SSL_GET https://%s/health: status 200, digest ok"},
		{"SSL_GET 500", config.SSLCheck, sa, config.URL{Path: "/broken"}, false,
			"SSL_GET https://%s/broken: status 500, want 200-299"},
		{"SSL_GET of a plain server", config.SSLCheck, pa, config.URL{Path: "/health"}, false,
			"SSL_GET https://%s/health: tls handshake: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := probeJob(tt.kind, tt.real, func(c *config.Check) { c.HTTP = &config.HTTPGet{URLs: []config.URL{tt.url}} })
			r := runProbe(context.Background(), j)
			want := fmt.Sprintf(tt.reason, tt.real)
			if r.OK != tt.ok || !strings.HasPrefix(r.Reason, want) {
				t.Errorf("got ok=%v %q, want ok=%v %q", r.OK, r.Reason, tt.ok, want)
			}
		})
	}
}

// The request is keepalived's: HTTP/1.0 (or what http_protocol says),
// User-Agent KeepAliveClient, and the Host header from the URL, the check,
// the real or the service, else the address.
func TestProbeHTTPRequest(t *testing.T) {
	plain, seen := webServer(t, false)
	secure, seenTLS := webServer(t, true)
	pa, sa := serverAddr(plain), serverAddr(secure)
	tests := []struct {
		name string
		kind config.CheckKind
		real netip.AddrPort
		http config.HTTPGet
		job  func(*job)
		want request
	}{
		{"defaults", config.HTTPCheck, pa, config.HTTPGet{URLs: []config.URL{{Path: "/health"}}}, nil,
			request{proto: "HTTP/1.0", host: pa.String(), agent: "KeepAliveClient"}},
		{"url virtualhost", config.HTTPCheck, pa, config.HTTPGet{VirtualHost: "check.test", URLs: []config.URL{{Path: "/health", VirtualHost: "url.test"}}}, nil,
			request{proto: "HTTP/1.0", host: "url.test", agent: "KeepAliveClient"}},
		{"check virtualhost", config.HTTPCheck, pa, config.HTTPGet{VirtualHost: "check.test", URLs: []config.URL{{Path: "/health"}}}, func(j *job) { j.vhost = "real.test" },
			request{proto: "HTTP/1.0", host: "check.test", agent: "KeepAliveClient"}},
		{"real or service virtualhost", config.HTTPCheck, pa, config.HTTPGet{URLs: []config.URL{{Path: "/health"}}}, func(j *job) { j.vhost = "real.test" },
			request{proto: "HTTP/1.0", host: "real.test", agent: "KeepAliveClient"}},
		{"http_protocol 1.1", config.HTTPCheck, pa, config.HTTPGet{Protocol: "1.1", URLs: []config.URL{{Path: "/health"}}}, nil,
			request{proto: "HTTP/1.1", host: pa.String(), agent: "KeepAliveClient", connection: "close"}},
		{"http_protocol 1.0C", config.HTTPCheck, pa, config.HTTPGet{Protocol: "1.0C", URLs: []config.URL{{Path: "/health"}}}, nil,
			request{proto: "HTTP/1.0", host: pa.String(), agent: "KeepAliveClient", connection: "close"}},
		{"SSL_GET sends no SNI by default", config.SSLCheck, sa, config.HTTPGet{VirtualHost: "www.test", URLs: []config.URL{{Path: "/health"}}}, nil,
			request{proto: "HTTP/1.0", host: "www.test", agent: "KeepAliveClient"}},
		{"SSL_GET enable_sni sends the virtualhost", config.SSLCheck, sa, config.HTTPGet{VirtualHost: "www.test", EnableSNI: true, URLs: []config.URL{{Path: "/health"}}}, nil,
			request{proto: "HTTP/1.0", host: "www.test", agent: "KeepAliveClient", sni: "www.test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.http
			j := probeJob(tt.kind, tt.real, func(c *config.Check) { c.HTTP = &h })
			if tt.job != nil {
				tt.job(&j)
			}
			if r := runProbe(context.Background(), j); !r.OK {
				t.Fatalf("check failed: %s", r.Reason)
			}
			got := seen()
			if tt.kind == config.SSLCheck {
				got = seenTLS()
			}
			if got != tt.want {
				t.Errorf("server saw %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Every read gets connect_timeout: a server that never answers fails the
// check.
func TestProbeHTTPReadTimeout(t *testing.T) {
	s, _ := webServer(t, false)
	a := serverAddr(s)
	j := probeJob(config.HTTPCheck, a, func(c *config.Check) {
		c.ConnectTimeout = 200 * time.Millisecond
		c.HTTP = &config.HTTPGet{URLs: []config.URL{{Path: "/slow"}}}
	})
	r := runProbe(context.Background(), j)
	if want := fmt.Sprintf("HTTP_GET http://%s/slow: read: timeout after 200ms", a); r.OK || r.Reason != want {
		t.Errorf("got ok=%v %q, want %q", r.OK, r.Reason, want)
	}
}

// Responses are parsed as keepalived does: the body after the blank line,
// cut at Content-Length; the status from the first line.
func TestSplitResponse(t *testing.T) {
	tests := []struct {
		name, raw, body string
		code            int
		ok              bool
	}{
		{"crlf", "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nbody", "body", 200, true},
		{"bare lf", "HTTP/1.1 503 Busy\nA: b\n\nbody", "body", 503, true},
		{"content-length cuts", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nbody", "bo", 200, true},
		{"no blank line", "HTTP/1.0 200 OK\r\n", "", 0, false},
		{"not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			head, body, ok := splitResponse([]byte(tt.raw))
			if ok != tt.ok || string(body) != tt.body || (ok && statusCode(head) != tt.code) {
				t.Errorf("got ok=%v body=%q code=%d, want ok=%v body=%q code=%d", ok, body, statusCode(head), tt.ok, tt.body, tt.code)
			}
		})
	}
}

func miscJob(m config.MiscExec) job {
	if m.Path == "" {
		m.Path = strings.Join(m.Args, " ")
	}
	return probeJob(config.MiscCheck, netip.MustParseAddrPort("198.18.0.11:80"), func(c *config.Check) { c.Misc = &m })
}

func TestProbeMisc(t *testing.T) {
	dir := t.TempDir()
	noShebang := filepath.Join(dir, "plain")
	if err := os.WriteFile(noShebang, []byte("exit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		misc   config.MiscExec
		ok     bool
		exit   int
		reason string
	}{
		{"exit 0", config.MiscExec{Args: []string{"/bin/true"}}, true, 0, "MISC_CHECK /bin/true: exit status 0"},
		{"exit 1", config.MiscExec{Args: []string{"/bin/false"}}, false, 1, "MISC_CHECK /bin/false: exit status 1"},
		{"exit 7 without misc_dynamic fails", config.MiscExec{Args: []string{"/bin/sh", "-c", "exit 7"}}, false, 7,
			"MISC_CHECK /bin/sh -c exit 7: exit status 7"},
		{"exit 7 with misc_dynamic is weight 5", config.MiscExec{Args: []string{"/bin/sh", "-c", "exit 7"}, Dynamic: true}, true, 7,
			"MISC_CHECK /bin/sh -c exit 7: exit status 7, weight 5"},
		{"exit 1 with misc_dynamic fails", config.MiscExec{Args: []string{"/bin/false"}, Dynamic: true}, false, 1,
			"MISC_CHECK /bin/false: exit status 1"},
		{"words reach the program unchanged", config.MiscExec{Args: []string{"/bin/sh", "-c", `test "$1" = 'a b'`, "x", "a b"}}, true, 0, ""},
		{"a script without #! runs through sh", config.MiscExec{Args: []string{noShebang}}, false, 3, "MISC_CHECK " + noShebang + ": exit status 3"},
		{"misc_path alone is a shell command line", config.MiscExec{Path: "exit 4"}, false, 4, "MISC_CHECK exit 4: exit status 4"},
		{"a missing program", config.MiscExec{Args: []string{filepath.Join(dir, "missing")}}, false, 127, ""},
		{"the real's address in the environment", config.MiscExec{Args: []string{"/bin/sh", "-c", `test "$GOLVS_REAL" = 198.18.0.11:80`}}, true, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runProbe(context.Background(), miscJob(tt.misc))
			if r.OK != tt.ok || !r.exited || r.exit != tt.exit || (tt.reason != "" && r.Reason != tt.reason) {
				t.Errorf("got ok=%v exited=%v exit=%d %q, want ok=%v exit=%d %q", r.OK, r.exited, r.exit, r.Reason, tt.ok, tt.exit, tt.reason)
			}
		})
	}
}

// misc_timeout kills the command and everything it started.
func TestProbeMiscTimeout(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	// 1 s: long enough for the shell to start its child on a loaded
	// machine before the timeout kills the group.
	m := config.MiscExec{
		Args:    []string{"/bin/sh", "-c", `sleep 60 & echo $! > "$1"; wait`, "sh", pidFile},
		Timeout: time.Second,
	}
	r := runProbe(context.Background(), miscJob(m))
	if r.OK || r.exited || !strings.HasSuffix(r.Reason, ": timed out after 1s") {
		t.Errorf("got ok=%v exited=%v %q, want a timeout", r.OK, r.exited, r.Reason)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// The child is gone, or a zombie waiting for a parent that reaps; a
	// signalled process may take a moment to go on a loaded machine.
	var stat []byte
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err := syscall.Kill(pid, 0); err != nil {
			if !errors.Is(err, syscall.ESRCH) {
				t.Fatal(err)
			}
			return
		}
		stat, _ = os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if f := strings.Fields(string(stat)); len(f) >= 3 && f[2] == "Z" {
			return
		}
	}
	t.Errorf("the command's child %d still runs 3 s after the timeout: %s", pid, stat)
}

// A MISC_CHECK with user runs as that user.
func TestProbeMiscUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("running a script as another user needs root")
	}
	m := config.MiscExec{Args: []string{"/bin/sh", "-c", `test "$(id -u)" = 65534`}, User: "nobody"}
	if r := runProbe(context.Background(), miscJob(m)); !r.OK {
		t.Errorf("script as nobody: %s", r.Reason)
	}
	m.User = "no-such-user-golvs"
	if r := runProbe(context.Background(), miscJob(m)); r.OK || !strings.Contains(r.Reason, `script user "no-such-user-golvs"`) {
		t.Errorf("unknown user: got ok=%v %q", r.OK, r.Reason)
	}
}

// dnsServer answers on a loopback UDP port as mode says and reports the
// questions it got.
func dnsServer(t *testing.T, mode string) (netip.AddrPort, <-chan string) {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	questions := make(chan string, 4)
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := buf[:n]
			if n < 17 {
				continue
			}
			// The question: labels, then type and class.
			var labels []string
			i := 12
			for i < n && q[i] != 0 {
				l := int(q[i])
				labels = append(labels, string(q[i+1:i+1+l]))
				i += 1 + l
			}
			typ := binary.BigEndian.Uint16(q[i+1:])
			questions <- fmt.Sprintf("%s. type %d rd=%v", strings.Join(labels, "."), typ, q[2]&1 == 1)
			reply := append([]byte(nil), q...)
			reply[2] |= 0x80 // QR
			switch mode {
			case "silent":
				continue
			case "servfail":
				reply[3] = 2
			case "nxdomain":
				reply[3] = 3
			case "wrong id first":
				other := append([]byte(nil), reply...)
				other[0]++
				pc.WriteTo(other, from)
			}
			pc.WriteTo(reply, from)
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).AddrPort(), questions
}

func TestProbeDNS(t *testing.T) {
	tests := []struct {
		name     string
		mode     string
		query    *config.DNSQuery
		question string
		ok       bool
		reason   string
	}{
		{"NOERROR passes", "ok", nil, ". type 6 rd=true", true, "DNS_CHECK %s SOA .: NOERROR"},
		{"type and name", "ok", &config.DNSQuery{Type: "a", Name: "www.example.test"}, "www.example.test. type 1 rd=true", true,
			"DNS_CHECK %s A www.example.test: NOERROR"},
		{"SERVFAIL fails", "servfail", nil, ". type 6 rd=true", false, "DNS_CHECK %s SOA .: rcode SERVFAIL"},
		{"NXDOMAIN fails", "nxdomain", &config.DNSQuery{Type: "AAAA", Name: "gone.test."}, "gone.test. type 28 rd=true", false,
			"DNS_CHECK %s AAAA gone.test.: rcode NXDOMAIN"},
		{"a reply to another query is ignored", "wrong id first", nil, ". type 6 rd=true", true, "DNS_CHECK %s SOA .: NOERROR"},
		{"no reply", "silent", nil, ". type 6 rd=true", false, "DNS_CHECK %s SOA .: no reply: timeout after 300ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, questions := dnsServer(t, tt.mode)
			j := probeJob(config.DNSCheck, addr, func(c *config.Check) { c.DNS = tt.query; c.ConnectTimeout = 300 * time.Millisecond })
			r := runProbe(context.Background(), j)
			if want := fmt.Sprintf(tt.reason, addr); r.OK != tt.ok || r.Reason != want {
				t.Errorf("got ok=%v %q, want ok=%v %q", r.OK, r.Reason, tt.ok, want)
			}
			if q := <-questions; q != tt.question {
				t.Errorf("server got question %q, want %q", q, tt.question)
			}
		})
	}
	// Nothing listening: the ICMP port unreachable fails the check.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	pc.Close()
	r := runProbe(context.Background(), probeJob(config.DNSCheck, closed, nil))
	if want := fmt.Sprintf("DNS_CHECK %s SOA .: no reply: read: connection refused", closed); r.OK || r.Reason != want {
		t.Errorf("closed port: got ok=%v %q, want %q", r.OK, r.Reason, want)
	}
}

// End to end with real TCP connects on loopback and the fake clock: a real
// whose port closes leaves the table after retry+1 failures and comes back
// when it listens again.
func TestTCPCheckAgainstRealListener(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().(*net.TCPAddr).AddrPort()
		r := realWith(addr, 4, tcpCheck(timers{delayLoop: 6, retry: 1, delayBeforeRetry: 1}))
		svc := config.Service{Service: lvs.Service{ServiceKey: vip, Scheduler: "rr"}, Quorum: 1, Reals: []config.Real{r}}
		h := start(t, []config.Service{svc}, Options{}, func(h *harness) { h.c.probe = runProbe })
		defer h.stop()
		want := addr.String() + " w4"
		h.at(10)
		h.wantTable("listening", want)
		l.Close()
		h.at(13.5)
		h.wantTable("one failure", want)
		h.at(14)
		h.wantTable("two failures", "")
		if st := h.realStatus(addr); st.Reason != fmt.Sprintf("TCP_CHECK %s: connect: connection refused", addr) {
			t.Errorf("reason = %q", st.Reason)
		}
		l, err = net.Listen("tcp4", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		h.at(20)
		h.wantTable("listening again", want)
	})
}
