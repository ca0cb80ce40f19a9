package ipvsadm

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"
)

// TestReverseLookupGivesUp checks that a DNS server that never answers
// costs one timeout per run, not one per address.
func TestReverseLookupGivesUp(t *testing.T) {
	n := newSystemNames(filepath.Join("testdata", "services"))
	n.timeout = 100 * time.Millisecond
	n.resolver = &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, _ := net.Pipe() // nobody reads or answers
			return c, nil
		},
	}
	start := time.Now()
	for _, a := range []string{"198.18.7.1", "198.18.7.2", "198.18.7.3", "2001:db8::7"} {
		if name, ok := n.hostName(netip.MustParseAddr(a)); ok {
			t.Errorf("hostName(%s) = %q with a silent DNS server", a, name)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("four lookups took %v; want about one timeout", d)
	}
	if !n.dnsDown {
		t.Errorf("resolver not marked down after a timeout")
	}
	if p, ok := n.port("http-alt", "tcp"); !ok || p != 8080 {
		t.Errorf("port(http-alt/tcp) = %d, %v", p, ok)
	}
	if s, ok := n.service(53, "udp"); !ok || s != "domain" {
		t.Errorf("service(53/udp) = %q, %v", s, ok)
	}
}
