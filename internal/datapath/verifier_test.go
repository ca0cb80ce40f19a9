package datapath

import (
	"testing"

	"golvs/internal/datapath/objtest"
	"golvs/internal/testnet"
)

// TestPrivilegedVerifierBudget loads the data plane's programs with the
// verifier's statistics and holds them to bpf/verifier-budget.txt.
func TestPrivilegedVerifierBudget(t *testing.T) {
	testnet.RequirePrivileged(t)
	spec, err := loadLvs()
	if err != nil {
		t.Fatal(err)
	}
	// The tables' sizes change nothing the verifier sees of a hash map;
	// small ones load quickly.
	for _, m := range []string{lvsMapLvsConns, lvsMapLvsNatConns, lvsMapLvsTemplates} {
		spec.Maps[m].MaxEntries = 4096
	}
	objtest.CheckBudget(t, spec)
}
