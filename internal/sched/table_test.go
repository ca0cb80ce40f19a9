package sched

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"testing"
)

// sipHash is an independent, textbook SipHash-c-d over a byte message
// with a 128-bit key, returning the 64-bit result.
func sipHash(c, d int, k0, k1 uint64, msg []byte) uint64 {
	v := [4]uint64{k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d, k0 ^ 0x6c7967656e657261, k1 ^ 0x7465646279746573}
	round := func() {
		v[0] += v[1]
		v[1] = bits.RotateLeft64(v[1], 13) ^ v[0]
		v[0] = bits.RotateLeft64(v[0], 32)
		v[2] += v[3]
		v[3] = bits.RotateLeft64(v[3], 16) ^ v[2]
		v[0] += v[3]
		v[3] = bits.RotateLeft64(v[3], 21) ^ v[0]
		v[2] += v[1]
		v[1] = bits.RotateLeft64(v[1], 17) ^ v[2]
		v[2] = bits.RotateLeft64(v[2], 32)
	}
	n := len(msg)
	for len(msg) >= 8 {
		m := binary.LittleEndian.Uint64(msg)
		v[3] ^= m
		for range c {
			round()
		}
		v[0] ^= m
		msg = msg[8:]
	}
	var last [8]byte
	copy(last[:], msg)
	last[7] = byte(n)
	m := binary.LittleEndian.Uint64(last[:])
	v[3] ^= m
	for range c {
		round()
	}
	v[0] ^= m
	v[2] ^= 0xff
	for range d {
		round()
	}
	return v[0] ^ v[1] ^ v[2] ^ v[3]
}

func TestSipHashReference(t *testing.T) {
	// The SipHash paper's vector: key 00..0f, empty message, SipHash-2-4.
	k0 := binary.LittleEndian.Uint64([]byte{0, 1, 2, 3, 4, 5, 6, 7})
	k1 := binary.LittleEndian.Uint64([]byte{8, 9, 10, 11, 12, 13, 14, 15})
	if got := sipHash(2, 4, k0, k1, nil); got != 0x726fdb47dd0e0e31 {
		t.Fatalf("SipHash-2-4 test vector: %#x", got)
	}
	// And with a 15-byte message 00..0e (vector 15 of the reference code).
	msg := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
	if got := sipHash(2, 4, k0, k1, msg); got != 0xa129ca6149be45e5 {
		t.Fatalf("SipHash-2-4 15-byte vector: %#x", got)
	}
}

func TestHsiphashVectors(t *testing.T) {
	for _, v := range []uint32{0, 1, 0xffffffff, 0xc6120064, 0xc612010a + 8080} {
		for _, key := range [][2]uint64{mhHash1, mhHash2, {0, 0}} {
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], v)
			want := uint32(sipHash(1, 3, key[0], key[1], b[:]))
			if got := Hsiphash32(v, key); got != want {
				t.Errorf("hsiphash(%#x, %v) = %#x, SipHash-1-3 gives %#x", v, key, got, want)
			}
		}
	}
}

// kernelMh is a line-by-line model of ip_vs_mh_reassign: list walking
// with a head sentinel (-1), dest_setup indexes, dt_count.
func kernelMh(dests []Dest) []int {
	const head = -1
	lookup := make([]int, MhSize)
	for i := range lookup {
		lookup[i] = Empty
	}
	if len(dests) > MhSize {
		return lookup
	}
	gcdW := 0
	for _, d := range dests {
		if w := d.LastWeight; w > 0 {
			if gcdW > 0 {
				gcdW = gcd(w, gcdW)
			} else {
				gcdW = w
			}
		}
	}
	shift := 0
	if gcdW >= 1 {
		weight := 0
		for _, d := range dests {
			if d.LastWeight > weight {
				weight = d.LastWeight
			}
		}
		mw := weight / gcdW
		fls := 0
		for x := mw; x != 0; x >>= 1 {
			fls++
		}
		if s := fls - 6; s >= 0 {
			shift = s
		}
	}
	type ds struct{ offset, skip, perm, turns int }
	setup := make([]ds, len(dests))
	for i, d := range dests {
		a, p := d.Addr.Addr(), d.Addr.Port()
		setup[i].offset = int(mhHashKey(a, p, 0, mhHash1) % MhSize)
		setup[i].skip = int(mhHashKey(a, p, 0, mhHash2)%(MhSize-1)) + 1
		setup[i].perm = setup[i].offset
		lw := d.LastWeight
		if gcdW >= 1 {
			setup[i].turns = (lw / gcdW) >> shift
		}
		if setup[i].turns == 0 && lw != 0 {
			setup[i].turns = 1
		}
	}
	if gcdW < 1 {
		return lookup
	}
	table := make([]bool, MhSize)
	next := func(p int) int {
		if p+1 == len(dests) {
			return head
		}
		return p + 1
	}
	p := head
	n, dtCount := 0, 0
	for n < MhSize {
		if p == head {
			p = next(p)
		}
		di := 0
		for p != head {
			if setup[di].turns < 1 {
				p = next(p)
				di++
				continue
			}
			c := setup[di].perm
			for table[c] {
				setup[di].perm += setup[di].skip
				if setup[di].perm >= MhSize {
					setup[di].perm -= MhSize
				}
				c = setup[di].perm
			}
			table[c] = true
			lookup[c] = p
			n++
			if n == MhSize {
				return lookup
			}
			dtCount++
			if dtCount >= setup[di].turns {
				dtCount = 0
				p = next(p)
				di++
			}
		}
	}
	return lookup
}

