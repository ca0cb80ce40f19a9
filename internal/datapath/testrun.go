package datapath

import (
	"errors"
	"fmt"
	"runtime"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"golvs/internal/datapath/testrun"
)

// This file runs the ingress program on frames given to it, through
// BPF_PROG_TEST_RUN, for the fixture tests and the benchmarks. Nothing is
// sent: a redirect verdict only says where the packet would go.

// Verdicts the ingress program returns (TC_ACT_*).
const (
	VerdictOK       = 0 // TC_ACT_OK: the kernel handles the packet
	VerdictShot     = 2 // TC_ACT_SHOT: dropped
	VerdictRedirect = 7 // TC_ACT_REDIRECT: sent out of another link
)

// skbContext is a TC program's test-run context (its layout is checked
// in abi_test.go).
type skbContext = testrun.SKB

// Run passes frame once through the ingress program as if it had arrived
// on the link with index ifindex (0: the namespace's loopback), in the
// calling thread's network namespace, and returns the verdict and the
// frame as the program left it.
func (d *Datapath) Run(frame []byte, ifindex int) (verdict int, out []byte, err error) {
	return d.run(frame, ifindex, 0)
}

// RunGSO is Run with the skb marked as a GSO packet of gsoSize-byte
// segments, as a GRO aggregate (BIG TCP included) reaches TC ingress.
func (d *Datapath) RunGSO(frame []byte, ifindex, gsoSize int) (verdict int, out []byte, err error) {
	if gsoSize <= 0 || gsoSize > 0xffff {
		return 0, nil, fmt.Errorf("test run: gso size %d", gsoSize)
	}
	return d.run(frame, ifindex, gsoSize)
}

func (d *Datapath) run(frame []byte, ifindex, gsoSize int) (verdict int, out []byte, err error) {
	out = make([]byte, len(frame)+256)
	opts := &ebpf.RunOptions{Data: frame, DataOut: out}
	if ifindex > 0 || gsoSize > 0 {
		opts.Context = skbContext{IngressIfindex: uint32(ifindex), Ifindex: uint32(ifindex), GSOSize: uint32(gsoSize)}
	}
	ret, err := d.objs.LvsIngress.Run(opts)
	if err != nil {
		return 0, nil, fmt.Errorf("test run: %w", err)
	}
	return int(ret), opts.DataOut, nil
}

// xdpContext is struct xdp_md as BPF_PROG_TEST_RUN takes it: data_end
// the frame's length, the ingress link, the rest zero.
type xdpContext struct {
	Data           uint32
	DataEnd        uint32
	DataMeta       uint32
	IngressIfindex uint32
	RxQueueIndex   uint32
	EgressIfindex  uint32
}

// enum xdp_action.
const (
	xdpAborted  = 0
	xdpDrop     = 1
	xdpPass     = 2
	xdpTX       = 3
	xdpRedirect = 4
)

// xdpVerdict puts XDP action ret in TC's terms: XDP_REDIRECT and XDP_TX
// are VerdictRedirect, XDP_DROP and XDP_ABORTED VerdictShot. pass says
// XDP_PASS, which leaves the packet to the kernel and so to the TC
// program; verdict is then VerdictOK, what TC would be told by a program
// that let the packet through.
func xdpVerdict(ret uint32) (verdict int, pass bool, err error) {
	switch ret {
	case xdpPass:
		return VerdictOK, true, nil
	case xdpRedirect, xdpTX:
		return VerdictRedirect, false, nil
	case xdpDrop, xdpAborted:
		return VerdictShot, false, nil
	}
	return 0, false, fmt.Errorf("xdp verdict %d", ret)
}

// RunXDP passes frame through the XDP fast path and then, when it leaves
// the packet to the kernel (XDP_PASS), through the TC program, as on a
// link Attach gave both. The verdict is in TC's terms (XDP_REDIRECT is
// VerdictRedirect, XDP_DROP VerdictShot); taken says whether the fast
// path handled the packet itself.
func (d *Datapath) RunXDP(frame []byte, ifindex int) (verdict int, out []byte, taken bool, err error) {
	out = make([]byte, len(frame)+256)
	opts := &ebpf.RunOptions{Data: frame, DataOut: out,
		Context: xdpContext{DataEnd: uint32(len(frame)), IngressIfindex: uint32(ifindex)}}
	ret, err := d.objs.LvsXdp.Run(opts)
	if err != nil {
		return 0, nil, false, fmt.Errorf("test run: %w", err)
	}
	verdict, pass, err := xdpVerdict(ret)
	if err != nil {
		return 0, nil, false, fmt.Errorf("test run: %w", err)
	}
	if pass {
		verdict, out, err = d.run(opts.DataOut, ifindex, 0)
		return verdict, out, false, err
	}
	return verdict, opts.DataOut, true, nil
}

