package ipvsadm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"golvs/internal/api"
	"golvs/internal/golden"
	"golvs/internal/lvs"
)

func realStatus(addr string, m lvs.Method, weight int, active, inact uint32, st lvs.Stats) lvs.RealStatus {
	return lvs.RealStatus{
		Real:        lvs.Real{Addr: ap(addr), Method: m, Weight: weight},
		ActiveConns: active, InActConns: inact, Stats: st,
	}
}

func svc(p lvs.Protocol, addr, sched string, st lvs.Stats, reals ...lvs.RealStatus) lvs.ServiceStatus {
	return lvs.ServiceStatus{
		Service: lvs.Service{ServiceKey: lvs.ServiceKey{Protocol: p, Addr: ap(addr)}, Scheduler: sched},
		Stats:   st,
		Reals:   reals,
	}
}

// testDirector is a director with a busy table: services in the order they
// were added, reals newest first, counters in every unit print_largenum
// has, names long enough to be cut.
func testDirector() *fakeDirector {
	return &fakeDirector{
		info: api.Info{Version: "0.1.0", ConnTableSize: 4096, Timeouts: lvs.DefaultTimeouts},
		services: []lvs.ServiceStatus{
			svc(lvs.TCP, "198.18.0.10:80", "rr",
				lvs.Stats{Conns: 14209, InPkts: 111769, OutPkts: 74613, InBytes: 7207174, OutBytes: 123456789012},
				realStatus("198.18.1.2:8080", lvs.Masq, 3, 0, 0, lvs.Stats{}),
				realStatus("198.18.1.1:80", lvs.Masq, 1, 12, 40, lvs.Stats{Conns: 2, InPkts: 12, OutPkts: 8, InBytes: 774, OutBytes: 894}),
			),
			svc(lvs.UDP, "198.18.0.53:53", "rr",
				lvs.Stats{Conns: 7, InPkts: 99999999, OutPkts: 100000000, InBytes: 999999999, OutBytes: 1000000000},
				realStatus("198.18.1.3:53", lvs.Route, 1, 0, 7, lvs.Stats{Conns: 7, InPkts: 99999999, OutPkts: 0, InBytes: 999999999, OutBytes: 0}),
			),
			svc(lvs.TCP, "198.18.0.10:443", "wlc",
				lvs.Stats{Conns: 123456789, InPkts: 12345678901, OutPkts: 99999999999, InBytes: 123456789012345, OutBytes: 18446744073709551615},
				realStatus("198.18.1.10:443", lvs.Route, 0, 1, 2, lvs.Stats{Conns: 100000000000000, InPkts: 99999999999999}),
				realStatus("198.18.1.1:443", lvs.Route, 65535, 4294967295, 0, lvs.Stats{Conns: 123456789, InBytes: 123456789012345}),
			),
			svc(lvs.TCP, "[2001:db8::80]:80", "rr", lvs.Stats{Conns: 3},
				realStatus("[2001:db8::a0a0]:8080", lvs.Masq, 1, 0, 0, lvs.Stats{}),
				realStatus("[2001:db8:1::a]:80", lvs.Masq, 2, 1, 0, lvs.Stats{Conns: 1}),
				realStatus("[2001:db8:ffff::a]:80", lvs.Masq, 3, 2, 0, lvs.Stats{Conns: 2}),
			),
			svc(lvs.TCP, "198.19.0.200:25", "wlc", lvs.Stats{},
				realStatus("198.19.0.201:25", lvs.Route, 1, 0, 0, lvs.Stats{}),
			),
			svc(lvs.TCP, "198.18.0.10:8080", "wrr", lvs.Stats{}),
			svc(lvs.UDP, "[2001:db8::1]:53", "wlc", lvs.Stats{},
				realStatus("[2001:db8::53]:53", lvs.Masq, 1, 0, 0, lvs.Stats{}),
			),
		},
		conns: []lvs.Conn{
			{Protocol: lvs.TCP, Client: ap("198.18.200.5:51234"), Virtual: ap("198.18.0.10:80"), Real: ap("198.18.1.1:80"), State: "ESTABLISHED", Expires: 899*time.Second + 700*time.Millisecond},
			{Protocol: lvs.TCP, Client: ap("198.18.200.5:51236"), Virtual: ap("198.18.0.10:80"), Real: ap("198.18.1.2:8080"), State: "FIN_WAIT", Expires: 118 * time.Second},
			{Protocol: lvs.UDP, Client: ap("198.18.200.7:40000"), Virtual: ap("198.18.0.53:53"), Real: ap("198.18.1.3:53"), State: "UDP", Expires: 299 * time.Second},
			{Protocol: lvs.TCP, Client: ap("198.18.200.9:1024"), Virtual: ap("198.18.0.10:443"), Real: ap("198.18.1.1:443"), State: "SYN_RECV", Expires: 86399 * time.Second},
			{Protocol: lvs.TCP, Client: ap("[2001:db8:c::5]:40000"), Virtual: ap("[2001:db8::80]:80"), Real: ap("[2001:db8::a0a0]:8080"), State: "TIME_WAIT", Expires: 500 * time.Millisecond},
		},
	}
}

