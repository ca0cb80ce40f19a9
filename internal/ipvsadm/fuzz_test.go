package ipvsadm

import (
	"strings"
	"testing"
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
		"-C",
		"-Z",
		"-R",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := append([]string{"lvsadm"}, strings.Fields(line)...)
		if len(args) > 1 && (args[1] == "-R" || args[1] == "--restore") {
			return // reads stdin
		}
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
			if status != 0 && !strings.HasPrefix(c, "Services") && !strings.HasPrefix(c, "Conns") && !strings.HasPrefix(c, "Info") {
				t.Fatalf("lvsadm %q exited %d but sent %q\nstderr: %s", line, status, c, stderr)
			}
		}
		if status != 0 && stderr == "" {
			t.Fatalf("lvsadm %q exited %d without a message", line, status)
		}
	})
}
