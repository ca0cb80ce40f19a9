package testnet

import (
	"fmt"
	"net/netip"
	"strconv"
	"testing"
)

// Method is the forwarding method a Classic layout is wired for.
type Method int

// Forwarding methods of the layout.
const (
	NAT Method = iota // real servers route replies through the director, which rewrites them
	DR                // real servers hold the VIP on lo and answer from it
	TUN               // as DR, but the director reaches them through a tunnel that lvsrs decapsulates
)

func (m Method) String() string {
	switch m {
	case DR:
		return "DR"
	case TUN:
		return "TUN"
	}
	return "NAT"
}

// Addresses of the classic layout, all from 198.18.0.0/15, and their IPv6
// counterparts from 2001:db8::/32 (198.18.x ↔ 2001:db8:18::x,
// 198.19.0.x ↔ 2001:db8:19::x), on the same links.
var (
	ClientAddr = netip.MustParseAddr("198.18.0.2")
	VIP        = netip.MustParseAddr("198.18.0.10")
	DIP        = netip.MustParseAddr("198.19.0.1")
	RealAddrs  = []netip.Addr{netip.MustParseAddr("198.19.0.11"), netip.MustParseAddr("198.19.0.12")}

	ClientAddr6 = netip.MustParseAddr("2001:db8:18::2")
	VIP6        = netip.MustParseAddr("2001:db8:18::10")
	DIP6        = netip.MustParseAddr("2001:db8:19::1")
	RealAddrs6  = []netip.Addr{netip.MustParseAddr("2001:db8:19::11"), netip.MustParseAddr("2001:db8:19::12")}
)

// Addresses of the transit link of the Router variant (Options.Router):
// there the director's server link holds TransitDIP, the router TransitRouter,
// and the router takes DIP (and DIP6) on the real servers' segment, so that
// the real servers' addresses and gateway are those of the classic layout.
var (
	TransitDIP     = netip.MustParseAddr("198.19.1.1")
	TransitRouter  = netip.MustParseAddr("198.19.1.2")
	TransitDIP6    = netip.MustParseAddr("2001:db8:19:1::1")
	TransitRouter6 = netip.MustParseAddr("2001:db8:19:1::2")
)

// Link names of the director: lvsd attaches to both.
const (
	DirectorClientLink = "eth0" // toward the client, holds the VIP
	DirectorServerLink = "eth1" // toward the real servers, holds the DIP
)

// RealLink is the real servers' link to their segment.
const RealLink = "eth0"

// UDPPort is the port of the real servers' UDP responders (UDPResponder).
const UDPPort = 9000

// Tunnel types of lvsrs --tunnel and lvsadm --tun-type.
const (
	TunnelIPIP = "ipip"
	TunnelGUE  = "gue"
	TunnelGRE  = "gre"
)

// Options choose a variant of the classic layout. The zero value is the
// NAT layout of NewClassic.
type Options struct {
	Method Method
	// LVSRS is the lvsrs binary. When it is set, the real servers of a DR
	// or TUN layout are prepared by "lvsrs" (VIPs on lo, ARP and rp_filter
	// sysctls, and for TUN the decapsulation program on RealLink) instead
	// of by hand. TUN needs it.
	LVSRS string
	// Tunnel is lvsrs's --tunnel for TUN: TunnelIPIP (the default, which
	// also takes IPv6-in-IPv6 and IPv4-in-IPv6), TunnelGUE or TunnelGRE.
	Tunnel string
	// GUEPort is the UDP port of GUE (lvsrs --gue-port, lvsadm --tun-port).
	GUEPort int
	// Router puts a router namespace between the director and the real
	// servers' segment (not for DR, which needs one segment):
	//
	//	director eth1 TransitDIP ── eth0 router eth1 DIP ── switch ── rs1, rs2
	//
	// ServerMTU then applies to the router's link toward the real servers,
	// so that the router, not the director, finds a packet too big.
	Router bool
	// ServerMTU, when not 0, is the MTU of the real servers' segment: the
	// real servers' links, the switch, and the director's (or with Router
	// the router's) link onto it.
	ServerMTU int
}

