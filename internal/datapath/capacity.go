package datapath

import (
	"errors"
	"fmt"
	"math/bits"
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
	for _, v := range []uintptr{unsafe.Sizeof(lvsLvsConn{}), unsafe.Sizeof(lvsLvsTuple{}), unsafe.Sizeof(lvsLvsTmpl{})} {
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

func possibleCPUs() int {
	n, err := ebpf.PossibleCPU()
	if err != nil {
		return 1
	}
	return n
}

// FillConnsForBench writes n established NAT connections (client
// 198.18.0.0/15 addresses and ports -> 198.18.0.10:80, real
// 198.19.0.11:80, RealID 1 of ServiceID 1) and their NAT reverse entries
// straight into the tables, in batches, for capacity and sweep
// benchmarks. Every expiredEvery-th one (0: none) has already expired.
// Entries of earlier calls with the same first index are overwritten.
func (d *Datapath) FillConnsForBench(first, n, expiredEvery int) error {
	const batch = 1 << 14
	now := uint64(Now())
	keys := make([]lvsLvsTuple, 0, batch)
	vals := make([]lvsLvsConn, 0, batch)
	rkeys := make([]lvsLvsTuple, 0, batch)
	for i := first; i < first+n; i++ {
		k, v, rk := benchConn(i, now, expiredEvery > 0 && i%expiredEvery == 0)
		keys, vals, rkeys = append(keys, k), append(vals, v), append(rkeys, rk)
		if len(keys) == batch || i == first+n-1 {
			if err := batchPut(d.objs.LvsConns, keys, vals); err != nil {
				return fmt.Errorf("fill connections: %w", err)
			}
			if err := batchPut(d.objs.LvsNatConns, rkeys, keys); err != nil {
				return fmt.Errorf("fill NAT reverse entries: %w", err)
			}
			keys, vals, rkeys = keys[:0], vals[:0], rkeys[:0]
		}
	}
	return nil
}

// benchConn is connection i of FillConnsForBench: its key, value and NAT
// reverse key.
func benchConn(i int, now uint64, expired bool) (lvsLvsTuple, lvsLvsConn, lvsLvsTuple) {
	var k lvsLvsTuple
	// 2^17 client addresses of 198.18.0.0/15, 2^16 ports each.
	host := uint32(i) & (1<<17 - 1)
	k.Saddr.Bytes = [16]byte{198, 18 + byte(host>>16), byte(host >> 8), byte(host)}
	k.Daddr.Bytes = [16]byte{198, 18, 0, 10}
	k.Sport, k.Dport = hton(uint16(i>>17)), hton(80)
	k.Proto, k.Family = uint8(lvs.TCP), uint8(lvsLvsFamilyLVS_AF_INET)
	v := lvsLvsConn{
		Rport: hton(80), Method: uint8(lvsLvsMethodLVS_METHOD_MASQ), Rfamily: uint8(lvsLvsFamilyLVS_AF_INET),
		State: uint32(lvsLvsTcpStateLVS_TCP_ESTABLISHED), Service: 1, Real: 1,
		ExpiresNs: now + uint64(time.Hour),
	}
	v.Raddr.Bytes = [16]byte{198, 19, 0, 11}
	if expired {
		v.ExpiresNs = now - uint64(time.Second)
	}
	rk := k
	rk.Saddr, rk.Daddr = v.Raddr, k.Saddr
	rk.Sport, rk.Dport = v.Rport, k.Sport
	return k, v, rk
}

func batchPut[K, V any](m *ebpf.Map, keys []K, vals []V) error {
	_, err := m.BatchUpdate(keys, vals, nil)
	if errors.Is(err, ebpf.ErrNotSupported) {
		for i := range keys {
			if err := m.Put(&keys[i], &vals[i]); err != nil {
				return err
			}
		}
		return nil
	}
	return err
}
