package ipvsadm

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"golvs/internal/api"
	"golvs/internal/golden"
	"golvs/internal/lvs"
)

// tunnelDirector is a director using what issue 4 adds: IPv6 services and
// reals, reals of the other family behind a tunnel, and every tunnel type
// with every checksum option ipvsadm can set.
func tunnelDirector() *fakeDirector {
	real := func(addr string, m lvs.Method, weight int, tun lvs.TunnelType, port uint16, flags lvs.TunnelFlags, active, inact, persist uint32) lvs.RealStatus {
		return lvs.RealStatus{
			Real:        lvs.Real{Addr: ap(addr), Method: m, Weight: weight, TunType: tun, TunPort: port, TunFlags: flags},
			ActiveConns: active, InActConns: inact, PersistConns: persist,
			Stats: lvs.Stats{Conns: uint64(active) + uint64(inact), InPkts: 1000 * uint64(weight), InBytes: 123456789 * uint64(weight)},
			Rates: lvs.Rates{CPS: uint64(weight), InPPS: 10 * uint64(weight), InBPS: 1000000000 * uint64(weight)},
		}
	}
	service := func(p lvs.Protocol, addr, sched string, f func(*lvs.Service), reals ...lvs.RealStatus) lvs.ServiceStatus {
		s := lvs.ServiceStatus{
			Service: lvs.Service{ServiceKey: lvs.ServiceKey{Protocol: p, Addr: ap(addr)}, Scheduler: sched},
			Reals:   reals,
			Stats:   lvs.Stats{Conns: 42, InPkts: 123456789, InBytes: 98765432109},
			Rates:   lvs.Rates{CPS: 2, InPPS: 20, InBPS: 2000},
		}
		if f != nil {
			f(&s.Service)
		}
		return s
	}
	return &fakeDirector{
		info: api.Info{Version: "0.1.0", ConnTableSize: 4096, Timeouts: lvs.DefaultTimeouts},
		services: []lvs.ServiceStatus{
			// Reals newest first, as lvsd lists them.
			service(lvs.TCP, "198.18.0.10:80", "rr", nil,
				real("198.18.1.7:80", lvs.Route, 8, 0, 0, 0, 0, 0, 0),
				real("198.18.1.6:8080", lvs.Masq, 7, 0, 0, 0, 1, 1, 0),
				real("[2001:db8::11]:80", lvs.Tunnel, 6, lvs.TunGUE, 6081, lvs.TunCsum, 2, 0, 0),
				real("198.18.1.5:80", lvs.Tunnel, 5, lvs.TunGRE, 0, lvs.TunNoCsum, 0, 0, 0),
				real("198.18.1.4:80", lvs.Tunnel, 4, lvs.TunGRE, 0, lvs.TunCsum, 0, 0, 0),
				real("198.18.1.3:80", lvs.Tunnel, 3, lvs.TunGUE, 65535, lvs.TunRemCsum, 0, 0, 0),
				real("198.18.1.12:80", lvs.Tunnel, 2, lvs.TunGUE, 6080, lvs.TunNoCsum, 0, 0, 0),
				real("198.18.1.1:80", lvs.Tunnel, 1, lvs.TunIPIP, 0, 0, 3, 4, 0),
			),
			service(lvs.TCP, "[2001:db8::10]:443", "wlc", func(s *lvs.Service) {
				s.Persistent = 600 * time.Second
				s.Netmask = lvs.Netmask6(48)
			},
				real("[::198.19.0.1]:443", lvs.Tunnel, 1, lvs.TunIPIP, 0, 0, 0, 0, 0),
				real("198.18.1.8:443", lvs.Tunnel, 2, lvs.TunIPIP, 0, 0, 0, 0, 1),
				real("[2001:db8:1234:5678:9abc:def0:1234:5678]:8443", lvs.Masq, 3, 0, 0, 0, 5, 6, 2),
				real("[2001:db8::a]:443", lvs.Route, 4, 0, 0, 0, 7, 8, 3),
			),
			service(lvs.UDP, "[2001:db8::53]:53", "rr", func(s *lvs.Service) { s.OnePacket = true },
				real("[2001:db8::5353]:53", lvs.Tunnel, 1, lvs.TunGRE, 0, lvs.TunCsum, 0, 9, 0),
			),
			service(lvs.TCP, "[2001:db8::10]:0", "sh", func(s *lvs.Service) {
				s.Persistent = 30 * time.Second
				s.Netmask = lvs.Netmask6(128)
				s.SchedFlags = lvs.SchedFlag2
			},
				real("[2001:db8::a]:0", lvs.Route, 1, 0, 0, 0, 0, 0, 0),
			),
			service(lvs.TCP, "[2001:db8::10]:80", "mh", func(s *lvs.Service) { s.Persistent = time.Second; s.Netmask = lvs.Netmask6(127) },
				real("[2001:db8::a]:80", lvs.Tunnel, 1, lvs.TunGUE, 1, lvs.TunNoCsum, 0, 0, 0),
			),
			service(lvs.TCP, "[::ffff:198.18.0.99]:80", "rr", nil),
		},
		conns: []lvs.Conn{
			{Protocol: lvs.TCP, Client: ap("[2001:db8:c::5]:40000"), Virtual: ap("[2001:db8::10]:443"), Real: ap("[2001:db8::a]:443"), State: "ESTABLISHED", Expires: 899 * time.Second},
			// The persistence template of that client, masked to /48.
			{Protocol: lvs.TCP, Client: ap("[2001:db8::]:0"), Virtual: ap("[2001:db8::10]:443"), Real: ap("[2001:db8::a]:443"), State: "NONE", Expires: 599 * time.Second},
			// Across families, through a tunnel.
			{Protocol: lvs.TCP, Client: ap("198.18.200.5:51234"), Virtual: ap("198.18.0.10:80"), Real: ap("[2001:db8::11]:80"), State: "SYN_RECV", Expires: 59 * time.Second},
			{Protocol: lvs.TCP, Client: ap("[2001:db8:c::6]:40001"), Virtual: ap("[2001:db8::10]:443"), Real: ap("198.18.1.8:443"), State: "FIN_WAIT", Expires: 119 * time.Second},
			{Protocol: lvs.UDP, Client: ap("[2001:db8:c::7]:5353"), Virtual: ap("[2001:db8::53]:53"), Real: ap("[2001:db8::5353]:53"), State: "UDP", Expires: 299 * time.Second},
		},
	}
}

