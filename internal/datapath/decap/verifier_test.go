package decap

import (
	"testing"

	"golvs/internal/datapath/objtest"
	"golvs/internal/testnet"
)

// TestPrivilegedVerifierBudget loads the decapsulation program with the
// verifier's statistics and holds it to bpf/verifier-budget.txt.
func TestPrivilegedVerifierBudget(t *testing.T) {
	testnet.RequirePrivileged(t)
	spec, err := loadDecap()
	if err != nil {
		t.Fatal(err)
	}
	objtest.CheckBudget(t, spec)
}
