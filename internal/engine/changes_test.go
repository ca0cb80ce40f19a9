package engine

import (
	"context"
	"errors"
	"net/netip"

	"golvs/internal/lvs"
)

// The single changes ipvsadm's commands make, as the tests call them: each
// is a batch of one through Apply, its error unwrapped from the
// *lvs.ChangeError.

func (e *Engine) one(ctx context.Context, c lvs.Change) error {
	err := e.Apply(ctx, []lvs.Change{c})
	if ce, ok := errors.AsType[*lvs.ChangeError](err); ok {
		return ce.Err
	}
	return err
}

func (e *Engine) AddService(ctx context.Context, s lvs.Service) error {
	return e.one(ctx, lvs.Change{Op: lvs.OpAddService, Service: s})
}

func (e *Engine) EditService(ctx context.Context, s lvs.Service) error {
	return e.one(ctx, lvs.Change{Op: lvs.OpEditService, Service: s})
}

func (e *Engine) DeleteService(ctx context.Context, k lvs.ServiceKey) error {
	return e.one(ctx, lvs.Change{Op: lvs.OpDeleteService, Service: lvs.Service{ServiceKey: k}})
}

func (e *Engine) Clear(ctx context.Context) error {
	return e.one(ctx, lvs.Change{Op: lvs.OpClear})
}

func (e *Engine) AddReal(ctx context.Context, k lvs.ServiceKey, r lvs.Real) error {
	return e.one(ctx, lvs.Change{Op: lvs.OpAddReal, Service: lvs.Service{ServiceKey: k}, Real: r})
}

func (e *Engine) EditReal(ctx context.Context, k lvs.ServiceKey, r lvs.Real) error {
	return e.one(ctx, lvs.Change{Op: lvs.OpEditReal, Service: lvs.Service{ServiceKey: k}, Real: r})
}

func (e *Engine) DeleteReal(ctx context.Context, k lvs.ServiceKey, addr netip.AddrPort) error {
	return e.one(ctx, lvs.Change{Op: lvs.OpDeleteReal, Service: lvs.Service{ServiceKey: k}, Real: lvs.Real{Addr: addr}})
}

func (e *Engine) SetTimeouts(ctx context.Context, t lvs.Timeouts) error {
	return e.one(ctx, lvs.Change{Op: lvs.OpSetTimeouts, Timeouts: t})
}

func (e *Engine) Zero(ctx context.Context, k *lvs.ServiceKey) error {
	c := lvs.Change{Op: lvs.OpZero}
	if k != nil {
		c.Service.ServiceKey = *k
	}
	return e.one(ctx, c)
}
