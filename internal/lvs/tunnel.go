package lvs

import (
	"fmt"
	"strings"
)

// TunnelType is how a Tunnel real's packets are encapsulated; the values
// are IPVS's IP_VS_CONN_F_TUNNEL_TYPE_*. The zero value is IP-in-IP.
type TunnelType uint8

// Tunnel types.
const (
	TunIPIP TunnelType = 0 // IP-in-IP (or IPv6-in-IPv6, IPv4-in-IPv6, ...), ipvsadm's default
	TunGUE  TunnelType = 1 // Generic UDP Encapsulation to TunPort
	TunGRE  TunnelType = 2 // GRE
)

// tunnelTypeNames are the tunnel types as ipvsadm's --tun-type names them,
// by value: every name golvs reads or writes for one (ipvsadm, the YAML
// configuration, keepalived.conf, lvsrs --tunnel).
var tunnelTypeNames = [...]string{TunIPIP: "ipip", TunGUE: "gue", TunGRE: "gre"}

// String returns the tunnel type as ipvsadm's --tun-type names it ("ipip",
// "gue", "gre", "?").
func (t TunnelType) String() string {
	if int(t) < len(tunnelTypeNames) {
		return tunnelTypeNames[t]
	}
	return "?"
}

// ParseTunnelType returns the tunnel type named name ("ipip", "gue",
// "gre"; see TunnelType.String).
func ParseTunnelType(name string) (TunnelType, error) {
	for t, n := range tunnelTypeNames {
		if n == name {
			return TunnelType(t), nil
		}
	}
	return 0, fmt.Errorf("%w: tunnel type %q is not %s", ErrInvalid, name, orList(tunnelTypeNames[:]))
}

// HasPort reports whether a tunnel of type t goes to a port of the real,
// --tun-port: only GUE does (ip_vs_xmit.c).
func (t TunnelType) HasPort() bool { return t == TunGUE }

// TakesFlags reports whether f is a checksum option of tunnel type t:
// TunNoCsum of every type, TunCsum of GUE and GRE, TunRemCsum of GUE
// (ip_vs_xmit.c; IP-in-IP has no checksum to compute).
func (t TunnelType) TakesFlags(f TunnelFlags) bool {
	switch f {
	case TunNoCsum:
		return true
	case TunCsum:
		return t == TunGUE || t == TunGRE
	case TunRemCsum:
		return t == TunGUE
	}
	return false
}

// TunnelFlags are the checksum options of a GUE or GRE tunnel, with IPVS's
// IP_VS_TUNNEL_ENCAP_FLAG_* values. The zero value, TunNoCsum, sends the
// outer header without a checksum.
type TunnelFlags uint16

// Tunnel flags.
const (
	TunNoCsum  TunnelFlags = 0      // --tun-nocsum (the default)
	TunCsum    TunnelFlags = 1 << 0 // --tun-csum: checksum in the outer UDP or GRE header
	TunRemCsum TunnelFlags = 1 << 1 // --tun-remcsum: GUE remote checksum offload

	// TunFlagsMask is every tunnel flag.
	TunFlagsMask = TunCsum | TunRemCsum
)

// tunnelFlagNames are the checksum options as ipvsadm names them after
// "--tun-", by value (ipvsadm indexes its names with the flags as they
// are, so TunCsum|TunRemCsum has none).
var tunnelFlagNames = [...]string{TunNoCsum: "nocsum", TunCsum: "csum", TunRemCsum: "remcsum"}

// String returns the checksum option f as ipvsadm names it after "--tun-"
// ("nocsum", "csum", "remcsum", "?").
func (f TunnelFlags) String() string {
	if int(f) < len(tunnelFlagNames) {
		return tunnelFlagNames[f]
	}
	return "?"
}

// ParseTunnelFlags returns the checksum option named name ("nocsum",
// "csum", "remcsum"; see TunnelFlags.String).
func ParseTunnelFlags(name string) (TunnelFlags, error) {
	for f, n := range tunnelFlagNames {
		if n == name {
			return TunnelFlags(f), nil
		}
	}
	return 0, fmt.Errorf("%w: tunnel checksum option %q is not %s", ErrInvalid, name, orList(tunnelFlagNames[:]))
}

// orList joins names as "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
