package health

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golvs/internal/config"
)

// maxBody bounds how much of an HTTP response is read; keepalived reads to
// the end, but a check must not stream forever.
const maxBody = 16 << 20

// runProbe runs one attempt of j.
func runProbe(ctx context.Context, j job) result {
	start := time.Now()
	var r result
	switch j.check.Kind {
	case config.TCPCheck:
		r = probeTCP(ctx, j)
	case config.HTTPCheck, config.SSLCheck:
		r = probeHTTP(ctx, j)
	case config.MiscCheck:
		r = probeMisc(ctx, j)
	case config.DNSCheck:
		r = probeDNS(ctx, j)
	default:
		r = fail("%s: unknown check kind", j.check.Kind)
	}
	r.Latency = time.Since(start)
	r.At = time.Now()
	return r
}

func fail(format string, a ...any) result {
	return result{Result: Result{Reason: fmt.Sprintf(format, a...)}}
}

func pass(format string, a ...any) result {
	return result{Result: Result{OK: true, Reason: fmt.Sprintf(format, a...)}}
}

// target is where j's check connects: connect_ip/connect_port or the
// real, scoped to bind_if when it is link-local.
func target(j job) netip.AddrPort {
	t := j.check.Target(j.real)
	if j.check.BindIf != "" && t.Addr().Is6() && t.Addr().IsLinkLocalUnicast() {
		t = netip.AddrPortFrom(t.Addr().WithZone(j.check.BindIf), t.Port())
	}
	return t
}

// dialer connects as keepalived's checkers do: from bindto:bind_port, on
// bind_if, with the check's fwmark, within connect_timeout.
func dialer(cc *config.Check, udp bool) *net.Dialer {
	d := &net.Dialer{Timeout: cc.ConnectTimeout}
	if cc.BindTo.IsValid() || cc.BindPort != 0 {
		ip := net.IP(cc.BindTo.AsSlice())
		if udp {
			d.LocalAddr = &net.UDPAddr{IP: ip, Port: int(cc.BindPort)}
		} else {
			d.LocalAddr = &net.TCPAddr{IP: ip, Port: int(cc.BindPort)}
		}
	}
	if cc.BindIf != "" || cc.FWMark != 0 {
		bindIf, mark := cc.BindIf, cc.FWMark
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				if bindIf != "" {
					serr = syscall.SetsockoptString(int(fd), syscall.SOL_SOCKET, syscall.SO_BINDTODEVICE, bindIf)
				}
				if serr == nil && mark != 0 {
					serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_MARK, int(mark))
				}
			})
			return errors.Join(err, serr)
		}
	}
	return d
}

// netError shortens a network error to what went wrong, without the
// addresses the reason already names.
func netError(err error, timeout time.Duration) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("timeout after %v", timeout)
	}
	// "connect: connection refused" from a syscall says it all; other
	// errors get their operation.
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Error()
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Op + ": " + oe.Err.Error()
	}
	return err.Error()
}

// probeTCP is TCP_CHECK: the connection opens within connect_timeout.
func probeTCP(ctx context.Context, j job) result {
	t := target(j)
	name := fmt.Sprintf("%s %s", j.check.Kind, t)
	conn, err := dialer(&j.check, false).DialContext(ctx, "tcp", t.String())
	if err != nil {
		return fail("%s: %s", name, netError(err, j.check.ConnectTimeout))
	}
	conn.Close()
	return pass("%s: connected", name)
}

