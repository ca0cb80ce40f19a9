package realserver

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"golvs/internal/datapath/decap"
	"golvs/internal/lvs"
)

// ParseVIPs parses the VIPs an operator names: plain IPv4 or IPv6
// addresses, each at most once. A VIP must be an address a client can
// reach: not unspecified, loopback, multicast or link-local, and without a
// zone.
func ParseVIPs(args []string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range args {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%w %q: want an IPv4 or IPv6 address such as 198.18.0.10 or 2001:db8::10", ErrBadVIP, s)
		}
		switch {
		case a.Zone() != "":
			return nil, fmt.Errorf("%w %q: a VIP has no zone", ErrBadVIP, s)
		case a.Is4In6():
			return nil, fmt.Errorf("%w %q: write the IPv4 address %s", ErrBadVIP, s, a.Unmap())
		case a.IsUnspecified(), a.IsLoopback(), a.IsMulticast(), a.IsLinkLocalUnicast():
			return nil, fmt.Errorf("%w %q: not an address clients can reach", ErrBadVIP, s)
		case a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
			return nil, fmt.Errorf("%w %q: the broadcast address", ErrBadVIP, s)
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// ParseTunnels parses --tunnel: "none", or one or more of ipip, gue and
// gre (ipvsadm's --tun-type names) separated by commas.
func ParseTunnels(s string) (decap.Tunnel, error) {
	if s == "none" || s == "" {
		return 0, nil
	}
	var t decap.Tunnel
	for _, name := range strings.Split(s, ",") {
		ty, err := lvs.ParseTunnelType(strings.TrimSpace(name))
		if err != nil || int(ty) >= len(decapKinds) {
			return 0, fmt.Errorf("%w %q: want none, or ipip, gue, gre separated by commas", ErrBadTunnel, name)
		}
		t |= decapKinds[ty]
	}
	return t, nil
}

// decapKinds are the decapsulation program's kinds, by the tunnel type
// the director sends.
var decapKinds = [...]decap.Tunnel{
	lvs.TunIPIP: decap.TunnelIPIP,
	lvs.TunGUE:  decap.TunnelGUE,
	lvs.TunGRE:  decap.TunnelGRE,
}

// ParsePort parses a GUE port: 1 to 65535, as ipvsadm's --tun-port.
func ParsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%w %q: want 1 to 65535", ErrBadPort, s)
	}
	return uint16(n), nil
}
