// Package decap loads the real servers' decapsulation program (bpf/decap.c)
// that lvsrs attaches: it pins and adopts its maps, sets what it unwraps,
// attaches it to links and detaches it, and reads its counters.
//
// Unlike the director's data plane (internal/datapath) it outlives the
// process that attached it: TCX links are pinned, clsact filters stay by
// themselves, and a later lvsrs finds both again.
package decap

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"golvs/internal/datapath/bpffs"
	"golvs/internal/datapath/testrun"
	"golvs/internal/datapath/wire"
)

// DefaultPinDir is where lvsrs pins the decapsulation program's maps
// and links unless told otherwise; versions live under it as v<N>.
const DefaultPinDir = "/sys/fs/bpf/lvsrs"

// ABIVersion is the decapsulation maps' layout version.
const ABIVersion = int(decapDecapAbiDECAP_ABI_VERSION)

// Limits of the decapsulation maps.
const (
	MaxVIPs  = int(decapDecapAbiDECAP_MAX_VIPS)
	MaxPorts = int(decapDecapAbiDECAP_MAX_PORTS)
)

// Verdicts the decapsulation program returns (TC_ACT_*).
const (
	// VerdictUnspec is TC_ACT_UNSPEC, what the program returns for every
	// packet it delivers, unwrapped or untouched: no verdict, so a later
	// TC program on the link still sees it, and the kernel takes it.
	VerdictUnspec = -1
	// VerdictShot is TC_ACT_SHOT: a tunnel packet to a VIP that cannot be
	// delivered, dropped.
	VerdictShot = 2
)

// Tunnel is a set of tunnel kinds the decapsulation program unwraps.
type Tunnel uint32

// Tunnel kinds, IPVS's --tun-type values.
const (
	// TunnelIPIP is IP-in-IP: IPv4 or IPv6 in IPv4 or IPv6.
	TunnelIPIP = Tunnel(decapDecapTunnelDECAP_TUN_IPIP)
	// TunnelGUE is Generic UDP Encapsulation to one of Config.GUEPorts.
	TunnelGUE = Tunnel(decapDecapTunnelDECAP_TUN_GUE)
	// TunnelGRE is GRE.
	TunnelGRE = Tunnel(decapDecapTunnelDECAP_TUN_GRE)
)

// String returns the kinds as ipvsadm names them, comma-separated.
func (t Tunnel) String() string {
	var names []string
	for _, k := range []struct {
		bit  Tunnel
		name string
	}{{TunnelIPIP, "ipip"}, {TunnelGUE, "gue"}, {TunnelGRE, "gre"}} {
		if t&k.bit != 0 {
			names = append(names, k.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// Config is what the decapsulation program unwraps: tunnels of the
// kinds in Tunnels whose inner destination is one of VIPs (GUE: to one of
// GUEPorts).
type Config struct {
	Tunnels  Tunnel
	VIPs     []netip.Addr
	GUEPorts []uint16
}

// Options configure Open.
type Options struct {
	// PinDir is the bpffs directory for the pins (DefaultPinDir if
	// empty); a bpffs is mounted there if it is not on one already.
	PinDir string
	// Logger receives attach events (slog.Default if nil).
	Logger *slog.Logger
}

// Program is the loaded decapsulation program with its pinned maps.
type Program struct {
	objs decapObjects
	dir  string // with the version component
	log  *slog.Logger
}

// progName is the program's name as the kernel reports it, which
// Attachments looks for.
const progName = "decap_ingress"

// filterName names the cls_bpf filter of the clsact fallback.
const filterName = "golvs-decap"

// filterPriority is the cls_bpf filter's priority on clsact ingress: below
// lvsd's (clsactPriority in internal/datapath), so that lvsd, on a host that is both, sees the
// unwrapped packet.
const filterPriority = 0xdec

// linkPrefix starts the name of a TCX link pin: link_<ifname>.
const linkPrefix = "link_"

// Open loads the decapsulation program, adopting the maps pinned by an
// earlier lvsrs (so counters and the VIP set survive), or pinning new ones.
func Open(opts Options) (*Program, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	root := opts.PinDir
	if root == "" {
		root = DefaultPinDir
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("open decap: %w", bpffs.Classify(err))
	}
	if err := bpffs.Ensure(root); err != nil {
		return nil, fmt.Errorf("open decap: %w", err)
	}
	if err := checkOtherVersions(root); err != nil {
		return nil, fmt.Errorf("open decap: %w", err)
	}
	dir := bpffs.VersionDir(root, ABIVersion)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open decap: %w", bpffs.Classify(err))
	}
	spec, err := loadDecap()
	if err != nil {
		return nil, fmt.Errorf("open decap: %w", err)
	}
	for _, name := range []string{decapMapDecapVips, decapMapDecapGuePorts, decapMapDecapCfg, decapMapDecapCounters} {
		spec.Maps[name].Pinning = ebpf.PinByName
	}
	d := &Program{dir: dir, log: log}
	err = spec.LoadAndAssign(&d.objs, &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: dir}})
	if err != nil {
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			return nil, fmt.Errorf("open decap: %w: %v in %s; remove that directory (lvsrs --undo) and run lvsrs again", bpffs.ErrABIMismatch, err, dir)
		}
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("open decap: %w: %+v", bpffs.ErrNoBPF, ve)
		}
		return nil, fmt.Errorf("open decap: %w", bpffs.Classify(err))
	}
	return d, nil
}