// Classic is the classic LVS layout in five namespaces (six with a
// router), dual-stack:
//
//	client 198.18.0.2/24 ──eth0── director ──eth1── switch (bridge) ──┬── rs1 198.19.0.11/24
//	                        VIP 198.18.0.10/24   DIP 198.19.0.1/24      └── rs2 198.19.0.12/24
//	client 2001:db8:18::2/64      VIP 2001:db8:18::10/64  DIP 2001:db8:19::1/64
//	                                                           rs1 2001:db8:19::11/64, rs2 2001:db8:19::12/64
//
// The director forwards IPv4 and IPv6. The real servers run nginx on ports
// 80 and 8080 (IPv4 and IPv6) and a UDPResponder on UDPPort, and have the
// DIP (DIP6) as default gateway, in every method:
//
//   - NAT: the replies (RIP:80 → client) must pass through the director so
//     that the data plane rewrites their source back to the VIP.
//   - DR and TUN: the replies leave the real server with source VIP; in a
//     real deployment they go to the client through the site's router, not
//     the director. Here the director is the only router between the two
//     segments, so it forwards them as ordinary routed packets. The data
//     plane must leave them alone (they match no connection and no NAT
//     reverse entry) and must not count them: OutPkts stays 0, as with IPVS
//     DR. The kernel drops a packet whose source is one of its own
//     addresses ("martian source") unless accept_local=1 on the link it
//     arrives on, so the DR and TUN director sets accept_local=1 on eth1.
//
// In DR the real servers hold VIP/32 and VIP6/128 on lo and ignore ARP for
// them, set up by hand, or by lvsrs when Options.LVSRS is set. In TUN lvsrs
// always prepares them.
//
// The switch namespace holds a bridge so that the director and both real
// servers share one L2 segment, which DR needs (the director addresses a
// real server by its MAC).
//
// The client has a route to 198.19.0.0/24 (2001:db8:19::/64) via the
// director, so it can also reach each real server directly, bypassing the
// virtual service.
type Classic struct {
	Method Method
	// Options are the options the layout was built with.
	Options                  Options
	Net                      *Net
	Client, Director, Switch *Namespace
	// Router is the router namespace of Options.Router, or nil.
	Router *Namespace
	// DIP and DIP6 are the director's addresses on its server link:
	// the package's DIP and DIP6, or TransitDIP and TransitDIP6 with a
	// router.
	DIP, DIP6 netip.Addr
	Reals     []*Real
}

// Real is one real server of the layout.
type Real struct {
	// Name is "rs1" or "rs2".
	Name  string
	Addr  netip.Addr
	Addr6 netip.Addr
	NS    *Namespace
	// Nginx serves Page on ports 80 and 8080, IPv4 and IPv6.
	Nginx *Nginx
	// UDP answers datagrams on UDPPort, IPv4 and IPv6.
	UDP *UDPResponder
	// LVSRS is the lvsrs that prepared the real server, or nil.
	LVSRS *LVSRS
	// StateBeforeLVSRS is NetState of the real server before lvsrs ran.
	StateBeforeLVSRS string
}

// Page returns the page real server name at addr serves. Pages of all real
// servers have the same length (names and addresses of equal length), so
// that ab, which checks response lengths, sees no failures.
func Page(name string, addr netip.Addr) string {
	return fmt.Sprintf("Hello from real server %s (%s)\n", name, addr)
}

// NewClassic builds the classic layout for method m (NAT or DR, real
// servers prepared by hand) and starts nginx on both real servers.
// Everything is removed when the test ends.
func NewClassic(t testing.TB, m Method) *Classic {
	t.Helper()
	return NewLayout(t, Options{Method: m})
}

