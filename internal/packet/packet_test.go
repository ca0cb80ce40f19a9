package packet

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

var (
	macA = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{2, 0, 0, 0, 0, 2}
)

func frame(proto int) Frame {
	return Frame{
		SrcMAC: macA, DstMAC: macB, Proto: proto, Flags: "S",
		Src: netip.MustParseAddrPort("198.18.0.100:40000"),
		Dst: netip.MustParseAddrPort("198.18.0.10:80"),
	}
}

func TestChecksumsOfBuiltFrames(t *testing.T) {
	for _, f := range []Frame{frame(TCP), frame(UDP), {NoUDPChecksum: true, Proto: UDP, SrcMAC: macA, DstMAC: macB,
		Src: netip.MustParseAddrPort("198.18.0.1:1"), Dst: netip.MustParseAddrPort("198.18.0.2:2")}} {
		if err := VerifyChecksums(f.Bytes()); err != nil {
			t.Errorf("proto %d: %v", f.Proto, err)
		}
	}
}

func TestVerifyChecksumsFindsBadOnes(t *testing.T) {
	b := frame(TCP).Bytes()
	b[14+16] ^= 1 // daddr
	if err := VerifyChecksums(b); err == nil || !strings.Contains(err.Error(), "IPv4") {
		t.Errorf("bad IP checksum: got %v", err)
	}
	b = frame(TCP).Bytes()
	b[14+20+2] ^= 1 // dport
	if err := VerifyChecksums(b); err == nil || !strings.Contains(err.Error(), "TCP") {
		t.Errorf("bad TCP checksum: got %v", err)
	}
}

func TestDiffNamesTheField(t *testing.T) {
	a := frame(TCP)
	b := a
	b.Dst = netip.MustParseAddrPort("198.18.1.10:8080")
	if d := Diff(a.Bytes(), a.Bytes()); d != "" {
		t.Errorf("Diff of equal frames = %q", d)
	}
	d := Diff(a.Bytes(), b.Bytes())
	for _, want := range []string{"IPv4", "DstIP", "TCP", "DstPort"} {
		if !strings.Contains(d, want) {
			t.Errorf("Diff does not mention %s:\n%s", want, d)
		}
	}
}

func TestSetIPChecksum(t *testing.T) {
	b := frame(TCP).Bytes()
	b[14+8] = 1 // TTL
	if err := VerifyChecksums(b); err == nil {
		t.Fatal("edited TTL: checksum still right")
	}
	SetIPChecksum(b)
	if err := VerifyChecksums(b); err != nil {
		t.Errorf("after SetIPChecksum: %v", err)
	}
}

func TestVerifyChecksumsBigTCP(t *testing.T) {
	b := frame(TCP).Bytes()[:14+40] // without the Ethernet padding
	b[14+2], b[14+3] = 0, 0         // tot_len 0: BIG TCP
	SetIPChecksum(b)
	if err := VerifyChecksums(b); err != nil {
		t.Errorf("tot_len 0: %v", err)
	}
}