func TestListingGolden(t *testing.T) {
	tests := []struct {
		golden string
		argv   []string
	}{
		{"list-numeric", []string{"lvsadm", "-Ln"}},
		{"list-names", []string{"lvsadm", "-L"}},
		{"list-stats", []string{"lvsadm", "-L", "-n", "--stats"}},
		{"list-stats-exact", []string{"lvsadm", "-Ln", "--stats", "--exact"}},
		{"list-stats-names", []string{"lvsadm", "--list", "--stats", "-X"}},
		{"list-nosort", []string{"lvsadm", "-Ln", "--nosort"}},
		{"list-service", []string{"lvsadm", "-Ln", "-t", "198.18.0.10:80"}},
		{"list-conns", []string{"lvsadm", "-Lnc"}},
		{"list-conns-names", []string{"lvsadm", "-lc"}},
		{"help", []string{"/usr/sbin/lvsadm", "-h"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			got := runArgv(t, testDirector(), tt.argv)
			if got.Status != 0 || got.Stderr != "" {
				t.Fatalf("%q: status %d, stderr %q", tt.argv, got.Status, got.Stderr)
			}
			golden.Check(t, "testdata/"+tt.golden+".golden", got.Stdout)
		})
	}
}

// TestListingDefaults checks that no arguments at all, -l and --sort list
// like -L.
func TestListingDefaults(t *testing.T) {
	want := runLvsadm(t, testDirector(), "-L")
	for _, args := range [][]string{nil, {"-l"}, {"-L", "--sort"}, {"--list"}} {
		got := runLvsadm(t, testDirector(), args...)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("lvsadm %q differs from lvsadm -L (-want +got):\n%s", args, diff)
		}
	}
}

func TestListingEmpty(t *testing.T) {
	d := &fakeDirector{info: api.Info{ConnTableSize: 65536}}
	got := runLvsadm(t, d, "-Ln")
	want := result{Stdout: "IP Virtual Server version 1.2.1 (size=65536)\n" +
		"Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("-Ln on an empty table (-want +got):\n%s", diff)
	}
}

func TestLargenum(t *testing.T) {
	tests := []struct {
		n            uint64
		scaled, full string
	}{
		{0, "        0", "        0"},
		{99999999, " 99999999", " 99999999"},
		{100000000, "  100000K", " 100000000"},
		{999999999, "  999999K", " 999999999"},
		{1000000000, "    1000M", " 1000000000"},
		{99999999999, "   99999M", " 99999999999"},
		{100000000000, "     100G", " 100000000000"},
		{123456789012, "     123G", " 123456789012"},
		{99999999999999, "   99999G", " 99999999999999"},
		{100000000000000, "     100T", " 100000000000000"},
		{18446744073709551615, "18446744T", " 18446744073709551615"},
	}
	for _, tt := range tests {
		if got := largenum(tt.n, 0); got != tt.scaled {
			t.Errorf("largenum(%d) = %q, want %q", tt.n, got, tt.scaled)
		}
		if got := largenum(tt.n, fmtExact); got != tt.full {
			t.Errorf("largenum(%d, exact) = %q, want %q", tt.n, got, tt.full)
		}
	}
}

