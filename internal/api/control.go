package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"golvs/internal/lvs"
)

// Controller is what lvsd serves beyond ipvsadm's commands: reloading its
// configuration file and the health of the reals it checks. The server
// serves these calls when its Director also implements Controller.
type Controller interface {
	// Reload reads the configuration file again and applies the
	// difference; an error (wrapping ErrConfig for a bad file) leaves the
	// running configuration as it was.
	Reload(ctx context.Context) error
	// Health lists every checked service with its reals' check states.
	Health(ctx context.Context) ([]ServiceHealth, error)
}

// Errors of the Controller calls.
var (
	// ErrConfig is a configuration file lvsd refused; the message names
	// the file, line and field.
	ErrConfig = errors.New("configuration refused")
	// ErrNoConfig: lvsd was started without --config or --keepalived-conf.
	ErrNoConfig = errors.New("lvsd runs without a configuration file (start it with --config or --keepalived-conf)")
)

// Routes of the Controller calls.
const (
	pathReload = "/v1/reload"
	pathHealth = "/v1/health"
)

// ServiceHealth is the health view of one virtual service: its quorum, its
// sorry server and its reals.
type ServiceHealth struct {
	Service    lvs.ServiceKey `json:"service"`
	QuorumUp   bool           `json:"quorum_up"`
	Quorum     uint32         `json:"quorum"`
	Hysteresis uint32         `json:"hysteresis"`
	// LiveWeight is the sum of the effective weights of the live reals,
	// the number compared with the quorum.
	LiveWeight  int          `json:"live_weight"`
	SorryServer *lvs.Real    `json:"sorry_server,omitempty"`
	SorryActive bool         `json:"sorry_active,omitempty"`
	Reals       []RealHealth `json:"reals"`
}

// RealHealth is the health view of one real server.
type RealHealth struct {
	Addr netip.AddrPort `json:"addr"`
	// State is "starting", "up" or "down".
	State string `json:"state"`
	// Weight is the effective weight (the configured one, or the last one
	// a dynamic MISC_CHECK gave).
	Weight int `json:"weight"`
	// InTable and TableWeight are what the checker asks of the table.
	InTable     bool      `json:"in_table"`
	TableWeight int       `json:"table_weight"`
	LastChange  time.Time `json:"last_change"`
	// Reason is why the real is down, empty while it is up.
	Reason string        `json:"reason,omitempty"`
	Checks []CheckHealth `json:"checks,omitempty"`
}

// CheckHealth is the state of one check of a real.
type CheckHealth struct {
	// Name is the kind and its target: "HTTP_GET http://198.18.0.11:80/health".
	Name  string `json:"name"`
	State string `json:"state"`
	// Last is the latest attempt, LastFailure the latest failed one.
	Last        CheckResult `json:"last"`
	LastFailure CheckResult `json:"last_failure"`
	// Failures counts failed attempts since the last success.
	Failures int       `json:"failures"`
	Next     time.Time `json:"next"`
}

// CheckResult is the outcome of one attempt of a check; the zero value
// means no attempt yet.
type CheckResult struct {
	At      time.Time     `json:"at"`
	OK      bool          `json:"ok"`
	Reason  string        `json:"reason"`
	Latency time.Duration `json:"latency"`
}

// controlRoutes adds the Controller calls to mux.
func controlRoutes(mux *http.ServeMux, c Controller, log *slog.Logger) {
	mux.HandleFunc("POST "+pathReload, call(log, func(ctx context.Context, _ struct{}) (any, error) {
		return nil, c.Reload(ctx)
	}))
	mux.HandleFunc("GET "+pathHealth, call(log, func(ctx context.Context, _ struct{}) (any, error) {
		return c.Health(ctx)
	}))
}

// Reload asks lvsd to read its configuration file again.
func (c *Client) Reload(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, pathReload, struct{}{}, nil)
}

// Health lists the health of every checked service and real.
func (c *Client) Health(ctx context.Context) ([]ServiceHealth, error) {
	var out []ServiceHealth
	err := c.do(ctx, http.MethodGet, pathHealth, nil, &out)
	return out, err
}

var _ Controller = (*Client)(nil)
