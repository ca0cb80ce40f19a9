package health

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"golvs/internal/config"
	"golvs/internal/lvs"
)

// Addresses of the tests' services and reals (198.18.0.0/15 only).
var (
	vip   = lvs.ServiceKey{Protocol: lvs.TCP, Addr: netip.MustParseAddrPort("198.18.0.10:80")}
	rs1   = netip.MustParseAddrPort("198.18.0.11:80")
	rs2   = netip.MustParseAddrPort("198.18.0.12:80")
	rs3   = netip.MustParseAddrPort("198.18.0.13:80")
	sorry = netip.MustParseAddrPort("198.18.0.99:80")
)

// timers are a check's keepalived timers, in seconds.
type timers struct {
	delayLoop, retry, delayBeforeRetry, warmup int
}

func tcpCheck(t timers) config.Check {
	return config.Check{
		Kind:             config.TCPCheck,
		ConnectTimeout:   3 * time.Second,
		DelayLoop:        time.Duration(t.delayLoop) * time.Second,
		Retry:            t.retry,
		DelayBeforeRetry: time.Duration(t.delayBeforeRetry) * time.Second,
		Warmup:           time.Duration(t.warmup) * time.Second,
	}
}

func realWith(addr netip.AddrPort, weight int, checks ...config.Check) config.Real {
	return config.Real{Real: lvs.Real{Addr: addr, Method: lvs.Masq, Weight: weight}, Checks: checks}
}

func serviceWith(reals ...config.Real) config.Service {
	return config.Service{Service: lvs.Service{ServiceKey: vip, Scheduler: "wlc"}, Quorum: 1, Reals: reals}
}

// fakeNet answers probes from a table of which reals are healthy, and
// records every attempt.
type fakeNet struct {
	mu       sync.Mutex
	down     map[netip.AddrPort]bool
	exit     map[netip.AddrPort]int // MISC_CHECK exit status per real
	attempts map[netip.AddrPort][]time.Duration
	start    time.Time
	hold     time.Duration // how long an attempt takes
	urls     []string      // "41s /a": the URLs HTTP checks fetched
	inflight int
	peak     int
}

func (f *fakeNet) set(addr netip.AddrPort, up bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down[addr] = !up
}

func (f *fakeNet) setExit(addr netip.AddrPort, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.exit[addr] = code
}

func (f *fakeNet) probe(_ context.Context, j job) result {
	f.mu.Lock()
	f.inflight++
	f.peak = max(f.peak, f.inflight)
	f.attempts[j.real] = append(f.attempts[j.real], time.Since(f.start))
	if j.check.HTTP != nil {
		f.urls = append(f.urls, fmt.Sprintf("%gs %s", time.Since(f.start).Seconds(), j.check.HTTP.URLs[j.url].Path))
	}
	f.mu.Unlock()
	if f.hold > 0 {
		time.Sleep(f.hold)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inflight--
	if j.check.Kind == config.MiscCheck {
		code := f.exit[j.real]
		return result{Result: Result{OK: code == 0}, exited: true, exit: code}
	}
	if f.down[j.real] {
		return result{Result: Result{Reason: fmt.Sprintf("%s %s: connect: connection refused", j.check.Kind, j.real)}}
	}
	return result{Result: Result{OK: true}}
}

// attemptsOf returns the seconds since start of every attempt on addr.
func (f *fakeNet) attemptsOf(addr netip.AddrPort) []float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s []float64
	for _, d := range f.attempts[addr] {
		s = append(s, d.Seconds())
	}
	return s
}

// harness runs a Checker with fake probes inside a synctest bubble and
// keeps what an operator would see: the table it asks for, and scripts.
type harness struct {
	t       *testing.T
	c       *Checker
	net     *fakeNet
	start   time.Time
	cancel  context.CancelFunc
	stopped chan struct{}

	mu      sync.Mutex
	table   map[lvs.ServiceKey][]lvs.Real
	applies int
	scripts []string
	refuse  int // how many Apply calls to refuse
}

// start runs services, after setup has adjusted the harness; it must be
// called inside synctest.Test.
func start(t *testing.T, services []config.Service, opts Options, setup ...func(*harness)) *harness {
	t.Helper()
	h := &harness{t: t, start: time.Now(), table: map[lvs.ServiceKey][]lvs.Real{}, stopped: make(chan struct{})}
	h.net = &fakeNet{down: map[netip.AddrPort]bool{}, exit: map[netip.AddrPort]int{}, attempts: map[netip.AddrPort][]time.Duration{}, start: h.start}
	opts.Apply = h.apply
	c, err := New(services, opts)
	if err != nil {
		t.Fatal(err)
	}
	c.probe = h.net.probe
	c.jitter = func(d time.Duration) time.Duration { return d / 2 }
	c.exec = h.exec
	h.c = c
	for _, f := range setup {
		f(h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		defer close(h.stopped)
		if err := c.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	synctest.Wait()
	return h
}

func (h *harness) apply(_ context.Context, changes []Desired) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.applies++
	if h.refuse > 0 {
		h.refuse--
		return fmt.Errorf("engine busy")
	}
	for _, d := range changes {
		h.table[d.Service] = d.Reals
	}
	return nil
}

func (h *harness) exec(_ context.Context, cmd command) outcome {
	h.mu.Lock()
	defer h.mu.Unlock()
	var state string
	for _, e := range cmd.env {
		if v, ok := strings.CutPrefix(e, "GOLVS_STATE="); ok {
			state = v
		}
	}
	h.scripts = append(h.scripts, fmt.Sprintf("%gs %s %s", time.Since(h.start).Seconds(), strings.Join(cmd.args, " "), state))
	return outcome{exited: true}
}

// stop cancels Run and waits for it.
func (h *harness) stop() {
	h.cancel()
	<-h.stopped
}

// at advances the fake clock to sec seconds after start.
func (h *harness) at(sec float64) {
	h.t.Helper()
	d := h.start.Add(time.Duration(sec * float64(time.Second))).Sub(time.Now())
	if d < 0 {
		h.t.Fatalf("at(%g): the clock is already at %gs", sec, time.Since(h.start).Seconds())
	}
	time.Sleep(d)
	synctest.Wait()
}

// tableOf renders what the table holds for service k: "198.18.0.11:80 w1".
func (h *harness) tableOf(k lvs.ServiceKey) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var parts []string
	for _, r := range h.table[k] {
		parts = append(parts, fmt.Sprintf("%s w%d", r.Addr, r.Weight))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// wantTable checks the table of vip.
func (h *harness) wantTable(when, want string) {
	h.t.Helper()
	if got := h.tableOf(vip); got != want {
		h.t.Errorf("%s (at %gs): table = %q, want %q", when, time.Since(h.start).Seconds(), got, want)
	}
}

func (h *harness) scriptLog() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.scripts)
}

func (h *harness) realStatus(addr netip.AddrPort) RealStatus {
	h.t.Helper()
	st, err := h.c.Status(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	for _, s := range st {
		for _, r := range s.Reals {
			if r.Addr == addr {
				return r
			}
		}
	}
	h.t.Fatalf("no status for %s", addr)
	return RealStatus{}
}

func (h *harness) serviceStatus(k lvs.ServiceKey) ServiceStatus {
	h.t.Helper()
	st, err := h.c.Status(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	for _, s := range st {
		if s.Service == k {
			return s
		}
	}
	h.t.Fatalf("no status for %s", k)
	return ServiceStatus{}
}
