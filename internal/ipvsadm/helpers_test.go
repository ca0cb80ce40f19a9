package ipvsadm

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"golvs/internal/api"
	"golvs/internal/lvs"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// fakeDirector records the calls lvsadm makes and answers from its fields.
type fakeDirector struct {
	calls    []string
	err      error            // returned by every call when set
	errs     map[string]error // by method name, when err is not set
	info     api.Info
	services []lvs.ServiceStatus
	conns    []lvs.Conn
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

func (f *fakeDirector) AddService(_ context.Context, s lvs.Service) error {
	return f.record("AddService %s %s", s.ServiceKey, s.Scheduler)
}

func (f *fakeDirector) EditService(_ context.Context, s lvs.Service) error {
	return f.record("EditService %s %s", s.ServiceKey, s.Scheduler)
}

func (f *fakeDirector) DeleteService(_ context.Context, k lvs.ServiceKey) error {
	return f.record("DeleteService %s", k)
}

func (f *fakeDirector) Clear(context.Context) error { return f.record("Clear") }

func (f *fakeDirector) AddReal(_ context.Context, k lvs.ServiceKey, r lvs.Real) error {
	return f.record("AddReal %s %s %s %d", k, r.Addr, r.Method, r.Weight)
}

func (f *fakeDirector) EditReal(_ context.Context, k lvs.ServiceKey, r lvs.Real) error {
	return f.record("EditReal %s %s %s %d", k, r.Addr, r.Method, r.Weight)
}

func (f *fakeDirector) DeleteReal(_ context.Context, k lvs.ServiceKey, a netip.AddrPort) error {
	return f.record("DeleteReal %s %s", k, a)
}

func (f *fakeDirector) Services(context.Context) ([]lvs.ServiceStatus, error) {
	if err := f.record("Services"); err != nil {
		return nil, err
	}
	// Hand out a copy, as the real client does, so sorting cannot leak.
	out := make([]lvs.ServiceStatus, len(f.services))
	for i, s := range f.services {
		s.Reals = append([]lvs.RealStatus(nil), s.Reals...)
		out[i] = s
	}
	return out, nil
}

func (f *fakeDirector) Conns(context.Context) ([]lvs.Conn, error) {
	return f.conns, f.record("Conns")
}

func (f *fakeDirector) Info(context.Context) (api.Info, error) {
	return f.info, f.record("Info")
}

// fakeNames resolves from fixed tables and testdata/services, so tests
// neither use nor depend on the host's DNS and /etc/services.
type fakeNames struct {
	addrs map[string]netip.Addr
	hosts map[netip.Addr]string
	db    *serviceDB
}

func newFakeNames(t testing.TB) *fakeNames {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "services"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
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
		db: parseServices(f),
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
	var out, errb bytes.Buffer
	c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, d: d, names: newFakeNames(t)}
	status := c.run(argv)
	return result{Stdout: out.String(), Stderr: errb.String(), Status: status}
}

// checkGolden compares got with testdata/name.golden, or rewrites it with
// -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/ipvsadm -update to create it)", err)
	}
	if diff := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(got, "\n")); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
