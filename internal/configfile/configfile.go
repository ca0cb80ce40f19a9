// Package configfile runs lvsd's configuration file: it keeps the services
// that a golvs YAML file or a keepalived.conf names in the engine's table,
// applies their health checks, and reloads the file on request, changing
// only what the file names.
//
// The package is named for the file it runs, as keepalived's checker runs
// keepalived.conf; reading a file into a config.Config is internal/config's
// and internal/keepalived's job, checking reals is internal/health's.
package configfile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"sync"

	"golvs/internal/api"
	"golvs/internal/config"
	"golvs/internal/engine"
	"golvs/internal/health"
	"golvs/internal/keepalived"
	"golvs/internal/lvs"
)

// Source is the configuration file lvsd reads its services from.
type Source struct {
	// Path is the file; empty means lvsd runs without one.
	Path string
	// Keepalived says Path is a keepalived.conf rather than a golvs YAML
	// file.
	Keepalived bool
}

// managed is what a configuration file names: its services and, for each,
// the reals and sorry server. Only these are changed by a reload; services
// and reals added by hand with lvsadm are left alone.
type managed map[lvs.ServiceKey][]netip.AddrPort

// managedOf lists what c names.
func managedOf(c *config.Config) managed { return managedFrom(managedSet(c)) }

// managedSet lists what c names in the order of its services: the form
// the engine saves in the state file.
func managedSet(c *config.Config) []engine.ManagedService {
	out := make([]engine.ManagedService, 0, len(c.Services))
	for _, s := range c.Services {
		var addrs []netip.AddrPort
		for _, r := range s.Reals {
			addrs = append(addrs, r.Addr)
		}
		if s.SorryServer != nil {
			addrs = append(addrs, s.SorryServer.Addr)
		}
		out = append(out, engine.ManagedService{Service: s.ServiceKey, Reals: addrs})
	}
	return out
}

// managedFrom is the managed set saved in the state file, by service.
func managedFrom(saved []engine.ManagedService) managed {
	m := managed{}
	for _, s := range saved {
		m[s.Service] = s.Reals
	}
	return m
}

// Controller keeps the services of a configuration file in the engine's
// table and runs their health checks; it is the api.Controller of an lvsd
// started with a file. Start and Reload go through switchTo, one at a
// time.
type Controller struct {
	src Source
	log *slog.Logger
	// Set by Start.
	eng          *engine.Engine
	expireNodest func(bool) error

	// reload serializes switchTo.
	reload sync.Mutex
	// The fields below belong to whoever holds reload.
	cfg     *config.Config
	checker *health.Checker
	stop    context.CancelFunc
	done    chan struct{}
	warned  map[string]bool

	// mu protects the fields below, shared with the checker's Apply.
	mu sync.Mutex
	// applied is what the checker last had applied, by service.
	applied map[lvs.ServiceKey][]lvs.Real
	// switching is set while switchTo applies a configuration; health
	// changes offered meanwhile are applied from a fresh Desired after it.
	switching bool
	missed    bool
}

// New returns the controller of the file src names; it changes nothing
// until Start.
func New(src Source, log *slog.Logger) *Controller {
	return &Controller{src: src, log: log, warned: map[string]bool{}}
}

// Target is what a Controller changes.
type Target struct {
	Engine *engine.Engine
	// Managed is the managed set of the state file (engine.Saved), what
	// the file named when lvsd last ran.
	Managed []engine.ManagedService
	// ExpireNodestConn sets the data plane's expire_nodest_conn choice.
	ExpireNodestConn func(bool) error
}

// Load reads the configuration file; the error names file, line and field.
func (f *Controller) Load() (*config.Config, error) {
	if !f.src.Keepalived {
		c, err := config.Load(f.src.Path)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", api.ErrConfig, err)
		}
		return c, nil
	}
	c, warnings, err := keepalived.Load(f.src.Path, keepalived.Options{})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", api.ErrConfig, err)
	}
	// A warning is logged once, not again at every reload.
	for _, w := range warnings {
		if s := w.String(); !f.warned[s] {
			f.warned[s] = true
			f.log.Warn("keepalived.conf: "+w.Msg, slog.String("at", w.Pos.String()))
		}
	}
	return c, nil
}

// Start applies c, the file as Load read it before lvsd touched
// anything, to to.Engine's table and starts its health checks; what the
// managed set names and c does not is removed.
func (f *Controller) Start(ctx context.Context, c *config.Config, to Target) error {
	f.reload.Lock()
	defer f.reload.Unlock()
	f.eng, f.expireNodest = to.Engine, to.ExpireNodestConn
	return f.switchTo(ctx, managedFrom(to.Managed), c)
}

