// Package health checks real servers the way keepalived's checker does and
// says which reals each virtual service should have in the table, with
// which weights.
//
// A Checker never touches the table itself: it hands the daemon a Desired
// set per service through Options.Apply and answers Status for lvsadm. All
// of its state belongs to the goroutine running Run; one timer drives every
// check and at most Options.MaxConcurrent checks run at once.
package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golvs/internal/config"
	"golvs/internal/lvs"
)

// State is the health of a check or of a real server.
type State uint8

// States.
const (
	// StateStarting: no check has given a result yet. A real starting
	// under alpha is out of the table; any other is in it.
	StateStarting State = iota
	StateUp
	StateDown
)

// String returns "starting", "up" or "down".
func (s State) String() string {
	switch s {
	case StateUp:
		return "up"
	case StateDown:
		return "down"
	}
	return "starting"
}

// MarshalText makes a State read as its name in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Result is the outcome of one attempt of a check.
type Result struct {
	At time.Time
	OK bool
	// Reason says what was checked and, on failure, what went wrong, in
	// the words an operator needs: "HTTP_GET http://198.18.0.11:80/health:
	// status 500, want 200-299".
	Reason  string
	Latency time.Duration
}

// Desired is what one service should have in the table: its reals that are
// alive, with their effective weights, the inhibited ones with weight 0, and
// the sorry server while it stands in for them.
type Desired struct {
	Service lvs.ServiceKey `json:"service"`
	// Reals are in configuration order, the sorry server last.
	Reals []lvs.Real `json:"reals"`
	// SorryActive is true while the sorry server replaces the reals.
	SorryActive bool `json:"sorry_active,omitempty"`
	// managed are the addresses the configuration names for the service
	// (reals and sorry server): the only ones Changes touches.
	managed map[netip.AddrPort]bool
}

// Changes returns what turns current, the service's reals in the table,
// into d: reals to add, reals to edit (weight or options differ) and
// reals to delete. Reals the configuration does not name, such as one
// added by hand with lvsadm, are left alone.
func (d Desired) Changes(current []lvs.Real) (add, edit []lvs.Real, del []netip.AddrPort) {
	have := map[netip.AddrPort]lvs.Real{}
	for _, r := range current {
		have[r.Addr] = r
	}
	want := map[netip.AddrPort]bool{}
	for _, r := range d.Reals {
		want[r.Addr] = true
		switch h, ok := have[r.Addr]; {
		case !ok:
			add = append(add, r)
		case h != r:
			edit = append(edit, r)
		}
	}
	for _, r := range current {
		if d.managed[r.Addr] && !want[r.Addr] {
			del = append(del, r.Addr)
		}
	}
	return add, edit, del
}

// ServiceStatus is the health view of one virtual service; lvsd serves it
// to lvsadm in its wire form, api.ServiceHealth.
type ServiceStatus struct {
	Service    lvs.ServiceKey
	QuorumUp   bool
	Quorum     uint32
	Hysteresis uint32
	// LiveWeight is the sum of the effective weights of the live reals,
	// the number compared with the quorum.
	LiveWeight  int
	SorryServer *lvs.Real
	SorryActive bool
	Reals       []RealStatus
}

// RealStatus is the health view of one real server: what an operator looks
// at when a real "disappears".
type RealStatus struct {
	Addr  netip.AddrPort
	State State
	// Weight is the effective weight: the configured one, or the last one
	// a MISC_CHECK with misc_dynamic set.
	Weight int
	// InTable and TableWeight are what the checker asks of the table for
	// this real (an inhibited real is in it with weight 0).
	InTable     bool
	TableWeight int
	LastChange  time.Time
	// Reason is why the real is down (the failing check's reason), or
	// empty while it is up.
	Reason string
	Checks []CheckStatus
}

// CheckStatus is the state of one check of a real.
type CheckStatus struct {
	Kind config.CheckKind
	// Name is the kind and what it targets: "HTTP_GET
	// http://198.18.0.11:80/health", "TCP_CHECK 198.18.0.11:80".
	Name  string
	State State
	// Last is the latest attempt; LastFailure the latest failed one.
	Last        Result
	LastFailure Result
	// Failures counts the failed attempts since the last success.
	Failures int
	Next     time.Time
}

