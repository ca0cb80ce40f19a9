package datapath_test

import (
	"encoding/binary"
	"testing"

	"golvs/internal/datapath"
	"golvs/internal/datapath/datapathtest"
	"golvs/internal/lvs"
	"golvs/internal/packet"
)

// edit returns frame f with fn applied to its IPv4 header and beyond
// (ip[0] is the version/IHL byte) and the IPv4 checksum fixed.
func edit(b []byte, fn func(ip []byte)) []byte {
	b = append([]byte(nil), b...)
	fn(b[14:])
	packet.SetIPChecksum(b)
	return b
}

func totLen(n int) func([]byte) {
	return func(ip []byte) { binary.BigEndian.PutUint16(ip[2:], uint16(n)) }
}

// unpadded is a frame without the Ethernet padding gopacket adds to short
// frames, so that its IP packet is the rest of the frame.
func unpadded(f packet.Frame) []byte {
	b := f.Bytes()
	return b[:14+int(binary.BigEndian.Uint16(b[16:]))]
}

// TestPrivilegedMalformed hands packets the kernel would drop to the
// kernel, untouched and counted as malformed, before any connection or
// service is looked at; and counts bytes as IPVS does.
func TestPrivilegedMalformed(t *testing.T) { bothPrograms(t, testMalformed) }

func testMalformed(t *testing.T) {
	w := newWorld(t)
	const tcp, udp = packet.TCP, packet.UDP
	ok, red := datapath.VerdictOK, datapath.VerdictRedirect
	syn := w.in(tcp, 47000, vip(80), "S")
	dgram := w.in(udp, 47001, vip(53), "")
	malformed := datapathtest.Delta{
		Verdicts: verdicts("pass_malformed", 1, "fwd_redirect", 0),
		Services: map[datapath.ServiceID]lvs.Stats{svcNAT: {}, svcUDP: {}},
	}
	cases := []datapathtest.Case{
		{Name: "IHL 4", In: edit(syn.Bytes(), func(ip []byte) { ip[0] = 0x44 }), Verdict: ok, Want: malformed},
		{Name: "tot_len below the IP header", In: edit(syn.Bytes(), totLen(16)), Verdict: ok, Want: malformed},
		{Name: "tot_len below IP + TCP headers", In: edit(syn.Bytes(), totLen(39)), Verdict: ok, Want: malformed},
		{Name: "tot_len below IP + UDP headers", In: edit(dgram.Bytes(), totLen(27)), Verdict: ok, Want: malformed},
		{Name: "tot_len beyond the frame", In: edit(unpadded(syn), totLen(41)), Verdict: ok, Want: malformed},
		{Name: "tot_len 0 on a packet that is not GSO", In: edit(unpadded(syn), totLen(0)), Verdict: ok, Want: malformed},
		{
			Name: "IP options pushing TCP past tot_len",
			In: edit(syn.Bytes(), func(ip []byte) {
				ip[0] = 0x46 // 24-byte header: TCP would need 44 bytes
			}), Verdict: ok, Want: malformed,
		},
		{Name: "TCP data offset 4", In: edit(syn.Bytes(), func(ip []byte) { ip[20+12] = 4 << 4 }), Verdict: ok, Want: malformed},
		{Name: "TCP data offset past tot_len", In: edit(syn.Bytes(), func(ip []byte) { ip[20+12] = 6 << 4 }), Verdict: ok, Want: malformed},
		{
			// gopacket pads a 54-byte frame to 60: IPVS counts the 40 of
			// tot_len (ip_rcv_core trims the padding), not 46.
			Name: "Ethernet padding is not counted",
			In:   syn.Bytes(), Verdict: red, Out: w.toReal(syn, 0, rip(0, 8080)).Bytes(),
			Want: datapathtest.Delta{
				Services: map[datapath.ServiceID]lvs.Stats{svcNAT: {Conns: 1, InPkts: 1, InBytes: 40}},
				Verdicts: verdicts("pass_malformed", 0),
			},
		},
		func() datapathtest.Case {
			// BIG TCP: a GRO aggregate over 64 KiB has tot_len 0 and is
			// as long as the skb says (here shorter, which the data
			// plane cannot tell apart).
			f := w.in(tcp, 47000, vip(80), "A")
			f.Payload = make([]byte, 1000)
			o := w.toReal(f, 0, rip(0, 8080))
			return datapathtest.Case{
				Name: "tot_len 0 on a GSO packet (BIG TCP) is forwarded, counted by its length",
				In:   edit(f.Bytes(), totLen(0)), GSOSize: 1448, Verdict: red, Out: edit(o.Bytes(), totLen(0)),
				Want: datapathtest.Delta{
					Services: map[datapath.ServiceID]lvs.Stats{svcNAT: {InPkts: 1, InBytes: 1040}},
					Verdicts: verdicts("pass_malformed", 0),
				},
			}
		}(),
		func() datapathtest.Case {
			f := w.in(tcp, 47000, vip(80), "A")
			f.Payload = make([]byte, 1000)
			o := w.toReal(f, 0, rip(0, 8080))
			return datapathtest.Case{
				Name: "GRO packet: bytes are its whole length",
				In:   f.Bytes(), GSOSize: 500, Verdict: red, Out: o.Bytes(),
				Want: datapathtest.Delta{Services: map[datapath.ServiceID]lvs.Stats{svcNAT: {InPkts: 1, InBytes: 1040}}},
			}
		}(),
	}
	w.n.Run(t, w.d, cases)
}
