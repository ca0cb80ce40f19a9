// Package schedtest holds reference models of the kernel's schedulers,
// written line by line after net/netfilter/ipvs, for tests to compare the
// Go tables and the data plane against.
package schedtest

// WRR is a line-by-line model of ip_vs_wrr_schedule (ip_vs_wrr.c) over
// destinations in list order: cl is the index of the current destination
// (-1 is the list head), cw the current weight.
type WRR struct {
	weights        []int
	overload       []bool
	cl, cw, mw, di int
}

// NewWRR returns a freshly reset scheduler over destinations with these
// weights; overload (nil: none) marks overloaded destinations.
func NewWRR(weights []int, overload []bool) *WRR {
	k := &WRR{weights: weights, overload: overload, cl: -1, di: 1}
	g, m := 0, 0
	for _, w := range weights {
		if w > 0 {
			for a, b := g, w; ; a, b = b, a%b {
				if b == 0 {
					g = a
					break
				}
			}
			m = max(m, w)
		}
	}
	if g > 0 {
		k.di = g
	}
	k.mw = m - (k.di - 1)
	k.cw = k.mw
	return k
}

// Schedule returns the index of the destination picked, -1 for none.
func (k *WRR) Schedule() int {
	if k.mw == 0 {
		return -1
	}
	dest, last := k.cl, k.cl
	lastPass, restarted := false, false
	stop := -2
	for {
		for d := dest + 1; d < len(k.weights); d++ {
			if !(k.overload != nil && k.overload[d]) && k.weights[d] >= k.cw {
				k.cl = d
				return d
			}
			if d == stop {
				return -1
			}
		}
		k.cw -= k.di
		if k.cw <= 0 {
			k.cw = k.mw
			if lastPass || last == -1 {
				return -1
			}
			restarted = true
		}
		lastPass = k.cw <= k.di
		if lastPass && restarted && last != -1 {
			stop = last
		}
		dest = -1
	}
}
