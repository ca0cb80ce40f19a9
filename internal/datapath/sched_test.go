package datapath_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golvs/internal/datapath"
	"golvs/internal/datapath/datapathtest"
	"golvs/internal/lvs"
	"golvs/internal/packet"
	"golvs/internal/sched"
	"golvs/internal/sched/schedtest"
)

// refDest is a dest as the kernel's schedulers read it.
type refDest struct {
	id               datapath.RealID
	weight           int
	active, inactive int
	overload         bool
}

func overhead(d refDest) int64 { return int64(d.active)<<8 + int64(d.inactive) }

// kernelPick is a line-by-line model of the walking schedulers' schedule
// functions (ip_vs_lc.c, ip_vs_wlc.c, ip_vs_sed.c, ip_vs_nq.c, ip_vs_fo.c,
// ip_vs_ovf.c) over ds in list order; 0 is "no destination".
func kernelPick(name string, ds []refDest) datapath.RealID {
	switch name {
	case "lc":
		var least *refDest
		var loh int64
		for i := range ds {
			d := &ds[i]
			if d.overload || d.weight == 0 {
				continue
			}
			doh := overhead(*d)
			if least == nil || doh < loh {
				least, loh = d, doh
			}
		}
		if least == nil {
			return 0
		}
		return least.id
	case "wlc", "sed":
		oh := overhead
		if name == "sed" {
			oh = func(d refDest) int64 { return int64(d.active) + 1 }
		}
		i := 0
		var least *refDest
		var loh int64
		for ; i < len(ds); i++ {
			if ds[i].overload {
				continue
			}
			if ds[i].weight > 0 {
				least, loh = &ds[i], oh(ds[i])
				break
			}
		}
		if least == nil {
			return 0
		}
		for i++; i < len(ds); i++ {
			d := &ds[i]
			if d.overload {
				continue
			}
			doh := oh(*d)
			if loh*int64(d.weight) > doh*int64(least.weight) {
				least, loh = d, doh
			}
		}
		return least.id
	case "nq":
		var least *refDest
		var loh int64
		for i := range ds {
			d := &ds[i]
			if d.overload || d.weight == 0 {
				continue
			}
			doh := int64(d.active) + 1
			if d.active == 0 {
				return d.id
			}
			if least == nil || loh*int64(d.weight) > doh*int64(least.weight) {
				least, loh = d, doh
			}
		}
		if least == nil {
			return 0
		}
		return least.id
	case "fo":
		var h *refDest
		hw := 0
		for i := range ds {
			if !ds[i].overload && ds[i].weight > hw {
				h, hw = &ds[i], ds[i].weight
			}
		}
		if h == nil {
			return 0
		}
		return h.id
	case "ovf":
		var h *refDest
		for i := range ds {
			d := &ds[i]
			w := d.weight
			if d.overload || d.active > w || w == 0 {
				continue
			}
			if h == nil || w > h.weight {
				h = d
			}
		}
		if h == nil {
			return 0
		}
		return h.id
	}
	panic(name)
}

// twosOutcomes lists every dest ip_vs_twos.c can return for ds, over all
// pairs of random draws, with its probability.
func twosOutcomes(ds []refDest) map[datapath.RealID]float64 {
	total := 0
	for _, d := range ds {
		if !d.overload && d.weight > 0 {
			total += d.weight
		}
	}
	out := map[datapath.RealID]float64{}
	if total == 0 {
		return out
	}
	total++
	pick := func(r int) *refDest {
		for i := range ds {
			d := &ds[i]
			if d.overload || d.weight <= 0 {
				continue
			}
			r -= d.weight
			if r <= 0 {
				return d
			}
		}
		return nil
	}
	for r1 := range total {
		for r2 := range total {
			c1, c2 := pick(r1), pick(r2)
			if c2 != nil && int64(c2.weight)*overhead(*c1) > int64(c1.weight)*overhead(*c2) {
				c1 = c2
			}
			out[c1.id] += 1 / float64(total*total)
		}
	}
	return out
}

// schedWorld is a namespace and data plane with six NAT reals (ids 1..6,
// port 9000+id) and one UDP one-packet service per test on VIP:5000, so
// that every datagram is scheduled afresh and no counter moves.
type schedWorld struct {
	t *testing.T
	n *datapathtest.Net
	d *datapath.Datapath
}

const schedPort = 5000

