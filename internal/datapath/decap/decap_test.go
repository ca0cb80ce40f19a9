package decap

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"golvs/internal/datapath/objtest"
	"golvs/internal/packet"
	"golvs/internal/testnet"
)

// The decapsulation fixtures: a real server with VIPs decapVIP4 and
// decapVIP6 on its link decapLink (MAC decapMAC), a director at
// decapDIP4/decapDIP6 sending to decapRIP4/decapRIP6 for clients at
// decapCIP4/decapCIP6. All in 198.18.0.0/15 and 2001:db8::/32.
var (
	decapVIP4 = netip.MustParseAddr("198.18.0.10")
	decapVIP6 = netip.MustParseAddr("2001:db8::10")
	decapCIP4 = netip.MustParseAddr("198.18.0.100")
	decapCIP6 = netip.MustParseAddr("2001:db8::100")
	decapDIP4 = netip.MustParseAddr("198.18.1.1")
	decapDIP6 = netip.MustParseAddr("2001:db8:1::1")
	decapRIP4 = netip.MustParseAddr("198.18.1.10")
	decapRIP6 = netip.MustParseAddr("2001:db8:1::10")

	decapMAC    = net.HardwareAddr{0x02, 0, 0xc6, 0x12, 0x01, 0x0a}
	directorMAC = net.HardwareAddr{0x02, 0, 0xc6, 0x12, 0x01, 0x01}
	otherMAC    = net.HardwareAddr{0x02, 0, 0xc6, 0x12, 0x01, 0x63}
)

const (
	decapGUEPort = 6080
	decapLink    = "gltdc0"
)

// TestABISizes checks the generated Go types against the object's BTF and
// the maps' key and value sizes.
func TestABISizes(t *testing.T) {
	spec, err := loadDecap()
	if err != nil {
		t.Fatal(err)
	}
	objtest.CheckLayouts(t, spec, []objtest.Type{
		{Name: "decap_vip_key", Size: unsafe.Sizeof(decapDecapVipKey{})},
		{Name: "decap_config", Size: unsafe.Sizeof(decapDecapConfig{})},
	}, []objtest.Map{
		{Name: decapMapDecapVips, Key: unsafe.Sizeof(decapDecapVipKey{}), Value: 4},
		{Name: decapMapDecapGuePorts, Key: 2, Value: 4},
		{Name: decapMapDecapCfg, Key: 4, Value: unsafe.Sizeof(decapDecapConfig{})},
		{Name: decapMapDecapCounters, Key: 4, Value: 8},
	})
	if got := len(CounterNames()); got != len(counterNames) {
		t.Errorf("CounterNames has %d names, want %d", got, len(counterNames))
	}
	v := spec.Variables[decapVarDecapAbiInfo]
	if v == nil {
		t.Fatal("no decap_abi_info in the object")
	}
	var info [4]uint32
	if err := v.Get(&info); err != nil {
		t.Fatalf("decap_abi_info: %v", err)
	}
	if int(info[0]) != ABIVersion {
		t.Errorf("object ABI version %d, Go ABIVersion %d", info[0], ABIVersion)
	}
}

// decapNet is a network namespace with one veth link, decapLink, whose MAC
// is decapMAC, so that frames to that MAC are PACKET_HOST when a test run
// says they arrived there.
type decapNet struct {
	name  string
	ns    netns.NsHandle
	index int
}

func newDecapNet(t *testing.T) *decapNet {
	t.Helper()
	testnet.RequirePrivileged(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	n := &decapNet{name: "gltdc-" + hex.EncodeToString(b)}
	n.ns = testnet.NewNamedNS(t, n.name, func() error {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: decapLink, HardwareAddr: decapMAC}, PeerName: decapLink + "p"}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("add veth: %w", err)
		}
		for _, name := range []string{"lo", decapLink, decapLink + "p"} {
			l, err := netlink.LinkByName(name)
			if err != nil {
				return err
			}
			if err := netlink.LinkSetUp(l); err != nil {
				return err
			}
			if name == decapLink {
				n.index = l.Attrs().Index
			}
		}
		return nil
	})
	return n
}

// do runs fn on a thread in the namespace.
func (n *decapNet) do(t testing.TB, fn func()) {
	t.Helper()
	testnet.DoIn(t, n.ns, n.name, fn)
}

