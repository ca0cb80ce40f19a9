package e2e

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"golvs/internal/testnet"
)

// closedPort is a UDP port nothing listens on, on the real servers and on
// the client.
const closedPort = 9001

// TestPrivilegedICMPPortUnreachable sends a datagram through a UDP
// virtual service to a port the real servers do not listen on. The real
// server's ICMP port unreachable must reach the client as an error about
// the datagram it sent, to VIP:port: its connected socket reports
// ECONNREFUSED (the kernel matches the quoted header to the socket), and
// the error comes from the VIP. In NAT the director must translate it
// (outer source and quoted destination back to the VIP, as IPVS's
// ip_vs_out_icmp); in DR and TUN the real server sends it from the VIP
// itself.
func TestPrivilegedICMPPortUnreachable(t *testing.T) {
	tests := []struct {
		method testnet.Method
		v6     bool
		flag   string
	}{
		{testnet.NAT, false, "-m"},
		{testnet.NAT, true, "-m"},
		{testnet.DR, false, "-g"},
		{testnet.DR, true, "-g"},
		{testnet.TUN, false, "-i"},
		{testnet.TUN, true, "-i"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s IPv%d", tc.method, map[bool]int{false: 4, true: 6}[tc.v6]), func(t *testing.T) {
			o := testnet.Options{Method: tc.method}
			if tc.method == testnet.TUN {
				o.LVSRS = lvsrsBinary(t)
			}
			l := newLabWith(t, o)
			vip, client, reals := testnet.VIP, testnet.ClientAddr, testnet.RealAddrs
			if tc.v6 {
				vip, client, reals = testnet.VIP6, testnet.ClientAddr6, testnet.RealAddrs6
			}
			svc := netip.AddrPortFrom(vip, closedPort)
			l.adm("-A", "-u", svc.String(), "-s", "rr")
			for _, r := range reals {
				l.adm("-a", "-u", svc.String(), "-r", netip.AddrPortFrom(r, closedPort).String(), tc.flag)
			}
			icmp := listenICMP(t, l.Client, client)
			conn, err := l.Client.Dial(context.Background(), "udp", svc.String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			refused := false
			buf := make([]byte, 1500)
			for range 3 {
				if _, err := conn.Write([]byte("is anybody there?")); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
					t.Fatal(err)
				}
				conn.SetReadDeadline(time.Now().Add(time.Second))
				_, err := conn.Read(buf)
				if errors.Is(err, syscall.ECONNREFUSED) {
					refused = true
					break
				}
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("read on the socket connected to %s: %v, want ECONNREFUSED", svc, err)
				}
			}
			if !refused {
				t.Fatalf("the client's socket connected to %s saw no ECONNREFUSED after three datagrams: the real server's port unreachable did not reach it as an error about %s\nlvsadm -Ln --stats:\n%s", svc, svc, l.adm("-Ln", "--stats"))
			}
			m, ok := icmp.find(func(m icmpMessage) bool { return m.unreachable() })
			if !ok {
				t.Fatalf("the client's raw ICMP socket saw no destination unreachable; it saw %v", icmp.all())
			}
			if m.From != vip || m.QuotedDst != svc || m.QuotedSrc != netip.MustParseAddrPort(conn.LocalAddr().String()) {
				t.Errorf("port unreachable at the client: from %s quoting %s → %s, want from %s quoting %s → %s",
					m.From, m.QuotedSrc, m.QuotedDst, vip, conn.LocalAddr(), svc)
			}
		})
	}
}

