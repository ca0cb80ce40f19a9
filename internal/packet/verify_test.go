package packet

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
)

// TestVerifyFrame builds one frame of every kind the builders make and
// checks that VerifyFrame passes it and finds one flipped checksum bit.
func TestVerifyFrame(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	c4, v4 := netip.MustParseAddrPort("198.18.0.100:40000"), netip.MustParseAddrPort("198.18.0.10:80")
	c6, v6 := netip.MustParseAddrPort("[2001:db8::100]:40000"), netip.MustParseAddrPort("[2001:db8::10]:80")
	d4, r4 := netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.1.10")
	tcp4 := IPv4{Src: c4.Addr(), Dst: v4.Addr(), Proto: ProtoTCP, DF: true}.Wrap(TCPSeg(c4, v4, "S", []byte("abc")))
	tcp6 := IPv6{Src: c6.Addr(), Dst: v6.Addr(), NextHdr: ProtoTCP}.Wrap(TCPSeg(c6, v6, "SA", nil))
	udp6 := IPv6{Src: c6.Addr(), Dst: v6.Addr(), NextHdr: ProtoUDP}.Wrap(UDPDgram(c6, v6, []byte("q"), true))
	for _, c := range []struct {
		name string
		ip   []byte
		flip int // offset in the IP packet of a checksum byte
		gue  []uint16
	}{
		{"IPv4 TCP", tcp4, 10, nil},
		{"IPv4 TCP, L4", tcp4, 20 + 16, nil},
		{"IPv6 TCP", tcp6, 40 + 16, nil},
		{"IPv6 UDP", udp6, 40 + 6, nil},
		{"ICMP quoting IPv4: quoted header", IPv4{Src: v4.Addr(), Dst: c4.Addr(), Proto: ProtoICMP}.Wrap(ICMPv4(3, 4, 1400, tcp4[:28])), 20 + 8 + 10, nil},
		{"ICMP", IPv4{Src: v4.Addr(), Dst: c4.Addr(), Proto: ProtoICMP}.Wrap(ICMPv4(3, 4, 1400, tcp4[:28])), 20 + 2, nil},
		{"ICMPv6", IPv6{Src: v6.Addr(), Dst: c6.Addr(), NextHdr: ProtoICMPv6}.Wrap(ICMPv6(v6.Addr(), c6.Addr(), 2, 0, 1280, tcp6[:48])), 40 + 2, nil},
		{"IPIP inner", IPv4{Src: d4, Dst: r4, Proto: ProtoIPIP}.Wrap(tcp4), 20 + 20 + 16, nil},
		{"GRE checksum", IPv4{Src: d4, Dst: r4, Proto: ProtoGRE}.Wrap(GRE(0x86DD, true, tcp6)), 20 + 4, nil},
		{"GRE inner", IPv4{Src: d4, Dst: r4, Proto: ProtoGRE}.Wrap(GRE(0x86DD, true, tcp6)), 20 + 8 + 40 + 16, nil},
		{"GUE checksum", IPv4{Src: d4, Dst: r4, Proto: ProtoUDP}.Wrap(UDPDgram(netip.AddrPortFrom(d4, 40000), netip.AddrPortFrom(r4, 6080), GUE(4, tcp4), true)), 20 + 6, []uint16{6080}},
		{"GUE inner", IPv4{Src: d4, Dst: r4, Proto: ProtoUDP}.Wrap(UDPDgram(netip.AddrPortFrom(d4, 40000), netip.AddrPortFrom(r4, 6080), GUE(4, tcp4), false)), 20 + 12 + 10, []uint16{6080}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := Ether(mac, mac, c.ip)
			o := VerifyOptions{GUEPorts: c.gue}
			if err := VerifyFrame(f, o); err != nil {
				t.Fatalf("built frame: %v", err)
			}
			f[14+c.flip] ^= 0x01
			if err := VerifyFrame(f, o); err == nil {
				t.Errorf("a flipped bit at IP offset %d passes", c.flip)
			}
		})
	}
}

// TestFragments checks the fragment builders' offsets and flags.
func TestFragments(t *testing.T) {
	s, d := netip.MustParseAddrPort("198.18.0.100:1"), netip.MustParseAddrPort("198.18.0.10:2")
	fs := IPv4{Src: s.Addr(), Dst: d.Addr(), Proto: ProtoUDP, ID: 7}.Fragments(UDPDgram(s, d, make([]byte, 30), true), 16)
	if len(fs) != 3 {
		t.Fatalf("%d fragments, want 3", len(fs))
	}
	for i, want := range []uint16{0x2000, 0x2002, 0x0004} {
		if got := binary.BigEndian.Uint16(fs[i][6:]); got != want {
			t.Errorf("fragment %d: flags/offset %#04x, want %#04x", i, got, want)
		}
	}
	s6, d6 := netip.MustParseAddrPort("[2001:db8::1]:1"), netip.MustParseAddrPort("[2001:db8::2]:2")
	f6 := IPv6{Src: s6.Addr(), Dst: d6.Addr(), NextHdr: ProtoUDP}.Fragments(UDPDgram(s6, d6, make([]byte, 30), true), 16, 9)
	for i, want := range []uint16{0x0001, 0x0011, 0x0020} {
		if got := binary.BigEndian.Uint16(f6[i][42:]); got != want || f6[i][6] != ProtoFrag || f6[i][40] != ProtoUDP {
			t.Errorf("IPv6 fragment %d: offset/M %#04x, want %#04x", i, got, want)
		}
	}
}