// decapPinDir returns a fresh pin directory on the host's bpffs, removed
// with everything in it when the test ends.
func decapPinDir(t *testing.T) string {
	t.Helper()
	if err := testnet.EnsureBPFFS(); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	dir := filepath.Join("/sys/fs/bpf", "gltdc-"+hex.EncodeToString(b))
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	return dir
}

func openTestDecap(t *testing.T, dir string) *Program {
	t.Helper()
	d, err := Open(Options{PinDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// Inner packets: what the client sent, as IP packets without Ethernet.

type innerPkt struct {
	src, dst netip.AddrPort
	udp      bool
	tos      uint8 // DSCP and ECN (IPv4 TOS, IPv6 traffic class)
	payload  []byte
}

func (p innerPkt) bytes() []byte {
	var l3 gopacket.NetworkLayer
	var ip gopacket.SerializableLayer
	proto := layers.IPProtocolTCP
	if p.udp {
		proto = layers.IPProtocolUDP
	}
	if p.dst.Addr().Is4() {
		v4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, TOS: p.tos, Flags: layers.IPv4DontFragment, Protocol: proto,
			SrcIP: p.src.Addr().AsSlice(), DstIP: p.dst.Addr().AsSlice()}
		l3, ip = v4, v4
	} else {
		v6 := &layers.IPv6{Version: 6, HopLimit: 64, TrafficClass: p.tos, NextHeader: proto,
			SrcIP: p.src.Addr().AsSlice(), DstIP: p.dst.Addr().AsSlice()}
		l3, ip = v6, v6
	}
	var l4 gopacket.SerializableLayer
	if p.udp {
		u := &layers.UDP{SrcPort: layers.UDPPort(p.src.Port()), DstPort: layers.UDPPort(p.dst.Port())}
		_ = u.SetNetworkLayerForChecksum(l3)
		l4 = u
	} else {
		tc := &layers.TCP{SrcPort: layers.TCPPort(p.src.Port()), DstPort: layers.TCPPort(p.dst.Port()), Seq: 1000, Ack: 2000, ACK: true, PSH: true, Window: 65535}
		_ = tc.SetNetworkLayerForChecksum(l3)
		l4 = tc
	}
	return serialize(ip, l4, gopacket.Payload(p.payload))
}

func serialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		panic(fmt.Sprintf("serialize: %v", err))
	}
	return buf.Bytes()
}

func ethType(ipPacket []byte) layers.EthernetType {
	if ipPacket[0]>>4 == 6 {
		return layers.EthernetTypeIPv6
	}
	return layers.EthernetTypeIPv4
}

// onLink is ipPacket in an Ethernet frame from the director to dst,
// without the padding to 60 bytes that a decapsulated frame does not get.
func onLink(dst net.HardwareAddr, ipPacket []byte) []byte {
	b := append(slices.Clone(dst), directorMAC...)
	b = binary.BigEndian.AppendUint16(b, uint16(ethType(ipPacket)))
	return append(b, ipPacket...)
}

// outer describes an outer IP header; the zero TTL means 64.
type outer struct {
	src, dst netip.Addr
	tos      uint8
	frag     bool // IPv4 MF
	options  bool // IPv4 with a 4-byte option
	mac      net.HardwareAddr
}

// wrap returns the frame carrying body (what follows the outer IP header)
// with IP protocol proto.
func (o outer) wrap(proto layers.IPProtocol, body []byte) []byte {
	mac := o.mac
	if mac == nil {
		mac = decapMAC
	}
	var ip gopacket.SerializableLayer
	et := layers.EthernetTypeIPv4
	if o.dst.Is4() {
		v4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, TOS: o.tos, Protocol: proto, SrcIP: o.src.AsSlice(), DstIP: o.dst.AsSlice()}
		if o.frag {
			v4.Flags = layers.IPv4MoreFragments
		}
		if o.options {
			v4.Options = []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}}
		}
		ip = v4
	} else {
		et = layers.EthernetTypeIPv6
		ip = &layers.IPv6{Version: 6, HopLimit: 64, TrafficClass: o.tos, NextHeader: proto, SrcIP: o.src.AsSlice(), DstIP: o.dst.AsSlice()}
	}
	return serialize(&layers.Ethernet{SrcMAC: directorMAC, DstMAC: mac, EthernetType: et}, ip, gopacket.Payload(body))
}

// ipip is inner in IP-in-IP, as ip_vs_tunnel_xmit sends it.
func (o outer) ipip(inner []byte) []byte {
	proto := layers.IPProtocolIPv4
	if inner[0]>>4 == 6 {
		proto = layers.IPProtocolIPv6
	}
	return o.wrap(proto, inner)
}