func newSchedWorld(t *testing.T) *schedWorld {
	datapathtest.RequirePrivileged(t)
	return &schedWorld{t: t, n: datapathtest.NewNet(t), d: datapathtest.Open(t, datapath.Options{ConnTableSize: 4096})}
}

func schedReal(id datapath.RealID) netip.AddrPort { return rip(int(id-1)%3, 9000+uint16(id)) }

// set writes the reals of ds (weights, counters, overload) and the
// service with scheduler name over them.
func (w *schedWorld) set(name string, flags lvs.SchedFlags, ds []refDest, proto lvs.Protocol) {
	w.t.Helper()
	ids := make([]datapath.RealID, len(ds))
	sds := make([]sched.Dest, len(ds))
	for i, d := range ds {
		must(w.t, w.d.SetReal(d.id, lvs.Real{Addr: schedReal(d.id), Method: lvs.Masq, Weight: d.weight}))
		must(w.t, w.d.SetRealConnsForTest(d.id, uint32(d.active), uint32(d.inactive)))
		must(w.t, w.d.SetOverloadForTest(d.id, d.overload))
		ids[i] = d.id
		sds[i] = sched.Dest{Addr: schedReal(d.id), Weight: d.weight, LastWeight: max(d.weight, 1)}
	}
	idx := sched.Table(name, flags, sds)
	table := make([]datapath.RealID, len(idx))
	for i, j := range idx {
		if j >= 0 {
			table[i] = ids[j]
		}
	}
	svc := lvs.Service{ServiceKey: key(proto, schedPort), Scheduler: name, SchedFlags: flags, OnePacket: proto == lvs.UDP}
	must(w.t, w.d.SetService(1, svc, table, 0))
}

// pick sends one datagram (or SYN) from src and returns the real it went
// to, 0 when the data plane scheduled none.
func (w *schedWorld) pick(src netip.AddrPort, proto int) datapath.RealID {
	w.t.Helper()
	f := packet.Frame{SrcMAC: datapathtest.ClientMAC, DstMAC: w.n.Client.MAC, Src: src, Dst: vip(schedPort), Proto: proto}
	if proto == packet.TCP {
		f.Flags = "S"
	}
	var (
		v   int
		out []byte
		err error
	)
	w.n.Do(w.t, func() { v, out, err = datapath.NewHarness(w.d).Run(f.Bytes(), w.n.Client.Index) })
	if err != nil {
		w.t.Fatal(err)
	}
	if v != datapath.VerdictRedirect {
		return 0
	}
	a := netip.AddrFrom4([4]byte(out[30:34]))
	port := binary.BigEndian.Uint16(out[36:38])
	if id := datapath.RealID(port - 9000); port > 9000 && schedReal(id) == netip.AddrPortFrom(a, port) {
		return id
	}
	w.t.Fatalf("packet went to %s:%d, not a real", a, port)
	return 0
}

// TestPrivilegedLargeService checks that the schedulers see every real of
// a service far larger than a bounded loop could walk: the one real lc
// would pick, and the one real rr/wrr may pick, is the last of 3000.
func TestPrivilegedLargeService(t *testing.T) {
	w := newSchedWorld(t)
	const n = 3000
	ds := make([]refDest, n)
	for i := range ds {
		ds[i] = refDest{id: datapath.RealID(i + 1), weight: 1, active: 5, overload: true}
	}
	ds[n-1].active, ds[n-1].overload = 0, false
	for i, name := range []string{"lc", "wlc", "rr", "wrr"} {
		w.set(name, 0, ds, lvs.UDP)
		if got := w.pick(cli(uint16(40000+i)), packet.UDP); got != ds[n-1].id {
			t.Errorf("%s over %d reals: picks %d, want %d (the only one not overloaded)", name, n, got, ds[n-1].id)
		}
	}
}

func randomDests(r *rand.Rand) []refDest {
	n := 1 + r.IntN(6)
	ids := r.Perm(6)
	ds := make([]refDest, n)
	for i := range ds {
		ds[i] = refDest{
			id:       datapath.RealID(ids[i] + 1),
			weight:   r.IntN(5),
			active:   r.IntN(6),
			inactive: r.IntN(600),
			overload: r.IntN(5) == 0,
		}
	}
	return ds
}