func TestTunnelListingGolden(t *testing.T) {
	tests := []struct {
		golden string
		args   string
	}{
		{"tunnels-numeric", "-Ln"},
		{"tunnels-names", "-L"},
		{"tunnels-tun-info", "-Ln --tun-info"},
		{"tunnels-tun-info-names", "-L --tun-info"},
		{"tunnels-tun-info-nosort", "-Ln --tun-info --nosort"},
		{"tunnels-service", "-Ln --tun-info -t [2001:db8::10]:443"},
		{"tunnels-stats", "-Ln --stats"},
		{"tunnels-rate-exact", "-Ln --rate --exact"},
		{"tunnels-thresholds", "-Ln --thresholds"},
		{"tunnels-persistent-conn", "-Ln --persistent-conn"},
		{"tunnels-conns", "-Lnc"},
		{"tunnels-conns-names", "-Lc --persistent-conn"},
		{"tunnels-save-numeric", "-Sn"},
		{"tunnels-save-names", "-S"},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			got := runLvsadm(t, tunnelDirector(), argv(tt.args)...)
			if got.Status != 0 || got.Stderr != "" {
				t.Fatalf("lvsadm %s: status %d, stderr %q", tt.args, got.Status, got.Stderr)
			}
			golden.Check(t, "testdata/"+tt.golden+".golden", got.Stdout)
		})
	}
}

