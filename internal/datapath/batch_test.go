package datapath_test

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"golvs/internal/datapath"
	"golvs/internal/datapath/datapathtest"
	"golvs/internal/lvs"
)

// TestPrivilegedRealBatches checks each batch call on reals against the
// calls it batches, made on twin slots: SetReals (with the overload rule
// over preset connection counts), RetireReals and ClearReals, and
// RealCounters read as a whole range and one by one.
func TestPrivilegedRealBatches(t *testing.T) {
	datapathtest.RequirePrivileged(t)
	d := datapathtest.Open(t, datapath.Options{ConnTableSize: 1024})
	// Slot i is written by the batch calls, twin(i) one by one.
	const n = 40
	twin := func(id datapath.RealID) datapath.RealID { return id + 1000 }
	reals := make([]datapath.RealUpdate, n)
	for i := range reals {
		id := datapath.RealID(i + 1)
		r := lvs.Real{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, 0, byte(i + 1)}), 8080), Method: lvs.Masq, Weight: i}
		// Every branch of the overload rule: no threshold, at or above
		// the upper one, below the lower one, between the two.
		switch i % 4 {
		case 1:
			r.UThreshold = 5
		case 2:
			r.UThreshold, r.LThreshold = 10, 4
		case 3:
			r.UThreshold, r.LThreshold = 20, 2
		}
		if i%5 == 0 {
			r.Method, r.TunType, r.TunPort, r.TunFlags = lvs.Tunnel, lvs.TunGUE, 6080, lvs.TunCsum
			r.Addr = netip.AddrPortFrom(netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", i+1)), 0)
		}
		reals[i] = datapath.RealUpdate{ID: id, Real: r}
		for _, x := range []datapath.RealID{id, twin(id)} {
			must(t, d.SetRealConnsForTest(x, uint32(i%7), uint32(i%3)))
			// Overload set before: the rule must also clear it.
			must(t, d.SetOverloadForTest(x, i%2 == 0))
			must(t, d.SetStatsForTest(uint32(x), false, uint64(i), uint64(10*i)))
			must(t, d.SetPersistConnsForTest(x, uint32(i%4)))
		}
	}
	// same compares what slot id and its twin hold.
	same := func(step string) {
		t.Helper()
		for _, u := range reals {
			a, err := d.RealForTest(u.ID)
			must(t, err)
			b, err := d.RealForTest(twin(u.ID))
			must(t, err)
			if a != b {
				t.Fatalf("%s: real %d holds %s, one by one %s", step, u.ID, a, b)
			}
			oa, err := d.Overloaded(u.ID)
			must(t, err)
			ob, err := d.Overloaded(twin(u.ID))
			must(t, err)
			if oa != ob {
				t.Fatalf("%s: real %d overloaded %v, one by one %v", step, u.ID, oa, ob)
			}
		}
		counters(t, d, reals, twin)
	}
	must(t, d.SetReals(reals))
	for _, u := range reals {
		must(t, d.SetReal(twin(u.ID), u.Real))
	}
	same("SetReals")

	ids := make([]datapath.RealID, 0, n)
	for _, u := range reals[:n/2] {
		ids = append(ids, u.ID)
		must(t, d.RetireReal(twin(u.ID)))
	}
	must(t, d.RetireReals(ids))
	same("RetireReals")

	must(t, d.ClearReals(ids))
	for _, id := range ids {
		must(t, d.ClearReal(twin(id)))
	}
	same("ClearReals")
	cs, err := d.RealCounters(ids)
	must(t, err)
	for i, c := range cs {
		if c != (datapath.RealCounters{}) {
			t.Fatalf("real %d after ClearReals: %+v", ids[i], c)
		}
	}

	for _, bad := range [][]datapath.RealID{{0}, {1, datapath.RealID(datapath.MaxReals)}} {
		if err := d.SetReals([]datapath.RealUpdate{{ID: bad[len(bad)-1]}}); !errors.Is(err, lvs.ErrRange) {
			t.Errorf("SetReals of real %d: %v, want ErrRange", bad[len(bad)-1], err)
		}
		for name, call := range map[string]func([]datapath.RealID) error{
			"ClearReals": d.ClearReals, "RetireReals": d.RetireReals,
			"RealCounters": func(ids []datapath.RealID) error { _, err := d.RealCounters(ids); return err },
		} {
			if err := call(bad); !errors.Is(err, lvs.ErrRange) {
				t.Errorf("%s of %v: %v, want ErrRange", name, bad, err)
			}
		}
	}
}