// probeHTTP is one attempt of HTTP_GET or SSL_GET: fetch one URL with
// keepalived's request (HTTP/1.0 unless http_protocol says otherwise, a
// fresh connection each time, no certificate check) and compare the status
// code and the MD5 digest of the body.
func probeHTTP(ctx context.Context, j job) result {
	h := j.check.HTTP
	if h == nil || j.url >= len(h.URLs) {
		return fail("%s: no url to check", j.check.Kind)
	}
	u := h.URLs[j.url]
	t := target(j)
	name := fmt.Sprintf("%s %s%s", j.check.Kind, urlBase(j.check.Kind, t), u.Path)
	timeout := j.check.ConnectTimeout

	vhost := u.VirtualHost
	if vhost == "" {
		vhost = h.VirtualHost
	}
	if vhost == "" {
		vhost = j.vhost
	}

	conn, err := dialer(&j.check, false).DialContext(ctx, "tcp", t.String())
	if err != nil {
		return fail("%s: %s", name, netError(err, timeout))
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	if j.check.Kind == config.SSLCheck {
		tc := &tls.Config{InsecureSkipVerify: true} // keepalived verifies nothing by default
		if h.EnableSNI {
			tc.ServerName = h.SNIName
			if tc.ServerName == "" {
				tc.ServerName = vhost
			}
		}
		tlsConn := tls.Client(conn, tc)
		conn.SetDeadline(time.Now().Add(timeout))
		if err := tlsConn.Handshake(); err != nil {
			return fail("%s: tls handshake: %s", name, netError(err, timeout))
		}
		if h.TLSCompliant {
			// tls_compliant: end with close_notify rather than a bare
			// close of the connection.
			defer tlsConn.Close()
		}
		conn = tlsConn
	}

	host := vhost
	if host == "" {
		host = t.String() // "[2001:db8::1]:80" for IPv6, as RFC 2732 wants
	}
	minor, closeHdr := "0", ""
	switch h.Protocol {
	case "1.1":
		minor, closeHdr = "1", "Connection: close\r\n"
	case "1.0C", "1.0c":
		closeHdr = "Connection: close\r\n"
	}
	req := "GET " + u.Path + " HTTP/1." + minor + "\r\nUser-Agent: KeepAliveClient\r\n" + closeHdr + "Host: " + host + "\r\n\r\n"
	conn.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(conn, req); err != nil {
		return fail("%s: send request: %s", name, netError(err, timeout))
	}

	// Every read gets connect_timeout, as keepalived's read threads do.
	var buf []byte
	chunk := make([]byte, 32<<10)
	for {
		conn.SetReadDeadline(time.Now().Add(timeout))
		n, err := conn.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if len(buf) > maxBody {
			return fail("%s: response larger than %d bytes", name, maxBody)
		}
		if err == io.EOF || (err != nil && len(buf) > 0 && isCloseError(err)) {
			break
		}
		if err != nil {
			return fail("%s: read: %s", name, netError(err, timeout))
		}
	}
	head, body, ok := splitResponse(buf)
	if !ok {
		return fail("%s: no HTTP response received", name)
	}
	code := statusCode(head)
	if !u.Accepts(code) {
		return fail("%s: status %d, want %s", name, code, describeStatus(u))
	}
	if u.Digest != "" {
		sum := md5.Sum(body)
		got := hex.EncodeToString(sum[:])
		if !strings.EqualFold(got, u.Digest) {
			return fail("%s: digest %s, want %s", name, got, strings.ToLower(u.Digest))
		}
		return pass("%s: status %d, digest ok", name, code)
	}
	return pass("%s: status %d", name, code)
}

// isCloseError is a TLS peer closing without close_notify, which ends a
// response as EOF does (keepalived's SSL reader takes it as the end).
func isCloseError(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// splitResponse splits a raw response at the end of its headers and cuts
// the body to Content-Length when there is one. keepalived hashes the
// bytes after the headers as they come, so a chunked HTTP/1.1 body is
// hashed with its chunk framing, here as there.
func splitResponse(b []byte) (head string, body []byte, ok bool) {
	s := string(b)
	i, n := strings.Index(s, "\r\n\r\n"), 4
	if j := strings.Index(s, "\n\n"); i < 0 || (j >= 0 && j < i) {
		i, n = j, 2
	}
	if i < 0 {
		return "", nil, false
	}
	head, body = s[:i], b[i+n:]
	for _, line := range strings.Split(head, "\n") {
		k, v, found := strings.Cut(line, ":")
		if found && strings.EqualFold(strings.TrimSpace(k), "Content-Length") {
			if l, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && l >= 0 && l < len(body) {
				body = body[:l]
			}
		}
	}
	return head, body, true
}

// statusCode reads the code from "HTTP/1.x NNN reason"; 0 when there is
// none, which no status_code accepts.
func statusCode(head string) int {
	line, _, _ := strings.Cut(head, "\n")
	if !strings.HasPrefix(line, "HTTP/") {
		return 0
	}
	_, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimLeft(rest, " ")
	if len(rest) < 3 {
		return 0
	}
	code, err := strconv.Atoi(rest[:3])
	if err != nil {
		return 0
	}
	return code
}

// probeMisc is MISC_CHECK: run misc_path, killed after misc_timeout
// (default delay_loop, as check_misc.c does).
func probeMisc(ctx context.Context, j job) result {
	m := j.check.Misc
	if m == nil {
		return fail("%s: no misc_path", j.check.Kind)
	}
	name := fmt.Sprintf("%s %s", j.check.Kind, m.Path)
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = j.check.DelayLoop
	}
	if timeout <= 0 {
		timeout = config.DefaultDelayLoop
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := runCommand(ctx, command{
		args: m.Args, line: m.Path, user: m.User, group: m.Group,
		env: []string{"GOLVS_REAL=" + j.real.String()},
	})
	r := result{exited: out.exited, exit: out.exit}
	switch {
	case out.exited && out.exit == 0:
		r.OK, r.Reason = true, name+": exit status 0"
	case out.exited && m.Dynamic && out.exit >= 2:
		r.OK, r.Reason = true, fmt.Sprintf("%s: exit status %d, weight %d", name, out.exit, out.exit-2)
	default:
		r.Reason = name + ": " + out.describe(timeout)
	}
	return r
}
