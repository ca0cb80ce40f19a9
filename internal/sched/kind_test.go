package sched

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"golvs/internal/lvs"
)

// TestKindsMatchModel checks that the model's scheduler names and the
// kinds here are the same schedulers, each once.
func TestKindsMatchModel(t *testing.T) {
	names, ids := map[string]bool{}, map[ID]bool{}
	for _, k := range Kinds() {
		if names[k.Name] || ids[k.ID] {
			t.Errorf("scheduler %s (id %d) listed twice", k.Name, k.ID)
		}
		names[k.Name], ids[k.ID] = true, true
		if !slices.Contains(lvs.Schedulers, k.Name) {
			t.Errorf("kind %s is not in lvs.Schedulers", k.Name)
		}
		if k.ID == 0 {
			t.Errorf("kind %s has id 0, which the data plane takes for none", k.Name)
		}
	}
	for _, n := range lvs.Schedulers {
		k, ok := KindOf(n)
		if !ok {
			t.Errorf("lvs.Schedulers has %s, sched has no kind of it", n)
			continue
		}
		if byID, ok := KindByID(k.ID); !ok || byID.Name != n {
			t.Errorf("KindByID(%d) = %s, %t; want %s", k.ID, byID.Name, ok, n)
		}
	}
	if _, ok := KindOf("none"); ok {
		t.Error("KindOf(none) found a scheduler")
	}
	if !slices.IsSortedFunc(Kinds(), func(a, b Kind) int { return int(a.ID) - int(b.ID) }) {
		t.Error("Kinds is not in ID order")
	}
}

// TestKindRows checks that each row is consistent with itself.
func TestKindRows(t *testing.T) {
	for _, k := range Kinds() {
		if (k.Table == Buckets) != (k.TableSize > 0) {
			t.Errorf("%s: table kind %d with %d buckets", k.Name, k.Table, k.TableSize)
		}
		if (k.FlagNames[0] == "") != (k.FlagNames[1] == "") {
			t.Errorf("%s names one of its two flags: %q", k.Name, k.FlagNames)
		}
		if k.KeepsPosition && k.Table != Sequence {
			t.Errorf("%s keeps a position without a Sequence table", k.Name)
		}
		if k.build == nil {
			t.Errorf("%s has no table builder", k.Name)
		}
	}
}

func TestShape(t *testing.T) {
	for _, c := range []struct {
		sched       string
		fixed, most int
	}{
		{"rr", 0, MaxTable},
		{"wrr", 0, MaxTable},
		{"sh", ShSize, ShSize},
		{"dh", ShSize, ShSize},
		{"mh", MhSize, MhSize},
		{"wlc", 0, lvs.MaxReals},
		{"lblcr", 0, lvs.MaxReals},
		{"twos", 0, lvs.MaxReals},
	} {
		k, _ := KindOf(c.sched)
		if fixed, most := k.Shape(); fixed != c.fixed || most != c.most {
			t.Errorf("%s: Shape() = %d, %d; want %d, %d", c.sched, fixed, most, c.fixed, c.most)
		}
	}
	if fixed, most := (Kind{}).Shape(); fixed != 0 || most != 0 {
		t.Errorf("zero Kind: Shape() = %d, %d; want 0, 0", fixed, most)
	}
}

// TestTableFitsShape checks that every scheduler's table has the length
// its Shape allows, with no reals, a few, and as many as a service has.
func TestTableFitsShape(t *testing.T) {
	for _, n := range []int{0, 1, 3, lvs.MaxReals} {
		ds := make([]Dest, n)
		for i := range ds {
			ds[i] = Dest{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 80), Weight: 65535 - i, LastWeight: 65535 - i}
		}
		for _, k := range Kinds() {
			tab := Table(k.Name, 0, ds)
			fixed, most := k.Shape()
			if len(tab) > most || (fixed != 0 && len(tab) != fixed && len(tab) != 0) {
				t.Errorf("%s over %d reals: table of %d entries, shape %d/%d", k.Name, n, len(tab), fixed, most)
			}
		}
	}
}

