package ipvsadm

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golvs/internal/api"
	"golvs/internal/lvs"
)

// fakeDirector records the calls lvsadm makes and answers from its fields.
// Apply also carries out its batch on services, all or nothing, with the
// errors IPVS would give, so restores can be checked by listing.
type fakeDirector struct {
	calls    []string
	err      error            // returned by every call when set
	errs     map[string]error // by method name, when err is not set
	info     api.Info
	services []lvs.ServiceStatus
	conns    []lvs.Conn
	applied  [][]lvs.Change // every batch Apply was given
	// strict carries out every batch, as lvsd does; otherwise a batch of
	// one (a single command) is only recorded, so that a command can be
	// checked without the services it names.
	strict bool
}

func (f *fakeDirector) record(format string, args ...any) error {
	call := fmt.Sprintf(format, args...)
	f.calls = append(f.calls, call)
	if f.err != nil {
		return f.err
	}
	method, _, _ := strings.Cut(call, " ")
	return f.errs[method]
}

// describeService is a service as the fake records it: key and scheduler,
// then whatever else is not a default.
func describeService(s lvs.Service) string {
	d := fmt.Sprintf("%s %s", s.ServiceKey, s.Scheduler)
	if s.SchedFlags != 0 {
		d += fmt.Sprintf(" flags=%#x", uint32(s.SchedFlags))
	}
	if s.Persistent != 0 {
		d += fmt.Sprintf(" persistent=%v", s.Persistent)
	}
	if s.Netmask.IsValid() {
		d += fmt.Sprintf(" mask=%s", s.Netmask)
	}
	if s.OnePacket {
		d += " ops"
	}
	return d
}

// describeReal is a real server as the fake records it.
func describeReal(r lvs.Real) string {
	d := fmt.Sprintf("%s %s %d", r.Addr, r.Method, r.Weight)
	if r.UThreshold != 0 {
		d += fmt.Sprintf(" x=%d", r.UThreshold)
	}
	if r.LThreshold != 0 {
		d += fmt.Sprintf(" y=%d", r.LThreshold)
	}
	if r.TunType != 0 || r.TunPort != 0 || r.TunFlags != 0 {
		d += fmt.Sprintf(" tun=%s port=%d flags=%d", r.TunType, r.TunPort, r.TunFlags)
	}
	return d
}

// Apply records a batch as "Apply N" and carries it out, all or nothing;
// unless strict, a batch of one is recorded as the call it stands for
// ("AddReal ...") and answered from errs by that name.
func (f *fakeDirector) Apply(_ context.Context, changes []lvs.Change) error {
	f.applied = append(f.applied, changes)
	if len(changes) == 1 && !f.strict {
		if err := f.record("%s", describeChange(changes[0])); err != nil {
			return &lvs.ChangeError{Err: err}
		}
		return nil
	}
	if err := f.record("Apply %d", len(changes)); err != nil {
		return err
	}
	svcs, timeouts := cloneServices(f.services), f.info.Timeouts
	for i, ch := range changes {
		if err := applyChange(&svcs, &timeouts, ch); err != nil {
			return &lvs.ChangeError{Index: i, Err: err}
		}
	}
	f.services, f.info.Timeouts = svcs, timeouts
	return nil
}

// describeChange is a single change as the fake records it.
func describeChange(c lvs.Change) string {
	k := c.Service.ServiceKey
	switch c.Op {
	case lvs.OpAddService:
		return "AddService " + describeService(c.Service)
	case lvs.OpEditService:
		return "EditService " + describeService(c.Service)
	case lvs.OpDeleteService:
		return fmt.Sprintf("DeleteService %s", k)
	case lvs.OpClear:
		return "Clear"
	case lvs.OpAddReal:
		return fmt.Sprintf("AddReal %s %s", k, describeReal(c.Real))
	case lvs.OpEditReal:
		return fmt.Sprintf("EditReal %s %s", k, describeReal(c.Real))
	case lvs.OpDeleteReal:
		return fmt.Sprintf("DeleteReal %s %s", k, c.Real.Addr)
	case lvs.OpSetTimeouts:
		return fmt.Sprintf("SetTimeouts %v %v %v", c.Timeouts.TCP, c.Timeouts.TCPFin, c.Timeouts.UDP)
	case lvs.OpZero:
		if k == (lvs.ServiceKey{}) {
			return "Zero all"
		}
		return fmt.Sprintf("Zero %s", k)
	}
	return fmt.Sprintf("%s?", c.Op)
}

