package e2e

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"golvs/internal/testnet"
)

// TestPrivilegedTopology checks the layouts themselves, without lvsd: the
// client reaches each real server directly through the director's
// routing, nginx logs the client's address, and nothing answers on the VIP
// (so whatever answers there later is golvs's doing).
func TestPrivilegedTopology(t *testing.T) {
	for _, m := range []testnet.Method{testnet.NAT, testnet.DR} {
		t.Run(m.String(), func(t *testing.T) {
			testnet.RequirePrivileged(t, "nginx", "curl", "nstat")
			c := testnet.NewClassic(t, m)
			for _, r := range c.Reals {
				body, err := curlFrom(c.Client, "http://"+r.Addr.String()+"/")
				if err != nil {
					t.Fatalf("curl %s from the client: %v", r.Addr, err)
				}
				if body != r.Nginx.Page {
					t.Errorf("curl %s: page %q, want %q", r.Addr, body, r.Nginx.Page)
				}
				var lines []string
				testnet.WaitFor(3*time.Second, func() bool {
					lines, err = r.Nginx.AccessLogLines()
					return err == nil && len(lines) > 0
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(lines) != 1 || !strings.HasPrefix(lines[0], client+":") || !strings.Contains(lines[0], " "+r.Addr.String()+":80 ") {
					t.Errorf("%s access log %q, want one request from %s", r.Name, lines, client)
				}
			}
			if len(c.Reals[0].Nginx.Page) != len(c.Reals[1].Nginx.Page) {
				t.Errorf("pages differ in length: %q, %q", c.Reals[0].Nginx.Page, c.Reals[1].Nginx.Page)
			}
			if body, err := curlFrom(c.Client, vipURL); err == nil {
				t.Errorf("curl %s without lvsd answered %q, want connection refused", vipURL, body)
			}
			if m == testnet.DR {
				checkDRReplyPath(t, c)
			}
		})
	}
}

// checkDRReplyPath sends a datagram from a real server with the VIP as its
// source to a closed port of the client, as a DR reply would travel, and
// checks that it arrived (the client counts it in UdpNoPorts).
func checkDRReplyPath(t *testing.T, c *testnet.Classic) {
	t.Helper()
	before := udpNoPorts(t, c.Client)
	d := &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(vip)}}
	ok := testnet.WaitFor(3*time.Second, func() bool {
		conn, err := c.Reals[0].NS.DialWith(context.Background(), d, "udp", client+":9")
		if err != nil {
			t.Fatalf("udp from %s with source %s: %v", c.Reals[0].Name, vip, err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte("golvs")); err != nil {
			t.Fatal(err)
		}
		return udpNoPorts(t, c.Client) > before
	})
	if !ok {
		t.Errorf("a packet from %s with source %s did not reach the client through the director", c.Reals[0].Name, vip)
	}
}

func udpNoPorts(t *testing.T, ns *testnet.Namespace) uint64 {
	t.Helper()
	return nstat(t, ns, "UdpNoPorts")
}
