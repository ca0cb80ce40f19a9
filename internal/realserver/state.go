package realserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
)

// stateVersion is the state file's format version.
const stateVersion = 1

// stateFile is the state file's name in the state directory.
const stateFile = "lvsrs.json"

// State is what lvsrs set up and what it changed to get there, saved so
// that a later lvsrs is idempotent and --undo restores the host exactly.
type State struct {
	Version int `json:"version"`
	// VIPs, Tunnels, GUEPorts and Links are the configuration last set
	// up; Links are the links the per-link sysctls and the decapsulation
	// program cover.
	VIPs     []netip.Addr `json:"vips"`
	Tunnels  string       `json:"tunnels"`
	GUEPorts []uint16     `json:"gue_ports,omitempty"`
	Links    []string     `json:"links,omitempty"`
	// Sysctls are the sysctls lvsrs changed, with the value each had
	// before the first change.
	Sysctls []SysctlChange `json:"sysctls,omitempty"`
	// Addrs are the addresses lvsrs added to lo; VIPs that were there
	// before lvsrs are not listed and stay on undo.
	Addrs []netip.Prefix `json:"addresses,omitempty"`
	// Decap is the decapsulation program's pins and attachments, when a
	// tunnel is set up.
	Decap *DecapState `json:"decap,omitempty"`
}

// SysctlChange is one sysctl lvsrs set: Old is the value before lvsrs
// first changed it, New the value lvsrs last wrote.
type SysctlChange struct {
	Key sysctlKey `json:"key"`
	Old string    `json:"old"`
	New string    `json:"new"`
}

// DecapState is where the decapsulation program is pinned and attached.
type DecapState struct {
	PinDir string `json:"pin_dir"`
	// Hooks maps each link to the hook holding the program there
	// ("tcx" or "clsact").
	Hooks map[string]string `json:"hooks"`
}

func statePath(dir string) string { return filepath.Join(dir, stateFile) }

// loadState reads the state in dir; no file is the empty state, ok false.
func loadState(dir string) (st State, ok bool, err error) {
	b, err := os.ReadFile(statePath(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return State{Version: stateVersion}, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("read state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, false, fmt.Errorf("read state %s: %w", statePath(dir), err)
	}
	if st.Version != stateVersion {
		return st, false, fmt.Errorf("read state %s: format version %d, this lvsrs reads %d", statePath(dir), st.Version, stateVersion)
	}
	return st, true, nil
}

// save writes the state atomically (a new file renamed over the old one),
// so that a crash leaves either the old or the new state.
func (st State) save(dir string) error {
	st.Version = stateVersion
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	tmp, err := os.CreateTemp(dir, stateFile+".*")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save state: %w", err)
	}
	if err := os.Rename(tmp.Name(), statePath(dir)); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// removeState removes the state and what lvsrs check keeps beside it.
func removeState(dir string) error {
	for _, p := range []string{statePath(dir), filepath.Join(dir, checkCountersFile)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove state: %w", err)
		}
	}
	return nil
}

// clone returns a deep copy of st.
func (st State) clone() State {
	c := st
	c.VIPs = slices.Clone(st.VIPs)
	c.GUEPorts = slices.Clone(st.GUEPorts)
	c.Links = slices.Clone(st.Links)
	c.Sysctls = slices.Clone(st.Sysctls)
	c.Addrs = slices.Clone(st.Addrs)
	if st.Decap != nil {
		d := *st.Decap
		d.Hooks = maps.Clone(st.Decap.Hooks)
		c.Decap = &d
	}
	return c
}

// sysctl returns the record of key k, if lvsrs changed it.
func (st *State) sysctl(k sysctlKey) *SysctlChange {
	for i := range st.Sysctls {
		if st.Sysctls[i].Key == k {
			return &st.Sysctls[i]
		}
	}
	return nil
}
