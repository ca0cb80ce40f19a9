package realserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golvs/internal/datapath/decap"
	"golvs/internal/datapath/decap/decaptest"
)

// The end-to-end topology: a namespace "dir" plays client and director
// (clients' addresses on its lo, the director's on its link, and
// decap_test_encap wrapping everything to a VIP the way IPVS's TUN
// does), and a namespace "rs" is the real server, prepared by Setup. They
// share one veth pair: gltrsd in dir, gltrsr in rs.
var (
	e2eVIP4 = netip.MustParseAddr("198.18.0.10")
	e2eVIP6 = netip.MustParseAddr("2001:db8::10")
	e2eCIP4 = netip.MustParseAddr("198.18.0.100")
	e2eCIP6 = netip.MustParseAddr("2001:db8::100")
	e2eDIP4 = netip.MustParseAddr("198.18.1.1")
	e2eDIP6 = netip.MustParseAddr("2001:db8:1::1")
	e2eRIP4 = netip.MustParseAddr("198.18.1.10")
	e2eRIP6 = netip.MustParseAddr("2001:db8:1::10")
)

const (
	e2eGUEPort = 6080
	// e2eTimeout bounds each connection of the test.
	e2eTimeout = 20 * time.Second
)

// e2eServer is a TCP server on a VIP in the real server's namespace: it
// reads until the client half-closes and answers with the byte count,
// the SHA-256 of what it read and the client's address as it saw it.
type e2eServer struct {
	ln net.Listener
	wg sync.WaitGroup
}

func startServer(t *testing.T, rs *testNS, addr netip.AddrPort) *e2eServer {
	t.Helper()
	s := &e2eServer{}
	rs.must(func() (err error) {
		s.ln, err = net.Listen("tcp", addr.String())
		return err
	})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(e2eTimeout))
				h := sha256.New()
				n, err := io.Copy(h, c)
				if err != nil {
					fmt.Fprintf(c, "error %v\n", err)
					return
				}
				fmt.Fprintf(c, "%d %s %s\n", n, hex.EncodeToString(h.Sum(nil)), c.RemoteAddr())
			}()
		}
	}()
	t.Cleanup(func() {
		s.ln.Close()
		s.wg.Wait()
	})
	return s
}