func TestPrivilegedWalkingSchedulersMatchKernel(t *testing.T) {
	w := newSchedWorld(t)
	r := rand.New(rand.NewPCG(1, 2))
	fixed := [][]refDest{
		{{id: 1, weight: 1}, {id: 2, weight: 1}},                                 // all idle: the first
		{{id: 1, weight: 0}, {id: 2, weight: 0}},                                 // all quiesced: none
		{{id: 1, weight: 1, overload: true}, {id: 2, weight: 3, overload: true}}, // all overloaded: none
		{{id: 1, weight: 1, active: 1}, {id: 2, weight: 3, active: 3}},           // wlc tie: the first
		{{id: 1, weight: 2, active: 3}, {id: 2, weight: 1, active: 1}, {id: 3, weight: 3, active: 4}},
	}
	for _, name := range []string{"lc", "wlc", "sed", "nq", "fo", "ovf"} {
		t.Run(name, func(t *testing.T) {
			w.t = t
			cases := append([][]refDest{}, fixed...)
			for range 60 {
				cases = append(cases, randomDests(r))
			}
			for i, ds := range cases {
				w.set(name, 0, ds, lvs.UDP)
				want := kernelPick(name, ds)
				if got := w.pick(cli(uint16(20000+i)), packet.UDP); got != want {
					t.Errorf("case %d %+v: data plane picks %d, kernel %d", i, ds, got, want)
				}
			}
		})
	}
}

func TestPrivilegedTwosMatchesKernel(t *testing.T) {
	w := newSchedWorld(t)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 40 {
		ds := randomDests(r)
		w.set("twos", 0, ds, lvs.UDP)
		can := twosOutcomes(ds)
		for j := range 20 {
			got := w.pick(cli(uint16(30000+j)), packet.UDP)
			if _, ok := can[got]; !ok && !(got == 0 && len(can) == 0) {
				t.Fatalf("case %d %+v: picked %d, the kernel can only pick %v", i, ds, got, can)
			}
		}
	}
	// Distribution: weights 3 and 1, idle: the first wins unless both
	// draws land on the second; P(first) = 1 - (1/5)^2... by enumeration.
	ds := []refDest{{id: 1, weight: 3}, {id: 2, weight: 1, active: 0, inactive: 0}}
	w.set("twos", 0, ds, lvs.UDP)
	want := twosOutcomes(ds)
	const n = 4000
	got := map[datapath.RealID]int{}
	for j := range n {
		got[w.pick(cli(uint16(1000+j)), packet.UDP)]++
	}
	for id, p := range want {
		f := float64(got[id]) / n
		if sd := math.Sqrt(p * (1 - p) / n); math.Abs(f-p) > 5*sd+0.001 {
			t.Errorf("real %d picked %.3f of the time, kernel %.3f", id, f, p)
		}
	}
}

// hash32 is the kernel's hash_32(v, 8).
func hash32(v uint32) uint32 { return (v * 0x61C88647) >> 24 }

func addrHost(a netip.Addr) uint32 { b := a.As4(); return binary.BigEndian.Uint32(b[:]) }

// kernelHashPick is ip_vs_sh_schedule / ip_vs_mh_schedule over table
// (RealIDs, 0 empty) with usable telling is_unavailable's negation.
func kernelHashPick(name string, fallback bool, table []datapath.RealID, usable func(datapath.RealID) bool, src netip.AddrPort, port uint16) datapath.RealID {
	addr := addrHost(src.Addr())
	var ihash uint32
	probe := func(off uint32) uint32 { return 0 }
	switch name {
	case "sh":
		ihash = hash32(uint32(port)+addr) & 255
		probe = func(roff uint32) uint32 { return (roff + hash32(uint32(port)+addr)) & 255 }
	case "mh":
		ihash = sched.MhHash(src.Addr(), port, 0) % sched.MhSize
		probe = func(roff uint32) uint32 { return sched.MhHash(src.Addr(), port, roff) % sched.MhSize }
	}
	m := uint32(len(table))
	d := table[ihash]
	if d == 0 {
		return 0
	}
	if usable(d) {
		return d
	}
	if !fallback {
		return 0
	}
	for off := uint32(0); off < m; off++ {
		d := table[probe((off+ihash)%m)]
		if d == 0 {
			return 0
		}
		if usable(d) {
			return d
		}
	}
	return 0
}

