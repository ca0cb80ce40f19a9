package realserver

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"golvs/internal/datapath/decap"
)

// goodHost is set up right for vip4 and vip6.
func goodHost() snapshot {
	return fakeHost(map[string]string{"all.arp_ignore": "1", "all.arp_announce": "2", "eth0.arp_ignore": "1", "eth0.arp_announce": "2", "all.rp_filter": "1", "eth0.rp_filter": "2"},
		onLo("198.18.0.10/32", "2001:db8::10/128"))
}

func goodDecap() *decapView {
	return &decapView{
		pinDir:   "/sys/fs/bpf/lvsrs",
		attached: map[string]string{"eth0": "tcx"},
		config:   &decap.Config{Tunnels: decap.TunnelIPIP | decap.TunnelGUE, VIPs: []netip.Addr{vip4, vip6}, GUEPorts: []uint16{6080}},
		counters: map[string]uint64{"decap_ipip": 100},
	}
}

func TestCheck(t *testing.T) {
	tun := desired{vips: []netip.Addr{vip4, vip6}, tunnels: decap.TunnelIPIP | decap.TunnelGUE, guePorts: []uint16{6080}}
	dr := desired{vips: []netip.Addr{vip4, vip6}}
	for _, c := range []struct {
		name string
		host func(h *snapshot)
		want desired
		dv   func(dv *decapView)
		// says are the settings the findings name, each with a word
		// its problem or fix must contain; none means ok.
		says [][2]string
	}{
		{name: "DR, all right", want: dr},
		{name: "TUN, all right", want: tun},
		{name: "VIP not on lo", want: dr, host: func(h *snapshot) { h.addrs["lo"] = h.addrs["lo"][1:] },
			says: [][2]string{{"VIP 198.18.0.10", "ip addr add 198.18.0.10/32 dev lo"}}},
		{name: "VIP on a link too", want: dr, host: func(h *snapshot) {
			h.addrs["eth0"] = []hostAddr{{Prefix: netip.MustParsePrefix("2001:db8::10/64")}}
		}, says: [][2]string{{"VIP 2001:db8::10", "ip addr del 2001:db8::10/64 dev eth0"}}},
		{name: "IPv6 VIP failed DAD", want: dr, host: func(h *snapshot) { h.addrs["lo"][1].DADFailed = true },
			says: [][2]string{{"VIP 2001:db8::10", "nodad"}}},
		{name: "lo down", want: dr, host: func(h *snapshot) { h.links[0].Up = false }, says: [][2]string{{"lo", "ip link set lo up"}}},
		{name: "ARP answered for the VIP", want: dr, host: setSysctl("eth0.arp_ignore", "0", "all.arp_ignore", "0"),
			says: [][2]string{{"net.ipv4.conf.eth0.arp_ignore", "answers ARP requests"}}},
		{name: "arp_ignore of all wins over the link's", want: dr, host: setSysctl("all.arp_ignore", "3"),
			says: [][2]string{{"net.ipv4.conf.eth0.arp_ignore", "net.ipv4.conf.all.arp_ignore=3"}}},
		{name: "VIP announced in ARP", want: dr, host: setSysctl("all.arp_announce", "1", "eth0.arp_announce", "1"),
			says: [][2]string{{"net.ipv4.conf.eth0.arp_announce", "arp_announce=2"}}},
		{name: "strict rp_filter", want: dr, host: setSysctl("eth0.rp_filter", "0"),
			says: [][2]string{{"net.ipv4.conf.eth0.rp_filter", "rp_filter=2"}}},
		{name: "IPv6 only: ARP and rp_filter do not matter", want: desired{vips: []netip.Addr{vip6}},
			host: setSysctl("eth0.arp_ignore", "0", "all.arp_ignore", "0", "eth0.rp_filter", "1")},
		{name: "a link gone", want: dr, host: func(h *snapshot) { h.links = h.links[:1] }, says: [][2]string{{"link eth0", "gone"}}},
		{name: "tunnel expected, no decap attached", want: tun, dv: func(dv *decapView) { dv.attached = nil },
			says: [][2]string{{"link eth0", "lvsrs --tunnel ipip,gue --gue-port 6080 198.18.0.10 2001:db8::10"}}},
		{name: "tunnel expected, nothing pinned", want: tun, dv: func(dv *decapView) { dv.config = nil },
			says: [][2]string{{"decap", "not pinned"}}},
		{name: "decap lacks a kind, a VIP and a port", want: tun, dv: func(dv *decapView) {
			dv.config = &decap.Config{Tunnels: decap.TunnelIPIP, VIPs: []netip.Addr{vip4}}
		}, says: [][2]string{{"decap", "does not unwrap gue"}, {"decap", "2001:db8::10"}, {"decap", "port 6080"}}},
		{name: "decap dropped packets since the last check", want: tun, dv: func(dv *decapView) {
			dv.counters = map[string]uint64{"drop_csum": 5, "pass_fragment": 3, "pass_not_vip": 9}
			dv.since = map[string]uint64{"drop_csum": 2, "pass_fragment": 3, "pass_not_vip": 9}
		}, says: [][2]string{{"decap drop_csum", "2 since the last check (5 in all)"}, {"decap pass_fragment", "MTU"}}},
		{name: "old drops alone are not a finding", want: tun, dv: func(dv *decapView) {
			dv.counters = map[string]uint64{"drop_csum": 5, "pass_fragment": 3}
			dv.since = map[string]uint64{"drop_csum": 0, "pass_fragment": 0}
		}},
		{name: "VIP on lo with a subnet prefix", want: dr, host: func(h *snapshot) {
			for i, a := range h.addrs["lo"] {
				if a.Prefix.Addr() == vip4 {
					h.addrs["lo"][i].Prefix = netip.PrefixFrom(vip4, 24)
				}
			}
		}, says: [][2]string{{"VIP 198.18.0.10", "whole subnet"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := goodHost()
			if c.host != nil {
				c.host(&h)
			}
			var dv *decapView
			if c.want.tunnels != 0 {
				dv = goodDecap()
				if c.dv != nil {
					c.dv(dv)
				}
			}
			fs, err := check(h, c.want, []string{"eth0"}, dv)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fs {
				t.Log(f)
			}
			if len(fs) != len(c.says) {
				t.Fatalf("%d findings, want %d", len(fs), len(c.says))
			}
			for i, s := range c.says {
				if fs[i].Setting != s[0] || !strings.Contains(fs[i].Problem+" "+fs[i].Fix, s[1]) {
					t.Errorf("finding %d is %q, want one about %s saying %q", i, fs[i], s[0], s[1])
				}
				if fs[i].Fix == "" {
					t.Errorf("finding %d has no fix", i)
				}
			}
		})
	}
}

// setSysctl returns a host change that sets sysctls "dev.name" to values,
// given as pairs.
func setSysctl(kv ...string) func(*snapshot) {
	return func(h *snapshot) {
		orig := h.sysctl
		h.sysctl = func(k sysctlKey) (string, error) {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k.Dev+"."+k.Name {
					return kv[i+1], nil
				}
			}
			return orig(k)
		}
	}
}

func TestReportSummary(t *testing.T) {
	r := Report{VIPs: []netip.Addr{vip6, vip4}, Tunnels: decap.TunnelIPIP, Links: []string{"eth0", "eth1"}}
	want := "ok: ready to be a real server for 198.18.0.10, 2001:db8::10 (DR, and TUN (ipip) on eth0, eth1)"
	if got := r.Summary(); got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
	if !r.OK() {
		t.Error("no findings, not OK")
	}
	if got := (Finding{"x", "y", "z"}).String(); got != "x: y; fix: z" {
		t.Errorf("Finding.String() = %q", got)
	}
	if !slices.Equal(sortedVIPs([]netip.Addr{vip6, vip4}), []netip.Addr{vip4, vip6}) {
		t.Error("sortedVIPs")
	}
}
