package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"

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
	ServiceID datapath.ServiceID `json:"service_id"`
}

// ServiceSlots are the slots of one service and its reals.
type ServiceSlots struct {
	Service lvs.ServiceKey     `json:"service"`
	ID      datapath.ServiceID `json:"id"`
	Reals   []RealSlot         `json:"reals"`
}

// RealSlot is the slot of one real.
type RealSlot struct {
	Addr netip.AddrPort  `json:"addr"`
	ID   datapath.RealID `json:"id"`
}

// Store keeps the configuration in a JSON file in lvsd's state directory.
type Store struct {
	path string
}

// NewStore returns a store writing dir/config.json, creating dir (0700).
func NewStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	return &Store{path: filepath.Join(dir, "config.json")}, nil
}

// Load reads the saved state; a missing file is an empty table with
// IPVS's default timeouts.
func (s *Store) Load() (Saved, error) {
	t := Saved{Table: lvs.Table{Timeouts: lvs.DefaultTimeouts}}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return t, err
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("%s: %w", s.path, err)
	}
	return t, nil
}

// Save writes t atomically: a crash leaves the old file or the new one.
func (s *Store) Save(t Saved) error {
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, s.path)
}