// TestSortQuirk pins libipvs's comparison by uint32 subtraction: words
// that differ by 2^31 or more compare the wrong way round.
func TestSortQuirk(t *testing.T) {
	a := svc(lvs.TCP, "[2001:db8:ffff::1]:80", "rr", lvs.Stats{})
	b := svc(lvs.TCP, "[2001:db8:1::1]:80", "rr", lvs.Stats{})
	c := svc(lvs.TCP, "[2001:db8:1::2]:80", "rr", lvs.Stats{})
	if cmpServices(&a, &b) >= 0 {
		t.Errorf("2001:db8:ffff::1 should sort before 2001:db8:1::1, as in ipvsadm")
	}
	if cmpServices(&b, &c) >= 0 {
		t.Errorf("2001:db8:1::1 should sort before 2001:db8:1::2")
	}
	v4 := svc(lvs.UDP, "198.18.0.1:80", "rr", lvs.Stats{})
	if cmpServices(&v4, &a) >= 0 {
		t.Errorf("IPv4 services should sort before IPv6 ones")
	}
	tcp := svc(lvs.TCP, "198.19.255.255:80", "rr", lvs.Stats{})
	if cmpServices(&tcp, &v4) >= 0 {
		t.Errorf("TCP services should sort before UDP ones")
	}
}

// TestMergeSortStable checks the merge sort against the standard library
// where the comparison is a proper order.
func TestMergeSortStable(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		type item struct{ key, seq int }
		s := make([]item, r.IntN(40))
		for i := range s {
			s[i] = item{r.IntN(8), i}
		}
		want := slices.Clone(s)
		slices.SortStableFunc(want, func(a, b item) int { return a.key - b.key })
		mergeSort(s, func(a, b *item) int { return a.key - b.key })
		if diff := cmp.Diff(want, s, cmp.AllowUnexported(item{})); diff != "" {
			t.Fatalf("mergeSort (-want +got):\n%s", diff)
		}
	}
}

