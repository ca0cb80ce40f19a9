package datapath

import (
	"fmt"
	"math/bits"
	"net/netip"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"golvs/internal/lvs"
)

// MaxConnTableSize is the largest conn table Open accepts: the kernel
// refuses a hash map whose bucket array (max_entries rounded up to a power
// of two, 16 bytes a bucket) would not fit in 32 bits of bytes
// (htab_map_alloc in kernel/bpf/hashtab.c).
const MaxConnTableSize = 1 << 28

// Sizes the kernel adds to every preallocated hash map element and bucket
// (kernel/bpf/hashtab.c: struct htab_elem before the key, struct bucket).
const (
	htabElemHeader = 48
	htabBucket     = 16
)

// ConnTableMemory is the kernel's account of the connection tables'
// memory (the memlock of each map, BPF_OBJ_GET_INFO / fdinfo), in bytes.
type ConnTableMemory struct {
	Conns, NAT, Templates uint64
	// Entries is the tables' size (each holds that many entries).
	Entries int
}

// PerConn returns the bytes a connection slot costs, its NAT reverse
// entry included, persistence templates not.
func (m ConnTableMemory) PerConn() float64 {
	if m.Entries == 0 {
		return 0
	}
	return float64(m.Conns+m.NAT) / float64(m.Entries)
}

// ConnTableMemory returns what the kernel reports the three connection
// tables take. The tables are preallocated: this is their cost whether
// they are empty or full.
func (d *Datapath) ConnTableMemory() (ConnTableMemory, error) {
	out := ConnTableMemory{Entries: d.connSize}
	for _, m := range []struct {
		m   *ebpf.Map
		dst *uint64
	}{{d.objs.LvsConns, &out.Conns}, {d.objs.LvsNatConns, &out.NAT}, {d.objs.LvsTemplates, &out.Templates}} {
		info, err := m.m.Info()
		if err != nil {
			return out, fmt.Errorf("conn table memory: %w", err)
		}
		v, ok := info.Memlock()
		if !ok {
			return out, fmt.Errorf("conn table memory of %s: %w", info.Name, ErrNoBPF)
		}
		*m.dst = v
	}
	return out, nil
}

// ConnTableBytes estimates the memory of the three connection tables at n
// entries, as the kernel's htab_map_mem_usage counts a preallocated hash:
// every element (header, key and value rounded to 8 bytes; cpus spare
// elements for the per-CPU free lists) plus a bucket per power-of-two slot.
func ConnTableBytes(n, cpus int) uint64 {
	if n <= 0 {
		return 0
	}
	buckets := uint64(1) << bits.Len64(uint64(n-1))
	elems := uint64(n + cpus)
	key := uint64(round8(int(unsafe.Sizeof(lvsLvsTuple{}))))
	var total uint64
	for _, v := range []uintptr{unsafe.Sizeof(lvsLvsConn{}), unsafe.Sizeof(lvsLvsNatConn{}), unsafe.Sizeof(lvsLvsTmpl{})} {
		total += elems*(htabElemHeader+key+uint64(round8(int(v)))) + buckets*htabBucket
	}
	return total
}

func round8(n int) int { return (n + 7) &^ 7 }

// checkConnTableSize refuses a size the kernel would refuse, or whose
// tables need more memory than the machine has available.
func checkConnTableSize(n int) error {
	if n < 1 || n > MaxConnTableSize {
		return fmt.Errorf("conn table size %d: %w (1..%d)", n, lvs.ErrRange, MaxConnTableSize)
	}
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return nil // no figure to judge by: the kernel will say
	}
	avail := (uint64(si.Freeram) + uint64(si.Bufferram)) * uint64(si.Unit)
	if need := ConnTableBytes(n, possibleCPUs()); need > avail {
		return fmt.Errorf("conn table size %d: its three tables need %d MiB, more than the %d MiB of memory free: %w",
			n, need>>20, avail>>20, lvs.ErrRange)
	}
	return nil
}

// FillConnsForBench writes n established NAT connections (client
// 198.18.0.0/15 addresses and ports -> 198.18.0.10:80, real
// 198.19.0.11:80, RealID 1 of ServiceID 1) and their NAT reverse entries
// straight into the tables, in batches, for capacity and sweep
// benchmarks. Every expiredEvery-th one (0: none) has already expired.
// Entries of earlier calls with the same first index are overwritten.
// It also writes real 1 and service 1's VIP, which the entries name.
func (d *Datapath) FillConnsForBench(first, n, expiredEvery int) error {
	const batch = 1 << 14
	if err := d.SetReals([]RealUpdate{{ID: 1, Real: lvs.Real{Addr: benchReal, Method: lvs.Masq, Weight: 1}}}); err != nil {
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

// benchReal is the real of FillConnsForBench's connections.
var benchReal = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, 0, 11}), 80)

// benchConn is connection i of FillConnsForBench: its key and value, and
// its NAT reverse key and value.
func benchConn(i int, now uint64, expired bool) (lvsLvsTuple, lvsLvsConn, lvsLvsTuple, lvsLvsNatConn) {
	var k lvsLvsTuple
	// 2^17 client addresses of 198.18.0.0/15, 2^16 ports each.
	host := uint32(i) & (1<<17 - 1)
	k.Saddr.Bytes = [16]byte{198, 18 + byte(host>>16), byte(host >> 8), byte(host)}
	k.Daddr.Bytes = [16]byte{198, 18, 0, 10}
	k.Sport, k.Dport = hton(uint16(i>>17)), hton(80)
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
	rk.Sport, rk.Dport = hton(benchReal.Port()), k.Sport
	return k, v, rk, lvsLvsNatConn{Service: 1, Vport: k.Dport}
}
