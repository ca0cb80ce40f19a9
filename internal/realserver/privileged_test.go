package realserver

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/vishvananda/netlink"

	"golvs/internal/datapath/decap"
)

// hostView is what a test compares before and after: the sysctls lvsrs
// may touch, every link's addresses and where a decapsulation program is.
type hostView struct {
	Sysctls map[string]string
	Addrs   map[string][]string
	Decap   map[string]string
}

func view(t *testing.T, n *testNS) hostView {
	t.Helper()
	v := hostView{Sysctls: map[string]string{}, Addrs: map[string][]string{}}
	n.must(func() error {
		h, err := readHost()
		if err != nil {
			return err
		}
		devs := []string{"all", "default"}
		for _, l := range h.links {
			devs = append(devs, l.Name)
			for _, a := range h.addrs[l.Name] {
				// The kernel adds a link-local address some time after a
				// link comes up, which lvsrs never touches: leaving them
				// out keeps the views from depending on when they came.
				if a.Prefix.Addr().IsLinkLocalUnicast() {
					continue
				}
				v.Addrs[l.Name] = append(v.Addrs[l.Name], a.Prefix.String())
			}
			slices.Sort(v.Addrs[l.Name])
		}
		for _, d := range devs {
			for _, name := range []string{arpIgnore, arpAnnounce, rpFilter} {
				k := sysctlKey{d, name}
				if s, err := readSysctl(k); err == nil {
					v.Sysctls[k.String()] = s
				}
			}
		}
		v.Decap, err = decap.Attachments()
		return err
	})
	return v
}

// realServerNS is a namespace with one veth pair, gltrs0 and gltrs1, both
// up, IPv6 on, the sysctls of a fresh namespace except strict rp_filter in
// conf.all (as many distributions set it), and 198.18.0.11 on lo already.
func realServerNS(t *testing.T) *testNS {
	n := newTestNS(t, "rs")
	n.ip("link", "add", prefix+"0", "type", "veth", "peer", "name", prefix+"1")
	n.ip("link", "set", prefix+"0", "up")
	n.ip("link", "set", prefix+"1", "up")
	n.setSysctl("net/ipv4/conf/all/rp_filter", "1")
	n.ip("addr", "add", "198.18.0.11/32", "dev", "lo")
	return n
}

