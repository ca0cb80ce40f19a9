package health

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"golvs/internal/config"
	"golvs/internal/lvs"
)

// service is a virtual service's health state (keepalived's
// virtual_server_t, the parts the checker uses).
type service struct {
	cfg   config.Service
	key   lvs.ServiceKey
	reals []*server
	// quorum and hysteresis after keepalived's corrections
	// (validate_check_config): quorum at most the sum of the reals'
	// weights, hysteresis below quorum.
	quorum, hysteresis uint32
	quorumUp           bool
	// sorryActive is the sorry server being in the pool in place of the
	// reals (keepalived's ISALIVE(vs->s_svr)).
	sorryActive bool
}

// server is a real server's health state (keepalived's real_server_t).
type server struct {
	cfg    config.Real
	svc    *service
	checks []*check
	// alive is keepalived's ISALIVE(rs): the real counts for quorum and
	// is in the pool (unless the sorry server stands in).
	alive bool
	// numFailed is keepalived's num_failed_checkers.
	numFailed int
	// weight is keepalived's effective_weight; dynamic says a MISC_CHECK
	// with misc_dynamic set it, so a reload keeps it.
	weight     int
	dynamic    bool
	lastChange time.Time
}

// check is one checker of a real (keepalived's checker_t).
type check struct {
	id   uint64
	cfg  config.Check
	real *server

	isUp   bool
	hasRun bool
	// retryIt is keepalived's retry_it: failed attempts so far of the
	// current round of retries.
	retryIt int
	// urlIt and failedURL follow keepalived's HTTP checker, which fetches
	// one URL per attempt; failedURL is -1 when no URL has failed.
	urlIt     int
	failedURL int
	// lastExit is the MISC_CHECK exit status that last set the weight.
	lastExit int

	running bool
	started time.Time
	next    time.Time

	last, lastFailure Result
	failures          int
}

// job is what a probe needs, copied so that it runs without touching the
// Checker's state.
type job struct {
	id    uint64
	check config.Check
	real  netip.AddrPort
	// vhost is the Host header when neither the URL nor the check sets
	// one: the real's, then the service's virtualhost.
	vhost string
	// url is the index of the URL an HTTP_GET or SSL_GET fetches.
	url int
}

// result is a probe's answer.
type result struct {
	Result
	id uint64
	// exited and exit are a MISC_CHECK command's normal exit and status.
	exited bool
	exit   int
}

// build makes the health state of services as at startup.
func (c *Checker) build(cfgs []config.Service) ([]*service, error) {
	seen := map[lvs.ServiceKey]bool{}
	var out []*service
	for _, sc := range cfgs {
		if seen[sc.ServiceKey] {
			return nil, fmt.Errorf("%w: %s", ErrDuplicateService, sc.ServiceKey)
		}
		seen[sc.ServiceKey] = true
		out = append(out, c.startingService(sc))
	}
	return out, nil
}

// startingService makes a service's state as keepalived starts it.
func (c *Checker) startingService(sc config.Service) *service {
	s := newService(sc)
	for _, rc := range sc.Reals {
		s.reals = append(s.reals, c.newReal(s, rc))
	}
	// set_quorum_states: the initial quorum is judged with the
	// hysteresis on the "gain" side.
	s.quorumUp = s.liveWeight() >= int(s.quorum)+int(s.hysteresis)
	return s
}

func newService(sc config.Service) *service {
	s := &service{cfg: sc, key: sc.ServiceKey, quorum: sc.Quorum, hysteresis: sc.Hysteresis}
	// keepalived lowers a quorum the reals can never reach, and keeps the
	// hysteresis below the quorum (check_data.c validate_check_config).
	total := 0
	for _, r := range sc.Reals {
		total += max(r.Weight, 0)
	}
	if int(s.quorum) > total {
		s.quorum = uint32(total)
	}
	if s.hysteresis >= s.quorum {
		s.hysteresis = 0
		if s.quorum > 0 {
			s.hysteresis = s.quorum - 1
		}
	}
	return s
}

