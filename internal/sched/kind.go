package sched

import (
	"errors"
	"fmt"
	"slices"

	"golvs/internal/lvs"
)

// The scheduler names belong to internal/lvs (lvs.Schedulers), which
// checks a service's scheduler against them; this package holds
// everything else about each scheduler, keyed by those names. Keeping
// the names in the model and the rest here leaves lvs free of algorithms
// (it does not import sched); TestKindsMatchModel checks that both list
// the same schedulers.

// ID is a scheduler's number in the data plane: enum lvs_sched of
// bpf/include/lvs_abi.h, the scheduler field of a services map entry.
type ID uint32

// TableKind is what a scheduler table holds.
type TableKind uint8

// Table kinds.
const (
	// Sequence is a pick order the data plane walks one step per new
	// connection (rr, wrr); its length varies, up to MaxTable.
	Sequence TableKind = iota + 1
	// Buckets are a fixed number of hash buckets holding a real each, or
	// Empty (sh, dh, mh).
	Buckets
	// Reals are the service's reals in IPVS list order, which the data
	// plane walks to pick one (lc, wlc and the others); at most
	// lvs.MaxReals.
	Reals
)

// MaxTable is the longest Sequence table the data plane takes.
const MaxTable = 1 << 20

// Kind is one IPVS scheduler as golvs implements it.
type Kind struct {
	// Name is its IPVS name (ipvsadm -s), one of lvs.Schedulers.
	Name string
	// ID is its value in the data plane's enum lvs_sched.
	ID ID
	// Table is what its scheduler table holds, and TableSize the number
	// of buckets of a Buckets table (0 for the others).
	Table     TableKind
	TableSize int
	// ReadsConns is whether it picks by the reals' connection counts
	// (ActiveConn, InActConn), which the data plane reads per new
	// connection.
	ReadsConns bool
	// FlagNames are the -b names of SchedFlag1 and SchedFlag2 under this
	// scheduler (sh-fallback and sh-port for sh), empty when it names
	// none; every scheduler also takes flag-1, flag-2 and flag-3.
	FlagNames [2]string
	// DestState is whether it keeps state per packet destination
	// address (lblc, lblcr), which lives on across changes of the reals
	// but not of the scheduler (see DropsDestState).
	DestState bool
	// KeepsPosition is whether its position in a Sequence table carries
	// over a change of the reals (rr: see RRStart and LastPicked);
	// otherwise a new table starts from its beginning (wrr: the kernel's
	// ip_vs_wrr_dest_changed resets it).
	KeepsPosition bool

	// build computes the table (see Table).
	build func(dests []Dest) []int
}

// kinds are the schedulers, in ID order.
var kinds = [...]Kind{
	{Name: "rr", ID: 1, Table: Sequence, KeepsPosition: true, build: func(ds []Dest) []int { return RR(weightsOf(ds)) }},
	{Name: "wrr", ID: 2, Table: Sequence, build: func(ds []Dest) []int { return WRR(weightsOf(ds)) }},
	{Name: "lc", ID: 3, Table: Reals, ReadsConns: true, build: listOrder},
	{Name: "wlc", ID: 4, Table: Reals, ReadsConns: true, build: listOrder},
	{Name: "sed", ID: 5, Table: Reals, ReadsConns: true, build: listOrder},
	{Name: "nq", ID: 6, Table: Reals, ReadsConns: true, build: listOrder},
	// fo picks the available real of the highest weight (ip_vs_fo.c).
	{Name: "fo", ID: 7, Table: Reals, build: listOrder},
	// ovf compares active connections with weights (ip_vs_ovf.c).
	{Name: "ovf", ID: 8, Table: Reals, ReadsConns: true, build: listOrder},
	{Name: "twos", ID: 9, Table: Reals, ReadsConns: true, build: listOrder},
	{Name: "sh", ID: 10, Table: Buckets, TableSize: ShSize, FlagNames: [2]string{"sh-fallback", "sh-port"}, build: func(ds []Dest) []int { return shTable(weightsOf(ds)) }},
	{Name: "dh", ID: 11, Table: Buckets, TableSize: ShSize, build: func(ds []Dest) []int { return dhTable(len(ds)) }},
	{Name: "mh", ID: 12, Table: Buckets, TableSize: MhSize, FlagNames: [2]string{"mh-fallback", "mh-port"}, build: mhTable},
	// lblc and lblcr place a destination address they have not seen, or
	// whose real is overloaded, on the least loaded real.
	{Name: "lblc", ID: 13, Table: Reals, ReadsConns: true, DestState: true, build: listOrder},
	{Name: "lblcr", ID: 14, Table: Reals, ReadsConns: true, DestState: true, build: listOrder},
}