// counters checks RealCounters against RealConns, PersistConns and
// RealStats, for the reals and their twins read together (a batch read
// of the map's start) and for the twins alone, far into the map (read
// one by one).
func counters(t *testing.T, d *datapath.Datapath, reals []datapath.RealUpdate, twin func(datapath.RealID) datapath.RealID) {
	t.Helper()
	var all, twins []datapath.RealID
	for _, u := range reals {
		all = append(all, u.ID, twin(u.ID))
		twins = append(twins, twin(u.ID))
	}
	for _, ids := range [][]datapath.RealID{all, twins} {
		cs, err := d.RealCounters(ids)
		must(t, err)
		for i, id := range ids {
			var want datapath.RealCounters
			var err error
			want.ActiveConns, want.InActConns, err = d.RealConns(id)
			must(t, err)
			want.PersistConns, err = d.PersistConns(id)
			must(t, err)
			want.Stats, err = d.RealStats(id)
			must(t, err)
			if cs[i] != want {
				t.Fatalf("RealCounters of real %d (of %d read): %+v, want %+v", id, len(ids), cs[i], want)
			}
		}
	}
}

// TestPrivilegedServiceBatches checks ServiceCounters against
// ServiceStats, read as a whole range and one by one, and ClearServices.
func TestPrivilegedServiceBatches(t *testing.T) {
	datapathtest.RequirePrivileged(t)
	d := datapathtest.Open(t, datapath.Options{ConnTableSize: 1024})
	var ids []datapath.ServiceID
	for i := range 30 {
		id := datapath.ServiceID(i + 1)
		ids = append(ids, id)
		must(t, d.SetStatsForTest(uint32(id), true, uint64(i+1), uint64(3*i)))
	}
	last := datapath.ServiceID(datapath.MaxServices - 1)
	must(t, d.SetStatsForTest(uint32(last), true, 5, 6))
	for _, read := range [][]datapath.ServiceID{ids, {last, 3}} {
		got, err := d.ServiceCounters(read)
		must(t, err)
		for i, id := range read {
			want, err := d.ServiceStats(id)
			must(t, err)
			if got[i] != want || want == (lvs.Stats{}) {
				t.Fatalf("ServiceCounters of service %d (of %d read): %+v, want %+v (not zero)", id, len(read), got[i], want)
			}
		}
	}
	must(t, d.ClearServices(ids[:10]))
	got, err := d.ServiceCounters(ids)
	must(t, err)
	for i, s := range got {
		if cleared := i < 10; cleared != (s == lvs.Stats{}) {
			t.Fatalf("service %d after ClearServices of the first 10: %+v", ids[i], s)
		}
	}
	if _, err := d.ServiceCounters([]datapath.ServiceID{datapath.ServiceID(datapath.MaxServices)}); !errors.Is(err, lvs.ErrRange) {
		t.Errorf("ServiceCounters out of range: %v, want ErrRange", err)
	}
}

// TestPrivilegedServiceSetAndDeleteBatches writes services with
// SetServices and deletes them with DeleteServices, one of them deleted
// already (a half-done earlier delete), which the batches go past.
func TestPrivilegedServiceSetAndDeleteBatches(t *testing.T) {
	datapathtest.RequirePrivileged(t)
	d := datapathtest.Open(t, datapath.Options{ConnTableSize: 1024})
	must(t, d.SetReals([]datapath.RealUpdate{{ID: 1, Real: lvs.Real{Addr: netip.MustParseAddrPort("198.19.0.1:8080"), Method: lvs.Masq, Weight: 1}}}))
	var us []datapath.ServiceUpdate
	keys := map[datapath.ServiceID]lvs.ServiceKey{}
	for i := range 40 {
		id := datapath.ServiceID(i + 1)
		k := key(lvs.TCP, uint16(1000+i))
		us = append(us, datapath.ServiceUpdate{ID: id, Service: lvs.Service{ServiceKey: k, Scheduler: "rr"}, Table: []datapath.RealID{1}, RRStart: 3})
		keys[id] = k
	}
	must(t, d.SetServices(us))
	got, err := d.Services()
	must(t, err)
	for id, k := range keys {
		pos, err := d.SchedPosition(id)
		must(t, err)
		n, has, err := d.TableRealsForTest(id)
		must(t, err)
		if got[k] != id || !has || n != 1 || pos != 3 {
			t.Fatalf("service %d after SetServices: in the map as %d, table %v of %d, position %d", id, got[k], has, n, pos)
		}
	}
	must(t, d.DeleteService(9, keys[9]))
	// A service DeleteServices is not given stays.
	must(t, d.PutServiceForTest(50, key(lvs.UDP, 5)))
	must(t, d.DeleteServices(keys))
	got, err = d.Services()
	must(t, err)
	if len(got) != 1 || got[key(lvs.UDP, 5)] != 50 {
		t.Fatalf("services left after DeleteServices: %v, want only service 50", got)
	}
	for id := range keys {
		pos, err := d.SchedPosition(id)
		must(t, err)
		// Emptied, not deleted (see emptyTables).
		n, _, err := d.TableRealsForTest(id)
		must(t, err)
		if n != 0 || pos != 0 {
			t.Fatalf("service %d after DeleteServices: table of %d, position %d", id, n, pos)
		}
	}
}
