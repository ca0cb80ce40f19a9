// Command lvsrs prepares a host to be an LVS real server for DR or TUN in
// one command, undoes that, and checks a host for the usual mistakes.
//
//	lvsrs [--tunnel none|ipip|gue|gre[,...]] [--gue-port N]... [--dev LINK]... [--state-dir DIR] [--pin-dir DIR] VIP...
//	lvsrs --undo [--state-dir DIR]
//	lvsrs check [--tunnel ...] [--gue-port N]... [--dev LINK]... [VIP...]
//	lvsrs status
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"golvs/internal/datapath/decap"
	"golvs/internal/realserver"
)

const usage = `usage:
  lvsrs [--tunnel none|ipip|gue|gre[,...]] [--gue-port N]... [--dev LINK]... [--state-dir DIR] [--pin-dir DIR] VIP...
        make this host a real server for the VIPs (DR; and TUN with --tunnel)
  lvsrs --undo [--state-dir DIR]
        restore everything lvsrs changed
  lvsrs check [--tunnel ...] [--gue-port N]... [--dev LINK]... [VIP...]
        report what is wrong on this host (default: what lvsrs last set up)
  lvsrs status [--state-dir DIR]
        show what lvsrs set up and the decapsulation counters

The decapsulation program stays attached after lvsrs exits through its pins
in --pin-dir: run lvsrs in the host's mount namespace (nsenter --net=...,
not ip netns exec, whose private /sys takes the pins with it).

flags:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks a command line lvsrs cannot take (exit status 2).
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lvsrs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	var (
		o      realserver.Options
		tunnel = fs.String("tunnel", "none", "tunnels to unwrap: none (DR only), or ipip, gue, gre separated by commas")
		undo   = fs.Bool("undo", false, "restore everything lvsrs changed")
		debug  = fs.Bool("debug", false, "log the decapsulation program's load and attach events")
		badArg error
	)
	fs.Func("gue-port", "UDP port GUE arrives on, the director's --tun-port (repeatable)", func(s string) error {
		p, err := realserver.ParsePort(s)
		if err != nil {
			return err
		}
		o.GUEPorts = append(o.GUEPorts, p)
		return nil
	})
	fs.Func("dev", "link to set up (repeatable; default: every link that is up and not loopback)", func(s string) error {
		o.Links = append(o.Links, s)
		return nil
	})
	fs.StringVar(&o.StateDir, "state-dir", realserver.DefaultStateDir, "directory of the state file that records what lvsrs changed")
	fs.StringVar(&o.PinDir, "pin-dir", decap.DefaultPinDir, "bpffs directory where the decapsulation program is pinned")

	// Flags may come after the VIPs too: parse up to each positional.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "tunnel" {
			o.TunnelsSet = true
		}
	})
	var err error
	if o.Tunnels, err = realserver.ParseTunnels(*tunnel); err != nil {
		badArg = err
	}
	if *debug {
		o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cmd := ""
	if len(pos) > 0 && (pos[0] == "check" || pos[0] == "status") {
		cmd, pos = pos[0], pos[1:]
	}
	if badArg == nil {
		o.VIPs, badArg = realserver.ParseVIPs(pos)
	}
	if badArg == nil && *undo && (cmd != "" || len(pos) > 0) {
		badArg = fmt.Errorf("%w: --undo takes no command and no VIPs", errUsage)
	}
	if badArg == nil && cmd == "status" && len(pos) > 0 {
		badArg = fmt.Errorf("%w: status takes no VIPs", errUsage)
	}
	if badArg != nil {
		fmt.Fprintf(stderr, "lvsrs: %v (lvsrs --help shows the usage)\n", badArg)
		return 2
	}

	switch {
	case *undo:
		lines, err := realserver.Undo(o)
		return report(lines, err, stdout, stderr)
	case cmd == "status":
		lines, err := realserver.Status(o)
		return report(lines, err, stdout, stderr)
	case cmd == "check":
		r, err := realserver.Check(o)
		if err != nil {
			fmt.Fprintf(stderr, "lvsrs: %v\n", err)
			return 1
		}
		for _, f := range r.Findings {
			fmt.Fprintln(stdout, f)
		}
		if !r.OK() {
			return 1
		}
		fmt.Fprintln(stdout, r.Summary())
		return 0
	}
	if len(o.VIPs) == 0 {
		fmt.Fprintf(stderr, "lvsrs: %v (lvsrs --help shows the usage)\n", realserver.ErrNoVIPs)
		return 2
	}
	lines, err := realserver.Setup(o)
	if err == nil && len(lines) == 0 {
		lines = []string{"nothing to change: already set up"}
	}
	return report(lines, err, stdout, stderr)
}

func report(lines []string, err error, stdout, stderr io.Writer) int {
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	if err != nil {
		fmt.Fprintf(stderr, "lvsrs: %v\n", err)
		return 1
	}
	return 0
}
