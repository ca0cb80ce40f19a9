package ipvsadm

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"golvs/internal/api"
	"golvs/internal/lvs"
)

func key(p lvs.Protocol, addr string) lvs.Service {
	return lvs.Service{ServiceKey: lvs.ServiceKey{Protocol: p, Addr: ap(addr)}}
}

// TestRestoreSendsOneBatch checks that a good script becomes exactly the
// right changes, sent in one Apply call and nothing else.
func TestRestoreSendsOneBatch(t *testing.T) {
	script := "" +
		"-C\n" +
		"ipvsadm -A -t 198.18.0.10:443 -s wlc -p 360 -M 255.255.255.0\n" +
		"\n" +
		"  \t\n" +
		"-a -t 198.18.0.10:443 -r 198.18.1.1:443 -g -w 1 -x 100 -y 50\r\n" +
		"ipvsadm\n" +
		"-a\t-t 198.18.0.10:443   -r backend-1.example.net -m ipvsadm -w 3\n" +
		"-A -u 198.18.0.53:domain -s rr -o\n" +
		"-A -t 198.18.0.10:80 -s sh -b sh-fallback,sh-port\n" +
		"-E -t 198.18.0.10:80 -s mh -b mh-port -p\n" +
		"-e -t 198.18.0.10:443 -r 198.18.1.1 -w 0\n" +
		"-d -t 198.18.0.10:443 -r 198.18.1.1:8080\n" +
		"-D -u 198.18.0.53:53\n" +
		"--set 900 0 300\n" +
		"-Z\n" +
		"-Z -t www.example.net:https\n" +
		"-A -t [2001:db8::1]:443 -p 60 -M 48"
	mask := netip.MustParseAddr
	svc := func(s lvs.Service, f func(*lvs.Service)) lvs.Service { f(&s); return s }
	web := key(lvs.TCP, "198.18.0.10:443")
	want := []lvs.Change{
		{Op: lvs.OpClear},
		{Op: lvs.OpAddService, Service: svc(web, func(s *lvs.Service) {
			s.Scheduler, s.Persistent, s.Netmask = "wlc", 360*time.Second, mask("255.255.255.0")
		})},
		{Op: lvs.OpAddReal, Service: web, Real: lvs.Real{Addr: ap("198.18.1.1:443"), Method: lvs.Route, Weight: 1, UThreshold: 100, LThreshold: 50}},
		{Op: lvs.OpAddReal, Service: web, Real: lvs.Real{Addr: ap("198.18.1.1:443"), Method: lvs.Masq, Weight: 3}},
		{Op: lvs.OpAddService, Service: svc(key(lvs.UDP, "198.18.0.53:53"), func(s *lvs.Service) { s.Scheduler, s.OnePacket = "rr", true })},
		{Op: lvs.OpAddService, Service: svc(key(lvs.TCP, "198.18.0.10:80"), func(s *lvs.Service) {
			s.Scheduler, s.SchedFlags = "sh", lvs.SchedFlag1|lvs.SchedFlag2
		})},
		{Op: lvs.OpEditService, Service: svc(key(lvs.TCP, "198.18.0.10:80"), func(s *lvs.Service) {
			s.Scheduler, s.SchedFlags, s.Persistent = "mh", lvs.SchedFlag2, 360*time.Second
		})},
		{Op: lvs.OpEditReal, Service: web, Real: lvs.Real{Addr: ap("198.18.1.1:443"), Method: lvs.Route, Weight: 0}},
		// -d keeps the port given: ipvsadm forces the service port for
		// DR only on -a and -e.
		{Op: lvs.OpDeleteReal, Service: web, Real: lvs.Real{Addr: ap("198.18.1.1:8080")}},
		{Op: lvs.OpDeleteService, Service: key(lvs.UDP, "198.18.0.53:53")},
		{Op: lvs.OpSetTimeouts, Timeouts: lvs.Timeouts{TCP: 900 * time.Second, UDP: 300 * time.Second}},
		{Op: lvs.OpZero},
		{Op: lvs.OpZero, Service: web},
		{Op: lvs.OpAddService, Service: svc(key(lvs.TCP, "[2001:db8::1]:443"), func(s *lvs.Service) {
			s.Scheduler, s.Persistent, s.Netmask = "wlc", time.Minute, mask("ffff:ffff:ffff::")
		})},
	}
	d := &fakeDirector{}
	got := runStdin(t, &recordOnly{d}, script, []string{"lvsadm", "-R"})
	if diff := cmp.Diff(result{}, got); diff != "" {
		t.Fatalf("lvsadm -R (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{fmt.Sprintf("Apply %d", len(want))}, d.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]lvs.Change{want}, d.applied, cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

// recordOnly is a fakeDirector whose Apply only records, so a script need
// not make sense as a whole.
type recordOnly struct{ *fakeDirector }

func (r *recordOnly) Apply(_ context.Context, changes []lvs.Change) error {
	r.applied = append(r.applied, changes)
	return r.record("Apply %d", len(changes))
}

// TestRestoreBadLine checks that a line lvsadm would refuse on the command
// line stops the whole restore before lvsd hears of any of it, with the
// message that line would give, its line number, and its exit status.
func TestRestoreBadLine(t *testing.T) {
	const good = "-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 198.18.1.1 -m\n"
	tests := []struct {
		name   string
		script string
		stderr string
		status int
	}{
		{"bad weight", good + "-a -t 198.18.0.10:80 -r 198.18.1.2 -w 2147483648\n", "line 3: illegal weight specified", 2},
		{"first bad line wins", "-A -t 198.18.0.10:80 -p 0\n-A -t x\n", "line 1: invalid timeout value `0' specified", 2},
		{"blank lines count", "\n\n  \n-A -t 198.18.0.10\n", "line 4: Zero port specified for non-persistent service", 2},
		{"ipvsadm-only lines count", "ipvsadm\nipvsadm ipvsadm\n-L -q\n", "line 3: -q: unknown option", 255},
		{"comment line", good + "# the web farm\n", "line 3: Try `lvsadm -h' or 'lvsadm --help' for more information.", 255},
		{"trailing comment", "-A -t 198.18.0.10:80 -s rr # web\n", "line 1: unexpected argument #", 2},
		{"not a command", "-t 198.18.0.10:80 -A\n", "line 1: Try `lvsadm -h' or 'lvsadm --help' for more information.", 255},
		{"restore inside restore", good + "-R\n", "line 3: Try `lvsadm -h' or 'lvsadm --help' for more information.", 255},
		{"restore option check first", "-R -n\n", "line 1: Illegal 'numeric' option with the 'restore' command", 2},
		{"missing argument", good + "-a -t 198.18.0.10:80 -r\n", "line 3: -r: missing argument", 255},
		{"sched flag", "-A -t 198.18.0.10:80 -b sh-port\n", "line 1: incompatible scheduler flag `sh-port'", 2},
		{"ops on tcp", "-A -t 198.18.0.10:80 -o\n", "line 1: One-Packet Scheduling is only for UDP virtual services", 2},
		{"message with its own newline", "-A -t 198.18.0.10:80 -6\n", "line 1: -6 used before -f\n", 2},
		{"fwmark refused", good + "-A -f 1 -s rr\n", "line 3: lvsadm: -f (--fwmark-service): " + whyFwmark, 2},
		{"persistence engine refused", good + "-E -t 198.18.0.10:80 -p --pe sip\n", "line 3: lvsadm: --pe: " + whyPE, 2},
		{"gue without port", good + "-a -t 198.18.0.10:80 -r 198.18.1.3 -i --tun-type gue\n", "line 3: You need to supply the 'tun-port' option for the 'gue' tunnel type", 2},
		{"gre remote checksum", good + "-a -t 198.18.0.10:80 -r 198.18.1.3 -i --tun-type gre --tun-remcsum\n", "line 3: Illegal 'tun-remcsum' option with the 'gre' tunnel type", 2},
		{"mixed family without tunnel", "-A -t [2001:db8::10]:80\n-a -t [2001:db8::10]:80 -r 198.18.1.3 -m\n", "line 2: Different address family is allowed only for tunneling servers", 2},
		{"tunnel info", "-L --tun-info\n", "line 1: lvsadm: -L (--list) cannot be restored: -R only changes the table, all lines at once", 2},
		{"sync refused", "--start-daemon master\n", "line 1: lvsadm: --start-daemon: " + whySync, 2},
		{"list refused", good + "-Ln\n", "line 3: lvsadm: -L (--list) cannot be restored: -R only changes the table, all lines at once", 2},
		{"save refused", "-S\n", "line 1: lvsadm: -S (--save) cannot be restored: -R only changes the table, all lines at once", 2},
		{"help refused", "-h\n", "line 1: lvsadm: -h (--help) cannot be restored: -R only changes the table, all lines at once", 2},
		{"version refused", "--version\n", "line 1: lvsadm: -v (--version) cannot be restored: -R only changes the table, all lines at once", 2},
		{"last line without newline", good + "-A -t 198.18.0.10", "line 3: Zero port specified for non-persistent service", 2},
		{"crlf", "-A -t 198.18.0.10:80\r\n-A -t 198.18.0.10:81 -w 1\r\n", "line 2: Illegal 'weight' option with the 'add-service' command", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := featureDirector()
			before := cloneServices(d.services)
			got := runStdin(t, d, tt.script, []string{"lvsadm", "-R"})
			if diff := cmp.Diff(result{Stderr: tt.stderr + "\n", Status: tt.status}, got); diff != "" {
				t.Errorf("lvsadm -R (-want +got):\n%s", diff)
			}
			if len(d.calls) != 0 {
				t.Errorf("lvsadm -R called lvsd: %q", d.calls)
			}
			if diff := cmp.Diff(before, d.services, cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})); diff != "" {
				t.Errorf("table changed (-before +after):\n%s", diff)
			}
		})
	}
}