// Kinds returns every scheduler, in ID order.
func Kinds() []Kind { return slices.Clone(kinds[:]) }

// KindOf returns the scheduler named name, and whether there is one.
func KindOf(name string) (Kind, bool) {
	for _, k := range kinds {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}

// KindByID returns the scheduler with data-plane id id, and whether there
// is one.
func KindByID(id ID) (Kind, bool) {
	for _, k := range kinds {
		if k.ID == id {
			return k, true
		}
	}
	return Kind{}, false
}

// Shape returns how long k's scheduler table must be: fixed for a Buckets
// table (which may also be empty, for a service without reals), and at
// most max entries. The zero Kind (no scheduler) takes no table.
func (k Kind) Shape() (fixed, max int) {
	switch k.Table {
	case Sequence:
		return 0, MaxTable
	case Buckets:
		return k.TableSize, k.TableSize
	case Reals:
		return 0, lvs.MaxReals
	}
	return 0, 0
}

// weightsOf returns the weights of dests.
func weightsOf(dests []Dest) []int {
	w := make([]int, len(dests))
	for i, d := range dests {
		w[i] = d.Weight
	}
	return w
}

// listOrder is a Reals table: every dest, in list order.
func listOrder(dests []Dest) []int {
	idx := make([]int, len(dests))
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// LastWeight returns a real's last weight above zero (IPVS's
// dest->last_weight) once it is configured with weight, prev being the one
// it had before (0 for a new real): weight when above zero, else prev.
// mh hashes a quiesced real with it, so that quiescing a real keeps its
// slots (ip_vs_mh.c).
func LastWeight(prev, weight int) int {
	if weight > 0 {
		return weight
	}
	return prev
}

// LastPicked returns the real the data plane picked last from Sequence
// table table, given the position it reads next (the position the data
// plane keeps, which counts picks from 1); ok is false when it has picked
// none from it yet.
func LastPicked[T any](table []T, pos uint32) (last T, ok bool) {
	if len(table) == 0 || pos == 0 {
		return last, false
	}
	return table[(pos-1)%uint32(len(table))], true
}

// DropsDestState reports whether a service's per-destination state
// (lblc, lblcr) goes when its scheduler changes from old to new: IPVS
// frees that state with the scheduler (ip_vs_unbind_scheduler), so it
// lives on across changes of the reals but not of the scheduler. Deleting
// a service drops its state too.
func DropsDestState(old, new ID) bool { return old != new }

// Errors ParseFlag returns.
var (
	ErrUnknownFlag = errors.New("not a scheduler flag")
	ErrOtherFlag   = errors.New("a flag of another scheduler")
)

// flagBits are SchedFlag1..3, in the order of their names.
var flagBits = [...]lvs.SchedFlags{lvs.SchedFlag1, lvs.SchedFlag2, lvs.SchedFlag3}

// genericFlagNames are the names of SchedFlag1..3 every scheduler takes.
var genericFlagNames = [...]string{"flag-1", "flag-2", "flag-3"}

// FlagName returns the -b name of scheduler flag f (one of SchedFlag1..3)
// under k: k's own name for it when it has one (sh-port), else flag-N.
func (k Kind) FlagName(f lvs.SchedFlags) string {
	for i, bit := range flagBits {
		if bit != f {
			continue
		}
		if i < len(k.FlagNames) && k.FlagNames[i] != "" {
			return k.FlagNames[i]
		}
		return genericFlagNames[i]
	}
	return ""
}

// ParseFlag returns the scheduler flag -b names name under scheduler
// scheduler (which may be unknown): flag-1..3 under any, a scheduler's own
// names (sh-fallback, sh-port, ...) only under it (ErrOtherFlag under
// another).
func ParseFlag(scheduler, name string) (lvs.SchedFlags, error) {
	for i, n := range genericFlagNames {
		if n == name {
			return flagBits[i], nil
		}
	}
	for _, k := range kinds {
		for i, n := range k.FlagNames {
			if n == "" || n != name {
				continue
			}
			if k.Name != scheduler {
				return 0, fmt.Errorf("scheduler flag %q under %q: %w (%s)", name, scheduler, ErrOtherFlag, k.Name)
			}
			return flagBits[i], nil
		}
	}
	return 0, fmt.Errorf("scheduler flag %q: %w", name, ErrUnknownFlag)
}