func TestPrivilegedHashSchedulersMatchKernel(t *testing.T) {
	w := newSchedWorld(t)
	r := rand.New(rand.NewPCG(5, 6))
	for _, name := range []string{"sh", "mh"} {
		for _, flags := range []lvs.SchedFlags{0, lvs.SchedFlag1, lvs.SchedFlag2, lvs.SchedFlag1 | lvs.SchedFlag2} {
			t.Run(fmt.Sprintf("%s flags %#x", name, uint32(flags)), func(t *testing.T) {
				w.t = t
				ds := []refDest{{id: 1, weight: 2}, {id: 2, weight: 0}, {id: 3, weight: 1, overload: true}, {id: 4, weight: 3}}
				w.set(name, flags, ds, lvs.UDP)
				usable := func(id datapath.RealID) bool { return id == 1 || id == 4 }
				sds := make([]sched.Dest, len(ds))
				for i, d := range ds {
					sds[i] = sched.Dest{Addr: schedReal(d.id), Weight: d.weight, LastWeight: max(d.weight, 1)}
				}
				table := make([]datapath.RealID, 0)
				for _, j := range sched.Table(name, flags, sds) {
					if j < 0 {
						table = append(table, 0)
					} else {
						table = append(table, ds[j].id)
					}
				}
				for i := range 200 {
					src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(100 + r.IntN(100))}), uint16(1024+r.IntN(60000)))
					port := uint16(0)
					if flags&lvs.SchedFlag2 != 0 {
						port = src.Port()
					}
					want := kernelHashPick(name, flags&lvs.SchedFlag1 != 0, table, usable, src, port)
					if got := w.pick(src, packet.UDP); got != want {
						t.Fatalf("flow %d from %s: data plane %d, kernel %d", i, src, got, want)
					}
				}
			})
		}
	}
}

func TestPrivilegedHashDistribution(t *testing.T) {
	w := newSchedWorld(t)
	ds := []refDest{{id: 1, weight: 1}, {id: 2, weight: 1}, {id: 3, weight: 1}, {id: 4, weight: 1}}
	const flows = 4000
	for _, name := range []string{"sh", "mh"} {
		t.Run(name, func(t *testing.T) {
			w.t = t
			w.set(name, lvs.SchedFlag2, ds, lvs.UDP)
			count := map[datapath.RealID]int{}
			for i := range flows {
				src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8 & 1), byte(i)}), uint16(1024+i*7))
				count[w.pick(src, packet.UDP)]++
			}
			// Bound: each of 4 equal reals gets 25% ± 5% of the flows.
			for _, d := range ds {
				if f := float64(count[d.id]) / flows; f < 0.20 || f > 0.30 {
					t.Errorf("real %d got %.3f of %d flows (want 0.25±0.05): %v", d.id, f, flows, count)
				}
			}
		})
	}
	t.Run("dh", func(t *testing.T) {
		w.t = t
		w.set("dh", 0, ds, lvs.UDP)
		// dh hashes the destination (the VIP): every flow meets one real,
		// the one of bucket hash_32(VIP, 8).
		want := ds[int(hash32(addrHost(datapathtest.VIP)))%len(ds)].id
		for i := range 50 {
			if got := w.pick(cli(uint16(2000+i)), packet.UDP); got != want {
				t.Fatalf("flow %d went to %d, bucket holds %d", i, got, want)
			}
		}
		// Quiesced: dh fails rather than move the flow.
		ds2 := append([]refDest{}, ds...)
		for i := range ds2 {
			if ds2[i].id == want {
				ds2[i].weight = 0
			}
		}
		w.set("dh", 0, ds2, lvs.UDP)
		if got := w.pick(cli(3000), packet.UDP); got != 0 {
			t.Fatalf("quiesced dh bucket still scheduled to %d", got)
		}
	})
}