// newReal makes a real's state as keepalived starts it: alpha checks down,
// others up, and every check needing a single failure to go down
// (validate_check_config sets retry_it to retry).
func (c *Checker) newReal(s *service, rc config.Real) *server {
	r := &server{cfg: rc, svc: s, weight: rc.Weight, lastChange: time.Now()}
	for _, cc := range rc.Checks {
		k := c.newCheck(r, cc)
		if cc.Alpha {
			k.isUp = false
			r.numFailed++
		}
		r.checks = append(r.checks, k)
	}
	r.alive = r.numFailed == 0
	return r
}

func (c *Checker) newCheck(r *server, cc config.Check) *check {
	c.nextID++
	k := &check{id: c.nextID, cfg: cc, real: r, isUp: true, retryIt: cc.Retry, failedURL: -1}
	c.checks[k.id] = k
	return k
}

// startService schedules the first run of every check of s and settles
// its quorum as keepalived's init_service_vs does.
func (c *Checker) startService(s *service, now time.Time) {
	for _, r := range s.reals {
		for _, k := range r.checks {
			c.scheduleFirst(k, now)
		}
	}
	c.updateQuorum(s, true)
	c.dirty[s.key] = true
}

// scheduleFirst: keepalived starts each checker BOOTSTRAP_DELAY plus a
// random part of its warmup after start, so checks of many reals spread
// out instead of firing together.
func (c *Checker) scheduleFirst(k *check, now time.Time) {
	c.scheduleAt(k, now.Add(BootstrapDelay+c.jitter(k.cfg.Warmup)))
}

func (c *Checker) scheduleAt(k *check, at time.Time) {
	k.next = at
	c.sched.push(at, k.id)
}

// handle applies one attempt's result with the semantics of the checker
// kind's keepalived epilog and schedules the next attempt.
func (c *Checker) handle(r result) {
	k := c.checks[r.id]
	if k == nil {
		return // removed by Update while it ran
	}
	now := time.Now()
	k.running = false
	k.last = r.Result
	if r.OK {
		k.failures = 0
	} else {
		k.failures++
		k.lastFailure = r.Result
		if k.isUp || !k.hasRun {
			c.log.Debug("check failed", svcAttr(k.real.svc.key), realAttr(k.real.cfg.Addr),
				slog.String("reason", r.Reason), slog.Int("retry", k.retryIt), slog.Int("of", k.cfg.Retry))
		}
	}
	base := now
	var delay time.Duration
	switch k.cfg.Kind {
	case config.HTTPCheck, config.SSLCheck:
		delay = c.httpEpilog(k, r)
	case config.MiscCheck:
		delay = c.miscEpilog(k, r)
		// check_misc.c times the next run from the start of this one.
		base = k.started
	case config.DNSCheck:
		delay = c.dnsEpilog(k, r)
	default:
		delay = c.tcpEpilog(k, r)
	}
	next := base.Add(delay)
	if next.Before(now) {
		next = now
	}
	c.scheduleAt(k, next)
}

// tcpEpilog is check_tcp.c's tcp_epilog: a failure is retried
// delay_before_retry apart until retry_it reaches retry, even while the
// check is already down.
func (c *Checker) tcpEpilog(k *check, r result) time.Duration {
	defer func() { k.hasRun = true }()
	if r.OK || k.retryIt >= k.cfg.Retry {
		k.retryIt = 0
		if r.OK && (!k.isUp || !k.hasRun) {
			c.setCheck(k, true, r.Result)
		} else if !r.OK && (k.isUp || !k.hasRun) {
			c.setCheck(k, false, r.Result)
		}
		return k.cfg.DelayLoop
	}
	k.retryIt++
	return k.cfg.DelayBeforeRetry
}

// dnsEpilog is check_dns.c's dns_final: retries only while the check is
// up (or has not run); a check known down just waits delay_loop.
func (c *Checker) dnsEpilog(k *check, r result) time.Duration {
	if !r.OK {
		if k.isUp || !k.hasRun {
			if k.retryIt < k.cfg.Retry {
				k.retryIt++
				k.hasRun = true
				return k.cfg.DelayBeforeRetry
			}
			c.setCheck(k, false, r.Result)
		}
	} else if !k.isUp || !k.hasRun {
		c.setCheck(k, true, r.Result)
	}
	k.hasRun = true
	k.retryIt = 0
	return k.cfg.DelayLoop
}

