package wire

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

func TestAddrRoundTrips(t *testing.T) {
	for _, s := range []string{"198.18.0.10", "2001:db8::10", "::ffff:198.18.0.10"} {
		a := netip.MustParseAddr(s)
		b, is6, ok := Addr(a)
		if !ok || is6 != a.Is6() || FromAddr(b, is6) != a {
			t.Errorf("%s: %v %v %v -> %v", s, b, is6, ok, FromAddr(b, is6))
		}
	}
	if _, _, ok := Addr(netip.MustParseAddr("fe80::1%eth0")); ok {
		t.Error("an address with a zone was taken")
	}
	if _, _, ok := Addr(netip.Addr{}); ok {
		t.Error("the zero Addr was taken")
	}
	if b, _, _ := Addr(netip.MustParseAddr("198.18.0.10")); b != [16]byte{198, 18, 0, 10} {
		t.Errorf("IPv4 in %v, want the first four bytes", b)
	}
	var mem [2]byte
	binary.NativeEndian.PutUint16(mem[:], Hton(0x1234))
	if Ntoh(Hton(8080)) != 8080 || mem != [2]byte{0x12, 0x34} {
		t.Error("Hton does not put a port in network order")
	}
}
