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
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"golvs/internal/datapath/bpffs"
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
	// MaxTable is the longest scheduler table SetService accepts.
	MaxTable = 1 << 20
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
	ErrRange       = errors.New("id out of range")
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
	links    map[string]attachment
	xdp      XDPMode
	bench    *benchObjects
	benchSeq uint32 // next source offset of a NewFlows benchmark
	// forceClsact makes Attach skip TCX (tests of the fallback).
	forceClsact bool
	// sweepPause, when set, runs inside Sweep between listing the NAT
	// reverse entries and removing orphans (tests of that window).
	sweepPause func()
}

// Open loads the data plane. Maps pinned by an earlier lvsd of the same ABI
// version are adopted, so the connection table survives a restart.
func Open(opts Options) (*Datapath, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	root := opts.PinDir
	if root == "" {
		root = DefaultPinDir
	}
	if opts.ConnTableSize < 0 {
		return nil, fmt.Errorf("open data plane: conn table size %d: %w", opts.ConnTableSize, lvs.ErrInvalid)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("open data plane: %w", classify(err))
	}
	if err := bpffs.Ensure(root); err != nil {
		return nil, fmt.Errorf("open data plane: %w", err)
	}
	dir := filepath.Join(root, "v"+strconv.Itoa(ABIVersion))
	if err := checkOtherVersions(root); err != nil {
		return nil, fmt.Errorf("open data plane: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open data plane: %w", classify(err))
	}

	spec, err := loadLvs()
	if err != nil {
		return nil, fmt.Errorf("open data plane: %w", err)
	}
	size, err := connTableSize(dir, opts.ConnTableSize)
	if err != nil {
		return nil, fmt.Errorf("open data plane: %w", err)
	}
	for name, m := range spec.Maps {
		// lvs_xdp_tx lists the links this lvsd attached in native XDP
		// mode: this process's, gone with it, or a restart in generic
		// mode would see native links (xdp.h lvs_xdp_route).
		if name == ".rodata" || name == lvsMapLvsXdpTx {
			continue
		}
		m.Pinning = ebpf.PinByName
	}
	spec.Maps[lvsMapLvsConns].MaxEntries = uint32(size)
	spec.Maps[lvsMapLvsNatConns].MaxEntries = uint32(size)
	spec.Maps[lvsMapLvsTemplates].MaxEntries = uint32(size)

	d := &Datapath{
		log:       log,
		pinDir:    dir,
		connSize:  size,
		innerSpec: spec.Maps[lvsMapLvsTables].InnerMap.Copy(),
		links:     map[string]attachment{},
		xdp:       opts.XDP,
	}
	if d.xdp == "" {
		d.xdp = XDPOff
	}
	if _, err := ParseXDPMode(string(d.xdp)); err != nil {
		return nil, fmt.Errorf("open data plane: %w: %w", lvs.ErrInvalid, err)
	}
	err = spec.LoadAndAssign(&d.objs, &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: dir}})
	if err != nil {
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			return nil, fmt.Errorf("open data plane: %w: %v in %s; remove that directory to start with an empty table (live connections are lost)", ErrABIMismatch, err, dir)
		}
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("open data plane: %w: %+v", ErrNoBPF, ve)
		}
		return nil, fmt.Errorf("open data plane: %w", classify(err))
	}
	if err := d.initTimeouts(); err != nil {
		d.objs.Close()
		return nil, fmt.Errorf("open data plane: %w", err)
	}
	log.Info("data plane loaded", slog.String("pin_dir", dir), slog.Int("conn_table_size", size))
	return d, nil
}

// Close detaches the program from every link and closes the maps; the
// pinned maps, and so the connection table, stay.
func (d *Datapath) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for name, a := range d.links {
		if err := a.detach(); err != nil {
			errs = append(errs, fmt.Errorf("detach %s: %w", name, err))
		}
		delete(d.links, name)
	}
	if d.bench != nil {
		errs = append(errs, d.bench.Close())
		d.bench = nil
	}
	errs = append(errs, d.objs.Close())
	return errors.Join(errs...)
}

// ConnTableSize returns the number of entries the conn table holds.
func (d *Datapath) ConnTableSize() int { return d.connSize }

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

// classify maps the errno of a failed bpf() or mount to a sentinel.
func classify(err error) error { return bpffs.Classify(err) }

// checkOtherVersions refuses to start next to pins of another ABI version:
// that table belongs to another lvsd build, and starting beside it would
// silently drop its connections.
func checkOtherVersions(root string) error {
	dir, other, err := bpffs.OtherVersion(root, ABIVersion)
	if err != nil || dir == "" {
		return err
	}
	return fmt.Errorf("%w: %s holds maps of ABI version %s, this lvsd uses version %d; run the lvsd that made them, or remove %s to start with an empty table (live connections are lost)",
		ErrABIMismatch, root, other, ABIVersion, dir)
}

// connTableSize returns the conn table size to create: an adopted table
// keeps its size unless the caller asked for another one.
func connTableSize(dir string, want int) (int, error) {
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, lvsMapLvsConns), &ebpf.LoadPinOptions{ReadOnly: true})
	if errors.Is(err, fs.ErrNotExist) {
		if want == 0 {
			want = DefaultConnTableSize
		}
		if err := checkConnTableSize(want); err != nil {
			return 0, err
		}
		return want, nil
	}
	if err != nil {
		return 0, fmt.Errorf("pinned conn table: %w", classify(err))
	}
	defer m.Close()
	have := int(m.MaxEntries())
	if want != 0 && want != have {
		// Refused rather than migrated: copying a live table into a new
		// one races with the packets that change it, and lvsd would run
		// with twice the memory meanwhile.
		return 0, fmt.Errorf("%w: pinned conn table in %s has %d entries, %d asked for; keep %d, or remove %s to resize it (live connections are lost)",
			ErrABIMismatch, dir, have, want, have, dir)
	}
	return have, nil
}
