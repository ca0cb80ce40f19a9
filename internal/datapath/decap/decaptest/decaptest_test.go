package decaptest

import (
	"testing"
	"unsafe"

	"golvs/internal/datapath/objtest"
)

// TestABISizes checks the generated Go types against the object's BTF and
// its map's key and value sizes.
func TestABISizes(t *testing.T) {
	spec, err := loadDecapTest()
	if err != nil {
		t.Fatal(err)
	}
	objtest.CheckLayouts(t, spec, []objtest.Type{
		{Name: "decap_vip_key", Size: unsafe.Sizeof(decapTestDecapVipKey{})},
		{Name: "decap_test_tunnel", Size: unsafe.Sizeof(decapTestDecapTestTunnel{})},
	}, []objtest.Map{
		{Name: decapTestMapDecapTestTunnels, Key: 4, Value: unsafe.Sizeof(decapTestDecapTestTunnel{})},
	})
}
