// Package realserver prepares a host to be an LVS real server for DR and
// TUN, undoes that exactly, and reports what is wrong on a host: the VIPs
// on lo, the ARP and reverse-path sysctls, and golvs's decapsulation
// program for tunnels. It is lvsrs's logic; cmd/lvsrs only parses flags.
//
// Everything works on the calling thread's network namespace.
package realserver

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"slices"
	"sort"

	"golvs/internal/datapath/decap"
)

// DefaultStateDir is where lvsrs records what it changed. It lives under
// /run on purpose: sysctls, addresses and bpffs pins are all gone after a
// reboot, and so should the record of them be.
const DefaultStateDir = "/run/golvs"

// Errors for the operator's mistakes; nothing is changed when Setup or
// Check returns one of them.
var (
	ErrNotRoot      = errors.New("lvsrs needs root: it changes sysctls, addresses and BPF programs")
	ErrBadVIP       = errors.New("bad VIP")
	ErrNoVIPs       = errors.New("no VIPs: name the virtual addresses this host serves")
	ErrBadTunnel    = errors.New("bad tunnel type")
	ErrBadPort      = errors.New("bad GUE port")
	ErrUnknownLink  = errors.New("unknown link")
	ErrVIPElsewhere = errors.New("VIP on a link")
	ErrNoIPv6       = errors.New("IPv6 is off")
	ErrPinDir       = errors.New("pin dir differs from the one in use")
)

// Options configure Setup, Undo, Check and Status.
type Options struct {
	// VIPs are the virtual addresses to serve (Check: to check; empty
	// means those of the last Setup).
	VIPs []netip.Addr
	// Tunnels are the tunnel kinds to unwrap; 0 is DR only.
	Tunnels decap.Tunnel
	// TunnelsSet tells Check that Tunnels was given, rather than taken
	// from the last Setup.
	TunnelsSet bool
	// GUEPorts are the UDP ports GUE arrives on (the director's --tun-port).
	GUEPorts []uint16
	// Links are the links to cover; empty means every link that is up and
	// not a loopback (Check: those of the last Setup first).
	Links []string
	// StateDir holds the state file (DefaultStateDir if empty).
	StateDir string
	// PinDir is the bpffs directory of the decapsulation program's pins
	// (decap.DefaultPinDir if empty).
	PinDir string
	// Logger receives the decapsulation program's load and attach events
	// (discarded if nil).
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir
	}
	if o.PinDir == "" {
		o.PinDir = decap.DefaultPinDir
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

func requireRoot() error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	return nil
}

// Setup makes the host a real server for o.VIPs: every VIP on lo, ARP and
// rp_filter as LVS needs them, and for tunnels the decapsulation program on
// the links, pinned so that it stays after lvsrs exits. It is idempotent,
// and a second Setup with other VIPs or tunnels changes the host to match
// (removing only what lvsrs itself added). Everything it changes is
// recorded for Undo. It returns one line per change made. On an error
// after the first change, the changes of this call are undone.
func Setup(o Options) ([]string, error) {
	o.defaults()
	if err := requireRoot(); err != nil {
		return nil, err
	}
	prev, had, err := loadState(o.StateDir)
	if err != nil {
		return nil, err
	}
	if prev.Decap != nil && prev.Decap.PinDir != o.PinDir {
		return nil, fmt.Errorf("%w: the decapsulation program is pinned in %s; pass --pin-dir %s, or lvsrs --undo first", ErrPinDir, prev.Decap.PinDir, prev.Decap.PinDir)
	}
	h, err := readHost()
	if err != nil {
		return nil, err
	}
	want := desired{vips: o.VIPs, tunnels: o.Tunnels, guePorts: o.GUEPorts}
	if len(o.Links) > 0 {
		want.links = o.Links
	}
	p, err := makePlan(h, prev, want)
	if err != nil {
		return nil, err
	}
	a := &applier{o: o, st: prev, orig: prev.clone(), hadState: had}
	if err := a.apply(p, want); err != nil {
		if rerr := a.rollback(); rerr != nil {
			return a.done, fmt.Errorf("%w; undoing this run's changes: %v (lvsrs --undo restores what the state file records)", err, rerr)
		}
		return nil, err
	}
	return a.done, nil
}

