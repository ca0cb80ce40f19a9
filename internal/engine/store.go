package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"golvs/internal/datapath"
	"golvs/internal/lvs"
)

// Saved is the content of the state file: the configuration and the data
// plane slots it occupies, so that a restarted lvsd finds each service's
// and real's counters, and the reals its pinned connections point at,
// where it left them.
type Saved struct {
	lvs.Table
	Slots []ServiceSlots `json:"slots,omitempty"`
	// Retired are slots of deleted reals that connections still count against.
	Retired []Retired `json:"retired,omitempty"`
	// Managed is what lvsd's configuration file named when it was last
	// applied (see UpdateManaged); nil means the state was saved without
	// one, an empty set that the file named nothing.
	Managed []ManagedService `json:"managed,omitzero"`
}

// ServiceSlots are the slots of one service and its reals.
type ServiceSlots struct {
	Service lvs.ServiceKey     `json:"service"`
	ID      datapath.ServiceID `json:"id"`
	// Zero is the zero point of the statistics (ipvsadm -Z).
	Zero  lvs.Stats  `json:"zero,omitzero"`
	Reals []RealSlot `json:"reals"`
}

// RealSlot is the slot of one real.
type RealSlot struct {
	Addr netip.AddrPort  `json:"addr"`
	ID   datapath.RealID `json:"id"`
	Zero lvs.Stats       `json:"zero,omitzero"`
	// LastWeight is the last weight above zero the real had (for mh).
	LastWeight int `json:"last_weight,omitempty"`
}

// Retired is a deleted real whose slot stays taken while connections count
// against it, as IPVS keeps a deleted destination in its trash: its
// packets are dropped (expire_nodest_conn=0), and adding the same real to
// the same service again revives it with its counters.
type Retired struct {
	Service lvs.ServiceKey  `json:"service"`
	Addr    netip.AddrPort  `json:"addr"`
	ID      datapath.RealID `json:"id"`
	// ServiceID is the slot of the service it belonged to, kept taken as
	// long as the real's connections may still count against it.
	ServiceID  datapath.ServiceID `json:"service_id"`
	Zero       lvs.Stats          `json:"zero,omitzero"`
	LastWeight int                `json:"last_weight,omitempty"`
}

// Restore applies a saved state, before Run starts. Services and reals
// keep their data-plane slots, so counters and connections carry over.
// What the saved table holds that is no longer valid is logged and left
// out; services the pinned maps hold that the state does not are deleted.
// The managed set is kept as it is, to be saved again with every change.
func (e *Engine) Restore(s Saved) error {
	if e.store != nil {
		e.store.managed = s.Managed
	}
	next := lvs.Table{Timeouts: e.table.Timeouts}
	if err := next.SetTimeouts(s.Timeouts); err != nil {
		e.log.Error("restore timeouts", slog.Any("err", err))
	}
	for _, svc := range s.Services {
		if err := next.AddService(svc); err != nil {
			e.log.Error("restore service", slog.String("service", svc.String()), slog.Any("err", err))
			continue
		}
		// Reals were saved in list order (newest first): add oldest first.
		for _, r := range slices.Backward(svc.Reals) {
			if err := next.AddReal(svc.ServiceKey, r); err != nil {
				e.log.Error("restore real", slog.String("service", svc.String()), slog.String("real", r.Addr.String()), slog.Any("err", err))
			}
		}
	}
	e.slots.hints = map[lvs.ServiceKey]ServiceSlots{}
	for _, sl := range s.Slots {
		e.slots.hints[sl.Service] = sl
	}
	defer func() { e.slots.hints = nil }()
	// Retired reals keep their slots first: the restored services must not
	// be given them.
	for _, r := range s.Retired {
		if e.slots.realIDs.take(r.ID) {
			e.slots.retired = append(e.slots.retired, r)
		}
	}
	if err := e.commit(next); err != nil {
		return fmt.Errorf("restore configuration: %w", err)
	}
	for _, r := range e.slots.retired {
		if e.slots.svcIDs.take(r.ServiceID) {
			e.slots.retiredSvcs = append(e.slots.retiredSvcs, retiredService{r.ServiceID, r.Service})
		}
	}
	e.dropStaleZeroPoints()
	return e.prune()
}