// gueOpts shape a GUE packet.
type gueOpts struct {
	port     uint16 // default decapGUEPort
	csum     bool   // outer UDP checksum
	remcsum  bool   // REMCSUM option for the inner TCP checksum
	version1 bool   // no GUE header
	header   []byte // replaces the GUE header
}

// gue is inner in UDP and GUE, as ipvs_gue_encap sends it.
func (o outer) gue(inner []byte, g gueOpts) []byte {
	if g.port == 0 {
		g.port = decapGUEPort
	}
	proto := byte(4)
	if len(inner) > 0 && inner[0]>>4 == 6 {
		proto = 41
	}
	var hdr []byte
	switch {
	case g.header != nil:
		hdr = g.header
	case g.version1:
	case g.remcsum:
		// hlen 2: private flags with REMCSUM, then start and offset.
		start, off := remcsumOffsets(inner)
		hdr = []byte{0x02, proto, 0x00, 0x01, 0x80, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint16(hdr[8:], uint16(start))
		binary.BigEndian.PutUint16(hdr[10:], uint16(off))
	default:
		hdr = []byte{0x00, proto, 0, 0}
	}
	var ip gopacket.NetworkLayer
	if o.dst.Is4() {
		ip = &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: o.src.AsSlice(), DstIP: o.dst.AsSlice()}
	} else {
		ip = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: o.src.AsSlice(), DstIP: o.dst.AsSlice()}
	}
	u := &layers.UDP{SrcPort: 49999, DstPort: layers.UDPPort(g.port)}
	_ = u.SetNetworkLayerForChecksum(ip)
	udp := serialize(u, gopacket.Payload(append(slices.Clone(hdr), inner...)))
	if !g.csum {
		binary.BigEndian.PutUint16(udp[6:], 0)
	} else {
		// gopacket sums from the layer it serializes: redo it over the
		// whole datagram with the pseudo-header.
		binary.BigEndian.PutUint16(udp[6:], 0)
		binary.BigEndian.PutUint16(udp[6:], packet.L4Checksum(o.src, o.dst, 17, udp))
	}
	return o.wrap(layers.IPProtocolUDP, udp)
}

// gre is inner in GRE, as ipvs_gre_encap sends it (g sets the flags).
func (o outer) gre(inner []byte, g layers.GRE) []byte {
	g.Protocol = ethType(inner)
	return o.wrap(layers.IPProtocolGRE, serialize(&g, gopacket.Payload(inner)))
}

// remcsumOffsets are the start and checksum offsets of the inner TCP
// header, from the start of the inner packet.
func remcsumOffsets(inner []byte) (start, off int) {
	start = 40
	if inner[0]>>4 == 4 {
		start = int(inner[0]&0x0f) * 4
	}
	return start, start + 16
}

// seedOnly replaces the inner TCP checksum with the pseudo-header seed, as
// a sender using remote checksum offload leaves it.
func seedOnly(inner []byte) []byte {
	out := slices.Clone(inner)
	start, off := remcsumOffsets(out)
	var src, dst netip.Addr
	if out[0]>>4 == 4 {
		src, dst = netip.AddrFrom4([4]byte(out[12:16])), netip.AddrFrom4([4]byte(out[16:20]))
	} else {
		src, dst = netip.AddrFrom16([16]byte(out[8:24])), netip.AddrFrom16([16]byte(out[24:40]))
	}
	seed := packet.PseudoSum(src, dst, 6, len(out)-start)
	binary.BigEndian.PutUint16(out[off:], packet.Fold(seed))
	return out
}

// edit returns a copy of b with fn applied.
func edit(b []byte, fn func(b []byte)) []byte {
	c := slices.Clone(b)
	fn(c)
	return c
}

type decapCase struct {
	name string
	// tunnels, when not 0, replaces the enabled kinds for this case.
	tunnels Tunnel
	in      []byte
	verdict int
	out     []byte // nil: in, untouched
	counts  map[string]uint64
}

