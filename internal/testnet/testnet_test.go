package testnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

func TestPagesHaveEqualLengths(t *testing.T) {
	a, b := Page("rs1", RealAddrs[0]), Page("rs2", RealAddrs[1])
	if len(a) != len(b) || a == b {
		t.Errorf("pages %q and %q: want equal lengths, different text", a, b)
	}
}

func TestNginxConfigKeepsFilesInItsDirectory(t *testing.T) {
	conf := NginxConfig("/tmp/x")
	for _, want := range []string{"daemon off;", "pid /tmp/x/nginx.pid;", "error_log /tmp/x/error.log", "access_log /tmp/x/access.log golvs;", "client_body_temp_path /tmp/x/", "root /tmp/x/html;", "listen 80 ", "listen [::]:80 ", "listen [::]:8080 ", "location /upload/", "dav_methods PUT;", "client_max_body_size 0;"} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx.conf lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "/var/") {
		t.Errorf("nginx.conf refers to /var:\n%s", conf)
	}
}

// TestPrivilegedNamespacesGoAway checks that a test's namespaces, and the
// processes in them, are gone when the test ends, also when it fails.
func TestPrivilegedNamespacesGoAway(t *testing.T) {
	RequirePrivileged(t)
	var name string
	var proc *Process
	t.Run("inner", func(t *testing.T) {
		n := NewNet(t)
		ns := n.AddNamespace("a")
		name = ns.Name
		if !strings.HasPrefix(name, Prefix) {
			t.Errorf("namespace %q lacks the prefix %q", name, Prefix)
		}
		proc = StartProcess(t, "sleep", t.TempDir()+"/log", nil, "ip", "netns", "exec", ns.Name, "sleep", "60")
		Veth(ns, "eth0", n.AddNamespace("b"), "eth0")
		ns.AddAddr("eth0", "198.18.0.1/30")
		c, err := ns.Dial(context.Background(), "tcp", "198.18.0.1:1")
		if err == nil {
			c.Close()
			t.Error("dial to a closed port in the namespace succeeded")
		}
	})
	if _, err := os.Stat("/var/run/netns/" + name); !os.IsNotExist(err) {
		t.Errorf("namespace %s still exists after its test (%v)", name, err)
	}
	if !proc.Exited() {
		t.Errorf("process in namespace %s still runs after its test", name)
	}
}

func TestUDPReplyRoundTrip(t *testing.T) {
	sent := bytes.Repeat([]byte("golvs"), 800)
	tests := []struct {
		name    string
		reply   []byte
		wantErr string
	}{
		{"whole reply", UDPReply("rs1", sent), ""},
		{"datagram cut short at the real", UDPReply("rs1", sent[:1480]), "received 1480 bytes"},
		{"reply cut short on the way back", UDPReply("rs2", sent)[:1500], "echoes"},
		{"no report line", []byte("garbage"), "no report line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name, err := ParseUDPReply(tc.reply, sent)
			switch {
			case tc.wantErr == "" && (err != nil || name != "rs1"):
				t.Errorf("ParseUDPReply: %q, %v; want rs1, no error", name, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("ParseUDPReply: error %v, want one with %q", err, tc.wantErr)
			}
		})
	}
}

