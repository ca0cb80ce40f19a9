package lvs

import (
	"errors"
	"testing"
)

func TestParseTunnelType(t *testing.T) {
	for _, c := range []struct {
		name string
		want TunnelType
		err  error
	}{
		{"ipip", TunIPIP, nil},
		{"gue", TunGUE, nil},
		{"gre", TunGRE, nil},
		{"GUE", 0, ErrInvalid},
		{"?", 0, ErrInvalid},
		{"", 0, ErrInvalid},
	} {
		got, err := ParseTunnelType(c.name)
		if got != c.want || !errors.Is(err, c.err) || (err == nil) != (c.err == nil) {
			t.Errorf("ParseTunnelType(%q) = %d, %v; want %d, %v", c.name, got, err, c.want, c.err)
		}
	}
	if _, err := ParseTunnelType("vxlan"); err == nil || err.Error() != `invalid operation: tunnel type "vxlan" is not ipip, gue or gre` {
		t.Errorf("ParseTunnelType(vxlan): %v", err)
	}
	// Every name parses back to its type.
	for ty := TunIPIP; ty <= TunGRE; ty++ {
		if got, err := ParseTunnelType(ty.String()); got != ty || err != nil {
			t.Errorf("ParseTunnelType(%q) = %d, %v; want %d", ty, got, err, ty)
		}
	}
}

func TestTunnelFlagNames(t *testing.T) {
	for f, want := range map[TunnelFlags]string{TunNoCsum: "nocsum", TunCsum: "csum", TunRemCsum: "remcsum", TunCsum | TunRemCsum: "?", 4: "?"} {
		if got := f.String(); got != want {
			t.Errorf("TunnelFlags(%d) = %q, want %q", f, got, want)
		}
		got, err := ParseTunnelFlags(want)
		if want == "?" {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("ParseTunnelFlags(%q) = %d, %v; want ErrInvalid", want, got, err)
			}
			continue
		}
		if got != f || err != nil {
			t.Errorf("ParseTunnelFlags(%q) = %d, %v; want %d", want, got, err, f)
		}
	}
	if _, err := ParseTunnelFlags("none"); err == nil || err.Error() != `invalid operation: tunnel checksum option "none" is not nocsum, csum or remcsum` {
		t.Errorf("ParseTunnelFlags(none): %v", err)
	}
}

// TestTunnelOptions checks which tunnel types take a port and which
// checksum options, as ip_vs_xmit.c uses them.
func TestTunnelOptions(t *testing.T) {
	for _, c := range []struct {
		ty    TunnelType
		port  bool
		flags []TunnelFlags // taken
	}{
		{TunIPIP, false, []TunnelFlags{TunNoCsum}},
		{TunGUE, true, []TunnelFlags{TunNoCsum, TunCsum, TunRemCsum}},
		{TunGRE, false, []TunnelFlags{TunNoCsum, TunCsum}},
	} {
		if c.ty.HasPort() != c.port {
			t.Errorf("%s: HasPort() = %t", c.ty, !c.port)
		}
		for _, f := range []TunnelFlags{TunNoCsum, TunCsum, TunRemCsum, TunCsum | TunRemCsum} {
			want := false
			for _, g := range c.flags {
				want = want || f == g
			}
			if got := c.ty.TakesFlags(f); got != want {
				t.Errorf("%s: TakesFlags(%s) = %t, want %t", c.ty, f, got, want)
			}
		}
	}
}