// checkOtherVersions refuses pins of another layout: the program that
// uses them belongs to another lvsrs build.
func checkOtherVersions(root string) error {
	dir, other, err := bpffs.OtherVersion(root, ABIVersion)
	if err != nil || dir == "" {
		return err
	}
	return fmt.Errorf("%w: %s holds decap pins of ABI version %s, this lvsrs uses version %d; run the lvsrs that made them with --undo first",
		bpffs.ErrABIMismatch, root, other, ABIVersion)
}

// PinDir returns the directory the pins are in (with the version).
func (d *Program) PinDir() string { return d.dir }

// Close releases the program and maps; pins and attachments stay.
func (d *Program) Close() error { return d.objs.Close() }

// SetConfig makes the program unwrap exactly what c says: VIPs and ports
// not in c are removed from the maps.
func (d *Program) SetConfig(c Config) error {
	if c.Tunnels&^(TunnelIPIP|TunnelGUE|TunnelGRE) != 0 {
		return fmt.Errorf("set decap config: unknown tunnel bits %#x", uint32(c.Tunnels))
	}
	if len(c.VIPs) > MaxVIPs {
		return fmt.Errorf("set decap config: %d VIPs, at most %d", len(c.VIPs), MaxVIPs)
	}
	if len(c.GUEPorts) > MaxPorts {
		return fmt.Errorf("set decap config: %d GUE ports, at most %d", len(c.GUEPorts), MaxPorts)
	}
	want := map[decapDecapVipKey]bool{}
	for _, a := range c.VIPs {
		k, err := vipKey(a)
		if err != nil {
			return fmt.Errorf("set decap config: %w", err)
		}
		want[k] = true
	}
	ports := map[uint16]bool{}
	for _, p := range c.GUEPorts {
		if p == 0 {
			return errors.New("set decap config: GUE port 0")
		}
		ports[wire.Hton(p)] = true
	}
	for k := range want {
		if err := d.objs.DecapVips.Put(k, uint32(0)); err != nil {
			return fmt.Errorf("set decap VIP %s: %w", fromVIPKey(k), err)
		}
	}
	for p := range ports {
		if err := d.objs.DecapGuePorts.Put(p, uint32(0)); err != nil {
			return fmt.Errorf("set decap GUE port %d: %w", wire.Ntoh(p), err)
		}
	}
	if err := d.objs.DecapCfg.Put(uint32(0), decapDecapConfig{Tunnels: uint32(c.Tunnels)}); err != nil {
		return fmt.Errorf("set decap config: %w", err)
	}
	// Removals last: a VIP in both the old and the new set is never
	// missing in between.
	var stale []decapDecapVipKey
	var k decapDecapVipKey
	var v uint32
	it := d.objs.DecapVips.Iterate()
	for it.Next(&k, &v) {
		if !want[k] {
			stale = append(stale, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("list decap VIPs: %w", err)
	}
	for _, k := range stale {
		if err := d.objs.DecapVips.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("remove decap VIP %s: %w", fromVIPKey(k), err)
		}
	}
	var stalePorts []uint16
	var p uint16
	pit := d.objs.DecapGuePorts.Iterate()
	for pit.Next(&p, &v) {
		if !ports[p] {
			stalePorts = append(stalePorts, p)
		}
	}
	if err := pit.Err(); err != nil {
		return fmt.Errorf("list decap GUE ports: %w", err)
	}
	for _, p := range stalePorts {
		if err := d.objs.DecapGuePorts.Delete(p); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("remove decap GUE port %d: %w", wire.Ntoh(p), err)
		}
	}
	return nil
}

