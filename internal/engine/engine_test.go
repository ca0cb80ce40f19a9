package engine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"golvs/internal/datapath"
	"golvs/internal/lvs"
)

// fakeDatapath records what the engine writes.
type fakeDatapath struct {
	reals    map[datapath.RealID]lvs.Real
	services map[datapath.ServiceID]fakeService
	pos      map[datapath.ServiceID]uint32
	conns    map[datapath.RealID][2]uint32
	gone     map[datapath.RealID]bool
	cleared  []datapath.RealID
	// clearedSvcs are the service slots ClearServices was asked to clear.
	clearedSvcs []datapath.ServiceID
	failSet     error // returned by the next SetService
	failDelete  error // returned by the next DeleteServices, after deleting
	// failReals is returned by the next SetReals or AddReals, after it
	// wrote its reals: a batch refused half way may have written any.
	failReals error
}

type fakeService struct {
	key   lvs.ServiceKey
	sched string
	table []datapath.RealID
	start uint32
}

func newFake() *fakeDatapath {
	return &fakeDatapath{
		reals:    map[datapath.RealID]lvs.Real{},
		services: map[datapath.ServiceID]fakeService{},
		pos:      map[datapath.ServiceID]uint32{},
		conns:    map[datapath.RealID][2]uint32{},
		gone:     map[datapath.RealID]bool{},
	}
}

func (f *fakeDatapath) ConnTableSize() int { return 4096 }
func (f *fakeDatapath) SetReal(id datapath.RealID, r lvs.Real) error {
	f.reals[id] = r
	delete(f.gone, id)
	return nil
}
func (f *fakeDatapath) ClearReal(id datapath.RealID) error {
	delete(f.conns, id)
	f.cleared = append(f.cleared, id)
	return nil
}
func (f *fakeDatapath) RetireReal(id datapath.RealID) error { f.gone[id] = true; return nil }
func (f *fakeDatapath) Services() (map[lvs.ServiceKey]datapath.ServiceID, error) {
	out := map[lvs.ServiceKey]datapath.ServiceID{}
	for id, s := range f.services {
		out[s.key] = id
	}
	return out, nil
}
func (f *fakeDatapath) SetService(id datapath.ServiceID, svc lvs.Service, table []datapath.RealID, start uint32) error {
	if err := f.failSet; err != nil {
		f.failSet = nil
		return err
	}
	f.services[id] = fakeService{svc.ServiceKey, svc.Scheduler, slices.Clone(table), start}
	f.pos[id] = start
	return nil
}
func (f *fakeDatapath) SetServices(us []datapath.ServiceUpdate) error {
	for _, u := range us {
		if err := f.SetService(u.ID, u.Service, u.Table, u.RRStart); err != nil {
			return err
		}
	}
	return nil
}
func (f *fakeDatapath) DeleteServices(keys map[datapath.ServiceID]lvs.ServiceKey) error {
	if err := f.failDelete; err != nil {
		// As the data plane fails: part done (the services gone).
		f.failDelete = nil
		for id := range keys {
			delete(f.services, id)
		}
		return err
	}
	for id, k := range keys {
		if err := f.DeleteService(id, k); err != nil {
			return err
		}
	}
	return nil
}
func (f *fakeDatapath) SchedPosition(id datapath.ServiceID) (uint32, error) { return f.pos[id], nil }
func (f *fakeDatapath) DeleteService(id datapath.ServiceID, _ lvs.ServiceKey) error {
	delete(f.services, id)
	return nil
}
func (f *fakeDatapath) SetTimeouts(lvs.Timeouts) error { return nil }
func (f *fakeDatapath) RealConns(id datapath.RealID) (uint32, uint32, error) {
	c := f.conns[id]
	return c[0], c[1], nil
}
func (f *fakeDatapath) Conns() ([]datapath.Conn, error) { return nil, nil }
func (f *fakeDatapath) Sweep() (int, error)             { return 0, nil }
func (f *fakeDatapath) SweepSchedState() error          { return nil }

func (f *fakeDatapath) SetReals(us []datapath.RealUpdate) error {
	for _, u := range us {
		if err := f.SetReal(u.ID, u.Real); err != nil {
			return err
		}
	}
	err := f.failReals
	f.failReals = nil
	return err
}
func (f *fakeDatapath) AddReals(us []datapath.RealUpdate) error {
	for _, u := range us {
		if err := f.ClearReal(u.ID); err != nil {
			return err
		}
	}
	return f.SetReals(us)
}
func (f *fakeDatapath) RetireReals(ids []datapath.RealID) error {
	for _, id := range ids {
		if err := f.RetireReal(id); err != nil {
			return err
		}
	}
	return nil
}
func (f *fakeDatapath) ClearServices(ids []datapath.ServiceID) error {
	f.clearedSvcs = append(f.clearedSvcs, ids...)
	return nil
}
func (f *fakeDatapath) RealCounters(ids []datapath.RealID) ([]datapath.RealCounters, error) {
	out := make([]datapath.RealCounters, len(ids))
	for i, id := range ids {
		out[i].ActiveConns, out[i].InActConns, _ = f.RealConns(id)
	}
	return out, nil
}
func (f *fakeDatapath) ServiceCounters(ids []datapath.ServiceID) ([]lvs.Stats, error) {
	return make([]lvs.Stats, len(ids)), nil
}

