package configfile

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"golvs/internal/api"
	"golvs/internal/datapath"
	"golvs/internal/engine"
	"golvs/internal/lvs"
)

// nopDatapath is a data plane that takes every write; the engine's own
// tests check what it writes.
type nopDatapath struct{}

var _ engine.Datapath = nopDatapath{}

func (nopDatapath) ConnTableSize() int                         { return 4096 }
func (nopDatapath) Apply(datapath.Plan) (retireErr, err error) { return nil, nil }
func (nopDatapath) Services() (map[lvs.ServiceKey]datapath.ServiceID, error) {
	return nil, nil
}
func (nopDatapath) RealCounters(ids []datapath.RealID) ([]datapath.RealCounters, error) {
	return make([]datapath.RealCounters, len(ids)), nil
}
func (nopDatapath) ServiceCounters(ids []datapath.ServiceID) ([]lvs.Stats, error) {
	return make([]lvs.Stats, len(ids)), nil
}
func (nopDatapath) Conns() ([]datapath.Conn, error) { return nil, nil }
func (nopDatapath) Sweep() (int, error)             { return 0, nil }
func (nopDatapath) SweepSchedState() error          { return nil }

// reals lists the addresses of service k's reals in t, sorted; ok is
// false when t has no such service.
func reals(t lvs.Table, k lvs.ServiceKey) (addrs []netip.AddrPort, ok bool) {
	i := t.Service(k)
	if i < 0 {
		return nil, false
	}
	for _, r := range t.Services[i].Reals {
		addrs = append(addrs, r.Addr)
	}
	slices.SortFunc(addrs, netip.AddrPort.Compare)
	return addrs, true
}

// The controller changes only what the file names, at start (from the
// managed set the state file kept) and at each reload, and saves the new
// managed set in the state file.
func TestControllerChangesOnlyWhatTheFileNames(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "lvsd.yaml")
	write := func(src string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.DiscardHandler)
	store, err := engine.NewStore(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	// What the last lvsd left: the file named web (rs1) and mail; rsBy
	// and hand were added with lvsadm. The file no longer names mail.
	saved := engine.Saved{
		Table: table(t, svc(web, "rr", real(rsBy, 5), real(rs1, 1)), svc(mail, "rr", real(rs1, 1)), svc(hand, "wlc", real(rs2, 1))),
		Managed: []engine.ManagedService{
			{Service: web, Reals: []netip.AddrPort{rs1}},
			{Service: mail, Reals: []netip.AddrPort{rs1}},
		},
	}
	eng := engine.New(nopDatapath{}, store, log)
	if err := eng.Restore(saved); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); eng.Run(ctx) }()
	defer func() { cancel(); <-done }()

	check := func(when string, want map[lvs.ServiceKey][]netip.AddrPort, managed []engine.ManagedService) {
		t.Helper()
		tb, err := eng.Table(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []lvs.ServiceKey{web, mail, hand} {
			got, ok := reals(tb, k)
			w, wok := want[k]
			if ok != wok || !slices.Equal(got, w) {
				t.Errorf("%s: %s has reals %v (there: %v), want %v (there: %v)", when, k, got, ok, w, wok)
			}
		}
		s, err := engine.NewStore(filepath.Join(dir, "state"))
		if err != nil {
			t.Fatal(err)
		}
		st, err := s.Load()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(st.Managed, managed) {
			t.Errorf("%s: state file's managed set %+v, want %+v", when, st.Managed, managed)
		}
	}

	write("services:\n  - vip: 198.18.0.10\n    port: 80\n    method: nat\n    reals:\n      - {address: 198.19.0.11}\n      - {address: 198.19.0.12}\n")
	ctl := New(Source{Path: file}, log)
	c, err := ctl.Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.Start(ctx, c, Target{Engine: eng, Managed: saved.Managed}); err != nil {
		t.Fatal(err)
	}
	defer ctl.Stop()
	check("start", map[lvs.ServiceKey][]netip.AddrPort{web: {rs1, rs2, rsBy}, hand: {rs2}},
		[]engine.ManagedService{{Service: web, Reals: []netip.AddrPort{rs1, rs2}}})

	write("services:\n  - vip: 198.18.0.10\n    port: 80\n    method: nat\n    reals:\n      - {address: 198.19.0.12}\n" +
		"  - vip: 198.18.0.10\n    port: 25\n    method: nat\n    reals:\n      - {address: 198.19.0.11, port: 80}\n")
	if err := ctl.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	reloaded := []engine.ManagedService{{Service: web, Reals: []netip.AddrPort{rs2}}, {Service: mail, Reals: []netip.AddrPort{rs1}}}
	check("reload", map[lvs.ServiceKey][]netip.AddrPort{web: {rs2, rsBy}, mail: {rs1}, hand: {rs2}}, reloaded)

	write("services: [\n")
	if err := ctl.Reload(ctx); !errors.Is(err, api.ErrConfig) {
		t.Fatalf("reload of a bad file: %v, want %v", err, api.ErrConfig)
	}
	check("refused reload", map[lvs.ServiceKey][]netip.AddrPort{web: {rs2, rsBy}, mail: {rs1}, hand: {rs2}}, reloaded)

	st, err := ctl.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || st[0].Service != web || st[1].Service != mail || len(st[0].Reals) != 1 || st[0].Reals[0].Addr != rs2 {
		t.Errorf("health %+v, want web with rs2 and mail", st)
	}
}
