package datapath

import (
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"golvs/internal/lvs"
)

// TestABISizes checks the generated Go types against the object's BTF and
// the maps' key and value sizes, so that a layout can only drift with a
// failing test.
func TestABISizes(t *testing.T) {
	spec, err := loadLvs()
	if err != nil {
		t.Fatal(err)
	}
	checkLayouts(t, spec, []cType{
		{"lvs_service_key", unsafe.Sizeof(lvsLvsServiceKey{})},
		{"lvs_service", unsafe.Sizeof(lvsLvsService{})},
		{"lvs_real", unsafe.Sizeof(lvsLvsReal{})},
		{"lvs_real_conns", unsafe.Sizeof(lvsLvsRealConns{})},
		{"lvs_stats", unsafe.Sizeof(lvsLvsStats{})},
		{"lvs_tuple", unsafe.Sizeof(lvsLvsTuple{})},
		{"lvs_conn", unsafe.Sizeof(lvsLvsConn{})},
		{"lvs_nat_conn", unsafe.Sizeof(lvsLvsNatConn{})},
		{"lvs_fib_cache", unsafe.Sizeof(lvsLvsFibCache{})},
		{"lvs_client_route", unsafe.Sizeof(lvsLvsClientRoute{})},
		{"lvs_lblc_key", unsafe.Sizeof(lvsLvsLblcKey{})},
		{"lvs_lblc_entry", unsafe.Sizeof(lvsLvsLblcEntry{})},
		{"lvs_tmpl", unsafe.Sizeof(lvsLvsTmpl{})},
		{"lvs_frag_key", unsafe.Sizeof(lvsLvsFragKey{})},
		{"lvs_frag", unsafe.Sizeof(lvsLvsFrag{})},
	}, []mapShape{
		{lvsMapLvsServices, unsafe.Sizeof(lvsLvsServiceKey{}), unsafe.Sizeof(lvsLvsService{})},
		{lvsMapLvsReals, 4, unsafe.Sizeof(lvsLvsReal{})},
		{lvsMapLvsConnCounts, 4, unsafe.Sizeof(lvsLvsRealConns{})},
		{lvsMapLvsSvcStats, 4, unsafe.Sizeof(lvsLvsStats{})},
		{lvsMapLvsRealStats, 4, unsafe.Sizeof(lvsLvsStats{})},
		{lvsMapLvsConns, unsafe.Sizeof(lvsLvsTuple{}), unsafe.Sizeof(lvsLvsConn{})},
		{lvsMapLvsNatConns, unsafe.Sizeof(lvsLvsTuple{}), unsafe.Sizeof(lvsLvsNatConn{})},
		{lvsMapLvsSvcVaddrs, 4, unsafe.Sizeof(lvsLvsAddr{})},
		{lvsMapLvsRealRoutes, 4, unsafe.Sizeof(lvsLvsFibCache{})},
		{lvsMapLvsClientRoutes, unsafe.Sizeof(lvsLvsClientRoute{}), unsafe.Sizeof(lvsLvsFibCache{})},
		{lvsMapLvsTimeouts, 4, 8},
		{lvsMapLvsOverload, 4, 4},
		{lvsMapLvsLblc, unsafe.Sizeof(lvsLvsLblcKey{}), unsafe.Sizeof(lvsLvsLblcEntry{})},
		{lvsMapLvsTemplates, unsafe.Sizeof(lvsLvsTuple{}), unsafe.Sizeof(lvsLvsTmpl{})},
		{lvsMapLvsPortZero, 4, 4},
		{lvsMapLvsFrags, unsafe.Sizeof(lvsLvsFragKey{}), unsafe.Sizeof(lvsLvsFrag{})},
		{lvsMapLvsSettings, 4, 4},
	})
	if v := spec.Variables[lvsVarLvsAbiInfo]; v == nil {
		t.Error("no lvs_abi_info in the object")
	} else {
		var info [13]uint32 // one uint32 per enum, version first
		if err := v.Get(&info); err != nil {
			t.Errorf("lvs_abi_info: %v", err)
		} else if int(info[0]) != ABIVersion {
			t.Errorf("object ABI version %d, Go ABIVersion %d", info[0], ABIVersion)
		}
	}
}

// cType is a C struct and the size of its Go type; mapShape a map and
// the sizes Go uses for its key and value.
type (
	cType struct {
		name string
		size uintptr
	}
	mapShape struct {
		name     string
		key, val uintptr
	}
)

// checkLayouts checks Go type sizes against spec's BTF and the maps' key
// and value sizes against what Go uses.
func checkLayouts(t *testing.T, spec *ebpf.CollectionSpec, types []cType, maps []mapShape) {
	t.Helper()
	for _, c := range types {
		typ, err := spec.Types.AnyTypeByName(c.name)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		n, err := btf.Sizeof(typ)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if uintptr(n) != c.size {
			t.Errorf("struct %s is %d bytes in C, %d in Go", c.name, n, c.size)
		}
	}
	for _, m := range maps {
		ms := spec.Maps[m.name]
		if ms == nil {
			t.Errorf("no map %s", m.name)
			continue
		}
		if uintptr(ms.KeySize) != m.key || uintptr(ms.ValueSize) != m.val {
			t.Errorf("map %s: key %d value %d bytes, Go uses %d and %d", m.name, ms.KeySize, ms.ValueSize, m.key, m.val)
		}
	}
}