// TestTunnelListingPriorities checks where --tun-info stands among the
// listings: below --stats, --rate, --thresholds and --persistent-conn,
// which show no tunnel, and ignored by the connection listing.
func TestTunnelListingPriorities(t *testing.T) {
	for _, tt := range []struct{ args, sameAs string }{
		{"-Ln --tun-info --stats", "-Ln --stats"},
		{"-Ln --rate --tun-info", "-Ln --rate"},
		{"-Ln --tun-info --thresholds", "-Ln --thresholds"},
		{"-Ln --persistent-conn --tun-info", "-Ln --persistent-conn"},
		{"-Lnc --tun-info", "-Lnc"},
		{"-Ln --tun-info --exact", "-Ln --tun-info"},
	} {
		want := runLvsadm(t, tunnelDirector(), argv(tt.sameAs)...)
		got := runLvsadm(t, tunnelDirector(), argv(tt.args)...)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("lvsadm %s differs from lvsadm %s (-want +got):\n%s", tt.args, tt.sameAs, diff)
		}
	}
}

// TestTunnelInfo pins each TunnelInfo cell and -S tail, the widest
// included.
func TestTunnelInfo(t *testing.T) {
	tests := []struct {
		real lvs.Real
		info string
		rule string
	}{
		{lvs.Real{Method: lvs.Tunnel}, "ipip", " --tun-type ipip"},
		{lvs.Real{Method: lvs.Tunnel, TunPort: 6080, TunFlags: lvs.TunCsum}, "ipip", " --tun-type ipip"},
		{lvs.Real{Method: lvs.Tunnel, TunType: lvs.TunGUE, TunPort: 6080}, "gue:6080:-c", " --tun-type gue --tun-port 6080 --tun-nocsum"},
		{lvs.Real{Method: lvs.Tunnel, TunType: lvs.TunGUE, TunPort: 65535, TunFlags: lvs.TunRemCsum}, "gue:65535:r+c", " --tun-type gue --tun-port 65535 --tun-remcsum"},
		{lvs.Real{Method: lvs.Tunnel, TunType: lvs.TunGUE, TunPort: 1, TunFlags: lvs.TunCsum}, "gue:1:+c", " --tun-type gue --tun-port 1 --tun-csum"},
		{lvs.Real{Method: lvs.Tunnel, TunType: lvs.TunGRE}, "gre:-c", " --tun-type gre --tun-nocsum"},
		{lvs.Real{Method: lvs.Tunnel, TunType: lvs.TunGRE, TunFlags: lvs.TunCsum}, "gre:+c", " --tun-type gre --tun-csum"},
		// What IPVS keeps and ipvsadm prints although it cannot set it.
		{lvs.Real{Method: lvs.Tunnel, TunType: lvs.TunGRE, TunFlags: lvs.TunRemCsum}, "gre:r+c", " --tun-type gre --tun-remcsum"},
		{lvs.Real{Method: lvs.Masq, TunType: lvs.TunGUE, TunPort: 6080}, "n/a", " --tun-type gue --tun-port 6080 --tun-nocsum"},
		{lvs.Real{Method: lvs.Route}, "n/a", " --tun-type ipip"},
		// A type ipvsadm has no name for lists as no tunnel.
		{lvs.Real{Method: lvs.Tunnel, TunType: 7}, "n/a", ""},
	}
	for _, tt := range tests {
		if got := tunnelInfo(&tt.real); got != tt.info {
			t.Errorf("tunnelInfo(%+v) = %q, want %q", tt.real, got, tt.info)
		}
		if got := tunnelRule(&tt.real); got != tt.rule {
			t.Errorf("tunnelRule(%+v) = %q, want %q", tt.real, got, tt.rule)
		}
	}
}

