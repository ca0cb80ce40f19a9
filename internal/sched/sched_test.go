package sched

import (
	"slices"
	"testing"

	"golvs/internal/sched/schedtest"
)

func TestWRRMatchesKernel(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		want    []int
	}{
		{"weights 4 3 2 interleave", []int{4, 3, 2}, []int{0, 0, 1, 0, 1, 2, 0, 1, 2}},
		{"equal weights are round robin", []int{1, 1, 1}, []int{0, 1, 2}},
		{"gcd stepping", []int{4, 2}, []int{0, 0, 1}},
		{"weight 0 never picked", []int{3, 0, 1}, []int{0, 0, 0, 2}},
		{"all quiesced", []int{0, 0}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := WRR(tt.weights)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("WRR(%v) = %v, want %v", tt.weights, got, tt.want)
			}
			checkAgainstKernel(t, tt.weights)
		})
	}
}

func checkAgainstKernel(t *testing.T, weights []int) {
	t.Helper()
	seq := WRR(weights)
	k := schedtest.NewWRR(weights, nil)
	// Two full periods: the sequence must repeat exactly.
	for i := 0; i < 2*max(len(seq), 1); i++ {
		want := k.Schedule()
		if len(seq) == 0 {
			if want != -1 {
				t.Fatalf("weights %v: kernel picks %d, table is empty", weights, want)
			}
			return
		}
		if got := seq[i%len(seq)]; got != want {
			t.Fatalf("weights %v: pick %d: table %d, kernel %d", weights, i, got, want)
		}
	}
}

func FuzzWRRMatchesKernel(f *testing.F) {
	f.Add([]byte{4, 3, 2})
	f.Add([]byte{0, 6, 9, 12})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 16 {
			b = b[:16]
		}
		weights := make([]int, len(b))
		for i, x := range b {
			weights[i] = int(x)
		}
		checkAgainstKernel(t, weights)
	})
}

func TestWRRScalesHugePeriods(t *testing.T) {
	seq := WRR([]int{65535, 65534, 1})
	if len(seq) > MaxSequence+3 {
		t.Fatalf("sequence has %d entries, bound is %d", len(seq), MaxSequence)
	}
	counts := map[int]int{}
	for _, i := range seq {
		counts[i]++
	}
	if counts[2] == 0 || counts[0] < counts[1] {
		t.Fatalf("proportions lost: %v", counts)
	}
}

func TestRRStart(t *testing.T) {
	tests := []struct {
		name       string
		old        []string
		last       string
		chosen     bool
		new        []string
		newWeights []int
		want       int
	}{
		{"nothing chosen starts at head", []string{"a"}, "", false, []string{"b", "a"}, []int{1, 1}, 0},
		{"continues after last chosen", []string{"c", "b", "a"}, "b", true, []string{"c", "b", "a"}, []int{1, 1, 1}, 2},
		{"new real at head waits for the wrap", []string{"b", "a"}, "b", true, []string{"c", "b", "a"}, []int{1, 1, 1}, 2},
		{"wraps after the tail", []string{"b", "a"}, "a", true, []string{"b", "a"}, []int{1, 1}, 0},
		{"deleted last moves to predecessor", []string{"c", "b", "a"}, "b", true, []string{"c", "a"}, []int{1, 1}, 1},
		{"skips quiesced", []string{"c", "b", "a"}, "c", true, []string{"c", "b", "a"}, []int{1, 0, 1}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RRStart(tt.old, tt.last, tt.chosen, tt.new, tt.newWeights); got != tt.want {
				t.Fatalf("RRStart = %d, want %d", got, tt.want)
			}
		})
	}
}
