// Package wire puts addresses and ports in the form golvs's BPF maps hold
// them, for the balancer's and the real servers' loaders alike.
package wire

import (
	"encoding/binary"
	"net/netip"
)

// Addr returns a as the maps hold an address: IPv4 in the first four
// bytes, IPv6 (an IPv4-mapped one included, as IPVS takes it) in all 16;
// is6 says which. ok is false for an invalid address or one with a zone,
// which no map can hold.
func Addr(a netip.Addr) (b [16]byte, is6, ok bool) {
	switch {
	case a.Is4():
		v4 := a.As4()
		copy(b[:], v4[:])
		return b, false, true
	case a.Is6() && a.Zone() == "":
		return a.As16(), true, true
	}
	return b, false, false
}

// FromAddr is the inverse of Addr.
func FromAddr(b [16]byte, is6 bool) netip.Addr {
	if is6 {
		return netip.AddrFrom16(b)
	}
	return netip.AddrFrom4([4]byte(b[:4]))
}

// Hton puts port p in the network order the maps hold it in (bpf2go
// types a __be16 as a native uint16); Ntoh is its inverse.
func Hton(p uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], p)
	return binary.NativeEndian.Uint16(b[:])
}

// Ntoh is the inverse of Hton.
func Ntoh(p uint16) uint16 {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], p)
	return binary.BigEndian.Uint16(b[:])
}