// TestPrivilegedICMPToRealServer has the client send an ICMP error about a
// NAT connection: a datagram from a client port with no socket reaches a
// real server, whose reply makes the client's kernel answer "port
// unreachable" to the VIP. The director must deliver it to that real
// server with the quoted header translated back to what the real server
// sent (ip_vs_in_icmp): the real server's kernel then finds its socket
// (bound to the real's own address, so an error still quoting the VIP
// would find none and count in IcmpInErrors).
func TestPrivilegedICMPToRealServer(t *testing.T) {
	const port = 9002
	for _, v6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("NAT IPv%d", map[bool]int{false: 4, true: 6}[v6]), func(t *testing.T) {
			l := newLabWith(t, testnet.Options{Method: testnet.NAT})
			vip, client, mib := testnet.VIP, testnet.ClientAddr, "Icmp"
			if v6 {
				vip, client, mib = testnet.VIP6, testnet.ClientAddr6, "Icmp6"
			}
			svc := netip.AddrPortFrom(vip, port)
			l.adm("-A", "-u", svc.String(), "-s", "rr")
			echo := map[string]*echoServer{}
			for _, r := range l.Reals {
				ra := r.Addr
				if v6 {
					ra = r.Addr6
				}
				l.adm("-a", "-u", svc.String(), "-r", netip.AddrPortFrom(ra, port).String(), "-m")
				echo[r.Name] = startEcho(t, r.NS, netip.AddrPortFrom(ra, port))
			}
			type counts struct{ unreach, errs uint64 }
			countsOf := func(r *testnet.Real) counts {
				return counts{nstat(t, r.NS, mib+"InDestUnreachs"), nstat(t, r.NS, mib+"InErrors")}
			}
			before := map[string]counts{}
			for _, r := range l.Reals {
				before[r.Name] = countsOf(r)
			}
			// A source port with no socket: the reply is refused.
			src := netip.AddrPortFrom(client, 45678)
			sendRawUDP(t, l.Client, src, svc, []byte("nobody listens here"))
			var got *testnet.Real
			testnet.WaitFor(3*time.Second, func() bool {
				for _, r := range l.Reals {
					if echo[r.Name].heard(src) {
						got = r
						return true
					}
				}
				return false
			})
			if got == nil {
				t.Fatalf("no real server received the datagram from %s to %s", src, svc)
			}
			var after counts
			testnet.WaitFor(3*time.Second, func() bool {
				after = countsOf(got)
				return after.unreach > before[got.Name].unreach
			})
			if b := before[got.Name]; after.unreach != b.unreach+1 || after.errs != b.errs {
				t.Errorf("%s, which answered %s: %sInDestUnreachs %d → %d, %sInErrors %d → %d; want one port unreachable from the client, matched to its socket (InErrors unchanged)",
					got.Name, src, mib, b.unreach, after.unreach, mib, b.errs, after.errs)
			}
			for _, r := range l.Reals {
				if r != got {
					if c := countsOf(r); c != before[r.Name] {
						t.Errorf("%s, which did not answer, got ICMP: %+v → %+v", r.Name, before[r.Name], c)
					}
				}
			}
		})
	}
}

// TestPrivilegedPingVIP pings the VIP over IPv4 and IPv6 while services
// on it are forwarded in DR, where the real servers hold the VIP too:
// the director's own kernel must answer (ICMP echo is not a golvs flow),
// no real server may see the requests.
func TestPrivilegedPingVIP(t *testing.T) {
	for _, tc := range []struct {
		name          string
		vs            virtualService
		replies, reqs string
	}{
		{"IPv4", virtualService{VIP: testnet.VIP, Client: testnet.ClientAddr, Reals: testnet.RealAddrs}, "IcmpOutEchoReps", "IcmpInEchos"},
		{"IPv6", virtualService{VIP: testnet.VIP6, Client: testnet.ClientAddr6, Reals: testnet.RealAddrs6}, "Icmp6OutEchoReplies", "Icmp6InEchos"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLabWith(t, testnet.Options{Method: testnet.DR})
			l.adm("-A", "-t", tc.vs.addr(), "-s", "rr")
			for i := range tc.vs.Reals {
				l.adm("-a", "-t", tc.vs.addr(), "-r", tc.vs.real(i), "-g")
			}
			const n = 3
			before := nstat(t, l.Director, tc.replies)
			realsBefore := map[string]uint64{}
			for _, r := range l.Reals {
				realsBefore[r.Name] = nstat(t, r.NS, tc.reqs)
			}
			icmp := listenICMP(t, l.Client, tc.vs.Client)
			for seq := range n {
				icmp.sendEcho(t, tc.vs.VIP, seq)
			}
			testnet.WaitFor(3*time.Second, func() bool { return len(icmp.echoReplies(tc.vs.VIP)) == n })
			if got := icmp.echoReplies(tc.vs.VIP); len(got) != n {
				t.Errorf("ping %s: %d echo replies from the VIP (sequence numbers %v), want %d", tc.vs.VIP, len(got), got, n)
			}
			if d := nstat(t, l.Director, tc.replies) - before; d != n {
				t.Errorf("ping %s: the director's %s grew by %d, want %d: its kernel answers", tc.vs.VIP, tc.replies, d, n)
			}
			for _, r := range l.Reals {
				if d := nstat(t, r.NS, tc.reqs) - realsBefore[r.Name]; d != 0 {
					t.Errorf("ping %s: %s received %d echo requests, want none", tc.vs.VIP, r.Name, d)
				}
			}
			// Forwarding still works: ping took nothing from the service.
			if got := l.fetchNames(tc.vs.url(), 2); !slices.Contains(got, "rs1") || !slices.Contains(got, "rs2") {
				t.Errorf("curl %s after ping went to %v, want both real servers", tc.vs.url(), got)
			}
		})
	}
}