// miscEpilog is check_misc.c's misc_check_child_thread. Exit 0 is up; with
// misc_dynamic, 2..255 is up with weight status-2 and 0 restores the
// configured weight; anything else (1, a signal, the timeout) is a failure.
func (c *Checker) miscEpilog(k *check, r result) time.Duration {
	dynamic := k.cfg.Misc != nil && k.cfg.Misc.Dynamic
	success := r.exited && (r.exit == 0 || (dynamic && r.exit >= 2 && r.exit <= 255))
	if success {
		// The weight changes only when the status does, as keepalived's
		// last_exit_code comparison does.
		if r.exit != k.lastExit {
			w, dyn := k.real.cfg.Weight, false
			if r.exit >= 2 {
				w, dyn = r.exit-2, true
			}
			k.real.dynamic = dyn
			c.setWeight(k.real, w)
			k.lastExit = r.exit
		}
		if !k.isUp || !k.hasRun {
			c.setCheck(k, true, r.Result)
		}
		k.retryIt = 0
	} else if k.isUp || !k.hasRun {
		if k.retryIt < k.cfg.Retry {
			k.retryIt++
		} else {
			k.retryIt = 0
			if r.exited {
				k.lastExit = r.exit
			}
			c.setCheck(k, false, r.Result)
		}
	}
	k.hasRun = true
	if k.retryIt > 0 {
		return k.cfg.DelayBeforeRetry
	}
	return k.cfg.DelayLoop
}

// httpEpilog is check_http.c's epilog and timeout_epilog. Each attempt
// fetches one URL; the next URL follows delay_loop later, and the check is
// up only once every URL has passed in turn. A failing URL is retried
// delay_before_retry apart while the check is up; once down, the failed
// URL is fetched every max(delay_before_retry, delay_loop), and when it
// passes again every URL is fetched anew before the check is up.
func (c *Checker) httpEpilog(k *check, r result) time.Duration {
	type method int
	const (
		methodNew method = iota
		methodRetry
		methodFailed
	)
	m := methodNew
	if !r.OK {
		m = methodFailed
		if k.isUp || !k.hasRun {
			k.hasRun = true
			m = methodRetry
		}
	}
	urls := 0
	if k.cfg.HTTP != nil {
		urls = len(k.cfg.HTTP.URLs)
	}
	switch m {
	case methodNew:
		k.urlIt++
		k.retryIt = 0
	case methodRetry:
		k.retryIt++
	}
	switch {
	case m == methodNew && k.urlIt >= urls && k.failedURL < 0:
		if !k.isUp || !k.hasRun {
			c.setCheck(k, true, r.Result)
			k.hasRun = true
		}
		k.urlIt = 0
		k.retryIt = 0
	case m == methodRetry && k.retryIt > k.cfg.Retry:
		if k.isUp || !k.hasRun {
			c.setCheck(k, false, r.Result)
		}
		k.failedURL = k.urlIt
	case m == methodNew && k.failedURL >= 0:
		k.failedURL = -1
		k.urlIt = 0
		k.retryIt = 0
	}
	var delay time.Duration
	switch {
	case m == methodNew:
		delay = k.cfg.DelayLoop
		if !k.hasRun {
			k.retryIt = k.cfg.Retry
		}
	case k.failedURL >= 0:
		delay = max(k.cfg.DelayBeforeRetry, k.cfg.DelayLoop)
	default:
		delay = k.cfg.DelayBeforeRetry
	}
	if k.cfg.HTTP != nil && k.cfg.HTTP.FastRecovery && (!k.hasRun || (!k.isUp && k.failedURL < 0)) {
		delay = 0
	}
	return delay
}

