package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golvs/internal/testnet"
)

// TestPrivilegedLvsdRefusesToStart checks that an lvsd that cannot start
// says why, exits 1, and leaves a running lvsd alone.
func TestPrivilegedLvsdRefusesToStart(t *testing.T) {
	l := newLab(t, testnet.NAT)
	l.setup("rr", "-m")
	bin := filepath.Join(binaries(t), "lvsd")
	state := t.TempDir()
	tests := []struct {
		name string
		argv []string
		want string
	}{
		{"unknown interface",
			[]string{bin, "--interfaces", "eth0,nope0", "--socket", filepath.Join(state, "a.sock"), "--pin-dir", l.lvsd.PinDir + "x", "--state-dir", state},
			`unknown interface "nope0"`},
		{"not root",
			[]string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bin, "--socket", filepath.Join(state, "b.sock"), "--pin-dir", l.lvsd.PinDir + "x", "--state-dir", state},
			"lvsd must run as root"},
		{"socket of a running lvsd",
			[]string{bin, "--socket", l.lvsd.Socket, "--pin-dir", l.lvsd.PinDir, "--state-dir", l.lvsd.StateDir},
			"another lvsd is answering"},
		{"stray argument",
			[]string{bin, "eth0"},
			`unexpected argument "eth0"`},
		{"pin dir that is no directory",
			[]string{bin, "--socket", filepath.Join(state, "c.sock"), "--pin-dir", "/proc/version/golvs", "--state-dir", state},
			"/proc/version/golvs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			argv := append([]string{"--net=" + l.Director.Path()}, tt.argv...)
			out, err := exec.CommandContext(ctx, "nsenter", argv...).CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() == 0 {
				t.Fatalf("lvsd %v: %v, want a non-zero exit\n%s", tt.argv[1:], err, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Fatalf("lvsd said:\n%s\nwant it to say %q", out, tt.want)
			}
		})
	}
	// The running lvsd and its data plane were not disturbed.
	if got := l.curls(2); got[0] == got[1] {
		t.Fatalf("after the refused starts, round robin gave %v", got)
	}
}

// TestPrivilegedStopDetaches checks that a stopped lvsd leaves nothing in
// the packet path: the VIP is the director's own address again, which
// refuses the connection, and routing to the real servers still works.
func TestPrivilegedStopDetaches(t *testing.T) {
	l := newLab(t, testnet.NAT)
	l.setup("rr", "-m")
	l.curls(2)
	if err := l.lvsd.Stop(); err != nil {
		t.Fatal(err)
	}
	out, err := curlFrom(l.Client, vipURL)
	// curl's exit status 7: the connection was refused.
	if err == nil || !strings.Contains(err.Error(), "exit status 7") {
		t.Fatalf("curl %s with lvsd stopped: %q, %v; want the director's own refusal", vipURL, out, err)
	}
	if body, err := curlFrom(l.Client, "http://198.19.0.11/"); err != nil || l.RealByPage(body) == nil {
		t.Fatalf("curl straight to rs1 with lvsd stopped: %q, %v", body, err)
	}
	if err := l.lvsd.Start(); err != nil {
		t.Fatal(err)
	}
	if got := l.curls(2); got[0] == got[1] {
		t.Fatalf("after a restart round robin gave %v", got)
	}
}

// TestPrivilegedSideBySide runs two directors, each with its own lvsd, at
// the same time on one machine.
func TestPrivilegedSideBySide(t *testing.T) {
	a := newLab(t, testnet.NAT)
	b := newLab(t, testnet.NAT)
	a.setup("rr", "-m")
	b.adm("-A", "-t", vipPort, "-s", "wrr")
	b.adm("-a", "-t", vipPort, "-r", rs1, "-m", "-w", "2")
	if got := a.curls(4); got[0] == got[1] || got[0] != got[2] {
		t.Errorf("director a (rr over two reals) sent four connections to %v", got)
	}
	for _, got := range b.curls(3) {
		if got != rs1 {
			t.Errorf("director b (one real, .11) sent a connection to %s", got)
		}
	}
	if la, lb := a.adm("-Ln"), b.adm("-Ln"); la == lb || !strings.Contains(lb, "wrr") || strings.Contains(la, "wrr") {
		t.Errorf("each lvsd must list its own table:\n%s\n%s", la, lb)
	}
}

// TestPrivilegedLargeDownload fetches a 24 MiB file through the VIP. The
// real servers' segments arrive at the director as GSO packets of up to
// 64 KiB with a partial checksum; a NAT rewrite that got their checksum
// wrong would corrupt or stall the transfer.
func TestPrivilegedLargeDownload(t *testing.T) {
	for _, m := range []testnet.Method{testnet.NAT, testnet.DR} {
		t.Run(m.String(), func(t *testing.T) {
			l := newLab(t, m)
			flag := map[testnet.Method]string{testnet.NAT: "-m", testnet.DR: "-g"}[m]
			l.setup("rr", flag)
			data := make([]byte, 24<<20)
			rand.Read(data)
			sum := sha256.Sum256(data)
			for _, r := range l.Reals {
				if err := r.Nginx.WriteFile("big.bin", data); err != nil {
					t.Fatal(err)
				}
			}
			for range 2 { // one download from each real server
				out, err := l.Client.Exec("sh", "-c", "curl -sS --max-time 60 "+vipURL+"big.bin | sha256sum")
				if err != nil {
					t.Fatalf("download: %v", err)
				}
				if got := strings.Fields(out)[0]; got != hex.EncodeToString(sum[:]) {
					t.Fatalf("downloaded sha256 %s, want %x", got, sum)
				}
			}
		})
	}
}

// TestPrivilegedLostStateIsPruned restarts lvsd on its pinned maps but
// without its saved configuration: the services it no longer knows must
// stop balancing, not linger invisible to lvsadm.
func TestPrivilegedLostStateIsPruned(t *testing.T) {
	l := newLab(t, testnet.NAT)
	l.setup("rr", "-m")
	l.curls(2)
	if err := l.lvsd.Stop(); err != nil {
		t.Fatal(err)
	}
	l.lvsd.StateDir = t.TempDir()
	if err := l.lvsd.Start(); err != nil {
		t.Fatal(err)
	}
	if rows := parseList(t, l.adm("-Ln")); len(rows) != 0 {
		t.Fatalf("lvsadm -Ln with an empty state lists %+v", rows)
	}
	out, err := curlFrom(l.Client, vipURL)
	if err == nil || !strings.Contains(err.Error(), "exit status 7") {
		t.Fatalf("curl %s after the restart: %q, %v; want the director's own refusal", vipURL, out, err)
	}
}
