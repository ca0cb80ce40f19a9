package datapath

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/cilium/ebpf"

	"golvs/internal/datapath/wire"
	"golvs/internal/lvs"
)

// The single-item calls below are what the batch calls of services.go,
// reals.go and counters.go do for one id; only tests make them (lvsd's
// engine makes the batch calls), so they live here.

// SetService adds or changes service id with key svc.ServiceKey and the
// scheduler, scheduler flags (-b), one-packet (-o) and persistence (-p
// timeout, -M netmask) of svc; svc.Reals is ignored. A port-0 key is a
// port-zero service: it takes every port of its VIP that has no service
// of its own (it must be persistent to schedule anything). table is what
// internal/sched's Table computes, mapped to RealIDs:
//
//   - rr, wrr: the pick sequence; the position is set to rrStart;
//   - lc, wlc, sed, nq, fo, ovf, twos, lblc, lblcr: the reals in IPVS
//     list order (newest first), at most MaxDests;
//   - sh, dh: exactly sched.ShSize buckets, mh: exactly sched.MhSize slots,
//     RealID 0 for an empty one (an empty table, no reals, is allowed too).
//
// It replaces the live table with one map write, so a packet sees the old
// or the new table, never a mix. lblc/lblcr state survives a change of the
// table (IPVS keeps it across dest changes) but not of the scheduler.
func (d *Datapath) SetService(id ServiceID, svc lvs.Service, table []RealID, rrStart uint32) error {
	return d.SetServices([]ServiceUpdate{{ID: id, Service: svc, Table: table, RRStart: rrStart}})
}

// ClearService zeroes the statistics of service id.
func (d *Datapath) ClearService(id ServiceID) error {
	return d.ClearServices([]ServiceID{id})
}

// SetReal writes real server id; it also changes its weight, method or
// thresholds, and revives a real RetireReal retired. Connections already
// made keep the method they were made with. The overload flag (IPVS's
// IP_VS_DEST_F_OVERLOAD) is recomputed from the real's connections at
// once: set when UThreshold != 0 and ActiveConn+InActConn >= UThreshold,
// cleared when UThreshold is 0 or the total is below the lower threshold
// (LThreshold, or 3/4 of UThreshold when it is 0), and otherwise left as
// it is. From then on the data plane keeps it as connections come and go.
func (d *Datapath) SetReal(id RealID, r lvs.Real) error {
	return d.SetReals([]RealUpdate{{ID: id, Real: r}})
}

// RetireReal marks real id deleted from its service while its
// connections live on, as IPVS keeps a deleted dest in its trash with
// expire_nodest_conn=0: no new connection goes to it, client packets of
// its connections are dropped (the connections stay until they expire,
// so a real added back with SetReal in time carries on with them), and
// NAT replies from it are still translated. The engine removes it from
// the scheduler tables as well.
func (d *Datapath) RetireReal(id RealID) error {
	return d.RetireReals([]RealID{id})
}

// ClearReal zeroes the connection counters, statistics and route cache of
// real id; the engine calls it before it gives the id to another real.
func (d *Datapath) ClearReal(id RealID) error {
	return d.ClearReals([]RealID{id})
}

// Overloaded reports whether real id has IPVS's overload flag set: it
// reached its upper connection threshold and has not yet dropped below
// the lower one. No new connection is scheduled to it meanwhile.
func (d *Datapath) Overloaded(id RealID) (bool, error) {
	if err := checkReal(id); err != nil {
		return false, fmt.Errorf("overload of real %d: %w", id, err)
	}
	var v uint32
	if err := d.objs.LvsOverload.Lookup(uint32(id), &v); err != nil {
		return false, fmt.Errorf("overload of real %d: %w", id, err)
	}
	return v != 0, nil
}

// RealConns returns real id's ActiveConn and InActConn.
func (d *Datapath) RealConns(id RealID) (active, inactive uint32, err error) {
	if err := checkReal(id); err != nil {
		return 0, 0, fmt.Errorf("connections of real %d: %w", id, err)
	}
	var v lvsLvsRealConns
	if err := d.objs.LvsConnCounts.Lookup(uint32(id), &v); err != nil {
		return 0, 0, fmt.Errorf("connections of real %d: %w", id, err)
	}
	return v.Active, v.Inactive, nil
}

// PersistConns returns real id's PersistConn: the persistence templates
// bound to it, expired ones included until the sweeper removes them.
func (d *Datapath) PersistConns(id RealID) (uint32, error) {
	if err := checkReal(id); err != nil {
		return 0, fmt.Errorf("persistent connections of real %d: %w", id, err)
	}
	var v lvsLvsRealConns
	if err := d.objs.LvsConnCounts.Lookup(uint32(id), &v); err != nil {
		return 0, fmt.Errorf("persistent connections of real %d: %w", id, err)
	}
	return v.Persist, nil
}

