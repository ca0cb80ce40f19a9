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

// equateAddrs compares tables: netip values by value, the service index
// not at all.
var equateAddrs = cmp.Options{cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{}), cmpopts.IgnoreUnexported(Table{})}

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

// TestServiceIndex checks Table.Service against a scan of Services after
// every kind of change: the methods', and Services replaced, grown or cut
// by other code, and tables copied by value that share an index.
func TestServiceIndex(t *testing.T) {
	key := func(i int) ServiceKey {
		return ServiceKey{Protocol: TCP, Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 80)}
	}
	add := func(tb *Table, i int) {
		t.Helper()
		if err := tb.AddService(Service{ServiceKey: key(i), Scheduler: "rr"}); err != nil {
			t.Fatal(err)
		}
	}
	// check compares Service with a scan for keys 0..n-1.
	check := func(name string, tb *Table, n int) {
		t.Helper()
		for i := range n {
			want := -1
			for j, s := range tb.Services {
				if s.ServiceKey == key(i) {
					want = j
					break
				}
			}
			if got := tb.Service(key(i)); got != want {
				t.Fatalf("%s: Service(%s) = %d, want %d", name, key(i), got, want)
			}
		}
	}
	steps := []struct {
		name string
		do   func(tb *Table)
	}{
		{"add 40", func(tb *Table) {
			for i := range 40 {
				add(tb, i)
			}
		}},
		{"delete the first, a middle one and the last", func(tb *Table) {
			for _, i := range []int{0, 20, 39} {
				if err := tb.DeleteService(key(i)); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"add back a deleted one, at the end", func(tb *Table) { add(tb, 20) }},
		{"Services replaced", func(tb *Table) {
			tb.Services = []Service{{ServiceKey: key(5), Scheduler: "rr"}, {ServiceKey: key(3), Scheduler: "rr"}}
		}},
		{"Services appended to", func(tb *Table) {
			tb.Services = append(tb.Services, Service{ServiceKey: key(7), Scheduler: "rr"})
		}},
		{"Services cut", func(tb *Table) { tb.Services = tb.Services[:1] }},
		{"a copy adds to its shared index", func(tb *Table) {
			cp := *tb
			add(&cp, 8)
			add(&cp, 9)
			check("the copy", &cp, 40)
		}},
		{"a clone deletes from its own", func(tb *Table) {
			add(tb, 11)
			c := tb.Clone()
			if err := c.DeleteService(key(11)); err != nil {
				t.Fatal(err)
			}
			check("the clone", &c, 40)
		}},
		{"clear", func(tb *Table) { tb.Clear() }},
		{"add after clear", func(tb *Table) { add(tb, 1) }},
	}
	var tb Table
	for _, st := range steps {
		st.do(&tb)
		check(st.name, &tb, 40)
	}
	if err := tb.AddService(Service{ServiceKey: key(1), Scheduler: "rr"}); !errors.Is(err, ErrServiceExists) {
		t.Fatalf("adding a service twice: %v, want ErrServiceExists", err)
	}
}

// TestServiceIndexDuplicates checks that a Services given duplicate keys
// finds the first, as a scan would.
func TestServiceIndexDuplicates(t *testing.T) {
	k := ServiceKey{Protocol: UDP, Addr: netip.MustParseAddrPort("198.18.0.10:53")}
	tb := Table{Services: []Service{{ServiceKey: k, Scheduler: "rr"}, {ServiceKey: k, Scheduler: "wrr"}}}
	if got := tb.Service(k); got != 0 {
		t.Fatalf("Service = %d, want 0", got)
	}
}

// TestTableWeightErrors checks which error wins for a weight IPVS refuses
// or takes: a missing service first (ipvsadm's "Service not defined"),
// then the weight; up to INT_MAX is taken, as in IPVS.
func TestTableWeightErrors(t *testing.T) {
	web := ServiceKey{Protocol: TCP, Addr: netip.MustParseAddrPort("198.18.8.1:80")}
	missing := ServiceKey{Protocol: TCP, Addr: netip.MustParseAddrPort("198.18.8.9:80")}
	var tb Table
	if err := tb.AddService(Service{ServiceKey: web, Scheduler: "wrr"}); err != nil {
		t.Fatal(err)
	}
	real := func(w int) Real { return Real{Addr: netip.MustParseAddrPort("198.19.8.4:80"), Method: Masq, Weight: w} }
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"missing service, large weight", func() error { return tb.AddReal(missing, real(70000)) }, ErrNoService},
		{"missing service, weight above INT_MAX", func() error { return tb.AddReal(missing, real(MaxWeight+1)) }, ErrNoService},
		{"weight above 65535", func() error { return tb.AddReal(web, real(70000)) }, nil},
		{"edit to INT_MAX", func() error { return tb.EditReal(web, real(MaxWeight)) }, nil},
		{"edit above INT_MAX", func() error { return tb.EditReal(web, real(MaxWeight+1)) }, ErrRange},
	}
	for _, tt := range tests {
		if err := tt.do(); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
	if got := tb.Services[0].Reals[0].Weight; got != MaxWeight {
		t.Errorf("weight %d, want %d", got, MaxWeight)
	}
}
