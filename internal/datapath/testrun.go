package datapath

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"golvs/internal/datapath/testrun"
	"golvs/internal/datapath/wire"
	"golvs/internal/lvs"
)

// Verdicts the ingress program returns (TC_ACT_*).
const (
	VerdictOK       = 0 // TC_ACT_OK: the kernel handles the packet
	VerdictShot     = 2 // TC_ACT_SHOT: dropped
	VerdictRedirect = 7 // TC_ACT_REDIRECT: sent out of another link
)

// Harness runs the data plane's programs on frames given to it, through
// BPF_PROG_TEST_RUN, and writes connection table entries no packet made,
// for the fixture tests and the benchmarks (package datapathtest, whose
// Bench times the programs behind the frame restore of bpf/bench.c).
// Nothing is sent: a redirect verdict only says where the packet would
// go. lvsd makes no Harness.
type Harness struct{ d *Datapath }

// NewHarness returns a harness of d.
func NewHarness(d *Datapath) *Harness { return &Harness{d: d} }

// skbContext is a TC program's test-run context (its layout is checked
// in abi_test.go).
type skbContext = testrun.SKB

// Run passes frame once through the ingress program as if it had arrived
// on the link with index ifindex (0: the namespace's loopback), in the
// calling thread's network namespace, and returns the verdict and the
// frame as the program left it.
func (h *Harness) Run(frame []byte, ifindex int) (verdict int, out []byte, err error) {
	return h.run(frame, ifindex, 0)
}

// RunGSO is Run with the skb marked as a GSO packet of gsoSize-byte
// segments, as a GRO aggregate (BIG TCP included) reaches TC ingress.
func (h *Harness) RunGSO(frame []byte, ifindex, gsoSize int) (verdict int, out []byte, err error) {
	if gsoSize <= 0 || gsoSize > 0xffff {
		return 0, nil, fmt.Errorf("test run: gso size %d", gsoSize)
	}
	return h.run(frame, ifindex, gsoSize)
}

