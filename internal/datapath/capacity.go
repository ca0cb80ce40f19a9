package datapath

import (
	"fmt"
	"math/bits"
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
