package ipvsadm

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"golvs/internal/api"
	"golvs/internal/golden"
	"golvs/internal/lvs"
)

// featureDirector is a director using what issue 3 adds: persistence with
// and without a mask (IPv4 and IPv6), one-packet scheduling, scheduler
// flags, thresholds, rates, persistent connection counts and persistence
// templates. Everything in it survives -S and -R except the thresholds and
// the counters, which ipvsadm does not save.
func featureDirector() *fakeDirector {
	mask := netip.MustParseAddr
	real := func(addr string, m lvs.Method, weight int, x, y, active, inact, persist uint32, rates lvs.Rates) lvs.RealStatus {
		return lvs.RealStatus{
			Real:        lvs.Real{Addr: ap(addr), Method: m, Weight: weight, UThreshold: x, LThreshold: y},
			ActiveConns: active, InActConns: inact, PersistConns: persist, Rates: rates,
		}
	}
	service := func(p lvs.Protocol, addr, sched string, f func(*lvs.Service), rates lvs.Rates, reals ...lvs.RealStatus) lvs.ServiceStatus {
		s := lvs.ServiceStatus{
			Service: lvs.Service{ServiceKey: lvs.ServiceKey{Protocol: p, Addr: ap(addr)}, Scheduler: sched},
			Rates:   rates,
			Reals:   reals,
		}
		if f != nil {
			f(&s.Service)
		}
		return s
	}
	return &fakeDirector{
		strict: true,
		info:   api.Info{Version: "0.1.0", ConnTableSize: 4096, Timeouts: lvs.Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}},
		services: []lvs.ServiceStatus{
			service(lvs.TCP, "198.18.0.10:443", "wlc", func(s *lvs.Service) {
				s.Persistent = 360 * time.Second
				s.Netmask = mask("255.255.255.0")
			}, lvs.Rates{CPS: 3, InPPS: 25, OutPPS: 20, InBPS: 2600, OutBPS: 18000},
				real("198.18.1.1:443", lvs.Route, 1, 100, 50, 12, 40, 3, lvs.Rates{CPS: 1, InPPS: 12, OutPPS: 10, InBPS: 1300, OutBPS: 9000}),
				real("198.18.1.3:443", lvs.Route, 2, 2147483647, 0, 0, 0, 0, lvs.Rates{CPS: 2, InPPS: 13, OutPPS: 10, InBPS: 1300, OutBPS: 9000}),
			),
			service(lvs.UDP, "198.18.0.53:53", "rr", func(s *lvs.Service) { s.OnePacket = true },
				lvs.Rates{CPS: 123456789, InPPS: 99999999, OutPPS: 100000000, InBPS: 999999999, OutBPS: 123456789012345},
				real("198.18.1.3:53", lvs.Masq, 1, 0, 0, 0, 7, 0, lvs.Rates{CPS: 123456789, InPPS: 99999999, OutPPS: 100000000, InBPS: 1000000000, OutBPS: 123456789012345}),
			),
			service(lvs.TCP, "198.18.0.10:80", "sh", func(s *lvs.Service) {
				s.SchedFlags = lvs.SchedFlag1 | lvs.SchedFlag2
				s.Persistent = 600 * time.Second
			}, lvs.Rates{},
				real("198.18.1.1:80", lvs.Route, 1, 0, 0, 0, 0, 5, lvs.Rates{}),
			),
			service(lvs.TCP, "198.18.0.20:80", "mh", func(s *lvs.Service) { s.SchedFlags = lvs.SchedFlag2 }, lvs.Rates{},
				real("198.18.1.7:8080", lvs.Masq, 65535, 10, 5, 4294967295, 0, 0, lvs.Rates{}),
			),
			service(lvs.TCP, "198.18.0.30:80", "wrr", func(s *lvs.Service) { s.SchedFlags = lvs.SchedFlag1 | lvs.SchedFlag3 }, lvs.Rates{}),
			service(lvs.TCP, "198.18.0.10:0", "lc", func(s *lvs.Service) {
				s.Persistent = 2678400 * time.Second
				s.Netmask = mask("255.0.255.0")
			}, lvs.Rates{},
				real("198.18.1.1:0", lvs.Route, 0, 0, 0, 0, 0, 1, lvs.Rates{}),
			),
			service(lvs.UDP, "198.18.0.10:5060", "sh", func(s *lvs.Service) {
				s.SchedFlags = lvs.SchedFlag1
				s.OnePacket = true
				s.Persistent = time.Second
				s.Netmask = mask("255.255.255.255")
			}, lvs.Rates{}),
			service(lvs.TCP, "[2001:db8::80]:443", "rr", func(s *lvs.Service) {
				s.Persistent = 360 * time.Second
				s.Netmask = lvs.Netmask6(64)
			}, lvs.Rates{InBPS: 100000000},
				real("[2001:db8::a0a0]:8443", lvs.Masq, 1, 0, 0, 1, 2, 3, lvs.Rates{InBPS: 100000000}),
			),
		},
		conns: []lvs.Conn{
			{Protocol: lvs.TCP, Client: ap("198.18.200.5:51234"), Virtual: ap("198.18.0.10:443"), Real: ap("198.18.1.1:443"), State: "ESTABLISHED", Expires: 899 * time.Second},
			// A persistence template: client address masked, port 0.
			{Protocol: lvs.TCP, Client: ap("198.18.200.0:0"), Virtual: ap("198.18.0.10:443"), Real: ap("198.18.1.1:443"), State: "NONE", Expires: 359 * time.Second},
			{Protocol: lvs.TCP, Client: ap("198.18.200.5:0"), Virtual: ap("198.18.0.10:0"), Real: ap("198.18.1.1:0"), State: "NONE", Expires: 2678399 * time.Second},
			{Protocol: lvs.UDP, Client: ap("198.18.200.7:0"), Virtual: ap("198.18.0.10:5060"), Real: ap("198.18.1.3:5060"), State: "ASSURED", Expires: 59 * time.Second},
			// How a firewall-mark template would come: protocol IP, the
			// mark as the virtual address.
			{Protocol: 0, Client: ap("198.18.200.5:0"), Virtual: ap("0.0.0.1:0"), Real: ap("198.18.1.1:0"), State: "ASSURED", Expires: 86399 * time.Second},
			{Protocol: lvs.UDP, Client: ap("198.18.200.7:40000"), Virtual: ap("198.18.0.53:53"), Real: ap("198.18.1.3:53"), State: "UDP", Expires: 299 * time.Second},
		},
	}
}

