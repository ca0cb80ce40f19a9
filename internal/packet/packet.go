// Package packet builds Ethernet frames for tests and explains how two
// frames differ, layer by layer.
package packet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"go/token"
	"net"
	"net/netip"
	"strings"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Protocols a Frame can carry.
const (
	TCP = 6
	UDP = 17
)

// Frame describes an Ethernet/IPv4/TCP|UDP frame. The zero TTL means 64.
type Frame struct {
	SrcMAC, DstMAC net.HardwareAddr
	Src, Dst       netip.AddrPort
	Proto          int // TCP or UDP
	// Flags are the TCP flags as letters: S(YN) A(CK) F(IN) R(ST) P(SH).
	Flags   string
	TTL     uint8
	ID      uint16
	Payload []byte
	// NoUDPChecksum leaves the UDP checksum 0 ("none"), as IPv4 allows.
	NoUDPChecksum bool
}

// Bytes serializes f with correct lengths and checksums.
func (f Frame) Bytes() []byte {
	ttl := f.TTL
	if ttl == 0 {
		ttl = 64
	}
	eth := &layers.Ethernet{SrcMAC: f.SrcMAC, DstMAC: f.DstMAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{
		Version: 4, IHL: 5, TTL: ttl, Id: f.ID, Flags: layers.IPv4DontFragment,
		SrcIP: f.Src.Addr().AsSlice(), DstIP: f.Dst.Addr().AsSlice(),
	}
	var l4 gopacket.SerializableLayer
	switch f.Proto {
	case TCP:
		ip.Protocol = layers.IPProtocolTCP
		tcp := &layers.TCP{
			SrcPort: layers.TCPPort(f.Src.Port()), DstPort: layers.TCPPort(f.Dst.Port()),
			Seq: 1000, Window: 65535,
			SYN: strings.Contains(f.Flags, "S"), ACK: strings.Contains(f.Flags, "A"),
			FIN: strings.Contains(f.Flags, "F"), RST: strings.Contains(f.Flags, "R"),
			PSH: strings.Contains(f.Flags, "P"),
		}
		if tcp.ACK {
			tcp.Ack = 2000
		}
		tcp.SetNetworkLayerForChecksum(ip)
		l4 = tcp
	case UDP:
		ip.Protocol = layers.IPProtocolUDP
		udp := &layers.UDP{SrcPort: layers.UDPPort(f.Src.Port()), DstPort: layers.UDPPort(f.Dst.Port())}
		udp.SetNetworkLayerForChecksum(ip)
		l4 = udp
	default:
		panic(fmt.Sprintf("packet: protocol %d", f.Proto))
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, l4, gopacket.Payload(f.Payload)); err != nil {
		panic(fmt.Sprintf("packet: serialize: %v", err))
	}
	b := buf.Bytes()
	if f.Proto == UDP && f.NoUDPChecksum {
		binary.BigEndian.PutUint16(b[14+20+6:], 0)
	}
	return b
}

// ARP returns an ARP request from srcMAC/src for dst.
func ARP(srcMAC net.HardwareAddr, src, dst netip.Addr) []byte {
	eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP}
	arp := &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
		SourceHwAddress: srcMAC, SourceProtAddress: src.AsSlice(),
		DstHwAddress: make([]byte, 6), DstProtAddress: dst.AsSlice(),
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, eth, arp); err != nil {
		panic(fmt.Sprintf("packet: serialize: %v", err))
	}
	return buf.Bytes()
}

// Decode parses an Ethernet frame.
func Decode(b []byte) gopacket.Packet {
	return gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
}

// layerOpts compare decoded layers by their fields: the raw bytes
// (BaseLayer) and gopacket's unexported caches are left out.
var layerOpts = cmp.Options{
	cmpopts.IgnoreTypes(layers.BaseLayer{}),
	cmp.FilterPath(func(p cmp.Path) bool {
		sf, ok := p.Last().(cmp.StructField)
		return ok && !token.IsExported(sf.Name())
	}, cmp.Ignore()),
}

