// Package api is lvsd's control interface: HTTP with JSON bodies over a unix
// socket (gob for the client's bulk calls, when it asks), its wire types, a
// server that hands requests to a Director, and the client lvsadm uses.
package api

import (
	"context"
	"errors"

	"golvs/internal/lvs"
)

// DefaultSocket is where lvsd listens and lvsadm calls unless told otherwise.
const DefaultSocket = "/run/golvs/lvsd.sock"

// Version is golvs's version, reported by Info.
const Version = "0.1.0"

// Info describes the running daemon.
type Info struct {
	Version string `json:"version"`
	// ConnTableSize is the capacity of the connection table (ipvsadm's size=).
	ConnTableSize int          `json:"conn_table_size"`
	Timeouts      lvs.Timeouts `json:"timeouts"`
}

// Director is what the server serves; lvsd's engine implements it. Every
// change goes through Apply: a single ipvsadm command is a batch of one.
type Director interface {
	// Apply makes every change of a batch or none of them; a
	// *lvs.ChangeError says which change failed.
	Apply(ctx context.Context, changes []lvs.Change) error
	// Services lists services in insertion order, each with its reals in
	// IPVS list order (newest first), which is ipvsadm's --nosort order.
	Services(ctx context.Context) ([]lvs.ServiceStatus, error)
	Conns(ctx context.Context) ([]lvs.Conn, error)
	// Timeouts are the connection timeouts in force (ipvsadm -L --timeout).
	Timeouts(ctx context.Context) (lvs.Timeouts, error)
	// ConnTableSize is the capacity of the connection table.
	ConnTableSize() int
}

// ErrNotRunning is returned by the client when nothing answers on the socket.
var ErrNotRunning = errors.New("lvsd is not running")

// errorBody is the body of every failed call. Code names one of lvs's
// sentinel errors so the client can give it back as that error.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Index is set for a refused batch: the change that failed.
	Index *int `json:"index,omitempty"`
}

// codes maps wire codes to lvs's sentinel errors, in the order they are
// tried: an error that wraps several gets the first one's code.
var codes = []struct {
	code string
	err  error
}{
	{"service_exists", lvs.ErrServiceExists},
	{"no_service", lvs.ErrNoService},
	{"real_exists", lvs.ErrRealExists},
	{"no_real", lvs.ErrNoReal},
	{"no_scheduler", lvs.ErrNoScheduler},
	{"invalid", lvs.ErrInvalid},
	{"range", lvs.ErrRange},
	{"family", lvs.ErrFamily},
	{"table_full", lvs.ErrTableFull},
	{"config", ErrConfig},
	{"no_config", ErrNoConfig},
}

// codeOf is the wire code of err: the code of the first sentinel it wraps,
// or "internal".
func codeOf(err error) string {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return "internal"
}

// sentinelOf is the sentinel of wire code code, or nil.
func sentinelOf(code string) error {
	for _, c := range codes {
		if c.code == code {
			return c.err
		}
	}
	return nil
}
