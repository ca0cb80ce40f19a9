package datapath

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// XDPMode says whether and how Attach puts the XDP fast path (lvs_xdp) in
// front of the TC program.
type XDPMode string

const (
	// XDPOff attaches the TC program alone.
	XDPOff XDPMode = "off"
	// XDPNative runs lvs_xdp in the driver, before an skb exists, and
	// fails where the driver cannot.
	XDPNative XDPMode = "native"
	// XDPGeneric runs lvs_xdp on the skb (any link): it saves the TC
	// layer's work but not the skb's.
	XDPGeneric XDPMode = "generic"
	// XDPAuto is native where the driver runs XDP itself and can take
	// redirected frames, generic elsewhere (and on veth, see attachXDP).
	XDPAuto XDPMode = "auto"
)

// ParseXDPMode parses lvsd's --xdp value.
func ParseXDPMode(s string) (XDPMode, error) {
	switch m := XDPMode(s); m {
	case XDPOff, XDPNative, XDPGeneric, XDPAuto:
		return m, nil
	}
	return "", fmt.Errorf("xdp mode %q: want auto, native, generic or off", s)
}

// xdpAttachment is lvs_xdp's bpf_link on one link. A native one is also in
// lvs_xdp_tx, the links native XDP may redirect to.
type xdpAttachment struct {
	l      link.Link
	native bool
	idx    int
	d      *Datapath
}

func (a xdpAttachment) detach() error {
	var err error
	if a.native {
		if derr := a.d.objs.LvsXdpTx.Delete(uint32(a.idx)); derr != nil {
			err = fmt.Errorf("lvs_xdp_tx: %w", derr)
		}
	}
	return errors.Join(err, a.l.Close())
}

func (a xdpAttachment) kind() string {
	if a.native {
		return "xdp-native"
	}
	return "xdp-generic"
}

// hooks is what Attach made on one link with the XDP fast path: the TC
// program, then lvs_xdp.
type hooks []attachment

func (h hooks) detach() error {
	var errs []error
	for i := len(h) - 1; i >= 0; i-- {
		errs = append(errs, h[i].detach())
	}
	return errors.Join(errs...)
}

func (h hooks) kind() string {
	s := ""
	for i, a := range h {
		if i > 0 {
			s += "+"
		}
		s += a.kind()
	}
	return s
}

// attachXDP attaches lvs_xdp to l in d's mode.
//
// auto takes generic XDP on veth: a veth's native XDP delivers redirected
// frames only to a peer that runs XDP or NAPI (GRO) itself, which the
// director cannot see from its side, and a frame it refuses is lost. On
// other links auto tries the driver, then generic.
func (d *Datapath) attachXDP(l netlink.Link) (attachment, error) {
	idx := l.Attrs().Index
	native := d.xdp == XDPNative || (d.xdp == XDPAuto && l.Type() != "veth")
	var (
		xl  link.Link
		err error
	)
	if native {
		xl, err = link.AttachXDP(link.XDPOptions{Program: d.objs.LvsXdp, Interface: idx, Flags: link.XDPDriverMode})
		if err != nil && d.xdp == XDPNative {
			return nil, fmt.Errorf("xdp in native mode (the driver of %s may lack XDP; --xdp=generic runs it on any link): %w", l.Attrs().Name, classify(err))
		}
		if err != nil {
			d.log.Info("native XDP refused, using generic", slog.String("link", l.Attrs().Name), slog.Any("err", err))
			native = false
		}
	}
	if !native {
		xl, err = link.AttachXDP(link.XDPOptions{Program: d.objs.LvsXdp, Interface: idx, Flags: link.XDPGenericMode})
		if err != nil {
			return nil, fmt.Errorf("xdp in generic mode: %w", classify(err))
		}
	}
	a := xdpAttachment{l: xl, native: native, idx: idx, d: d}
	if native {
		if err := d.objs.LvsXdpTx.Put(uint32(idx), uint32(idx)); err != nil {
			_ = xl.Close()
			return nil, fmt.Errorf("lvs_xdp_tx: %w", err)
		}
	}
	d.log.Info("attached", slog.String("link", l.Attrs().Name), slog.String("hook", a.kind()))
	return a, nil
}