// dropStaleZeroPoints forgets the zero points (ipvsadm -Z) that counters
// are below: the pinned maps were lost (a reboot) and the counters started
// again from 0.
func (e *Engine) dropStaleZeroPoints() {
	below := func(s, z lvs.Stats) bool {
		return s.Conns < z.Conns || s.InPkts < z.InPkts || s.OutPkts < z.OutPkts || s.InBytes < z.InBytes || s.OutBytes < z.OutBytes
	}
	err := e.eachStats(nil, func(st *serviceState, s lvs.Stats) {
		if below(s, st.zero) {
			st.zero = lvs.Stats{}
		}
	}, func(rs *realState, s lvs.Stats) {
		if below(s, rs.zero) {
			rs.zero = lvs.Stats{}
		}
	})
	if err != nil {
		e.log.Error("check zero points", slog.Any("err", err))
	}
}

// save writes the configuration and its slots to the store.
func (e *Engine) save() {
	if e.store == nil {
		return
	}
	saved := Saved{Table: e.table, Retired: e.slots.retired, Slots: make([]ServiceSlots, 0, len(e.table.Services)), Managed: e.store.managed}
	n := 0
	for _, svc := range e.table.Services {
		n += len(svc.Reals)
	}
	// One array for every real's slot, each service's a piece of it.
	reals := make([]RealSlot, 0, n)
	for _, svc := range e.table.Services {
		st := e.slots.services[svc.ServiceKey]
		first := len(reals)
		for _, r := range svc.Reals {
			rs := st.reals[r.Addr]
			reals = append(reals, RealSlot{Addr: r.Addr, ID: rs.id, Zero: rs.zero, LastWeight: rs.lastWeight})
		}
		sl := ServiceSlots{Service: svc.ServiceKey, ID: st.id, Zero: st.zero}
		if len(reals) > first {
			sl.Reals = reals[first:len(reals):len(reals)]
		}
		saved.Slots = append(saved.Slots, sl)
	}
	if len(saved.Slots) == 0 {
		saved.Slots = nil
	}
	if err := e.store.Save(saved); err != nil {
		// The change is live; losing it at the next restart is worth a
		// loud log, not a refusal of a change that already took effect.
		e.log.Error("save configuration", slog.Any("err", err))
	}
}

// Store keeps lvsd's state in one JSON file, config.json, in lvsd's state
// directory, and is its only writer.
type Store struct {
	dir, path string
	// managed is the managed set written with every save, set by Restore
	// and UpdateManaged; it belongs to the engine's loop.
	managed []ManagedService
	// legacy says Load folded an older lvsd's managed.json into the state,
	// to be removed once a save has written the state with it.
	legacy bool
}

// legacyManagedFile is where an lvsd before the managed set moved into
// the state file kept it, beside the state file.
const legacyManagedFile = "managed.json"

// NewStore returns a store writing dir/config.json, creating dir (0700).
func NewStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	return &Store{dir: dir, path: filepath.Join(dir, "config.json")}, nil
}

// Load reads the saved state; a missing file is an empty table with
// IPVS's default timeouts. A state without a managed set takes it from an
// older lvsd's managed.json, if there is one; the next Save writes it into
// the state file and removes managed.json.
func (s *Store) Load() (Saved, error) {
	t := Saved{Table: lvs.Table{Timeouts: lvs.DefaultTimeouts}}
	b, err := os.ReadFile(s.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return t, err
	}
	if err == nil {
		if err := json.Unmarshal(b, &t); err != nil {
			return t, fmt.Errorf("%s: %w", s.path, err)
		}
	}
	if t.Managed == nil {
		m, found, err := s.loadLegacy()
		if err != nil {
			return t, err
		}
		t.Managed, s.legacy = m, found
	}
	return t, nil
}

// loadLegacy reads an older lvsd's managed.json; found is false when
// there is none.
func (s *Store) loadLegacy() (m []ManagedService, found bool, err error) {
	p := filepath.Join(s.dir, legacyManagedFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", legacyManagedFile, err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, false, fmt.Errorf("read %s: %w", p, err)
	}
	// A file that named no service was saved as null: it is still a
	// managed set, an empty one.
	if m == nil {
		m = []ManagedService{}
	}
	return m, true, nil
}

// Save writes t atomically and durably: the file is written beside the
// state file, synced, renamed over it, and the directory synced, so that
// a crash or power loss leaves the old state or the new one.
// The JSON is not indented: at 100,000 reals indenting took most of the
// time of a save, which every change waits for, and doubled the file.
func (s *Store) Save(t Saved) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if err := writeFileSync(s.path, append(b, '\n')); err != nil {
		return err
	}
	if s.legacy && t.Managed != nil {
		// The state file holds the managed set now.
		if err := os.Remove(filepath.Join(s.dir, legacyManagedFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", legacyManagedFile, err)
		}
		s.legacy = false
	}
	return nil
}

// writeFileSync replaces path with b through a synced temporary file and
// syncs the directory, so that the rename itself survives a power loss.
func writeFileSync(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", filepath.Dir(path), err)
	}
	return nil
}