// TestRestoreRefusedChange checks that a change lvsd refuses names its line
// and ipvsadm's message for that command, exits 255 and leaves the table as
// it was, the changes before it included.
func TestRestoreRefusedChange(t *testing.T) {
	tests := []struct {
		name   string
		script string
		stderr string
	}{
		{"service exists", "-C\n-A -t 198.18.0.10:80 -s rr\n-A -t 198.18.0.10:80 -s wlc\n", "line 3: Service already exists"},
		{"real on a missing service", "-D -t 198.18.0.10:443\n\n-a -t 198.18.0.10:443 -r 198.18.1.9\n", "line 3: Service not defined"},
		{"real exists", "ipvsadm -A -t 198.18.0.99:80\nipvsadm -a -t 198.18.0.99:80 -r 198.18.1.1\nipvsadm -a -t 198.18.0.99:80 -r 198.18.1.1 -w 2\n", "line 3: Destination already exists"},
		{"no such destination", "-e -t 198.18.0.10:443 -r 198.18.1.1 -w 3\n-d -t 198.18.0.10:443 -r 198.18.1.2\n", "line 2: No such destination"},
		{"edit a missing service", "-E -t 198.18.0.99:80 -s rr\n", "line 1: No such service"},
		{"delete a missing service", "-C\n-D -t 198.18.0.10:80\n", "line 2: No such service"},
		{"zero a missing service", "-Z -t 198.18.0.99:80\n", "line 1: No such service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := featureDirector()
			before := cloneServices(d.services)
			got := runStdin(t, d, tt.script, []string{"lvsadm", "-R"})
			if diff := cmp.Diff(result{Stderr: tt.stderr + "\n", Status: 255}, got); diff != "" {
				t.Errorf("lvsadm -R (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{fmt.Sprintf("Apply %d", len(d.applied[0]))}, d.calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, d.services, cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})); diff != "" {
				t.Errorf("table changed (-before +after):\n%s", diff)
			}
		})
	}
}