func TestLastWeight(t *testing.T) {
	for _, c := range []struct {
		name               string
		prev, weight, want int
	}{
		{"a new real takes its weight", 0, 5, 5},
		{"a new quiesced real has none", 0, 0, 0},
		{"quiescing keeps the last weight", 5, 0, 5},
		{"a new weight replaces it", 5, 3, 3},
	} {
		if got := LastWeight(c.prev, c.weight); got != c.want {
			t.Errorf("%s: LastWeight(%d, %d) = %d, want %d", c.name, c.prev, c.weight, got, c.want)
		}
	}
}

func TestLastPicked(t *testing.T) {
	table := []string{"a", "b", "c"}
	for _, c := range []struct {
		name   string
		table  []string
		pos    uint32
		want   string
		wantOK bool
	}{
		{"nothing picked yet", table, 0, "", false},
		{"first pick", table, 1, "a", true},
		{"last of the table", table, 3, "c", true},
		{"the position wraps", table, 5, "b", true},
		{"empty table", nil, 4, "", false},
	} {
		got, ok := LastPicked(c.table, c.pos)
		if got != c.want || ok != c.wantOK {
			t.Errorf("%s: LastPicked(%v, %d) = %q, %t; want %q, %t", c.name, c.table, c.pos, got, ok, c.want, c.wantOK)
		}
	}
}

func TestDropsDestState(t *testing.T) {
	lblc, _ := KindOf("lblc")
	lblcr, _ := KindOf("lblcr")
	if DropsDestState(lblc.ID, lblc.ID) {
		t.Error("lblc state dropped on a change of the reals")
	}
	if !DropsDestState(lblc.ID, lblcr.ID) {
		t.Error("lblc state kept on a change to lblcr")
	}
}

func TestFlagNames(t *testing.T) {
	for _, c := range []struct {
		sched string
		flag  lvs.SchedFlags
		want  string
	}{
		{"sh", lvs.SchedFlag1, "sh-fallback"},
		{"sh", lvs.SchedFlag2, "sh-port"},
		{"sh", lvs.SchedFlag3, "flag-3"},
		{"mh", lvs.SchedFlag2, "mh-port"},
		{"wlc", lvs.SchedFlag1, "flag-1"},
		{"unknown", lvs.SchedFlag3, "flag-3"},
		{"wlc", lvs.SchedFlag1 | lvs.SchedFlag2, ""},
	} {
		k, _ := KindOf(c.sched)
		if got := k.FlagName(c.flag); got != c.want {
			t.Errorf("%s: FlagName(%#x) = %q, want %q", c.sched, uint32(c.flag), got, c.want)
		}
	}
}

func TestParseFlag(t *testing.T) {
	for _, c := range []struct {
		sched, name string
		want        lvs.SchedFlags
		err         error
	}{
		{"wlc", "flag-1", lvs.SchedFlag1, nil},
		{"sh", "flag-3", lvs.SchedFlag3, nil},
		{"nosuch", "flag-2", lvs.SchedFlag2, nil},
		{"sh", "sh-fallback", lvs.SchedFlag1, nil},
		{"sh", "sh-port", lvs.SchedFlag2, nil},
		{"mh", "mh-fallback", lvs.SchedFlag1, nil},
		{"mh", "mh-port", lvs.SchedFlag2, nil},
		{"mh", "sh-port", 0, ErrOtherFlag},
		{"wlc", "mh-fallback", 0, ErrOtherFlag},
		{"sh", "flag-4", 0, ErrUnknownFlag},
		{"sh", "", 0, ErrUnknownFlag},
	} {
		t.Run(fmt.Sprintf("%s %s", c.sched, c.name), func(t *testing.T) {
			got, err := ParseFlag(c.sched, c.name)
			if got != c.want || !errors.Is(err, c.err) || (err == nil) != (c.err == nil) {
				t.Errorf("ParseFlag(%q, %q) = %#x, %v; want %#x, %v", c.sched, c.name, uint32(got), err, uint32(c.want), c.err)
			}
		})
	}
}
