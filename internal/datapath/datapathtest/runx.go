package datapathtest

import (
	"testing"

	"golvs/internal/datapath"
	"golvs/internal/packet"
)

// XCase is a Case for frames Case's checks do not cover: IPv6, ICMP
// errors, tunnels and fragments. Its output, when it has one, is checked
// with packet.VerifyFrame rather than packet.VerifyChecksums.
type XCase struct {
	Case
	// Verify says what VerifyFrame needs to know (GUE ports).
	Verify packet.VerifyOptions
	// Fix, when set, checks the fields of the output a test cannot
	// predict (a GUE source port from the flow hash) and returns want
	// with them copied from got, before the frames are compared.
	Fix func(t testing.TB, want, got []byte) []byte
}

// RunX runs the cases in order, as subtests, inside the namespace, as
// Run does; a failed case stops the rest.
func (n *Net) RunX(t *testing.T, d *datapath.Datapath, cases []XCase) {
	t.Helper()
	for _, c := range cases {
		ok := t.Run(c.Name, func(t *testing.T) {
			n.RunXCase(t, d, c)
		})
		if !ok {
			t.Fatalf("stopping at %q", c.Name)
		}
	}
}

// RunXCase runs one case.
func (n *Net) RunXCase(t testing.TB, d *datapath.Datapath, c XCase) {
	t.Helper()
	if c.Setup != nil {
		c.Setup(t, d)
	}
	ifindex := c.Ifindex
	if ifindex == 0 {
		ifindex = n.Client.Index
	}
	before := take(t, d, c.Want)
	var (
		verdict int
		out     []byte
		err     error
	)
	n.Do(t, func() {
		if c.GSOSize != 0 {
			verdict, out, err = d.RunGSO(c.In, ifindex, c.GSOSize)
		} else {
			verdict, out, err = d.Run(c.In, ifindex)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	after := take(t, d, c.Want)

	if verdict != c.Verdict {
		t.Errorf("verdict %s, want %s", VerdictName(verdict), VerdictName(c.Verdict))
	}
	want := c.Out
	if want == nil {
		want = c.In
	}
	if c.Fix != nil && c.Out != nil {
		want = c.Fix(t, append([]byte(nil), want...), out)
	}
	if diff := packet.Diff(want, out); diff != "" {
		t.Errorf("output frame differs:\n%s", diff)
	}
	if c.Out != nil {
		if err := packet.VerifyFrame(out, c.Verify); err != nil {
			t.Errorf("output frame: %v", err)
		}
	}
	for id, w := range c.Want.Services {
		if got := sub(after.services[id], before.services[id]); got != w {
			t.Errorf("service %d stats changed by %+v, want %+v", id, got, w)
		}
	}
	for id, w := range c.Want.Reals {
		if got := sub(after.reals[id], before.reals[id]); got != w {
			t.Errorf("real %d stats changed by %+v, want %+v", id, got, w)
		}
	}
	for id, w := range c.Want.Conns {
		got := [2]int{after.conns[id][0] - before.conns[id][0], after.conns[id][1] - before.conns[id][1]}
		if got != w {
			t.Errorf("real %d (ActiveConn, InActConn) changed by %v, want %v", id, got, w)
		}
	}
	for name, w := range c.Want.Verdicts {
		if _, ok := after.verdicts[name]; !ok {
			t.Errorf("no counter %q", name)
		}
		if got := after.verdicts[name] - before.verdicts[name]; got != w {
			t.Errorf("counter %s changed by %d, want %d", name, got, w)
		}
	}
	if c.Check != nil {
		c.Check(t, d)
	}
}
