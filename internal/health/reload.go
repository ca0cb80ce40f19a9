package health

import (
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"time"

	"golvs/internal/config"
	"golvs/internal/lvs"
)

// update is Update on Run's goroutine: keepalived's clear_diff_services
// and migrate_checkers, except that unchanged checks keep their schedule
// (keepalived restarts every checker on a reload).
func (c *Checker) update(cfgs []config.Service) error {
	seen := map[lvs.ServiceKey]bool{}
	for _, sc := range cfgs {
		if seen[sc.ServiceKey] {
			return fmt.Errorf("%w: %s", ErrDuplicateService, sc.ServiceKey)
		}
		seen[sc.ServiceKey] = true
	}
	now := time.Now()
	old := map[lvs.ServiceKey]*service{}
	for _, s := range c.services {
		old[s.key] = s
	}
	var next []*service
	for _, sc := range cfgs {
		var s *service
		if o := old[sc.ServiceKey]; o != nil {
			s = c.mergeService(o, sc, now)
			delete(old, sc.ServiceKey)
		} else {
			s = c.startingService(sc)
			c.startService(s, now)
			c.log.Info("adding virtual server", svcAttr(s.key))
		}
		next = append(next, s)
	}
	for _, s := range c.services {
		if old[s.key] == s {
			c.dropService(s)
		}
	}
	c.services = next
	return nil
}

// mergeService carries o's state over to its new configuration sc.
func (c *Checker) mergeService(o *service, sc config.Service, now time.Time) *service {
	s := newService(sc)
	s.quorumUp = o.quorumUp
	s.sorryActive = o.sorryActive && sc.SorryServer != nil
	byAddr := map[netip.AddrPort]*server{}
	for _, r := range o.reals {
		byAddr[r.cfg.Addr] = r
	}
	for _, rc := range sc.Reals {
		if or := byAddr[rc.Addr]; or != nil {
			s.reals = append(s.reals, c.mergeReal(s, or, rc, now))
			delete(byAddr, rc.Addr)
			continue
		}
		r := c.newReal(s, rc)
		for _, k := range r.checks {
			c.scheduleFirst(k, now)
		}
		s.reals = append(s.reals, r)
	}
	for _, r := range o.reals {
		if byAddr[r.cfg.Addr] == r {
			c.log.Info("real server no longer exists", svcAttr(o.key), realAttr(r.cfg.Addr))
			c.dropReal(r)
		}
	}
	// init_service_vs: quorum and sorry server settle with the new
	// quorum, hysteresis and weights.
	c.updateQuorum(s, true)
	c.dirty[s.key] = true
	return s
}

// mergeReal carries o's state to its new configuration rc: matching
// checks keep their state and running attempt; the rest start afresh.
func (c *Checker) mergeReal(s *service, o *server, rc config.Real, now time.Time) *server {
	r := &server{cfg: rc, svc: s, alive: o.alive, lastChange: o.lastChange, dynamic: o.dynamic, weight: rc.Weight}
	if o.dynamic {
		r.weight = o.weight
	}
	used := make([]bool, len(o.checks))
	for _, cc := range rc.Checks {
		var k *check
		for i, ok := range o.checks {
			if !used[i] && sameCheck(ok.cfg, cc) {
				used[i], k = true, ok
				break
			}
		}
		if k == nil {
			// A new check starts as at startup: one failure decides.
			k = c.newCheck(r, cc)
			c.scheduleFirst(k, now)
		} else {
			k.cfg, k.real = cc, r
			if !k.hasRun {
				k.isUp = true // decided below, as for a new check
			}
			switch {
			case !k.isUp:
				k.retryIt = cc.Retry + 1
			case k.retryIt >= cc.Retry:
				// Retries already spent: one more failure decides.
				k.retryIt = cc.Retry
			}
			if k.cfg.HTTP != nil && k.urlIt >= len(k.cfg.HTTP.URLs) {
				k.urlIt = 0
			}
			// A shorter delay_loop applies from now rather than after
			// the wait the old one set.
			if !k.running && k.next.After(now.Add(cc.DelayLoop)) {
				c.scheduleAt(k, now.Add(cc.DelayLoop))
			}
		}
		r.checks = append(r.checks, k)
	}
	for i, ok := range o.checks {
		if !used[i] {
			delete(c.checks, ok.id)
		}
	}

	ran := false
	for _, k := range r.checks {
		if k.hasRun && !k.isUp {
			r.numFailed++
		}
		ran = ran || k.hasRun
	}
	// A failed real, or one that has not been checked yet, keeps new
	// alpha checks down until they run; one failure of a new check is
	// then enough.
	if r.numFailed > 0 || (!r.alive && !ran) {
		for _, k := range r.checks {
			if !k.hasRun {
				if k.cfg.Alpha && k.isUp {
					k.isUp = false
					r.numFailed++
				}
				k.retryIt = k.cfg.Retry
			}
		}
	}
	switch {
	case r.numFailed == 0 && !r.alive:
		r.alive = true
		r.lastChange = time.Now()
		c.log.Info("adding real server", svcAttr(s.key), realAttr(rc.Addr), slog.String("reason", "no failed check after reload"))
		c.notifyReal(r)
	case r.numFailed > 0 && r.alive:
		r.alive = false
		r.lastChange = time.Now()
	}
	return r
}

// sameCheck says whether two configurations are the same check, whose
// state a reload keeps: equal but for timers, alpha and position (the
// checkers' compare functions in keepalived ignore these too).
func sameCheck(a, b config.Check) bool {
	strip := func(c config.Check) config.Check {
		c.Pos = config.Pos{}
		c.ConnectTimeout, c.Retry, c.DelayBeforeRetry, c.DelayLoop, c.Warmup, c.Alpha = 0, 0, 0, 0, 0, false
		return c
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

// dropReal forgets a real that a reload removed; a live one runs its
// notify_down, as keepalived's clear_service_rs does.
func (c *Checker) dropReal(r *server) {
	for _, k := range r.checks {
		delete(c.checks, k.id)
	}
	if r.alive {
		r.alive = false
		c.notifyReal(r)
	}
}

// dropService forgets a service a reload removed: its live reals run
// notify_down and, if it had quorum, it runs quorum_down.
func (c *Checker) dropService(s *service) {
	c.log.Info("removing virtual server", svcAttr(s.key))
	for _, r := range s.reals {
		c.dropReal(r)
	}
	if s.quorumUp {
		s.quorumUp = false
		c.runScript(s.cfg.QuorumDown, scriptEnv(s, nil, "DOWN"))
	}
	delete(c.applied, s.key)
	delete(c.dirty, s.key)
}