func TestPrivilegedDecapFixtures(t *testing.T) {
	n := newDecapNet(t)
	d := openTestDecap(t, decapPinDir(t))
	all := TunnelIPIP | TunnelGUE | TunnelGRE
	cfg := Config{Tunnels: all, VIPs: []netip.Addr{decapVIP4, decapVIP6}, GUEPorts: []uint16{decapGUEPort}}
	if err := d.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}

	v4 := innerPkt{src: netip.AddrPortFrom(decapCIP4, 40000), dst: netip.AddrPortFrom(decapVIP4, 80), payload: []byte("GET / HTTP/1.0\r\n\r\n")}.bytes()
	v6 := innerPkt{src: netip.AddrPortFrom(decapCIP6, 40000), dst: netip.AddrPortFrom(decapVIP6, 80), payload: []byte("GET / HTTP/1.0\r\n\r\n")}.bytes()
	udp4 := innerPkt{src: netip.AddrPortFrom(decapCIP4, 40001), dst: netip.AddrPortFrom(decapVIP4, 53), udp: true, payload: []byte("query")}.bytes()
	big4 := innerPkt{src: netip.AddrPortFrom(decapCIP4, 40002), dst: netip.AddrPortFrom(decapVIP4, 80), payload: bytes.Repeat([]byte("0123456789abcdef"), 85)}.bytes()
	big6 := innerPkt{src: netip.AddrPortFrom(decapCIP6, 40002), dst: netip.AddrPortFrom(decapVIP6, 80), payload: bytes.Repeat([]byte("fedcba9876543210"), 83)[:1327]}.bytes()
	notVIP := innerPkt{src: netip.AddrPortFrom(decapCIP4, 40000), dst: netip.AddrPortFrom(decapRIP4, 80)}.bytes()
	ect0 := innerPkt{src: netip.AddrPortFrom(decapCIP4, 40003), dst: netip.AddrPortFrom(decapVIP4, 80), tos: 0x10 | 2}.bytes()
	ce := innerPkt{src: netip.AddrPortFrom(decapCIP4, 40003), dst: netip.AddrPortFrom(decapVIP4, 80), tos: 0x10 | 3}.bytes()
	ect16 := innerPkt{src: netip.AddrPortFrom(decapCIP6, 40003), dst: netip.AddrPortFrom(decapVIP6, 80), tos: 0x20 | 1}.bytes()
	ce6 := innerPkt{src: netip.AddrPortFrom(decapCIP6, 40003), dst: netip.AddrPortFrom(decapVIP6, 80), tos: 0x20 | 3}.bytes()

	o4 := outer{src: decapDIP4, dst: decapRIP4}
	o6 := outer{src: decapDIP6, dst: decapRIP6}
	plain := func(ip []byte) []byte { return onLink(decapMAC, ip) }

	cases := []decapCase{
		{name: "ipip: IPv4 in IPv4 to a VIP is unwrapped", in: o4.ipip(v4), verdict: VerdictUnspec, out: plain(v4), counts: map[string]uint64{"decap_ipip": 1}},
		{name: "ipip: UDP inside", in: o4.ipip(udp4), verdict: VerdictUnspec, out: plain(udp4), counts: map[string]uint64{"decap_ipip": 1}},
		{name: "ipip: outer IPv4 header with options", in: outer{src: decapDIP4, dst: decapRIP4, options: true}.ipip(v4), verdict: VerdictUnspec, out: plain(v4), counts: map[string]uint64{"decap_ipip": 1}},
		{name: "ip6ip6: IPv6 in IPv6", in: o6.ipip(v6), verdict: VerdictUnspec, out: plain(v6), counts: map[string]uint64{"decap_ipip": 1}},
		{name: "4in6: IPv4 in IPv6", in: o6.ipip(v4), verdict: VerdictUnspec, out: plain(v4), counts: map[string]uint64{"decap_ipip": 1}},
		{name: "6in4: IPv6 in IPv4", in: o4.ipip(v6), verdict: VerdictUnspec, out: plain(v6), counts: map[string]uint64{"decap_ipip": 1}},
		{name: "ipip: a full-size inner packet", in: o4.ipip(big4), verdict: VerdictUnspec, out: plain(big4), counts: map[string]uint64{"decap_ipip": 1}},

		{name: "gue: without UDP checksum", in: o4.gue(v4, gueOpts{}), verdict: VerdictUnspec, out: plain(v4), counts: map[string]uint64{"decap_gue": 1}},
		{name: "gue: with UDP checksum", in: o4.gue(v4, gueOpts{csum: true}), verdict: VerdictUnspec, out: plain(v4), counts: map[string]uint64{"decap_gue": 1}},
		{name: "gue: IPv6 in IPv6 with UDP checksum", in: o6.gue(v6, gueOpts{csum: true}), verdict: VerdictUnspec, out: plain(v6), counts: map[string]uint64{"decap_gue": 1}},
		{name: "gue: IPv4 in IPv6", in: o6.gue(v4, gueOpts{}), verdict: VerdictUnspec, out: plain(v4), counts: map[string]uint64{"decap_gue": 1}},
		{name: "gue: version 1, IP right after UDP", in: o4.gue(v4, gueOpts{version1: true}), verdict: VerdictUnspec, out: plain(v4), counts: map[string]uint64{"decap_gue": 1}},
		{name: "gue remcsum: inner checksum completed", in: o4.gue(seedOnly(v4), gueOpts{csum: true, remcsum: true}), verdict: VerdictUnspec, out: plain(v4), counts: map[string]uint64{"decap_gue": 1, "remcsum": 1}},
		{name: "gue remcsum: over more than one chunk", in: o4.gue(seedOnly(big4), gueOpts{csum: true, remcsum: true}), verdict: VerdictUnspec, out: plain(big4), counts: map[string]uint64{"decap_gue": 1, "remcsum": 1}},
		{name: "gue remcsum: IPv6, odd length", in: o6.gue(seedOnly(big6), gueOpts{csum: true, remcsum: true}), verdict: VerdictUnspec, out: plain(big6), counts: map[string]uint64{"decap_gue": 1, "remcsum": 1}},
		{name: "gue remcsum: wrong outer checksum is dropped",
			in:      edit(o4.gue(seedOnly(v4), gueOpts{csum: true, remcsum: true}), func(b []byte) { b[len(b)-1] ^= 0x40 }),
			verdict: VerdictShot, counts: map[string]uint64{"drop_csum": 1}},
		{name: "gue remcsum: offset beyond the inner packet is dropped",
			in:      o4.gue(v4, gueOpts{header: []byte{0x02, 4, 0x00, 0x01, 0x80, 0, 0, 0, 0, 20, 0x0f, 0xff}}),
			verdict: VerdictShot, counts: map[string]uint64{"drop_remcsum": 1}},

		{name: "gre: without checksum", in: o4.gre(v4, layers.GRE{}), verdict: VerdictUnspec, out: plain(v4), counts: map[string]uint64{"decap_gre": 1}},
		{name: "gre: with checksum", in: o4.gre(v4, layers.GRE{ChecksumPresent: true}), verdict: VerdictUnspec, out: plain(v4), counts: map[string]uint64{"decap_gre": 1}},
		{name: "gre: key and sequence number", in: o4.gre(v4, layers.GRE{KeyPresent: true, Key: 7, SeqPresent: true, Seq: 9}), verdict: VerdictUnspec, out: plain(v4), counts: map[string]uint64{"decap_gre": 1}},
		{name: "gre: IPv6 in IPv6 with checksum", in: o6.gre(v6, layers.GRE{ChecksumPresent: true}), verdict: VerdictUnspec, out: plain(v6), counts: map[string]uint64{"decap_gre": 1}},
		{name: "gre: IPv6 in IPv4", in: o4.gre(v6, layers.GRE{}), verdict: VerdictUnspec, out: plain(v6), counts: map[string]uint64{"decap_gre": 1}},

		{name: "ecn: outer CE marks an ECT inner packet", in: outer{src: decapDIP4, dst: decapRIP4, tos: 3}.ipip(ect0), verdict: VerdictUnspec, out: plain(ce), counts: map[string]uint64{"decap_ipip": 1, "ecn_ce": 1}},
		{name: "ecn: outer CE marks an ECT inner IPv6 packet", in: outer{src: decapDIP6, dst: decapRIP6, tos: 3}.ipip(ect16), verdict: VerdictUnspec, out: plain(ce6), counts: map[string]uint64{"decap_ipip": 1, "ecn_ce": 1}},
		{name: "ecn: outer ECT leaves the inner packet alone", in: outer{src: decapDIP4, dst: decapRIP4, tos: 2}.ipip(ect0), verdict: VerdictUnspec, out: plain(ect0), counts: map[string]uint64{"decap_ipip": 1}},
		{name: "ecn: outer CE on a not-ECT inner packet is dropped (RFC 6040)", in: outer{src: decapDIP4, dst: decapRIP4, tos: 3}.ipip(v4), verdict: VerdictShot, counts: map[string]uint64{"drop_ecn": 1}},

		{name: "pass: inner destination is not a VIP", in: o4.ipip(notVIP), verdict: VerdictUnspec, counts: map[string]uint64{"pass_not_vip": 1}},
		{name: "pass: outer destination is a VIP", in: outer{src: decapDIP4, dst: decapVIP4}.ipip(v4), verdict: VerdictUnspec, counts: map[string]uint64{"pass_outer_vip": 1}},
		{name: "pass: frame for another host's MAC", in: outer{src: decapDIP4, dst: decapRIP4, mac: otherMAC}.ipip(v4), verdict: VerdictUnspec, counts: map[string]uint64{"pass_not_host": 1}},
		{name: "pass: the client's packet itself (DR)", in: plain(v4), verdict: VerdictUnspec, counts: map[string]uint64{"pass_not_tunnel": 1}},
		{name: "pass: UDP to another port", in: o4.gue(v4, gueOpts{port: 6081}), verdict: VerdictUnspec, counts: map[string]uint64{"pass_not_tunnel": 1}},
		{name: "pass: ARP", in: packet.ARP(directorMAC, decapDIP4, decapRIP4), verdict: VerdictUnspec, counts: map[string]uint64{"pass_not_ip": 1}},
		{name: "pass: ipip while only GUE is on", tunnels: TunnelGUE, in: o4.ipip(v4), verdict: VerdictUnspec, counts: map[string]uint64{"pass_tunnel_off": 1}},
		{name: "pass: GUE while only IPIP is on", tunnels: TunnelIPIP, in: o4.gue(v4, gueOpts{}), verdict: VerdictUnspec, counts: map[string]uint64{"pass_tunnel_off": 1}},
		{name: "pass: outer fragment", in: outer{src: decapDIP4, dst: decapRIP4, frag: true}.ipip(v4), verdict: VerdictUnspec, counts: map[string]uint64{"pass_fragment": 1}},
		{name: "pass: GRE version 1 (PPTP)", in: edit(o4.gre(v4, layers.GRE{}), func(b []byte) { b[14+20+1] = 1 }), verdict: VerdictUnspec, counts: map[string]uint64{"pass_unsupported": 1}},
		{name: "pass: GRE with routing", in: edit(o4.gre(v4, layers.GRE{}), func(b []byte) { b[14+20] = 0x40 }), verdict: VerdictUnspec, counts: map[string]uint64{"pass_unsupported": 1}},
		{name: "pass: GRE carrying Ethernet", in: edit(o4.gre(v4, layers.GRE{}), func(b []byte) { binary.BigEndian.PutUint16(b[14+20+2:], 0x6558) }), verdict: VerdictUnspec, counts: map[string]uint64{"pass_unsupported": 1}},
		{name: "pass: GUE control message", in: o4.gue(v4, gueOpts{header: []byte{0x20, 0, 0, 0}}), verdict: VerdictUnspec, counts: map[string]uint64{"pass_unsupported": 1}},
		{name: "pass: GUE with an unknown flag", in: o4.gue(v4, gueOpts{header: []byte{0x00, 4, 0x80, 0}}), verdict: VerdictUnspec, counts: map[string]uint64{"pass_unsupported": 1}},
		{name: "pass: GUE carrying neither IPv4 nor IPv6", in: o4.gue(v4, gueOpts{header: []byte{0x00, 47, 0, 0}}), verdict: VerdictUnspec, counts: map[string]uint64{"pass_unsupported": 1}},

		{name: "malformed: outer length beyond the frame",
			in:      edit(o4.ipip(v4), func(b []byte) { binary.BigEndian.PutUint16(b[16:], uint16(len(b))); packet.SetIPChecksum(b) }),
			verdict: VerdictUnspec, counts: map[string]uint64{"pass_malformed": 1}},
		{name: "malformed: wrong outer header checksum", in: edit(o4.ipip(v4), func(b []byte) { b[24] ^= 0xff }), verdict: VerdictUnspec, counts: map[string]uint64{"pass_malformed": 1}},
		{name: "malformed: inner length beyond the outer packet",
			in:      edit(o4.ipip(v4), func(b []byte) { binary.BigEndian.PutUint16(b[14+20+2:], uint16(len(v4)+1)) }),
			verdict: VerdictUnspec, counts: map[string]uint64{"pass_malformed": 1}},
		{name: "malformed: inner header of the wrong version", in: o4.wrap(layers.IPProtocolIPv4, v6), verdict: VerdictUnspec, counts: map[string]uint64{"pass_malformed": 1}},
		{name: "malformed: truncated inner header", in: o4.wrap(layers.IPProtocolIPv4, v4[:12]), verdict: VerdictUnspec, counts: map[string]uint64{"pass_malformed": 1}},
		{name: "malformed: GUE header longer than the datagram", in: o4.gue(v4[:0], gueOpts{header: []byte{0x1f, 4, 0, 0}}), verdict: VerdictUnspec, counts: map[string]uint64{"pass_malformed": 1}},
		{name: "malformed: UDP to the GUE port too short for GUE", in: o4.gue(nil, gueOpts{header: []byte{0}}), verdict: VerdictUnspec, counts: map[string]uint64{"pass_malformed": 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.tunnels != 0 {
				if err := d.SetConfig(Config{Tunnels: c.tunnels, VIPs: cfg.VIPs, GUEPorts: cfg.GUEPorts}); err != nil {
					t.Fatal(err)
				}
				defer func() {
					if err := d.SetConfig(cfg); err != nil {
						t.Fatal(err)
					}
				}()
			}
			before, err := d.Counters()
			if err != nil {
				t.Fatal(err)
			}
			var (
				verdict int
				out     []byte
			)
			n.do(t, func() { verdict, out, err = d.Run(c.in, n.index, 0) })
			if err != nil {
				t.Fatal(err)
			}
			after, err := d.Counters()
			if err != nil {
				t.Fatal(err)
			}
			if verdict != c.verdict {
				t.Errorf("verdict %d, want %d", verdict, c.verdict)
			}
			want := c.out
			if want == nil {
				want = c.in
			}
			if c.verdict != VerdictShot {
				if diff := packet.Diff(want, out); diff != "" {
					t.Errorf("output frame differs:\n%s", diff)
				}
				if c.out != nil && binary.BigEndian.Uint16(out[12:]) == 0x0800 {
					if err := packet.VerifyChecksums(out); err != nil {
						t.Errorf("output frame: %v", err)
					}
				}
			}
			for _, name := range CounterNames() {
				if got, w := after[name]-before[name], c.counts[name]; got != w {
					t.Errorf("counter %s changed by %d, want %d", name, got, w)
				}
			}
		})
	}
}

