package packet

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// This file builds packets byte by byte, header by header, for fixtures
// that Frame cannot describe: IPv6 (with a fragment header), fragments,
// ICMP errors with their quotes, and tunnels (IP-in-IP, GUE, GRE). Every
// length and checksum is computed from scratch over the whole packet, so
// that a test compares a data plane's incremental updates with a
// straightforward computation.

// IP protocol numbers the builders use.
const (
	ProtoICMP   = 1
	ProtoIPIP   = 4
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoIPv6   = 41
	ProtoFrag   = 44
	ProtoGRE    = 47
	ProtoICMPv6 = 58
)

// IPv4 is an IPv4 header without options. The zero TTL means 64.
type IPv4 struct {
	Src, Dst netip.Addr
	Proto    uint8
	TTL      uint8
	TOS      uint8
	ID       uint16
	DF, MF   bool
	// FragOff is the fragment offset in bytes (a multiple of 8).
	FragOff int
}

// Wrap returns the IPv4 packet of h and payload, with its total length
// and header checksum.
func (h IPv4) Wrap(payload []byte) []byte {
	if !h.Src.Is4() || !h.Dst.Is4() {
		panic(fmt.Sprintf("packet: IPv4 header with %v -> %v", h.Src, h.Dst))
	}
	ttl := h.TTL
	if ttl == 0 {
		ttl = 64
	}
	b := make([]byte, 20, 20+len(payload))
	b[0] = 0x45
	b[1] = h.TOS
	binary.BigEndian.PutUint16(b[2:], uint16(20+len(payload)))
	binary.BigEndian.PutUint16(b[4:], h.ID)
	fo := uint16(h.FragOff / 8)
	if h.DF {
		fo |= 0x4000
	}
	if h.MF {
		fo |= 0x2000
	}
	binary.BigEndian.PutUint16(b[6:], fo)
	b[8] = ttl
	b[9] = h.Proto
	s, d := h.Src.As4(), h.Dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	binary.BigEndian.PutUint16(b[10:], ^Fold(Sum(b, 0)))
	return append(b, payload...)
}

// Frag6 is an IPv6 fragment header.
type Frag6 struct {
	ID uint32
	// Off is the fragment offset in bytes (a multiple of 8).
	Off int
	MF  bool
}

// IPv6 is an IPv6 header, optionally followed by a fragment header. The
// zero HopLimit means 64.
type IPv6 struct {
	Src, Dst netip.Addr
	// NextHdr is the upper-layer protocol (after the fragment header, if
	// any).
	NextHdr  uint8
	HopLimit uint8
	TClass   uint8
	Flow     uint32
	Frag     *Frag6
}

// Wrap returns the IPv6 packet of h and payload.
func (h IPv6) Wrap(payload []byte) []byte {
	if !h.Src.Is6() || !h.Dst.Is6() || h.Src.Is4In6() || h.Dst.Is4In6() {
		panic(fmt.Sprintf("packet: IPv6 header with %v -> %v", h.Src, h.Dst))
	}
	hl := h.HopLimit
	if hl == 0 {
		hl = 64
	}
	ext := 0
	if h.Frag != nil {
		ext = 8
	}
	b := make([]byte, 40+ext, 40+ext+len(payload))
	binary.BigEndian.PutUint32(b[0:], 6<<28|uint32(h.TClass)<<20|h.Flow&0xfffff)
	binary.BigEndian.PutUint16(b[4:], uint16(ext+len(payload)))
	b[6] = h.NextHdr
	b[7] = hl
	s, d := h.Src.As16(), h.Dst.As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	if h.Frag != nil {
		b[6] = ProtoFrag
		f := b[40:]
		f[0] = h.NextHdr
		off := uint16(h.Frag.Off/8) << 3
		if h.Frag.MF {
			off |= 1
		}
		binary.BigEndian.PutUint16(f[2:], off)
		binary.BigEndian.PutUint32(f[4:], h.Frag.ID)
	}
	return append(b, payload...)
}

// PseudoSum is the unfolded sum of the pseudo-header of an upper-layer
// packet of length n and protocol proto from src to dst (RFC 768, 8200).
func PseudoSum(src, dst netip.Addr, proto uint8, n int) uint32 {
	s := Sum(src.AsSlice(), 0)
	s = Sum(dst.AsSlice(), s)
	return s + uint32(proto) + uint32(n)
}

// L4Checksum is the checksum of TCP or UDP segment seg (its checksum field
// 0) from src to dst; UDP's 0 is sent as 0xffff.
func L4Checksum(src, dst netip.Addr, proto uint8, seg []byte) uint16 {
	c := ^Fold(Sum(seg, PseudoSum(src, dst, proto, len(seg))))
	if c == 0 && proto == ProtoUDP {
		c = 0xffff
	}
	return c
}

