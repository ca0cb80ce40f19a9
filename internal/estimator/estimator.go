// Package estimator computes IPVS's rates (ipvsadm --rate) from cumulative
// counters, with the kernel's sampling and averaging (ip_vs_est.c).
package estimator

import (
	"time"

	"golvs/internal/lvs"
)

// Interval is how often Sample must be called: IPVS samples every 2 s.
const Interval = 2 * time.Second

// Estimator turns a series of cumulative counters into rates. Every 2 s
// sample, the difference from the previous one becomes a rate scaled by
// 2^10 per second (2^5 for bytes) and enters an exponentially weighted
// moving average with weight 1/4, exactly as ip_vs_estimation_kthread
// computes it. The zero Estimator is ready; its first Sample only records
// the starting point.
type Estimator struct {
	last    lvs.Stats
	started bool
	// Averages, scaled: cps, inpps and outpps by 2^10, inbps and outbps by 2^5.
	cps, inpps, outpps, inbps, outbps int64
}

// Sample takes the counters' values at the end of an interval.
func (e *Estimator) Sample(s lvs.Stats) {
	if !e.started {
		e.Reset(s)
		return
	}
	avg := func(a *int64, cur, last uint64, shift uint) {
		rate := int64(cur-last) << shift
		*a += (rate - *a) >> 2
	}
	// A 2-second delta: per second scaled by 2^10 is delta << 9, by 2^5
	// is delta << 4.
	avg(&e.cps, s.Conns, e.last.Conns, 9)
	avg(&e.inpps, s.InPkts, e.last.InPkts, 9)
	avg(&e.outpps, s.OutPkts, e.last.OutPkts, 9)
	avg(&e.inbps, s.InBytes, e.last.InBytes, 4)
	avg(&e.outbps, s.OutBytes, e.last.OutBytes, 4)
	e.last = s
}

// Reset clears the averages and takes s as the starting point (ipvsadm -Z).
func (e *Estimator) Reset(s lvs.Stats) {
	*e = Estimator{last: s, started: true}
}

// Rates returns the current rates, rounded as ip_vs_read_estimator does.
func (e *Estimator) Rates() lvs.Rates {
	pps := func(a int64) uint64 { return uint64(max(a+0x1FF, 0) >> 10) }
	bps := func(a int64) uint64 { return uint64(max(a+0xF, 0) >> 5) }
	return lvs.Rates{CPS: pps(e.cps), InPPS: pps(e.inpps), OutPPS: pps(e.outpps), InBPS: bps(e.inbps), OutBPS: bps(e.outbps)}
}
