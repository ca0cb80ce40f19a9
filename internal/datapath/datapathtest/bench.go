package datapathtest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"golvs/internal/datapath"
)

// Bench times paths of a data plane per packet with BPF_PROG_TEST_RUN's
// kernel-measured duration, behind the frame restore of bpf/bench.c
// (bench_bpfel.*, a test-only object: lvsd does not embed it).
type Bench struct {
	h    *datapath.Harness
	objs benchObjects

	mu  sync.Mutex // protects seq
	seq uint32     // next source offset of a NewFlows benchmark
}

// NewBench loads bench.c's programs to time d's, closed when the test
// ends.
func NewBench(tb testing.TB, d *datapath.Datapath) *Bench {
	tb.Helper()
	bn := &Bench{h: datapath.NewHarness(d)}
	if err := loadBenchObjects(&bn.objs, nil); err != nil {
		tb.Fatalf("load the benchmark programs: %v", err)
	}
	tb.Cleanup(func() { _ = bn.objs.Close() })
	return bn
}

// BenchTarget is the program Bench.Benchmark times.
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

// BenchOptions configure Bench.Benchmark.
type BenchOptions struct {
	Target  BenchTarget
	Ifindex int // as for datapath.Harness.Run
	Repeat  int
	// NewFlows adds the repeat's number to the IPv4 source address, so
	// that every repeat is a new connection.
	NewFlows bool
	// XDP times the XDP programs (lvs_xdp, the XDP floor and nop) behind
	// an XDP restore, with an xdp_md context as datapath.Harness.RunXDP's. What lvs_xdp
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

// BenchResult is what Bench.Benchmark measured.
type BenchResult struct {
	// PerPacket is the kernel-measured time per repeat (whole ns).
	PerPacket time.Duration
	// Verdict is the last repeat's, in TC's terms (see
	// datapath.Harness.RunXDP; XDP_PASS
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
func (bn *Bench) Benchmark(frame []byte, o BenchOptions) (BenchResult, error) {
	b := &bn.objs
	tc, xdp := bn.h.Programs()
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
		target = xdp
	case o.XDP && o.Target == BenchFloor:
		target = b.BenchXdpFloor
	case o.XDP && o.Target == BenchRestore:
		target = b.BenchXdpNop
	case o.Target == BenchIngress:
		target = tc
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
		bn.mu.Lock()
		f.Vary, f.Seq = 1, bn.seq
		bn.seq += uint32(o.Repeat) + 1
		bn.mu.Unlock()
	}
	copy(f.Data[:], frame)
	if err := b.BenchFrames.Put(uint32(0), &f); err != nil {
		return BenchResult{}, fmt.Errorf("benchmark: %w", err)
	}
	var (
		verdict int
		dur     time.Duration
		out     []byte
		err     error
	)
	run := func(repeat int) (int, time.Duration, []byte, error) {
		return bn.h.TimedRun(restore, frame, o.Ifindex, o.XDP, repeat)
	}
	if o.CallPerPacket {
		if o.Repeat < 1 {
			return BenchResult{}, fmt.Errorf("benchmark: repeat %d", o.Repeat)
		}
		var total time.Duration
		for range o.Repeat {
			var d time.Duration
			if verdict, d, out, err = run(1); err != nil {
				break
			}
			total += d
		}
		dur = total / time.Duration(o.Repeat)
	} else {
		verdict, dur, out, err = run(o.Repeat)
	}
	if err != nil {
		return BenchResult{}, fmt.Errorf("benchmark: %w", err)
	}
	return BenchResult{PerPacket: dur, Verdict: verdict, Out: out}, nil
}