func TestPrivilegedThresholds(t *testing.T) {
	w := newSchedWorld(t)
	d := w.d
	ds := []refDest{{id: 1, weight: 1}, {id: 2, weight: 1}}
	w.set("rr", 0, ds, lvs.TCP)
	must(t, d.SetReal(1, lvs.Real{Addr: schedReal(1), Method: lvs.Masq, Weight: 1, UThreshold: 2}))
	// rr: 1, 2, 1 (now 2 conns: overloaded), 2, 2, ...
	want := []datapath.RealID{1, 2, 1, 2, 2, 2}
	for i, id := range want {
		if got := w.pick(cli(uint16(40000+i)), packet.TCP); got != id {
			t.Fatalf("connection %d went to %d, want %d", i, got, id)
		}
	}
	if over, _ := d.Overloaded(1); !over {
		t.Fatal("real 1 at its upper threshold is not overloaded")
	}
	// Removing one connection: 1 conn, 1*4 < 2*3: cleared (classic rule).
	must(t, d.DeleteConnForTest(lvs.TCP, cli(40000), vip(schedPort)))
	_, err := d.FlushConns()
	must(t, err)
	if over, _ := d.Overloaded(1); over {
		t.Fatal("real 1 still overloaded after its connections left")
	}
	// Edit: a lower threshold than the current total sets it at once.
	must(t, d.SetRealConnsForTest(1, 3, 0))
	must(t, d.SetReal(1, lvs.Real{Addr: schedReal(1), Method: lvs.Masq, Weight: 1, UThreshold: 3}))
	if over, _ := d.Overloaded(1); !over {
		t.Fatal("SetReal to u=3 with 3 connections did not overload")
	}
	must(t, d.SetReal(1, lvs.Real{Addr: schedReal(1), Method: lvs.Masq, Weight: 1}))
	if over, _ := d.Overloaded(1); over {
		t.Fatal("SetReal without thresholds left the real overloaded")
	}
	must(t, d.SetRealConnsForTest(1, 0, 0))
}

func TestPrivilegedOnePacket(t *testing.T) {
	w := newSchedWorld(t)
	ds := []refDest{{id: 1, weight: 1}, {id: 2, weight: 1}}
	w.set("rr", 0, ds, lvs.UDP)
	for i, want := range []datapath.RealID{1, 2, 1, 2} {
		// The same tuple every time: no entry keeps it on one real.
		if got := w.pick(cli(5353), packet.UDP); got != want {
			t.Fatalf("datagram %d went to %d, want %d", i, got, want)
		}
	}
	if n, _ := w.d.ConnEntriesForTest(); n != 0 {
		t.Fatalf("%d conn entries after one-packet datagrams", n)
	}
	s, err := w.d.ServiceStats(1)
	must(t, err)
	if s.Conns != 4 || s.InPkts != 4 {
		t.Fatalf("service conns %d inpkts %d, want 4 and 4", s.Conns, s.InPkts)
	}
	for _, id := range []datapath.RealID{1, 2} {
		if a, in, _ := w.d.RealConns(id); a != 0 || in != 0 {
			t.Fatalf("real %d counters %d/%d after one-packet datagrams", id, a, in)
		}
	}
}

