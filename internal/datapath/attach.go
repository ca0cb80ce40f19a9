package datapath

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
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

// attachment is the program's hook on one link.
type attachment interface {
	detach() error
	kind() string
}

// Attach attaches the data plane to TC ingress of link ifname, with TCX
// where the kernel has it (6.6+) and a clsact qdisc with a cls_bpf
// direct-action filter otherwise, and, unless Options.XDP is XDPOff, the
// XDP fast path in front of it. It works in the calling thread's network
// namespace.
func (d *Datapath) Attach(ifname string) error {
	return d.attach(ifname, true)
}

// attach is Attach; tcx false skips TCX for the clsact fallback (its
// tests, through export_test.go).
func (d *Datapath) attach(ifname string, tcx bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.links[ifname]; ok {
		return fmt.Errorf("attach %s: %w", ifname, ErrAttached)
	}
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("attach %s: %w", ifname, err)
	}
	tc, err := d.attachTC(ifname, l.Attrs().Index, tcx)
	if err != nil {
		return err
	}
	if d.xdp == XDPOff {
		d.links[ifname] = tc
		return nil
	}
	x, err := d.attachXDP(l)
	if err != nil {
		if derr := tc.detach(); derr != nil {
			err = errors.Join(err, fmt.Errorf("detach tc: %w", derr))
		}
		return fmt.Errorf("attach %s: %w", ifname, err)
	}
	d.links[ifname] = hooks{tc, x}
	return nil
}

// attachTC attaches lvs_ingress to TC ingress of link idx (named ifname),
// with TCX unless tcx is false or the kernel lacks it.
func (d *Datapath) attachTC(ifname string, idx int, tcx bool) (attachment, error) {
	if tcx {
		tl, err := link.AttachTCX(link.TCXOptions{
			Interface: idx,
			Program:   d.objs.LvsIngress,
			Attach:    ebpf.AttachTCXIngress,
		})
		if err == nil {
			d.log.Info("attached", slog.String("link", ifname), slog.String("hook", "tcx"))
			return tcxAttachment{tl}, nil
		}
		if !errors.Is(err, ebpf.ErrNotSupported) {
			return nil, fmt.Errorf("attach %s: tcx: %w", ifname, classify(err))
		}
	}

	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", ifname, err)
	}
	h, err := netlink.NewHandleAt(ns)
	ns.Close()
	if err != nil {
		return nil, fmt.Errorf("attach %s: netlink: %w", ifname, err)
	}
	qdisc := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: idx,
			Handle:    netlink.MakeHandle(0xffff, 0),
			Parent:    netlink.HANDLE_CLSACT,
		},
		QdiscType: "clsact",
	}
	if err := h.QdiscReplace(qdisc); err != nil {
		h.Close()
		return nil, fmt.Errorf("attach %s: clsact qdisc: %w", ifname, classify(err))
	}
	f := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: idx,
			Parent:    netlink.HANDLE_MIN_INGRESS,
			Handle:    1,
			Protocol:  unix.ETH_P_ALL,
			Priority:  clsactPriority,
		},
		Fd:           d.objs.LvsIngress.FD(),
		Name:         "golvs",
		DirectAction: true,
	}
	if err := h.FilterReplace(f); err != nil {
		h.Close()
		return nil, fmt.Errorf("attach %s: cls_bpf filter: %w", ifname, classify(err))
	}
	d.log.Info("attached", slog.String("link", ifname), slog.String("hook", "clsact"))
	return clsactAttachment{h, f}, nil
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

// Detach removes the data plane from link ifname.
func (d *Datapath) Detach(ifname string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.links[ifname]
	if !ok {
		return fmt.Errorf("detach %s: %w", ifname, ErrNotAttached)
	}
	delete(d.links, ifname)
	if err := a.detach(); err != nil {
		return fmt.Errorf("detach %s: %w", ifname, err)
	}
	d.log.Info("detached", slog.String("link", ifname), slog.String("hook", a.kind()))
	return nil
}

// Attached returns the hooks on each attached link: "tcx" or "clsact",
// followed by "+xdp-native" or "+xdp-generic" with the XDP fast path.
func (d *Datapath) Attached() map[string]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]string, len(d.links))
	for n, a := range d.links {
		out[n] = a.kind()
	}
	return out
}

// tcxAttachment is a TCX link (kernel 6.6+); closing it detaches.
type tcxAttachment struct{ l link.Link }

func (a tcxAttachment) detach() error { return a.l.Close() }
func (a tcxAttachment) kind() string  { return "tcx" }

// clsactAttachment is a cls_bpf direct-action filter on a clsact qdisc,
// for kernels before TCX. h is a netlink handle in the namespace of the
// link, so Close works from any thread.
type clsactAttachment struct {
	h *netlink.Handle
	f *netlink.BpfFilter
}

func (a clsactAttachment) detach() error {
	defer a.h.Close()
	err := a.h.FilterDel(a.f)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EINVAL) {
		return nil // the link or the qdisc went away, and the filter with it
	}
	return err
}
func (a clsactAttachment) kind() string { return "clsact" }

// clsactPriority is the cls_bpf filter's priority (and handle) on clsact
// ingress; a fixed one lets a restarted lvsd replace its own filter.
const clsactPriority = 0xc0de

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
