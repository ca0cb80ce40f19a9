package sched

import (
	"math/bits"
	"net/netip"

	"golvs/internal/lvs"
)

// Dest is one real server of a service as the table builders see it.
type Dest struct {
	Addr netip.AddrPort
	// Weight is the real's configured weight (0 quiesces it).
	Weight int
	// LastWeight is the last non-zero weight the real was configured
	// with (IPVS's dest->last_weight): 0 for a real added with weight 0
	// and never given another; a real edited to weight 0 keeps its old
	// one. Only mh reads it.
	LastWeight int
}

// Empty marks an empty bucket in an sh, dh or mh table.
const Empty = -1

// Table sizes of the hashing schedulers (IPVS's defaults).
const (
	// ShSize is the number of sh and dh buckets (1 << CONFIG_IP_VS_SH_TAB_BITS).
	ShSize = 256
	// MhSize is the mh lookup table size (primes[CONFIG_IP_VS_MH_TAB_INDEX - 8]).
	MhSize = 4093
	// mhTabBits is IP_VS_MH_TAB_BITS, CONFIG_IP_VS_MH_TAB_INDEX / 2.
	mhTabBits = 6
)

// Table returns the scheduler table of a service with dests in IPVS list
// order (newest first), as indexes into dests; its kind is the
// scheduler's Kind.Table:
//
//   - rr: RR over the weights; wrr: WRR over the weights;
//   - sh: ShSize buckets filled as ip_vs_sh_reassign does; dh: ShSize
//     buckets as ip_vs_dh_reassign; mh: MhSize slots as ip_vs_mh_populate;
//     Empty (-1) in an empty bucket (no dests, or for mh no dest with a
//     last weight, or more than MhSize dests, which IPVS refuses);
//   - lc, wlc, sed, nq, fo, ovf, twos, lblc, lblcr: every dest, in list
//     order (the data plane walks them).
//
// flags are the service's scheduler flags; none of them changes a table
// (sh-port and the fallbacks act at lookup time). An unknown scheduler
// gets nil.
func Table(scheduler string, flags lvs.SchedFlags, dests []Dest) []int {
	_ = flags
	k, ok := KindOf(scheduler)
	if !ok {
		return nil
	}
	return k.build(dests)
}

// shTable is ip_vs_sh_reassign: walk the list cyclically, each dest
// taking weight consecutive buckets (a weight-0 dest one).
func shTable(weights []int) []int {
	t := make([]int, ShSize)
	if len(weights) == 0 {
		for i := range t {
			t[i] = Empty
		}
		return t
	}
	p, count := 0, 0
	for i := range t {
		t[i] = p
		count++
		if count >= weights[p] {
			p = (p + 1) % len(weights)
			count = 0
		}
	}
	return t
}

// dhTable is ip_vs_dh_reassign: one bucket per dest, cyclically.
func dhTable(n int) []int {
	t := make([]int, ShSize)
	for i := range t {
		if n == 0 {
			t[i] = Empty
		} else {
			t[i] = i % n
		}
	}
	return t
}

// The hsiphash keys of ip_vs_mh.c (ip_vs_mh_init_svc), fixed values.
var (
	mhHash1 = [2]uint64{2654435761, 2654435761}
	mhHash2 = [2]uint64{2654446892, 2654446892}
)

// MhHash is ip_vs_mh_hashkey on a 64-bit kernel with the lookup key
// (hash1): hsiphash of offset + port + addr (host order, as 4
// little-endian bytes). The data plane computes the same.
func MhHash(addr netip.Addr, port uint16, offset uint32) uint32 {
	return mhHashKey(addr, port, offset, mhHash1)
}

func mhHashKey(addr netip.Addr, port uint16, offset uint32, key [2]uint64) uint32 {
	return Hsiphash32(offset+uint32(port)+addrFold(addr), key)
}

// addrFold is IPVS's addr_fold: the IPv4 address, or the XOR of an IPv6
// address's four 32-bit words, in host order.
func addrFold(a netip.Addr) uint32 {
	if a.Is4() || a.Is4In6() {
		b := a.Unmap().As4()
		return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	}
	b := a.As16()
	var v uint32
	for i := 0; i < 16; i += 4 {
		v ^= uint32(b[i])<<24 | uint32(b[i+1])<<16 | uint32(b[i+2])<<8 | uint32(b[i+3])
	}
	return v
}

// Hsiphash32 is the kernel's hsiphash(&v, 4, key) on a 64-bit kernel:
// SipHash-1-3 with a 128-bit key over the 4 little-endian bytes of v,
// truncated to 32 bits (lib/siphash.c).
func Hsiphash32(v uint32, key [2]uint64) uint32 {
	v0 := uint64(0x736f6d6570736575) ^ key[0]
	v1 := uint64(0x646f72616e646f6d) ^ key[1]
	v2 := uint64(0x6c7967656e657261) ^ key[0]
	v3 := uint64(0x7465646279746573) ^ key[1]
	b := uint64(4)<<56 | uint64(v)
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13)
		v1 ^= v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16)
		v3 ^= v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21)
		v3 ^= v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17)
		v1 ^= v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	v3 ^= b
	round()
	v0 ^= b
	v2 ^= 0xff
	round()
	round()
	round()
	return uint32(v0 ^ v1 ^ v2 ^ v3)
}

// mhTable is ip_vs_mh_reassign: gcd and shift of the last weights, a
// permutation per dest, then Maglev's population.
func mhTable(dests []Dest) []int {
	t := make([]int, MhSize)
	for i := range t {
		t[i] = Empty
	}
	if len(dests) > MhSize {
		return t // ip_vs_mh_reassign: -EINVAL
	}
	g, mw := 0, 0
	for _, d := range dests {
		if d.LastWeight > 0 {
			g = gcd(g, d.LastWeight)
			mw = max(mw, d.LastWeight)
		}
	}
	if g < 1 {
		return t
	}
	rshift := max(bits.Len(uint(mw/g))-mhTabBits, 0)
	type setup struct{ perm, skip, turns int }
	ds := make([]setup, len(dests))
	for i, d := range dests {
		offset := int(mhHashKey(d.Addr.Addr(), d.Addr.Port(), 0, mhHash1) % MhSize)
		skip := int(mhHashKey(d.Addr.Addr(), d.Addr.Port(), 0, mhHash2)%(MhSize-1)) + 1
		turns := (d.LastWeight / g) >> rshift
		if turns == 0 && d.LastWeight != 0 {
			turns = 1
		}
		ds[i] = setup{offset, skip, turns}
	}
	used := make([]bool, MhSize)
	n, dtCount := 0, 0
	for n < MhSize {
		for i := 0; i < len(ds); {
			if ds[i].turns < 1 {
				i++
				continue
			}
			c := ds[i].perm
			for used[c] {
				ds[i].perm += ds[i].skip
				if ds[i].perm >= MhSize {
					ds[i].perm -= MhSize
				}
				c = ds[i].perm
			}
			used[c] = true
			t[c] = i
			n++
			if n == MhSize {
				return t
			}
			// A dest claims turns slots in a row (dt_count).
			dtCount++
			if dtCount >= ds[i].turns {
				dtCount = 0
				i++
			}
		}
	}
	return t
}