// kernelSh is a line-by-line model of ip_vs_sh_reassign.
func kernelSh(weights []int) []int {
	const head = -1
	b := make([]int, ShSize)
	p, dCount := head, 0
	for i := range b {
		if len(weights) == 0 {
			b[i] = Empty
			continue
		}
		if p == head {
			p = 0
		}
		b[i] = p
		dCount++
		if dCount >= weights[p] {
			p++
			if p == len(weights) {
				p = head
			}
			dCount = 0
		}
	}
	return b
}

func dest(i int, w, lw int) Dest {
	return Dest{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(1 + i/250), byte(i % 250)}), 8080), Weight: w, LastWeight: lw}
}

func TestTableMatchesKernel(t *testing.T) {
	cases := []struct {
		name  string
		dests []Dest
	}{
		{"none", nil},
		{"one", []Dest{dest(0, 1, 1)}},
		{"equal", []Dest{dest(0, 1, 1), dest(1, 1, 1), dest(2, 1, 1)}},
		{"weighted", []Dest{dest(0, 5, 5), dest(1, 3, 3), dest(2, 1, 1)}},
		{"added with weight 0 gets no mh slots", []Dest{dest(0, 0, 0), dest(1, 2, 2)}},
		{"edited to weight 0 keeps its mh slots", []Dest{dest(0, 0, 4), dest(1, 2, 2)}},
		{"all zero", []Dest{dest(0, 0, 0), dest(1, 0, 0)}},
		{"huge weights shift", []Dest{dest(0, 65535, 65535), dest(1, 1000, 1000), dest(2, 1, 1)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, want := Table("mh", 0, c.dests), kernelMh(c.dests); !slices.Equal(got, want) {
				t.Errorf("mh table differs from the kernel model")
			}
			w := make([]int, len(c.dests))
			for i, d := range c.dests {
				w[i] = d.Weight
			}
			if got, want := Table("sh", 0, c.dests), kernelSh(w); !slices.Equal(got, want) {
				t.Errorf("sh table %v, kernel %v", got[:16], want[:16])
			}
			dh := Table("dh", 0, c.dests)
			for i, d := range dh {
				if (len(c.dests) == 0 && d != Empty) || (len(c.dests) > 0 && d != i%len(c.dests)) {
					t.Fatalf("dh bucket %d = %d", i, d)
				}
			}
		})
	}
}

func TestShWeightZeroTakesOneBucket(t *testing.T) {
	got := Table("sh", 0, []Dest{dest(0, 0, 0), dest(1, 2, 2)})
	want := []int{0, 1, 1, 0, 1, 1}
	if !slices.Equal(got[:6], want) {
		t.Fatalf("sh buckets %v, want %v", got[:6], want)
	}
}

func FuzzTableMatchesKernel(f *testing.F) {
	f.Add([]byte{1, 1, 2, 2, 3, 3})
	f.Add([]byte{0, 4, 9, 0, 200, 17})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 64 {
			b = b[:64]
		}
		var ds []Dest
		var ws []int
		for i := 0; i+1 < len(b); i += 2 {
			w, lw := int(b[i])%8, int(b[i+1])
			if w != 0 {
				lw = w
			}
			ds = append(ds, dest(i/2, w, lw))
			ws = append(ws, w)
		}
		if !slices.Equal(Table("mh", 0, ds), kernelMh(ds)) {
			t.Fatalf("mh table differs for %v", ds)
		}
		if !slices.Equal(Table("sh", 0, ds), kernelSh(ws)) {
			t.Fatalf("sh table differs for %v", ws)
		}
	})
}

// TestMhGolden pins the table for a fixed input: a change to the hash,
// the keys or the population shows here.
func TestMhGolden(t *testing.T) {
	ds := []Dest{dest(0, 1, 1), dest(1, 2, 2), dest(2, 3, 3), dest(3, 0, 5)}
	tab := Table("mh", 0, ds)
	h := sha256.New()
	for _, x := range tab {
		fmt.Fprintf(h, "%d,", x)
	}
	const want = "b1043b378a21d68365c45536e4535da9901d7144da2654aa9f5529134d1ee7e9"
	if got := fmt.Sprintf("%x", h.Sum(nil)); got != want {
		t.Fatalf("mh table hash %s, want %s", got, want)
	}
}

func TestMhSpreadAndDisruption(t *testing.T) {
	const n = 10
	var ds []Dest
	for i := range n {
		ds = append(ds, dest(i, 1, 1))
	}
	tab := Table("mh", 0, ds)
	count := make([]int, n)
	for _, x := range tab {
		count[x]++
	}
	// Maglev gives every dest floor or ceil of M/N slots.
	for i, c := range count {
		if c < MhSize/n-1 || c > MhSize/n+1 {
			t.Errorf("dest %d has %d slots, want %d±1", i, c, MhSize/n)
		}
	}
	// Remove dest 4: its slots move, and few others do.
	less := slices.Delete(slices.Clone(ds), 4, 5)
	tab2 := Table("mh", 0, less)
	moved := 0
	for s := range tab {
		before := ds[tab[s]].Addr
		after := less[tab2[s]].Addr
		if before != after && tab[s] != 4 {
			moved++
		}
	}
	disrupt := float64(count[4]+moved) / MhSize
	if disrupt > 1.0/n*1.5 {
		t.Errorf("removing 1 of %d dests moved %.3f of the slots, bound %.3f", n, disrupt, 1.5/n)
	}
	t.Logf("removing 1 of %d moved %.4f of slots (1/N = %.4f, %d beyond the removed dest's)", n, disrupt, 1.0/n, moved)
}