func TestPrivilegedSetupCheckUndo(t *testing.T) {
	n := realServerNS(t)
	o := Options{
		VIPs:     []netip.Addr{netip.MustParseAddr("198.18.0.10"), netip.MustParseAddr("198.18.0.11"), netip.MustParseAddr("2001:db8::10")},
		Tunnels:  decap.TunnelIPIP | decap.TunnelGUE,
		GUEPorts: []uint16{6080},
		StateDir: t.TempDir(),
		PinDir:   testPinDir(t),
	}
	before := view(t, n)

	var done []string
	n.must(func() (err error) { done, err = Setup(o); return err })
	t.Logf("setup:\n%s", strings.Join(done, "\n"))
	for _, want := range []string{
		"set net.ipv4.conf.all.arp_ignore=1 (was 0)",
		"set net.ipv4.conf.all.arp_announce=2 (was 0)",
		"set net.ipv4.conf.gltrs0.arp_ignore=1 (was 0)",
		"set net.ipv4.conf.gltrs1.rp_filter=2 (was 0)",
		"added 198.18.0.10/32 to lo",
		"added 2001:db8::10/128 to lo",
		"attached the decapsulation program to gltrs0 (tcx)",
		"attached the decapsulation program to gltrs1 (tcx)",
	} {
		if !slices.Contains(done, want) {
			t.Errorf("setup did not say %q", want)
		}
	}
	for _, l := range done {
		if (strings.HasPrefix(l, "added") || strings.HasPrefix(l, "removed")) && strings.Contains(l, "198.18.0.11") {
			t.Errorf("setup touched the VIP that was on lo before: %q", l)
		}
	}
	set := view(t, n)
	if got := set.Sysctls["net.ipv4.conf.gltrs0.rp_filter"]; got != "2" {
		t.Errorf("rp_filter on gltrs0 %s, want 2 (loose, since conf.all is strict)", got)
	}
	if !slices.Contains(set.Addrs["lo"], "2001:db8::10/128") {
		t.Errorf("lo has %v, no 2001:db8::10/128", set.Addrs["lo"])
	}
	if len(set.Decap) != 2 {
		t.Errorf("decap attached to %v, want gltrs0 and gltrs1", set.Decap)
	}

	var r Report
	n.must(func() (err error) { r, err = Check(Options{StateDir: o.StateDir, PinDir: o.PinDir}); return err })
	if !r.OK() {
		t.Errorf("check after setup found %v", r.Findings)
	}
	t.Log(r.Summary())

	state, err := os.ReadFile(statePath(o.StateDir))
	if err != nil {
		t.Fatal(err)
	}
	n.must(func() (err error) { done, err = Setup(o); return err })
	if len(done) != 0 {
		t.Errorf("second setup changed %q", done)
	}
	if again, _ := os.ReadFile(statePath(o.StateDir)); string(again) != string(state) {
		t.Errorf("second setup rewrote the state:\n%s\nwas\n%s", again, state)
	}
	if d := cmp.Diff(set, view(t, n)); d != "" {
		t.Errorf("second setup changed the host (-first +second):\n%s", d)
	}

	var status []string
	n.must(func() (err error) { status, err = Status(o); return err })
	if !slices.Contains(status, "decapsulation program on gltrs0 (tcx)") || !slices.ContainsFunc(status, func(s string) bool { return strings.HasPrefix(s, "counters: decap_ipip=0") }) {
		t.Errorf("status:\n%s", strings.Join(status, "\n"))
	}

	n.must(func() (err error) { done, err = Undo(Options{StateDir: o.StateDir}); return err })
	t.Logf("undo:\n%s", strings.Join(done, "\n"))
	if d := cmp.Diff(before, view(t, n)); d != "" {
		t.Errorf("undo did not restore the host (-before +after):\n%s", d)
	}
	if _, err := os.Stat(statePath(o.StateDir)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("state file after undo: %v", err)
	}
	if _, err := os.Stat(filepath.Join(o.PinDir, "v1")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("pins after undo: %v", err)
	}
	n.must(func() (err error) { done, err = Undo(Options{StateDir: o.StateDir}); return err })
	if len(done) != 1 || !strings.HasPrefix(done[0], "nothing to undo") {
		t.Errorf("second undo: %q", done)
	}
}

// TestPrivilegedSetupChangesAndUndoes runs Setup with one configuration
// and then another: the second removes only what the first added, and
// Undo still restores the host as it was before both.
func TestPrivilegedSetupChangesAndUndoes(t *testing.T) {
	n := realServerNS(t)
	o := Options{VIPs: []netip.Addr{netip.MustParseAddr("198.18.0.10")}, Tunnels: decap.TunnelGRE,
		Links: []string{prefix + "0", prefix + "1"}, StateDir: t.TempDir(), PinDir: testPinDir(t)}
	before := view(t, n)
	n.must(func() error { _, err := Setup(o); return err })

	o.VIPs = []netip.Addr{netip.MustParseAddr("198.18.0.11"), netip.MustParseAddr("198.18.0.12")}
	o.Tunnels, o.Links = decap.TunnelIPIP, []string{prefix + "1"}
	var done []string
	n.must(func() (err error) { done, err = Setup(o); return err })
	t.Logf("second setup:\n%s", strings.Join(done, "\n"))
	v := view(t, n)
	if slices.Contains(v.Addrs["lo"], "198.18.0.10/32") || !slices.Contains(v.Addrs["lo"], "198.18.0.11/32") || !slices.Contains(v.Addrs["lo"], "198.18.0.12/32") {
		t.Errorf("lo has %v after the second setup, want 198.18.0.11 (there before) and .12, not .10", v.Addrs["lo"])
	}
	if d := cmp.Diff(map[string]string{prefix + "1": "tcx"}, v.Decap); d != "" {
		t.Errorf("decap attachments (-want +got):\n%s", d)
	}
	var pinned decap.Config
	n.must(func() error {
		d, err := decap.OpenPinned(o.PinDir)
		if err != nil {
			return err
		}
		defer d.Close()
		pinned, err = d.Config()
		return err
	})
	if pinned.Tunnels != decap.TunnelIPIP || len(pinned.VIPs) != 2 {
		t.Errorf("pinned config %v", pinned)
	}

	o.Tunnels = 0
	n.must(func() (err error) { done, err = Setup(o); return err })
	if !slices.Contains(done, "removed the decapsulation program's pins") {
		t.Errorf("setup without a tunnel did not remove the pins: %q", done)
	}
	n.must(func() error { _, err := Undo(o); return err })
	if d := cmp.Diff(before, view(t, n)); d != "" {
		t.Errorf("undo did not restore the host (-before +after):\n%s", d)
	}
}

