package realserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// This file reads and changes the host: sysctls through /proc/sys and
// links and addresses through netlink, always in the calling thread's
// network namespace.

// sysctlKey is net.ipv4.conf.<Dev>.<Name>, the only sysctls lvsrs touches.
type sysctlKey struct {
	Dev  string `json:"dev"` // "all" or a link name
	Name string `json:"name"`
}

// String is the key as sysctl(8) writes it: a dot in a link name
// (eth0.100) becomes a slash.
func (k sysctlKey) String() string {
	return "net.ipv4.conf." + strings.ReplaceAll(k.Dev, ".", "/") + "." + k.Name
}

func (k sysctlKey) path() string {
	return filepath.Join("/proc/sys/net/ipv4/conf", k.Dev, k.Name)
}

// The sysctls.
const (
	arpIgnore   = "arp_ignore"
	arpAnnounce = "arp_announce"
	rpFilter    = "rp_filter"
)

func readSysctl(k sysctlKey) (string, error) {
	b, err := os.ReadFile(k.path())
	if err != nil {
		return "", fmt.Errorf("read %s: %w", k, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func writeSysctl(k sysctlKey, v string) error {
	if err := os.WriteFile(k.path(), []byte(v+"\n"), 0o644); err != nil {
		return fmt.Errorf("set %s=%s: %w", k, v, err)
	}
	return nil
}

// linkInfo is what lvsrs needs to know of a link.
type linkInfo struct {
	Name     string
	Index    int
	Up       bool
	Loopback bool
}

// loopback is the link VIPs go on.
const loopback = "lo"

// snapshot is the part of the host's network state that planning and
// checking read. Tests build one by hand.
type snapshot struct {
	links []linkInfo
	// addrs are each link's addresses.
	addrs map[string][]hostAddr
	// sysctl reads a sysctl.
	sysctl func(sysctlKey) (string, error)
	// ipv6 tells whether lo takes IPv6 addresses.
	ipv6 bool
}

// hostAddr is an address on a link.
type hostAddr struct {
	Prefix netip.Prefix
	// Tentative or DADFailed: IPv6 duplicate address detection has not
	// passed, so the kernel does not use the address.
	Tentative, DADFailed bool
}

func (s snapshot) link(name string) (linkInfo, bool) {
	for _, l := range s.links {
		if l.Name == name {
			return l, true
		}
	}
	return linkInfo{}, false
}

// where returns the links that hold address a.
func (s snapshot) where(a netip.Addr) []string {
	var out []string
	for _, l := range s.links {
		for _, ha := range s.addrs[l.Name] {
			if ha.Prefix.Addr() == a {
				out = append(out, l.Name)
				break
			}
		}
	}
	return out
}

// onLo returns the address a as it is on lo, if it is.
func (s snapshot) onLo(a netip.Addr) (hostAddr, bool) {
	for _, ha := range s.addrs[loopback] {
		if ha.Prefix.Addr() == a {
			return ha, true
		}
	}
	return hostAddr{}, false
}

// defaultLinks are the links lvsrs works on unless told: every link that
// is up and not a loopback, as lvsd attaches to.
func (s snapshot) defaultLinks() []string {
	var out []string
	for _, l := range s.links {
		if l.Up && !l.Loopback {
			out = append(out, l.Name)
		}
	}
	return out
}

// readHost takes a snapshot of the calling thread's network namespace.
func readHost() (snapshot, error) {
	s := snapshot{addrs: map[string][]hostAddr{}, sysctl: readSysctl}
	links, err := netlink.LinkList()
	if err != nil {
		return s, fmt.Errorf("list links: %w", err)
	}
	for _, l := range links {
		a := l.Attrs()
		li := linkInfo{Name: a.Name, Index: a.Index, Up: a.Flags&net.FlagUp != 0, Loopback: a.Flags&net.FlagLoopback != 0}
		s.links = append(s.links, li)
		addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return s, fmt.Errorf("list addresses of %s: %w", a.Name, err)
		}
		for _, ad := range addrs {
			ip, ok := netip.AddrFromSlice(ad.IP)
			if !ok {
				continue
			}
			bits, _ := ad.Mask.Size()
			s.addrs[a.Name] = append(s.addrs[a.Name], hostAddr{
				Prefix:    netip.PrefixFrom(ip.Unmap(), bits),
				Tentative: ad.Flags&unix.IFA_F_TENTATIVE != 0,
				DADFailed: ad.Flags&unix.IFA_F_DADFAILED != 0,
			})
		}
	}
	slices.SortFunc(s.links, func(a, b linkInfo) int { return a.Index - b.Index })
	v, err := os.ReadFile("/proc/sys/net/ipv6/conf/lo/disable_ipv6")
	s.ipv6 = err == nil && strings.TrimSpace(string(v)) == "0"
	return s, nil
}

// addAddr puts p on link name; IPv6 without duplicate address detection,
// which would keep the VIP unusable for a second and always succeed on lo.
func addAddr(name string, p netip.Prefix) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("add %s to %s: %w", p, name, err)
	}
	a := &netlink.Addr{IPNet: ipNet(p)}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	if err := netlink.AddrAdd(l, a); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add %s to %s: %w", p, name, err)
	}
	return nil
}

// delAddr removes p from link name; an address already gone is no error.
func delAddr(name string, p netip.Prefix) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("remove %s from %s: %w", p, name, err)
	}
	if err := netlink.AddrDel(l, &netlink.Addr{IPNet: ipNet(p)}); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove %s from %s: %w", p, name, err)
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// hostPrefix is the prefix a VIP gets on lo: the address alone.
func hostPrefix(a netip.Addr) netip.Prefix {
	return netip.PrefixFrom(a, a.BitLen())
}
