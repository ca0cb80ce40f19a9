// Package datapathtest runs packet fixtures through the real data plane:
// a network namespace with fixed links, addresses and neighbours for
// deterministic FIB answers, a data plane with throw-away pins, and a table
// runner that compares verdicts, output bytes (layer by layer) and counter
// deltas; and Bench, which times the data plane's paths per packet.
package datapathtest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"golvs/internal/datapath"
	"golvs/internal/lvs"
	"golvs/internal/packet"
	"golvs/internal/testnet"
)

// Prefix starts the name of every namespace, link and pin directory this
// package makes.
const Prefix = "gltdp"

// RequirePrivileged skips t unless it can load BPF programs and make
// namespaces (root); with GOLVS_TEST_PRIVILEGED=1 it fails instead.
func RequirePrivileged(t testing.TB) {
	t.Helper()
	testnet.RequirePrivileged(t)
}

func suffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// PinDir returns a fresh directory on the host's bpffs for a test's pins,
// removed with everything in it when the test ends.
func PinDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("/sys/fs/bpf", Prefix+"-"+suffix())
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/bpf", &st); err != nil || st.Type != unix.BPF_FS_MAGIC {
		// No host bpffs: Open mounts one on the directory; unmount it.
		dir = filepath.Join(t.TempDir(), Prefix)
		t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
		return dir
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// Open opens a data plane pinned in PinDir(t), closed when the test ends.
func Open(t testing.TB, opts datapath.Options) *datapath.Datapath {
	t.Helper()
	if opts.PinDir == "" {
		opts.PinDir = PinDir(t)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	d, err := datapath.Open(opts)
	if err != nil {
		t.Fatalf("open data plane: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("close data plane: %v", err)
		}
	})
	return d
}

// Link is one end of a veth pair in a Net.
type Link struct {
	Name  string
	Index int
	MAC   net.HardwareAddr
	Addr  netip.Prefix
}

// Net is a network namespace laid out as a director: a client-side link
// and a real-side link (veth pairs whose peers stay in the namespace),
// forwarding on, and permanent neighbour entries for the client and the
// reals below, so FIB lookups give the same answer every run.
type Net struct {
	Name   string
	Client Link // clients and the VIP's subnet
	Reals  Link // the real servers' subnet
	// XDP runs every case through the XDP fast path first, then TC when
	// the fast path passes it (datapath.Harness.RunXDP), expecting what
	// TC alone gives: the same verdict, frame, stats and counters (the
	// fast path's xdp_fwd standing in for fwd_redirect). Taken collects
	// the names of the cases the fast path handled itself. GSO cases run
	// through TC alone: XDP never sees a GRO aggregate whole.
	XDP   bool
	Taken []string
	ns    netns.NsHandle
}

// The addresses of a Net (all in 198.18.0.0/15).
var (
	VIP        = netip.MustParseAddr("198.18.0.10")
	ClientAddr = netip.MustParseAddr("198.18.0.100")
	ClientMAC  = net.HardwareAddr{0x02, 0, 0xc6, 0x12, 0x00, 0x64}
	// RealAddrs have neighbour entries with RealMACs; NoNeighAddr is on
	// the reals' subnet without one.
	RealAddrs   = []netip.Addr{netip.MustParseAddr("198.18.1.10"), netip.MustParseAddr("198.18.1.11"), netip.MustParseAddr("198.18.1.12")}
	RealMACs    = []net.HardwareAddr{{0x02, 0, 0xc6, 0x12, 0x01, 0x0a}, {0x02, 0, 0xc6, 0x12, 0x01, 0x0b}, {0x02, 0, 0xc6, 0x12, 0x01, 0x0c}}
	NoNeighAddr = netip.MustParseAddr("198.18.1.99")
	// Unrouted is an address no route of the Net covers.
	Unrouted = netip.MustParseAddr("198.19.99.1")
)

// NewNet makes a Net, deleted when the test ends.
func NewNet(t testing.TB) *Net {
	t.Helper()
	n := &Net{
		Name:   Prefix + "-" + suffix(),
		Client: Link{Name: Prefix + "c0", MAC: net.HardwareAddr{0x02, 0, 0xc6, 0x12, 0x00, 0x01}, Addr: netip.MustParsePrefix("198.18.0.1/24")},
		Reals:  Link{Name: Prefix + "r0", MAC: net.HardwareAddr{0x02, 0, 0xc6, 0x12, 0x01, 0x01}, Addr: netip.MustParsePrefix("198.18.1.1/24")},
	}
	n.ns = testnet.NewNamedNS(t, n.Name, n.setup)
	return n
}

