package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golvs/internal/testnet"
)

// TestPrivilegedBadInput gives lvsadm what ipvsadm refuses: each gets
// ipvsadm's message and exit status, and the table stays as it was.
func TestPrivilegedBadInput(t *testing.T) {
	l := newLab(t, testnet.NAT)
	l.setup("rr", "-m")
	baseline := l.adm("-Ln")
	adm := l.lvsd.AdmBin
	tests := []struct {
		name   string
		args   []string
		stderr string
		code   int
	}{
		{"add-server to a missing service", []string{"-a", "-t", "198.18.0.10:81", "-r", rs1, "-m"}, "Service not defined\n", 255},
		{"weight out of range", []string{"-a", "-t", vipPort, "-r", "198.19.0.13:80", "-m", "-w", "2147483648"}, "illegal weight specified\n", 2},
		{"duplicate service", []string{"-A", "-t", vipPort, "-s", "rr"}, "Service already exists\n", 255},
		{"duplicate real server", []string{"-a", "-t", vipPort, "-r", rs1, "-m"}, "Destination already exists\n", 255},
		{"unknown option", []string{"-A", "-t", "198.18.0.10:81", "--bogus"}, "--bogus: unknown option\n", 255},
		{"edit a missing real server", []string{"-e", "-t", vipPort, "-r", "198.19.0.13:80", "-m", "-w", "2"}, "No such destination\n", 255},
		{"delete a missing real server", []string{"-d", "-t", vipPort, "-r", "198.19.0.13:80"}, "No such destination\n", 255},
		{"delete a missing service", []string{"-D", "-t", "198.18.0.10:81"}, "No such service\n", 255},
		{"unknown scheduler", []string{"-A", "-t", "198.18.0.10:81", "-s", "nosuch"}, "Scheduler or persistence engine not found\n", 255},
		{"zero port", []string{"-A", "-t", "198.18.0.10:0", "-s", "rr"}, "Zero port specified for non-persistent service\n", 2},
		{"two forwarding methods", []string{"-a", "-t", vipPort, "-r", "198.19.0.13:80", "-m", "-g"}, "multiple 'forwarding-method' options specified\n", 2},
		{"weight with list", []string{"-L", "-w", "1"}, "Illegal 'weight' option with the 'list' command\n", 2},
		{"real server without service", []string{"-a", "-r", rs1}, "You need to supply the 'service-address' option for the 'add-server' command\n", 2},
		{"leftover word", []string{"-A", "-t", "198.18.0.10:81", "extra"}, "unexpected argument extra\n", 2},
		{"command not first", []string{"-t", vipPort, "-A"}, fmt.Sprintf("Try `%s -h' or '%s --help' for more information.\n", adm, adm), 255},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := l.lvsd.Adm(tc.args...)
			if r.Stderr != tc.stderr || r.Code != tc.code || r.Stdout != "" {
				t.Errorf("lvsadm %s:\nexit %d, stderr %q, stdout %q\nwant exit %d, stderr %q, no stdout",
					strings.Join(tc.args, " "), r.Code, r.Stderr, r.Stdout, tc.code, tc.stderr)
			}
			// lvsd.Adm, not l.adm: a subtest must not fail its parent.
			if got := l.lvsd.Adm("-Ln"); got.Stdout != baseline || got.Code != 0 {
				t.Errorf("lvsadm %s changed the table:\n%s\nwant:\n%s", strings.Join(tc.args, " "), got.Stdout, baseline)
			}
		})
	}
}

// TestLvsadmWithoutDaemon runs lvsadm with no lvsd behind its socket: it
// must fail and say that lvsd is not running.
func TestLvsadmWithoutDaemon(t *testing.T) {
	bin := binaries(t)
	cmd := exec.Command(filepath.Join(bin, "lvsadm"), "-Ln")
	cmd.Env = append(os.Environ(), "GOLVS_SOCKET="+filepath.Join(t.TempDir(), "none.sock"))
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		t.Fatalf("lvsadm -Ln without lvsd succeeded:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "lvsd") {
		t.Errorf("lvsadm -Ln without lvsd: stderr %q does not mention lvsd", stderr.String())
	}
}