func TestPrivilegedBadInputChangesNothing(t *testing.T) {
	n := realServerNS(t)
	n.ip("addr", "add", "198.18.0.20/24", "dev", prefix+"0")
	dir, pins := t.TempDir(), testPinDir(t)
	vip := []netip.Addr{netip.MustParseAddr("198.18.0.10")}
	before := view(t, n)
	for _, c := range []struct {
		name string
		o    Options
		prep func()
		err  error
	}{
		{"unknown link", Options{VIPs: vip, Links: []string{"gltrs9"}}, nil, ErrUnknownLink},
		{"loopback link", Options{VIPs: vip, Links: []string{"lo"}, Tunnels: decap.TunnelIPIP}, nil, ErrUnknownLink},
		{"VIP on a link", Options{VIPs: []netip.Addr{netip.MustParseAddr("198.18.0.20")}}, nil, ErrVIPElsewhere},
		{"GUE without a port", Options{VIPs: vip, Tunnels: decap.TunnelGUE}, nil, ErrBadPort},
		{"IPv6 VIP with IPv6 off", Options{VIPs: append(vip, netip.MustParseAddr("2001:db8::10"))},
			func() { n.setSysctl("net/ipv6/conf/lo/disable_ipv6", "1") }, ErrNoIPv6},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.prep != nil {
				c.prep()
				defer n.setSysctl("net/ipv6/conf/lo/disable_ipv6", "0")
			}
			c.o.StateDir, c.o.PinDir = dir, pins
			var done []string
			err := n.do(func() (err error) { done, err = Setup(c.o); return err })
			if !errors.Is(err, c.err) {
				t.Errorf("error %v, want %v", err, c.err)
			}
			t.Log(err)
			if len(done) > 0 {
				t.Errorf("changed %q", done)
			}
		})
	}
	if d := cmp.Diff(before, view(t, n)); d != "" {
		t.Errorf("refused setups changed the host (-before +after):\n%s", d)
	}
	if _, err := os.Stat(statePath(dir)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("state file after refused setups: %v", err)
	}
	if _, err := os.Stat(pins); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("pin dir after refused setups: %v", err)
	}
}