// setup runs inside the namespace.
func (n *Net) setup() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return err
	}
	for _, l := range []*Link{&n.Client, &n.Reals} {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: l.Name, HardwareAddr: l.MAC}, PeerName: l.Name + "p"}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("add veth %s: %w", l.Name, err)
		}
		for _, name := range []string{l.Name, l.Name + "p"} {
			ln, err := netlink.LinkByName(name)
			if err != nil {
				return err
			}
			if err := netlink.LinkSetUp(ln); err != nil {
				return fmt.Errorf("up %s: %w", name, err)
			}
		}
		ln, err := netlink.LinkByName(l.Name)
		if err != nil {
			return err
		}
		l.Index = ln.Attrs().Index
		if err := netlink.AddrAdd(ln, &netlink.Addr{IPNet: prefixNet(l.Addr)}); err != nil {
			return fmt.Errorf("address %s on %s: %w", l.Addr, l.Name, err)
		}
	}
	// The VIP is a local address, as on an IPVS director.
	if err := netlink.AddrAdd(lo, &netlink.Addr{IPNet: prefixNet(netip.PrefixFrom(VIP, 32))}); err != nil {
		return fmt.Errorf("VIP on lo: %w", err)
	}
	neigh := func(l Link, a netip.Addr, mac net.HardwareAddr) error {
		return netlink.NeighSet(&netlink.Neigh{
			LinkIndex: l.Index, Family: unix.AF_INET, State: netlink.NUD_PERMANENT,
			IP: a.AsSlice(), HardwareAddr: mac,
		})
	}
	if err := neigh(n.Client, ClientAddr, ClientMAC); err != nil {
		return fmt.Errorf("neighbour %s: %w", ClientAddr, err)
	}
	for i, a := range RealAddrs {
		if err := neigh(n.Reals, a, RealMACs[i]); err != nil {
			return fmt.Errorf("neighbour %s: %w", a, err)
		}
	}
	// The FIB helper answers a forwarding lookup only where forwarding is on.
	return os.WriteFile("/proc/sys/net/ipv4/conf/all/forwarding", []byte("1"), 0o644)
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// Do runs fn on a thread in the namespace.
func (n *Net) Do(t testing.TB, fn func()) {
	t.Helper()
	testnet.DoIn(t, n.ns, n.Name, fn)
}

// Delta is the change a case expects in the counters it names; counters
// it does not name are not checked.
type Delta struct {
	Services map[datapath.ServiceID]lvs.Stats
	Reals    map[datapath.RealID]lvs.Stats
	// Conns is the change of (ActiveConn, InActConn) per real.
	Conns map[datapath.RealID][2]int
	// Verdicts is the change of datapath.Counters by name.
	Verdicts map[string]uint64
}

// Case is one packet fixture.
type Case struct {
	Name string
	// Setup changes the maps before the packet (optional).
	Setup func(t testing.TB, d *datapath.Datapath)
	In    []byte
	// Ifindex is the link the packet arrives on (default: Client).
	Ifindex int
	// GSOSize, when not 0, makes the packet a GSO one (a GRO aggregate).
	GSOSize int
	Verdict int
	// Out is the frame expected after the program; nil means In unchanged.
	Out  []byte
	Want Delta
	// Check runs last (optional): conn table contents and the like.
	Check func(t testing.TB, d *datapath.Datapath)
}

type snapshot struct {
	services map[datapath.ServiceID]lvs.Stats
	reals    map[datapath.RealID]lvs.Stats
	conns    map[datapath.RealID][2]int
	verdicts map[string]uint64
}

func take(t testing.TB, d *datapath.Datapath, w Delta) snapshot {
	t.Helper()
	s := snapshot{map[datapath.ServiceID]lvs.Stats{}, map[datapath.RealID]lvs.Stats{}, map[datapath.RealID][2]int{}, nil}
	for id := range w.Services {
		st, err := d.ServiceCounters([]datapath.ServiceID{id})
		if err != nil {
			t.Fatal(err)
		}
		s.services[id] = st[0]
	}
	for id := range w.Reals {
		c, err := d.RealCounters([]datapath.RealID{id})
		if err != nil {
			t.Fatal(err)
		}
		s.reals[id] = c[0].Stats
	}
	for id := range w.Conns {
		c, err := d.RealCounters([]datapath.RealID{id})
		if err != nil {
			t.Fatal(err)
		}
		s.conns[id] = [2]int{int(int32(c[0].ActiveConns)), int(int32(c[0].InActConns))}
	}
	var err error
	if s.verdicts, err = d.Counters(); err != nil {
		t.Fatal(err)
	}
	return s
}

func sub(a, b lvs.Stats) lvs.Stats {
	return lvs.Stats{Conns: a.Conns - b.Conns, InPkts: a.InPkts - b.InPkts, OutPkts: a.OutPkts - b.OutPkts,
		InBytes: a.InBytes - b.InBytes, OutBytes: a.OutBytes - b.OutBytes}
}