// Config returns what the program unwraps, VIPs and ports sorted.
func (d *Program) Config() (Config, error) {
	var c Config
	var cfg decapDecapConfig
	if err := d.objs.DecapCfg.Lookup(uint32(0), &cfg); err != nil {
		return c, fmt.Errorf("read decap config: %w", err)
	}
	c.Tunnels = Tunnel(cfg.Tunnels)
	var k decapDecapVipKey
	var v uint32
	it := d.objs.DecapVips.Iterate()
	for it.Next(&k, &v) {
		c.VIPs = append(c.VIPs, fromVIPKey(k))
	}
	if err := it.Err(); err != nil {
		return c, fmt.Errorf("read decap VIPs: %w", err)
	}
	var p uint16
	pit := d.objs.DecapGuePorts.Iterate()
	for pit.Next(&p, &v) {
		c.GUEPorts = append(c.GUEPorts, wire.Ntoh(p))
	}
	if err := pit.Err(); err != nil {
		return c, fmt.Errorf("read decap GUE ports: %w", err)
	}
	slices.SortFunc(c.VIPs, func(a, b netip.Addr) int { return a.Compare(b) })
	slices.Sort(c.GUEPorts)
	return c, nil
}

// counterNames are the names Counters reports, by enum decap_counter.
var counterNames = map[decapDecapCounter]string{
	decapDecapCounterDECAP_CNT_IPIP:             "decap_ipip",
	decapDecapCounterDECAP_CNT_GUE:              "decap_gue",
	decapDecapCounterDECAP_CNT_GRE:              "decap_gre",
	decapDecapCounterDECAP_CNT_REMCSUM:          "remcsum",
	decapDecapCounterDECAP_CNT_ECN_CE:           "ecn_ce",
	decapDecapCounterDECAP_CNT_PASS_NOT_IP:      "pass_not_ip",
	decapDecapCounterDECAP_CNT_PASS_NOT_TUNNEL:  "pass_not_tunnel",
	decapDecapCounterDECAP_CNT_PASS_TUNNEL_OFF:  "pass_tunnel_off",
	decapDecapCounterDECAP_CNT_PASS_FRAGMENT:    "pass_fragment",
	decapDecapCounterDECAP_CNT_PASS_MALFORMED:   "pass_malformed",
	decapDecapCounterDECAP_CNT_PASS_UNSUPPORTED: "pass_unsupported",
	decapDecapCounterDECAP_CNT_PASS_NOT_VIP:     "pass_not_vip",
	decapDecapCounterDECAP_CNT_PASS_NOT_HOST:    "pass_not_host",
	decapDecapCounterDECAP_CNT_PASS_OUTER_VIP:   "pass_outer_vip",
	decapDecapCounterDECAP_CNT_DROP_ADJUST:      "drop_adjust",
	decapDecapCounterDECAP_CNT_DROP_CSUM:        "drop_csum",
	decapDecapCounterDECAP_CNT_DROP_REMCSUM:     "drop_remcsum",
	decapDecapCounterDECAP_CNT_DROP_ECN:         "drop_ecn",
}