// NewLayout builds the variant of the classic layout that o describes
// and starts nginx and the UDP responders on the real servers. Everything
// is removed when the test ends.
func NewLayout(t testing.TB, o Options) *Classic {
	t.Helper()
	if o.Method == TUN && o.LVSRS == "" {
		t.Fatal("testnet: a TUN layout needs Options.LVSRS, the lvsrs binary that prepares its real servers")
	}
	if o.Method == DR && o.Router {
		t.Fatal("testnet: DR needs the director and the real servers on one segment, not behind a router")
	}
	if o.Method == TUN && o.Tunnel == "" {
		o.Tunnel = TunnelIPIP
	}
	n := NewNet(t)
	c := &Classic{Method: o.Method, Options: o, Net: n, DIP: DIP, DIP6: DIP6}
	c.Client = n.AddNamespace("client")
	c.Director = n.AddNamespace("director")
	c.Switch = n.AddNamespace("switch")

	Veth(c.Client, "eth0", c.Director, DirectorClientLink)
	c.Client.AddAddr("eth0", ClientAddr.String()+"/24")
	c.Client.AddAddr("eth0", ClientAddr6.String()+"/64")
	c.Client.AddRoute("198.19.0.0/24", "via", VIP.String())
	c.Client.AddRoute("2001:db8:19::/64", "via", VIP6.String())

	d := c.Director
	d.AddAddr(DirectorClientLink, VIP.String()+"/24")
	d.AddAddr(DirectorClientLink, VIP6.String()+"/64")
	if o.Router {
		c.DIP, c.DIP6 = TransitDIP, TransitDIP6
		c.Router = n.AddNamespace("router")
		r := c.Router
		Veth(d, DirectorServerLink, r, "eth0")
		r.AddAddr("eth0", TransitRouter.String()+"/24")
		r.AddAddr("eth0", TransitRouter6.String()+"/64")
		Veth(r, "eth1", c.Switch, "p-up")
		r.AddAddr("eth1", DIP.String()+"/24")
		r.AddAddr("eth1", DIP6.String()+"/64")
		r.AddRoute("default", "via", TransitDIP.String())
		r.AddRoute("::/0", "via", TransitDIP6.String())
		enableForwarding(r, "eth0", "eth1")
		if o.ServerMTU != 0 {
			r.SetMTU("eth1", o.ServerMTU)
		}
	} else {
		Veth(d, DirectorServerLink, c.Switch, "p-up")
		if o.ServerMTU != 0 {
			d.SetMTU(DirectorServerLink, o.ServerMTU)
		}
	}
	d.AddAddr(DirectorServerLink, c.DIP.String()+"/24")
	d.AddAddr(DirectorServerLink, c.DIP6.String()+"/64")
	if o.Router {
		d.AddRoute("198.19.0.0/24", "via", TransitRouter.String())
		d.AddRoute("2001:db8:19::/64", "via", TransitRouter6.String())
	}
	enableForwarding(d, DirectorClientLink, DirectorServerLink)
	if o.Method != NAT {
		d.Sysctl("net.ipv4.conf."+DirectorServerLink+".accept_local", "1")
	}

	ports := []string{"p-up"}
	for i, addr := range RealAddrs {
		name := fmt.Sprintf("rs%d", i+1)
		r := &Real{Name: name, Addr: addr, Addr6: RealAddrs6[i], NS: n.AddNamespace(name)}
		port := "p-" + name
		Veth(r.NS, RealLink, c.Switch, port)
		ports = append(ports, port)
		if o.ServerMTU != 0 {
			r.NS.SetMTU(RealLink, o.ServerMTU)
			c.Switch.SetMTU(port, o.ServerMTU)
		}
		r.NS.AddAddr(RealLink, addr.String()+"/24")
		r.NS.AddAddr(RealLink, r.Addr6.String()+"/64")
		r.NS.AddRoute("default", "via", DIP.String())
		r.NS.AddRoute("::/0", "via", DIP6.String())
		switch {
		case o.Method == NAT:
		case o.LVSRS != "":
			r.StateBeforeLVSRS = r.NS.NetState(RealLink)
			r.LVSRS = r.NS.NewLVSRS(o.LVSRS)
			tunnel := "none"
			if o.Method == TUN {
				tunnel = o.Tunnel
			}
			args := []string{"--tunnel", tunnel, "--dev", RealLink}
			if tunnel == TunnelGUE {
				args = append(args, "--gue-port", strconv.Itoa(o.GUEPort))
			}
			if res := r.LVSRS.Setup(append(args, VIP.String(), VIP6.String())...); res.Code != 0 {
				t.Fatalf("lvsrs on %s: exit %d\nstderr: %s\nstdout: %s", name, res.Code, res.Stderr, res.Stdout)
			}
		default:
			setupDRByHand(r.NS)
		}
		c.Reals = append(c.Reals, r)
	}
	if o.ServerMTU != 0 {
		c.Switch.SetMTU("p-up", o.ServerMTU)
	}
	c.Switch.AddBridge("br0", ports...)
	for _, r := range c.Reals {
		r.Nginx = r.NS.StartNginx(Page(r.Name, r.Addr))
		r.UDP = r.NS.StartUDPResponder(r.Name, UDPPort)
	}
	return c
}

// enableForwarding makes ns a router for IPv4 and IPv6 that does not
// filter by reverse path on links.
func enableForwarding(ns *Namespace, links ...string) {
	ns.net.t.Helper()
	ns.Sysctl("net.ipv4.ip_forward", "1")
	// "all" also switches every existing link and "default".
	ns.Sysctl("net.ipv6.conf.all.forwarding", "1")
	for _, l := range append([]string{"all", "default"}, links...) {
		ns.Sysctl("net.ipv4.conf."+l+".rp_filter", "0")
	}
}

// setupDRByHand gives a real server the VIPs on lo the way the LVS HOWTO
// and the kernel's ipvs selftest do (ipvs.sh test_dr).
func setupDRByHand(ns *Namespace) {
	ns.net.t.Helper()
	ns.AddAddr("lo", VIP.String()+"/32")
	ns.AddAddr("lo", VIP6.String()+"/128")
	for _, l := range []string{"all", RealLink, "lo"} {
		// Answer ARP only for addresses of the asking link, and
		// never use the VIP as the source of an ARP request.
		ns.Sysctl("net.ipv4.conf."+l+".arp_ignore", "1")
		ns.Sysctl("net.ipv4.conf."+l+".arp_announce", "2")
	}
	for _, l := range []string{"all", "default", RealLink, "lo"} {
		ns.Sysctl("net.ipv4.conf."+l+".rp_filter", "0")
	}
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

// RealByName returns the real server called name ("rs1"), or nil.
func (c *Classic) RealByName(name string) *Real {
	for _, r := range c.Reals {
		if r.Name == name {
			return r
		}
	}
	return nil
}
