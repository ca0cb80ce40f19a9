package testnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// ProbePathMTU finds what the namespace's kernel learns about the path MTU
// toward dst: after one small datagram, so that the flow exists (a load
// balancer has a connection for it) before anything is too big, it sends
// UDP datagrams of size bytes (IP header included) with "don't fragment"
// set (IPv6 never fragments in transit) until the
// kernel's path MTU toward dst (IP_MTU, IPV6_MTU) falls below size, at
// most ten times over a second, and returns it. The first one that the
// path cannot carry must bring back an ICMP "fragmentation needed" or
// ICMPv6 "packet too big"; the kernel takes its MTU only when the error
// quotes a datagram this namespace sent to dst.
func (ns *Namespace) ProbePathMTU(dst netip.AddrPort, size int) (int, error) {
	c, err := ns.Dial(context.Background(), "udp", dst.String())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	rc, err := c.(*net.UDPConn).SyscallConn()
	if err != nil {
		return 0, err
	}
	level, discover, mtuOpt, hdr := unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_MTU, 20+8
	if dst.Addr().Is6() {
		level, discover, mtuOpt, hdr = unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_MTU, 40+8
	}
	var mtu int
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, discover, unix.IP_PMTUDISC_DO) }); err != nil || serr != nil {
		return 0, fmt.Errorf("set don't fragment: %w", errors.Join(err, serr))
	}
	if _, err := c.Write([]byte("hello")); err != nil {
		return 0, fmt.Errorf("first datagram to %s: %w", dst, err)
	}
	time.Sleep(50 * time.Millisecond)
	for range 10 {
		// EMSGSIZE here is the kernel already knowing a smaller MTU.
		_, _ = c.Write(make([]byte, size-hdr))
		time.Sleep(100 * time.Millisecond)
		if err := rc.Control(func(fd uintptr) { mtu, serr = unix.GetsockoptInt(int(fd), level, mtuOpt) }); err != nil || serr != nil {
			return 0, fmt.Errorf("path MTU toward %s: %w", dst, errors.Join(err, serr))
		}
		if mtu < size {
			return mtu, nil
		}
	}
	return mtu, fmt.Errorf("path MTU toward %s still %d after ten datagrams of %d bytes with don't fragment: no ICMP error came back", dst, mtu, size)
}

// FlushPathMTU makes the namespace's kernel forget the path MTUs it has
// learned, so that the next probe starts from the links' MTUs.
func (ns *Namespace) FlushPathMTU() error {
	for _, fam := range []string{"-4", "-6"} {
		if _, err := Run(context.Background(), "ip", "-n", ns.Name, fam, "route", "flush", "cache"); err != nil {
			return err
		}
	}
	return nil
}