// TCPSeg returns a TCP segment (20-byte header) from src to dst with the
// flags as letters (S, A, F, R, P), sequence 1000, ack 2000 when A is
// set, window 65535, and its checksum over the pseudo-header of src and
// dst's family.
func TCPSeg(src, dst netip.AddrPort, flags string, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	binary.BigEndian.PutUint16(b[0:], src.Port())
	binary.BigEndian.PutUint16(b[2:], dst.Port())
	binary.BigEndian.PutUint32(b[4:], 1000)
	var fl byte
	for _, c := range flags {
		switch c {
		case 'F':
			fl |= 0x01
		case 'S':
			fl |= 0x02
		case 'R':
			fl |= 0x04
		case 'P':
			fl |= 0x08
		case 'A':
			fl |= 0x10
		default:
			panic(fmt.Sprintf("packet: TCP flag %q", c))
		}
	}
	if strings.Contains(flags, "A") {
		binary.BigEndian.PutUint32(b[8:], 2000)
	}
	b[12] = 5 << 4
	b[13] = fl
	binary.BigEndian.PutUint16(b[14:], 65535)
	b = append(b, payload...)
	binary.BigEndian.PutUint16(b[16:], ^Fold(Sum(b, PseudoSum(src.Addr(), dst.Addr(), ProtoTCP, len(b)))))
	return b
}

// UDPDgram returns a UDP datagram from src to dst. Without csum its
// checksum is 0 (none; IPv4 only, or a tunnel's outer UDP header).
func UDPDgram(src, dst netip.AddrPort, payload []byte, csum bool) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:], src.Port())
	binary.BigEndian.PutUint16(b[2:], dst.Port())
	binary.BigEndian.PutUint16(b[4:], uint16(8+len(payload)))
	b = append(b, payload...)
	if csum {
		c := ^Fold(Sum(b, PseudoSum(src.Addr(), dst.Addr(), ProtoUDP, len(b))))
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(b[6:], c)
	}
	return b
}

// ICMPv4 returns an ICMP message: type, code, the 32-bit field after the
// checksum (frag needed: the MTU in its low 16 bits), and body (an
// error's quote), with its checksum.
func ICMPv4(typ, code uint8, info uint32, body []byte) []byte {
	b := make([]byte, 8, 8+len(body))
	b[0], b[1] = typ, code
	binary.BigEndian.PutUint32(b[4:], info)
	b = append(b, body...)
	binary.BigEndian.PutUint16(b[2:], ^Fold(Sum(b, 0)))
	return b
}

// ICMPv6 is ICMPv4 for ICMPv6: its checksum covers the pseudo-header of
// src and dst.
func ICMPv6(src, dst netip.Addr, typ, code uint8, info uint32, body []byte) []byte {
	b := make([]byte, 8, 8+len(body))
	b[0], b[1] = typ, code
	binary.BigEndian.PutUint32(b[4:], info)
	b = append(b, body...)
	binary.BigEndian.PutUint16(b[2:], ^Fold(Sum(b, PseudoSum(src, dst, ProtoICMPv6, len(b)))))
	return b
}

// GUE returns a GUE version 0 header without options for an inner
// packet of IP protocol proto (4 or 41), and the packet.
func GUE(proto uint8, inner []byte) []byte {
	return append([]byte{0, proto, 0, 0}, inner...)
}

// GRE returns a GRE header (RFC 2784) for ethertype proto, with the
// checksum present and computed when csum is set, and the payload.
func GRE(proto uint16, csum bool, payload []byte) []byte {
	n := 4
	if csum {
		n = 8
	}
	b := make([]byte, n, n+len(payload))
	if csum {
		b[0] = 0x80
	}
	binary.BigEndian.PutUint16(b[2:], proto)
	b = append(b, payload...)
	if csum {
		binary.BigEndian.PutUint16(b[4:], ^Fold(Sum(b, 0)))
	}
	return b
}

// Ether returns an Ethernet frame carrying the IP packet ip, its
// ethertype taken from the IP version.
func Ether(src, dst net.HardwareAddr, ip []byte) []byte {
	b := make([]byte, 14, 14+len(ip))
	copy(b[0:], dst)
	copy(b[6:], src)
	et := uint16(0x0800)
	if len(ip) > 0 && ip[0]>>4 == 6 {
		et = 0x86DD
	}
	binary.BigEndian.PutUint16(b[12:], et)
	return append(b, ip...)
}

// Fragments splits the upper-layer packet l4 of h into IPv4 fragments
// carrying size bytes of it each (the last one the rest; size a multiple
// of 8), as a sender would: the same header and ID, MF on all but the
// last.
func (h IPv4) Fragments(l4 []byte, size int) [][]byte {
	var out [][]byte
	for off := 0; off < len(l4); off += size {
		f := h
		f.FragOff = off
		end := min(off+size, len(l4))
		f.MF = end < len(l4)
		out = append(out, f.Wrap(l4[off:end]))
	}
	return out
}

// Fragments splits the upper-layer packet l4 of h into IPv6 fragments
// with fragment ID id carrying size bytes of it each (the last one the
// rest; size a multiple of 8).
func (h IPv6) Fragments(l4 []byte, size int, id uint32) [][]byte {
	var out [][]byte
	for off := 0; off < len(l4); off += size {
		f := h
		end := min(off+size, len(l4))
		f.Frag = &Frag6{ID: id, Off: off, MF: end < len(l4)}
		out = append(out, f.Wrap(l4[off:end]))
	}
	return out
}
