// Command lvsd is golvs's daemon: it owns the virtual services, runs the
// eBPF data plane and serves lvsadm.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golvs/internal/configfile"
	"golvs/internal/daemon"
)

func main() {
	var (
		ifaces   = flag.String("interfaces", "", "comma-separated links to attach to (default: every link that is up and not loopback)")
		socket   = flag.String("socket", daemon.DefaultSocket, "path of the API socket (created mode 0600)")
		pinDir   = flag.String("pin-dir", daemon.DefaultPinDir, "bpffs directory where maps are pinned")
		stateDir = flag.String("state-dir", daemon.DefaultStateDir, "directory where the configuration is saved")
		conf     = flag.String("config", "", "golvs YAML configuration file: its services, reals and health checks (reloaded on SIGHUP and lvsadm --reload)")
		kaConf   = flag.String("keepalived-conf", "", "keepalived.conf whose virtual_server blocks lvsd runs and health-checks (instead of --config)")
		metrics  = flag.String("metrics-addr", "", "serve Prometheus metrics on http://ADDR/metrics, e.g. 127.0.0.1:9469 (default: off)")
		debug    = flag.Bool("debug", false, "log debug messages")
		connSize = 0
		xdp      daemon.XDPMode
	)
	flag.Func("conn-table-size", fmt.Sprintf("connections the table holds, NAT reverse entries and persistence templates alike, 1..%d (default %d; a pinned table keeps its size). "+
		"Unlike IPVS's size=4096, which counts hash buckets with unbounded chains, this is a hard limit: when it is full new connections are dropped. "+
		"Memory is taken up front: about 408 bytes a connection, its NAT reverse entry and template slot included (102 MiB at the default), plus 15 MiB of route caches",
		daemon.MaxConnTableSize, daemon.DefaultConnTableSize), func(v string) (err error) {
		connSize, err = daemon.ParseConnTableSize(v)
		return err
	})
	flag.Func("xdp", "the XDP fast path in front of the TC program: auto (native XDP where the driver has it, generic elsewhere and on veth), "+
		"native, generic, or off (default off). Native XDP forwards known flows and new ones (NAT, DR, and TUN with ipip) before the kernel makes an skb, "+
		"generic XDP forwards IPv4 DR; everything else goes on to TC", func(v string) (err error) {
		xdp, err = daemon.ParseXDPMode(v)
		return err
	})
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "lvsd: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	if *conf != "" && *kaConf != "" {
		fmt.Fprintln(os.Stderr, "lvsd: --config and --keepalived-conf exclude each other: give one file")
		os.Exit(2)
	}
	src := configfile.Source{Path: *conf}
	if *kaConf != "" {
		src = configfile.Source{Path: *kaConf, Keepalived: true}
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	var names []string
	if *ifaces != "" {
		names = strings.Split(*ifaces, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := daemon.Run(ctx, daemon.Config{Interfaces: names, Socket: *socket, PinDir: *pinDir, StateDir: *stateDir,
		Config: src, MetricsAddr: *metrics, ConnTableSize: connSize, XDP: xdp, Log: log})
	if err != nil {
		fmt.Fprintf(os.Stderr, "lvsd: %v\n", err)
		os.Exit(1)
	}
}
