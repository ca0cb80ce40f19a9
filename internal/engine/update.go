package engine

import (
	"context"

	"golvs/internal/lvs"
)

// Update runs fn on a copy of the configuration and applies the result to
// the data plane as one diff, or nothing when fn or the data plane refuses
// it. Services and reals that fn leaves as they were keep their
// connections, counters and scheduler state: this is how configuration
// files are loaded and reloaded and how health checks change the table.
// fn runs inside the engine's loop and must not call the engine.
func (e *Engine) Update(ctx context.Context, fn func(t *lvs.Table) error) error {
	return e.do(ctx, func() error {
		next := e.table.Clone()
		if err := fn(&next); err != nil {
			return err
		}
		return e.commit(next)
	})
}
