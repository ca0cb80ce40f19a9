package estimator

import (
	"testing"

	"golvs/internal/lvs"
)

// kernel is a line-by-line model of ip_vs_est.c's estimation with u64
// counters and s64 averages.
type kernel struct {
	lastConns, lastBytes uint64
	cps, bps             int64
}

func (k *kernel) sample(conns, bytes uint64) {
	rate := (conns - k.lastConns) << 9
	k.lastConns = conns
	k.cps += (int64(rate) - k.cps) >> 2
	rate = (bytes - k.lastBytes) << 4
	k.lastBytes = bytes
	k.bps += (int64(rate) - k.bps) >> 2
}

func (k *kernel) read() (cps, bps uint64) {
	return uint64(k.cps+0x1FF) >> 10, uint64(k.bps+0xF) >> 5
}

func TestMatchesTheKernel(t *testing.T) {
	// 100 connections and 1 MB per second for 20 s, then nothing for 20 s.
	var e Estimator
	var k kernel
	var s lvs.Stats
	e.Sample(s)
	for i := range 20 {
		if i < 10 {
			s.Conns += 200
			s.InBytes += 2_000_000
		}
		e.Sample(s)
		k.sample(s.Conns, s.InBytes)
		cps, bps := k.read()
		if r := e.Rates(); r.CPS != cps || r.InBPS != bps {
			t.Fatalf("sample %d: rates %+v, kernel cps %d bps %d", i, r, cps, bps)
		}
	}
}

func TestConvergesToTheRate(t *testing.T) {
	var e Estimator
	var s lvs.Stats
	e.Sample(s)
	for range 40 {
		s.Conns += 200      // 100/s
		s.InPkts += 2000    // 1000/s
		s.OutBytes += 20000 // 10000/s
		e.Sample(s)
	}
	if r := e.Rates(); r.CPS != 100 || r.InPPS != 1000 || r.OutBPS != 10000 || r.OutPPS != 0 {
		t.Fatalf("steady rates %+v, want cps 100, inpps 1000, outbps 10000", r)
	}
}

func TestResetStartsFromZero(t *testing.T) {
	var e Estimator
	s := lvs.Stats{Conns: 1000}
	e.Sample(lvs.Stats{})
	e.Sample(s)
	if e.Rates().CPS == 0 {
		t.Fatal("no rate after 1000 connections")
	}
	e.Reset(s)
	if r := e.Rates(); r != (lvs.Rates{}) {
		t.Fatalf("rates after Reset: %+v", r)
	}
	e.Sample(s)
	if r := e.Rates(); r != (lvs.Rates{}) {
		t.Fatalf("rates with no new traffic after Reset: %+v", r)
	}
}