func TestFeatureListingGolden(t *testing.T) {
	tests := []struct {
		golden string
		argv   []string
	}{
		{"features-numeric", []string{"lvsadm", "-Ln"}},
		{"features-names", []string{"lvsadm", "-L"}},
		{"features-nosort", []string{"lvsadm", "-Ln", "--nosort"}},
		{"features-rate", []string{"lvsadm", "-Ln", "--rate"}},
		{"features-rate-exact", []string{"lvsadm", "-Ln", "--rate", "--exact"}},
		{"features-thresholds", []string{"lvsadm", "-Ln", "--thresholds"}},
		{"features-persistent-conn", []string{"lvsadm", "-Ln", "--persistent-conn"}},
		{"features-service-thresholds", []string{"lvsadm", "-Ln", "--thresholds", "-t", "198.18.0.10:443"}},
		{"features-conns", []string{"lvsadm", "-Lnc"}},
		{"features-conns-persistent", []string{"lvsadm", "-Lnc", "--persistent-conn"}},
		{"features-timeout", []string{"lvsadm", "-L", "--timeout"}},
		{"features-save-numeric", []string{"lvsadm", "-S", "-n"}},
		{"features-save-names", []string{"lvsadm", "--save"}},
		{"save-numeric", []string{"lvsadm", "-Sn"}},
		{"save-names", []string{"lvsadm", "-S"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			d := featureDirector()
			if tt.golden == "save-numeric" || tt.golden == "save-names" {
				d = testDirector()
			}
			got := runArgv(t, d, tt.argv)
			if got.Status != 0 || got.Stderr != "" {
				t.Fatalf("%q: status %d, stderr %q", tt.argv, got.Status, got.Stderr)
			}
			golden.Check(t, "testdata/"+tt.golden+".golden", got.Stdout)
		})
	}
}

