// Package api is lvsd's control interface: HTTP with JSON bodies over a unix
// socket (gob for the client's bulk calls, when it asks), its wire types, a
// server that hands requests to a Director, and the client lvsadm uses.
package api

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

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
	// SetTimeouts changes the connection timeouts; a zero field leaves
	// that timeout as it is (ipvsadm --set).
	SetTimeouts(ctx context.Context, t lvs.Timeouts) error
	// Zero zeroes the statistics and rates of service k, or of every
	// service when k is nil (ipvsadm -Z).
	Zero(ctx context.Context, k *lvs.ServiceKey) error
	// Apply makes every change of a batch or none of them (ipvsadm -R); a
	// *ChangeError says which change failed.
	Apply(ctx context.Context, changes []Change) error
}

// Op is the kind of a Change, named as ipvsadm names its commands.
type Op string

// Changes a batch can carry.
const (
	OpAddService    Op = "add-service"
	OpEditService   Op = "edit-service"
	OpDeleteService Op = "delete-service"
	OpClear         Op = "flush"
	OpAddReal       Op = "add-server"
	OpEditReal      Op = "edit-server"
	OpDeleteReal    Op = "delete-server"
	OpSetTimeouts   Op = "set"
	OpZero          Op = "zero"
)

// Change is one change of a batch: what one line of ipvsadm -R asks for.
type Change struct {
	Op Op `json:"op"`
	// Service is the service to add or edit; for the other ops only its
	// key counts (for OpZero an empty key means every service).
	Service lvs.Service `json:"service"`
	// Real is the real server of OpAddReal, OpEditReal and OpDeleteReal.
	Real lvs.Real `json:"real"`
	// Timeouts are OpSetTimeouts's values.
	Timeouts lvs.Timeouts `json:"timeouts"`
}

// ChangeError is the error of a batch whose change number Index (from 0)
// was refused; nothing of the batch was applied.
type ChangeError struct {
	Index int
	Err   error
}

func (e *ChangeError) Error() string { return fmt.Sprintf("change %d: %v", e.Index+1, e.Err) }
func (e *ChangeError) Unwrap() error { return e.Err }

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
	// Index is set for a refused batch: the change that failed.
	Index *int `json:"index,omitempty"`
}

// zeroRequest is the body of the zero call; a nil Service means all.
type zeroRequest struct {
	Service *lvs.ServiceKey `json:"service,omitempty"`
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
	"config":         ErrConfig,
	"no_config":      ErrNoConfig,
}

func codeOf(err error) string {
	for c, e := range codes {
		if errors.Is(err, e) {
			return c
		}
	}
	return "internal"
}