// Options tune a Checker. The zero value works but applies nothing.
type Options struct {
	// Apply receives the services whose desired reals changed. It runs on
	// the Checker's goroutine, so checks wait while it runs and it must not
	// call the Checker. When it fails, the same services are offered again
	// a second later and after every later change.
	Apply func(ctx context.Context, changes []Desired) error
	// Logger gets one line per state change; nil discards.
	Logger *slog.Logger
	// MaxConcurrent bounds how many checks run at once (default 256).
	// A check that is due while all are busy waits its turn.
	MaxConcurrent int
	// ScriptTimeout bounds notify and quorum scripts (default 10 s); a
	// script still running then is killed with its process group.
	ScriptTimeout time.Duration
}

// BootstrapDelay is keepalived's BOOTSTRAP_DELAY: the first check of each
// checker runs this long after start, plus a random part of its warmup.
const BootstrapDelay = time.Second

// maxScripts bounds how many notify and quorum scripts run at once; the
// others wait for a slot (a flapping pool of thousands of reals must not
// fork thousands of shells).
const maxScripts = 64

// applyRetry is how soon a refused Apply is offered again.
const applyRetry = time.Second

// Errors.
var (
	ErrDuplicateService = errors.New("duplicate service")
	ErrStopped          = errors.New("health checker stopped")
)

// Checker runs the health checks of a set of services. Create it with New,
// start it with Run; Update, Status and Desired talk to the running loop.
type Checker struct {
	opts Options
	log  *slog.Logger

	reqs    chan func()
	results chan result
	done    chan struct{}

	// probe runs one attempt; tests replace it.
	probe func(ctx context.Context, j job) result
	// jitter returns a random duration in [0, d]; tests replace it.
	jitter func(d time.Duration) time.Duration
	// exec runs notify and quorum scripts; tests replace it.
	exec func(ctx context.Context, cmd command) outcome

	// probes and scripts count the attempts and scripts running on
	// their own goroutines; scriptSlots bounds the scripts.
	probes      sync.WaitGroup
	scripts     sync.WaitGroup
	scriptSlots chan struct{}

	// The fields below belong to the goroutine running Run (before Run,
	// to New).
	ctx      context.Context // Run's
	services []*service
	checks   map[uint64]*check
	nextID   uint64
	sched    schedule
	running  int
	// applied is what Apply last accepted per service, dirty the
	// services that may have changed since; retryAt is when to offer a
	// refused change again.
	applied map[lvs.ServiceKey][]lvs.Real
	dirty   map[lvs.ServiceKey]bool
	retryAt time.Time
}

// New returns a Checker for services. Nothing runs before Run.
func New(services []config.Service, opts Options) (*Checker, error) {
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 256
	}
	if opts.ScriptTimeout <= 0 {
		opts.ScriptTimeout = 10 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Checker{
		opts:        opts,
		log:         log,
		reqs:        make(chan func()),
		results:     make(chan result, opts.MaxConcurrent),
		done:        make(chan struct{}),
		probe:       runProbe,
		exec:        runCommand,
		scriptSlots: make(chan struct{}, maxScripts),
		jitter: func(d time.Duration) time.Duration {
			if d <= 0 {
				return 0
			}
			return time.Duration(rand.Int64N(int64(d) + 1))
		},
		checks:  map[uint64]*check{},
		applied: map[lvs.ServiceKey][]lvs.Real{},
		dirty:   map[lvs.ServiceKey]bool{},
		ctx:     context.Background(),
	}
	svcs, err := c.build(services)
	if err != nil {
		return nil, err
	}
	c.services = svcs
	return c, nil
}

// Run runs the checks until ctx is cancelled. It first offers every
// service's desired reals to Apply, then a change whenever one happens. On
// the way out it waits for running checks, runs the notify_down and
// quorum_down scripts of services with omega (keepalived runs them at
// shutdown), and waits for scripts. Run may be called once.
func (c *Checker) Run(ctx context.Context) error {
	defer close(c.done)
	c.ctx = ctx
	now := time.Now()
	for _, s := range c.services {
		c.startService(s, now)
	}
	c.flush()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		c.dispatch(ctx)
		c.armTimer(timer)
		select {
		case <-ctx.Done():
			c.shutdown()
			return nil
		case <-timer.C:
		case r := <-c.results:
			c.running--
			c.handle(r)
		case req := <-c.reqs:
			req()
		}
		c.flush()
	}
}