func TestPrivilegedLBLC(t *testing.T) {
	w := newSchedWorld(t)
	d := w.d
	vipAddr := datapathtest.VIP
	// wlc picks 2 (idle, weight 2), and the entry keeps it.
	ds := []refDest{{id: 1, weight: 1, active: 1}, {id: 2, weight: 2}, {id: 3, weight: 1, active: 1}}
	w.set("lblc", 0, ds, lvs.UDP)
	for i := range 3 {
		if got := w.pick(cli(uint16(100+i)), packet.UDP); got != 2 {
			t.Fatalf("lblc pick %d = %d, want 2", i, got)
		}
	}
	if e, _ := d.LBLCForTest(1, vipAddr); len(e) != 1 || e[0] != 2 {
		t.Fatalf("lblc entry %v, want [2]", e)
	}
	// 2 is loaded (active 5 > weight 2) but nobody is light: kept.
	must(t, d.SetRealConnsForTest(2, 5, 0))
	if got := w.pick(cli(200), packet.UDP); got != 2 {
		t.Fatalf("lblc left its dest with no light dest around: %d", got)
	}
	// 3 becomes light (active*2 < weight): 2 is_overloaded; wlc decides.
	must(t, d.SetReal(3, lvs.Real{Addr: schedReal(3), Method: lvs.Masq, Weight: 4}))
	must(t, d.SetRealConnsForTest(3, 1, 0))
	if got := w.pick(cli(201), packet.UDP); got != 3 {
		t.Fatalf("lblc did not move off an overloaded dest: %d", got)
	}
	if e, _ := d.LBLCForTest(1, vipAddr); len(e) != 1 || e[0] != 3 {
		t.Fatalf("lblc entry %v, want [3]", e)
	}
	// The OVERLOAD threshold flag does not move a cached dest.
	must(t, d.SetOverloadForTest(3, true))
	if got := w.pick(cli(202), packet.UDP); got != 3 {
		t.Fatalf("lblc's cached dest was dropped for OVERLOAD: %d", got)
	}

	// lblcr: the set grows when its best member is_overloaded.
	must(t, d.SetService(1, lvs.Service{ServiceKey: key(lvs.UDP, schedPort), Scheduler: "nq", OnePacket: true}, []datapath.RealID{1, 2, 3}, 0))
	ds = []refDest{{id: 1, weight: 1, active: 1}, {id: 2, weight: 2}, {id: 3, weight: 1, active: 1}}
	w.set("lblcr", 0, ds, lvs.UDP)
	if e, _ := d.LBLCForTest(1, vipAddr); e != nil {
		t.Fatalf("changing the scheduler kept the state: %v", e)
	}
	if got := w.pick(cli(300), packet.UDP); got != 2 {
		t.Fatalf("lblcr first pick %d, want 2", got)
	}
	must(t, d.SetRealConnsForTest(2, 5, 0))
	must(t, d.SetReal(3, lvs.Real{Addr: schedReal(3), Method: lvs.Masq, Weight: 4}))
	must(t, d.SetRealConnsForTest(3, 1, 0))
	if got := w.pick(cli(301), packet.UDP); got != 3 {
		t.Fatalf("lblcr second pick %d, want 3", got)
	}
	if e, _ := d.LBLCForTest(1, vipAddr); len(e) != 2 || e[0] != 3 || e[1] != 2 {
		t.Fatalf("lblcr set %v, want [3 2]", e)
	}
	// Unchanged for lblcr_expiration: the most loaded member (2) leaves.
	must(t, d.AgeLBLCForTest(25*time.Hour))
	if got := w.pick(cli(302), packet.UDP); got != 3 {
		t.Fatalf("lblcr pick after expiry %d, want 3", got)
	}
	if e, _ := d.LBLCForTest(1, vipAddr); len(e) != 1 || e[0] != 3 {
		t.Fatalf("lblcr set after shrink %v, want [3]", e)
	}

	// Expiry by lvsd's sweep: a partial run keeps entries, the full
	// (30th) run removes those unused for 24 h.
	must(t, d.AgeLBLCForTest(25*time.Hour))
	now := datapath.Now()
	must(t, d.SweepSchedStateForTest(now, 1))
	if e, _ := d.LBLCForTest(1, vipAddr); e == nil {
		t.Fatal("a partial sweep removed an entry")
	}
	must(t, d.SweepSchedStateForTest(now, 30))
	if e, _ := d.LBLCForTest(1, vipAddr); e != nil {
		t.Fatalf("the full sweep kept an entry unused for 25 h: %v", e)
	}
	must(t, d.SweepSchedState())
}

var _ = bits.Len

// TestPrivilegedWRROverloadMatchesKernel: with some reals overloaded (and
// at least one not), the data plane's wrr picks are the kernel's.
func TestPrivilegedWRROverloadMatchesKernel(t *testing.T) {
	w := newSchedWorld(t)
	r := rand.New(rand.NewPCG(3, 4))
	cases := [][]refDest{
		{{id: 1, weight: 4, overload: true}, {id: 2, weight: 3}, {id: 3, weight: 2}},
		{{id: 1, weight: 3}, {id: 2, weight: 1, overload: true}},
		{{id: 1, weight: 5, overload: true}, {id: 2, weight: 5, overload: true}, {id: 3, weight: 1}},
	}
	for len(cases) < 40 {
		ds := randomDests(r)
		for i := range ds {
			ds[i].weight = 1 + r.IntN(6)
		}
		if slices.ContainsFunc(ds, func(d refDest) bool { return !d.overload }) {
			cases = append(cases, ds)
		}
	}
	for i, ds := range cases {
		w.set("wrr", 0, ds, lvs.UDP)
		overload := make([]bool, len(ds))
		for j, d := range ds {
			overload[j] = d.overload
		}
		k := schedtest.NewWRR(weightsOf(ds), overload)
		for n := range 3 * len(sched.WRR(weightsOf(ds))) {
			want := datapath.RealID(0)
			if j := k.Schedule(); j >= 0 {
				want = ds[j].id
			}
			if got := w.pick(cli(uint16(30000+n)), packet.UDP); got != want {
				t.Fatalf("case %d %+v, pick %d: data plane %d, kernel %d", i, ds, n, got, want)
			}
		}
	}
}

func weightsOf(ds []refDest) []int {
	out := make([]int, len(ds))
	for i, d := range ds {
		out[i] = d.weight
	}
	return out
}