// CounterNames returns the names Counters reports, in the order of
// the program's counters.
func CounterNames() []string {
	out := make([]string, 0, len(counterNames))
	for c := range decapDecapCounterDECAP_CNT_MAX {
		if n, ok := counterNames[c]; ok {
			out = append(out, n)
		}
	}
	return out
}

// Counters returns the program's verdict counters by name ("decap_ipip",
// "pass_not_vip", "drop_csum", ...), summed over CPUs, since its maps were
// first pinned.
func (d *Program) Counters() (map[string]uint64, error) {
	out := make(map[string]uint64, len(counterNames))
	for c, name := range counterNames {
		var per []uint64
		if err := d.objs.DecapCounters.Lookup(uint32(c), &per); err != nil {
			return nil, fmt.Errorf("read decap counter %s: %w", name, err)
		}
		var sum uint64
		for _, v := range per {
			sum += v
		}
		out[name] = sum
	}
	return out, nil
}

// Attach attaches the program to TC ingress of link ifname, or replaces the
// program already attached there by an earlier lvsrs, and returns the hook
// ("tcx" or "clsact"). The attachment outlives the process: the TCX link is
// pinned, a clsact filter stays by itself. It works in the calling thread's
// network namespace.
func (d *Program) Attach(ifname string) (string, error) { return d.attach(ifname, true) }

// attach is Attach; without tcx it goes straight to clsact (the tests of
// the fallback on kernels with TCX).
func (d *Program) attach(ifname string, tcx bool) (string, error) {
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return "", fmt.Errorf("attach decap to %s: %w", ifname, err)
	}
	idx := l.Attrs().Index
	pin := filepath.Join(d.dir, linkPrefix+ifname)

	if tcx {
		if old, err := link.LoadPinnedLink(pin, nil); err == nil {
			info, ierr := old.Info()
			if ierr == nil && info.TCX() != nil && int(info.TCX().Ifindex) == idx {
				err := old.Update(d.objs.DecapIngress)
				old.Close()
				if err != nil {
					return "", fmt.Errorf("attach decap to %s: replace program: %w", ifname, bpffs.Classify(err))
				}
				d.log.Info("decap program replaced", slog.String("link", ifname), slog.String("hook", "tcx"))
				return "tcx", nil
			}
			// The link of a deleted (or recreated) interface: let it go.
			_ = old.Unpin()
			old.Close()
		}
		tl, err := link.AttachTCX(link.TCXOptions{
			Interface: idx,
			Program:   d.objs.DecapIngress,
			Attach:    ebpf.AttachTCXIngress,
			// First, so that other programs on the link see the inner packet.
			Anchor: link.Head(),
		})
		if err == nil {
			defer tl.Close()
			if err := tl.Pin(pin); err != nil {
				return "", fmt.Errorf("attach decap to %s: pin %s: %w", ifname, pin, bpffs.Classify(err))
			}
			d.log.Info("decap program attached", slog.String("link", ifname), slog.String("hook", "tcx"))
			return "tcx", nil
		}
		if !errors.Is(err, ebpf.ErrNotSupported) {
			return "", fmt.Errorf("attach decap to %s: tcx: %w", ifname, bpffs.Classify(err))
		}
	}

	qdisc := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: idx,
			Handle:    netlink.MakeHandle(0xffff, 0),
			Parent:    netlink.HANDLE_CLSACT,
		},
		QdiscType: "clsact",
	}
	if err := netlink.QdiscReplace(qdisc); err != nil {
		return "", fmt.Errorf("attach decap to %s: clsact qdisc: %w", ifname, bpffs.Classify(err))
	}
	if err := netlink.FilterReplace(filter(idx, d.objs.DecapIngress.FD())); err != nil {
		return "", fmt.Errorf("attach decap to %s: cls_bpf filter: %w", ifname, bpffs.Classify(err))
	}
	d.log.Info("decap program attached", slog.String("link", ifname), slog.String("hook", "clsact"))
	return "clsact", nil
}