// Diff returns "" when want and got are the same bytes, and otherwise a
// report of which fields of which layers differ.
func Diff(want, got []byte) string {
	if string(want) == string(got) {
		return ""
	}
	var sb strings.Builder
	wl, gl := Decode(want).Layers(), Decode(got).Layers()
	for i := range max(len(wl), len(gl)) {
		switch {
		case i >= len(wl):
			fmt.Fprintf(&sb, "layer %d: unexpected %s\n", i, gl[i].LayerType())
		case i >= len(gl):
			fmt.Fprintf(&sb, "layer %d: missing %s\n", i, wl[i].LayerType())
		case wl[i].LayerType() != gl[i].LayerType():
			fmt.Fprintf(&sb, "layer %d: want %s, got %s\n", i, wl[i].LayerType(), gl[i].LayerType())
		default:
			if d := cmp.Diff(wl[i], gl[i], layerOpts); d != "" {
				fmt.Fprintf(&sb, "%s (-want +got):\n%s", wl[i].LayerType(), d)
			}
		}
	}
	if sb.Len() == 0 {
		fmt.Fprintf(&sb, "same fields, different bytes:\nwant %x\ngot  %x\n", want, got)
	}
	return sb.String()
}

// VerifyChecksums recomputes the IPv4 header checksum and the TCP or UDP
// checksum of frame b and reports any that is wrong. A UDP checksum of 0
// means none and passes. An IPv4 total length of 0 is BIG TCP's: the
// packet is the rest of the frame.
func VerifyChecksums(b []byte) error {
	if len(b) < 14+20 || binary.BigEndian.Uint16(b[12:]) != 0x0800 {
		return errors.New("not an IPv4 frame")
	}
	ip := b[14:]
	ihl := int(ip[0]&0x0f) * 4
	tot := int(binary.BigEndian.Uint16(ip[2:]))
	if tot == 0 {
		tot = len(ip)
	}
	if ihl < 20 || tot < ihl || tot > len(ip) {
		return fmt.Errorf("bad IPv4 lengths: ihl %d, total %d, have %d", ihl, tot, len(ip))
	}
	if s := Fold(Sum(ip[:ihl], 0)); s != 0xffff {
		return fmt.Errorf("IPv4 header checksum %#04x is wrong", binary.BigEndian.Uint16(ip[10:]))
	}
	seg := ip[ihl:tot]
	var pseudo uint32
	pseudo = Sum(ip[12:20], pseudo)
	pseudo += uint32(ip[9]) + uint32(len(seg))
	switch ip[9] {
	case TCP:
		if len(seg) < 20 {
			return errors.New("short TCP header")
		}
		if s := Fold(Sum(seg, pseudo)); s != 0xffff {
			return fmt.Errorf("TCP checksum %#04x is wrong", binary.BigEndian.Uint16(seg[16:]))
		}
	case UDP:
		if len(seg) < 8 {
			return errors.New("short UDP header")
		}
		if binary.BigEndian.Uint16(seg[6:]) == 0 {
			return nil
		}
		if s := Fold(Sum(seg, pseudo)); s != 0xffff {
			return fmt.Errorf("UDP checksum %#04x is wrong", binary.BigEndian.Uint16(seg[6:]))
		}
	}
	return nil
}

// SetIPChecksum recomputes the IPv4 header checksum of frame b in place,
// for tests that edit header fields by hand.
func SetIPChecksum(b []byte) {
	ip := b[14:]
	ihl := min(int(ip[0]&0x0f)*4, len(ip))
	if ihl < 20 {
		ihl = 20
	}
	binary.BigEndian.PutUint16(ip[10:], 0)
	binary.BigEndian.PutUint16(ip[10:], ^Fold(Sum(ip[:ihl], 0)))
}

// Sum adds b's 16-bit words to the one's complement sum s (unfolded; an
// odd last byte counts as its high half).
func Sum(b []byte, s uint32) uint32 {
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

// Fold folds an unfolded sum to 16 bits (a checksum is its complement).
func Fold(s uint32) uint16 {
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
