package datapathtest

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The IPv6 side of a Net (AddIPv6), in 2001:db8::/32: the client link
// carries 2001:db8::/64 with the VIP and the client, the reals' link
// 2001:db8:1::/64.
var (
	VIP6        = netip.MustParseAddr("2001:db8::10")
	ClientAddr6 = netip.MustParseAddr("2001:db8::100")
	// RealAddrs6 have neighbour entries with RealMACs (same index).
	RealAddrs6 = []netip.Addr{netip.MustParseAddr("2001:db8:1::10"), netip.MustParseAddr("2001:db8:1::11"), netip.MustParseAddr("2001:db8:1::12")}
	// ClientPrefix6 and RealsPrefix6 are the director's own addresses on
	// the two links; RealsPrefix6's is a tunnel's outer source.
	ClientPrefix6 = netip.MustParsePrefix("2001:db8::1/64")
	RealsPrefix6  = netip.MustParsePrefix("2001:db8:1::1/64")
)

// The narrow link of a Net (AddNarrowLink): a link with a smaller MTU
// and one real on it, for path MTU answers.
var (
	NarrowMTU   = 1400
	NarrowMAC   = net.HardwareAddr{0x02, 0, 0xc6, 0x12, 0x02, 0x01}
	NarrowAddr  = netip.MustParsePrefix("198.18.2.1/24")
	NarrowAddr6 = netip.MustParsePrefix("2001:db8:2::1/64")
	// NarrowReal and NarrowReal6 have neighbour entries with NarrowRealMAC.
	NarrowReal    = netip.MustParseAddr("198.18.2.10")
	NarrowReal6   = netip.MustParseAddr("2001:db8:2::10")
	NarrowRealMAC = net.HardwareAddr{0x02, 0, 0xc6, 0x12, 0x02, 0x0a}
)

// AddIPv6 gives n's links IPv6 addresses (without duplicate address
// detection, so they are usable at once), the VIP6 on lo, permanent
// neighbour entries for the IPv6 client and reals, and IPv6 forwarding,
// which the FIB helper needs to answer.
func (n *Net) AddIPv6(t testing.TB) {
	t.Helper()
	var err error
	n.Do(t, func() { err = n.addIPv6() })
	if err != nil {
		t.Fatalf("add IPv6 to netns %s: %v", n.Name, err)
	}
}

func (n *Net) addIPv6() error {
	if err := os.WriteFile("/proc/sys/net/ipv6/conf/all/forwarding", []byte("1"), 0o644); err != nil {
		return err
	}
	for _, a := range []struct {
		link string
		p    netip.Prefix
	}{{n.Client.Name, ClientPrefix6}, {n.Reals.Name, RealsPrefix6}, {"lo", netip.PrefixFrom(VIP6, 128)}} {
		if err := addAddrNoDAD(a.link, a.p); err != nil {
			return err
		}
	}
	if err := neigh6(n.Client.Index, ClientAddr6, ClientMAC); err != nil {
		return err
	}
	for i, a := range RealAddrs6 {
		if err := neigh6(n.Reals.Index, a, RealMACs[i]); err != nil {
			return err
		}
	}
	return nil
}

// AddNarrowLink adds a third link to n, MTU NarrowMTU, with NarrowAddr
// (and NarrowAddr6 when IPv6 is wanted) and a neighbour entry for
// NarrowReal (NarrowReal6), and returns it.
func (n *Net) AddNarrowLink(t testing.TB, ipv6 bool) Link {
	t.Helper()
	l := Link{Name: Prefix + "n0", MAC: NarrowMAC, Addr: NarrowAddr}
	var err error
	n.Do(t, func() { err = n.addNarrow(&l, ipv6) })
	if err != nil {
		t.Fatalf("add a narrow link to netns %s: %v", n.Name, err)
	}
	return l
}

func (n *Net) addNarrow(l *Link, ipv6 bool) error {
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: l.Name, HardwareAddr: l.MAC, MTU: NarrowMTU}, PeerName: l.Name + "p"}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s: %w", l.Name, err)
	}
	for _, name := range []string{l.Name, l.Name + "p"} {
		ln, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		if err := netlink.LinkSetMTU(ln, NarrowMTU); err != nil {
			return fmt.Errorf("MTU of %s: %w", name, err)
		}
		if err := netlink.LinkSetUp(ln); err != nil {
			return fmt.Errorf("up %s: %w", name, err)
		}
		if name == l.Name {
			l.Index = ln.Attrs().Index
		}
	}
	if err := addAddrNoDAD(l.Name, l.Addr); err != nil {
		return err
	}
	if err := netlink.NeighSet(&netlink.Neigh{
		LinkIndex: l.Index, Family: unix.AF_INET, State: netlink.NUD_PERMANENT,
		IP: NarrowReal.AsSlice(), HardwareAddr: NarrowRealMAC,
	}); err != nil {
		return fmt.Errorf("neighbour %s: %w", NarrowReal, err)
	}
	if !ipv6 {
		return nil
	}
	if err := addAddrNoDAD(l.Name, NarrowAddr6); err != nil {
		return err
	}
	return neigh6(l.Index, NarrowReal6, NarrowRealMAC)
}

func addAddrNoDAD(link string, p netip.Prefix) error {
	ln, err := netlink.LinkByName(link)
	if err != nil {
		return err
	}
	a := &netlink.Addr{IPNet: prefixNet(p)}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	if err := netlink.AddrAdd(ln, a); err != nil {
		return fmt.Errorf("address %s on %s: %w", p, link, err)
	}
	return nil
}

func neigh6(index int, a netip.Addr, mac net.HardwareAddr) error {
	if err := netlink.NeighSet(&netlink.Neigh{
		LinkIndex: index, Family: unix.AF_INET6, State: netlink.NUD_PERMANENT,
		IP: a.AsSlice(), HardwareAddr: mac,
	}); err != nil {
		return fmt.Errorf("neighbour %s: %w", a, err)
	}
	return nil
}
