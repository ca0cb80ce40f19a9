// Package ipvsadm is lvsadm's command line: ipvsadm 1.31's options, checks,
// messages, exit statuses and listings, carried out by talking to lvsd.
package ipvsadm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"golvs/internal/api"
	"golvs/internal/lvs"
)

// DefaultSocket is where lvsd listens unless GOLVS_SOCKET says otherwise.
const DefaultSocket = "/run/golvs/lvsd.sock"

// callTimeout bounds a whole run's conversation with lvsd, so a hung daemon
// does not hang scripts.
const callTimeout = 30 * time.Second

// Director is lvsd as lvsadm sees it; *api.Client implements it, tests
// use a fake.
type Director = api.Director

// Main runs lvsadm with args (args[0] is the program name) against the lvsd
// at $GOLVS_SOCKET and returns the exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	socket := os.Getenv("GOLVS_SOCKET")
	if socket == "" {
		socket = DefaultSocket
	}
	return run(args, stdin, stdout, stderr, api.NewClient(socket))
}

// run is Main with the director given.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, d Director) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, d: d, names: newSystemNames("/etc/services")}
	return c.run(args)
}

// cli is one run of lvsadm.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	d              Director
	names          names
}

func (c *cli) run(args []string) int {
	if len(args) == 0 {
		args = []string{"lvsadm"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()

	// With no arguments at all ipvsadm lists the table, names resolved.
	if len(args) == 1 {
		return c.listAll(ctx, 0)
	}
	r, err := parseArgs(args, c.names)
	if err != nil {
		return c.exit(err)
	}
	switch {
	case r.help:
		fmt.Fprint(c.stdout, versionLine)
		fmt.Fprintf(c.stdout, usageFormat, args[0])
		return 0
	case r.version:
		fmt.Fprint(c.stdout, versionLine)
		return 0
	}
	if len(r.unsupported) > 0 {
		u := r.unsupported[0]
		fmt.Fprintf(c.stderr, "%s: %s %s is not supported by golvs yet\n", filepath.Base(args[0]), u.what, u.name)
		return 2
	}
	return c.do(ctx, r)
}

// exit prints an exitError and returns its status.
func (c *cli) exit(err error) int {
	var e *exitError
	if !errors.As(err, &e) {
		fmt.Fprintln(c.stderr, err)
		return 2
	}
	if e.msg != "" {
		fmt.Fprintln(c.stderr, e.msg)
	}
	return e.status
}

// do carries out a checked request.
func (c *cli) do(ctx context.Context, r *request) int {
	key := lvs.ServiceKey{Protocol: lvs.Protocol(r.svc.protocol), Addr: netip.AddrPortFrom(r.svc.addr, r.svc.port)}
	dst := lvs.Real{Addr: netip.AddrPortFrom(r.dest.addr, r.dest.port), Method: lvs.Method(r.dest.method), Weight: r.dest.weight}
	var err error
	switch r.cmd {
	case cmdList:
		switch {
		case r.has(optConnection):
			return c.listConns(ctx, r.format)
		case r.has(optService):
			return c.listService(ctx, key, r.format)
		}
		return c.listAll(ctx, r.format)
	case cmdFlush:
		err = c.d.Clear(ctx)
	case cmdAdd:
		err = c.d.AddService(ctx, lvs.Service{ServiceKey: key, Scheduler: r.svc.sched})
	case cmdEdit:
		err = c.d.EditService(ctx, lvs.Service{ServiceKey: key, Scheduler: r.svc.sched})
	case cmdDel:
		err = c.d.DeleteService(ctx, key)
	case cmdAddDest:
		err = c.d.AddReal(ctx, key, dst)
	case cmdEditDest:
		err = c.d.EditReal(ctx, key, dst)
	case cmdDelDest:
		err = c.d.DeleteReal(ctx, key, dst.Addr)
	default:
		// Unsupported commands were refused before getting here.
		fmt.Fprintf(c.stderr, "%s is not supported by golvs yet\n", r.cmd)
		return 2
	}
	if err != nil {
		if status, ok := c.unreachable(err); ok {
			return status
		}
		fmt.Fprintln(c.stderr, errorMessage(r.cmd, err))
		return 255
	}
	return 0
}

// unreachable prints ipvsadm's "Can't initialize ipvs" shape (exit status
// 2) when err says lvsd could not be reached, and reports whether it did.
func (c *cli) unreachable(err error) (int, bool) {
	switch {
	case errors.Is(err, fs.ErrPermission):
		// lvsd's socket is its owner's only; ipvsadm says the same to
		// non-root users.
		fmt.Fprintln(c.stderr, "Can't initialize ipvs: Permission denied (you must be root)")
		fmt.Fprintln(c.stderr, "Only the user lvsd runs as (root) may use its socket.")
	case errors.Is(err, api.ErrNotRunning):
		fmt.Fprintf(c.stderr, "Can't initialize ipvs: %v\n", err)
		fmt.Fprintln(c.stderr, "Are you sure that lvsd is running? Start it, or set GOLVS_SOCKET to the socket it listens on.")
	default:
		return 0, false
	}
	return 2, true
}

// Messages of ipvs_strerror (libipvs.c) that do not depend on the command.
const (
	msgInvalid = "Invalid operation.  Possibly wrong module version, address not unicast, ..."
	msgNoMem   = "Memory allocation problem"
	msgFamily  = "Operation not supported with specified address family"
)

// errorMessage is ipvs_strerror for the error lvsd gave a command: the
// command-specific message first, then the generic ones, then the C
// library's strerror of the errno the sentinel stands for.
func errorMessage(cmd command, err error) string {
	type row struct {
		cmd      command // cmdNone: any command
		sentinel error
		msg      string
	}
	table := []row{
		{cmdAdd, lvs.ErrServiceExists, "Service already exists"},
		{cmdAdd, lvs.ErrNoScheduler, "Scheduler or persistence engine not found"},
		{cmdEdit, lvs.ErrNoService, "No such service"},
		{cmdEdit, lvs.ErrNoScheduler, "Scheduler or persistence engine not found"},
		{cmdDel, lvs.ErrNoService, "No such service"},
		{cmdZero, lvs.ErrNoService, "No such service"},
		{cmdAddDest, lvs.ErrNoService, "Service not defined"},
		{cmdAddDest, lvs.ErrRealExists, "Destination already exists"},
		{cmdEditDest, lvs.ErrNoService, "Service not defined"},
		{cmdEditDest, lvs.ErrNoReal, "No such destination"},
		{cmdDelDest, lvs.ErrNoService, "Service not defined"},
		{cmdDelDest, lvs.ErrNoReal, "No such destination"},
		{cmdList, lvs.ErrNoService, "No such service"},
		{cmdNone, lvs.ErrInvalid, msgInvalid},
		{cmdNone, lvs.ErrTableFull, msgNoMem},
		{cmdNone, lvs.ErrFamily, msgFamily},
		// strerror(3) of the errno behind each remaining sentinel.
		{cmdNone, lvs.ErrRange, "Numerical result out of range"},   // ERANGE
		{cmdNone, lvs.ErrServiceExists, "File exists"},             // EEXIST
		{cmdNone, lvs.ErrRealExists, "File exists"},                // EEXIST
		{cmdNone, lvs.ErrNoService, "No such process"},             // ESRCH
		{cmdNone, lvs.ErrNoReal, "No such file or directory"},      // ENOENT
		{cmdNone, lvs.ErrNoScheduler, "No such file or directory"}, // ENOENT
	}
	for _, r := range table {
		if (r.cmd == cmdNone || r.cmd == cmd) && errors.Is(err, r.sentinel) {
			return r.msg
		}
	}
	return err.Error()
}

// newOut buffers standard output for a listing.
func (c *cli) newOut() *bufio.Writer { return bufio.NewWriter(c.stdout) }