// TestPrivilegedDecapConfig checks that SetConfig replaces the sets, and
// that a second Open adopts the pinned maps, counters included.
func TestPrivilegedDecapConfig(t *testing.T) {
	n := newDecapNet(t)
	dir := decapPinDir(t)
	d := openTestDecap(t, dir)
	a, b, c := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("198.18.0.2")
	if err := d.SetConfig(Config{Tunnels: TunnelIPIP | TunnelGUE, VIPs: []netip.Addr{a, b}, GUEPorts: []uint16{5555, 6666}}); err != nil {
		t.Fatal(err)
	}
	want := Config{Tunnels: TunnelGRE, VIPs: []netip.Addr{c, b}, GUEPorts: []uint16{6666}}
	if err := d.SetConfig(want); err != nil {
		t.Fatal(err)
	}
	frame := outer{src: decapDIP4, dst: decapRIP4}.gre(innerPkt{src: netip.AddrPortFrom(decapCIP4, 1), dst: netip.AddrPortFrom(c, 2)}.bytes(), layers.GRE{})
	n.do(t, func() {
		if v, _, err := d.Run(frame, n.index, 0); err != nil || v != VerdictUnspec {
			t.Errorf("run: verdict %d, %v", v, err)
		}
	})

	again := openTestDecap(t, dir)
	got, err := again.Config()
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(want.VIPs, func(x, y netip.Addr) int { return x.Compare(y) })
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("adopted config %v, want %v", got, want)
	}
	cnt, err := again.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if cnt["decap_gre"] != 1 {
		t.Errorf("adopted counters: decap_gre %d, want 1", cnt["decap_gre"])
	}
	ro, err := OpenPinned(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if got, err := ro.Config(); err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pinned config %v (%v), want %v", got, err, want)
	}
	for _, bad := range []Config{
		{Tunnels: 1 << 7},
		{Tunnels: TunnelGUE, GUEPorts: []uint16{0}},
		{Tunnels: TunnelIPIP, VIPs: []netip.Addr{{}}},
	} {
		if err := d.SetConfig(bad); err == nil {
			t.Errorf("SetConfig(%v) accepted", bad)
		}
	}
}

