package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommandLine runs lvsrs's command line on arguments it must refuse,
// or can answer without touching the host, and checks the exit status and
// what it says.
func TestCommandLine(t *testing.T) {
	state := t.TempDir()
	for _, c := range []struct {
		name   string
		args   []string
		status int
		says   string // in stdout or stderr
	}{
		{"help", []string{"--help"}, 0, "lvsrs --undo"},
		{"no VIPs", []string{}, 2, "no VIPs"},
		{"bad VIP", []string{"198.18.0.300"}, 2, `bad VIP "198.18.0.300"`},
		{"VIP with a prefix length", []string{"198.18.0.10/32"}, 2, `bad VIP "198.18.0.10/32"`},
		{"bad tunnel", []string{"--tunnel", "vxlan", "198.18.0.10"}, 2, `bad tunnel type "vxlan"`},
		{"bad GUE port", []string{"--tunnel", "gue", "--gue-port", "70000", "198.18.0.10"}, 2, `bad GUE port "70000"`},
		{"flag after the VIPs is still a flag", []string{"198.18.0.10", "--tunnel", "vxlan"}, 2, `bad tunnel type "vxlan"`},
		{"unknown flag", []string{"--tun-type", "ipip", "198.18.0.10"}, 2, "flag provided but not defined: -tun-type"},
		{"undo with VIPs", []string{"--undo", "198.18.0.10"}, 2, "--undo takes no command and no VIPs"},
		{"status with VIPs", []string{"status", "198.18.0.10"}, 2, "status takes no VIPs"},
		{"check with a bad VIP", []string{"check", "nope"}, 2, `bad VIP "nope"`},
		{"check with nothing to check", []string{"check", "--state-dir", state}, 1, "no VIPs"},
		{"status before setup", []string{"status", "--state-dir", state}, 0, "not set up: no state in " + filepath.Join(state, "lvsrs.json")},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := run(c.args, &stdout, &stderr)
			out := stdout.String() + stderr.String()
			if got != c.status {
				t.Errorf("exit status %d, want %d; output:\n%s", got, c.status, out)
			}
			if !strings.Contains(out, c.says) {
				t.Errorf("output does not say %q:\n%s", c.says, out)
			}
		})
	}
	if ents, _ := os.ReadDir(state); len(ents) != 0 {
		t.Errorf("the state dir is not empty: %v", ents)
	}
}