// icmpMessage is an ICMP or ICMPv6 message a raw socket received.
type icmpMessage struct {
	From       netip.Addr
	Type, Code byte
	// Echo replies: ID and Seq.
	ID, Seq uint16
	// Errors: the quoted datagram's addresses and (UDP, TCP) ports.
	QuotedSrc, QuotedDst netip.AddrPort
}

func (m icmpMessage) unreachable() bool {
	if m.From.Is4() {
		return m.Type == 3 && m.Code == 3 // port unreachable
	}
	return m.Type == 1 && m.Code == 4
}

// icmpListener collects the ICMP messages that reach an address of a
// namespace.
type icmpListener struct {
	conn net.PacketConn
	v6   bool
	mu   sync.Mutex
	msgs []icmpMessage
	done chan struct{}
}

// listenICMP opens a raw ICMP (or ICMPv6) socket on addr in ns that
// records every message until the test ends.
func listenICMP(t *testing.T, ns *testnet.Namespace, addr netip.Addr) *icmpListener {
	t.Helper()
	network := "ip4:icmp"
	if addr.Is6() {
		network = "ip6:ipv6-icmp"
	}
	c, err := ns.ListenPacket(network, addr.String())
	if err != nil {
		t.Fatal(err)
	}
	l := &icmpListener{conn: c, v6: addr.Is6(), done: make(chan struct{})}
	t.Cleanup(func() { c.Close(); <-l.done })
	go func() {
		defer close(l.done)
		buf := make([]byte, 1<<16)
		for {
			n, from, err := c.ReadFrom(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil || n < 8 {
				continue
			}
			ip, _ := netip.AddrFromSlice(from.(*net.IPAddr).IP)
			l.mu.Lock()
			l.msgs = append(l.msgs, parseICMP(ip.Unmap(), buf[:n]))
			l.mu.Unlock()
		}
	}()
	return l
}

// parseICMP decodes an ICMP message (without the IP header, as raw
// sockets return it in Go).
func parseICMP(from netip.Addr, b []byte) icmpMessage {
	m := icmpMessage{From: from, Type: b[0], Code: b[1], ID: binary.BigEndian.Uint16(b[4:]), Seq: binary.BigEndian.Uint16(b[6:])}
	q := b[8:]
	if from.Is4() && len(q) >= 20 {
		ihl := int(q[0]&0x0f) * 4
		if len(q) >= ihl+4 {
			m.QuotedSrc = netip.AddrPortFrom(netip.AddrFrom4([4]byte(q[12:16])), binary.BigEndian.Uint16(q[ihl:]))
			m.QuotedDst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(q[16:20])), binary.BigEndian.Uint16(q[ihl+2:]))
		}
	}
	if from.Is6() && len(q) >= 44 {
		m.QuotedSrc = netip.AddrPortFrom(netip.AddrFrom16([16]byte(q[8:24])), binary.BigEndian.Uint16(q[40:]))
		m.QuotedDst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(q[24:40])), binary.BigEndian.Uint16(q[42:]))
	}
	return m
}