// applier carries out a plan, recording each change in the state (saved
// after each step, so that an interrupted lvsrs can still be undone) and
// in a journal, so that a failed run can be rolled back.
type applier struct {
	o    Options
	st   State // the state as changed so far
	orig State // the state before this run
	// hadState: there was a state file before this run.
	hadState bool
	// undo are this run's steps' inverses, in order.
	undo []func() error
	done []string
}

func (a *applier) step(msg string, undo func() error) error {
	a.done = append(a.done, msg)
	a.undo = append(a.undo, undo)
	return a.st.save(a.o.StateDir)
}

func (a *applier) apply(p plan, want desired) error {
	// ARP first: a VIP added to lo before arp_ignore is set would be
	// answered for, for a moment.
	for _, s := range p.sysctls {
		if err := writeSysctl(s.key, s.to); err != nil {
			return err
		}
		rec := a.st.sysctl(s.key)
		if rec == nil {
			a.st.Sysctls = append(a.st.Sysctls, SysctlChange{Key: s.key, Old: s.from, New: s.to})
		} else {
			rec.New = s.to
		}
		s := s
		if err := a.step(fmt.Sprintf("set %s=%s (was %s)", s.key, s.to, s.from), func() error { return writeSysctl(s.key, s.from) }); err != nil {
			return err
		}
	}

	// The decapsulation program before the VIPs: tunnelled packets to a
	// new VIP are unwrapped from its first moment.
	if p.decap {
		if err := a.attach(p, want); err != nil {
			return err
		}
	}

	for _, pfx := range p.addAddrs {
		if err := addAddr(loopback, pfx); err != nil {
			return err
		}
		a.st.Addrs = append(a.st.Addrs, pfx)
		pfx := pfx
		if err := a.step(fmt.Sprintf("added %s to %s", pfx, loopback), func() error { return delAddr(loopback, pfx) }); err != nil {
			return err
		}
	}
	for _, pfx := range p.delAddrs {
		if err := delAddr(loopback, pfx); err != nil {
			return err
		}
		a.st.Addrs = slices.DeleteFunc(a.st.Addrs, func(x netip.Prefix) bool { return x == pfx })
		pfx := pfx
		if err := a.step(fmt.Sprintf("removed %s from %s (added by an earlier lvsrs)", pfx, loopback), func() error { return addAddr(loopback, pfx) }); err != nil {
			return err
		}
	}

	for _, l := range p.detach {
		if err := decap.Detach(a.st.Decap.PinDir, l); err != nil {
			return err
		}
		delete(a.st.Decap.Hooks, l)
		if err := a.step("detached the decapsulation program from "+l, nil); err != nil {
			return err
		}
	}
	if p.removePins {
		if err := decap.RemovePins(a.st.Decap.PinDir); err != nil {
			return err
		}
		a.st.Decap = nil
		if err := a.step("removed the decapsulation program's pins", nil); err != nil {
			return err
		}
	}

	// The configuration last, as a record of what is set up.
	changed := !slices.Equal(a.st.VIPs, want.vips) || a.st.Tunnels != want.tunnels.String() ||
		!slices.Equal(a.st.GUEPorts, want.guePorts) || !slices.Equal(a.st.Links, p.links)
	a.st.VIPs, a.st.Tunnels, a.st.GUEPorts, a.st.Links = want.vips, want.tunnels.String(), want.guePorts, p.links
	if changed || len(a.done) > 0 {
		return a.st.save(a.o.StateDir)
	}
	return nil
}

// attach loads the decapsulation program (adopting the pinned maps),
// writes its configuration and attaches it to every link of the plan.
func (a *applier) attach(p plan, want desired) error {
	d, err := decap.Open(decap.Options{PinDir: a.o.PinDir, Logger: a.o.Logger})
	if err != nil {
		return err
	}
	defer d.Close()
	old, err := d.Config()
	if err != nil {
		return err
	}
	cfg := decap.Config{Tunnels: want.tunnels, VIPs: want.vips, GUEPorts: want.guePorts}
	if err := d.SetConfig(cfg); err != nil {
		return err
	}
	now, err := d.Config()
	if err != nil {
		return err
	}
	if a.st.Decap == nil {
		a.st.Decap = &DecapState{PinDir: a.o.PinDir, Hooks: map[string]string{}}
		if err := a.step("pinned the decapsulation program's maps in "+d.PinDir(), a.removePinsIfNew); err != nil {
			return err
		}
	}
	if fmt.Sprint(old) != fmt.Sprint(now) {
		if err := a.step(fmt.Sprintf("decapsulation program unwraps %s to %v", want.tunnels, want.vips), func() error { return a.restoreConfig(old) }); err != nil {
			return err
		}
	}
	for _, l := range p.links {
		_, had := a.st.Decap.Hooks[l]
		hook, err := d.Attach(l)
		if err != nil {
			return err
		}
		a.st.Decap.Hooks[l] = hook
		if had {
			// The program was replaced in place (a newer lvsrs): not
			// a change to report or to undo.
			continue
		}
		l := l
		if err := a.step(fmt.Sprintf("attached the decapsulation program to %s (%s)", l, hook), func() error {
			return decap.Detach(a.o.PinDir, l)
		}); err != nil {
			return err
		}
	}
	return nil
}

