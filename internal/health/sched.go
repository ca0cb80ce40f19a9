package health

import (
	"container/heap"
	"context"
	"time"
)

// schedule is a min-heap of check attempts by time, with a queue of those
// that are due but wait for a free slot. Entries are not removed when a
// check is rescheduled or deleted: an entry whose time no longer matches
// its check's next run is skipped when it comes up.
type schedule struct {
	h       timeHeap
	waiting []uint64
}

type entry struct {
	at time.Time
	id uint64
}

type timeHeap []entry

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timeHeap) Push(x any)        { *h = append(*h, x.(entry)) }
func (h *timeHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

func (s *schedule) push(at time.Time, id uint64) { heap.Push(&s.h, entry{at, id}) }

// dispatch moves due checks to the waiting queue and starts as many
// waiting checks as there are free slots.
func (c *Checker) dispatch(ctx context.Context) {
	now := time.Now()
	for len(c.sched.h) > 0 && !c.sched.h[0].at.After(now) {
		e := heap.Pop(&c.sched.h).(entry)
		if k := c.checks[e.id]; k != nil && !k.running && k.next.Equal(e.at) {
			c.sched.waiting = append(c.sched.waiting, e.id)
		}
	}
	for c.running < c.opts.MaxConcurrent && len(c.sched.waiting) > 0 {
		id := c.sched.waiting[0]
		c.sched.waiting = c.sched.waiting[1:]
		if k := c.checks[id]; k != nil && !k.running {
			c.start(ctx, k, now)
		}
	}
	if len(c.sched.waiting) == 0 {
		c.sched.waiting = nil // let the backing array go
	}
}

// start runs one attempt of k on its own goroutine; the goroutine lives as
// long as the attempt, bounded by the check's timeout.
func (c *Checker) start(ctx context.Context, k *check, now time.Time) {
	k.running = true
	k.started = now
	j := k.job()
	c.running++
	c.probes.Add(1)
	go func() {
		defer c.probes.Done()
		r := c.probe(ctx, j)
		r.id = j.id
		if r.At.IsZero() {
			r.At = time.Now()
		}
		// results has room for every running attempt, so this never
		// blocks, not even while Run is shutting down.
		c.results <- r
	}()
}

// armTimer sets timer to the next due check or Apply retry, or stops it.
func (c *Checker) armTimer(t *time.Timer) {
	var next time.Time
	if len(c.sched.h) > 0 {
		next = c.sched.h[0].at
	}
	if !c.retryAt.IsZero() && (next.IsZero() || c.retryAt.Before(next)) {
		next = c.retryAt
	}
	if next.IsZero() {
		t.Stop()
		return
	}
	t.Reset(max(time.Until(next), 0))
}

// shutdown waits for running checks (Run's context cancels them), runs the
// omega notifications and waits for scripts.
func (c *Checker) shutdown() {
	c.probes.Wait()
	for c.running > 0 {
		<-c.results
		c.running--
	}
	for _, s := range c.services {
		c.stopService(s)
	}
	c.scripts.Wait()
}