// ServiceStats returns the counters of service id, summed over CPUs.
func (d *Datapath) ServiceStats(id ServiceID) (lvs.Stats, error) {
	if err := checkService(id); err != nil {
		return lvs.Stats{}, fmt.Errorf("stats of service %d: %w", id, err)
	}
	s, err := sumStats(d.objs.LvsSvcStats, uint32(id))
	if err != nil {
		return s, fmt.Errorf("stats of service %d: %w", id, err)
	}
	return s, nil
}

// RealStats returns the counters of real id, summed over CPUs.
func (d *Datapath) RealStats(id RealID) (lvs.Stats, error) {
	if err := checkReal(id); err != nil {
		return lvs.Stats{}, fmt.Errorf("stats of real %d: %w", id, err)
	}
	s, err := sumStats(d.objs.LvsRealStats, uint32(id))
	if err != nil {
		return s, fmt.Errorf("stats of real %d: %w", id, err)
	}
	return s, nil
}

func sumStats(m *ebpf.Map, id uint32) (lvs.Stats, error) {
	var per []lvsLvsStats
	if err := m.Lookup(id, &per); err != nil {
		return lvs.Stats{}, err
	}
	return sum(per), nil
}

// SetRealConnsForTest presets real id's ActiveConn and InActConn.
func (d *Datapath) SetRealConnsForTest(id RealID, active, inactive uint32) error {
	return d.objs.LvsConnCounts.Put(uint32(id), lvsLvsRealConns{Active: active, Inactive: inactive})
}

// AgeConnForTest moves the expiry of the connection client -> virtual by
// -by (by > its time left expires it).
func (d *Datapath) AgeConnForTest(proto lvs.Protocol, client, virtual netip.AddrPort, by time.Duration) error {
	k, err := tupleFor(proto, client, virtual)
	if err != nil {
		return err
	}
	var v lvsLvsConn
	if err := d.objs.LvsConns.Lookup(&k, &v); err != nil {
		return fmt.Errorf("age %s -> %s: %w", client, virtual, err)
	}
	if uint64(by) >= v.ExpiresNs {
		v.ExpiresNs = 1 // the clock may not have run for by yet
	} else {
		v.ExpiresNs -= uint64(by)
	}
	return d.objs.LvsConns.Update(&k, &v, ebpf.UpdateExist)
}

// NATEntriesForTest returns the number of NAT reverse entries.
func (d *Datapath) NATEntriesForTest() (int, error) {
	var (
		k lvsLvsTuple
		v lvsLvsNatConn
	)
	n := 0
	it := d.objs.LvsNatConns.Iterate()
	for it.Next(&k, &v) {
		n++
	}
	return n, it.Err()
}

// RealRouteCachedForTest reports whether real id's route cache entry
// (lvs_real_routes) holds an answer.
func (d *Datapath) RealRouteCachedForTest(id RealID) (bool, error) {
	var v lvsLvsFibCache
	if err := d.objs.LvsRealRoutes.Lookup(uint32(id), &v); err != nil {
		return false, err
	}
	return v.ExpiresNs != 0, nil
}

// DeleteConnForTest removes a connection without touching its real's
// counters or its NAT reverse entry, which is left an orphan.
func (d *Datapath) DeleteConnForTest(proto lvs.Protocol, client, virtual netip.AddrPort) error {
	k, err := tupleFor(proto, client, virtual)
	if err != nil {
		return err
	}
	return d.objs.LvsConns.Delete(&k)
}

func tupleFor(proto lvs.Protocol, client, virtual netip.AddrPort) (lvsLvsTuple, error) {
	var k lvsLvsTuple
	s, fam, err := addr(client.Addr())
	if err != nil {
		return k, err
	}
	dst, _, err := addr(virtual.Addr())
	if err != nil {
		return k, err
	}
	k.Saddr.Bytes, k.Daddr.Bytes = s, dst
	k.Sport, k.Dport = wire.Hton(client.Port()), wire.Hton(virtual.Port())
	k.Proto, k.Family = uint8(proto), fam
	return k, nil
}

// SetConnStateForTest overwrites the state of the connection client ->
// virtual, leaving the counters as they are.
func (d *Datapath) SetConnStateForTest(proto lvs.Protocol, client, virtual netip.AddrPort, state int) error {
	k, err := tupleFor(proto, client, virtual)
	if err != nil {
		return err
	}
	var v lvsLvsConn
	if err := d.objs.LvsConns.Lookup(&k, &v); err != nil {
		return fmt.Errorf("set state of %s -> %s: %w", client, virtual, err)
	}
	v.State = uint32(state)
	return d.objs.LvsConns.Update(&k, &v, ebpf.UpdateExist)
}