// Reload reads the file again and applies the difference; a bad file, or
// one the data plane refuses, leaves everything as it was.
func (f *Controller) Reload(ctx context.Context) error {
	f.reload.Lock()
	defer f.reload.Unlock()
	c, err := f.Load()
	if err != nil {
		f.log.Error("reload refused; the running configuration stays", slog.String("file", f.src.Path), slog.Any("err", err))
		return err
	}
	if err := f.switchTo(ctx, managedOf(f.cfg), c); err != nil {
		f.log.Error("reload refused; the running configuration stays", slog.String("file", f.src.Path), slog.Any("err", err))
		return err
	}
	f.log.Info("configuration reloaded", slog.String("file", f.src.Path), slog.Int("services", len(c.Services)))
	return nil
}

// switchTo makes c the configuration: the health checker learns it first
// (unchanged checks keep their state), then the table changes in one
// engine batch to c's services with the reals the checker wants, saved
// with c's managed set. prev is what the previous configuration named.
func (f *Controller) switchTo(ctx context.Context, prev managed, c *config.Config) error {
	// Once begun, a switch runs to its end (or its rollback) even when the
	// caller (lvsadm --reload) gives up: else the checker and the table
	// could be left on different configurations.
	ctx = context.WithoutCancel(ctx)
	f.mu.Lock()
	f.switching, f.missed = true, false
	f.mu.Unlock()
	defer f.catchUp(ctx)

	first := f.checker == nil
	if first {
		ch, err := health.New(c.Services, health.Options{Apply: f.apply, Logger: f.log.With(slog.String("part", "health"))})
		if err != nil {
			return fmt.Errorf("%w: %w", api.ErrConfig, err)
		}
		runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
		f.checker, f.stop, f.done = ch, stop, make(chan struct{})
		go func() {
			defer close(f.done)
			ch.Run(runCtx)
		}()
	} else if err := f.checker.Update(ctx, c.Services); err != nil {
		return fmt.Errorf("health checks: %w", err)
	}
	desired, err := f.checker.Desired(ctx)
	if err == nil {
		err = f.eng.UpdateManaged(ctx, managedSet(c), func(t *lvs.Table) error { return transform(t, prev, c, desired) })
	}
	if err != nil {
		// The checker goes back to the configuration it had.
		if first {
			f.stopChecksLocked()
		} else if rerr := f.checker.Update(ctx, f.cfg.Services); rerr != nil {
			f.log.Error("health checks: restore the previous configuration", slog.Any("err", rerr))
		}
		return err
	}
	f.mu.Lock()
	f.applied = nil
	f.mu.Unlock()
	f.remember(desired)
	// The director-wide choice follows only an accepted configuration.
	if f.expireNodest != nil {
		if err := f.expireNodest(c.ExpireNodestConn); err != nil {
			f.log.Error("expire_nodest_conn: the data plane keeps its previous setting", slog.Any("err", err))
		}
	}
	f.cfg = c
	return nil
}

// transform changes t from what prev named to configuration c with the
// reals in desired: services and reals prev named and c does not are
// deleted, services c names are added or their options changed, and each
// service's reals become what the health checker wants. Everything else
// (services and reals added with lvsadm) is left as it is.
func transform(t *lvs.Table, prev managed, c *config.Config, desired []health.Desired) error {
	next := managedOf(c)
	for k, addrs := range prev {
		if t.Service(k) < 0 {
			continue
		}
		if _, ok := next[k]; !ok {
			if err := t.DeleteService(k); err != nil {
				return err
			}
			continue
		}
		for _, a := range addrs {
			if slices.Contains(next[k], a) {
				continue
			}
			if err := t.DeleteReal(k, a); err != nil && !errors.Is(err, lvs.ErrNoReal) {
				return fmt.Errorf("%s: real %s: %w", k, a, err)
			}
		}
	}
	if err := t.SetTimeouts(c.Timeouts); err != nil {
		return fmt.Errorf("timeouts: %w", err)
	}
	for _, s := range c.Services {
		svc := s.Service
		svc.Reals = nil
		i := t.Service(s.ServiceKey)
		if i < 0 {
			if err := t.AddService(svc); err != nil {
				return fmt.Errorf("%s (%s): %w", s.ServiceKey, s.Pos, err)
			}
			continue
		}
		have := t.Services[i]
		have.Reals = nil
		if !reflect.DeepEqual(have, svc) {
			if err := t.EditService(svc); err != nil {
				return fmt.Errorf("%s (%s): %w", s.ServiceKey, s.Pos, err)
			}
		}
	}
	return applyDesired(t, desired, nil)
}