func (h *Harness) run(frame []byte, ifindex, gsoSize int) (verdict int, out []byte, err error) {
	out = make([]byte, len(frame)+256)
	opts := &ebpf.RunOptions{Data: frame, DataOut: out}
	if ifindex > 0 || gsoSize > 0 {
		opts.Context = skbContext{IngressIfindex: uint32(ifindex), Ifindex: uint32(ifindex), GSOSize: uint32(gsoSize)}
	}
	ret, err := h.d.objs.LvsIngress.Run(opts)
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
func (h *Harness) RunXDP(frame []byte, ifindex int) (verdict int, out []byte, taken bool, err error) {
	out = make([]byte, len(frame)+256)
	opts := &ebpf.RunOptions{Data: frame, DataOut: out,
		Context: xdpContext{DataEnd: uint32(len(frame)), IngressIfindex: uint32(ifindex)}}
	ret, err := h.d.objs.LvsXdp.Run(opts)
	if err != nil {
		return 0, nil, false, fmt.Errorf("test run: %w", err)
	}
	verdict, pass, err := xdpVerdict(ret)
	if err != nil {
		return 0, nil, false, fmt.Errorf("test run: %w", err)
	}
	if pass {
		verdict, out, err = h.run(opts.DataOut, ifindex, 0)
		return verdict, out, false, err
	}
	return verdict, opts.DataOut, true, nil
}

// MarkXDPNative lists links (indexes in the calling thread's namespace)
// in lvs_xdp_tx, as Attach does for links it gives native XDP, without
// attaching anything: RunXDP and datapathtest.Bench then see packets
// arriving on them, and sent to them, as native XDP's, which the fast
// path forwards with every method (generic XDP it leaves all but IPv4 DR
// to TC). For test runs in a namespace of the caller's.
func (h *Harness) MarkXDPNative(ifindex ...int) error {
	for _, i := range ifindex {
		if err := h.d.objs.LvsXdpTx.Put(uint32(i), uint32(i)); err != nil {
			return fmt.Errorf("lvs_xdp_tx: link %d: %w", i, err)
		}
	}
	return nil
}

// Programs returns the data plane's programs, lvs_ingress (TC) and lvs_xdp,
// for a benchmark to tail-call.
func (h *Harness) Programs() (tc, xdp *ebpf.Program) {
	return h.d.objs.LvsIngress, h.d.objs.LvsXdp
}

// TimedRun runs program p repeat times on frame in the kernel, with the
// context Run gives lvs_ingress (xdp false) or RunXDP lvs_xdp (xdp true),
// and returns the last repeat's verdict (in TC's terms, see RunXDP) and
// output, and the kernel's time per repeat. It does not restore the
// frame between repeats: p does that (datapathtest.Bench).
func (h *Harness) TimedRun(p *ebpf.Program, frame []byte, ifindex int, xdp bool, repeat int) (verdict int, perRepeat time.Duration, out []byte, err error) {
	var ret uint32
	if xdp {
		ret, perRepeat, out, err = testRun(p, frame, &xdpContext{DataEnd: uint32(len(frame)), IngressIfindex: uint32(ifindex)}, repeat)
	} else {
		var ctx *skbContext
		if ifindex > 0 {
			ctx = &skbContext{IngressIfindex: uint32(ifindex), Ifindex: uint32(ifindex)}
		}
		ret, perRepeat, out, err = testRun(p, frame, ctx, repeat)
	}
	if err != nil {
		return 0, 0, nil, err
	}
	verdict = int(ret)
	if xdp {
		if verdict, _, err = xdpVerdict(ret); err != nil {
			return 0, 0, nil, err
		}
	}
	return verdict, perRepeat, out, nil
}

// FillConns writes n established NAT connections (client
// 198.18.0.0/15 addresses and ports -> 198.18.0.10:80, real
// 198.19.0.11:80, RealID 1 of ServiceID 1) and their NAT reverse entries
// straight into the tables, in batches, for capacity and sweep
// benchmarks. Every expiredEvery-th one (0: none) has already expired.
// Entries of earlier calls with the same first index are overwritten.
// It also writes real 1 and service 1's VIP, which the entries name.
func (h *Harness) FillConns(first, n, expiredEvery int) error {
	d := h.d
	const batch = 1 << 14
	if err := d.setReals([]RealUpdate{{ID: 1, Real: lvs.Real{Addr: benchReal, Method: lvs.Masq, Weight: 1}}}); err != nil {
		return fmt.Errorf("fill connections: %w", err)
	}
	var vip lvsLvsAddr
	vip.Bytes = [16]byte{198, 18, 0, 10}
	if err := d.objs.LvsSvcVaddrs.Put(uint32(1), &vip); err != nil {
		return fmt.Errorf("fill connections: %w", err)
	}
	now := uint64(Now())
	keys := make([]lvsLvsTuple, 0, batch)
	vals := make([]lvsLvsConn, 0, batch)
	rkeys := make([]lvsLvsTuple, 0, batch)
	rvals := make([]lvsLvsNatConn, 0, batch)
	for i := first; i < first+n; i++ {
		k, v, rk, rv := benchConn(i, now, expiredEvery > 0 && i%expiredEvery == 0)
		keys, vals, rkeys, rvals = append(keys, k), append(vals, v), append(rkeys, rk), append(rvals, rv)
		if len(keys) == batch || i == first+n-1 {
			if err := batchPut(d.objs.LvsConns, keys, vals); err != nil {
				return fmt.Errorf("fill connections: %w", err)
			}
			if err := batchPut(d.objs.LvsNatConns, rkeys, rvals); err != nil {
				return fmt.Errorf("fill NAT reverse entries: %w", err)
			}
			keys, vals, rkeys, rvals = keys[:0], vals[:0], rkeys[:0], rvals[:0]
		}
	}
	return nil
}

// benchReal is the real of FillConns's connections.
var benchReal = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, 0, 11}), 80)

// benchConn is connection i of FillConns: its key and value, and
// its NAT reverse key and value.
func benchConn(i int, now uint64, expired bool) (lvsLvsTuple, lvsLvsConn, lvsLvsTuple, lvsLvsNatConn) {
	var k lvsLvsTuple
	// 2^17 client addresses of 198.18.0.0/15, 2^16 ports each.
	host := uint32(i) & (1<<17 - 1)
	k.Saddr.Bytes = [16]byte{198, 18 + byte(host>>16), byte(host >> 8), byte(host)}
	k.Daddr.Bytes = [16]byte{198, 18, 0, 10}
	k.Sport, k.Dport = wire.Hton(uint16(i>>17)), wire.Hton(80)
	k.Proto, k.Family = uint8(lvs.TCP), uint8(lvsLvsFamilyLVS_AF_INET)
	v := lvsLvsConn{
		Method: uint8(lvsLvsMethodLVS_METHOD_MASQ),
		State:  uint32(lvsLvsTcpStateLVS_TCP_ESTABLISHED), Service: 1, Real: 1,
		ExpiresNs: now + uint64(time.Hour),
	}
	if expired {
		v.ExpiresNs = now - uint64(time.Second)
	}
	rk := k
	rk.Saddr.Bytes = [16]byte{198, 19, 0, 11}
	rk.Daddr = k.Saddr
	rk.Sport, rk.Dport = wire.Hton(benchReal.Port()), k.Sport
	return k, v, rk, lvsLvsNatConn{Service: 1, Vport: k.Dport}
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

const bpfProgTestRun = 10

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
