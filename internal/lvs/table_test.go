package lvs

import (
	"encoding/json"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var equateAddrs = cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})

// TestTableIPv6 drives every Table transform with IPv6 keys and reals of
// both families, checking each result against the table as it should be.
func TestTableIPv6(t *testing.T) {
	web6 := ServiceKey{Protocol: TCP, Addr: netip.MustParseAddrPort("[2001:db8::10]:80")}
	web4 := ServiceKey{Protocol: TCP, Addr: netip.MustParseAddrPort("198.18.0.10:80")}
	dns6 := ServiceKey{Protocol: UDP, Addr: netip.MustParseAddrPort("[2001:db8::10]:53")}
	nat6 := Real{Addr: netip.MustParseAddrPort("[2001:db8::11]:8080"), Method: Masq, Weight: 1}
	tun4 := Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Tunnel, Weight: 2, TunType: TunGUE, TunPort: 6080, TunFlags: TunCsum}
	tun6 := Real{Addr: netip.MustParseAddrPort("[2001:db8::12]:80"), Method: Tunnel, Weight: 3, TunType: TunGRE}

	var tb Table
	steps := []struct {
		name string
		do   func() error
		want error
	}{
		{"add ipv6 service", func() error {
			return tb.AddService(Service{ServiceKey: web6, Scheduler: "wrr", Persistent: time.Minute, Netmask: Netmask6(64)})
		}, nil},
		{"add ipv4 service of the same port", func() error { return tb.AddService(Service{ServiceKey: web4, Scheduler: "rr"}) }, nil},
		{"add ipv6 udp service", func() error { return tb.AddService(Service{ServiceKey: dns6, Scheduler: "rr"}) }, nil},
		{"add ipv6 service twice", func() error { return tb.AddService(Service{ServiceKey: web6, Scheduler: "rr"}) }, ErrServiceExists},
		{"add ipv6 nat real", func() error { return tb.AddReal(web6, nat6) }, nil},
		{"add ipv4 tunnel real to the ipv6 service", func() error { return tb.AddReal(web6, tun4) }, nil},
		{"add ipv6 tunnel real to the ipv4 service", func() error { return tb.AddReal(web4, tun6) }, nil},
		{"add ipv4 nat real to the ipv6 service", func() error {
			return tb.AddReal(web6, Real{Addr: netip.MustParseAddrPort("198.19.0.12:80"), Method: Masq, Weight: 1})
		}, ErrInvalid},
		{"add ipv6 real twice", func() error { return tb.AddReal(web6, nat6) }, ErrRealExists},
		{"add real to a missing ipv6 service", func() error {
			return tb.AddReal(ServiceKey{Protocol: TCP, Addr: netip.MustParseAddrPort("[2001:db8::99]:80")}, nat6)
		}, ErrNoService},
		{"edit the ipv4 tunnel real into nat is refused", func() error {
			r := tun4
			r.Method = Masq
			return tb.EditReal(web6, r)
		}, ErrInvalid},
		{"edit the ipv4 tunnel real into ipip", func() error {
			r := tun4
			r.TunType, r.TunPort, r.TunFlags = TunIPIP, 0, 0
			return tb.EditReal(web6, r)
		}, nil},
		{"edit a missing ipv6 real", func() error {
			return tb.EditReal(web6, Real{Addr: netip.MustParseAddrPort("[2001:db8::99]:8080"), Method: Masq})
		}, ErrNoReal},
		{"edit ipv6 service keeps its reals", func() error { return tb.EditService(Service{ServiceKey: web6, Scheduler: "sh"}) }, nil},
		{"edit ipv6 service with an ipv4 netmask", func() error {
			return tb.EditService(Service{ServiceKey: web6, Scheduler: "sh", Persistent: time.Second, Netmask: netip.MustParseAddr("255.255.255.0")})
		}, ErrFamily},
		{"delete ipv6 nat real", func() error { return tb.DeleteReal(web6, nat6.Addr) }, nil},
		{"delete it again", func() error { return tb.DeleteReal(web6, nat6.Addr) }, ErrNoReal},
		{"delete ipv6 udp service", func() error { return tb.DeleteService(dns6) }, nil},
	}
	for _, st := range steps {
		if err := st.do(); !errors.Is(err, st.want) || (st.want == nil) != (err == nil) {
			t.Fatalf("%s: got %v, want %v", st.name, err, st.want)
		}
	}
	ipip4 := tun4
	ipip4.TunType, ipip4.TunPort, ipip4.TunFlags = TunIPIP, 0, 0
	want := Table{Services: []Service{
		{ServiceKey: web6, Scheduler: "sh", Reals: []Real{ipip4}},
		{ServiceKey: web4, Scheduler: "rr", Reals: []Real{tun6}},
	}}
	if diff := cmp.Diff(want, tb, equateAddrs); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	c := tb.Clone()
	c.Services[0].Reals[0].Weight = 100
	if tb.Services[0].Reals[0].Weight == 100 {
		t.Errorf("Clone shares reals with the original")
	}
}

