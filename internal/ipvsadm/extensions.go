package ipvsadm

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"golvs/internal/api"
)

// lvsadm's own commands, beyond ipvsadm's. Their long names are ones
// ipvsadm 1.31 does not have, so no ipvsadm command line means something
// else with lvsadm; each stands alone on the command line.
const (
	// extReload makes lvsd read its configuration file again (as SIGHUP).
	extReload = "--reload"
	// extStatus lists every health-checked real with its check state.
	extStatus = "--status"
)

// Controller is lvsd's calls beyond ipvsadm's; *api.Client implements it.
type Controller = api.Controller

// extension runs one of lvsadm's own commands, and reports whether args
// was one.
func (c *cli) extension(ctx context.Context, args []string) (int, bool) {
	if len(args) != 2 || (args[1] != extReload && args[1] != extStatus) {
		return 0, false
	}
	ctl, ok := c.d.(Controller)
	if !ok {
		fmt.Fprintf(c.stderr, "%s: %s is not supported here\n", args[0], args[1])
		return 2, true
	}
	var err error
	switch args[1] {
	case extReload:
		err = ctl.Reload(ctx)
	case extStatus:
		var st []api.ServiceHealth
		if st, err = ctl.Health(ctx); err == nil {
			out := c.newOut()
			writeStatus(out, st)
			err = out.Flush()
		}
	}
	if err != nil {
		if status, ok := c.unreachable(err); ok {
			return status, true
		}
		fmt.Fprintln(c.stderr, err)
		return 2, true
	}
	return 0, true
}

// writeStatus prints the health view: per service its quorum and sorry
// server, per real its state, weights, last change and reason, and per
// check its last attempt.
func writeStatus(w io.Writer, st []api.ServiceHealth) {
	for _, s := range st {
		q := "up"
		if !s.QuorumUp {
			q = "lost"
		}
		fmt.Fprintf(w, "%s  quorum %s (live weight %d, quorum %d, hysteresis %d)\n",
			s.Service, q, s.LiveWeight, s.Quorum, s.Hysteresis)
		if s.SorryServer != nil {
			use := "standby"
			if s.SorryActive {
				use = "ACTIVE"
			}
			fmt.Fprintf(w, "  sorry server %s: %s\n", s.SorryServer.Addr, use)
		}
		for _, r := range s.Reals {
			table := "not in table"
			if r.InTable {
				table = fmt.Sprintf("in table weight %d", r.TableWeight)
			}
			fmt.Fprintf(w, "  -> %-22s %-8s weight %d, %s, since %s\n",
				r.Addr, r.State, r.Weight, table, stamp(r.LastChange))
			if r.Reason != "" {
				fmt.Fprintf(w, "       reason: %s\n", oneLine(r.Reason))
			}
			for _, k := range r.Checks {
				fmt.Fprintf(w, "       %s: %s", k.Name, k.State)
				if !k.Last.At.IsZero() {
					res := "ok"
					if !k.Last.OK {
						res = "failed"
					}
					fmt.Fprintf(w, ", last %s %s in %s", stamp(k.Last.At), res, k.Last.Latency.Round(time.Microsecond))
					if !k.Last.OK && k.Last.Reason != "" {
						fmt.Fprintf(w, ": %s", oneLine(k.Last.Reason))
					}
				}
				if k.Failures > 0 {
					fmt.Fprintf(w, ", %d failures", k.Failures)
				}
				fmt.Fprintln(w)
			}
		}
	}
}

// stamp formats a time for the status listing, "-" for none.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
