package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golvs/internal/testnet"
)

func TestPrivilegedReloadUnderLoad(t *testing.T) {
	l, path := newConfigLab(t, natService("", `
      - {address: 198.19.0.11, port: 80, weight: 1, checks: [{tcp_check: {}}]}
`))
	l.waitReals(detectBound, "at start", rs1)
	kept := l.openKeepAlive()
	if r := l.get(kept); r.Name != "rs1" {
		t.Fatalf("kept-alive connection answered by %s, want rs1", r.Name)
	}

	const requests = 3000
	abDone := make(chan string, 1)
	go func() {
		out, err := l.Client.Exec("ab", "-n", strconv.Itoa(requests), "-c", "4", "-s", "10", vipURL)
		if err != nil {
			out += "\nab: " + err.Error()
		}
		abDone <- out
	}()
	// Reload once the load is flowing.
	if !testnet.WaitFor(10*time.Second, func() bool { return l.statsOf()[rs1].Conns > 200 }) {
		t.Fatalf("ab's connections do not reach rs1")
	}
	before := l.statsOf()[rs1]
	writeFile(t, path, natService("", `
      - {address: 198.19.0.11, port: 80, weight: 2, checks: [{tcp_check: {}}]}
      - {address: 198.19.0.12, port: 80, weight: 1, checks: [{tcp_check: {}}]}
`))
	if err := l.lvsd.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var rows map[string]realRow
	if !testnet.WaitFor(detectBound, func() bool {
		rows = parseList(t, l.adm("-Ln"))
		return rows[rs1].Weight == 2 && rows[rs2].Weight == 1
	}) {
		t.Fatalf("after SIGHUP: lvsadm -Ln reals %v, want rs1 weight 2 and rs2 weight 1", rows)
	}
	out := <-abDone
	checkAB(t, out, requests)
	if after := l.statsOf()[rs1]; after.Conns < before.Conns {
		t.Errorf("rs1's counters after the reload: %d connections, fewer than %d before: the real was recreated", after.Conns, before.Conns)
	}
	if r := l.get(kept); r.Name != "rs1" {
		t.Errorf("kept-alive connection after the reload answered by %s, want rs1", r.Name)
	}
	if got := l.curlsAll(6); !strings.Contains(strings.Join(got, " "), "rs2") {
		t.Errorf("after the reload: curls answered by %v, want rs2 among them", got)
	}

	// A bad file changes nothing and says where it is wrong.
	listing := l.adm("-Ln")
	writeFile(t, path, natService("", `
      - {address: 198.19.0.11, port: 80, weight: 2147483648}
`))
	r := l.lvsd.Adm("--reload")
	if r.Code != 2 || !strings.Contains(r.Stderr, path+":") || !strings.Contains(r.Stderr, "weight") {
		t.Errorf("lvsadm --reload of a bad file: exit %d, stderr %q; want exit 2 naming %s:line and weight", r.Code, r.Stderr, path)
	}
	if err := l.lvsd.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !testnet.WaitFor(5*time.Second, func() bool { return strings.Count(l.lvsd.Log(), "reload refused") >= 2 }) {
		t.Errorf("SIGHUP with a bad file: lvsd logged no refusal")
	}
	if now := l.adm("-Ln"); now != listing {
		t.Errorf("lvsadm -Ln after a refused reload:\n%s\nwant as before:\n%s", now, listing)
	}
	if r := l.get(kept); r.Name != "rs1" {
		t.Errorf("kept-alive connection after a refused reload answered by %s, want rs1", r.Name)
	}
}

func TestPrivilegedConfigRefusedAtStart(t *testing.T) {
	testnet.RequirePrivileged(t)
	bin := binaries(t)
	n := testnet.NewNet(t)
	ns := n.AddNamespace("director")
	dir := t.TempDir()
	path := filepath.Join(dir, "lvsd.yaml")
	writeFile(t, path, "services:\n  - vip: 198.18.0.10\n    port: 80\n    schedular: rr\n")
	kaPath := filepath.Join(dir, "keepalived.conf")
	writeFile(t, kaPath, "virtual_server 198.18.0.10 80 {\n  lb_algo rr\n  real_server 198.19.0.300 80 {\n  }\n}\n")
	sock := filepath.Join(dir, "lvsd.sock")
	for _, args := range [][]string{
		{"--config", path},
		{"--keepalived-conf", kaPath},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + ns.Path(), filepath.Join(bin, "lvsd"),
			"--interfaces", "lo", "--socket", sock, "--pin-dir", "/sys/fs/bpf/" + testnet.Prefix + "refused",
			"--state-dir", filepath.Join(dir, "state")}, args...)...)
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Errorf("lvsd %v with a bad file: %v, want exit status 1\n%s", args, err, out)
		}
		if file := args[1]; !strings.Contains(string(out), file+":") {
			t.Errorf("lvsd %v with a bad file: output %q does not name %s:line", args, out, file)
		}
	}
	// In the test's namespace too: were the flags not refused, lvsd must
	// not start on the machine's own links.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", "--net="+ns.Path(), filepath.Join(bin, "lvsd"), "--interfaces", "lo",
		"--socket", sock, "--pin-dir", "/sys/fs/bpf/"+testnet.Prefix+"refused", "--state-dir", filepath.Join(dir, "state"),
		"--config", path, "--keepalived-conf", path)
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "exclude each other") {
		t.Errorf("lvsd --config --keepalived-conf: %v %q, want a refusal", err, out)
	}
	if _, err := exec.Command("test", "-e", sock).CombinedOutput(); err == nil {
		t.Errorf("lvsd refused its file but created its socket %s", sock)
	}
}