// Apply writes plan p as the data plane does: step by step, stopping at
// the first that fails, a round robin carried over from its position.
func (f *fakeDatapath) Apply(p datapath.Plan) (retireErr, err error) {
	fail := func(s datapath.PlanStep, err error) (error, error) {
		return nil, &datapath.PlanError{Step: s, Err: err}
	}
	if err := f.DeleteServices(p.Recreate); err != nil {
		return fail(datapath.StepRecreate, err)
	}
	f.RetireReals(p.Retire)
	f.ClearServices(p.ClearServices)
	if err := f.AddReals(p.AddReals); err != nil {
		return fail(datapath.StepAddReals, err)
	}
	if err := f.SetReals(p.SetReals); err != nil {
		return fail(datapath.StepSetReals, err)
	}
	us := slices.Clone(p.Services)
	for i, u := range us {
		if u.RR != nil {
			us[i].RRStart = uint32(u.RR.Start(f.pos[u.ID]))
		}
	}
	if err := f.SetServices(us); err != nil {
		return fail(datapath.StepServices, err)
	}
	if err := f.DeleteServices(p.Delete); err != nil {
		return fail(datapath.StepDelete, err)
	}
	f.RetireReals(p.DeleteRetire)
	return nil, nil
}

// schedule plays the data plane's rr/wrr pick n times.
func (f *fakeDatapath) schedule(id datapath.ServiceID, n int) []lvs.Real {
	s := f.services[id]
	var out []lvs.Real
	for range n {
		out = append(out, f.reals[s.table[int(f.pos[id])%len(s.table)]])
		f.pos[id]++
	}
	return out
}

var (
	vip  = lvs.ServiceKey{Protocol: lvs.TCP, Addr: netip.MustParseAddrPort("198.18.0.10:80")}
	rip1 = netip.MustParseAddrPort("198.19.0.11:80")
	rip2 = netip.MustParseAddrPort("198.19.0.12:80")
	rip3 = netip.MustParseAddrPort("198.19.0.13:80")
)

