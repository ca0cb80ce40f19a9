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
	"time"

	"golvs/internal/api"
	"golvs/internal/lvs"
)

// callTimeout bounds a whole run's conversation with lvsd, so a hung daemon
// does not hang scripts.
const callTimeout = 30 * time.Second

// Director is lvsd as lvsadm sees it; *api.Client implements it, tests
// use a fake. Every change is an Apply: one command is a batch of one.
type Director interface {
	Apply(ctx context.Context, changes []lvs.Change) error
	Services(ctx context.Context) ([]lvs.ServiceStatus, error)
	Conns(ctx context.Context) ([]lvs.Conn, error)
	Info(ctx context.Context) (api.Info, error)
}

// Main runs lvsadm with args (args[0] is the program name) against the lvsd
// at $GOLVS_SOCKET and returns the exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	socket := os.Getenv("GOLVS_SOCKET")
	if socket == "" {
		socket = api.DefaultSocket
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
	if status, ok := c.extension(ctx, args); ok {
		return status
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
	if err := r.refusal(args[0]); err != nil {
		return c.exit(err)
	}
	return c.do(ctx, r, args[0])
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

// do carries out a checked request; prog is argv[0].
func (c *cli) do(ctx context.Context, r *request, prog string) int {
	switch r.cmd {
	case cmdList:
		switch {
		case r.has(optConnection):
			return c.listConns(ctx, r.format)
		case r.has(optService):
			return c.listService(ctx, r.serviceKey(), r.format)
		case r.has(optTimeout):
			return c.listTimeout(ctx)
		}
		return c.listAll(ctx, r.format)
	case cmdSave:
		return c.listAll(ctx, r.format|fmtRule)
	case cmdRestore:
		return c.restore(ctx, prog)
	}
	ch, ok := r.change()
	if !ok {
		// Refused before getting here (the sync daemon commands).
		fmt.Fprintf(c.stderr, "%s is not supported by golvs\n", r.cmd)
		return 2
	}
	if err := c.send(ctx, ch); err != nil {
		if status, ok := c.unreachable(err); ok {
			return status
		}
		fmt.Fprintln(c.stderr, errorMessage(r.cmd, err))
		return 255
	}
	return 0
}

// send makes change ch, a batch of one, and returns its error unwrapped.
func (c *cli) send(ctx context.Context, ch lvs.Change) error {
	err := c.d.Apply(ctx, []lvs.Change{ch})
	if ce, ok := errors.AsType[*lvs.ChangeError](err); ok {
		return ce.Err
	}
	return err
}

// serviceKey is the service a request names (-t/-u).
func (r *request) serviceKey() lvs.ServiceKey {
	return lvs.ServiceKey{Protocol: lvs.Protocol(r.svc.protocol), Addr: netip.AddrPortFrom(r.svc.addr, r.svc.port)}
}

// service is the whole virtual service -A and -E send: like ipvsadm, every
// option left out takes its default, so -E resets it.
func (r *request) service() lvs.Service {
	s := lvs.Service{
		ServiceKey: r.serviceKey(),
		Scheduler:  r.svc.sched,
		SchedFlags: r.svc.schedFlags,
		OnePacket:  r.svc.onePacket,
	}
	if r.svc.persistent {
		s.Persistent = time.Duration(r.svc.timeout) * time.Second
	}
	// The kernel keeps -M even for a service that is not persistent, so it
	// is sent as given; the default (/32, /128) is the zero Addr.
	if r.svc.af == afInet6 {
		if r.svc.netmask != 128 {
			s.Netmask = lvs.Netmask6(int(r.svc.netmask))
		}
	} else if r.svc.netmask != 0xffffffff {
		m := r.svc.netmask
		s.Netmask = netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)})
	}
	return s
}

// real is the real server -a, -e and -d name; as with -E, -e sends every
// field, defaults included (IP-in-IP without checksum for the tunnel,
// which ipvsadm sends for every method).
func (r *request) real() lvs.Real {
	return lvs.Real{
		Addr:       netip.AddrPortFrom(r.dest.addr, r.dest.port),
		Method:     lvs.Method(r.dest.method),
		Weight:     r.dest.weight,
		UThreshold: uint32(r.dest.uThresh),
		LThreshold: uint32(r.dest.lThresh),
		TunType:    lvs.TunnelType(r.dest.tunType),
		TunPort:    uint16(r.dest.tunPort),
		TunFlags:   lvs.TunnelFlags(r.dest.tunFlags),
	}
}

// change is the change to the table a request asks for; ok is false for
// commands that change nothing in it (listings, -S, -R, the daemons).
func (r *request) change() (ch lvs.Change, ok bool) {
	key := lvs.Service{ServiceKey: r.serviceKey()}
	switch r.cmd {
	case cmdAdd:
		return lvs.Change{Op: lvs.OpAddService, Service: r.service()}, true
	case cmdEdit:
		return lvs.Change{Op: lvs.OpEditService, Service: r.service()}, true
	case cmdDel:
		return lvs.Change{Op: lvs.OpDeleteService, Service: key}, true
	case cmdFlush:
		return lvs.Change{Op: lvs.OpClear}, true
	case cmdAddDest:
		return lvs.Change{Op: lvs.OpAddReal, Service: key, Real: r.real()}, true
	case cmdEditDest:
		return lvs.Change{Op: lvs.OpEditReal, Service: key, Real: r.real()}, true
	case cmdDelDest:
		return lvs.Change{Op: lvs.OpDeleteReal, Service: key, Real: lvs.Real{Addr: r.real().Addr}}, true
	case cmdTimeout:
		return lvs.Change{Op: lvs.OpSetTimeouts, Timeouts: lvs.Timeouts{
			TCP:    time.Duration(r.timeouts[0]) * time.Second,
			TCPFin: time.Duration(r.timeouts[1]) * time.Second,
			UDP:    time.Duration(r.timeouts[2]) * time.Second,
		}}, true
	case cmdZero:
		// libipvs's ipvs_zero_service zeroes every service unless it is
		// given a mark, an address other than the any address, or a port:
		// -Z alone, and also -Z -t 0.0.0.0:0.
		if !r.svc.addr.IsValid() || r.svc.addr.IsUnspecified() && r.svc.port == 0 {
			return lvs.Change{Op: lvs.OpZero}, true
		}
		return lvs.Change{Op: lvs.OpZero, Service: key}, true
	}
	return lvs.Change{}, false
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
