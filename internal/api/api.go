// Package api is lvsd's control interface: HTTP with JSON bodies over a unix
// socket, its wire types, a server that hands requests to a Director, and the
// client lvsadm uses.
package api

import (
	"context"
	"errors"
	"net/netip"

	"golvs/internal/lvs"
)

// Version is golvs's version, reported by Info.
const Version = "0.1.0"

// Info describes the running daemon.
type Info struct {
	Version string `json:"version"`
	// ConnTableSize is the capacity of the connection table (ipvsadm's size=).
	ConnTableSize int          `json:"conn_table_size"`
	Timeouts      lvs.Timeouts `json:"timeouts"`
}

// Director is what the server serves: lvsd's engine implements it, and so
// does the Client, so lvsadm and tests see one interface. AddService
// ignores the service's Reals.
type Director interface {
	AddService(ctx context.Context, s lvs.Service) error
	EditService(ctx context.Context, s lvs.Service) error
	DeleteService(ctx context.Context, k lvs.ServiceKey) error
	Clear(ctx context.Context) error
	AddReal(ctx context.Context, k lvs.ServiceKey, r lvs.Real) error
	EditReal(ctx context.Context, k lvs.ServiceKey, r lvs.Real) error
	DeleteReal(ctx context.Context, k lvs.ServiceKey, addr netip.AddrPort) error
	// Services lists services in insertion order, each with its reals in
	// IPVS list order (newest first), which is ipvsadm's --nosort order.
	Services(ctx context.Context) ([]lvs.ServiceStatus, error)
	Conns(ctx context.Context) ([]lvs.Conn, error)
	Info(ctx context.Context) (Info, error)
}

// ErrNotRunning is returned by the client when nothing answers on the socket.
var ErrNotRunning = errors.New("lvsd is not running")

// realRequest is the body of the real-server calls.
type realRequest struct {
	Service lvs.ServiceKey `json:"service"`
	Real    lvs.Real       `json:"real"`
}

// errorBody is the body of every failed call. Code names one of lvs's
// sentinel errors so the client can give it back as that error.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// codes maps wire codes to lvs's sentinel errors.
var codes = map[string]error{
	"service_exists": lvs.ErrServiceExists,
	"no_service":     lvs.ErrNoService,
	"real_exists":    lvs.ErrRealExists,
	"no_real":        lvs.ErrNoReal,
	"no_scheduler":   lvs.ErrNoScheduler,
	"invalid":        lvs.ErrInvalid,
	"range":          lvs.ErrRange,
	"family":         lvs.ErrFamily,
	"table_full":     lvs.ErrTableFull,
}

func codeOf(err error) string {
	for c, e := range codes {
		if errors.Is(err, e) {
			return c
		}
	}
	return "internal"
}
