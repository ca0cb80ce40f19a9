package engine

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"golvs/internal/lvs"
)

// fileNames lists the names of the files in dir.
func fileNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	must(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// managedOnDisk is the managed set the state file in dir holds, as the
// next lvsd will read it.
func managedOnDisk(t *testing.T, dir string) []ManagedService {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	must(t, err)
	var s Saved
	must(t, json.Unmarshal(b, &s))
	return s.Managed
}

// The managed set is saved in the state file in the same write as the
// table change it belongs with, kept through the changes that do not set
// it, and left as it was when its change is refused.
func TestUpdateManagedSavesWithTheTable(t *testing.T) {
	dir := t.TempDir()
	store, err := NewStore(dir)
	must(t, err)
	ctx := context.Background()
	dp := newFake()
	e := startEngine(t, dp, store)
	set := []ManagedService{{Service: vip, Reals: []netip.AddrPort{rip1}}}
	must(t, e.UpdateManaged(ctx, set, func(tb *lvs.Table) error {
		if err := tb.AddService(lvs.Service{ServiceKey: vip, Scheduler: "rr"}); err != nil {
			return err
		}
		return tb.AddReal(vip, nat(rip1, 1))
	}))
	saved, err := store.Load()
	must(t, err)
	if len(saved.Services) != 1 || len(saved.Services[0].Reals) != 1 {
		t.Fatalf("saved table %+v, want the service with its real", saved.Services)
	}
	if diff := cmp.Diff(set, saved.Managed, addrs); diff != "" {
		t.Fatalf("saved managed set differs (-want +got):\n%s", diff)
	}

	// A change by hand and a health change keep the managed set.
	must(t, e.AddReal(ctx, vip, nat(rip2, 1)))
	must(t, e.Update(ctx, func(tb *lvs.Table) error { return tb.EditReal(vip, nat(rip1, 0)) }))
	if diff := cmp.Diff(set, managedOnDisk(t, dir), addrs); diff != "" {
		t.Fatalf("managed set after other changes differs (-want +got):\n%s", diff)
	}

	// A refused change leaves both the table and the managed set.
	refused := errors.New("refused")
	other := []ManagedService{{Service: vip}}
	if err := e.UpdateManaged(ctx, other, func(*lvs.Table) error { return refused }); !errors.Is(err, refused) {
		t.Fatalf("refused UpdateManaged: %v, want %v", err, refused)
	}
	dp.failSet = errors.New("data plane full")
	if err := e.UpdateManaged(ctx, other, func(tb *lvs.Table) error {
		return tb.EditService(lvs.Service{ServiceKey: vip, Scheduler: "wlc"})
	}); err == nil {
		t.Fatal("UpdateManaged the data plane refused: no error")
	}
	must(t, e.AddReal(ctx, vip, nat(rip3, 1)))
	if diff := cmp.Diff(set, managedOnDisk(t, dir), addrs); diff != "" {
		t.Fatalf("managed set after refused changes differs (-want +got):\n%s", diff)
	}

	// A file that names nothing is an empty set, not a missing one.
	must(t, e.UpdateManaged(ctx, nil, func(tb *lvs.Table) error { return nil }))
	if got := managedOnDisk(t, dir); got == nil || len(got) != 0 {
		t.Fatalf("managed set of a file naming nothing: %#v, want empty", got)
	}
}

// An lvsd upgraded from one that kept the managed set in managed.json
// reads it once, writes it into the state file and removes managed.json.
func TestLegacyManagedFileIsFoldedIn(t *testing.T) {
	legacy := `[{"service":{"protocol":6,"addr":"198.18.0.10:80"},"reals":["198.19.0.11:80","198.19.0.12:80"]}]`
	want := []ManagedService{{Service: vip, Reals: []netip.AddrPort{rip1, rip2}}}
	for _, tt := range []struct {
		name   string
		state  bool // a state file from the older lvsd is there
		legacy string
		want   []ManagedService
	}{
		{"state file and managed.json", true, legacy, want},
		{"managed.json alone", false, legacy, want},
		{"managed.json naming nothing", true, "null", []ManagedService{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx := context.Background()
			if tt.state {
				// What the older lvsd saved: a table, no managed set.
				old, err := NewStore(dir)
				must(t, err)
				e := startEngine(t, newFake(), old)
				must(t, e.AddService(ctx, lvs.Service{ServiceKey: vip, Scheduler: "rr"}))
				must(t, e.AddReal(ctx, vip, nat(rip1, 1)))
				if strings.Contains(readFile(t, filepath.Join(dir, "config.json")), `"managed"`) {
					t.Fatal("a state saved without a managed set has a managed field")
				}
			}
			must(t, os.WriteFile(filepath.Join(dir, "managed.json"), []byte(tt.legacy), 0o600))

			store, err := NewStore(dir)
			must(t, err)
			saved, err := store.Load()
			must(t, err)
			if diff := cmp.Diff(tt.want, saved.Managed, addrs); diff != "" || saved.Managed == nil {
				t.Fatalf("loaded managed set differs (-want +got):\n%s", diff)
			}
			if tt.state && len(saved.Services) != 1 {
				t.Fatalf("loaded table %+v, want the saved service", saved.Services)
			}
			// Until a save has written the managed set, managed.json is
			// its only copy.
			if _, err := os.Stat(filepath.Join(dir, "managed.json")); err != nil {
				t.Fatalf("managed.json after Load: %v, want it kept until a save", err)
			}
			// lvsd restores the state before anything else; that save
			// folds managed.json in.
			e := startEngine(t, newFake(), store)
			must(t, e.do(ctx, func() error { return e.Restore(saved) }))
			if got := fileNames(t, dir); len(got) != 1 || got[0] != "config.json" {
				t.Fatalf("state directory holds %q, want only config.json", got)
			}
			if diff := cmp.Diff(tt.want, managedOnDisk(t, dir), addrs); diff != "" {
				t.Fatalf("state file's managed set differs (-want +got):\n%s", diff)
			}
			again, err := NewStore(dir)
			must(t, err)
			saved, err = again.Load()
			must(t, err)
			if diff := cmp.Diff(tt.want, saved.Managed, addrs); diff != "" || saved.Managed == nil {
				t.Fatalf("managed set after the upgrade differs (-want +got):\n%s", diff)
			}
		})
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	must(t, err)
	return string(b)
}

// A corrupted state file (or managed.json of an older lvsd) is refused
// with its path, and left for the operator to look at: lvsd does not start
// on a guess.
func TestCorruptedStateIsRefused(t *testing.T) {
	for _, name := range []string{"config.json", "managed.json"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, name)
			must(t, os.WriteFile(p, []byte(`{"services": [`), 0o600))
			store, err := NewStore(dir)
			must(t, err)
			_, err = store.Load()
			if err == nil || !strings.Contains(err.Error(), p) {
				t.Fatalf("Load of a corrupted %s: %v, want an error naming %s", name, err, p)
			}
			if got := readFile(t, p); got != `{"services": [` {
				t.Fatalf("corrupted %s was changed to %q", name, got)
			}
		})
	}
}

// A save leaves the state file and nothing else: the temporary file is
// renamed over it.
func TestSaveLeavesOneFile(t *testing.T) {
	dir := t.TempDir()
	store, err := NewStore(dir)
	must(t, err)
	e := New(newFake(), store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	must(t, e.Restore(Saved{Table: lvs.Table{Timeouts: lvs.DefaultTimeouts}}))
	if got := fileNames(t, dir); len(got) != 1 || got[0] != "config.json" {
		t.Fatalf("state directory holds %q, want only config.json", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json.tmp")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("temporary file after a save: %v", err)
	}
}
