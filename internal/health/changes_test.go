package health

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"golvs/internal/lvs"
)

// Changes turns the table's reals into the desired ones and leaves reals
// the configuration does not name alone.
func TestDesiredChanges(t *testing.T) {
	byHand := netip.MustParseAddrPort("198.18.0.50:80")
	rl := func(a netip.AddrPort, w int) lvs.Real { return lvs.Real{Addr: a, Method: lvs.Masq, Weight: w} }
	svc := serviceWith(realWith(rs1, 1), realWith(rs2, 2), realWith(rs3, 3))
	svc.SorryServer = &lvs.Real{Addr: sorry, Method: lvs.Masq, Weight: 5}
	s := newService(svc)
	c := &Checker{checks: map[uint64]*check{}}
	for _, rc := range svc.Reals {
		s.reals = append(s.reals, c.newReal(s, rc))
	}
	s.reals[1].alive = false // rs2 failed
	s.reals[2].weight = 7    // rs3 has a dynamic weight

	current := []lvs.Real{rl(rs1, 1), rl(rs2, 2), rl(rs3, 3), rl(byHand, 1), rl(sorry, 5)}
	add, edit, del := s.desired().Changes(current)
	got := fmt.Sprint("add ", add, " edit ", edit, " del ", del)
	want := fmt.Sprint("add ", []lvs.Real(nil), " edit ", []lvs.Real{rl(rs3, 7)}, " del ", []netip.AddrPort{rs2, sorry})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Changes (-want +got):\n%s", diff)
	}

	s.sorryActive = true
	add, edit, del = s.desired().Changes(current)
	got = fmt.Sprint("add ", add, " edit ", edit, " del ", del)
	want = fmt.Sprint("add ", []lvs.Real(nil), " edit ", []lvs.Real(nil), " del ", []netip.AddrPort{rs1, rs2, rs3})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Changes with the sorry server active (-want +got):\n%s", diff)
	}

	add, _, _ = s.desired().Changes(nil)
	if len(add) != 1 || add[0] != rl(sorry, 5) {
		t.Errorf("Changes from an empty table adds %v, want the sorry server", add)
	}
}
