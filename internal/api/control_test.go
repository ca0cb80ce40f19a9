package api

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// controller is a Director that also serves the Controller calls.
type controller struct {
	recorder
	reloadErr error
	health    []ServiceHealth
}

func (c *controller) Reload(context.Context) error { return c.reloadErr }
func (c *controller) Health(context.Context) ([]ServiceHealth, error) {
	return c.health, nil
}

func TestControllerCalls(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	c := &controller{health: []ServiceHealth{{
		Service: key, QuorumUp: true, Quorum: 1, LiveWeight: 2,
		Reals: []RealHealth{{Addr: rip, State: "down", Weight: 2, LastChange: at, Reason: "TCP_CHECK: connection refused",
			Checks: []CheckHealth{{Name: "TCP_CHECK " + rip.String(), State: "down", Failures: 2,
				Last: CheckResult{At: at, Reason: "connection refused", Latency: time.Millisecond}}}}},
	}}}
	client, _ := serve(t, c)
	ctx := context.Background()

	if err := client.Reload(ctx); err != nil {
		t.Errorf("Reload: %v", err)
	}
	got, err := client.Health(ctx)
	if err != nil {
		t.Fatalf("Health: %v", err)
	}
	if diff := cmp.Diff(c.health, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("Health over the wire (-sent +received):\n%s", diff)
	}

	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"a bad file is ErrConfig with its position", fmt.Errorf("%w: /etc/golvs/lvsd.yaml:7: services[0].port: 70000 is out of range", ErrConfig), ErrConfig},
		{"no file is ErrNoConfig", ErrNoConfig, ErrNoConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.reloadErr = tc.err
			err := client.Reload(ctx)
			if !errors.Is(err, tc.want) || err.Error() != tc.err.Error() {
				t.Errorf("Reload: %v, want %v (errors.Is %v)", err, tc.err, tc.want)
			}
		})
	}
}

func TestControllerCallsNeedAController(t *testing.T) {
	client, _ := serve(t, &recorder{})
	err := client.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("Reload on a server without a Controller: %v, want 404", err)
	}
}