// applyChange is one change as IPVS makes it, with IPVS's errors.
func applyChange(svcs *[]lvs.ServiceStatus, t *lvs.Timeouts, ch lvs.Change) error {
	k := ch.Service.ServiceKey
	i := slices.IndexFunc(*svcs, func(s lvs.ServiceStatus) bool { return s.ServiceKey == k })
	var s *lvs.ServiceStatus
	if i >= 0 {
		s = &(*svcs)[i]
	}
	j := -1
	if s != nil {
		j = slices.IndexFunc(s.Reals, func(r lvs.RealStatus) bool { return r.Addr == ch.Real.Addr })
	}
	switch ch.Op {
	case lvs.OpAddService:
		if s != nil {
			return lvs.ErrServiceExists
		}
		*svcs = append(*svcs, lvs.ServiceStatus{Service: ch.Service})
		return nil
	case lvs.OpClear:
		*svcs = nil
		return nil
	case lvs.OpSetTimeouts:
		for _, p := range []struct{ dst, src *time.Duration }{{&t.TCP, &ch.Timeouts.TCP}, {&t.TCPFin, &ch.Timeouts.TCPFin}, {&t.UDP, &ch.Timeouts.UDP}} {
			if *p.src != 0 {
				*p.dst = *p.src
			}
		}
		return nil
	case lvs.OpZero:
		for n := range *svcs {
			if k == (lvs.ServiceKey{}) || n == i {
				zeroCounters(&(*svcs)[n])
			}
		}
		if k != (lvs.ServiceKey{}) && s == nil {
			return lvs.ErrNoService
		}
		return nil
	}
	if s == nil {
		return lvs.ErrNoService
	}
	switch ch.Op {
	case lvs.OpEditService:
		s.Service = ch.Service
	case lvs.OpDeleteService:
		*svcs = slices.Delete(*svcs, i, i+1)
	case lvs.OpAddReal:
		if j >= 0 {
			return lvs.ErrRealExists
		}
		// IPVS puts a new destination at the head of the list.
		s.Reals = slices.Insert(s.Reals, 0, lvs.RealStatus{Real: ch.Real})
	case lvs.OpEditReal:
		if j < 0 {
			return lvs.ErrNoReal
		}
		s.Reals[j].Real = ch.Real
	case lvs.OpDeleteReal:
		if j < 0 {
			return lvs.ErrNoReal
		}
		s.Reals = slices.Delete(s.Reals, j, j+1)
	default:
		return fmt.Errorf("%w: op %q", lvs.ErrInvalid, ch.Op)
	}
	return nil
}

func zeroCounters(s *lvs.ServiceStatus) {
	s.Stats, s.Rates = lvs.Stats{}, lvs.Rates{}
	for i := range s.Reals {
		s.Reals[i].Stats, s.Reals[i].Rates = lvs.Stats{}, lvs.Rates{}
	}
}

func cloneServices(in []lvs.ServiceStatus) []lvs.ServiceStatus {
	if in == nil {
		return nil
	}
	out := make([]lvs.ServiceStatus, len(in))
	for i, s := range in {
		s.Reals = slices.Clone(s.Reals)
		out[i] = s
	}
	return out
}

func (f *fakeDirector) Services(context.Context) ([]lvs.ServiceStatus, error) {
	if err := f.record("Services"); err != nil {
		return nil, err
	}
	// Hand out a copy, as the real client does, so sorting cannot leak.
	out := cloneServices(f.services)
	if out == nil {
		out = []lvs.ServiceStatus{}
	}
	return out, nil
}

func (f *fakeDirector) Conns(context.Context) ([]lvs.Conn, error) {
	return f.conns, f.record("Conns")
}

func (f *fakeDirector) Info(context.Context) (api.Info, error) {
	return f.info, f.record("Info")
}

// Timeouts and ConnTableSize make the fake an api.Director too, for the
// tests that serve it over the API; lvsd answers Info from them.
func (f *fakeDirector) Timeouts(context.Context) (lvs.Timeouts, error) {
	return f.info.Timeouts, f.record("Info")
}

func (f *fakeDirector) ConnTableSize() int { return f.info.ConnTableSize }

// fakeNames resolves from fixed tables and testdata/services, so tests
// neither use nor depend on the host's DNS and /etc/services.
type fakeNames struct {
	addrs map[string]netip.Addr
	hosts map[netip.Addr]string
	db    *serviceDB
}

// testServices is testdata/services, parsed once (fuzzing makes many runs).
var testServices = sync.OnceValues(func() (*serviceDB, error) {
	f, err := os.Open(filepath.Join("testdata", "services"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseServices(f), nil
})

func newFakeNames(t testing.TB) *fakeNames {
	t.Helper()
	db, err := testServices()
	if err != nil {
		t.Fatal(err)
	}
	return &fakeNames{
		addrs: map[string]netip.Addr{
			"www.example.net":       netip.MustParseAddr("198.18.0.10"),
			"backend-1.example.net": netip.MustParseAddr("198.18.1.1"),
		},
		hosts: map[netip.Addr]string{
			netip.MustParseAddr("198.18.0.10"):  "www.example.net",
			netip.MustParseAddr("198.18.1.1"):   "backend-1.example.net",
			netip.MustParseAddr("198.18.1.2"):   "a-very-long-backend-host-name.rack7.dc1.example.net",
			netip.MustParseAddr("198.19.0.200"): "mail-gateway-with-a-long-name.example.net",
			netip.MustParseAddr("2001:db8::1"):  "v6.example.net",
		},
		db: db,
	}
}

func (n *fakeNames) hostAddr(name string) (netip.Addr, bool) {
	a, ok := n.addrs[name]
	return a, ok
}

func (n *fakeNames) hostName(a netip.Addr) (string, bool) {
	h, ok := n.hosts[a]
	return h, ok
}

func (n *fakeNames) port(name, proto string) (uint16, bool) { return n.db.port(name, proto) }

func (n *fakeNames) service(port uint16, proto string) (string, bool) {
	return n.db.service(port, proto)
}

// result is what a user sees of one run.
type result struct {
	Stdout string
	Stderr string
	Status int
}

// runLvsadm runs lvsadm (argv[0] "lvsadm") against d with fake names.
func runLvsadm(t testing.TB, d Director, args ...string) result {
	t.Helper()
	return runArgv(t, d, append([]string{"lvsadm"}, args...))
}

// runArgv runs lvsadm with a whole argv against d with fake names.
func runArgv(t testing.TB, d Director, argv []string) result {
	t.Helper()
	return runStdin(t, d, "", argv)
}

// runStdin runs lvsadm with a whole argv and standard input against d with
// fake names.
func runStdin(t testing.TB, d Director, stdin string, argv []string) result {
	t.Helper()
	var out, errb bytes.Buffer
	c := &cli{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, d: d, names: newFakeNames(t)}
	status := c.run(argv)
	return result{Stdout: out.String(), Stderr: errb.String(), Status: status}
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