// TestPrivilegedLayouts checks the layout variants themselves, without
// lvsd: over IPv4 and IPv6 the client reaches each real server directly
// through the director's routing (nginx on both families, the UDP
// responder with datagrams the client fragments), a smaller MTU on the
// real servers' segment is found by path-MTU discovery (the router or the
// director answers "fragmentation needed" / "packet too big" for packets
// addressed to a real server), and a packet a DR real sends from the VIP
// reaches the client.
func TestPrivilegedLayouts(t *testing.T) {
	tests := []struct {
		name string
		o    Options
	}{
		{"NAT", Options{Method: NAT}},
		{"DR by hand", Options{Method: DR}},
		{"NAT behind a router with MTU 1400", Options{Method: NAT, Router: true, ServerMTU: 1400}},
		{"NAT with director link MTU 1400", Options{Method: NAT, ServerMTU: 1400}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			RequirePrivileged(t, "nginx", "curl")
			c := NewLayout(t, tc.o)
			for _, r := range c.Reals {
				for _, a := range []netip.Addr{r.Addr, r.Addr6} {
					url := "http://" + netip.AddrPortFrom(a, 80).String() + "/"
					body, err := c.Client.Exec("curl", "-gsS", "--max-time", "5", url)
					if err != nil || body != r.Nginx.Page {
						t.Errorf("curl %s from the client: %q, %v; want %q", url, body, err, r.Nginx.Page)
					}
					dst := netip.AddrPortFrom(a, UDPPort)
					sent := bytes.Repeat([]byte{byte(len(a.String()))}, 4000)
					reply, err := udpExchange(c.Client, dst, sent)
					if err != nil {
						t.Errorf("udp %s from the client: %v", dst, err)
						continue
					}
					if name, err := ParseUDPReply(reply, sent); err != nil || name != r.Name {
						t.Errorf("udp %s: reply from %q: %v", dst, name, err)
					}
				}
				got := r.UDP.Received()
				if len(got) != 2 || got[0].From.Addr() != ClientAddr || got[1].From.Addr() != ClientAddr6 || got[0].Len != 4000 {
					t.Errorf("%s's responder received %+v, want 4000 bytes from %s, then from %s", r.Name, got, ClientAddr, ClientAddr6)
				}
			}
			if tc.o.ServerMTU != 0 {
				for _, a := range []netip.Addr{c.Reals[0].Addr, c.Reals[0].Addr6} {
					if mtu, err := c.Client.ProbePathMTU(netip.AddrPortFrom(a, UDPPort), 1450); err != nil || mtu != tc.o.ServerMTU {
						t.Errorf("path MTU from the client to %s: %d, %v; want %d", a, mtu, err, tc.o.ServerMTU)
					}
				}
			}
			if tc.o.Method == DR {
				for _, pair := range [][2]netip.Addr{{VIP, ClientAddr}, {VIP6, ClientAddr6}} {
					if err := sendFrom(c.Reals[0].NS, pair[0], c.Client, pair[1]); err != nil {
						t.Errorf("a packet from %s with source %s: %v", c.Reals[0].Name, pair[0], err)
					}
				}
			}
		})
	}
}

// udpExchange sends payload from ns to dst on a connected socket and
// returns the first reply, trying a few times.
func udpExchange(ns *Namespace, dst netip.AddrPort, payload []byte) ([]byte, error) {
	c, err := ns.Dial(context.Background(), "udp", dst.String())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	buf := make([]byte, 1<<16)
	for range 3 {
		if _, err = c.Write(payload); err != nil {
			return nil, err
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		var n int
		if n, err = c.Read(buf); err == nil {
			return buf[:n], nil
		}
	}
	return nil, err
}

// sendFrom sends a datagram from src in ns to dst in peer and reports
// whether it arrived.
func sendFrom(ns *Namespace, src netip.Addr, peer *Namespace, dst netip.Addr) error {
	l, err := peer.ListenPacket("udp", netip.AddrPortFrom(dst, 7777).String())
	if err != nil {
		return err
	}
	defer l.Close()
	d := &net.Dialer{LocalAddr: net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
	c, err := ns.DialWith(context.Background(), d, "udp", netip.AddrPortFrom(dst, 7777).String())
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 100)
	for range 3 {
		if _, err := c.Write([]byte("golvs")); err != nil {
			return err
		}
		l.SetReadDeadline(time.Now().Add(time.Second))
		if _, from, err := l.ReadFrom(buf); err == nil {
			if got := from.(*net.UDPAddr).AddrPort().Addr().Unmap(); got != src {
				return fmt.Errorf("arrived from %s", got)
			}
			return nil
		}
	}
	return errors.New("did not arrive")
}

// TestPrivilegedFlushPathMTU checks that FlushPathMTU makes a learned path
// MTU go away (and that ProbePathMTU learns one).
func TestPrivilegedFlushPathMTU(t *testing.T) {
	RequirePrivileged(t, "nginx")
	c := NewLayout(t, Options{Method: NAT, Router: true, ServerMTU: 1400})
	for _, a := range []netip.Addr{RealAddrs[0], RealAddrs6[0]} {
		dst := netip.AddrPortFrom(a, UDPPort)
		if mtu, err := c.Client.ProbePathMTU(dst, 1450); err != nil || mtu != 1400 {
			t.Fatalf("path MTU to %s: %d, %v; want 1400", dst, mtu, err)
		}
		if err := c.Client.FlushPathMTU(); err != nil {
			t.Fatal(err)
		}
		if mtu, err := c.Client.ProbePathMTU(dst, 1300); err == nil || mtu != 1500 {
			t.Errorf("path MTU to %s after a flush, with datagrams that fit: %d, %v; want 1500 and an error", dst, mtu, err)
		}
	}
}
