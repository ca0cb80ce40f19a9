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
		if !t.Run(c.Name, func(t *testing.T) { n.RunXCase(t, d, c) }) {
			t.Fatalf("stopping at %q", c.Name)
		}
	}
}

// RunXCase runs one case.
func (n *Net) RunXCase(t testing.TB, d *datapath.Datapath, c XCase) {
	t.Helper()
	n.run(t, d, c.Case, c.Fix, func(out []byte) error { return packet.VerifyFrame(out, c.Verify) })
}
