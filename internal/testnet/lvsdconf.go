package testnet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// StartLVSDWith is StartLVSD with more lvsd arguments, such as
// "--config", path. lvsd is run through a small wrapper script in a
// directory of the test's own that appends them.
func StartLVSDWith(t testing.TB, ns *Namespace, binDir string, interfaces []string, args ...string) *LVSD {
	t.Helper()
	dir, err := os.MkdirTemp("", Prefix+"wrap-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	var quoted []string
	for _, a := range args {
		quoted = append(quoted, shellQuote(a))
	}
	script := fmt.Sprintf("#!/bin/sh\nexec %s \"$@\" %s\n", shellQuote(filepath.Join(binDir, "lvsd")), strings.Join(quoted, " "))
	if err := os.WriteFile(filepath.Join(dir, "lvsd"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(binDir, "lvsadm"), filepath.Join(dir, "lvsadm")); err != nil {
		t.Fatal(err)
	}
	return StartLVSD(t, ns, dir, interfaces)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Signal sends sig to the running lvsd.
func (d *LVSD) Signal(sig syscall.Signal) error {
	if d.proc == nil || d.proc.Exited() {
		return fmt.Errorf("lvsd is not running")
	}
	return d.proc.cmd.Process.Signal(sig)
}

// Log returns what lvsd has logged over all its runs.
func (d *LVSD) Log() string {
	b, err := os.ReadFile(d.LogPath)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// Stop stops nginx gracefully and waits for it to exit; connections to it
// are then refused.
func (ng *Nginx) Stop() error {
	if ng.proc.Exited() {
		return nil
	}
	_, err := ng.proc.Stop(syscall.SIGTERM)
	return err
}

// Restart starts a stopped nginx again with its configuration and waits
// until it accepts connections in ns.
func (ng *Nginx) Restart(t testing.TB, ns *Namespace) {
	t.Helper()
	conf := filepath.Join(ng.Dir, "nginx.conf")
	ng.proc = StartProcess(t, "nginx "+ns.Name, filepath.Join(ng.Dir, "stderr.log"), nil,
		"ip", "netns", "exec", ns.Name, "nginx", "-p", ng.Dir, "-e", ng.ErrorLog, "-c", conf)
	ready := WaitFor(10*time.Second, func() bool {
		if ng.proc.Exited() {
			return true
		}
		c, err := ns.Dial(context.Background(), "tcp", "127.0.0.1:80")
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	if ng.proc.Exited() || !ready {
		t.Fatalf("nginx in %s did not start again:\n%s\n%s", ns.Name, ng.proc.Log(), readTail(ng.ErrorLog, 2000))
	}
}
