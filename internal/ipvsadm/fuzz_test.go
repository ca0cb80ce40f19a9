package ipvsadm

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzCommandLine feeds lvsadm arbitrary command lines. Whatever they are,
// lvsadm must not panic, must exit with one of ipvsadm's statuses, and a
// command it rejects must not have reached lvsd: with a director that
// accepts everything, a non-zero status can only come from the command
// line (or from listing a service that does not exist), so no change
// may have been sent.
func FuzzCommandLine(f *testing.F) {
	for _, seed := range []string{
		"-A -t 198.18.0.10:80 -s rr",
		"-a -t 198.18.0.10:80 -r 198.19.0.11 -m -w 3",
		"-e -t 198.18.0.10:http -r 198.19.0.11:8080 -g",
		"-Lnc",
		"-Ln --stats --exact --nosort",
		"-L -t 198.18.0.10:80 -n",
		"-D -u 198.18.0.10:53",
		"-A -t [2001:db8::1]:80 -p 60 -M 255.255.255.0",
		"-a -t 198.18.0.10:80 -r 198.19.0.11 -x 10 -y 20 --tun-type gue",
		"--set 1 2 3",
		"--set 0 0 2678400",
		"-C",
		"-Z",
		"-Z -t 0.0.0.0:0",
		"-R",
		"-A -t 198.18.0.10:443 -p -M 255.255.255.0 -s sh -b sh-fallback,sh-port",
		"-E -u 198.18.0.10:53 -o -p 1 -b flag-1,,flag-3",
		"-A -t [2001:db8::1]:443 -p 60 -M 64",
		"-A -M 24 -t 198.18.0.10 -p",
		"-e -t 198.18.0.10:80 -r 198.18.1.1 -x 100 -y 50 -m",
		"-Ln --rate --exact",
		"-Ln --thresholds -t 198.18.0.10:80",
		"-Lnc --persistent-conn",
		"-L --timeout",
		"-Sn",
		"-A -f 1 -6",
		"-a -t 198.18.0.10:80 -r 198.18.1.1 -i --tun-type gue --tun-port 1",
		"--start-daemon master --syncid 3",
		"-a -t [2001:db8::1]:80 -r 198.18.1.1 -i --tun-type gue --tun-port 6080 --tun-remcsum",
		"-e -t 198.18.0.10:80 -r [2001:db8::a]:80 -i --tun-type gre --tun-csum -w 3",
		"-a -t 198.18.0.10:80 -r 2001:db8::a -m",
		"-a -t 198.18.0.10:80 -r 198.18.1.1 -i --tun-type gue --tun-port 6080 --tun-csum --tun-nocsum",
		"-Ln --tun-info",
		"-L --tun-info -t [2001:db8::1]:80",
		"-d -t [2001:db8::1]:80 -r 198.18.1.1",
		"-A -u [2001:db8::53]:53 -o -p -M 48",
		"-E -M 64 -t [::ffff:198.18.0.10]:80 -p",
		"-Z -t [::]:0",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := append([]string{"lvsadm"}, strings.Fields(line)...)
		// -R reads an empty standard input.
		d := &fakeDirector{}
		// Fake names: fuzzed host names must never reach a real resolver.
		r := runArgv(t, d, args)
		status, stderr := r.Status, r.Stderr
		switch status {
		case 0, 1, 2, 255:
		default:
			t.Fatalf("lvsadm %q exited %d", line, status)
		}
		for _, c := range d.calls {
			if status != 0 && !strings.HasPrefix(c, "Services") && !strings.HasPrefix(c, "Conns") && !strings.HasPrefix(c, "Info") && c != "Apply 0" {
				t.Fatalf("lvsadm %q exited %d but sent %q\nstderr: %s", line, status, c, stderr)
			}
		}
		if status != 0 && stderr == "" {
			t.Fatalf("lvsadm %q exited %d without a message", line, status)
		}
	})
}

// FuzzRestore feeds lvsadm -R arbitrary input against a director that
// carries out batches as IPVS would. Whatever the input, the restore is all
// or nothing: lvsd hears of it only when every line parsed (then in one
// Apply call), a failed restore leaves the table as it was, and every
// failure says which line it was.
func FuzzRestore(f *testing.F) {
	for _, seed := range []string{
		"",
		"-C\n-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 198.18.1.1 -m -w 2\n",
		"ipvsadm -A -u 198.18.0.53:53 -o\r\nipvsadm -a -u 198.18.0.53:53 -r 198.18.1.3\r\n",
		"-A -t 198.18.0.10:443 -s wlc -p 360 -M 255.255.255.0\n-a -t 198.18.0.10:443 -r 198.18.1.1:443 -g -w 1\n",
		"-A -t 198.18.0.10:80 -s sh -b sh-fallback,sh-port\n-E -t 198.18.0.10:80 -s mh -b mh-port\n",
		"--set 900 120 300\n-Z\n-Z -t 198.18.0.10:443\n",
		"-D -t 198.18.0.10:443\n-a -t 198.18.0.10:443 -r 198.18.1.9\n",
		"# comment\n-C\n",
		"-C  ",
		"-R\n",
		"-Ln\n",
		"-A -f 1\n",
		"-a -t 198.18.0.10:443 -r 198.18.1.1 -x 1 -y 2\n",
		"-A -t [2001:db8::10]:443 -s wlc -p 600 -M 48\n-a -t [2001:db8::10]:443 -r 198.18.1.8:443 -i -w 2 --tun-type ipip\n-a -t [2001:db8::10]:443 -r [2001:db8::a]:443 -g -w 4\n",
		"-a -t 198.18.0.10:443 -r [2001:db8::11] -i --tun-type gue --tun-port 6081 --tun-csum\n-a -t 198.18.0.10:443 -r 198.18.1.4 -i --tun-type gre --tun-nocsum\n",
		"-A -u [2001:db8::53]:53 -s rr -o\n-a -u [2001:db8::53]:53 -r [2001:db8::5353]:53 -i -w 1 --tun-type gre --tun-remcsum\n",
		"-e -t [2001:db8::80]:443 -r [2001:db8::a0a0]:8443 -i\n-d -t [2001:db8::80]:443 -r [2001:db8::a0a0]:443\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, script string) {
		d := featureDirector()
		before := cloneServices(d.services)
		beforeTimeouts := d.info.Timeouts
		r := runStdin(t, d, script, []string{"lvsadm", "-R"})
		switch r.Status {
		case 0, 2, 255:
		default:
			t.Fatalf("lvsadm -R <<< %q exited %d", script, r.Status)
		}
		if (r.Status == 0) != (r.Stderr == "") || r.Stdout != "" {
			t.Fatalf("lvsadm -R <<< %q = %+v", script, r)
		}
		if r.Status == 0 {
			if len(d.calls) != 1 || !strings.HasPrefix(d.calls[0], "Apply ") {
				t.Fatalf("lvsadm -R <<< %q succeeded with calls %q", script, d.calls)
			}
			return
		}
		if !strings.HasPrefix(r.Stderr, "line ") {
			t.Fatalf("lvsadm -R <<< %q: error names no line: %q", script, r.Stderr)
		}
		if len(d.calls) > 1 || len(d.calls) == 1 && (r.Status != 255 || !strings.HasPrefix(d.calls[0], "Apply ")) {
			t.Fatalf("lvsadm -R <<< %q exited %d after calls %q", script, r.Status, d.calls)
		}
		if !cmp.Equal(before, d.services, cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})) || d.info.Timeouts != beforeTimeouts {
			t.Fatalf("lvsadm -R <<< %q failed (%q) but changed the table", script, r.Stderr)
		}
	})
}