// do runs fn on Run's goroutine.
func (c *Checker) do(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	select {
	case c.reqs <- func() { fn(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return ErrStopped
	}
	<-done
	return nil
}

// Update replaces the configuration. Services, reals and checks that did
// not change keep their state, their schedule and their running attempt
// (a reload must not put reals through a down/up cycle); new ones start as
// at startup; removed reals that were up run their notify_down script.
func (c *Checker) Update(ctx context.Context, services []config.Service) error {
	var err error
	if e := c.do(ctx, func() { err = c.update(services) }); e != nil {
		return e
	}
	return err
}

// Status returns the health of every service and real.
func (c *Checker) Status(ctx context.Context) ([]ServiceStatus, error) {
	var st []ServiceStatus
	err := c.do(ctx, func() { st = c.status() })
	return st, err
}

// Desired returns every service's desired reals, as Apply last got them
// or would get them.
func (c *Checker) Desired(ctx context.Context) ([]Desired, error) {
	var d []Desired
	err := c.do(ctx, func() {
		for _, s := range c.services {
			d = append(d, s.desired())
		}
	})
	return d, err
}

// flush offers the dirty services whose desired reals differ from what
// Apply last accepted.
func (c *Checker) flush() {
	if len(c.dirty) == 0 || (!c.retryAt.IsZero() && time.Now().Before(c.retryAt)) {
		return
	}
	var changes []Desired
	for _, s := range c.services {
		if !c.dirty[s.key] {
			continue
		}
		d := s.desired()
		if prev, ok := c.applied[s.key]; ok && equalReals(prev, d.Reals) {
			continue
		}
		changes = append(changes, d)
	}
	if len(changes) > 0 && c.opts.Apply != nil {
		if err := c.opts.Apply(c.ctx, changes); err != nil {
			c.log.Error("apply health changes", slog.Any("err", err))
			c.retryAt = time.Now().Add(applyRetry)
			return
		}
	}
	for _, d := range changes {
		c.applied[d.Service] = d.Reals
	}
	c.retryAt = time.Time{}
	clear(c.dirty)
}

func equalReals(a, b []lvs.Real) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// status builds the snapshot for Status.
func (c *Checker) status() []ServiceStatus {
	out := make([]ServiceStatus, 0, len(c.services))
	for _, s := range c.services {
		d := s.desired()
		inTable := map[netip.AddrPort]int{}
		for _, r := range d.Reals {
			inTable[r.Addr] = r.Weight
		}
		ss := ServiceStatus{
			Service:     s.key,
			QuorumUp:    s.quorumUp,
			Quorum:      s.quorum,
			Hysteresis:  s.hysteresis,
			LiveWeight:  s.liveWeight(),
			SorryServer: s.cfg.SorryServer,
			SorryActive: s.sorryActive,
		}
		for _, r := range s.reals {
			rs := RealStatus{
				Addr:       r.cfg.Addr,
				State:      r.state(),
				Weight:     r.weight,
				LastChange: r.lastChange,
				Reason:     r.reason(),
			}
			rs.TableWeight, rs.InTable = inTable[r.cfg.Addr]
			for _, k := range r.checks {
				rs.Checks = append(rs.Checks, CheckStatus{
					Kind:        k.cfg.Kind,
					Name:        k.name(),
					State:       k.state(),
					Last:        k.last,
					LastFailure: k.lastFailure,
					Failures:    k.failures,
					Next:        k.next,
				})
			}
			ss.Reals = append(ss.Reals, rs)
		}
		out = append(out, ss)
	}
	return out
}

// svcAttr and realAttr are the log fields naming a service and a real.
func svcAttr(k lvs.ServiceKey) slog.Attr  { return slog.String("vs", k.String()) }
func realAttr(a netip.AddrPort) slog.Attr { return slog.String("rs", a.String()) }

// describeStatus formats accepted status codes as "200-299" or "200,302".
func describeStatus(u config.URL) string {
	if len(u.StatusCodes) == 0 {
		return "200-299"
	}
	var parts []string
	for _, r := range u.StatusCodes {
		if r.Lo == r.Hi {
			parts = append(parts, fmt.Sprint(r.Lo))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", r.Lo, r.Hi))
		}
	}
	return strings.Join(parts, ",")
}