func TestInetNtop(t *testing.T) {
	for in, want := range map[string]string{
		"2001:db8::1":            "2001:db8::1",
		"2001:db8:0:1:0:0:0:1":   "2001:db8:0:1::1",
		"2001:0:0:1:0:0:0:1":     "2001:0:0:1::1",
		"2001:db8:1:0:1:0:0:1":   "2001:db8:1:0:1::1",
		"::":                     "::",
		"::1":                    "::1",
		"::198.19.0.1":           "::198.19.0.1",
		"::0.1.0.0":              "::0.1.0.0",
		"::0.0.0.2":              "::2",
		"::ffff:198.19.0.1":      "::ffff:198.19.0.1",
		"::ffff:0:198.19.0.1":    "::ffff:0:c613:1",
		"0:0:0:0:0:1:198.19.0.1": "::1:c613:1",
		"fe80::1:2":              "fe80::1:2",
		"198.19.0.1":             "198.19.0.1",
		"2001:db8:1:2:3:4:5:6":   "2001:db8:1:2:3:4:5:6",
		"2001:db8:0:0:1:0:0:1":   "2001:db8::1:0:0:1",
		"2001:db8:0:1:1:1:1:1":   "2001:db8:0:1:1:1:1:1",
		"0:0:1:0:0:0:0:0":        "0:0:1::",
		"1:0:0:1:0:0:1:1":        "1::1:0:0:1:1",
		"fd00:1:2:3::198.19.0.1": "fd00:1:2:3::c613:1",
	} {
		if got := inetNtop(netip.MustParseAddr(in)); got != want {
			t.Errorf("inetNtop(%s) = %q, want %q", in, got, want)
		}
	}
}

// TestTunnelRoundTrip saves the tunnel director with -S, restores it into
// an empty director, and checks that the table comes back: tunnels, IPv6
// netmasks and reals of the other family included.
func TestTunnelRoundTrip(t *testing.T) {
	for _, save := range []string{"-Sn", "-S"} {
		t.Run(save, func(t *testing.T) {
			from := tunnelDirector()
			saved := runLvsadm(t, from, save)
			if saved.Status != 0 || saved.Stderr != "" {
				t.Fatalf("lvsadm %s = %+v", save, saved)
			}
			to := &fakeDirector{info: from.info}
			if got := runStdin(t, to, saved.Stdout, []string{"lvsadm", "-R"}); got != (result{}) {
				t.Fatalf("lvsadm -R = %+v\ninput:\n%s", got, saved.Stdout)
			}
			want := cloneServices(from.services)
			for i := range want {
				s := &want[i]
				s.Stats, s.Rates = lvs.Stats{}, lvs.Rates{}
				if bits, _ := lvs.MaskPrefix(s.Netmask); s.Netmask.Is6() && bits == 128 {
					s.Netmask = netip.Addr{}
				}
				for j := range s.Reals {
					s.Reals[j] = lvs.RealStatus{Real: s.Reals[j].Real}
				}
			}
			byKey := func(a, b lvs.ServiceStatus) bool { return a.ServiceKey.String() < b.ServiceKey.String() }
			byAddr := func(a, b lvs.RealStatus) bool { return a.Addr.String() < b.Addr.String() }
			opts := cmp.Options{cmpopts.SortSlices(byKey), cmpopts.SortSlices(byAddr), cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{}), cmpopts.EquateEmpty()}
			if diff := cmp.Diff(want, to.services, opts); diff != "" {
				t.Errorf("restored table (-want +got):\n%s", diff)
			}
			// Every real went out with every field, so each line of
			// the restore says what it sets.
			for _, ch := range to.applied[0] {
				if ch.Op == lvs.OpAddReal && ch.Real.Method == lvs.Tunnel && ch.Real.TunType == lvs.TunGUE && ch.Real.TunPort == 0 {
					t.Errorf("GUE real %s restored without its port", ch.Real.Addr)
				}
			}
			if !strings.Contains(saved.Stdout, "--tun-type gue --tun-port 65535 --tun-remcsum") {
				t.Errorf("-S lost a GUE real's options:\n%s", saved.Stdout)
			}
		})
	}
}
