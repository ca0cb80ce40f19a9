package lvs

import "fmt"

// Op is the kind of a Change, named as ipvsadm names its commands.
type Op string

// The changes a Table takes.
const (
	OpAddService    Op = "add-service"
	OpEditService   Op = "edit-service"
	OpDeleteService Op = "delete-service"
	OpClear         Op = "flush"
	OpAddReal       Op = "add-server"
	OpEditReal      Op = "edit-server"
	OpDeleteReal    Op = "delete-server"
	OpSetTimeouts   Op = "set"
	// OpZero zeroes counters and rates, which live beside the table: Apply
	// only checks that the service it names exists.
	OpZero Op = "zero"
)

// Change is one change to the configuration: what one ipvsadm command, or
// one line of ipvsadm -R, asks for. It is the one vocabulary of changes,
// from lvsadm's command line over the API to the engine.
type Change struct {
	Op Op `json:"op"`
	// Service is the service to add or edit; for the other ops only its
	// key counts (for OpZero an empty key means every service).
	Service Service `json:"service"`
	// Real is the real server of OpAddReal, OpEditReal and OpDeleteReal
	// (only its address counts for OpDeleteReal).
	Real Real `json:"real"`
	// Timeouts are OpSetTimeouts's values; a zero field is left as it is.
	Timeouts Timeouts `json:"timeouts"`
}

// ChangeError is the error of a batch of changes whose change number Index
// (from 0) was refused; nothing of the batch was applied.
type ChangeError struct {
	Index int
	Err   error
}

func (e *ChangeError) Error() string { return fmt.Sprintf("change %d: %v", e.Index+1, e.Err) }
func (e *ChangeError) Unwrap() error { return e.Err }

// Apply makes change c to t, or refuses it as IPVS would, leaving t as it
// was.
func (t *Table) Apply(c Change) error {
	k := c.Service.ServiceKey
	switch c.Op {
	case OpAddService:
		return t.AddService(c.Service)
	case OpEditService:
		return t.EditService(c.Service)
	case OpDeleteService:
		return t.DeleteService(k)
	case OpClear:
		t.Clear()
		return nil
	case OpAddReal:
		return t.AddReal(k, c.Real)
	case OpEditReal:
		return t.EditReal(k, c.Real)
	case OpDeleteReal:
		return t.DeleteReal(k, c.Real.Addr)
	case OpSetTimeouts:
		return t.SetTimeouts(c.Timeouts)
	case OpZero:
		if k != (ServiceKey{}) && t.Service(k) < 0 {
			return fmt.Errorf("%w: %s", ErrNoService, k)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown change %q", ErrInvalid, c.Op)
}
