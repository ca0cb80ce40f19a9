package datapath

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"golvs/internal/datapath/objtest"
	"golvs/internal/lvs"
	"golvs/internal/sched"
)

// TestABISizes checks the generated Go types against the object's BTF and
// the maps' key and value sizes, so that a layout can only drift with a
// failing test.
func TestABISizes(t *testing.T) {
	spec, err := loadLvs()
	if err != nil {
		t.Fatal(err)
	}
	objtest.CheckLayouts(t, spec, []objtest.Type{
		{Name: "lvs_service_key", Size: unsafe.Sizeof(lvsLvsServiceKey{})},
		{Name: "lvs_service", Size: unsafe.Sizeof(lvsLvsService{})},
		{Name: "lvs_real", Size: unsafe.Sizeof(lvsLvsReal{})},
		{Name: "lvs_real_conns", Size: unsafe.Sizeof(lvsLvsRealConns{})},
		{Name: "lvs_stats", Size: unsafe.Sizeof(lvsLvsStats{})},
		{Name: "lvs_tuple", Size: unsafe.Sizeof(lvsLvsTuple{})},
		{Name: "lvs_conn", Size: unsafe.Sizeof(lvsLvsConn{})},
		{Name: "lvs_nat_conn", Size: unsafe.Sizeof(lvsLvsNatConn{})},
		{Name: "lvs_fib_cache", Size: unsafe.Sizeof(lvsLvsFibCache{})},
		{Name: "lvs_client_route", Size: unsafe.Sizeof(lvsLvsClientRoute{})},
		{Name: "lvs_lblc_key", Size: unsafe.Sizeof(lvsLvsLblcKey{})},
		{Name: "lvs_lblc_entry", Size: unsafe.Sizeof(lvsLvsLblcEntry{})},
		{Name: "lvs_tmpl", Size: unsafe.Sizeof(lvsLvsTmpl{})},
		{Name: "lvs_frag_key", Size: unsafe.Sizeof(lvsLvsFragKey{})},
		{Name: "lvs_frag", Size: unsafe.Sizeof(lvsLvsFrag{})},
	}, []objtest.Map{
		{Name: lvsMapLvsServices, Key: unsafe.Sizeof(lvsLvsServiceKey{}), Value: unsafe.Sizeof(lvsLvsService{})},
		{Name: lvsMapLvsReals, Key: 4, Value: unsafe.Sizeof(lvsLvsReal{})},
		{Name: lvsMapLvsConnCounts, Key: 4, Value: unsafe.Sizeof(lvsLvsRealConns{})},
		{Name: lvsMapLvsSvcStats, Key: 4, Value: unsafe.Sizeof(lvsLvsStats{})},
		{Name: lvsMapLvsRealStats, Key: 4, Value: unsafe.Sizeof(lvsLvsStats{})},
		{Name: lvsMapLvsConns, Key: unsafe.Sizeof(lvsLvsTuple{}), Value: unsafe.Sizeof(lvsLvsConn{})},
		{Name: lvsMapLvsNatConns, Key: unsafe.Sizeof(lvsLvsTuple{}), Value: unsafe.Sizeof(lvsLvsNatConn{})},
		{Name: lvsMapLvsSvcVaddrs, Key: 4, Value: unsafe.Sizeof(lvsLvsAddr{})},
		{Name: lvsMapLvsRealRoutes, Key: 4, Value: unsafe.Sizeof(lvsLvsFibCache{})},
		{Name: lvsMapLvsClientRoutes, Key: unsafe.Sizeof(lvsLvsClientRoute{}), Value: unsafe.Sizeof(lvsLvsFibCache{})},
		{Name: lvsMapLvsTimeouts, Key: 4, Value: 8},
		{Name: lvsMapLvsOverload, Key: 4, Value: 4},
		{Name: lvsMapLvsLblc, Key: unsafe.Sizeof(lvsLvsLblcKey{}), Value: unsafe.Sizeof(lvsLvsLblcEntry{})},
		{Name: lvsMapLvsTemplates, Key: unsafe.Sizeof(lvsLvsTuple{}), Value: unsafe.Sizeof(lvsLvsTmpl{})},
		{Name: lvsMapLvsPortZero, Key: 4, Value: 4},
		{Name: lvsMapLvsFrags, Key: unsafe.Sizeof(lvsLvsFragKey{}), Value: unsafe.Sizeof(lvsLvsFrag{})},
		{Name: lvsMapLvsSettings, Key: 4, Value: 4},
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

// cEnum returns the values of C enum name, by constant name, from the
// object's BTF: what the data plane was compiled with.
func cEnum(t *testing.T, spec *ebpf.CollectionSpec, name string) map[string]uint64 {
	t.Helper()
	var e *btf.Enum
	if err := spec.Types.TypeByName(name, &e); err != nil {
		t.Fatalf("enum %s: %v", name, err)
	}
	vals := make(map[string]uint64, len(e.Values))
	for _, v := range e.Values {
		vals[v.Name] = v.Value
	}
	return vals
}

// checkEnum checks C enum name against Go's vocabulary both ways: every
// value goName names (ok false: Go has no such value, which goValues also
// leaves out) is the enum's constant prefix+NAME, and every constant of
// the enum that skip does not leave out is one of goValues under its Go
// name.
func checkEnum(t *testing.T, spec *ebpf.CollectionSpec, name, prefix string, goValues []uint64, goName func(uint64) (string, bool), skip func(string) bool) {
	t.Helper()
	c := cEnum(t, spec, name)
	for _, v := range goValues {
		n, ok := goName(v)
		if !ok {
			t.Errorf("enum %s: Go has value %d without a name", name, v)
			continue
		}
		cv, ok := c[prefix+strings.ToUpper(n)]
		switch {
		case !ok:
			t.Errorf("enum %s has no %s%s for Go's %s (%d)", name, prefix, strings.ToUpper(n), n, v)
		case cv != v:
			t.Errorf("enum %s: %s%s is %d in C, %d in Go", name, prefix, strings.ToUpper(n), cv, v)
		}
	}
	for cn, cv := range c {
		if skip != nil && skip(cn) {
			continue
		}
		n, ok := goName(cv)
		if !ok || prefix+strings.ToUpper(n) != cn {
			t.Errorf("enum %s: %s (%d) is %q in Go (known: %t)", name, cn, cv, n, ok)
		}
	}
}

// TestABISchedulers checks internal/sched's scheduler kinds against enum
// lvs_sched both ways: every kind has its id in the data plane and every
// id of the data plane a kind.
func TestABISchedulers(t *testing.T) {
	spec, err := loadLvs()
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for _, k := range sched.Kinds() {
		ids = append(ids, uint64(k.ID))
	}
	checkEnum(t, spec, "lvs_sched", "LVS_SCHED_", ids, func(v uint64) (string, bool) {
		k, ok := sched.KindByID(sched.ID(v))
		return k.Name, ok
	}, nil)
}

// TestABIModelEnums checks the values internal/lvs gives the forwarding
// methods, tunnel types, tunnel flags, TCP states (by the names -Lnc
// prints) and scheduler flags, the counters' names and the address
// families against the C enums they cross into, both ways.
func TestABIModelEnums(t *testing.T) {
	spec, err := loadLvs()
	if err != nil {
		t.Fatal(err)
	}
	// known returns the values below n a Go name function knows.
	known := func(n int, name func(uint64) (string, bool)) []uint64 {
		var vs []uint64
		for v := range uint64(n) {
			if _, ok := name(v); ok {
				vs = append(vs, v)
			}
		}
		return vs
	}
	t.Run("lvs_method", func(t *testing.T) {
		name := func(v uint64) (string, bool) {
			n := lvs.Method(v).String()
			return n, v < 256 && n != "?"
		}
		checkEnum(t, spec, "lvs_method", "LVS_METHOD_", known(256, name), name, nil)
	})
	t.Run("lvs_tun_type", func(t *testing.T) {
		name := func(v uint64) (string, bool) {
			n := lvs.TunnelType(v).String()
			return n, v < 256 && n != "?"
		}
		checkEnum(t, spec, "lvs_tun_type", "LVS_TUN_", known(256, name), name, nil)
		// Every type lvs validates is one the data plane knows.
		for ty := range 256 {
			r := lvs.Real{TunType: lvs.TunnelType(ty), TunPort: 1}
			if _, ok := name(uint64(ty)); !ok && validTunnel(r) {
				t.Errorf("lvs takes tunnel type %d, which has no name", ty)
			}
		}
	})
	t.Run("lvs_tun_flags", func(t *testing.T) {
		// The C enum has the flag bits; TunNoCsum is none of them.
		name := func(v uint64) (string, bool) {
			f := lvs.TunnelFlags(v)
			return f.String(), v != 0 && v&(v-1) == 0 && f&^lvs.TunFlagsMask == 0 && f.String() != "?"
		}
		checkEnum(t, spec, "lvs_tun_flags", "LVS_TUN_F_", known(1<<16, name), name, nil)
		var all uint64
		for _, v := range cEnum(t, spec, "lvs_tun_flags") {
			all |= v
		}
		if all != uint64(lvs.TunFlagsMask) {
			t.Errorf("lvs_tun_flags are %#x, lvs.TunFlagsMask %#x", all, uint16(lvs.TunFlagsMask))
		}
	})
	t.Run("lvs_tcp_state", func(t *testing.T) {
		name := func(v uint64) (string, bool) {
			n := lvs.TCPStateName(int(v))
			return n, v < 1<<16 && n != "ERR!"
		}
		// The timeouts map's slots past the TCP states are not states.
		slots := func(cn string) bool { return strings.HasPrefix(cn, "LVS_TIMEOUT_") }
		checkEnum(t, spec, "lvs_tcp_state", "LVS_TCP_", known(1<<16, name), name, slots)
	})
	t.Run("lvs_svc_flags", func(t *testing.T) {
		// The scheduler flags (-b) cross as they are (serviceEntry);
		// -p and -o are the data plane's own bits.
		flags := []lvs.SchedFlags{lvs.SchedFlag1, lvs.SchedFlag2, lvs.SchedFlag3}
		name := func(v uint64) (string, bool) {
			for i, f := range flags {
				if uint64(f) == v {
					return fmt.Sprintf("sched%d", i+1), true
				}
			}
			return "", false
		}
		var vs []uint64
		for _, f := range flags {
			vs = append(vs, uint64(f))
		}
		own := func(cn string) bool { return !strings.HasPrefix(cn, "LVS_SVC_F_SCHED") }
		checkEnum(t, spec, "lvs_svc_flags", "LVS_SVC_F_", vs, name, own)
		if lvs.SchedFlagsMask != lvs.SchedFlag1|lvs.SchedFlag2|lvs.SchedFlag3 {
			t.Errorf("lvs.SchedFlagsMask %#x is not the three flags", uint32(lvs.SchedFlagsMask))
		}
	})
	t.Run("lvs_counter", func(t *testing.T) {
		name := func(v uint64) (string, bool) {
			n, ok := counterNames[lvsLvsCounter(v)]
			return n, ok
		}
		var vs []uint64
		for c := range counterNames {
			vs = append(vs, uint64(c))
		}
		checkEnum(t, spec, "lvs_counter", "LVS_CNT_", vs, name, func(cn string) bool { return cn == "LVS_CNT_MAX" })
		for c, n := range counterNames {
			if c >= lvsLvsCounterLVS_CNT_MAX {
				t.Errorf("counter %s is %d, past LVS_CNT_MAX %d", n, c, lvsLvsCounterLVS_CNT_MAX)
			}
		}
	})
	t.Run("lvs_family", func(t *testing.T) {
		families := map[uint64]string{unix.AF_INET: "af_inet", unix.AF_INET6: "af_inet6"}
		name := func(v uint64) (string, bool) {
			n, ok := families[v]
			return n, ok
		}
		checkEnum(t, spec, "lvs_family", "LVS_", []uint64{unix.AF_INET, unix.AF_INET6}, name, nil)
	})
}

// validTunnel reports whether lvs takes a real's tunnel settings.
func validTunnel(r lvs.Real) bool {
	svc := lvs.ServiceKey{Protocol: lvs.TCP, Addr: netip.MustParseAddrPort("198.18.0.10:80")}
	r.Addr, r.Method, r.Weight = netip.MustParseAddrPort("198.19.0.11:80"), lvs.Tunnel, 1
	return lvs.ValidateReal(svc, r) == nil
}

// TestABITableSizes checks the sizes the Go side assumes against the
// object: scheduler tables, reals per service, and every map Go indexes
// by a service id, a real id, a TCP state or a counter.
func TestABITableSizes(t *testing.T) {
	spec, err := loadLvs()
	if err != nil {
		t.Fatal(err)
	}
	abi := cEnum(t, spec, "lvs_abi")
	for _, c := range []struct {
		name string
		gov  int
		cn   string
	}{
		{"sched.ShSize", sched.ShSize, "LVS_SH_TAB_SIZE"},
		{"sched.MhSize", sched.MhSize, "LVS_MH_TAB_SIZE"},
		{"lvs.MaxReals", lvs.MaxReals, "LVS_MAX_DESTS"},
		{"MaxServices", MaxServices, "LVS_MAX_SERVICES"},
		{"MaxReals", MaxReals, "LVS_MAX_REALS"},
		{"MaxDests", MaxDests, "LVS_MAX_DESTS"},
		{"DefaultConnTableSize", DefaultConnTableSize, "LVS_CONN_TABLE_DEFAULT"},
		{"lblcr set", len(lvsLvsLblcEntry{}.Reals), "LVS_LBLCR_SET_MAX"},
	} {
		if cv, ok := abi[c.cn]; !ok || cv != uint64(c.gov) {
			t.Errorf("%s is %d, the C ABI's %s %d (found: %t)", c.name, c.gov, c.cn, cv, ok)
		}
	}
	// Each scheduler's table fits the data plane: sh and dh read
	// LVS_SH_TAB_SIZE buckets, mh LVS_MH_TAB_SIZE, the walking
	// schedulers at most LVS_MAX_DESTS reals.
	buckets := map[string]string{"sh": "LVS_SH_TAB_SIZE", "dh": "LVS_SH_TAB_SIZE", "mh": "LVS_MH_TAB_SIZE"}
	for _, k := range sched.Kinds() {
		fixed, most := k.Shape()
		switch k.Table {
		case sched.Buckets:
			if cn := buckets[k.Name]; cn == "" || uint64(fixed) != abi[cn] || most != fixed {
				t.Errorf("%s: %d buckets (at most %d), the data plane reads %s (%d)", k.Name, fixed, most, cn, abi[cn])
			}
		case sched.Reals:
			if fixed != 0 || uint64(most) != abi["LVS_MAX_DESTS"] {
				t.Errorf("%s: table of %d/%d reals, the data plane walks LVS_MAX_DESTS (%d)", k.Name, fixed, most, abi["LVS_MAX_DESTS"])
			}
		case sched.Sequence:
			if fixed != 0 || most != sched.MaxTable {
				t.Errorf("%s: sequence of %d/%d, SetService takes up to %d", k.Name, fixed, most, sched.MaxTable)
			}
		default:
			t.Errorf("%s: table kind %d", k.Name, k.Table)
		}
	}
	// The maps Go indexes by id, state or counter hold every index.
	states := cEnum(t, spec, "lvs_tcp_state")
	for _, c := range []struct {
		m    string
		want uint64
	}{
		{lvsMapLvsServices, uint64(MaxServices)},
		{lvsMapLvsTables, uint64(MaxServices)},
		{lvsMapLvsSchedPos, uint64(MaxServices)},
		{lvsMapLvsSvcStats, uint64(MaxServices)},
		{lvsMapLvsSvcVaddrs, uint64(MaxServices)},
		{lvsMapLvsReals, uint64(MaxReals)},
		{lvsMapLvsConnCounts, uint64(MaxReals)},
		{lvsMapLvsOverload, uint64(MaxReals)},
		{lvsMapLvsRealStats, uint64(MaxReals)},
		{lvsMapLvsRealRoutes, uint64(MaxReals)},
		{lvsMapLvsConns, uint64(DefaultConnTableSize)},
		{lvsMapLvsNatConns, uint64(DefaultConnTableSize)},
		{lvsMapLvsTemplates, uint64(DefaultConnTableSize)},
		{lvsMapLvsLblc, abi["LVS_LBLC_ENTRIES"]},
		{lvsMapLvsClientRoutes, abi["LVS_CLIENT_ROUTES"]},
		{lvsMapLvsFrags, abi["LVS_FRAG_ENTRIES"]},
		{lvsMapLvsXdpTx, abi["LVS_XDP_LINKS"]},
		{lvsMapLvsTimeouts, states["LVS_TIMEOUT_SLOTS"]},
		{lvsMapLvsCounters, uint64(lvsLvsCounterLVS_CNT_MAX)},
	} {
		ms := spec.Maps[c.m]
		if ms == nil {
			t.Errorf("no map %s", c.m)
			continue
		}
		if uint64(ms.MaxEntries) != c.want || c.want == 0 {
			t.Errorf("map %s has %d entries, Go assumes %d", c.m, ms.MaxEntries, c.want)
		}
	}
	if udpSlot >= uint32(states["LVS_TIMEOUT_SLOTS"]) || lvs.StateSynAck >= int(udpSlot) {
		t.Errorf("the UDP timeout slot %d is not after the TCP states (%d) and within the %d slots", udpSlot, lvs.StateSynAck, states["LVS_TIMEOUT_SLOTS"])
	}
}
