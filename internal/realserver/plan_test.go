package realserver

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"golvs/internal/datapath/decap"
)

var (
	vip4 = netip.MustParseAddr("198.18.0.10")
	vip6 = netip.MustParseAddr("2001:db8::10")
)

// fakeHost is a host with lo, eth0 (up) and eth1 (down), and the sysctls
// of a fresh network namespace unless sysctls overrides them ("eth0.rp_filter": "1").
func fakeHost(sysctls map[string]string, addrs map[string][]hostAddr) snapshot {
	vals := map[string]string{}
	for _, dev := range []string{"all", "lo", "eth0", "eth1"} {
		for _, n := range []string{arpIgnore, arpAnnounce, rpFilter} {
			vals[dev+"."+n] = "0"
		}
	}
	for k, v := range sysctls {
		vals[k] = v
	}
	if addrs == nil {
		addrs = map[string][]hostAddr{}
	}
	return snapshot{
		links: []linkInfo{{"lo", 1, true, true}, {"eth0", 2, true, false}, {"eth1", 3, false, false}},
		addrs: addrs,
		sysctl: func(k sysctlKey) (string, error) {
			v, ok := vals[k.Dev+"."+k.Name]
			if !ok {
				return "", fmt.Errorf("read %s: %w", k, fs.ErrNotExist)
			}
			return v, nil
		},
		ipv6: true,
	}
}

func set(dev, name, from, to string) sysctlSet {
	return sysctlSet{sysctlKey{dev, name}, from, to}
}

func onLo(ps ...string) map[string][]hostAddr {
	m := map[string][]hostAddr{}
	for _, p := range ps {
		m["lo"] = append(m["lo"], hostAddr{Prefix: netip.MustParsePrefix(p)})
	}
	return m
}