// TestListingPriorities checks which listing wins when several are asked
// for, as ipvsadm's print_title and print_service_entry decide.
func TestListingPriorities(t *testing.T) {
	for _, tt := range []struct{ args, sameAs string }{
		{"-Ln --rate --stats", "-Ln --stats"},
		{"-Ln --thresholds --rate", "-Ln --rate"},
		{"-Ln --persistent-conn --thresholds", "-Ln --thresholds"},
		{"-Ln --timeout", "--list --timeout"},
	} {
		want := runLvsadm(t, featureDirector(), argv(tt.sameAs)...)
		got := runLvsadm(t, featureDirector(), argv(tt.args)...)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("lvsadm %s differs from lvsadm %s (-want +got):\n%s", tt.args, tt.sameAs, diff)
		}
	}
}

// TestSchedFlagQuirks pins what ipvsadm prints for flags that have no name
// under the service's scheduler: flag-3 under sh prints nothing, so the
// listing shows "()" and -S an empty -b (which -R cannot read back).
func TestSchedFlagQuirks(t *testing.T) {
	d := &fakeDirector{info: api.Info{ConnTableSize: 4096}, services: []lvs.ServiceStatus{{Service: lvs.Service{
		ServiceKey: lvs.ServiceKey{Protocol: lvs.TCP, Addr: ap("198.18.0.40:80")}, Scheduler: "sh", SchedFlags: lvs.SchedFlag3 | lvs.SchedFlag1,
	}}, {Service: lvs.Service{
		ServiceKey: lvs.ServiceKey{Protocol: lvs.TCP, Addr: ap("198.18.0.41:80")}, Scheduler: "mh", SchedFlags: lvs.SchedFlag3,
	}}}}
	got := runLvsadm(t, d, "-Ln")
	want := "IP Virtual Server version 1.2.1 (size=4096)\n" +
		"Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n" +
		"TCP  198.18.0.40:80 sh (sh-fallback)\n" +
		"TCP  198.18.0.41:80 mh ()\n"
	if diff := cmp.Diff(result{Stdout: want}, got); diff != "" {
		t.Errorf("-Ln (-want +got):\n%s", diff)
	}
	got = runLvsadm(t, d, "-Sn")
	want = "-A -t 198.18.0.40:80 -s sh -b sh-fallback\n" +
		"-A -t 198.18.0.41:80 -s mh -b \n"
	if diff := cmp.Diff(result{Stdout: want}, got); diff != "" {
		t.Errorf("-Sn (-want +got):\n%s", diff)
	}
}

func TestTimeoutListing(t *testing.T) {
	d := &fakeDirector{info: api.Info{Timeouts: lvs.Timeouts{TCP: 7200 * time.Second, TCPFin: 1500 * time.Millisecond, UDP: 0}}}
	got := runLvsadm(t, d, "-L", "--timeout")
	if diff := cmp.Diff(result{Stdout: "Timeout (tcp tcpfin udp): 7200 1 0\n"}, got); diff != "" {
		t.Errorf("-L --timeout (-want +got):\n%s", diff)
	}
	d = &fakeDirector{errs: map[string]error{"Info": lvs.ErrInvalid}}
	got = runLvsadm(t, d, "-L", "--timeout")
	if got.Status != 1 || got.Stdout != "" {
		t.Errorf("-L --timeout when Info fails = %+v, want status 1 and no output", got)
	}
}

// TestSaveWithoutInfo checks that -S, like ipvsadm's, prints no version
// line, so it does not need Info.
func TestSaveWithoutInfo(t *testing.T) {
	d := featureDirector()
	d.errs = map[string]error{"Info": lvs.ErrInvalid}
	if got := runLvsadm(t, d, "-Sn"); got.Status != 0 {
		t.Errorf("-Sn = %+v", got)
	}
	if diff := cmp.Diff([]string{"Services"}, d.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}