func TestRestoreErrors(t *testing.T) {
	notRunning := fmt.Errorf("%w (cannot connect to /run/golvs/lvsd.sock: connect: no such file or directory)", api.ErrNotRunning)
	tests := []struct {
		name string
		err  error
		want result
	}{
		{"lvsd not running", notRunning, result{Stderr: "Can't initialize ipvs: " + notRunning.Error() + "\n" +
			"Are you sure that lvsd is running? Start it, or set GOLVS_SOCKET to the socket it listens on.\n", Status: 2}},
		{"batch refused as a whole", fmt.Errorf("lvsd: %w", lvs.ErrTableFull), result{Stderr: "Memory allocation problem\n", Status: 255}},
		{"kernel message by command", &lvs.ChangeError{Index: 1, Err: lvs.ErrRange}, result{Stderr: "line 3: Numerical result out of range\n", Status: 255}},
		{"index out of range", &lvs.ChangeError{Index: 7, Err: lvs.ErrInvalid}, result{Stderr: "Invalid operation.  Possibly wrong module version, address not unicast, ...\n", Status: 255}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &fakeDirector{errs: map[string]error{"Apply": tt.err}}
			got := runStdin(t, &recordOnly{d}, "-A -t 198.18.0.10:80\n\n-a -t 198.18.0.10:80 -r 198.18.1.1 -x 1 -y 2\n", []string{"lvsadm", "-R"})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("lvsadm -R (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRestoreEmpty checks that empty input (or only blanks and "ipvsadm")
// sends an empty batch, which succeeds.
func TestRestoreEmpty(t *testing.T) {
	for _, script := range []string{"", "\n\n", "ipvsadm\n", " \t\r\n", "-C  "} {
		d := featureDirector()
		got := runStdin(t, d, script, []string{"lvsadm", "--restore"})
		if got != (result{}) || len(d.applied) != 1 || len(d.applied[0]) != 0 {
			t.Errorf("lvsadm -R <<< %q = %+v, batches %v", script, got, d.applied)
		}
	}
}

func TestConfigStreamLines(t *testing.T) {
	long := strings.Repeat("x", maxToken+3)
	tests := []struct {
		name string
		in   string
		want []configLine
	}{
		{"empty", "", nil},
		{"one line", "-A -t 1.2.3.4:80\n", []configLine{{1, []string{"-A", "-t", "1.2.3.4:80"}}}},
		{"no final newline", "-C", []configLine{{1, []string{"-C"}}}},
		{"one trailing blank at the end is fine", "-C ", []configLine{{1, []string{"-C"}}}},
		{"two trailing blanks at the end drop the line", "-Z\n-C \t", []configLine{{1, []string{"-Z"}}}},
		{"trailing CR at the end is fine", "-C\r", []configLine{{1, []string{"-C"}}}},
		{"blank then CR at the end drop the line", "-C \r", nil},
		{"blanks everywhere", " \t-A\t\t-t  1.2.3.4:80 \r\n", []configLine{{1, []string{"-A", "-t", "1.2.3.4:80"}}}},
		{"line numbers count every line", "\n\n-C\n \n-Z\n", []configLine{{3, []string{"-C"}}, {5, []string{"-Z"}}}},
		{"ipvsadm dropped anywhere", "ipvsadm -A ipvsadm -t x ipvsadm\n", []configLine{{1, []string{"-A", "-t", "x"}}}},
		{"only ipvsadm is dropped", "IPVSADM /sbin/ipvsadm ipvsadm2\n", []configLine{{1, []string{"IPVSADM", "/sbin/ipvsadm", "ipvsadm2"}}}},
		{"only ipvsadm lines skipped", "ipvsadm\n-C\n", []configLine{{2, []string{"-C"}}}},
		{"hash is a word", "# a comment\n-C # flush\n", []configLine{{1, []string{"#", "a", "comment"}}, {2, []string{"-C", "#", "flush"}}}},
		{"hash glued", "#-C\n", []configLine{{1, []string{"#-C"}}}},
		{"quotes are not special", `-A -t "1.2.3.4:80"` + "\n", []configLine{{1, []string{"-A", "-t", `"1.2.3.4:80"`}}}},
		{"vertical tab is not a blank", "-C\v-Z\n", []configLine{{1, []string{"-C\v-Z"}}}},
		{"NUL ends a word", "-C\x00junk -Z\n", []configLine{{1, []string{"-C", "-Z"}}}},
		{"NUL first makes an empty word", "\x00x\n", []configLine{{1, []string{""}}}},
		{"long words are split", long + "\n", []configLine{{1, []string{long[:maxToken], "xxx"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := configStreamLines([]byte(tt.in))
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(configLine{})); diff != "" {
				t.Errorf("configStreamLines(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// TestRoundTrip lists a table with -S, restores the rules into an empty
// director, and checks that the listings match: everything -S saves comes
// back, and only the thresholds and counters, which ipvsadm does not save,
// are lost.
func TestRoundTrip(t *testing.T) {
	for _, save := range [][]string{{"-S", "-n"}, {"-S"}} {
		t.Run(strings.Join(save, " "), func(t *testing.T) {
			from := featureDirector()
			saved := runLvsadm(t, from, save...)
			if saved.Status != 0 || saved.Stderr != "" {
				t.Fatalf("lvsadm %q = %+v", save, saved)
			}
			to := &fakeDirector{info: from.info}
			if got := runStdin(t, to, saved.Stdout, []string{"lvsadm", "-R"}); got != (result{}) {
				t.Fatalf("lvsadm -R = %+v\ninput:\n%s", got, saved.Stdout)
			}
			if len(to.applied) != 1 {
				t.Fatalf("%d Apply calls, want 1", len(to.applied))
			}

			// What the restored table should be: the same, without
			// thresholds and counters, reals newest first as added.
			want := cloneServices(from.services)
			for i := range want {
				s := &want[i]
				s.Stats, s.Rates = lvs.Stats{}, lvs.Rates{}
				if s.Netmask == netip.MustParseAddr("255.255.255.255") {
					s.Netmask = netip.Addr{}
				}
				for j := range s.Reals {
					s.Reals[j] = lvs.RealStatus{Real: s.Reals[j].Real}
					s.Reals[j].UThreshold, s.Reals[j].LThreshold = 0, 0
				}
			}
			byKey := func(a, b lvs.ServiceStatus) bool { return a.ServiceKey.String() < b.ServiceKey.String() }
			byAddr := func(a, b lvs.RealStatus) bool { return a.Addr.String() < b.Addr.String() }
			opts := cmp.Options{cmpopts.SortSlices(byKey), cmpopts.SortSlices(byAddr), cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{}), cmpopts.EquateEmpty()}
			if diff := cmp.Diff(want, to.services, opts); diff != "" {
				t.Errorf("restored table (-want +got):\n%s", diff)
			}

			// And what the operator sees.
			cleared := &fakeDirector{info: from.info, services: want}
			for _, list := range [][]string{{"-Ln"}, {"-S", "-n"}, {"-L", "--persistent-conn"}} {
				if diff := cmp.Diff(runLvsadm(t, cleared, list...), runLvsadm(t, to, list...)); diff != "" {
					t.Errorf("lvsadm %q after the round trip (-want +got):\n%s", list, diff)
				}
			}
		})
	}
}