// applyDesired makes each service's reals in t what d says; a service not
// in t is skipped. With applied (what the checker asked for last, by
// service), only what changed since is applied, as keepalived touches only
// the real whose state changed: an operator's lvsadm edit of a managed real
// (a weight set to drain it, a real deleted) stays until that real's
// health changes or the file is reloaded.
func applyDesired(t *lvs.Table, desired []health.Desired, applied map[lvs.ServiceKey][]lvs.Real) error {
	for _, d := range desired {
		i := t.Service(d.Service)
		if i < 0 {
			continue
		}
		add, edit, del := d.Changes(t.Services[i].Reals)
		if old, ok := applied[d.Service]; ok {
			add, edit, del = sinceApplied(add, edit, del, old)
		}
		for _, a := range del {
			if err := t.DeleteReal(d.Service, a); err != nil {
				return fmt.Errorf("%s: real %s: %w", d.Service, a, err)
			}
		}
		for _, r := range edit {
			if err := t.EditReal(d.Service, r); err != nil {
				return fmt.Errorf("%s: real %s: %w", d.Service, r.Addr, err)
			}
		}
		for _, r := range add {
			if err := t.AddReal(d.Service, r); err != nil {
				return fmt.Errorf("%s: real %s: %w", d.Service, r.Addr, err)
			}
		}
	}
	return nil
}

// sinceApplied keeps of add, edit and del the changes to reals whose
// desired entry differs from old, the one applied before.
func sinceApplied(add, edit []lvs.Real, del []netip.AddrPort, old []lvs.Real) ([]lvs.Real, []lvs.Real, []netip.AddrPort) {
	was := make(map[netip.AddrPort]lvs.Real, len(old))
	for _, r := range old {
		was[r.Addr] = r
	}
	changed := func(rs []lvs.Real) []lvs.Real {
		var out []lvs.Real
		for _, r := range rs {
			if w, ok := was[r.Addr]; !ok || w != r {
				out = append(out, r)
			}
		}
		return out
	}
	var gone []netip.AddrPort
	for _, a := range del {
		if _, ok := was[a]; ok {
			gone = append(gone, a)
		}
	}
	return changed(add), changed(edit), gone
}

// remember records desired as what the checker last had applied.
func (f *Controller) remember(desired []health.Desired) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.applied == nil {
		f.applied = map[lvs.ServiceKey][]lvs.Real{}
	}
	for _, d := range desired {
		f.applied[d.Service] = d.Reals
	}
}

// appliedCopy returns what the checker last had applied.
func (f *Controller) appliedCopy() map[lvs.ServiceKey][]lvs.Real {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.applied)
}

// apply is the health checker's Apply: one engine batch per call. While a
// configuration is being switched to, the change is left to catchUp.
func (f *Controller) apply(ctx context.Context, desired []health.Desired) error {
	f.mu.Lock()
	if f.switching {
		f.missed = true
		f.mu.Unlock()
		return nil
	}
	f.mu.Unlock()
	applied := f.appliedCopy()
	if err := f.eng.Update(ctx, func(t *lvs.Table) error { return applyDesired(t, desired, applied) }); err != nil {
		return err
	}
	f.remember(desired)
	return nil
}

// catchUp ends a switch: health changes offered during it are applied
// from what the checker wants now.
func (f *Controller) catchUp(ctx context.Context) {
	f.mu.Lock()
	missed := f.missed
	f.switching, f.missed = false, false
	f.mu.Unlock()
	if !missed || f.checker == nil {
		return
	}
	desired, err := f.checker.Desired(ctx)
	if err == nil {
		applied := f.appliedCopy()
		err = f.eng.Update(ctx, func(t *lvs.Table) error { return applyDesired(t, desired, applied) })
	}
	if err != nil {
		f.log.Error("apply health changes made during a reload", slog.Any("err", err))
		return
	}
	f.remember(desired)
}

// Stop stops the health checker and waits for it (it runs the omega
// scripts on its way out). The table stays as it is.
func (f *Controller) Stop() {
	f.reload.Lock()
	defer f.reload.Unlock()
	f.stopChecksLocked()
}

func (f *Controller) stopChecksLocked() {
	if f.checker == nil {
		return
	}
	f.stop()
	<-f.done
	f.checker = nil
}

var _ api.Controller = (*Controller)(nil)
