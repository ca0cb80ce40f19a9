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

// attachment is the program's hook on one link.
type attachment interface {
	detach() error
	kind() string
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

// Attach attaches the data plane to TC ingress of link ifname, with TCX
// where the kernel has it (6.6+) and a clsact qdisc with a cls_bpf
// direct-action filter otherwise, and, unless Options.XDP is XDPOff, the
// XDP fast path in front of it. It works in the calling thread's network
// namespace.
func (d *Datapath) Attach(ifname string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.links[ifname]; ok {
		return fmt.Errorf("attach %s: %w", ifname, ErrAttached)
	}
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("attach %s: %w", ifname, err)
	}
	tc, err := d.attachTC(ifname, l.Attrs().Index)
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

// attachTC attaches lvs_ingress to TC ingress of link idx (named ifname).
func (d *Datapath) attachTC(ifname string, idx int) (attachment, error) {
	if !d.forceClsact {
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