func filter(ifindex, fd int) *netlink.BpfFilter {
	return &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: ifindex,
			Parent:    netlink.HANDLE_MIN_INGRESS,
			Handle:    1,
			Protocol:  unix.ETH_P_ALL,
			Priority:  filterPriority,
		},
		Fd:           fd,
		Name:         filterName,
		DirectAction: true,
	}
}

// Detach removes the decapsulation program from link ifname, whichever
// hook holds it, using the pins under pinDir (as given to Open). A link
// that no longer exists only loses its pin. It works in the calling thread's
// network namespace.
func Detach(pinDir, ifname string) error {
	if pinDir == "" {
		pinDir = DefaultPinDir
	}
	pin := filepath.Join(bpffs.VersionDir(pinDir, ABIVersion), linkPrefix+ifname)
	var errs []error
	if l, err := link.LoadPinnedLink(pin, nil); err == nil {
		// Unpinning drops the last reference: the link detaches when closed.
		if err := l.Unpin(); err != nil {
			errs = append(errs, fmt.Errorf("unpin %s: %w", pin, err))
		}
		l.Close()
	} else if !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("load %s: %w", pin, bpffs.Classify(err)))
	}
	if nl, err := netlink.LinkByName(ifname); err == nil {
		filters, err := netlink.FilterList(nl, netlink.HANDLE_MIN_INGRESS)
		if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("list filters: %w", err))
		}
		deleted := false
		for _, f := range filters {
			bf, ok := f.(*netlink.BpfFilter)
			if !ok || bf.Name != filterName {
				continue
			}
			if err := netlink.FilterDel(bf); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("delete cls_bpf filter: %w", err))
			}
			deleted = true
		}
		if deleted {
			removeEmptyClsact(nl)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("detach decap from %s: %w", ifname, err)
	}
	return nil
}

// removeEmptyClsact deletes the clsact qdisc of link l when no filter is
// left on it, so that undoing the fallback leaves the link as it was; one
// still in use (by lvsd, say) stays.
func removeEmptyClsact(l netlink.Link) {
	for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
		if fs, err := netlink.FilterList(l, parent); err != nil || len(fs) > 0 {
			return
		}
	}
	_ = netlink.QdiscDel(&netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	})
}

// Attachments returns the links of the calling thread's network
// namespace where a decapsulation program (any lvsrs's) is attached, with
// the hook, found by asking the kernel rather than trusting pins.
func Attachments() (map[string]string, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	out := map[string]string{}
	for _, l := range links {
		name, idx := l.Attrs().Name, l.Attrs().Index
		if res, err := link.QueryPrograms(link.QueryOptions{Target: idx, Attach: ebpf.AttachTCXIngress}); err == nil {
			for _, p := range res.Programs {
				if isProgram(p.ID) {
					out[name] = "tcx"
				}
			}
		}
		filters, err := netlink.FilterList(l, netlink.HANDLE_MIN_INGRESS)
		if err != nil {
			continue // no clsact qdisc
		}
		for _, f := range filters {
			if bf, ok := f.(*netlink.BpfFilter); ok && bf.Name == filterName {
				if _, tcx := out[name]; !tcx {
					out[name] = "clsact"
				}
			}
		}
	}
	return out, nil
}