// TestErrorMessages checks ipvs_strerror's per-command messages for each
// error lvsd can give.
func TestErrorMessages(t *testing.T) {
	const (
		vip  = "198.18.0.10:80"
		rip  = " -r 198.18.1.1"
		add  = "-A -t " + vip
		edit = "-E -t " + vip
	)
	tests := []struct {
		args   string
		err    error
		stderr string
	}{
		{add, lvs.ErrServiceExists, "Service already exists"},
		{add, lvs.ErrNoScheduler, "Scheduler or persistence engine not found"},
		{add + " -s twos", fmt.Errorf("%w: %q", lvs.ErrNoScheduler, "twos"), "Scheduler or persistence engine not found"},
		{add, lvs.ErrFamily, "Operation not supported with specified address family"},
		{add, lvs.ErrTableFull, "Memory allocation problem"},
		{add, lvs.ErrInvalid, "Invalid operation.  Possibly wrong module version, address not unicast, ..."},
		{add, lvs.ErrNoReal, "No such file or directory"},
		{edit, lvs.ErrNoService, "No such service"},
		{edit, lvs.ErrNoScheduler, "Scheduler or persistence engine not found"},
		{"-D -t " + vip, lvs.ErrNoService, "No such service"},
		{"-a -t " + vip + rip, lvs.ErrNoService, "Service not defined"},
		{"-a -t " + vip + rip, lvs.ErrRealExists, "Destination already exists"},
		{"-a -t " + vip + rip, fmt.Errorf("%w: weight", lvs.ErrRange), "Numerical result out of range"},
		{"-a -t " + vip + rip, lvs.ErrInvalid, "Invalid operation.  Possibly wrong module version, address not unicast, ..."},
		{"-e -t " + vip + rip, lvs.ErrNoService, "Service not defined"},
		{"-e -t " + vip + rip, lvs.ErrNoReal, "No such destination"},
		{"-d -t " + vip + rip, lvs.ErrNoService, "Service not defined"},
		{"-d -t " + vip + rip, lvs.ErrNoReal, "No such destination"},
		{"-d -t " + vip + rip, lvs.ErrRealExists, "File exists"},
		{"-C", errors.New("lvsd: reconcile failed"), "lvsd: reconcile failed"},
	}
	for _, tt := range tests {
		t.Run(tt.args+" "+tt.err.Error(), func(t *testing.T) {
			got := runLvsadm(t, &fakeDirector{err: tt.err}, argv(tt.args)...)
			want := result{Stderr: tt.stderr + "\n", Status: 255}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("lvsadm %s (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

func TestListingErrors(t *testing.T) {
	boom := errors.New("lvsd: internal error")
	tests := []struct {
		name string
		args string
		errs map[string]error
		want result
	}{
		{"missing service", "-Ln -t 198.18.0.99:80", nil, result{Stderr: "No such service\n", Status: 1}},
		{"services fail after the version line", "-Ln", map[string]error{"Services": boom},
			result{Stdout: "IP Virtual Server version 1.2.1 (size=4096)\n", Stderr: "lvsd: internal error\n", Status: 1}},
		{"info fails", "-Ln", map[string]error{"Info": boom}, result{Stderr: "lvsd: internal error\n", Status: 1}},
		{"conns fail", "-Lnc", map[string]error{"Conns": boom}, result{Stderr: "lvsd: internal error\n", Status: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testDirector()
			d.errs = tt.errs
			got := runLvsadm(t, d, argv(tt.args)...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("lvsadm %s (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

// TestNotRunning checks the message when lvsd cannot be reached, through
// the real client.
func TestNotRunning(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "lvsd.sock")
	t.Setenv("GOLVS_SOCKET", socket)
	want := "Can't initialize ipvs: lvsd is not running (cannot connect to " + socket + ": connect: no such file or directory)\n" +
		"Are you sure that lvsd is running? Start it, or set GOLVS_SOCKET to the socket it listens on.\n"
	for _, args := range [][]string{nil, {"-Ln"}, {"-Lnc"}, {"-Ln", "-t", "198.18.0.10:80"}, {"-A", "-t", "198.18.0.10:80"}, {"-C"}, {"-d", "-t", "198.18.0.10:80", "-r", "198.18.1.1"}} {
		var out, errb bytes.Buffer
		status := Main(append([]string{"lvsadm"}, args...), strings.NewReader(""), &out, &errb)
		got := result{Stdout: out.String(), Stderr: errb.String(), Status: status}
		if diff := cmp.Diff(result{Stderr: want, Status: 2}, got); diff != "" {
			t.Errorf("lvsadm %q (-want +got):\n%s", args, diff)
		}
	}
	// Usage errors and help need no daemon.
	var out, errb bytes.Buffer
	if status := Main([]string{"lvsadm", "-v"}, strings.NewReader(""), &out, &errb); status != 0 || errb.Len() != 0 {
		t.Errorf("lvsadm -v without lvsd: status %d, stderr %q", status, errb.String())
	}
}

func TestParseServices(t *testing.T) {
	db := parseServices(strings.NewReader("http 80/tcp www # web\nhttp 8080/tcp\nalt 80/tcp\ndomain 53/udp\nbroken\nbad 99999/tcp\n"))
	for _, tt := range []struct {
		name, proto string
		want        uint16
		ok          bool
	}{
		{"http", "tcp", 80, true}, {"www", "tcp", 80, true}, {"alt", "tcp", 80, true},
		{"domain", "udp", 53, true}, {"domain", "tcp", 0, false}, {"bad", "tcp", 0, false},
	} {
		if got, ok := db.port(tt.name, tt.proto); got != tt.want || ok != tt.ok {
			t.Errorf("port(%s/%s) = %d, %v; want %d, %v", tt.name, tt.proto, got, ok, tt.want, tt.ok)
		}
	}
	if got, _ := db.service(80, "tcp"); got != "http" {
		t.Errorf("service(80/tcp) = %q, want the first entry, http", got)
	}
	if _, ok := db.service(80, "udp"); ok {
		t.Errorf("service(80/udp) found, want none")
	}
}

func TestAddrPortNames(t *testing.T) {
	c := &cli{names: newFakeNames(t)}
	tests := []struct {
		addr   string
		proto  lvs.Protocol
		format int
		want   string
	}{
		{"198.18.0.10:80", lvs.TCP, 0, "www.example.net:http"},
		{"198.18.0.10:80", lvs.UDP, 0, "www.example.net:80"},
		{"198.18.0.10:80", lvs.TCP, fmtNumeric, "198.18.0.10:80"},
		{"198.18.9.9:53", lvs.UDP, 0, "198.18.9.9:domain"},
		{"[2001:db8::1]:443", lvs.TCP, 0, "[v6.example.net]:https"},
		{"[2001:db8::1]:443", lvs.TCP, fmtNumeric, "[2001:db8::1]:443"},
		{"[2001:db8:1234:5678:9abc:def0:1234:5678]:65535", lvs.TCP, fmtNumeric, "[2001:db8:1234:5678:9abc:def0:1234:5678]:65535"},
	}
	for _, tt := range tests {
		if got := c.addrPort(netip.MustParseAddrPort(tt.addr), tt.proto, tt.format); got != tt.want {
			t.Errorf("addrPort(%s, %s, %d) = %q, want %q", tt.addr, tt.proto, tt.format, got, tt.want)
		}
	}
}

// TestPermissionDenied checks ipvsadm's message for a user who may not use
// lvsd's socket, should the client report why it could not connect.
func TestPermissionDenied(t *testing.T) {
	err := fmt.Errorf("%w (cannot connect to /run/golvs/lvsd.sock: %w)", api.ErrNotRunning, syscall.EACCES)
	want := result{
		Stderr: "Can't initialize ipvs: Permission denied (you must be root)\n" +
			"Only the user lvsd runs as (root) may use its socket.\n",
		Status: 2,
	}
	for _, args := range [][]string{{"-Ln"}, {"-C"}} {
		got := runLvsadm(t, &fakeDirector{err: err}, args...)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("lvsadm %q (-want +got):\n%s", args, diff)
		}
	}
}

// TestRealLineMatchesPrintf checks the hand-written columns of a real's
// line of the default listing against the printf format they replace,
// for names shorter and longer than their columns and names of several
// bytes a rune (fmt pads by runes).
func TestRealLineMatchesPrintf(t *testing.T) {
	names := []string{"", "198.19.0.1:80", "[2001:db8::1]:8080", "a-very-long-host-name.example:http-alt", "hôte-é:80", "ünïcödé-ñame-that-is-long.example:80"}
	nums := []int64{0, 1, 65535, 123456, 4294967295}
	for _, name := range names {
		for _, n := range nums {
			var got bytes.Buffer
			w := bufio.NewWriter(&got)
			padRight(w, name, 28)
			w.WriteByte('|')
			padInt(w, n, 6)
			w.WriteByte('|')
			padInt(w, n, 10)
			w.Flush()
			want := fmt.Sprintf("%-28s|%-6d|%-10d", name, n, n)
			if got.String() != want {
				t.Errorf("name %q, number %d:\n got %q\nwant %q", name, n, got.String(), want)
			}
		}
	}
}
