// Package daemon wires lvsd together: it checks the host, loads and attaches
// the data plane, restores the saved configuration, serves the API, and shuts
// everything down in reverse order.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"

	"golvs/internal/api"
	"golvs/internal/datapath"
	"golvs/internal/engine"
)

// Config is lvsd's configuration, from its flags.
type Config struct {
	// Interfaces to attach to; empty means every link that is up and not a
	// loopback.
	Interfaces []string
	Socket     string
	PinDir     string
	StateDir   string
	Log        *slog.Logger
}

// Defaults for Config's paths.
const (
	DefaultSocket   = api.DefaultSocket
	DefaultPinDir   = datapath.DefaultPinDir
	DefaultStateDir = "/var/lib/golvs"
)

// Run runs lvsd until ctx is cancelled. It returns an error naming what
// went wrong when lvsd cannot start.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Log
	if os.Geteuid() != 0 {
		return errors.New("lvsd must run as root: it loads BPF programs and attaches them to links")
	}
	links, err := interfaces(cfg.Interfaces)
	if err != nil {
		return err
	}
	// The socket first: a second lvsd given a running one's socket must
	// stop before it touches the data plane.
	sock, err := api.Listen(cfg.Socket)
	if err != nil {
		return err
	}
	defer sock.Close()
	store, err := engine.NewStore(cfg.StateDir)
	if err != nil {
		return err
	}
	saved, err := store.Load()
	if err != nil {
		return fmt.Errorf("load saved configuration: %w", err)
	}

	dp, err := datapath.Open(datapath.Options{PinDir: cfg.PinDir, Logger: log})
	if err != nil {
		return fmt.Errorf("load data plane: %w", err)
	}
	// Detach on every early return; the normal one below reports how it went.
	detached := false
	defer func() {
		if !detached {
			dp.Close()
		}
	}()

	eng := engine.New(dp, store, log)
	if err := eng.Restore(saved); err != nil {
		return err
	}
	for _, l := range links {
		if err := dp.Attach(l); err != nil {
			return fmt.Errorf("attach to %s: %w", l, err)
		}
	}
	warnForwarding(log, links)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { eng.Run(ctx) })
	log.Info("lvsd started", slog.String("socket", cfg.Socket), slog.String("pin_dir", cfg.PinDir),
		slog.String("state_dir", cfg.StateDir), slog.Int("services", len(saved.Services)))
	err = api.Serve(ctx, sock, eng, log)
	cancel()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	detached = true
	if err := dp.Close(); err != nil {
		return fmt.Errorf("detach: %w", err)
	}
	log.Info("lvsd stopped; programs detached")
	return nil
}

// interfaces checks the links named, or lists every up non-loopback link.
func interfaces(names []string) ([]string, error) {
	all, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	if len(names) == 0 {
		for _, l := range all {
			a := l.Attrs()
			if a.Flags&net.FlagUp != 0 && a.Flags&net.FlagLoopback == 0 {
				names = append(names, a.Name)
			}
		}
		if len(names) == 0 {
			return nil, errors.New("no link is up besides loopback: name the links with --interfaces")
		}
		return names, nil
	}
	var have []string
	for _, l := range all {
		have = append(have, l.Attrs().Name)
	}
	for _, n := range names {
		if !slices.Contains(have, n) {
			return nil, fmt.Errorf("unknown interface %q (this host has: %s)", n, strings.Join(have, ", "))
		}
	}
	return names, nil
}

// warnForwarding logs each link lvsd attached to whose IPv4 or IPv6
// forwarding is off: the data plane's FIB lookup refuses to route packets
// of that family that arrive on such a link, so neither NAT, DR nor TUN
// can forward them (IPVS, which transmits from the local stack, does not
// need it; golvs does).
func warnForwarding(log *slog.Logger, links []string) {
	for _, l := range links {
		for _, f := range []struct{ family, path, fix string }{
			{"IPv4", "/proc/sys/net/ipv4/conf/" + l + "/forwarding", "net.ipv4.ip_forward=1"},
			{"IPv6", "/proc/sys/net/ipv6/conf/" + l + "/forwarding", "net.ipv6.conf.all.forwarding=1"},
		} {
			b, err := os.ReadFile(f.path)
			if err == nil && strings.TrimSpace(string(b)) == "0" {
				log.Warn(f.family+" forwarding is off on "+l+": "+f.family+" packets arriving there cannot be forwarded to real servers; set sysctl "+f.fix,
					slog.String("interface", l))
			}
		}
	}
}