func startEngine(t *testing.T, dp Datapath, store *Store) *Engine {
	t.Helper()
	e := New(dp, store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

func nat(a netip.AddrPort, w int) lvs.Real { return lvs.Real{Addr: a, Method: lvs.Masq, Weight: w} }

func TestRealsAreListedNewestFirst(t *testing.T) {
	dp := newFake()
	e := startEngine(t, dp, nil)
	ctx := context.Background()
	must(t, e.AddService(ctx, lvs.Service{ServiceKey: vip, Scheduler: "rr"}))
	must(t, e.AddReal(ctx, vip, nat(rip1, 1)))
	must(t, e.AddReal(ctx, vip, nat(rip2, 1)))
	svcs, err := e.Services(ctx)
	must(t, err)
	var got []netip.AddrPort
	for _, r := range svcs[0].Reals {
		got = append(got, r.Addr)
	}
	if want := []netip.AddrPort{rip2, rip1}; !slices.Equal(got, want) {
		t.Fatalf("reals %v, want %v", got, want)
	}
	id := e.slots.services[vip].id
	picks := dp.schedule(id, 4)
	if picks[0].Addr != rip2 || picks[1].Addr != rip1 || picks[2].Addr != rip2 {
		t.Fatalf("rr order %v, want .12 .11 .12 ...", picks)
	}
}

func TestRoundRobinPositionSurvivesAnAdd(t *testing.T) {
	dp := newFake()
	e := startEngine(t, dp, nil)
	ctx := context.Background()
	must(t, e.AddService(ctx, lvs.Service{ServiceKey: vip, Scheduler: "rr"}))
	must(t, e.AddReal(ctx, vip, nat(rip1, 1)))
	must(t, e.AddReal(ctx, vip, nat(rip2, 1)))
	id := e.slots.services[vip].id
	if got := dp.schedule(id, 1)[0].Addr; got != rip2 {
		t.Fatalf("first pick %v, want %v", got, rip2)
	}
	// IPVS: the pointer stays on .12; .13 goes to the head of the list, so
	// the next picks are .11, then .13.
	must(t, e.AddReal(ctx, vip, nat(rip3, 1)))
	picks := dp.schedule(id, 3)
	want := []netip.AddrPort{rip1, rip3, rip2}
	for i, p := range picks {
		if p.Addr != want[i] {
			t.Fatalf("picks after add: %v, want %v", picks, want)
		}
	}
}

func TestWRRTableFollowsWeights(t *testing.T) {
	dp := newFake()
	e := startEngine(t, dp, nil)
	ctx := context.Background()
	must(t, e.AddService(ctx, lvs.Service{ServiceKey: vip, Scheduler: "wrr"}))
	must(t, e.AddReal(ctx, vip, nat(rip1, 1)))
	must(t, e.AddReal(ctx, vip, nat(rip2, 3)))
	counts := map[netip.AddrPort]int{}
	for _, r := range dp.schedule(e.slots.services[vip].id, 8) {
		counts[r.Addr]++
	}
	if counts[rip2] != 6 || counts[rip1] != 2 {
		t.Fatalf("wrr 3:1 over 8 picks gave %v", counts)
	}
	// Weight 0 quiesces: the real leaves the table.
	must(t, e.EditReal(ctx, vip, nat(rip2, 0)))
	for _, r := range dp.schedule(e.slots.services[vip].id, 4) {
		if r.Addr == rip2 {
			t.Fatalf("quiesced real %v still scheduled", rip2)
		}
	}
}

func TestRejectedChangesLeaveTheTable(t *testing.T) {
	tests := []struct {
		name string
		do   func(ctx context.Context, e *Engine) error
		want error
	}{
		{"duplicate service", func(ctx context.Context, e *Engine) error {
			return e.AddService(ctx, lvs.Service{ServiceKey: vip, Scheduler: "wlc"})
		}, lvs.ErrServiceExists},
		{"unknown scheduler", func(ctx context.Context, e *Engine) error {
			return e.EditService(ctx, lvs.Service{ServiceKey: vip, Scheduler: "foo"})
		}, lvs.ErrNoScheduler},
		{"edit missing service", func(ctx context.Context, e *Engine) error {
			k := vip
			k.Protocol = lvs.UDP
			return e.EditService(ctx, lvs.Service{ServiceKey: k, Scheduler: "rr"})
		}, lvs.ErrNoService},
		{"real for missing service", func(ctx context.Context, e *Engine) error {
			k := vip
			k.Addr = netip.MustParseAddrPort("198.18.0.10:81")
			return e.AddReal(ctx, k, nat(rip1, 1))
		}, lvs.ErrNoService},
		{"duplicate real", func(ctx context.Context, e *Engine) error { return e.AddReal(ctx, vip, nat(rip1, 5)) }, lvs.ErrRealExists},
		{"edit missing real", func(ctx context.Context, e *Engine) error { return e.EditReal(ctx, vip, nat(rip3, 1)) }, lvs.ErrNoReal},
		{"delete missing real", func(ctx context.Context, e *Engine) error { return e.DeleteReal(ctx, vip, rip3) }, lvs.ErrNoReal},
		{"weight out of range", func(ctx context.Context, e *Engine) error { return e.EditReal(ctx, vip, nat(rip1, lvs.MaxWeight+1)) }, lvs.ErrRange},
		{"direct routing with another port", func(ctx context.Context, e *Engine) error {
			return e.AddReal(ctx, vip, lvs.Real{Addr: netip.MustParseAddrPort("198.19.0.13:8080"), Method: lvs.Route, Weight: 1})
		}, lvs.ErrInvalid},
		{"multicast real", func(ctx context.Context, e *Engine) error {
			return e.AddReal(ctx, vip, nat(netip.MustParseAddrPort("224.0.0.1:80"), 1))
		}, lvs.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp := newFake()
			e := startEngine(t, dp, nil)
			ctx := context.Background()
			must(t, e.AddService(ctx, lvs.Service{ServiceKey: vip, Scheduler: "rr"}))
			must(t, e.AddReal(ctx, vip, nat(rip1, 1)))
			must(t, e.AddReal(ctx, vip, nat(rip2, 1)))
			before, _ := e.Table(ctx)
			written := len(dp.services)
			err := tt.do(ctx, e)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			after, _ := e.Table(ctx)
			if diff := cmp.Diff(before, after, addrs); diff != "" {
				t.Fatalf("table changed (-before +after):\n%s", diff)
			}
			if len(dp.services) != written {
				t.Fatalf("data plane services %d, want %d", len(dp.services), written)
			}
		})
	}
}

func TestDataPlaneFailureLeavesTheTable(t *testing.T) {
	dp := newFake()
	e := startEngine(t, dp, nil)
	ctx := context.Background()
	must(t, e.AddService(ctx, lvs.Service{ServiceKey: vip, Scheduler: "rr"}))
	must(t, e.AddReal(ctx, vip, nat(rip1, 1)))
	before, _ := e.Table(ctx)
	table := slices.Clone(dp.services[e.slots.services[vip].id].table)
	dp.failSet = lvs.ErrTableFull
	if err := e.AddReal(ctx, vip, nat(rip2, 1)); !errors.Is(err, lvs.ErrTableFull) {
		t.Fatalf("error %v, want ErrTableFull", err)
	}
	after, _ := e.Table(ctx)
	if diff := cmp.Diff(before, after, addrs); diff != "" {
		t.Fatalf("table changed:\n%s", diff)
	}
	if got := dp.services[e.slots.services[vip].id].table; !slices.Equal(got, table) {
		t.Fatalf("data plane table %v, want %v", got, table)
	}
	// The real can be added once the data plane accepts it.
	must(t, e.AddReal(ctx, vip, nat(rip2, 1)))
}

func TestRestoreRebuildsTheSavedTable(t *testing.T) {
	store, err := NewStore(t.TempDir())
	must(t, err)
	ctx := context.Background()
	e := startEngine(t, newFake(), store)
	// A deleted service leaves a hole so slots are not simply 1, 2, 3.
	other := lvs.ServiceKey{Protocol: lvs.TCP, Addr: netip.MustParseAddrPort("198.18.0.10:8080")}
	must(t, e.AddService(ctx, lvs.Service{ServiceKey: other, Scheduler: "rr"}))
	must(t, e.AddReal(ctx, other, nat(rip3, 1)))
	must(t, e.AddService(ctx, lvs.Service{ServiceKey: vip, Scheduler: "wrr"}))
	must(t, e.DeleteService(ctx, other))
	must(t, e.AddReal(ctx, vip, nat(rip1, 2)))
	must(t, e.AddReal(ctx, vip, lvs.Real{Addr: rip2, Method: lvs.Route, Weight: 0}))
	udp := lvs.ServiceKey{Protocol: lvs.UDP, Addr: netip.MustParseAddrPort("198.18.0.10:53")}
	must(t, e.AddService(ctx, lvs.Service{ServiceKey: udp, Scheduler: "lc"}))
	want, _ := e.Table(ctx)

	saved, err := store.Load()
	must(t, err)
	e2 := New(newFake(), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	must(t, e2.Restore(saved))
	if diff := cmp.Diff(want, e2.table, addrs, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("restored table differs (-want +got):\n%s", diff)
	}
	// Every service and real is back in its data-plane slot, so its
	// counters and the connections pointing at it carry over.
	for k, st := range e.slots.services {
		st2 := e2.slots.services[k]
		if st2.id != st.id {
			t.Errorf("%s: slot %d after restore, was %d", k, st2.id, st.id)
		}
		for a, rs := range st.reals {
			if st2.reals[a].id != rs.id {
				t.Errorf("%s %s: slot %d after restore, was %d", k, a, st2.reals[a].id, rs.id)
			}
		}
	}
}

func TestDeletedRealWaitsForItsConnections(t *testing.T) {
	dp := newFake()
	e := startEngine(t, dp, nil)
	ctx := context.Background()
	must(t, e.AddService(ctx, lvs.Service{ServiceKey: vip, Scheduler: "rr"}))
	must(t, e.AddReal(ctx, vip, nat(rip1, 1)))
	id := e.slots.services[vip].reals[rip1].id
	dp.conns[id] = [2]uint32{1, 0}
	must(t, e.DeleteReal(ctx, vip, rip1))
	if !dp.gone[id] {
		t.Fatalf("deleted real %d still forwards its connections (IPVS drops them)", id)
	}
	must(t, e.do(ctx, func() error { e.sweep(); return nil }))
	must(t, e.AddReal(ctx, vip, nat(rip2, 1)))
	if e.slots.services[vip].reals[rip2].id == id {
		t.Fatalf("slot %d reused while a connection still counts against it", id)
	}
	dp.conns[id] = [2]uint32{}
	must(t, e.do(ctx, func() error { e.sweep(); return nil }))
	must(t, e.AddReal(ctx, vip, nat(rip3, 1)))
	if e.slots.services[vip].reals[rip3].id != id {
		t.Fatalf("slot %d not reused after its connections expired", id)
	}
}

func TestReaddedRealComesBackWithItsCounters(t *testing.T) {
	dp := newFake()
	e := startEngine(t, dp, nil)
	ctx := context.Background()
	must(t, e.AddService(ctx, lvs.Service{ServiceKey: vip, Scheduler: "wlc"}))
	must(t, e.AddReal(ctx, vip, nat(rip1, 1)))
	id := e.slots.services[vip].reals[rip1].id
	dp.conns[id] = [2]uint32{3, 1}
	must(t, e.DeleteReal(ctx, vip, rip1))
	cleared := len(dp.cleared)
	must(t, e.AddReal(ctx, vip, nat(rip1, 2)))
	if got := e.slots.services[vip].reals[rip1].id; got != id || dp.gone[id] || len(dp.cleared) != cleared {
		t.Fatalf("re-added real: slot %d (want %d), gone %v, cleared %v", got, id, dp.gone[id], dp.cleared)
	}
	svcs, err := e.Services(ctx)
	must(t, err)
	if r := svcs[0].Reals[0]; r.ActiveConns != 3 || r.InActConns != 1 || r.Weight != 2 {
		t.Fatalf("re-added real lists as %+v, want its 3 active and 1 inactive connections and weight 2", r)
	}
}

func TestDeletedServiceSlotWaitsForItsReals(t *testing.T) {
	dp := newFake()
	e := startEngine(t, dp, nil)
	ctx := context.Background()
	must(t, e.AddService(ctx, lvs.Service{ServiceKey: vip, Scheduler: "rr"}))
	must(t, e.AddReal(ctx, vip, nat(rip1, 1)))
	old := e.slots.services[vip].id
	dp.conns[e.slots.services[vip].reals[rip1].id] = [2]uint32{0, 1}
	must(t, e.DeleteService(ctx, vip))
	must(t, e.do(ctx, func() error { e.sweep(); return nil }))
	udp := lvs.ServiceKey{Protocol: lvs.UDP, Addr: netip.MustParseAddrPort("198.18.0.10:53")}
	must(t, e.AddService(ctx, lvs.Service{ServiceKey: udp, Scheduler: "rr"}))
	if e.slots.services[udp].id == old {
		t.Fatalf("service slot %d reused while its connections live", old)
	}
}

func TestRestorePrunesServicesItDoesNotKnow(t *testing.T) {
	dp := newFake()
	stale := lvs.ServiceKey{Protocol: lvs.TCP, Addr: netip.MustParseAddrPort("198.18.0.10:8080")}
	dp.services[7] = fakeService{key: stale, sched: "rr"}
	e := New(dp, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	must(t, e.Restore(Saved{Table: lvs.Table{
		Timeouts: lvs.DefaultTimeouts,
		Services: []lvs.Service{{ServiceKey: vip, Scheduler: "rr", Reals: []lvs.Real{nat(rip1, 1)}}},
	}}))
	live, _ := dp.Services()
	if _, ok := live[stale]; ok || len(live) != 1 {
		t.Fatalf("data plane services after restore: %v, want only %s", live, vip)
	}
}

// addrs lets go-cmp compare netip values, and tables without their
// service index.
var addrs = cmp.Options{cmpopts.EquateComparable(netip.AddrPort{}, netip.Addr{}), cmpopts.IgnoreUnexported(lvs.Table{})}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestBatchIsAllOrNothing(t *testing.T) {
	dp := newFake()
	e := startEngine(t, dp, nil)
	ctx := context.Background()
	must(t, e.AddService(ctx, lvs.Service{ServiceKey: vip, Scheduler: "rr"}))
	before, _ := e.Table(ctx)
	udp := lvs.Service{ServiceKey: lvs.ServiceKey{Protocol: lvs.UDP, Addr: netip.MustParseAddrPort("198.18.0.10:53")}, Scheduler: "wlc"}
	err := e.Apply(ctx, []lvs.Change{
		{Op: lvs.OpAddService, Service: udp},
		{Op: lvs.OpAddReal, Service: udp, Real: nat(rip1, 1)},
		{Op: lvs.OpSetTimeouts, Timeouts: lvs.Timeouts{TCP: time.Minute}},
		{Op: lvs.OpAddReal, Service: udp, Real: nat(rip1, 2)}, // already there
	})
	ce, ok := errors.AsType[*lvs.ChangeError](err)
	if !ok || ce.Index != 3 || !errors.Is(err, lvs.ErrRealExists) {
		t.Fatalf("error %v, want change 3 refused as a duplicate real", err)
	}
	after, _ := e.Table(ctx)
	if diff := cmp.Diff(before, after, addrs); diff != "" {
		t.Fatalf("a refused batch changed the table:\n%s", diff)
	}
	if len(dp.services) != 1 {
		t.Fatalf("a refused batch reached the data plane: %d services", len(dp.services))
	}
	// The same batch without the bad change is applied whole.
	must(t, e.Apply(ctx, []lvs.Change{
		{Op: lvs.OpAddService, Service: udp},
		{Op: lvs.OpAddReal, Service: udp, Real: nat(rip1, 1)},
		{Op: lvs.OpSetTimeouts, Timeouts: lvs.Timeouts{TCP: time.Minute}},
	}))
	after, _ = e.Table(ctx)
	if len(after.Services) != 2 || len(after.Services[1].Reals) != 1 || after.Timeouts.TCP != time.Minute || after.Timeouts.UDP != lvs.DefaultTimeouts.UDP {
		t.Fatalf("table after the batch: %+v", after)
	}
}

// statsFake is a fake data plane whose counters a test sets.
type statsFake struct {
	*fakeDatapath
	svc  map[datapath.ServiceID]lvs.Stats
	real map[datapath.RealID]lvs.Stats
}

func (f *statsFake) ServiceCounters(ids []datapath.ServiceID) ([]lvs.Stats, error) {
	out := make([]lvs.Stats, len(ids))
	for i, id := range ids {
		out[i] = f.svc[id]
	}
	return out, nil
}
func (f *statsFake) RealCounters(ids []datapath.RealID) ([]datapath.RealCounters, error) {
	out, err := f.fakeDatapath.RealCounters(ids)
	for i, id := range ids {
		out[i].Stats = f.real[id]
	}
	return out, err
}

func TestZeroAndRates(t *testing.T) {
	dp := &statsFake{newFake(), map[datapath.ServiceID]lvs.Stats{}, map[datapath.RealID]lvs.Stats{}}
	e := startEngine(t, dp, nil)
	ctx := context.Background()
	must(t, e.AddService(ctx, lvs.Service{ServiceKey: vip, Scheduler: "rr"}))
	must(t, e.AddReal(ctx, vip, nat(rip1, 1)))
	sid, rid := e.slots.services[vip].id, e.slots.services[vip].reals[rip1].id
	// 2 s samples of 100 connections and 1000 packets per second.
	for i := range 30 {
		s := lvs.Stats{Conns: uint64(200 * i), InPkts: uint64(2000 * i)}
		dp.svc[sid], dp.real[rid] = s, s
		must(t, e.do(ctx, func() error { e.sampleRates(); return nil }))
	}
	svcs, err := e.Services(ctx)
	must(t, err)
	if r := svcs[0].Rates; r.CPS != 100 || r.InPPS != 1000 || svcs[0].Reals[0].Rates != r {
		t.Fatalf("rates %+v and %+v, want cps 100, inpps 1000", r, svcs[0].Reals[0].Rates)
	}
	must(t, e.Zero(ctx, &vip))
	svcs, err = e.Services(ctx)
	must(t, err)
	if svcs[0].Stats != (lvs.Stats{}) || svcs[0].Reals[0].Stats != (lvs.Stats{}) || svcs[0].Rates != (lvs.Rates{}) {
		t.Fatalf("after -Z: %+v", svcs[0])
	}
	dp.svc[sid] = lvs.Stats{Conns: 200*29 + 7}
	svcs, _ = e.Services(ctx)
	if svcs[0].Stats.Conns != 7 {
		t.Fatalf("conns after -Z and 7 more: %d", svcs[0].Stats.Conns)
	}
	other := lvs.ServiceKey{Protocol: lvs.UDP, Addr: vip.Addr}
	if err := e.Zero(ctx, &other); !errors.Is(err, lvs.ErrNoService) {
		t.Fatalf("-Z of a missing service: %v", err)
	}
}

func TestSetTimeouts(t *testing.T) {
	e := startEngine(t, newFake(), nil)
	ctx := context.Background()
	must(t, e.SetTimeouts(ctx, lvs.Timeouts{TCPFin: 30 * time.Second}))
	got, _ := e.Timeouts(ctx)
	if want := (lvs.Timeouts{TCP: 900 * time.Second, TCPFin: 30 * time.Second, UDP: 300 * time.Second}); got != want {
		t.Fatalf("timeouts %+v, want %+v", got, want)
	}
	if err := e.SetTimeouts(ctx, lvs.Timeouts{UDP: -time.Second}); !errors.Is(err, lvs.ErrInvalid) {
		t.Fatalf("negative timeout: %v", err)
	}
}

func TestRefusedBatchKeepsDeletedServiceWhole(t *testing.T) {
	dp := newFake()
	e := startEngine(t, dp, nil)
	ctx := context.Background()
	must(t, e.AddService(ctx, lvs.Service{ServiceKey: vip, Scheduler: "rr"}))
	must(t, e.AddReal(ctx, vip, nat(rip1, 1)))
	id := e.slots.services[vip].id
	udp := lvs.Service{ServiceKey: lvs.ServiceKey{Protocol: lvs.UDP, Addr: netip.MustParseAddrPort("198.18.0.10:53")}, Scheduler: "rr"}
	dp.failSet = lvs.ErrTableFull // the new service's table is refused
	err := e.Apply(ctx, []lvs.Change{
		{Op: lvs.OpDeleteService, Service: lvs.Service{ServiceKey: vip}},
		{Op: lvs.OpAddService, Service: udp},
	})
	if !errors.Is(err, lvs.ErrTableFull) {
		t.Fatalf("error %v, want ErrTableFull", err)
	}
	st, ok := e.slots.services[vip]
	if !ok || st.id != id || dp.gone[st.reals[rip1].id] {
		t.Fatalf("after the refused batch the service is in slot %v (was %d), its real retired %v", st, id, ok && dp.gone[st.reals[rip1].id])
	}
	if _, ok := dp.services[id]; !ok {
		t.Fatal("the refused batch deleted the service from the data plane")
	}
}

func TestBatchDeletingAndAddingAServiceMakesItNew(t *testing.T) {
	dp := newFake()
	e := startEngine(t, dp, nil)
	ctx := context.Background()
	must(t, e.AddService(ctx, lvs.Service{ServiceKey: vip, Scheduler: "rr"}))
	must(t, e.AddReal(ctx, vip, nat(rip1, 1)))
	dp.clearedSvcs = nil
	must(t, e.Apply(ctx, []lvs.Change{
		{Op: lvs.OpClear},
		{Op: lvs.OpAddService, Service: lvs.Service{ServiceKey: vip, Scheduler: "rr"}},
	}))
	// It may take its old slot back (its reals' connections name it),
	// but cleared: no counters, no templates.
	st := e.slots.services[vip]
	if len(st.reals) != 0 || !slices.Contains(dp.clearedSvcs, st.id) {
		t.Fatalf("-C then -A kept the old service (slot %d cleared %v, %d reals)", st.id, dp.clearedSvcs, len(st.reals))
	}
}

func TestRestoreDropsZeroPointsOfFreshMaps(t *testing.T) {
	store, err := NewStore(t.TempDir())
	must(t, err)
	ctx := context.Background()
	dp := &statsFake{newFake(), map[datapath.ServiceID]lvs.Stats{}, map[datapath.RealID]lvs.Stats{}}
	e := startEngine(t, dp, store)
	must(t, e.AddService(ctx, lvs.Service{ServiceKey: vip, Scheduler: "rr"}))
	dp.svc[e.slots.services[vip].id] = lvs.Stats{Conns: 50}
	must(t, e.Zero(ctx, nil))
	saved, err := store.Load()
	must(t, err)

	// A reboot: the pinned maps are gone and the counters start from 0.
	fresh := &statsFake{newFake(), map[datapath.ServiceID]lvs.Stats{}, map[datapath.RealID]lvs.Stats{}}
	e2 := startEngine(t, fresh, nil)
	// Restore runs before Run in lvsd; here it goes through the loop.
	must(t, e2.do(ctx, func() error { return e2.Restore(saved) }))
	fresh.svc[e2.slots.services[vip].id] = lvs.Stats{Conns: 3}
	svcs, err := e2.Services(ctx)
	must(t, err)
	if svcs[0].Stats.Conns != 3 {
		t.Fatalf("conns after a reboot: %d, want 3", svcs[0].Stats.Conns)
	}
}

func TestBatchClearAndRestoreRevivesEveryReal(t *testing.T) {
	dp := newFake()
	e := startEngine(t, dp, nil)
	ctx := context.Background()
	reals := []netip.AddrPort{rip1, rip2, rip3}
	add := []lvs.Change{{Op: lvs.OpAddService, Service: lvs.Service{ServiceKey: vip, Scheduler: "rr"}}}
	for _, r := range reals {
		add = append(add, lvs.Change{Op: lvs.OpAddReal, Service: lvs.Service{ServiceKey: vip}, Real: nat(r, 1)})
	}
	must(t, e.Apply(ctx, add))
	ids := map[netip.AddrPort]datapath.RealID{}
	for _, r := range reals {
		id := e.slots.services[vip].reals[r].id
		ids[r] = id
		dp.conns[id] = [2]uint32{1, 0} // an open connection keeps each retired
	}
	svcID := e.slots.services[vip].id
	// -C then the same configuration, twice: every real comes back in
	// its slot, the service in its own (the connections name it, and
	// their NAT replies find the VIP by it), and none is left retired.
	for round := range 2 {
		must(t, e.Apply(ctx, append([]lvs.Change{{Op: lvs.OpClear}}, add...)))
		for _, r := range reals {
			if got := e.slots.services[vip].reals[r].id; got != ids[r] {
				t.Errorf("round %d: %s in slot %d, want its old slot %d", round, r, got, ids[r])
			}
		}
		if got := e.slots.services[vip].id; got != svcID {
			t.Errorf("round %d: service in slot %d, want its old slot %d", round, got, svcID)
		}
		if len(e.slots.retired) != 0 || e.slots.retiredAt != nil || e.slots.revived != nil {
			t.Errorf("round %d: retired %v left after every real was revived", round, e.slots.retired)
		}
	}
}

// TestReloadOfMoreThanHalfTheSlots reloads more services than half the
// data plane's service slots hold, as an operator reloads a director
// (`lvsadm -C` then `lvsadm -R`, or both in one batch), while each real
// has an open connection, which keeps the deleted services' slots taken:
// the reload must fit, each real back in its slot. Other services after
// a -C fit once the old ones' connections are gone.
func TestReloadOfMoreThanHalfTheSlots(t *testing.T) {
	n := (datapath.MaxServices - 1) * 6 / 10
	key := func(i, port int) lvs.ServiceKey {
		return lvs.ServiceKey{Protocol: lvs.TCP, Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), uint16(port))}
	}
	restore := func(port int) []lvs.Change {
		var cs []lvs.Change
		for i := range n {
			k := key(i, port)
			cs = append(cs, lvs.Change{Op: lvs.OpAddService, Service: lvs.Service{ServiceKey: k, Scheduler: "wrr"}},
				lvs.Change{Op: lvs.OpAddReal, Service: lvs.Service{ServiceKey: k}, Real: nat(rip1, 1)})
		}
		return cs
	}
	flush := []lvs.Change{{Op: lvs.OpClear}}
	tests := []struct {
		name   string
		conns  bool
		reload func(e *Engine) error
		// port is the services' port after the reload; want its error.
		port int
		want error
	}{
		{"clear then restore", true, func(e *Engine) error {
			if err := e.Apply(context.Background(), flush); err != nil {
				return err
			}
			return e.Apply(context.Background(), restore(80))
		}, 80, nil},
		{"clear and restore in one batch", true, func(e *Engine) error {
			return e.Apply(context.Background(), append(flush, restore(80)...))
		}, 80, nil},
		{"clear then other services, connections closed", false, func(e *Engine) error {
			if err := e.Apply(context.Background(), flush); err != nil {
				return err
			}
			return e.Apply(context.Background(), restore(81))
		}, 81, nil},
		{"clear then other services, connections open", true, func(e *Engine) error {
			if err := e.Apply(context.Background(), flush); err != nil {
				return err
			}
			return e.Apply(context.Background(), restore(81))
		}, 81, lvs.ErrTableFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp := newFake()
			e := startEngine(t, dp, nil)
			ctx := context.Background()
			must(t, e.Apply(ctx, restore(80)))
			was := map[lvs.ServiceKey]datapath.RealID{}
			for k, st := range e.slots.services {
				id := st.reals[rip1].id
				was[k] = id
				if tt.conns {
					dp.conns[id] = [2]uint32{1, 0}
				}
			}
			err := tt.reload(e)
			if !errors.Is(err, tt.want) {
				t.Fatalf("reload: %v, want %v", err, tt.want)
			}
			if err != nil {
				if len(e.table.Services) != 0 {
					t.Fatalf("a refused reload left %d services", len(e.table.Services))
				}
				// Once the connections are gone, the slots are free.
				clear(dp.conns)
				must(t, e.do(ctx, func() error { e.sweep(); return nil }))
				must(t, e.Apply(ctx, restore(tt.port)))
			}
			ids := map[datapath.ServiceID]bool{}
			for i := range n {
				k := key(i, tt.port)
				st, ok := e.slots.services[k]
				if !ok || ids[st.id] || st.reals[rip1] == nil {
					t.Fatalf("service %s after the reload: %+v (slot taken twice: %v)", k, st, ok && ids[st.id])
				}
				ids[st.id] = true
				id := st.reals[rip1].id
				if dp.gone[id] {
					t.Fatalf("%s: real %d still retired", k, id)
				}
				if tt.port == 80 && tt.conns && id != was[k] {
					t.Fatalf("%s: real in slot %d, want its old slot %d", k, id, was[k])
				}
			}
			// With every connection closed, the sweep frees every slot
			// the reload left taken.
			clear(dp.conns)
			must(t, e.do(ctx, func() error { e.sweep(); return nil }))
			if len(e.slots.retired) != 0 || len(e.slots.retiredSvcs) != 0 {
				t.Fatalf("after the sweep %d reals and %d services still retired", len(e.slots.retired), len(e.slots.retiredSvcs))
			}
		})
	}
}