// TestPrivilegedCheckFindsWhatSetupFixes breaks one thing at a time on a
// host lvsrs set up: check must report exactly that, and lvsrs run again
// must fix it.
func TestPrivilegedCheckFindsWhatSetupFixes(t *testing.T) {
	n := realServerNS(t)
	o := Options{
		VIPs:     []netip.Addr{netip.MustParseAddr("198.18.0.10"), netip.MustParseAddr("2001:db8::10")},
		Tunnels:  decap.TunnelIPIP,
		Links:    []string{prefix + "0"},
		StateDir: t.TempDir(),
		PinDir:   testPinDir(t),
	}
	n.must(func() error { _, err := Setup(o); return err })
	check := func() Report {
		t.Helper()
		var r Report
		n.must(func() (err error) { r, err = Check(Options{StateDir: o.StateDir, PinDir: o.PinDir}); return err })
		return r
	}
	if r := check(); !r.OK() {
		t.Fatalf("check after setup: %v", r.Findings)
	}
	for _, c := range []struct {
		name    string
		breakIt func()
		setting string
		// fixed: lvsrs run again repairs it (else the test restores it).
		fixed bool
		undo  func()
	}{
		{"VIP removed from lo", func() { n.ip("addr", "del", "198.18.0.10/32", "dev", "lo") }, "VIP 198.18.0.10", true, nil},
		{"IPv6 VIP removed from lo", func() { n.ip("addr", "del", "2001:db8::10/128", "dev", "lo") }, "VIP 2001:db8::10", true, nil},
		{"ARP answered for the VIP", func() {
			n.setSysctl("net/ipv4/conf/all/arp_ignore", "0")
			n.setSysctl("net/ipv4/conf/"+prefix+"0/arp_ignore", "0")
		}, "net.ipv4.conf.gltrs0.arp_ignore", true, nil},
		{"VIP announced", func() {
			n.setSysctl("net/ipv4/conf/all/arp_announce", "1")
			n.setSysctl("net/ipv4/conf/"+prefix+"0/arp_announce", "1")
		}, "net.ipv4.conf.gltrs0.arp_announce", true, nil},
		{"strict rp_filter", func() { n.setSysctl("net/ipv4/conf/"+prefix+"0/rp_filter", "1") }, "net.ipv4.conf.gltrs0.rp_filter", true, nil},
		{"decap detached", func() { n.must(func() error { return decap.Detach(o.PinDir, prefix+"0") }) }, "link gltrs0", true, nil},
		{"VIP on the link", func() { n.ip("addr", "add", "198.18.0.10/24", "dev", prefix+"0") }, "VIP 198.18.0.10", false,
			func() { n.ip("addr", "del", "198.18.0.10/24", "dev", prefix+"0") }},
		{"decap dropped packets", func() { dropOne(n, o.PinDir) }, "decap drop_ecn", false, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.breakIt()
			r := check()
			if len(r.Findings) != 1 || r.Findings[0].Setting != c.setting {
				t.Fatalf("findings %q, want one about %s", r.Findings, c.setting)
			}
			t.Log(r.Findings[0])
			if !c.fixed {
				if c.undo != nil {
					c.undo()
				}
				return
			}
			var done []string
			n.must(func() (err error) { done, err = Setup(o); return err })
			t.Logf("lvsrs again: %q", done)
			if r := check(); !r.OK() {
				t.Errorf("check after lvsrs again: %v", r.Findings)
			}
		})
	}
	n.must(func() error { _, err := Undo(o); return err })
}

// dropOne makes the pinned decapsulation program drop a packet: an outer
// CE mark on an inner packet that is not ECN-capable (RFC 6040).
func dropOne(n *testNS, pinDir string) {
	t := n.t
	t.Helper()
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: []byte{198, 18, 0, 100}, DstIP: []byte{198, 18, 0, 10}}
	tcp := &layers.TCP{SrcPort: 1, DstPort: 80, SYN: true}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	inner := serialize(t, ip, tcp)
	var mac []byte
	var index int
	n.must(func() error {
		l, err := netlink.LinkByName(prefix + "0")
		if err != nil {
			return err
		}
		mac, index = l.Attrs().HardwareAddr, l.Attrs().Index
		return nil
	})
	frame := serialize(t,
		&layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: mac, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, IHL: 5, TTL: 64, TOS: 3, Protocol: layers.IPProtocolIPv4, SrcIP: []byte{198, 18, 1, 1}, DstIP: []byte{198, 18, 1, 10}},
		gopacket.Payload(inner))
	n.must(func() error {
		d, err := decap.Open(decap.Options{PinDir: pinDir})
		if err != nil {
			return err
		}
		defer d.Close()
		v, _, err := d.Run(frame, index, 0)
		if err == nil && v != decap.VerdictShot {
			return fmt.Errorf("verdict %d, want a drop", v)
		}
		return err
	})
}

func serialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
