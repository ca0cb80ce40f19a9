package testnet

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// UDPResponder answers every datagram it receives on its port, IPv4 and
// IPv6, with UDPReply(Name, datagram), sent from the address the datagram
// was addressed to (the VIP in DR and TUN, where the real server holds it
// on lo), and records what it received. Datagrams are read whole, up to
// 64 KiB, so a datagram the kernel reassembled from fragments is seen as
// one.
type UDPResponder struct {
	// Name identifies the responder in its replies ("rs1").
	Name string
	Port int

	conns []*net.UDPConn
	wg    sync.WaitGroup

	mu  sync.Mutex // protects got
	got []Datagram
}

// Datagram is a datagram a UDPResponder received.
type Datagram struct {
	// From is the sender as the responder saw it: the client's own
	// address in every method.
	From netip.AddrPort
	// To is the address the datagram was sent to.
	To netip.Addr
	// Len is the payload's length in bytes.
	Len int
	// Sum is the payload's SHA-256.
	Sum [sha256.Size]byte
}

// StartUDPResponder starts a UDPResponder called name on port of every
// address of ns, IPv4 and IPv6; it stops when the test ends.
func (ns *Namespace) StartUDPResponder(name string, port int) *UDPResponder {
	t := ns.net.t
	t.Helper()
	u := &UDPResponder{Name: name, Port: port}
	t.Cleanup(u.stop)
	for _, l := range []struct {
		network, addr string
		level, opt    int
	}{
		{"udp4", "0.0.0.0", unix.IPPROTO_IP, unix.IP_PKTINFO},
		{"udp6", "::", unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO},
	} {
		pc, err := ns.ListenPacket(l.network, net.JoinHostPort(l.addr, strconv.Itoa(port)))
		if err != nil {
			t.Fatalf("udp responder %s: %v", name, err)
		}
		c := pc.(*net.UDPConn)
		u.conns = append(u.conns, c)
		if err := setsockoptInt(c, l.level, l.opt, 1); err != nil {
			t.Fatalf("udp responder %s: ask for packet info on %s: %v", name, l.network, err)
		}
		u.wg.Add(1)
		go u.serve(c)
	}
	return u
}

func setsockoptInt(c *net.UDPConn, level, opt, value int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, value) }); err != nil {
		return err
	}
	return serr
}

// serve answers datagrams until c is closed.
func (u *UDPResponder) serve(c *net.UDPConn) {
	defer u.wg.Done()
	buf := make([]byte, 1<<16)
	oob := make([]byte, 256)
	for {
		n, oobn, _, from, err := c.ReadMsgUDPAddrPort(buf, oob)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue // an ICMP error queued on the socket; keep serving
		}
		to, ok := pktinfoDest(oob[:oobn])
		if !ok {
			continue
		}
		payload := buf[:n]
		u.mu.Lock()
		u.got = append(u.got, Datagram{From: from, To: to, Len: n, Sum: sha256.Sum256(payload)})
		u.mu.Unlock()
		var info []byte
		if to.Is4() {
			info = unix.PktInfo4(&unix.Inet4Pktinfo{Spec_dst: to.As4()})
		} else {
			info = unix.PktInfo6(&unix.Inet6Pktinfo{Addr: to.As16()})
		}
		_, _, _ = c.WriteMsgUDPAddrPort(UDPReply(u.Name, payload), info, from)
	}
}

// pktinfoDest returns the destination address that IP_PKTINFO or
// IPV6_PKTINFO reports in oob.
func pktinfoDest(oob []byte) (netip.Addr, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return netip.Addr{}, false
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_PKTINFO && len(m.Data) >= unix.SizeofInet4Pktinfo:
			// struct in_pktinfo: ifindex, spec_dst, addr (the header's
			// destination).
			return netip.AddrFrom4([4]byte(m.Data[8:12])), true
		case m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_PKTINFO && len(m.Data) >= unix.SizeofInet6Pktinfo:
			return netip.AddrFrom16([16]byte(m.Data[:16])), true
		}
	}
	return netip.Addr{}, false
}

func (u *UDPResponder) stop() {
	for _, c := range u.conns {
		c.Close()
	}
	u.wg.Wait()
}

// Received returns the datagrams received so far, oldest first.
func (u *UDPResponder) Received() []Datagram {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Datagram(nil), u.got...)
}

// UDPReply is a UDPResponder's reply to payload: the line
// "<name> <length> <sha256 hex>\n" followed by payload itself, so that the
// reply is as large as the datagram (and is fragmented when it was).
func UDPReply(name string, payload []byte) []byte {
	head := fmt.Sprintf("%s %d %x\n", name, len(payload), sha256.Sum256(payload))
	return append([]byte(head), payload...)
}

// ParseUDPReply returns the responder's name of a UDPReply and checks that
// the reply is whole: its length, checksum and echoed payload agree with
// sent.
func ParseUDPReply(reply, sent []byte) (name string, err error) {
	head, echo, ok := bytes.Cut(reply, []byte("\n"))
	if !ok {
		return "", fmt.Errorf("reply of %d bytes has no report line", len(reply))
	}
	var n int
	var sum string
	if _, err := fmt.Sscanf(string(head), "%s %d %s", &name, &n, &sum); err != nil {
		return "", fmt.Errorf("report line %q: %w", head, err)
	}
	want := fmt.Sprintf("%x", sha256.Sum256(sent))
	switch {
	case n != len(sent) || sum != want:
		return name, fmt.Errorf("%s received %d bytes with sha256 %s, want the %d bytes sent (sha256 %s)", name, n, sum, len(sent), want)
	case !bytes.Equal(echo, sent):
		return name, fmt.Errorf("%s's reply echoes %d bytes, want the %d bytes sent", name, len(echo), len(sent))
	}
	return name, nil
}