func isProgram(id ebpf.ProgramID) bool {
	p, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return false
	}
	defer p.Close()
	info, err := p.Info()
	return err == nil && info.Name == progName
}

// OpenPinned opens the maps an lvsrs pinned under pinDir, read-only
// for the counters and the configuration, without loading the program.
// It returns an error wrapping fs.ErrNotExist when nothing is pinned there.
func OpenPinned(pinDir string) (*Program, error) {
	if pinDir == "" {
		pinDir = DefaultPinDir
	}
	dir := bpffs.VersionDir(pinDir, ABIVersion)
	d := &Program{dir: dir, log: slog.New(slog.DiscardHandler)}
	opts := &ebpf.LoadPinOptions{ReadOnly: true}
	for _, m := range []struct {
		name string
		dst  **ebpf.Map
	}{
		{decapMapDecapVips, &d.objs.DecapVips},
		{decapMapDecapGuePorts, &d.objs.DecapGuePorts},
		{decapMapDecapCfg, &d.objs.DecapCfg},
		{decapMapDecapCounters, &d.objs.DecapCounters},
	} {
		mp, err := ebpf.LoadPinnedMap(filepath.Join(dir, m.name), opts)
		if err != nil {
			d.objs.Close()
			return nil, fmt.Errorf("open pinned decap maps in %s: %w", dir, bpffs.Classify(err))
		}
		*m.dst = mp
	}
	return d, nil
}

// RemovePins removes the pinned maps and the pin directory under pinDir
// once no link is pinned there any more (Detach first).
func RemovePins(pinDir string) error {
	if pinDir == "" {
		pinDir = DefaultPinDir
	}
	dir := bpffs.VersionDir(pinDir, ABIVersion)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove decap pins: %w", err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), linkPrefix) {
			return fmt.Errorf("remove decap pins: %s is still pinned; detach it first", filepath.Join(dir, e.Name()))
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove decap pins: %w", err)
	}
	// The root too if it is empty now; it may be a bpffs mount point.
	_ = os.Remove(pinDir)
	return nil
}

// vipKey puts address a as struct decap_vip_key holds it.
func vipKey(a netip.Addr) (decapDecapVipKey, error) {
	b, is6, ok := wire.Addr(a.Unmap())
	if !ok {
		return decapDecapVipKey{}, fmt.Errorf("VIP %v: not a plain IPv4 or IPv6 address", a)
	}
	k := decapDecapVipKey{Addr: b, Family: uint8(decapDecapFamilyDECAP_AF_INET)}
	if is6 {
		k.Family = uint8(decapDecapFamilyDECAP_AF_INET6)
	}
	return k, nil
}

func fromVIPKey(k decapDecapVipKey) netip.Addr {
	return wire.FromAddr(k.Addr, k.Family == uint8(decapDecapFamilyDECAP_AF_INET6))
}

// Run passes frame once through the decapsulation program as if it
// had arrived on the link with index ifindex (0: the namespace's
// loopback), with a GSO size when gsoSize is not 0, in the calling
// thread's network namespace, and returns the verdict (VerdictUnspec,
// VerdictShot) and the frame as the program left it.
func (d *Program) Run(frame []byte, ifindex, gsoSize int) (verdict int, out []byte, err error) {
	if gsoSize < 0 || gsoSize > 0xffff {
		return 0, nil, fmt.Errorf("test run: gso size %d", gsoSize)
	}
	out = make([]byte, len(frame)+256)
	opts := &ebpf.RunOptions{Data: frame, DataOut: out}
	if ifindex > 0 || gsoSize > 0 {
		opts.Context = testrun.SKB{IngressIfindex: uint32(ifindex), Ifindex: uint32(ifindex), GSOSize: uint32(gsoSize)}
	}
	ret, err := d.objs.DecapIngress.Run(opts)
	if err != nil {
		return 0, nil, fmt.Errorf("test run: %w", err)
	}
	return int(int32(ret)), opts.DataOut, nil
}