// setCheck is keepalived's update_svr_checker_state: a check changing
// state changes its real only when it is the first to fail or the last to
// recover.
func (c *Checker) setCheck(k *check, up bool, why Result) {
	r := k.real
	if k.isUp == up {
		if !k.hasRun {
			// An alpha check confirming its initial "down" reports it
			// once, as keepalived does.
			if k.cfg.Alpha || !up {
				c.notifyReal(r)
			}
			k.hasRun = true
		}
		return
	}
	k.hasRun = true
	if up {
		if r.numFailed <= 1 {
			c.setReal(r, true, why)
		}
	} else if r.numFailed == 0 {
		c.setReal(r, false, why)
	}
	k.isUp = up
	if !up {
		r.numFailed++
	} else if r.numFailed > 0 {
		r.numFailed--
	}
}

// setReal is keepalived's perform_svr_state: the real enters or leaves
// the pool, its notify script runs, and the quorum is weighed again.
func (c *Checker) setReal(r *server, alive bool, why Result) {
	if r.alive == alive {
		return
	}
	r.alive = alive
	r.lastChange = time.Now()
	s := r.svc
	verb := map[[2]bool]string{
		{true, false}: "adding", {true, true}: "enabling",
		{false, false}: "removing", {false, true}: "disabling",
	}[[2]bool{alive, r.cfg.InhibitOnFailure}]
	c.log.Info(verb+" real server", svcAttr(s.key), realAttr(r.cfg.Addr), slog.String("reason", why.Reason))
	c.notifyReal(r)
	c.dirty[s.key] = true
	c.updateQuorum(s, false)
}

// setWeight is keepalived's update_svr_wgt with update_quorum set.
func (c *Checker) setWeight(r *server, w int) {
	if r.weight == w {
		return
	}
	c.log.Info("changing weight", svcAttr(r.svc.key), realAttr(r.cfg.Addr),
		slog.Int("from", r.weight), slog.Int("to", w))
	r.weight = w
	c.dirty[r.svc.key] = true
	c.updateQuorum(r.svc, false)
}

// liveWeight is keepalived's weigh_live_realservers.
func (s *service) liveWeight() int {
	sum := 0
	for _, r := range s.reals {
		if r.alive {
			sum += max(r.weight, 0)
		}
	}
	return sum
}

// updateQuorum is keepalived's update_quorum_state. Quorum is gained when
// the live weight reaches quorum+hysteresis and lost when it falls below
// quorum-hysteresis (or to 0); losing it puts the sorry server in place of
// the reals. At init, a service starting without quorum gets its sorry
// server at once.
func (c *Checker) updateQuorum(s *service, init bool) {
	sum := s.liveWeight()
	threshold := int(s.quorum) + int(s.hysteresis)
	if s.quorumUp {
		threshold = int(s.quorum) - int(s.hysteresis)
	}
	attrs := []any{svcAttr(s.key), slog.Int("live_weight", sum), slog.Int("threshold", threshold)}
	switch {
	case !s.quorumUp && sum >= threshold:
		s.quorumUp = true
		c.log.Info("gained quorum", attrs...)
		if s.sorryActive {
			s.sorryActive = false
			c.log.Info("removing sorry server", svcAttr(s.key), realAttr(s.cfg.SorryServer.Addr))
		}
		c.dirty[s.key] = true
		c.runScript(s.cfg.QuorumUp, scriptEnv(s, nil, "UP"))
	case (s.quorumUp && (sum == 0 || sum < threshold)) ||
		(init && !s.quorumUp && s.cfg.SorryServer != nil && !s.sorryActive):
		s.quorumUp = false
		if init {
			c.log.Info("starting with quorum down", attrs...)
		} else {
			c.log.Info("lost quorum", attrs...)
		}
		if s.cfg.SorryServer != nil && !s.sorryActive {
			s.sorryActive = true
			c.log.Info("adding sorry server", svcAttr(s.key), realAttr(s.cfg.SorryServer.Addr))
		}
		c.dirty[s.key] = true
		c.runScript(s.cfg.QuorumDown, scriptEnv(s, nil, "DOWN"))
	}
}