// MarkXDPNative lists links (indexes in the calling thread's namespace)
// in lvs_xdp_tx, as Attach does for links it gives native XDP, without
// attaching anything: RunXDP and Benchmark then see packets arriving on
// them, and sent to them, as native XDP's, which the fast path forwards
// with every method (generic XDP it leaves all but IPv4 DR to TC). For test
// runs in a namespace of the caller's.
func (d *Datapath) MarkXDPNative(ifindex ...int) error {
	for _, i := range ifindex {
		if err := d.objs.LvsXdpTx.Put(uint32(i), uint32(i)); err != nil {
			return fmt.Errorf("lvs_xdp_tx: link %d: %w", i, err)
		}
	}
	return nil
}

// BenchTarget is the program Benchmark times.
type BenchTarget int

const (
	// BenchIngress is the data plane: lvs_ingress, or with
	// BenchOptions.XDP the fast path lvs_xdp alone.
	BenchIngress BenchTarget = iota
	// BenchFloor is a trivial rewrite-and-forward: swap MACs, TTL-1 with
	// its checksum, redirect. The floor to compare the data plane with.
	BenchFloor
	// BenchRestore is a program that returns at once: what the frame
	// restore and tail call cost, included in every other figure.
	BenchRestore
)

// BenchOptions configure Benchmark.
type BenchOptions struct {
	Target  BenchTarget
	Ifindex int // as for Run
	Repeat  int
	// NewFlows adds the repeat's number to the IPv4 source address, so
	// that every repeat is a new connection.
	NewFlows bool
	// XDP times the XDP programs (lvs_xdp, the XDP floor and nop) behind
	// an XDP restore, with an xdp_md context as RunXDP's. What lvs_xdp
	// passes (XDP_PASS) is not run through TC: its figure is the fast
	// path's cost of declining.
	XDP bool
	// CallPerPacket makes one BPF_PROG_TEST_RUN call per repeat, each
	// on a fresh skb, for the TC paths that encapsulate: an skb keeps
	// the encapsulation mark bpf_skb_adjust_room gives it, so a second
	// encapsulation in the same call fails. Each packet's time then also
	// holds one clock read pair of the kernel's timer; time BenchRestore
	// the same way to take it out.
	CallPerPacket bool
}

// BenchResult is what Benchmark measured.
type BenchResult struct {
	// PerPacket is the kernel-measured time per repeat (whole ns).
	PerPacket time.Duration
	// Verdict is the last repeat's, in TC's terms (see RunXDP; XDP_PASS
	// is VerdictOK).
	Verdict int
	// Out is the frame as the last repeat left it.
	Out []byte
}

// Benchmark runs frame through the target Repeat times in the kernel.
// Every repeat starts from the original frame: a wrapper program restores
// it (test_run hands each repeat the previous one's output) and
// tail-calls the target; that costs the same for every target, see
// BenchRestore. Pin the calling goroutine's thread (and its netns) first.
func (d *Datapath) Benchmark(frame []byte, o BenchOptions) (BenchResult, error) {
	b, err := d.benchObjects()
	if err != nil {
		return BenchResult{}, fmt.Errorf("benchmark: %w", err)
	}
	if len(frame) < 14 || len(frame) > len(benchBenchFrame{}.Data) {
		return BenchResult{}, fmt.Errorf("benchmark: frame of %d bytes (14..%d)", len(frame), len(benchBenchFrame{}.Data))
	}
	var target *ebpf.Program
	restore, progs := b.BenchRestore, b.BenchProgs
	if o.XDP {
		restore, progs = b.BenchXdpRestore, b.BenchXdpProgs
	}
	switch {
	case o.XDP && o.Target == BenchIngress:
		target = d.objs.LvsXdp
	case o.XDP && o.Target == BenchFloor:
		target = b.BenchXdpFloor
	case o.XDP && o.Target == BenchRestore:
		target = b.BenchXdpNop
	case o.Target == BenchIngress:
		target = d.objs.LvsIngress
	case o.Target == BenchFloor:
		target = b.BenchFloor
	case o.Target == BenchRestore:
		target = b.BenchNop
	default:
		return BenchResult{}, fmt.Errorf("benchmark: target %d", o.Target)
	}
	if err := progs.Put(uint32(0), target); err != nil {
		return BenchResult{}, fmt.Errorf("benchmark: %w", err)
	}
	f := benchBenchFrame{Len: uint32(len(frame))}
	if o.NewFlows {
		// Carry on from the last run's sources, so no repeat meets a
		// connection an earlier run made.
		d.mu.Lock()
		f.Vary, f.Seq = 1, d.benchSeq
		d.benchSeq += uint32(o.Repeat) + 1
		d.mu.Unlock()
	}
	copy(f.Data[:], frame)
	if err := b.BenchFrames.Put(uint32(0), &f); err != nil {
		return BenchResult{}, fmt.Errorf("benchmark: %w", err)
	}
	var (
		ret uint32
		dur time.Duration
		out []byte
	)
	run := func(repeat int) (uint32, time.Duration, []byte, error) {
		if o.XDP {
			return testRun(restore, frame, &xdpContext{DataEnd: uint32(len(frame)), IngressIfindex: uint32(o.Ifindex)}, repeat)
		}
		var ctx *skbContext
		if o.Ifindex > 0 {
			ctx = &skbContext{IngressIfindex: uint32(o.Ifindex), Ifindex: uint32(o.Ifindex)}
		}
		return testRun(restore, frame, ctx, repeat)
	}
	if o.CallPerPacket {
		if o.Repeat < 1 {
			return BenchResult{}, fmt.Errorf("benchmark: repeat %d", o.Repeat)
		}
		var total time.Duration
		for range o.Repeat {
			var d time.Duration
			if ret, d, out, err = run(1); err != nil {
				break
			}
			total += d
		}
		dur = total / time.Duration(o.Repeat)
	} else {
		ret, dur, out, err = run(o.Repeat)
	}
	if err != nil {
		return BenchResult{}, fmt.Errorf("benchmark: %w", err)
	}
	verdict := int(ret)
	if o.XDP {
		if verdict, _, err = xdpVerdict(ret); err != nil {
			return BenchResult{}, fmt.Errorf("benchmark: %w", err)
		}
	}
	return BenchResult{PerPacket: dur, Verdict: verdict, Out: out}, nil
}