// FillNATForTest adds n NAT reverse entries that no connection owns
// (replies from 198.19.255.1 to ports of 198.19.255.2, naming service 1
// port 80), and fails when the table takes fewer.
func (d *Datapath) FillNATForTest(n int) error {
	for i := range n {
		var rk lvsLvsTuple
		rk.Saddr.Bytes = [16]byte{198, 19, 255, 1}
		rk.Daddr.Bytes = [16]byte{198, 19, 255, 2}
		rk.Sport, rk.Dport = wire.Hton(80), wire.Hton(uint16(i+1))
		rk.Proto, rk.Family = uint8(lvs.TCP), uint8(lvsLvsFamilyLVS_AF_INET)
		nv := lvsLvsNatConn{Service: 1, Vport: wire.Hton(80)}
		if err := d.objs.LvsNatConns.Update(&rk, &nv, ebpf.UpdateNoExist); err != nil {
			return fmt.Errorf("reverse entry %d: %w", i, err)
		}
	}
	return nil
}

// ConnEntriesForTest returns the number of conn table entries, live or not.
func (d *Datapath) ConnEntriesForTest() (int, error) {
	var (
		k lvsLvsTuple
		v lvsLvsConn
	)
	n := 0
	it := d.objs.LvsConns.Iterate()
	for it.Next(&k, &v) {
		n++
	}
	return n, it.Err()
}

// PutServiceForTest writes a services map entry as an earlier lvsd may
// have left it, with no scheduler table.
func (d *Datapath) PutServiceForTest(id ServiceID, k lvs.ServiceKey) error {
	key, err := serviceKey(k)
	if err != nil {
		return err
	}
	return d.objs.LvsServices.Put(&key, lvsLvsService{Id: uint32(id), Scheduler: uint32(lvsLvsSchedLVS_SCHED_RR)})
}

// SweepPausedForTest is Sweep calling fn after it has listed the NAT
// reverse entries and before it removes orphans among them: the window in
// which a connection being replaced (conn_reuse) comes back.
func (d *Datapath) SweepPausedForTest(fn func()) (int, error) { return d.sweep(fn) }

// AttachClsactForTest is Attach with the clsact fallback, TCX or not.
func (d *Datapath) AttachClsactForTest(ifname string) error { return d.attach(ifname, false) }

// Spec sizes for the ABI test.
var LoadSpecForTest = loadLvs

// SetOverloadForTest sets or clears real id's overload flag.
func (d *Datapath) SetOverloadForTest(id RealID, on bool) error {
	v := uint32(0)
	if on {
		v = 1
	}
	return d.objs.LvsOverload.Put(uint32(id), v)
}

// LBLCForTest returns the lblc/lblcr entry of service id for destination
// address a: its reals, newest first (nil when there is none).
func (d *Datapath) LBLCForTest(id ServiceID, a netip.Addr) ([]RealID, error) {
	var k lvsLvsLblcKey
	b, _, err := addr(a)
	if err != nil {
		return nil, err
	}
	k.Addr.Bytes, k.Service = b, uint32(id)
	var v lvsLvsLblcEntry
	if err := d.objs.LvsLblc.Lookup(&k, &v); errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	out := []RealID{}
	for i := 0; i < int(v.Size) && i < len(v.Reals); i++ {
		out = append(out, RealID(v.Reals[i]))
	}
	return out, nil
}

// AgeLBLCForTest moves the last use and last change of every lblc/lblcr
// entry back by by.
func (d *Datapath) AgeLBLCForTest(by time.Duration) error {
	var v lvsLvsLblcEntry
	keys, err := keysOf(d.objs.LvsLblc, func(*lvsLvsLblcKey, *lvsLvsLblcEntry) bool { return true })
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := d.objs.LvsLblc.Lookup(&k, &v); err != nil {
			return err
		}
		// Wrapping like jiffies: the data plane and the sweep compare
		// differences, so an age beyond the uptime works too.
		v.LastuseNs -= uint64(by)
		v.LastmodNs -= uint64(by)
		if err := d.objs.LvsLblc.Put(&k, &v); err != nil {
			return err
		}
	}
	return nil
}

// SweepSchedStateForTest runs the lblc/lblcr timer once at time now,
// without SweepSchedState's 60 s rate limit; runs sets its run counter
// first (a multiple of 30 makes it the full scan).
func (d *Datapath) SweepSchedStateForTest(now time.Duration, runs int) error {
	d.schedMu.Lock()
	defer d.schedMu.Unlock()
	d.schedRuns = runs
	return d.sweepSchedState(now)
}

