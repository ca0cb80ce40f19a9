package engine

import (
	"context"
	"net/netip"

	"golvs/internal/lvs"
)

// ManagedService is a service that lvsd's configuration file names, with
// the addresses of the reals and sorry server it names for it. The set of
// them (the managed set) is what a reload may change or delete: services
// and reals added by hand with lvsadm are not in it. The engine does not
// read it; it saves it in the state file with the table it belongs to, so
// that what a file stopped naming while lvsd was down is removed at the
// next start.
type ManagedService struct {
	Service lvs.ServiceKey   `json:"service"`
	Reals   []netip.AddrPort `json:"reals"`
}

// UpdateManaged is Update for a configuration file: when the change is
// applied, managed becomes the managed set and is saved in the same write
// of the state file as the table; when it is refused, the managed set
// stays as it was. A nil managed is saved as an empty set.
func (e *Engine) UpdateManaged(ctx context.Context, managed []ManagedService, fn func(t *lvs.Table) error) error {
	if managed == nil {
		managed = []ManagedService{}
	}
	return e.do(ctx, func() error {
		if e.store == nil {
			return e.update(fn, nil)
		}
		prev := e.store.managed
		e.store.managed = managed
		err := e.update(fn, nil)
		if err != nil {
			e.store.managed = prev
		}
		return err
	})
}