func (a *applier) restoreConfig(c decap.Config) error {
	d, err := decap.Open(decap.Options{PinDir: a.o.PinDir, Logger: a.o.Logger})
	if err != nil {
		return err
	}
	defer d.Close()
	return d.SetConfig(c)
}

func (a *applier) removePinsIfNew() error {
	if a.orig.Decap != nil {
		return nil
	}
	return decap.RemovePins(a.o.PinDir)
}

// rollback undoes this run's steps in reverse and restores the state file.
func (a *applier) rollback() error {
	var errs []error
	for i := len(a.undo) - 1; i >= 0; i-- {
		if a.undo[i] == nil {
			continue
		}
		if err := a.undo[i](); err != nil {
			errs = append(errs, err)
		}
	}
	if len(a.done) > 0 {
		if a.hadState {
			errs = append(errs, a.orig.save(a.o.StateDir))
		} else {
			errs = append(errs, removeState(a.o.StateDir))
		}
	}
	return errors.Join(errs...)
}

// Undo restores what the state file records: it detaches the
// decapsulation program and removes its pins, removes the addresses lvsrs
// added and puts every sysctl it changed back to its old value, then
// removes the state file. A sysctl changed by someone else since lvsrs set
// it is left as it is, and said so. It returns one line per change made
// (or left alone).
func Undo(o Options) ([]string, error) {
	o.defaults()
	if err := requireRoot(); err != nil {
		return nil, err
	}
	st, ok, err := loadState(o.StateDir)
	if err != nil {
		return nil, err
	}
	if !ok {
		return []string{"nothing to undo: no state in " + statePath(o.StateDir)}, nil
	}
	var done []string
	var errs []error
	if st.Decap != nil {
		hooks := slices.Sorted(maps.Keys(st.Decap.Hooks))
		for _, l := range hooks {
			if err := decap.Detach(st.Decap.PinDir, l); err != nil {
				errs = append(errs, err)
				continue
			}
			done = append(done, "detached the decapsulation program from "+l)
		}
		if err := decap.RemovePins(st.Decap.PinDir); err != nil {
			errs = append(errs, err)
		} else {
			done = append(done, "removed the decapsulation program's pins")
		}
	}
	h, err := readHost()
	if err != nil {
		return done, err
	}
	for _, p := range st.Addrs {
		if _, on := h.onLo(p.Addr()); !on {
			continue
		}
		if err := delAddr(loopback, p); err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, fmt.Sprintf("removed %s from %s", p, loopback))
	}
	// In reverse: a key changed twice ends at its oldest value.
	for i := len(st.Sysctls) - 1; i >= 0; i-- {
		c := st.Sysctls[i]
		cur, err := readSysctl(c.Key)
		if err != nil {
			done = append(done, fmt.Sprintf("left %s: %v", c.Key, err))
			continue
		}
		if cur != c.New {
			done = append(done, fmt.Sprintf("left %s=%s: changed since lvsrs set it to %s (it was %s before)", c.Key, cur, c.New, c.Old))
			continue
		}
		if err := writeSysctl(c.Key, c.Old); err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, fmt.Sprintf("set %s=%s (back from %s)", c.Key, c.Old, c.New))
	}
	if err := errors.Join(errs...); err != nil {
		return done, fmt.Errorf("undo: %w (the state file stays; run lvsrs --undo again once fixed)", err)
	}
	if err := removeState(o.StateDir); err != nil {
		return done, err
	}
	return done, nil
}

// sortedVIPs returns vips sorted, IPv4 first.
func sortedVIPs(vips []netip.Addr) []netip.Addr {
	out := slices.Clone(vips)
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}