// TestRefusedRealWritesAreUndone makes the data plane refuse a batch of
// real writes after writing them: the rollback must write back what the
// table had, and a later change must write the reals again.
func TestRefusedRealWritesAreUndone(t *testing.T) {
	tests := []struct {
		name   string
		change func(ctx context.Context, e *Engine) error
	}{
		{"edit", func(ctx context.Context, e *Engine) error { return e.EditReal(ctx, vip, nat(rip1, 7)) }},
		{"add", func(ctx context.Context, e *Engine) error { return e.AddReal(ctx, vip, nat(rip2, 7)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp := newFake()
			e := startEngine(t, dp, nil)
			ctx := context.Background()
			must(t, e.AddService(ctx, lvs.Service{ServiceKey: vip, Scheduler: "wrr"}))
			must(t, e.AddReal(ctx, vip, nat(rip1, 1)))
			id := e.slots.services[vip].reals[rip1].id
			dp.failReals = lvs.ErrTableFull
			if err := tt.change(ctx, e); !errors.Is(err, lvs.ErrTableFull) {
				t.Fatalf("error %v, want ErrTableFull", err)
			}
			if got := dp.reals[id]; got != nat(rip1, 1) {
				t.Fatalf("after the refused change the data plane holds %+v, want %+v", got, nat(rip1, 1))
			}
			must(t, tt.change(ctx, e))
			st := e.slots.services[vip]
			for addr, rs := range st.reals {
				if got := dp.reals[rs.id]; got != rs.applied || got.Addr != addr || dp.gone[rs.id] {
					t.Fatalf("real %s: data plane %+v (retired %v), engine applied %+v", addr, got, dp.gone[rs.id], rs.applied)
				}
			}
			if w := dp.reals[st.reals[rip1].id].Weight; tt.name == "edit" && w != 7 {
				t.Fatalf("edited weight %d, want 7", w)
			}
		})
	}
}

// TestRefusedDeleteIsRolledBack: when the data plane fails part way
// through deleting services, the rollback writes them back, so the
// running configuration and the data plane agree again.
func TestRefusedDeleteIsRolledBack(t *testing.T) {
	dp := newFake()
	e := startEngine(t, dp, nil)
	ctx := context.Background()
	must(t, e.AddService(ctx, lvs.Service{ServiceKey: vip, Scheduler: "rr"}))
	must(t, e.AddReal(ctx, vip, nat(rip1, 1)))
	id := e.slots.services[vip].id
	dp.failDelete = errors.New("refused")
	if err := e.Apply(ctx, []lvs.Change{{Op: lvs.OpDeleteService, Service: lvs.Service{ServiceKey: vip}}}); err == nil {
		t.Fatal("the refused delete succeeded")
	}
	st, ok := e.slots.services[vip]
	if !ok {
		t.Fatal("the refused delete removed the service from the configuration")
	}
	if _, ok := dp.services[st.id]; !ok {
		t.Errorf("after the rollback the data plane lacks the service (slot %d, was %d)", st.id, id)
	}
}