// TestRealJSON checks that the tunnel fields are left out when unset, so
// state files written before them load and are written back the same, and
// that they survive a round trip when set.
func TestRealJSON(t *testing.T) {
	old := `{"addr":"198.19.0.11:80","method":0,"weight":1}`
	var r Real
	if err := json.Unmarshal([]byte(old), &r); err != nil {
		t.Fatal(err)
	}
	if out, _ := json.Marshal(r); string(out) != old {
		t.Errorf("marshal = %s, want %s", out, old)
	}
	r = Real{Addr: netip.MustParseAddrPort("[2001:db8::11]:80"), Method: Tunnel, Weight: 1, TunType: TunGUE, TunPort: 6080, TunFlags: TunRemCsum}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"addr":"[2001:db8::11]:80","method":2,"weight":1,"tun_type":1,"tun_port":6080,"tun_flags":2}`; string(out) != want {
		t.Errorf("marshal = %s, want %s", out, want)
	}
	var back Real
	if err := json.Unmarshal(out, &back); err != nil || back != r {
		t.Errorf("round trip = %+v, %v; want %+v", back, err, r)
	}
	s := Service{ServiceKey: ServiceKey{Protocol: TCP, Addr: netip.MustParseAddrPort("[2001:db8::10]:80")}, Scheduler: "rr", Persistent: time.Second, Netmask: Netmask6(48)}
	out, err = json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var sback Service
	if err := json.Unmarshal(out, &sback); err != nil || !cmp.Equal(s, sback, equateAddrs) {
		t.Errorf("service round trip = %+v, %v (%s); want %+v", sback, err, out, s)
	}
}

func TestNetmask6(t *testing.T) {
	for _, tt := range []struct {
		bits int
		want string
	}{
		{0, "::"}, {1, "8000::"}, {48, "ffff:ffff:ffff::"}, {64, "ffff:ffff:ffff:ffff::"}, {65, "ffff:ffff:ffff:ffff:8000::"},
		{127, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"}, {128, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}, {200, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
	} {
		m := Netmask6(tt.bits)
		if m.String() != tt.want {
			t.Errorf("Netmask6(%d) = %s, want %s", tt.bits, m, tt.want)
		}
		if bits, ok := MaskPrefix(m); !ok || bits != min(tt.bits, 128) {
			t.Errorf("MaskPrefix(%s) = %d, %v", m, bits, ok)
		}
	}
	for _, tt := range []struct {
		mask       string
		bits       int
		contiguous bool
	}{
		{"255.255.255.0", 24, true}, {"255.0.255.0", 8, false}, {"0.0.0.0", 0, true}, {"0.0.0.24", 0, false},
		{"ffff::ffff", 16, false}, {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 128, true},
	} {
		bits, ok := MaskPrefix(netip.MustParseAddr(tt.mask))
		if bits != tt.bits || ok != tt.contiguous {
			t.Errorf("MaskPrefix(%s) = %d, %v; want %d, %v", tt.mask, bits, ok, tt.bits, tt.contiguous)
		}
	}
}

func TestTunnelNames(t *testing.T) {
	for ty, want := range map[TunnelType]string{TunIPIP: "ipip", TunGUE: "gue", TunGRE: "gre", 3: "?"} {
		if got := ty.String(); got != want {
			t.Errorf("TunnelType(%d) = %q, want %q", ty, got, want)
		}
	}
	for m, want := range map[Method]string{Masq: "Masq", Tunnel: "Tunnel", Route: "Route", 1: "?"} {
		if got := m.String(); got != want {
			t.Errorf("Method(%d) = %q, want %q", m, got, want)
		}
	}
}
