// Package datapath loads golvs's eBPF data plane, pins and adopts its maps,
// attaches it to links and reads and writes its maps. It and the packages
// under it are the only importers of cilium/ebpf.
//
// Map layouts come from bpf/include/lvs_abi.h through bpf2go (gen.go);
// nothing here mirrors a C struct by hand.
//
// Kernel: 5.17 or later with BTF (bpf_loop for the schedulers' walks 5.17,
// atomic fetch-add and cmpxchg 5.12,
// bpf_ktime_get_coarse_ns and bpf_redirect_neigh with a next hop 5.11,
// BPF_F_INNER_MAP 5.10); TCX from 6.6, a clsact qdisc before that. The
// FIB lookup is the forwarding kind, so the links the data plane is
// attached to need forwarding on (net.ipv4.conf.<link>.forwarding=1),
// for DR as well as NAT.
package datapath

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"golvs/internal/datapath/bpffs"
	"golvs/internal/datapath/wire"
	"golvs/internal/lvs"
)

// ServiceID indexes a virtual service in every per-service map:
// 1..MaxServices-1, allocated by the engine; 0 is unused.
type ServiceID uint32

// RealID indexes a real server in every per-real map: 1..MaxReals-1,
// allocated by the engine (one per service and real); 0 is unused.
type RealID uint32

// Limits of the maps.
const (
	MaxServices = int(lvsLvsAbiLVS_MAX_SERVICES)
	MaxReals    = int(lvsLvsAbiLVS_MAX_REALS)
	// MaxDests is how many reals lc and wlc consider per service.
	MaxDests = int(lvsLvsAbiLVS_MAX_DESTS)
	// DefaultConnTableSize is the conn table size when Options leave it 0.
	DefaultConnTableSize = int(lvsLvsAbiLVS_CONN_TABLE_DEFAULT)
	// ABIVersion is the map layout version; pins live under PinDir/v<ABIVersion>.
	ABIVersion = int(lvsLvsAbiLVS_ABI_VERSION)
)

// DefaultPinDir is where lvsd pins its maps unless told otherwise.
const DefaultPinDir = "/sys/fs/bpf/golvs"

// Errors Open and the map operations return.
var (
	ErrPermission  = bpffs.ErrPermission
	ErrNoBPF       = bpffs.ErrNoBPF
	ErrABIMismatch = bpffs.ErrABIMismatch
	ErrAttached    = errors.New("already attached")
	ErrNotAttached = errors.New("not attached")
)

// Options configure Open.
type Options struct {
	// PinDir is the bpffs directory for the maps (DefaultPinDir if empty).
	// A bpffs is mounted there if it is not on one already.
	PinDir string
	// ConnTableSize is the number of connection entries, and of
	// persistence templates; 0 means DefaultConnTableSize, or the size of
	// an adopted pinned table. A pinned table of another size is refused
	// (ErrABIMismatch naming the pin dir), and so is a size above
	// MaxConnTableSize or whose tables (ConnTableBytes) exceed the free
	// memory.
	ConnTableSize int
	// Logger receives load and attach events (slog.Default if nil).
	Logger *slog.Logger
	// XDP is how Attach runs the XDP fast path; "" is XDPOff.
	XDP XDPMode
}

// Datapath is the loaded data plane. Its methods are safe for concurrent use.
type Datapath struct {
	objs      lvsObjects
	log       *slog.Logger
	pinDir    string // with the version component
	connSize  int
	innerSpec *ebpf.MapSpec

	// realMu serializes writes of lvs_reals, so that RetireReal's
	// read-modify-write does not undo a concurrent SetReal.
	realMu sync.Mutex

	schedMu sync.Mutex // protects the two fields below
	// schedLast is when SweepSchedState last ran (Now), schedRuns the
	// lblc/lblcr timer's run counter (IPVS's tbl->counter).
	schedLast time.Duration
	schedRuns int

	natMu sync.Mutex // protects the two cursors below
	// connCursor and natCursor are where Sweep's reading of a large
	// connection and NAT reverse table goes on from (expiredSlice,
	// natSlice).
	connCursor, natCursor ebpf.MapBatchCursor

	mu sync.Mutex // protects the fields below
	// links maps an interface name to what Attach made there.
	links map[string]attachment
	xdp   XDPMode
}

// Now returns the clock the data plane stamps connections with:
// CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC at tick resolution (the data
// plane reads it with bpf_ktime_get_coarse_ns, half the cost of the fine
// clock).
func Now() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC_COARSE, &ts); err != nil {
		panic(fmt.Sprintf("clock_gettime(CLOCK_MONOTONIC_COARSE): %v", err)) // cannot fail on Linux
	}
	return time.Duration(ts.Nano())
}

func checkService(id ServiceID) error {
	if id == 0 || int(id) >= MaxServices {
		return fmt.Errorf("service id %d: %w (1..%d)", id, lvs.ErrRange, MaxServices-1)
	}
	return nil
}

func checkReal(id RealID) error {
	if id == 0 || int(id) >= MaxReals {
		return fmt.Errorf("real id %d: %w (1..%d)", id, lvs.ErrRange, MaxReals-1)
	}
	return nil
}

func realKeys(ids []RealID) ([]uint32, error) {
	keys := make([]uint32, len(ids))
	for i, id := range ids {
		if err := checkReal(id); err != nil {
			return nil, err
		}
		keys[i] = uint32(id)
	}
	return keys, nil
}

func serviceKeys(ids []ServiceID) ([]uint32, error) {
	keys := make([]uint32, len(ids))
	for i, id := range ids {
		if err := checkService(id); err != nil {
			return nil, err
		}
		keys[i] = uint32(id)
	}
	return keys, nil
}

// addr returns a as the data plane stores it (see wire.Addr) and its
// family.
func addr(a netip.Addr) ([16]byte, uint8, error) {
	b, is6, ok := wire.Addr(a)
	switch {
	case !ok:
		return b, 0, fmt.Errorf("address %v: %w", a, lvs.ErrFamily)
	case is6:
		return b, uint8(lvsLvsFamilyLVS_AF_INET6), nil
	}
	return b, uint8(lvsLvsFamilyLVS_AF_INET), nil
}

// fromAddr is the inverse of addr.
func fromAddr(b [16]byte, fam uint8) netip.Addr {
	return wire.FromAddr(b, fam == uint8(lvsLvsFamilyLVS_AF_INET6))
}