func (d *Datapath) benchObjects() (*benchObjects, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bench != nil {
		return d.bench, nil
	}
	var b benchObjects
	if err := loadBenchObjects(&b, nil); err != nil {
		return nil, err
	}
	d.bench = &b
	return d.bench, nil
}

// progTestRunAttr is the BPF_PROG_TEST_RUN part of union bpf_attr.
// cilium/ebpf's Program.Run takes a context but drops the duration, and
// Program.Benchmark keeps the duration but takes no context (which the
// FIB lookups need for the ingress link), hence this direct call.
type progTestRunAttr struct {
	ProgFD      uint32
	Retval      uint32
	DataSizeIn  uint32
	DataSizeOut uint32
	DataIn      uint64
	DataOut     uint64
	Repeat      uint32
	Duration    uint32
	CtxSizeIn   uint32
	CtxSizeOut  uint32
	CtxIn       uint64
	CtxOut      uint64
	Flags       uint32
	CPU         uint32
	BatchSize   uint32
	_           uint32
}

const bpfProgTestRun = 10 // BPF_PROG_TEST_RUN

// testRun runs p repeat times on data with context ctx (nil: none) and
// returns the last repeat's return value and output, and the kernel's
// time per repeat.
func testRun[C any](p *ebpf.Program, data []byte, ctx *C, repeat int) (uint32, time.Duration, []byte, error) {
	if repeat < 1 || repeat > 1<<31 {
		return 0, 0, nil, fmt.Errorf("repeat %d", repeat)
	}
	out := make([]byte, len(data)+256)
	attr := progTestRunAttr{
		ProgFD:      uint32(p.FD()),
		DataSizeIn:  uint32(len(data)),
		DataSizeOut: uint32(len(out)),
		DataIn:      uint64(uintptr(unsafe.Pointer(&data[0]))),
		DataOut:     uint64(uintptr(unsafe.Pointer(&out[0]))),
		Repeat:      uint32(repeat),
	}
	if ctx != nil {
		attr.CtxSizeIn = uint32(unsafe.Sizeof(*ctx))
		attr.CtxIn = uint64(uintptr(unsafe.Pointer(ctx)))
	}
	for {
		_, _, errno := unix.Syscall(unix.SYS_BPF, bpfProgTestRun, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		runtime.KeepAlive(data)
		runtime.KeepAlive(out)
		runtime.KeepAlive(ctx)
		if errno == 0 {
			if attr.DataSizeOut > uint32(len(out)) {
				return 0, 0, nil, fmt.Errorf("BPF_PROG_TEST_RUN: %d bytes of output, room for %d", attr.DataSizeOut, len(out))
			}
			return attr.Retval, time.Duration(attr.Duration), out[:attr.DataSizeOut], nil
		}
		if !errors.Is(errno, unix.EINTR) {
			return 0, 0, nil, fmt.Errorf("BPF_PROG_TEST_RUN: %w", errno)
		}
	}
}