func (l *icmpListener) all() []icmpMessage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]icmpMessage(nil), l.msgs...)
}

// find waits up to a second for a message that match accepts.
func (l *icmpListener) find(match func(icmpMessage) bool) (icmpMessage, bool) {
	var found icmpMessage
	ok := testnet.WaitFor(time.Second, func() bool {
		for _, m := range l.all() {
			if match(m) {
				found = m
				return true
			}
		}
		return false
	})
	return found, ok
}

// pingID identifies this test process's echo requests.
var pingID = uint16(os.Getpid())

// sendEcho sends an echo request with sequence number seq to dst.
func (l *icmpListener) sendEcho(t *testing.T, dst netip.Addr, seq int) {
	t.Helper()
	msg := make([]byte, 8+16)
	msg[0] = 8
	if l.v6 {
		msg[0] = 128 // the kernel fills in ICMPv6 checksums
	}
	binary.BigEndian.PutUint16(msg[4:], pingID)
	binary.BigEndian.PutUint16(msg[6:], uint16(seq))
	copy(msg[8:], "golvs ping")
	if !l.v6 {
		binary.BigEndian.PutUint16(msg[2:], ^onesSum(0, msg))
	}
	if _, err := l.conn.WriteTo(msg, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		t.Fatalf("echo request to %s: %v", dst, err)
	}
}

// echoReplies returns the sequence numbers of the echo replies from
// from to this process's requests.
func (l *icmpListener) echoReplies(from netip.Addr) []uint16 {
	var seqs []uint16
	for _, m := range l.all() {
		if m.From == from && m.ID == pingID && ((!l.v6 && m.Type == 0) || (l.v6 && m.Type == 129)) {
			seqs = append(seqs, m.Seq)
		}
	}
	return seqs
}

// onesSum adds b to sum in ones' complement, 16 bits at a time.
func onesSum(sum uint32, b []byte) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// sendRawUDP sends a UDP datagram from src (whose port need not have a
// socket) to dst through a raw socket in ns.
func sendRawUDP(t *testing.T, ns *testnet.Namespace, src, dst netip.AddrPort, payload []byte) {
	t.Helper()
	network := "ip4:udp"
	if src.Addr().Is6() {
		network = "ip6:udp"
	}
	c, err := ns.ListenPacket(network, src.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	udp := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:], src.Port())
	binary.BigEndian.PutUint16(udp[2:], dst.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], payload)
	// The checksum covers a pseudo-header: addresses, protocol, length.
	pseudo := append(append(src.Addr().AsSlice(), dst.Addr().AsSlice()...), 0, 17, byte(len(udp)>>8), byte(len(udp)))
	sum := ^onesSum(uint32(onesSum(0, pseudo)), udp)
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], sum)
	if _, err := c.WriteTo(udp, &net.IPAddr{IP: dst.Addr().AsSlice()}); err != nil {
		t.Fatalf("raw udp %s → %s: %v", src, dst, err)
	}
}

// echoServer answers each datagram with the same bytes and remembers who
// sent them.
type echoServer struct {
	mu      sync.Mutex
	senders map[netip.AddrPort]bool
}

// startEcho starts an echoServer on addr (a specific address, not the
// wildcard) in ns until the test ends.
func startEcho(t *testing.T, ns *testnet.Namespace, addr netip.AddrPort) *echoServer {
	t.Helper()
	c, err := ns.ListenPacket("udp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{senders: map[netip.AddrPort]bool{}}
	done := make(chan struct{})
	t.Cleanup(func() { c.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1<<16)
		for {
			n, from, err := c.ReadFrom(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue
			}
			ap := from.(*net.UDPAddr).AddrPort()
			e.mu.Lock()
			e.senders[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())] = true
			e.mu.Unlock()
			_, _ = c.WriteTo(buf[:n], from)
		}
	}()
	return e
}

func (e *echoServer) heard(from netip.AddrPort) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.senders[from]
}
