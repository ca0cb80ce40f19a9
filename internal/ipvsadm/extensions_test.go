package ipvsadm

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"golvs/internal/api"
	"golvs/internal/golden"
	"golvs/internal/lvs"
)

// fakeController is a Director that also serves lvsd's own calls.
type fakeController struct {
	fakeDirector
	reloadErr error
	reloads   int
	health    []api.ServiceHealth
}

func (f *fakeController) Reload(context.Context) error { f.reloads++; return f.reloadErr }
func (f *fakeController) Health(context.Context) ([]api.ServiceHealth, error) {
	return f.health, nil
}

func healthState() []api.ServiceHealth {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	sorry := lvs.Real{Addr: ap("198.19.1.250:8080"), Method: lvs.Masq}
	return []api.ServiceHealth{{
		Service: lvs.ServiceKey{Protocol: lvs.TCP, Addr: ap("198.18.0.10:80")}, QuorumUp: true, Quorum: 2, LiveWeight: 3,
		SorryServer: &sorry,
		Reals: []api.RealHealth{
			{Addr: ap("198.19.0.11:80"), State: "up", Weight: 3, InTable: true, TableWeight: 3, LastChange: at,
				Checks: []api.CheckHealth{{Name: "HTTP_GET http://198.19.0.11:80/health", State: "up",
					Last: api.CheckResult{At: at.Add(5 * time.Second), OK: true, Latency: 1234567 * time.Nanosecond}}}},
			{Addr: ap("198.19.0.12:80"), State: "down", Weight: 1, LastChange: at.Add(time.Minute),
				Reason: "HTTP_GET http://198.19.0.12:80/health: status 500, want 200-299",
				Checks: []api.CheckHealth{{Name: "HTTP_GET http://198.19.0.12:80/health", State: "down", Failures: 3,
					Last: api.CheckResult{At: at.Add(61 * time.Second), Reason: "status 500, want 200-299", Latency: 2 * time.Millisecond}}}},
		},
	}, {
		Service:  lvs.ServiceKey{Protocol: lvs.UDP, Addr: ap("[2001:db8:18::10]:53")},
		QuorumUp: false, Quorum: 1,
		Reals: []api.RealHealth{{Addr: ap("[2001:db8:19::11]:53"), State: "starting", Weight: 1}},
	}}
}

func TestStatus(t *testing.T) {
	d := &fakeController{health: healthState()}
	got := runLvsadm(t, d, "--status")
	if got.Status != 0 || got.Stderr != "" {
		t.Fatalf("--status: status %d, stderr %q", got.Status, got.Stderr)
	}
	golden.Check(t, "testdata/status.golden", got.Stdout)
}

func TestReload(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		wantStatus int
		wantStderr string
	}{
		{"a good file", nil, 0, ""},
		{"a bad file names file and line", fmt.Errorf("%w: /etc/golvs/lvsd.yaml:7: services[0].port: 70000 is out of range", api.ErrConfig), 2,
			"configuration refused: /etc/golvs/lvsd.yaml:7: services[0].port: 70000 is out of range\n"},
		{"no file", api.ErrNoConfig, 2, api.ErrNoConfig.Error() + "\n"},
		{"lvsd not running", api.ErrNotRunning, 2, "Can't initialize ipvs: lvsd is not running\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &fakeController{reloadErr: tc.err}
			got := runLvsadm(t, d, "--reload")
			if got.Status != tc.wantStatus || !strings.HasPrefix(got.Stderr, tc.wantStderr) || got.Stdout != "" {
				t.Errorf("--reload: status %d, stdout %q, stderr %q; want status %d, stderr %q", got.Status, got.Stdout, got.Stderr, tc.wantStatus, tc.wantStderr)
			}
			if d.reloads != 1 {
				t.Errorf("--reload called Reload %d times, want 1", d.reloads)
			}
		})
	}
}

// The extensions stand alone: with other options they are what ipvsadm
// makes of them (an unknown option).
func TestExtensionsStandAlone(t *testing.T) {
	for _, args := range [][]string{{"--reload", "-n"}, {"-L", "--status"}, {"--reload=1"}} {
		d := &fakeController{}
		got := runLvsadm(t, d, args...)
		if got.Status == 0 || d.reloads != 0 {
			t.Errorf("%q: status %d, %d reloads; want ipvsadm's refusal", args, got.Status, d.reloads)
		}
	}
	got := runLvsadm(t, &fakeDirector{}, "--status")
	if got.Status != 2 {
		t.Errorf("--status against a director without the calls: status %d, want 2", got.Status)
	}
}
