package testnet

import (
	"fmt"
	"net/netip"
	"testing"
)

// Method is the forwarding method a Classic layout is wired for.
type Method int

// Forwarding methods of the layout.
const (
	NAT Method = iota // real servers route replies through the director, which rewrites them
	DR                // real servers hold the VIP on lo and answer from it
)

func (m Method) String() string {
	if m == DR {
		return "DR"
	}
	return "NAT"
}

// Addresses of the classic layout, all from 198.18.0.0/15.
var (
	ClientAddr = netip.MustParseAddr("198.18.0.2")
	VIP        = netip.MustParseAddr("198.18.0.10")
	DIP        = netip.MustParseAddr("198.19.0.1")
	RealAddrs  = []netip.Addr{netip.MustParseAddr("198.19.0.11"), netip.MustParseAddr("198.19.0.12")}
)

// Link names of the director: lvsd attaches to both.
const (
	DirectorClientLink = "eth0" // toward the client, holds the VIP
	DirectorServerLink = "eth1" // toward the real servers, holds the DIP
)

// Classic is the classic LVS layout in five namespaces:
//
//	client 198.18.0.2/24 ──eth0── director ──eth1── switch (bridge) ──┬── rs1 198.19.0.11/24
//	                        VIP 198.18.0.10/24   DIP 198.19.0.1/24      └── rs2 198.19.0.12/24
//
// The director has ip_forward=1. The real servers run nginx on port 80 and
// have the DIP as default gateway, in both methods:
//
//   - NAT: the replies (RIP:80 → client) must pass through the director so
//     that the data plane rewrites their source back to the VIP.
//   - DR: the replies leave the real server with source VIP; in a real
//     deployment they go to the client through the site's router, not the
//     director. Here the director is the only router between the two
//     segments, so it forwards them as ordinary routed packets. The data
//     plane must leave them alone (they match no connection and no NAT
//     reverse entry) and must not count them: OutPkts stays 0, as with IPVS
//     DR. The kernel drops a packet whose source is one of its own
//     addresses ("martian source") unless accept_local=1 on the link it
//     arrives on, so the DR director sets accept_local=1 on eth1.
//
// The switch namespace holds a bridge so that the director and both real
// servers share one L2 segment, which DR needs (the director addresses a
// real server by its MAC).
//
// The client has a route to 198.19.0.0/24 via the director, so it can also
// reach each real server directly, bypassing the virtual service.
type Classic struct {
	Method                   Method
	Net                      *Net
	Client, Director, Switch *Namespace
	Reals                    []*Real
}

// Real is one real server of the layout.
type Real struct {
	// Name is "rs1" or "rs2".
	Name string
	Addr netip.Addr
	NS   *Namespace
	// Nginx serves Page on port 80.
	Nginx *Nginx
}

// Page returns the page real server name at addr serves. Pages of all real
// servers have the same length (names and addresses of equal length), so
// that ab, which checks response lengths, sees no failures.
func Page(name string, addr netip.Addr) string {
	return fmt.Sprintf("Hello from real server %s (%s)\n", name, addr)
}

// NewClassic builds the classic layout for method m and starts nginx on
// both real servers. Everything is removed when the test ends.
func NewClassic(t testing.TB, m Method) *Classic {
	t.Helper()
	n := NewNet(t)
	c := &Classic{Method: m, Net: n}
	c.Client = n.AddNamespace("client")
	c.Director = n.AddNamespace("director")
	c.Switch = n.AddNamespace("switch")

	Veth(c.Client, "eth0", c.Director, DirectorClientLink)
	c.Client.AddAddr("eth0", ClientAddr.String()+"/24")
	c.Client.AddRoute("198.19.0.0/24", "via", VIP.String())

	d := c.Director
	d.AddAddr(DirectorClientLink, VIP.String()+"/24")
	Veth(d, DirectorServerLink, c.Switch, "p-director")
	d.AddAddr(DirectorServerLink, DIP.String()+"/24")
	d.Sysctl("net.ipv4.ip_forward", "1")
	for _, l := range []string{"all", "default", DirectorClientLink, DirectorServerLink} {
		d.Sysctl("net.ipv4.conf."+l+".rp_filter", "0")
	}
	if m == DR {
		d.Sysctl("net.ipv4.conf."+DirectorServerLink+".accept_local", "1")
	}

	ports := []string{"p-director"}
	for i, addr := range RealAddrs {
		name := fmt.Sprintf("rs%d", i+1)
		r := &Real{Name: name, Addr: addr, NS: n.AddNamespace(name)}
		port := "p-" + name
		Veth(r.NS, "eth0", c.Switch, port)
		ports = append(ports, port)
		r.NS.AddAddr("eth0", addr.String()+"/24")
		r.NS.AddRoute("default", "via", DIP.String())
		if m == DR {
			r.NS.AddAddr("lo", VIP.String()+"/32")
			for _, l := range []string{"all", "eth0", "lo"} {
				// Answer ARP only for addresses of the asking link, and
				// never use the VIP as the source of an ARP request.
				r.NS.Sysctl("net.ipv4.conf."+l+".arp_ignore", "1")
				r.NS.Sysctl("net.ipv4.conf."+l+".arp_announce", "2")
			}
			for _, l := range []string{"all", "default", "eth0", "lo"} {
				r.NS.Sysctl("net.ipv4.conf."+l+".rp_filter", "0")
			}
		}
		c.Reals = append(c.Reals, r)
	}
	c.Switch.AddBridge("br0", ports...)
	for _, r := range c.Reals {
		r.Nginx = r.NS.StartNginx(Page(r.Name, r.Addr))
	}
	return c
}

// DirectorLinks are the director's links, for lvsd --interfaces.
func (c *Classic) DirectorLinks() []string {
	return []string{DirectorClientLink, DirectorServerLink}
}

// RealByPage returns the real server that serves page, or nil.
func (c *Classic) RealByPage(page string) *Real {
	for _, r := range c.Reals {
		if r.Nginx.Page == page {
			return r
		}
	}
	return nil
}