// startUDPEcho answers every datagram to addr with "echo " and the
// datagram, from the real server's namespace.
func startUDPEcho(t *testing.T, rs *testNS, addr netip.AddrPort) {
	t.Helper()
	var pc net.PacketConn
	rs.must(func() (err error) {
		pc, err = net.ListenPacket("udp", addr.String())
		return err
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(append([]byte("echo "), buf[:n]...), from)
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
}

func e2eTopology(t *testing.T) (dir, rs *testNS) {
	dir, rs = newTestNS(t, "dir"), newTestNS(t, "rs")
	// No duplicate address detection on the links' link-local addresses:
	// neighbour discovery would wait for it a second or two.
	dir.setSysctl("net/ipv6/conf/default/accept_dad", "0")
	rs.setSysctl("net/ipv6/conf/default/accept_dad", "0")
	dir.ip("link", "add", prefix+"d", "type", "veth", "peer", "name", prefix+"r", "netns", rs.name)
	dir.ip("link", "set", prefix+"d", "up")
	rs.ip("link", "set", prefix+"r", "up")
	// TCP's GSO packets stay below 64 KiB with the tunnel's headers.
	dir.ip("link", "set", prefix+"d", "gso_max_size", "60000")

	dir.ip("addr", "add", e2eDIP4.String()+"/24", "dev", prefix+"d")
	dir.ip("addr", "add", e2eDIP6.String()+"/64", "dev", prefix+"d", "nodad")
	dir.ip("addr", "add", e2eCIP4.String()+"/32", "dev", "lo")
	dir.ip("addr", "add", e2eCIP6.String()+"/128", "dev", "lo", "nodad")
	// Clients reach the VIPs through the real server, as the director's
	// TUN sends them; the MTU leaves room for the tunnel's headers.
	dir.ip("route", "add", e2eVIP4.String()+"/32", "via", e2eRIP4.String(), "src", e2eCIP4.String(), "mtu", "1400")
	dir.ip("-6", "route", "add", e2eVIP6.String()+"/128", "via", e2eRIP6.String(), "src", e2eCIP6.String(), "mtu", "1400")

	rs.ip("addr", "add", e2eRIP4.String()+"/24", "dev", prefix+"r")
	rs.ip("addr", "add", e2eRIP6.String()+"/64", "dev", prefix+"r", "nodad")
	// The real server answers clients directly (through dir, their router).
	rs.ip("route", "add", "198.18.0.0/24", "via", e2eDIP4.String())
	rs.ip("-6", "route", "add", "2001:db8::/64", "via", e2eDIP6.String())
	// As on many distributions: strict reverse-path filtering, which
	// lvsrs must relax.
	rs.setSysctl("net/ipv4/conf/all/rp_filter", "1")
	return dir, rs
}

// TestPrivilegedTunnelEndToEnd sends real TCP connections (and UDP
// datagrams) from a client through a tunnel of each kind and family pair
// to a real server prepared by Setup, which unwraps them with its
// decapsulation program: the server must get every byte, see the client's
// own address, and answer it directly. One transfer is large, so that GSO
// packets cross the tunnel and are unwrapped whole.
func TestPrivilegedTunnelEndToEnd(t *testing.T) {
	dir, rs := e2eTopology(t)
	o := Options{
		VIPs:     []netip.Addr{e2eVIP4, e2eVIP6},
		Tunnels:  decap.TunnelIPIP | decap.TunnelGUE | decap.TunnelGRE,
		GUEPorts: []uint16{e2eGUEPort},
		StateDir: t.TempDir(),
		PinDir:   testPinDir(t),
	}
	rs.must(func() error { _, err := Setup(o); return err })
	t.Cleanup(func() {
		if err := rs.do(func() error { _, err := Undo(o); return err }); err != nil {
			t.Errorf("undo: %v", err)
		}
	})
	startServer(t, rs, netip.AddrPortFrom(e2eVIP4, 80))
	startServer(t, rs, netip.AddrPortFrom(e2eVIP6, 80))
	startUDPEcho(t, rs, netip.AddrPortFrom(e2eVIP4, 53))
	startUDPEcho(t, rs, netip.AddrPortFrom(e2eVIP6, 53))

	// The director stand-in, a test-only program of its own.
	var enc *decaptest.Encap
	dir.must(func() (err error) {
		enc, err = decaptest.Open()
		return err
	})
	t.Cleanup(func() { enc.Close() })

	counters := func() map[string]uint64 {
		t.Helper()
		var c map[string]uint64
		rs.must(func() error {
			d, err := decap.OpenPinned(o.PinDir)
			if err != nil {
				return err
			}
			defer d.Close()
			c, err = d.Counters()
			return err
		})
		return c
	}

	for _, c := range []struct {
		name     string
		kind     decap.Tunnel
		vip, cip netip.Addr
		outer    [2]netip.Addr // director, real server
		size     int
		udp      bool
	}{
		{"ipip: IPv4 in IPv4, 16 MiB", decap.TunnelIPIP, e2eVIP4, e2eCIP4, [2]netip.Addr{e2eDIP4, e2eRIP4}, 16 << 20, false},
		{"ipip: IPv6 in IPv6, 4 MiB", decap.TunnelIPIP, e2eVIP6, e2eCIP6, [2]netip.Addr{e2eDIP6, e2eRIP6}, 4 << 20, false},
		{"ipip: IPv4 in IPv6", decap.TunnelIPIP, e2eVIP4, e2eCIP4, [2]netip.Addr{e2eDIP6, e2eRIP6}, 1 << 20, false},
		{"ipip: IPv6 in IPv4", decap.TunnelIPIP, e2eVIP6, e2eCIP6, [2]netip.Addr{e2eDIP4, e2eRIP4}, 1 << 20, false},
		{"gue: IPv4 in IPv4, 4 MiB", decap.TunnelGUE, e2eVIP4, e2eCIP4, [2]netip.Addr{e2eDIP4, e2eRIP4}, 4 << 20, false},
		{"gue: IPv6 in IPv6", decap.TunnelGUE, e2eVIP6, e2eCIP6, [2]netip.Addr{e2eDIP6, e2eRIP6}, 1 << 20, false},
		{"gue: UDP, IPv4 in IPv4", decap.TunnelGUE, e2eVIP4, e2eCIP4, [2]netip.Addr{e2eDIP4, e2eRIP4}, 0, true},
		{"gre: IPv4 in IPv4, 4 MiB", decap.TunnelGRE, e2eVIP4, e2eCIP4, [2]netip.Addr{e2eDIP4, e2eRIP4}, 4 << 20, false},
		{"gre: IPv6 in IPv6", decap.TunnelGRE, e2eVIP6, e2eCIP6, [2]netip.Addr{e2eDIP6, e2eRIP6}, 1 << 20, false},
		{"gre: UDP, IPv6 in IPv6", decap.TunnelGRE, e2eVIP6, e2eCIP6, [2]netip.Addr{e2eDIP6, e2eRIP6}, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var detach func() error
			dir.must(func() (err error) {
				detach, err = enc.Attach(prefix+"d", decaptest.Tunnel{
					VIP: c.vip, Src: c.outer[0], Dst: c.outer[1], Kind: c.kind, Port: e2eGUEPort,
				})
				return err
			})
			defer func() {
				if err := detach(); err != nil {
					t.Error(err)
				}
			}()
			before := counters()
			if c.udp {
				udpRoundTrip(t, dir, c.cip, c.vip)
			} else {
				tcpTransfer(t, dir, c.cip, c.vip, c.size)
			}
			after := counters()
			name := "decap_" + c.kind.String()
			got := after[name] - before[name]
			t.Logf("%s: %d packets unwrapped", name, got)
			if got == 0 {
				t.Errorf("%s did not count", name)
			}
			for _, n := range decap.CounterNames() {
				if strings.HasPrefix(n, "drop_") && after[n] != before[n] {
					t.Errorf("%s went up by %d", n, after[n]-before[n])
				}
			}
			if c.size >= 16<<20 {
				// At an MSS of at most 1360 bytes, fewer packets than
				// segments means whole GSO packets were unwrapped.
				if segs := uint64(c.size / 1360); got >= segs {
					t.Errorf("%d packets unwrapped for %d segments' worth: no GSO packet crossed the tunnel", got, segs)
				}
			}
		})
	}

	var r Report
	rs.must(func() (err error) { r, err = Check(Options{StateDir: o.StateDir, PinDir: o.PinDir}); return err })
	if !r.OK() {
		t.Errorf("check after the traffic: %v", r.Findings)
	}
}

// tcpTransfer connects from cip to vip:80 in dir, sends size bytes and
// checks the server's answer.
func tcpTransfer(t *testing.T, dir *testNS, cip, vip netip.Addr, size int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var c net.Conn
	dir.must(func() (err error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: cip.AsSlice()}}
		c, err = d.DialContext(ctx, "tcp", netip.AddrPortFrom(vip, 80).String())
		return err
	})
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(e2eTimeout))
	payload := bytes.Repeat([]byte("golvs lvsrs decapsulation test\n"), size/31+1)[:size]
	if _, err := c.Write(payload); err != nil {
		t.Fatalf("send: %v", err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("answer: %v", err)
	}
	sum := sha256.Sum256(payload)
	want := fmt.Sprintf("%d %s %s\n", size, hex.EncodeToString(sum[:]), c.LocalAddr())
	if line != want {
		t.Errorf("server answered %q, want %q (byte count, digest, the client's own address)", line, want)
	}
}

// udpRoundTrip sends a datagram from cip to vip:53 in dir and waits for
// the echo, retrying a few times.
func udpRoundTrip(t *testing.T, dir *testNS, cip, vip netip.Addr) {
	t.Helper()
	var pc net.PacketConn
	dir.must(func() (err error) {
		pc, err = net.ListenPacket("udp", netip.AddrPortFrom(cip, 0).String())
		return err
	})
	defer pc.Close()
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(vip, 53))
	buf := make([]byte, 2048)
	for try := range 5 {
		msg := fmt.Sprintf("query %d", try)
		if _, err := pc.WriteTo([]byte(msg), to); err != nil {
			t.Fatal(err)
		}
		_ = pc.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			continue
		}
		if got := string(buf[:n]); got != "echo "+msg || from.String() != to.String() {
			t.Fatalf("got %q from %s, want %q from %s", got, from, "echo "+msg, to)
		}
		return
	}
	t.Fatal("no echo in 5 tries")
}
