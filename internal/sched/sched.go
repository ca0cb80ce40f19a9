// Package sched is the Go side of the schedulers: what each IPVS scheduler
// is (Kind: its data-plane id, table shape, -b flags, state), the
// scheduler tables the data plane reads (the pick order of rr and wrr, the
// sh and dh buckets and the mh (Maglev) table, as the kernel's ip_vs_*.c
// build them), and the rules that carry a scheduler across a configuration
// change (the round-robin position, mh's last weights, lblc state).
package sched

// MaxSequence bounds the length of a wrr sequence. IPVS's wrr has no table;
// its period is the sum of weight/gcd over the reals, which with large,
// coprime weights can reach millions. Beyond this bound the weights are
// scaled down proportionally (see WRR).
const MaxSequence = 1 << 16

// RR returns the round-robin order over reals given their weights in IPVS
// list order: every real with a weight above zero, in list order
// (ip_vs_rr.c skips quiescent and overloaded destinations).
func RR(weights []int) []int {
	var seq []int
	for i, w := range weights {
		if w > 0 {
			seq = append(seq, i)
		}
	}
	return seq
}

// WRR returns one period of IPVS's weighted round robin (ip_vs_wrr.c) over
// reals with the given weights in list order, starting from a freshly reset
// scheduler (current weight = max weight): the passes go from the maximum
// weight down in steps of the weights' gcd, and each pass picks, in list
// order, every real whose weight is at least the current weight.
// For weights 4,3,2 it returns 0 0 1 0 1 2 0 1 2.
func WRR(weights []int) []int {
	weights = fitSequence(weights)
	di, maxW := 0, 0
	for _, w := range weights {
		if w > 0 {
			di = gcd(di, w)
			maxW = max(maxW, w)
		}
	}
	if maxW == 0 {
		return nil
	}
	mw := maxW - (di - 1)
	var seq []int
	for cw := mw; cw > 0; cw -= di {
		for i, w := range weights {
			if w >= cw {
				seq = append(seq, i)
			}
		}
	}
	return seq
}

// fitSequence scales weights down proportionally when one wrr period
// would be longer than MaxSequence, keeping every non-zero weight at
// least 1.
func fitSequence(weights []int) []int {
	di, sum := 0, 0
	for _, w := range weights {
		if w > 0 {
			di = gcd(di, w)
			sum += w
		}
	}
	if di == 0 || sum/di <= MaxSequence {
		return weights
	}
	scaled := make([]int, len(weights))
	for i, w := range weights {
		if w > 0 {
			scaled[i] = max(1, int(int64(w)*MaxSequence/int64(sum)))
		}
	}
	return scaled
}

// RRStart returns where a round robin continues after its reals changed,
// as ip_vs_rr.c does: the scheduler keeps a pointer to the last real it
// chose and continues with the next available real after it in the new
// list; when that real was deleted the pointer moves to its predecessor.
// oldList and newList are real identities in list order, last is the last
// real chosen (ok false when none has been), and newWeights are the new
// list's weights. The result indexes RR(newWeights).
func RRStart[T comparable](oldList []T, last T, ok bool, newList []T, newWeights []int) int {
	if !ok {
		return 0
	}
	pos := indexOf(newList, last)
	if pos < 0 {
		// Walk back through the old list to a real that survived.
		for i := indexOf(oldList, last) - 1; i >= 0 && pos < 0; i-- {
			pos = indexOf(newList, oldList[i])
		}
	}
	// pos == -1 is the list head: continue from the first real.
	seq := RR(newWeights)
	for i, idx := range seq {
		if idx > pos {
			return i
		}
	}
	return 0
}

func indexOf[T comparable](s []T, v T) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
