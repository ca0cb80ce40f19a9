// Package decaptest is a stand-in for an LVS-TUN director in tests of the
// real servers' decapsulation: it loads bpf/decap_test.c, whose program
// wraps packets to a VIP in a tunnel on a sender's egress, the way
// ip_vs_tunnel_xmit does. Nothing outside tests imports it, so lvsrs and
// lvsd do not carry its object.
package decaptest

import (
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"github.com/vishvananda/netlink"

	"golvs/internal/datapath/bpffs"
	"golvs/internal/datapath/decap"
	"golvs/internal/datapath/wire"
)

// Tunnel is what Encap.Attach wraps: packets to VIP leave in a tunnel of
// kind Kind from Src to Dst (GUE: to Port).
type Tunnel struct {
	VIP      netip.Addr
	Src, Dst netip.Addr
	Kind     decap.Tunnel
	Port     uint16
}

// Encap is the loaded director stand-in. Its map is not pinned: it goes
// with Close.
type Encap struct {
	objs decapTestObjects
}

// Open loads the director stand-in.
func Open() (*Encap, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("open encap: %w", bpffs.Classify(err))
	}
	e := &Encap{}
	if err := loadDecapTestObjects(&e.objs, nil); err != nil {
		return nil, fmt.Errorf("open encap: %w", bpffs.Classify(err))
	}
	return e, nil
}

// Close releases the program and its map; a link Attach made stays until
// its detach function runs.
func (e *Encap) Close() error { return e.objs.Close() }

// Attach makes the program wrap packets as t says and attaches it to TC
// egress of link ifname in the calling thread's network namespace, and
// returns the function that detaches it. One tunnel at a time: a later
// Attach changes what every attachment wraps.
func (e *Encap) Attach(ifname string, t Tunnel) (func() error, error) {
	vip, err := vipKey(t.VIP)
	if err != nil {
		return nil, err
	}
	src, err := vipKey(t.Src)
	if err != nil {
		return nil, err
	}
	dst, err := vipKey(t.Dst)
	if err != nil {
		return nil, err
	}
	if src.Family != dst.Family {
		return nil, fmt.Errorf("encap: outer %s and %s differ in family", t.Src, t.Dst)
	}
	switch t.Kind {
	case decap.TunnelIPIP, decap.TunnelGUE, decap.TunnelGRE:
	default:
		return nil, fmt.Errorf("encap: kind %v: want one kind", t.Kind)
	}
	v := decapTestDecapTestTunnel{Vip: vip, Saddr: src.Addr, Daddr: dst.Addr, Family: src.Family, Kind: uint8(t.Kind), Port: wire.Hton(t.Port)}
	if err := e.objs.DecapTestTunnels.Put(uint32(0), v); err != nil {
		return nil, fmt.Errorf("encap: %w", err)
	}
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("encap on %s: %w", ifname, err)
	}
	tl, err := link.AttachTCX(link.TCXOptions{Interface: l.Attrs().Index, Program: e.objs.DecapTestEncap, Attach: ebpf.AttachTCXEgress})
	if err != nil {
		return nil, fmt.Errorf("encap on %s: %w", ifname, bpffs.Classify(err))
	}
	return tl.Close, nil
}

// vipKey puts address a as struct decap_vip_key holds it.
func vipKey(a netip.Addr) (decapTestDecapVipKey, error) {
	b, is6, ok := wire.Addr(a.Unmap())
	if !ok {
		return decapTestDecapVipKey{}, fmt.Errorf("VIP %v: not a plain IPv4 or IPv6 address", a)
	}
	k := decapTestDecapVipKey{Addr: b, Family: uint8(decapTestDecapFamilyDECAP_AF_INET)}
	if is6 {
		k.Family = uint8(decapTestDecapFamilyDECAP_AF_INET6)
	}
	return k, nil
}