// desired is the table keepalived's ipvs_cmd calls leave for s: live reals
// at their effective weight; failed reals with inhibit_on_failure at
// weight 0 (ipvswrapper.c turns their removal into an edit); while the
// sorry server is active, it alone carries weight (perform_quorum_state
// removed the live reals); a sorry server with sorry_server_inhibit stays
// at weight 0 while inactive.
func (s *service) desired() Desired {
	d := Desired{Service: s.key, SorryActive: s.sorryActive, managed: map[netip.AddrPort]bool{}}
	sorry := s.cfg.SorryServer
	if sorry != nil {
		d.managed[sorry.Addr] = true
	}
	for _, r := range s.reals {
		d.managed[r.cfg.Addr] = true
	}
	for _, r := range s.reals {
		if sorry != nil && r.cfg.Addr == sorry.Addr && (s.sorryActive || s.cfg.SorryServerInhibit) {
			continue // the sorry server's entry below stands for it
		}
		e := r.cfg.Real
		switch {
		case !s.sorryActive && r.alive:
			e.Weight = min(max(r.weight, 0), lvs.MaxWeight)
		case r.cfg.InhibitOnFailure:
			e.Weight = 0
		default:
			continue
		}
		d.Reals = append(d.Reals, e)
	}
	if sorry != nil {
		e := *sorry
		switch {
		case s.sorryActive:
			d.Reals = append(d.Reals, e)
		case s.cfg.SorryServerInhibit:
			e.Weight = 0
			d.Reals = append(d.Reals, e)
		}
	}
	return d
}

// state is what Status shows for the real.
func (r *server) state() State {
	if len(r.checks) == 0 {
		return StateUp
	}
	ran := false
	for _, k := range r.checks {
		ran = ran || k.hasRun
	}
	switch {
	case !ran:
		return StateStarting
	case r.alive:
		return StateUp
	}
	return StateDown
}

// reason says why the real is not up.
func (r *server) reason() string {
	if r.alive {
		return ""
	}
	for _, k := range r.checks {
		if !k.isUp && k.hasRun && k.lastFailure.Reason != "" {
			return k.lastFailure.Reason
		}
	}
	for _, k := range r.checks {
		if !k.isUp && !k.hasRun {
			return k.name() + ": alpha, waiting for a first success"
		}
	}
	return ""
}

func (k *check) state() State {
	switch {
	case !k.hasRun:
		return StateStarting
	case k.isUp:
		return StateUp
	}
	return StateDown
}

// name is the check's kind and target, as in its reasons.
func (k *check) name() string {
	cc := &k.cfg
	t := cc.Target(k.real.cfg.Addr)
	switch cc.Kind {
	case config.HTTPCheck, config.SSLCheck:
		var paths []string
		if cc.HTTP != nil {
			for _, u := range cc.HTTP.URLs {
				paths = append(paths, u.Path)
			}
		}
		return fmt.Sprintf("%s %s%s", cc.Kind, urlBase(cc.Kind, t), strings.Join(paths, ","))
	case config.MiscCheck:
		if cc.Misc != nil {
			return fmt.Sprintf("%s %s", cc.Kind, cc.Misc.Path)
		}
	case config.DNSCheck:
		typ, name := dnsDefaults(cc.DNS)
		return fmt.Sprintf("%s %s %s %s", cc.Kind, t, typ, name)
	}
	return fmt.Sprintf("%s %s", cc.Kind, t)
}

func urlBase(kind config.CheckKind, t netip.AddrPort) string {
	if kind == config.SSLCheck {
		return "https://" + t.String()
	}
	return "http://" + t.String()
}

// job captures what the next attempt of k needs.
func (k *check) job() job {
	vhost := k.real.cfg.VirtualHost
	if vhost == "" {
		vhost = k.real.svc.cfg.VirtualHost
	}
	url := k.urlIt
	if k.cfg.HTTP != nil && url >= len(k.cfg.HTTP.URLs) {
		url = 0
	}
	return job{id: k.id, check: k.cfg, real: k.real.cfg.Addr, vhost: vhost, url: url}
}
