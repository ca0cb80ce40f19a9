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
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink"

	"golvs/internal/api"
	"golvs/internal/config"
	"golvs/internal/configfile"
	"golvs/internal/datapath"
	"golvs/internal/engine"
	"golvs/internal/metrics"
)

// Config is lvsd's configuration, from its flags.
type Config struct {
	// Interfaces to attach to; empty means every link that is up and not a
	// loopback.
	Interfaces []string
	Socket     string
	PinDir     string
	StateDir   string
	// Config is the configuration file whose services lvsd runs and
	// health-checks; its zero value means none.
	Config configfile.Source
	// MetricsAddr is where /metrics is served over HTTP; empty means not.
	MetricsAddr string
	// ConnTableSize is the connection table's capacity; 0 means the
	// pinned table's, or DefaultConnTableSize.
	ConnTableSize int
	// XDP is how the XDP fast path runs in front of TC ("" is off).
	XDP XDPMode
	Log *slog.Logger
}

// XDPMode is lvsd's --xdp: auto, native, generic or off.
type XDPMode = datapath.XDPMode

// ParseXDPMode parses --xdp.
func ParseXDPMode(s string) (XDPMode, error) { return datapath.ParseXDPMode(s) }

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
	// SIGHUP is caught from the start: one sent while lvsd starts waits
	// for the reload loop instead of killing lvsd.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// A bad configuration file stops lvsd before it touches anything.
	file := configfile.New(cfg.Config, log)
	var fileCfg *config.Config
	if cfg.Config.Path != "" {
		if fileCfg, err = file.Load(); err != nil {
			return err
		}
	}
	// The socket first: a second lvsd given a running one's socket must
	// stop before it touches the data plane.
	sock, err := api.Listen(cfg.Socket)
	if err != nil {
		return err
	}
	defer sock.Close()
	var metricsSock net.Listener
	if cfg.MetricsAddr != "" {
		if metricsSock, err = metrics.Listen(cfg.MetricsAddr); err != nil {
			return err
		}
		defer metricsSock.Close()
	}
	store, err := engine.NewStore(cfg.StateDir)
	if err != nil {
		return err
	}
	saved, err := store.Load()
	if err != nil {
		return fmt.Errorf("load saved configuration: %w", err)
	}

	dp, err := datapath.Open(datapath.Options{PinDir: cfg.PinDir, ConnTableSize: cfg.ConnTableSize, XDP: cfg.XDP, Logger: log})
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
	var ctl api.Controller = noConfig{}
	if fileCfg == nil {
		// The pinned setting may be a previous configuration's.
		if err := dp.SetExpireNodestConn(false); err != nil {
			cancel()
			wg.Wait()
			return err
		}
	}
	if fileCfg != nil {
		to := configfile.Target{Engine: eng, Managed: saved.Managed, ExpireNodestConn: dp.SetExpireNodestConn}
		if err := file.Start(ctx, fileCfg, to); err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf("apply %s: %w", cfg.Config.Path, err)
		}
		ctl = file
		log.Info("configuration loaded", slog.String("file", cfg.Config.Path), slog.Int("services", len(fileCfg.Services)))
	}
	if metricsSock != nil {
		src := metrics.Sources{Services: eng.Services, Counters: dp.Counters, Attached: dp.Attached, ConnTableSize: dp.ConnTableSize()}
		if fileCfg != nil {
			src.Health = file.Health
		}
		c := metrics.New(src, log)
		wg.Go(func() {
			if err := metrics.Serve(ctx, metricsSock, c, log); err != nil {
				log.Error("metrics server stopped", slog.Any("err", err))
			}
		})
		log.Info("serving metrics", slog.String("url", "http://"+metricsSock.Addr().String()+"/metrics"))
	}
	wg.Go(func() { reloadOnHUP(ctx, hup, ctl, log) })
	log.Info("lvsd started", slog.String("socket", cfg.Socket), slog.String("pin_dir", cfg.PinDir),
		slog.String("state_dir", cfg.StateDir), slog.Int("services", len(saved.Services)))
	err = api.Serve(ctx, sock, director{eng, ctl}, log)
	// Shut down in reverse order: checks, then the engine.
	file.Stop()
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

// director is what the API serves: the engine, and reload and health from
// the configuration file.
type director struct {
	*engine.Engine
	ctl api.Controller
}

func (d director) Reload(ctx context.Context) error { return d.ctl.Reload(ctx) }
func (d director) Health(ctx context.Context) ([]api.ServiceHealth, error) {
	return d.ctl.Health(ctx)
}

// noConfig is the Controller of an lvsd started without a file.
type noConfig struct{}

func (noConfig) Reload(context.Context) error                        { return api.ErrNoConfig }
func (noConfig) Health(context.Context) ([]api.ServiceHealth, error) { return nil, api.ErrNoConfig }

// reloadOnHUP reloads the configuration file at every SIGHUP until ctx is
// cancelled; the outcome is logged by the reload.
func reloadOnHUP(ctx context.Context, hup <-chan os.Signal, ctl api.Controller, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			log.Info("SIGHUP: reloading the configuration file")
			if err := ctl.Reload(ctx); errors.Is(err, api.ErrNoConfig) {
				log.Warn("SIGHUP ignored: " + err.Error())
			}
		}
	}
}