// TestPrivilegedDecapAttach attaches the program with each hook, checks
// that attaching again replaces rather than adds, that an unwrapped
// packet sent over the link reaches a socket on the VIP (so the verdict
// the program gives lets the kernel deliver it with either hook), and that
// detaching leaves the link as it was.
func TestPrivilegedDecapAttach(t *testing.T) {
	for _, hook := range []string{"tcx", "clsact"} {
		t.Run(hook, func(t *testing.T) {
			n := newDecapNet(t)
			dir := decapPinDir(t)
			d := openTestDecap(t, dir)
			if err := d.SetConfig(Config{Tunnels: TunnelIPIP, VIPs: []netip.Addr{decapVIP4}}); err != nil {
				t.Fatal(err)
			}
			var sock net.PacketConn
			n.do(t, func() {
				lo, err := netlink.LinkByName("lo")
				if err == nil {
					err = netlink.AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: decapVIP4.AsSlice(), Mask: net.CIDRMask(32, 32)}})
				}
				if err == nil {
					sock, err = net.ListenPacket("udp", netip.AddrPortFrom(decapVIP4, 53).String())
				}
				if err != nil {
					t.Fatal(err)
				}
			})
			defer sock.Close()
			for range 2 {
				var got string
				var err error
				n.do(t, func() { got, err = d.attach(decapLink, hook == "tcx") })
				if err != nil || got != hook {
					t.Fatalf("Attach = %q, %v; want %s", got, err, hook)
				}
			}
			var att map[string]string
			var progs int
			n.do(t, func() {
				var err error
				if att, err = Attachments(); err != nil {
					t.Fatal(err)
				}
				progs = decapHooks(t, n.index)
			})
			if d := fmt.Sprint(att); d != fmt.Sprintf("map[%s:%s]", decapLink, hook) {
				t.Errorf("attachments %s", d)
			}
			if progs != 1 {
				t.Errorf("%d decap programs on the link after attaching twice, want 1", progs)
			}

			inner := innerPkt{src: netip.AddrPortFrom(decapCIP4, 4000), dst: netip.AddrPortFrom(decapVIP4, 53), udp: true, payload: []byte("over the wire")}.bytes()
			n.do(t, func() { sendFrame(t, decapLink+"p", outer{src: decapDIP4, dst: decapRIP4}.ipip(inner)) })
			_ = sock.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 100)
			k, from, err := sock.ReadFrom(buf)
			if err != nil {
				t.Fatalf("the unwrapped datagram did not arrive: %v", err)
			}
			if string(buf[:k]) != "over the wire" || from.String() != "198.18.0.100:4000" {
				t.Errorf("got %q from %s", buf[:k], from)
			}

			n.do(t, func() {
				if err := Detach(dir, decapLink); err != nil {
					t.Fatal(err)
				}
				if att, err = Attachments(); err != nil {
					t.Fatal(err)
				}
				progs = decapHooks(t, n.index)
				l, err := netlink.LinkByName(decapLink)
				if err != nil {
					t.Fatal(err)
				}
				qs, err := netlink.QdiscList(l)
				if err != nil {
					t.Fatal(err)
				}
				for _, q := range qs {
					if q.Type() == "clsact" {
						t.Error("the clsact qdisc stayed")
					}
				}
			})
			if len(att) != 0 || progs != 0 {
				t.Errorf("after detaching: attachments %v, %d programs", att, progs)
			}
			if err := RemovePins(dir); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, "v1")); !os.IsNotExist(err) {
				t.Errorf("pins after RemoveDecapPins: %v", err)
			}
		})
	}
}

// decapHooks counts the decapsulation programs on link index, over TCX
// and clsact.
func decapHooks(t *testing.T, index int) int {
	t.Helper()
	n := 0
	res, err := link.QueryPrograms(link.QueryOptions{Target: index, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Programs {
		if isProgram(p.ID) {
			n++
		}
	}
	l, err := netlink.LinkByIndex(index)
	if err != nil {
		t.Fatal(err)
	}
	fs, _ := netlink.FilterList(l, netlink.HANDLE_MIN_INGRESS)
	for _, f := range fs {
		if bf, ok := f.(*netlink.BpfFilter); ok && bf.Name == filterName {
			n++
		}
	}
	return n
}

// sendFrame sends an Ethernet frame out of link ifname through a packet
// socket.
func sendFrame(t *testing.T, ifname string, frame []byte) {
	t.Helper()
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: l.Attrs().Index, Halen: 6}); err != nil {
		t.Fatal(err)
	}
}