// Run runs the cases in order, as subtests, inside the namespace. Cases
// build on each other's connections.
func (n *Net) Run(t *testing.T, d *datapath.Datapath, cases []Case) {
	t.Helper()
	for _, c := range cases {
		if !t.Run(c.Name, func(t *testing.T) { n.RunCase(t, d, c) }) {
			// Later cases depend on the state this one should have left.
			t.Fatalf("stopping at %q", c.Name)
		}
	}
}

// RunCase runs one case.
func (n *Net) RunCase(t testing.TB, d *datapath.Datapath, c Case) {
	t.Helper()
	n.run(t, d, c, nil, packet.VerifyChecksums)
}

// run runs case c; fix, when not nil, adjusts the expected frame to the
// output (see XCase.Fix), and verify checks an expected output's checksums.
func (n *Net) run(t testing.TB, d *datapath.Datapath, c Case, fix func(t testing.TB, want, got []byte) []byte,
	verify func([]byte) error) {
	t.Helper()
	if c.Setup != nil {
		c.Setup(t, d)
	}
	ifindex := c.Ifindex
	if ifindex == 0 {
		ifindex = n.Client.Index
	}
	before := take(t, d, c.Want)
	var (
		verdict int
		out     []byte
		err     error
	)
	taken := false
	h := datapath.NewHarness(d)
	n.Do(t, func() {
		switch {
		case c.GSOSize != 0:
			verdict, out, err = h.RunGSO(c.In, ifindex, c.GSOSize)
		case n.XDP:
			verdict, out, taken, err = h.RunXDP(c.In, ifindex)
		default:
			verdict, out, err = h.Run(c.In, ifindex)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	after := take(t, d, c.Want)
	if taken {
		n.Taken = append(n.Taken, c.Name)
		fast := after.verdicts["xdp_fwd"] - before.verdicts["xdp_fwd"]
		after.verdicts["fwd_redirect"] += fast
		after.verdicts["xdp_fwd"] -= fast
	}

	if verdict != c.Verdict {
		t.Errorf("verdict %s, want %s", VerdictName(verdict), VerdictName(c.Verdict))
	}
	want := c.Out
	if want == nil {
		want = c.In
	}
	if fix != nil && c.Out != nil {
		want = fix(t, append([]byte(nil), want...), out)
	}
	if diff := packet.Diff(want, out); diff != "" {
		t.Errorf("output frame differs:\n%s", diff)
	}
	if c.Out != nil {
		if err := verify(out); err != nil {
			t.Errorf("output frame: %v", err)
		}
	}
	for id, w := range c.Want.Services {
		if got := sub(after.services[id], before.services[id]); got != w {
			t.Errorf("service %d stats changed by %+v, want %+v", id, got, w)
		}
	}
	for id, w := range c.Want.Reals {
		if got := sub(after.reals[id], before.reals[id]); got != w {
			t.Errorf("real %d stats changed by %+v, want %+v", id, got, w)
		}
	}
	for id, w := range c.Want.Conns {
		got := [2]int{after.conns[id][0] - before.conns[id][0], after.conns[id][1] - before.conns[id][1]}
		if got != w {
			t.Errorf("real %d (ActiveConn, InActConn) changed by %v, want %v", id, got, w)
		}
	}
	for name, w := range c.Want.Verdicts {
		if _, ok := after.verdicts[name]; !ok {
			t.Errorf("no counter %q", name)
		}
		if got := after.verdicts[name] - before.verdicts[name]; got != w {
			t.Errorf("counter %s changed by %d, want %d", name, got, w)
		}
	}
	if c.Check != nil {
		c.Check(t, d)
	}
}

// VerdictName names a TC verdict.
func VerdictName(v int) string {
	switch v {
	case datapath.VerdictOK:
		return "TC_ACT_OK"
	case datapath.VerdictShot:
		return "TC_ACT_SHOT"
	case datapath.VerdictRedirect:
		return "TC_ACT_REDIRECT"
	}
	return fmt.Sprintf("verdict %d", v)
}

// ErrNoConn is returned by FindConn when no live entry matches.
var ErrNoConn = errors.New("no such connection")

// FindConn returns the live connection from client to virtual.
func FindConn(d *datapath.Datapath, client, virtual netip.AddrPort) (datapath.Conn, error) {
	cs, err := d.Conns()
	if err != nil {
		return datapath.Conn{}, err
	}
	for _, c := range cs {
		if c.Client == client && c.Virtual == virtual {
			return c, nil
		}
	}
	return datapath.Conn{}, fmt.Errorf("%w: %s -> %s", ErrNoConn, client, virtual)
}
