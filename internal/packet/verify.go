package packet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// VerifyOptions tell VerifyFrame what a packet does not say itself.
type VerifyOptions struct {
	// GUEPorts are the UDP destination ports that carry GUE: their
	// datagrams' inner packets are verified too, and over IPv6 their
	// checksum may be 0 (RFC 6935), as IPVS sends without --tun-csum.
	GUEPorts []uint16
}

// VerifyFrame recomputes every checksum of Ethernet frame b, IPv4 or
// IPv6, from scratch: the IPv4 header checksum; the TCP, UDP, ICMP or
// ICMPv6 checksum (a UDP checksum of 0 passes over IPv4); for an ICMP
// error also the header checksum of the IPv4 packet it quotes; and
// through tunnels (IP-in-IP, IPv6-in-IP, GRE with its checksum, GUE on
// o.GUEPorts) the inner packet's. A fragment's L4 checksum covers bytes
// the fragment lacks and is not checked.
func VerifyFrame(b []byte, o VerifyOptions) error {
	if len(b) < 14 {
		return errors.New("short frame")
	}
	return verifyIP(b[14:], o, 0)
}

func verifyIP(ip []byte, o VerifyOptions, depth int) error {
	if depth > 3 {
		return errors.New("tunnels nested too deep")
	}
	if len(ip) < 1 {
		return errors.New("no IP header")
	}
	var (
		src, dst netip.Addr
		proto    uint8
		l4       []byte
		frag     bool
		where    string
	)
	switch ip[0] >> 4 {
	case 4:
		if len(ip) < 20 {
			return errors.New("short IPv4 header")
		}
		ihl := int(ip[0]&0x0f) * 4
		tot := int(binary.BigEndian.Uint16(ip[2:]))
		if ihl < 20 || tot < ihl || tot > len(ip) {
			return fmt.Errorf("bad IPv4 lengths: ihl %d, total %d, have %d", ihl, tot, len(ip))
		}
		if Fold(Sum(ip[:ihl], 0)) != 0xffff {
			return fmt.Errorf("IPv4 header checksum %#04x is wrong", binary.BigEndian.Uint16(ip[10:]))
		}
		src, dst = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		proto = ip[9]
		l4 = ip[ihl:tot]
		frag = binary.BigEndian.Uint16(ip[6:])&0x3fff != 0
		where = "IPv4"
	case 6:
		if len(ip) < 40 {
			return errors.New("short IPv6 header")
		}
		tot := 40 + int(binary.BigEndian.Uint16(ip[4:]))
		if tot > len(ip) {
			return fmt.Errorf("bad IPv6 payload length %d, have %d", tot-40, len(ip)-40)
		}
		src, dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
		proto = ip[6]
		off := 40
		for proto == 0 || proto == 43 || proto == 60 || proto == ProtoFrag {
			if off+8 > tot {
				return errors.New("short IPv6 extension header")
			}
			next := ip[off]
			if proto == ProtoFrag {
				if binary.BigEndian.Uint16(ip[off+2:])&0xfff9 != 0 {
					frag = true
				}
				off += 8
			} else {
				off += (int(ip[off+1]) + 1) * 8
			}
			proto = next
		}
		if off > tot {
			return errors.New("IPv6 extension headers past the payload")
		}
		l4 = ip[off:tot]
		where = "IPv6"
	default:
		return fmt.Errorf("IP version %d", ip[0]>>4)
	}
	if frag {
		return nil
	}
	wrap := func(what string, err error) error {
		if err == nil {
			return nil
		}
		return fmt.Errorf("%s in %s %v -> %v: %w", what, where, src, dst, err)
	}
	pseudo := PseudoSum(src, dst, proto, len(l4))
	switch proto {
	case ProtoTCP:
		if len(l4) < 20 {
			return wrap("TCP", errors.New("short header"))
		}
		if Fold(Sum(l4, pseudo)) != 0xffff {
			return wrap("TCP", fmt.Errorf("checksum %#04x is wrong", binary.BigEndian.Uint16(l4[16:])))
		}
	case ProtoUDP:
		if len(l4) < 8 {
			return wrap("UDP", errors.New("short header"))
		}
		if n := int(binary.BigEndian.Uint16(l4[4:])); n != len(l4) {
			return wrap("UDP", fmt.Errorf("length %d, datagram of %d bytes", n, len(l4)))
		}
		gue := slices.Contains(o.GUEPorts, binary.BigEndian.Uint16(l4[2:]))
		c := binary.BigEndian.Uint16(l4[6:])
		switch {
		case c == 0 && src.Is6() && !gue:
			return wrap("UDP", errors.New("checksum 0 over IPv6"))
		case c != 0 && Fold(Sum(l4, pseudo)) != 0xffff:
			return wrap("UDP", fmt.Errorf("checksum %#04x is wrong", c))
		}
		if gue {
			g := l4[8:]
			if len(g) < 4 || g[0] != 0 {
				return wrap("GUE", errors.New("not a GUE version 0 header without options"))
			}
			return wrap("GUE", verifyInner(g[1], g[4:], o, depth))
		}
	case ProtoICMP:
		if len(l4) < 8 {
			return wrap("ICMP", errors.New("short header"))
		}
		if Fold(Sum(l4, 0)) != 0xffff {
			return wrap("ICMP", fmt.Errorf("checksum %#04x is wrong", binary.BigEndian.Uint16(l4[2:])))
		}
		if t := l4[0]; (t == 3 || t == 11 || t == 12) && len(l4) >= 8+20 {
			q := l4[8:]
			ihl := int(q[0]&0x0f) * 4
			if q[0]>>4 == 4 && ihl >= 20 && len(q) >= ihl && Fold(Sum(q[:ihl], 0)) != 0xffff {
				return wrap("ICMP", fmt.Errorf("quoted IPv4 header checksum %#04x is wrong", binary.BigEndian.Uint16(q[10:])))
			}
		}
	case ProtoICMPv6:
		if len(l4) < 8 {
			return wrap("ICMPv6", errors.New("short header"))
		}
		if Fold(Sum(l4, pseudo)) != 0xffff {
			return wrap("ICMPv6", fmt.Errorf("checksum %#04x is wrong", binary.BigEndian.Uint16(l4[2:])))
		}
	case ProtoIPIP, ProtoIPv6:
		return wrap("inner packet", verifyInner(proto, l4, o, depth))
	case ProtoGRE:
		if len(l4) < 4 {
			return wrap("GRE", errors.New("short header"))
		}
		n := 4
		if l4[0]&0x80 != 0 {
			n = 8
			if len(l4) < 8 {
				return wrap("GRE", errors.New("short header"))
			}
			if Fold(Sum(l4, 0)) != 0xffff {
				return wrap("GRE", fmt.Errorf("checksum %#04x is wrong", binary.BigEndian.Uint16(l4[4:])))
			}
		}
		var inner uint8
		switch binary.BigEndian.Uint16(l4[2:]) {
		case 0x0800:
			inner = ProtoIPIP
		case 0x86DD:
			inner = ProtoIPv6
		default:
			return nil
		}
		return wrap("GRE", verifyInner(inner, l4[n:], o, depth))
	}
	return nil
}

// verifyInner checks a tunnel's inner packet, of IP protocol proto (4: an
// IPv4 packet, 41: an IPv6 one).
func verifyInner(proto uint8, ip []byte, o VerifyOptions, depth int) error {
	if len(ip) < 1 {
		return errors.New("no inner packet")
	}
	want := uint8(4)
	if proto == ProtoIPv6 {
		want = 6
	}
	if ip[0]>>4 != want {
		return fmt.Errorf("inner packet of version %d where protocol %d says %d", ip[0]>>4, proto, want)
	}
	return verifyIP(ip, o, depth+1)
}