func TestMakePlan(t *testing.T) {
	arpAll := []sysctlSet{
		set("all", arpIgnore, "0", "1"), set("all", arpAnnounce, "0", "2"),
		set("eth0", arpIgnore, "0", "1"), set("eth0", arpAnnounce, "0", "2"),
	}
	for _, c := range []struct {
		name string
		host snapshot
		prev State
		want desired
		plan plan
	}{
		{
			name: "DR on a fresh host: ARP on all and eth0, VIP on lo",
			host: fakeHost(nil, nil),
			want: desired{vips: []netip.Addr{vip4}},
			plan: plan{links: []string{"eth0"}, sysctls: arpAll, addAddrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.10/32")}},
		},
		{
			name: "strict rp_filter in all: loose on the link",
			host: fakeHost(map[string]string{"all.rp_filter": "1"}, nil),
			want: desired{vips: []netip.Addr{vip4}},
			plan: plan{links: []string{"eth0"}, sysctls: append(slices.Clone(arpAll), set("eth0", rpFilter, "0", "2")),
				addAddrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.10/32")}},
		},
		{
			name: "strict rp_filter on the link",
			host: fakeHost(map[string]string{"eth0.rp_filter": "1"}, onLo("198.18.0.10/32")),
			want: desired{vips: []netip.Addr{vip4}},
			plan: plan{links: []string{"eth0"}, sysctls: append(slices.Clone(arpAll), set("eth0", rpFilter, "1", "2"))},
		},
		{
			name: "already right: nothing to change",
			host: fakeHost(map[string]string{"all.arp_ignore": "1", "all.arp_announce": "2", "eth0.arp_ignore": "2", "eth0.arp_announce": "2", "all.rp_filter": "2"}, onLo("198.18.0.10/32")),
			want: desired{vips: []netip.Addr{vip4}},
			plan: plan{links: []string{"eth0"}},
		},
		{
			name: "arp_ignore 8 stays, 3 does not",
			host: fakeHost(map[string]string{"all.arp_ignore": "8", "all.arp_announce": "2", "eth0.arp_ignore": "3", "eth0.arp_announce": "2"}, onLo("198.18.0.10/32")),
			want: desired{vips: []netip.Addr{vip4}},
			plan: plan{links: []string{"eth0"}, sysctls: []sysctlSet{set("eth0", arpIgnore, "3", "1")}},
		},
		{
			name: "IPv6 only: no ARP, VIP as /128",
			host: fakeHost(nil, nil),
			want: desired{vips: []netip.Addr{vip6}},
			plan: plan{links: []string{"eth0"}, addAddrs: []netip.Prefix{netip.MustParsePrefix("2001:db8::10/128")}},
		},
		{
			name: "a VIP already on lo with a wider prefix is left as it is",
			host: fakeHost(nil, onLo("198.18.0.10/24")),
			want: desired{vips: []netip.Addr{vip4, vip6}},
			plan: plan{links: []string{"eth0"}, sysctls: arpAll, addAddrs: []netip.Prefix{netip.MustParsePrefix("2001:db8::10/128")}},
		},
		{
			name: "named links only",
			host: fakeHost(nil, onLo("2001:db8::10/128")),
			want: desired{vips: []netip.Addr{vip6}, tunnels: decap.TunnelIPIP, links: []string{"eth1"}},
			plan: plan{links: []string{"eth1"}, decap: true},
		},
		{
			name: "tunnel: decap on every link that is up",
			host: fakeHost(nil, onLo("2001:db8::10/128")),
			want: desired{vips: []netip.Addr{vip6}, tunnels: decap.TunnelGUE | decap.TunnelGRE, guePorts: []uint16{6080}},
			plan: plan{links: []string{"eth0"}, decap: true},
		},
		{
			name: "a VIP an earlier lvsrs added and no longer wanted is removed",
			host: fakeHost(nil, onLo("2001:db8::10/128", "2001:db8::11/128", "2001:db8::12/128")),
			prev: State{Addrs: []netip.Prefix{netip.MustParsePrefix("2001:db8::11/128"), netip.MustParsePrefix("2001:db8::13/128")}},
			want: desired{vips: []netip.Addr{vip6}},
			plan: plan{links: []string{"eth0"}, delAddrs: []netip.Prefix{netip.MustParsePrefix("2001:db8::11/128")}},
		},
		{
			name: "no tunnel any more: detach everywhere and remove the pins",
			host: fakeHost(nil, onLo("2001:db8::10/128")),
			prev: State{Decap: &DecapState{PinDir: "/sys/fs/bpf/x", Hooks: map[string]string{"eth0": "tcx", "eth1": "tcx"}}},
			want: desired{vips: []netip.Addr{vip6}},
			plan: plan{links: []string{"eth0"}, detach: []string{"eth0", "eth1"}, removePins: true},
		},
		{
			name: "tunnel on fewer links: detach from the others",
			host: fakeHost(nil, onLo("2001:db8::10/128")),
			prev: State{Decap: &DecapState{PinDir: "/sys/fs/bpf/x", Hooks: map[string]string{"eth0": "tcx", "eth1": "clsact"}}},
			want: desired{vips: []netip.Addr{vip6}, tunnels: decap.TunnelIPIP, links: []string{"eth0"}},
			plan: plan{links: []string{"eth0"}, decap: true, detach: []string{"eth1"}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := makePlan(c.host, c.prev, c.want)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(c.plan, got, cmp.AllowUnexported(plan{}, sysctlSet{}), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
				t.Errorf("plan (-want +got):\n%s", d)
			}
		})
	}
}

func TestMakePlanRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		host snapshot
		want desired
		err  error
		says string
	}{
		{"no VIPs", fakeHost(nil, nil), desired{}, ErrNoVIPs, "no VIPs"},
		{"VIP on a link", fakeHost(nil, map[string][]hostAddr{"eth0": {{Prefix: netip.MustParsePrefix("198.18.0.10/24")}}}),
			desired{vips: []netip.Addr{vip4}}, ErrVIPElsewhere, "198.18.0.10 is on eth0"},
		{"IPv6 VIP with IPv6 off on lo", func() snapshot { h := fakeHost(nil, nil); h.ipv6 = false; return h }(),
			desired{vips: []netip.Addr{vip6}}, ErrNoIPv6, "disable_ipv6"},
		{"unknown link", fakeHost(nil, nil), desired{vips: []netip.Addr{vip4}, links: []string{"eth9"}}, ErrUnknownLink, `"eth9"`},
		{"loopback link", fakeHost(nil, nil), desired{vips: []netip.Addr{vip4}, links: []string{"lo"}}, ErrUnknownLink, "loopback"},
		{"GUE without a port", fakeHost(nil, nil), desired{vips: []netip.Addr{vip4}, tunnels: decap.TunnelGUE}, ErrBadPort, "--gue-port"},
		{"a port without GUE", fakeHost(nil, nil), desired{vips: []netip.Addr{vip4}, tunnels: decap.TunnelIPIP, guePorts: []uint16{1}}, ErrBadPort, "--tunnel gue"},
		{"tunnel with no link up", func() snapshot { h := fakeHost(nil, nil); h.links[1].Up = false; return h }(),
			desired{vips: []netip.Addr{vip4}, tunnels: decap.TunnelIPIP}, ErrUnknownLink, "--dev"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := makePlan(c.host, State{}, c.want)
			if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %v, want %v saying %q", err, c.err, c.says)
			}
		})
	}
}