// TestTestRunContextLayout checks the hand-written contexts that
// BPF_PROG_TEST_RUN takes, the head of struct __sk_buff and struct xdp_md,
// against the kernel's, from the object's BTF.
func TestTestRunContextLayout(t *testing.T) {
	spec, err := loadLvs()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		offsets map[string]uintptr
		size    uintptr // of the Go type
		last    string  // the C field it ends with
	}{
		{"__sk_buff", map[string]uintptr{
			"len":             unsafe.Offsetof(skbContext{}.Len),
			"ingress_ifindex": unsafe.Offsetof(skbContext{}.IngressIfindex),
			"ifindex":         unsafe.Offsetof(skbContext{}.Ifindex),
			"cb":              unsafe.Offsetof(skbContext{}.CB),
			"tstamp":          unsafe.Offsetof(skbContext{}.Tstamp),
			"wire_len":        unsafe.Offsetof(skbContext{}.WireLen),
			"gso_segs":        unsafe.Offsetof(skbContext{}.GSOSegs),
			"gso_size":        unsafe.Offsetof(skbContext{}.GSOSize),
		}, unsafe.Sizeof(skbContext{}), "gso_size"},
		{"xdp_md", map[string]uintptr{
			"data":            unsafe.Offsetof(xdpContext{}.Data),
			"data_end":        unsafe.Offsetof(xdpContext{}.DataEnd),
			"data_meta":       unsafe.Offsetof(xdpContext{}.DataMeta),
			"ingress_ifindex": unsafe.Offsetof(xdpContext{}.IngressIfindex),
			"rx_queue_index":  unsafe.Offsetof(xdpContext{}.RxQueueIndex),
			"egress_ifindex":  unsafe.Offsetof(xdpContext{}.EgressIfindex),
		}, unsafe.Sizeof(xdpContext{}), "egress_ifindex"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var st *btf.Struct
			if err := spec.Types.TypeByName(c.name, &st); err != nil {
				t.Fatal(err)
			}
			seen := 0
			for _, m := range st.Members {
				want, ok := c.offsets[m.Name]
				if !ok {
					continue
				}
				seen++
				if uintptr(m.Offset.Bytes()) != want {
					t.Errorf("%s.%s at %d, the Go context has it at %d", c.name, m.Name, m.Offset.Bytes(), want)
				}
			}
			if seen != len(c.offsets) {
				t.Errorf("found %d of the %d fields in %s", seen, len(c.offsets), c.name)
			}
			if want := c.offsets[c.last] + 4; c.size != want {
				t.Errorf("the Go context is %d bytes, want %d (it ends with %s)", c.size, want, c.last)
			}
		})
	}
}

// TestModelConstantsMatchABI checks the values internal/lvs gives IPVS's
// forwarding methods and TCP states against the C enums they cross into.
func TestModelConstantsMatchABI(t *testing.T) {
	for _, c := range []struct {
		name      string
		model, cv int
	}{
		{"Masq", int(lvs.Masq), int(lvsLvsMethodLVS_METHOD_MASQ)},
		{"Tunnel", int(lvs.Tunnel), int(lvsLvsMethodLVS_METHOD_TUNNEL)},
		{"Route", int(lvs.Route), int(lvsLvsMethodLVS_METHOD_ROUTE)},
		{"StateNone", lvs.StateNone, int(lvsLvsTcpStateLVS_TCP_NONE)},
		{"StateEstablished", lvs.StateEstablished, int(lvsLvsTcpStateLVS_TCP_ESTABLISHED)},
		{"StateSynSent", lvs.StateSynSent, int(lvsLvsTcpStateLVS_TCP_SYN_SENT)},
		{"StateSynRecv", lvs.StateSynRecv, int(lvsLvsTcpStateLVS_TCP_SYN_RECV)},
		{"StateFinWait", lvs.StateFinWait, int(lvsLvsTcpStateLVS_TCP_FIN_WAIT)},
		{"StateTimeWait", lvs.StateTimeWait, int(lvsLvsTcpStateLVS_TCP_TIME_WAIT)},
		{"StateClose", lvs.StateClose, int(lvsLvsTcpStateLVS_TCP_CLOSE)},
		{"StateCloseWait", lvs.StateCloseWait, int(lvsLvsTcpStateLVS_TCP_CLOSE_WAIT)},
		{"StateLastAck", lvs.StateLastAck, int(lvsLvsTcpStateLVS_TCP_LAST_ACK)},
		{"StateListen", lvs.StateListen, int(lvsLvsTcpStateLVS_TCP_LISTEN)},
		{"StateSynAck", lvs.StateSynAck, int(lvsLvsTcpStateLVS_TCP_SYNACK)},
		{"MaxReals", lvs.MaxReals, MaxDests},
	} {
		if c.model != c.cv {
			t.Errorf("lvs.%s is %d, the C ABI has %d", c.name, c.model, c.cv)
		}
	}
}