// AgeTemplateForTest moves the expiry of the persistence template
// <proto, net:0, virtual> by -by (by > its time left expires it).
func (d *Datapath) AgeTemplateForTest(proto lvs.Protocol, net netip.Addr, virtual netip.AddrPort, by time.Duration) error {
	k, err := tupleFor(proto, netip.AddrPortFrom(net, 0), virtual)
	if err != nil {
		return err
	}
	var v lvsLvsTmpl
	if err := d.objs.LvsTemplates.Lookup(&k, &v); err != nil {
		return fmt.Errorf("age template %s -> %s: %w", net, virtual, err)
	}
	if uint64(by) >= v.ExpiresNs {
		v.ExpiresNs = 1
	} else {
		v.ExpiresNs -= uint64(by)
	}
	return d.objs.LvsTemplates.Update(&k, &v, ebpf.UpdateExist)
}

// TemplateEntriesForTest returns the number of templates, live or not.
func (d *Datapath) TemplateEntriesForTest() (int, error) {
	var (
		k lvsLvsTuple
		v lvsLvsTmpl
	)
	n := 0
	it := d.objs.LvsTemplates.Iterate()
	for it.Next(&k, &v) {
		n++
	}
	return n, it.Err()
}

// RealForTest returns what the reals map holds for real id, as text: the
// batch and one-by-one writers are compared by it.
func (d *Datapath) RealForTest(id RealID) (string, error) {
	var v lvsLvsReal
	if err := d.objs.LvsReals.Lookup(uint32(id), &v); err != nil {
		return "", err
	}
	return fmt.Sprintf("%+v", v), nil
}

// SetStatsForTest presets the statistics of real id (service id when
// service is set): CPU i counts i+1 times s.
func (d *Datapath) SetStatsForTest(id uint32, service bool, conns, pkts uint64) error {
	m := d.objs.LvsRealStats
	if service {
		m = d.objs.LvsSvcStats
	}
	per := make([]lvsLvsStats, possibleCPUs())
	for i := range per {
		n := uint64(i + 1)
		per[i] = lvsLvsStats{Conns: n * conns, Inpkts: n * pkts, Outpkts: n * pkts, Inbytes: n * pkts * 100, Outbytes: n * pkts * 50}
	}
	return m.Put(id, per)
}

// SetPersistConnsForTest presets real id's PersistConn.
func (d *Datapath) SetPersistConnsForTest(id RealID, n uint32) error {
	var c lvsLvsRealConns
	if err := d.objs.LvsConnCounts.Lookup(uint32(id), &c); err != nil {
		return err
	}
	c.Persist = n
	return d.objs.LvsConnCounts.Put(uint32(id), c)
}

// TableRealsForTest returns how many entries the scheduler table of
// service id has, and whether it has a table at all.
func (d *Datapath) TableRealsForTest(id ServiceID) (n uint32, ok bool, err error) {
	var inner *ebpf.Map
	err = d.objs.LvsTables.Lookup(uint32(id), &inner)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer inner.Close()
	err = inner.Lookup(uint32(0), &n)
	return n, true, err
}

// ClearReals does ClearReal for each of ids, with one batch write of each
// map.
func (d *Datapath) ClearReals(ids []RealID) error {
	if len(ids) == 0 {
		return nil
	}
	keys, err := realKeys(ids)
	if err != nil {
		return fmt.Errorf("clear reals: %w", err)
	}
	if err := d.clearReals(keys); err != nil {
		return fmt.Errorf("clear reals: %w", err)
	}
	return nil
}

// The batch writes a Plan is made of, for the tests that check each.

func (d *Datapath) SetServices(us []ServiceUpdate) error { return d.setServices(us) }
func (d *Datapath) SetReals(us []RealUpdate) error       { return d.setReals(us) }
func (d *Datapath) AddReals(us []RealUpdate) error       { return d.addReals(us) }
func (d *Datapath) RetireReals(ids []RealID) error       { return d.retireReals(ids) }
func (d *Datapath) ClearServices(ids []ServiceID) error  { return d.clearServices(ids) }
func (d *Datapath) DeleteServices(keys map[ServiceID]lvs.ServiceKey) error {
	return d.deleteServices(keys)
}
func (d *Datapath) DeleteService(id ServiceID, k lvs.ServiceKey) error { return d.deleteService(id, k) }
func (d *Datapath) SchedPosition(id ServiceID) (uint32, error)         { return d.schedPosition(id) }