func TestParse(t *testing.T) {
	vips, err := ParseVIPs([]string{"198.18.0.10", "2001:db8::10", "198.18.0.10"})
	if err != nil || !slices.Equal(vips, []netip.Addr{vip4, vip6}) {
		t.Errorf("ParseVIPs = %v, %v", vips, err)
	}
	for _, bad := range []string{"198.18.0.10/32", "host.example", "0.0.0.0", "::", "127.0.0.1", "::1", "224.0.0.1", "fe80::1", "fe80::1%eth0", "::ffff:198.18.0.10", "255.255.255.255", ""} {
		if _, err := ParseVIPs([]string{bad}); !errors.Is(err, ErrBadVIP) || !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
			t.Errorf("ParseVIPs(%q): %v, want ErrBadVIP naming it", bad, err)
		}
	}
	for s, want := range map[string]decap.Tunnel{
		"none": 0, "ipip": decap.TunnelIPIP, "gue": decap.TunnelGUE, "gre": decap.TunnelGRE,
		"ipip,gre": decap.TunnelIPIP | decap.TunnelGRE, "gre, gue": decap.TunnelGRE | decap.TunnelGUE,
	} {
		if got, err := ParseTunnels(s); err != nil || got != want {
			t.Errorf("ParseTunnels(%q) = %v, %v; want %v", s, got, err, want)
		}
		if got, _ := ParseTunnels(want.String()); got != want {
			t.Errorf("ParseTunnels(%v.String()) = %v", want, got)
		}
	}
	for _, bad := range []string{"tun", "ipip,", "IPIP", "none,ipip"} {
		if _, err := ParseTunnels(bad); !errors.Is(err, ErrBadTunnel) {
			t.Errorf("ParseTunnels(%q): %v, want ErrBadTunnel", bad, err)
		}
	}
	if p, err := ParsePort("6080"); err != nil || p != 6080 {
		t.Errorf("ParsePort(6080) = %d, %v", p, err)
	}
	for _, bad := range []string{"0", "65536", "-1", "http", ""} {
		if _, err := ParsePort(bad); !errors.Is(err, ErrBadPort) {
			t.Errorf("ParsePort(%q): %v, want ErrBadPort", bad, err)
		}
	}
}

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if st, ok, err := loadState(dir); err != nil || ok || st.Version != stateVersion {
		t.Fatalf("empty dir: %+v %v %v", st, ok, err)
	}
	st := State{
		VIPs: []netip.Addr{vip4, vip6}, Tunnels: "ipip,gue", GUEPorts: []uint16{6080}, Links: []string{"eth0"},
		Sysctls: []SysctlChange{{Key: sysctlKey{"all", arpIgnore}, Old: "0", New: "1"}},
		Addrs:   []netip.Prefix{netip.MustParsePrefix("198.18.0.10/32")},
		Decap:   &DecapState{PinDir: "/sys/fs/bpf/lvsrs", Hooks: map[string]string{"eth0": "tcx"}},
	}
	if err := st.save(dir); err != nil {
		t.Fatal(err)
	}
	got, ok, err := loadState(dir)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	st.Version = stateVersion
	if d := cmp.Diff(st, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
		t.Errorf("state (-saved +loaded):\n%s", d)
	}
	c := got.clone()
	c.Decap.Hooks["eth1"] = "tcx"
	c.Sysctls[0].New = "2"
	if len(got.Decap.Hooks) != 1 || got.Sysctls[0].New != "1" {
		t.Error("clone shares the hooks or the sysctls with the original")
	}
}

func TestSysctlKeyNamesVLANs(t *testing.T) {
	k := sysctlKey{"eth0.100", rpFilter}
	if got := k.String(); got != "net.ipv4.conf.eth0/100.rp_filter" {
		t.Errorf("String() = %q", got)
	}
	if got := k.path(); got != "/proc/sys/net/ipv4/conf/eth0.100/rp_filter" {
		t.Errorf("path() = %q", got)
	}
}
