package e2e

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golvs/internal/testnet"
)

// TestPrivilegedFragments sends UDP datagrams larger than the path MTU to
// a UDP virtual service, so that the client's kernel fragments them: every
// datagram must arrive whole at one real server (so all its fragments
// went to the same one), all datagrams of a flow at the same real server,
// the flows spread by rr, and every reply (as large as the datagram,
// fragmented by the real server) must come back whole. Non-first
// fragments carry no ports: they must not create connections.
func TestPrivilegedFragments(t *testing.T) {
	tests := []struct {
		name   string
		method testnet.Method
		v6     bool
		flag   string
		// clientMTU, when not 0, is the MTU of the client's route to the
		// VIP, so that its fragments plus the tunnel header still fit
		// the director's server link. (Not of the client's link: the
		// real servers' replies, fragmented for 1500 bytes, come back
		// over it.)
		clientMTU int
		// lossy allows one datagram lost to path-MTU discovery: a
		// full-size IPv6 fragment does not fit the tunnel, the director
		// answers "packet too big" and the client fragments smaller from
		// then on. (IPv4 fragments have DF clear: IPVS fragments the
		// tunnel packet, but a director may also answer "fragmentation
		// needed", which Linux clients follow.)
		lossy bool
	}{
		{"NAT IPv4", testnet.NAT, false, "-m", 0, false},
		{"NAT IPv6", testnet.NAT, true, "-m", 0, false},
		{"DR IPv4", testnet.DR, false, "-g", 0, false},
		{"DR IPv6", testnet.DR, true, "-g", 0, false},
		{"TUN IPv4 fragments that fit the tunnel", testnet.TUN, false, "-i", 1400, false},
		{"TUN IPv6 fragments that fit the tunnel", testnet.TUN, true, "-i", 1400, false},
		{"TUN IPv4 full-size fragments", testnet.TUN, false, "-i", 0, true},
		{"TUN IPv6 full-size fragments", testnet.TUN, true, "-i", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := testnet.Options{Method: tc.method}
			if tc.method == testnet.TUN {
				o.LVSRS = lvsrsBinary(t)
			}
			l := newLabWith(t, o)
			vip, client, reals := testnet.VIP, testnet.ClientAddr, testnet.RealAddrs
			if tc.v6 {
				vip, client, reals = testnet.VIP6, testnet.ClientAddr6, testnet.RealAddrs6
			}
			if tc.clientMTU != 0 {
				host := vip.String() + map[bool]string{false: "/32", true: "/128"}[tc.v6]
				l.Client.AddRoute(host, "dev", "eth0", "mtu", fmt.Sprint(tc.clientMTU))
			}
			svc := netip.AddrPortFrom(vip, testnet.UDPPort)
			l.adm("-A", "-u", svc.String(), "-s", "rr")
			for _, r := range reals {
				l.adm("-a", "-u", svc.String(), "-r", netip.AddrPortFrom(r, testnet.UDPPort).String(), tc.flag)
			}

			const flows = 4
			sizes := []int{4000, 9000, 4000}
			lost := 0
			flowReal := map[int]string{}
			sent := map[[sha256.Size]byte]int{} // datagram → flow
			for f := range flows {
				conn, err := l.Client.Dial(context.Background(), "udp", svc.String())
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				for i, size := range sizes {
					payload := datagram(f, i, size)
					sent[sha256.Sum256(payload)] = f
					name, n, err := udpRequest(conn, payload, 3)
					if err != nil {
						t.Fatalf("flow %d (%s), datagram %d of %d bytes to %s: %v", f, conn.LocalAddr(), i, size, svc, err)
					}
					lost += n
					if prev, ok := flowReal[f]; ok && prev != name {
						t.Errorf("flow %d (%s): datagram %d answered by %s, earlier ones by %s", f, conn.LocalAddr(), i, name, prev)
					}
					flowReal[f] = name
				}
			}
			if allowed := map[bool]int{true: 1, false: 0}[tc.lossy]; lost > allowed {
				t.Errorf("%d datagrams had to be sent again, want at most %d", lost, allowed)
			} else if lost > 0 {
				t.Logf("%d datagram lost to path-MTU discovery, as allowed", lost)
			}
			perReal := map[string]int{}
			for _, name := range flowReal {
				perReal[name]++
			}
			if perReal["rs1"] != flows/2 || perReal["rs2"] != flows/2 {
				t.Errorf("rr spread %d flows as %v, want %d on each real server", flows, perReal, flows/2)
			}

			// What the real servers received: whole datagrams only, from
			// the client's own address, each at its flow's real server.
			for _, r := range l.Reals {
				for _, d := range r.UDP.Received() {
					f, ok := sent[d.Sum]
					switch {
					case !ok:
						t.Errorf("%s received a datagram of %d bytes from %s that the client did not send whole (a part of one?)", r.Name, d.Len, d.From)
					case flowReal[f] != r.Name:
						t.Errorf("%s received a datagram of flow %d, which %s answers", r.Name, f, flowReal[f])
					case d.From.Addr() != client:
						t.Errorf("%s received a datagram from %s, want the client's own address %s", r.Name, d.From, client)
					}
				}
			}

			st := l.statsOf()
			if s := st["UDP "+svc.String()]; s.Conns != flows || s.InPkts == 0 {
				t.Errorf("lvsadm -Ln --stats --exact: UDP %s %+v, want %d conns (one per flow; fragments create none) and nonzero in packets", svc, s, flows)
			}
		})
	}
}

// datagram returns the payload of datagram i of flow f: size bytes that
// differ between datagrams.
func datagram(f, i, size int) []byte {
	b := []byte(strings.Repeat(fmt.Sprintf("flow %d datagram %d ", f, i), size/10+1))
	return b[:size]
}

// udpRequest sends payload on conn (connected to a virtual service of
// testnet's UDP responders) and waits for the reply, sending again when
// none comes within a second or the kernel reports that the path MTU
// shrank, at most tries times. It returns which
// real server answered and how many times the datagram had to be sent
// again.
func udpRequest(conn net.Conn, payload []byte, tries int) (string, int, error) {
	buf := make([]byte, 1<<16)
	var err error
	for try := range tries {
		if _, err = conn.Write(payload); err != nil {
			return "", try, fmt.Errorf("send: %w", err)
		}
		if err := conn.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
			return "", try, err
		}
		var n int
		n, err = conn.Read(buf)
		// EMSGSIZE: an ICMP "fragmentation needed" / "packet too big"
		// came back for the datagram; the kernel now fragments for the
		// smaller path MTU, and the application sends again.
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, syscall.EMSGSIZE) {
			continue
		}
		if err != nil {
			return "", try, fmt.Errorf("receive: %w", err)
		}
		name, err := testnet.ParseUDPReply(buf[:n], payload)
		return name, try, err
	}
	return "", tries, fmt.Errorf("no reply to %d tries: %w", tries, err)
}
