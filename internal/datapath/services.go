package datapath

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"golvs/internal/datapath/wire"
	"golvs/internal/lvs"
	"golvs/internal/sched"
)

// ServiceUpdate is one service of a Plan: its slot, its options and its
// scheduler table (real slots; 0 is an empty bucket).
type ServiceUpdate struct {
	ID      ServiceID
	Service lvs.Service
	Table   []RealID
	RRStart uint32
	// RR, when set, has Apply work RRStart out from where the round
	// robin of the table being replaced is (setServices ignores it).
	RR *RRCarry
}

// setServices does SetService for each of us, switching all their
// scheduler tables in with one batch write of the table map. The kernel
// waits for an RCU grace period after every write to a map of maps (so
// that no program still sees the old inner map when the write returns),
// about 10 ms here: written one by one, a restore of 4,000 services took
// 50 s. The other maps are written in batches too, and the tables, a
// map each, are made by a few goroutines at once. Each service still
// sees its old table or its new one, never a mix. When it fails, the
// services before the failing one may have been written; the caller
// reapplies what it wants.
func (d *Datapath) setServices(us []ServiceUpdate) error {
	if len(us) == 0 {
		return nil
	}
	keys := make([]lvsLvsServiceKey, len(us))
	vals := make([]lvsLvsService, len(us))
	ids := make([]uint32, len(us))
	starts := make([]uint32, len(us))
	for i, u := range us {
		k, v, err := serviceEntry(u)
		if err != nil {
			return err
		}
		keys[i], vals[i], ids[i], starts[i] = k, v, uint32(u.ID), u.RRStart
	}
	tables, err := d.newTables(us)
	if err != nil {
		return err
	}
	defer func() {
		for _, t := range tables {
			t.Close() // the table map holds its own reference
		}
	}()
	// -E to another scheduler destroys the old one's state: lblc/lblcr
	// state survives a change of the table, not of the scheduler.
	changed := map[ServiceID]bool{}
	for i := range us {
		var old lvsLvsService
		if err := d.objs.LvsServices.Lookup(&keys[i], &old); err == nil && old.Id == vals[i].Id && old.Scheduler != vals[i].Scheduler {
			changed[ServiceID(ids[i])] = true
		}
	}
	if err := d.dropSchedStates(changed); err != nil {
		return fmt.Errorf("set services: %w", err)
	}
	if err := batchPut(d.objs.LvsSchedPos, ids, starts); err != nil {
		return fmt.Errorf("set services: scheduler positions: %w", err)
	}
	// The VIPs NAT reverse entries name by service id (lvs_svc_vaddrs),
	// there before the first connection; never cleared, as connections
	// outlive their service.
	vaddrs := make([]lvsLvsAddr, len(keys))
	for i, k := range keys {
		vaddrs[i] = k.Vaddr
	}
	if err := batchPut(d.objs.LvsSvcVaddrs, ids, vaddrs); err != nil {
		return fmt.Errorf("set services: VIPs: %w", err)
	}
	fds := make([]uint32, len(tables))
	for i, t := range tables {
		fds[i] = uint32(t.FD())
	}
	if _, err := d.objs.LvsTables.BatchUpdate(ids, fds, nil); err != nil {
		if !errors.Is(err, ebpf.ErrNotSupported) {
			return fmt.Errorf("set service %s: swap scheduler table: %w", us[0].Service.ServiceKey, err)
		}
		for i, t := range tables {
			if err := d.objs.LvsTables.Put(ids[i], t); err != nil {
				return fmt.Errorf("set service %s: swap scheduler table: %w", us[i].Service.ServiceKey, err)
			}
		}
	}
	n, err := d.objs.LvsServices.BatchUpdate(keys, vals, nil)
	if errors.Is(err, ebpf.ErrNotSupported) {
		for n = range keys {
			if err = d.objs.LvsServices.Put(&keys[n], &vals[n]); err != nil {
				break
			}
		}
	}
	if err != nil {
		k := us[min(n, len(us)-1)].Service.ServiceKey
		if errors.Is(err, unix.E2BIG) { // hash map full
			return fmt.Errorf("set service %s: %w", k, lvs.ErrTableFull)
		}
		return fmt.Errorf("set service %s: %w", k, err)
	}
	for _, u := range us {
		if u.Service.Addr.Port() == 0 {
			if err := d.countPortZero(); err != nil {
				return fmt.Errorf("set services: %w", err)
			}
			break
		}
	}
	return nil
}

// newTables builds the scheduler tables of us, in their order. Making a
// map is a few system calls of some microseconds each, tens of
// thousands of them in a restore: a few goroutines make them at once.
func (d *Datapath) newTables(us []ServiceUpdate) ([]*ebpf.Map, error) {
	tables := make([]*ebpf.Map, len(us))
	errs := make([]error, len(us))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), 4, (len(us)+255)/256) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(us) {
					return
				}
				if tables[i], errs[i] = d.newTable(us[i].Table); errs[i] != nil {
					// The others stop at their next table.
					next.Store(int64(len(us)))
					return
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			for _, t := range tables {
				if t != nil {
					t.Close()
				}
			}
			return nil, fmt.Errorf("set service %s: scheduler table: %w", us[i].Service.ServiceKey, err)
		}
	}
	return tables, nil
}

// serviceEntry checks service update u and returns its services map
// entry; it does no I/O.
func serviceEntry(u ServiceUpdate) (lvsLvsServiceKey, lvsLvsService, error) {
	id, svc, table := u.ID, u.Service, u.Table
	k := svc.ServiceKey
	var v lvsLvsService
	if err := checkService(id); err != nil {
		return lvsLvsServiceKey{}, v, fmt.Errorf("set service %s: %w", k, err)
	}
	kind, ok := sched.KindOf(svc.Scheduler)
	if !ok {
		return lvsLvsServiceKey{}, v, fmt.Errorf("set service %s: %w: %q", k, lvs.ErrNoScheduler, svc.Scheduler)
	}
	key, err := serviceKey(k)
	if err != nil {
		return key, v, fmt.Errorf("set service %s: %w", k, err)
	}
	fixed, most := kind.Shape()
	if len(table) > most || (fixed != 0 && len(table) != 0 && len(table) != fixed) {
		return key, v, fmt.Errorf("set service %s: %s table of %d entries (%s): %w", k, svc.Scheduler, len(table), shapeText(fixed, most), lvs.ErrRange)
	}
	for _, r := range table {
		if r == 0 && fixed != 0 {
			continue // an empty bucket
		}
		if err := checkReal(r); err != nil {
			return key, v, fmt.Errorf("set service %s: real %d: %w", k, r, err)
		}
	}
	if svc.SchedFlags&^lvs.SchedFlagsMask != 0 {
		return key, v, fmt.Errorf("set service %s: scheduler flags %#x: %w", k, uint32(svc.SchedFlags), lvs.ErrInvalid)
	}
	v = lvsLvsService{Id: uint32(id), Scheduler: uint32(kind.ID), Flags: uint32(svc.SchedFlags)}
	if svc.OnePacket {
		v.Flags |= uint32(lvsLvsSvcFlagsLVS_SVC_F_ONEPACKET)
	}
	if svc.Persistent > 0 {
		v.Flags |= uint32(lvsLvsSvcFlagsLVS_SVC_F_PERSISTENT)
		v.TimeoutNs = uint64(svc.Persistent)
		// No -M: the whole client address.
		mask := netip.AddrFrom4([4]byte{255, 255, 255, 255})
		if k.Addr.Addr().Is6() {
			mask = netip.AddrFrom16([16]byte{0: 0xff, 1: 0xff, 2: 0xff, 3: 0xff, 4: 0xff, 5: 0xff, 6: 0xff, 7: 0xff,
				8: 0xff, 9: 0xff, 10: 0xff, 11: 0xff, 12: 0xff, 13: 0xff, 14: 0xff, 15: 0xff})
		}
		if svc.Netmask.IsValid() {
			mask = svc.Netmask
		}
		if mask.Is4() != k.Addr.Addr().Is4() {
			return key, v, fmt.Errorf("set service %s: netmask %s: %w", k, mask, lvs.ErrFamily)
		}
		m, _, err := addr(mask)
		if err != nil {
			return key, v, fmt.Errorf("set service %s: netmask: %w", k, err)
		}
		v.Netmask.Bytes = m
	}
	return key, v, nil
}

func serviceKey(k lvs.ServiceKey) (lvsLvsServiceKey, error) {
	var key lvsLvsServiceKey
	if k.Protocol != lvs.TCP && k.Protocol != lvs.UDP {
		return key, fmt.Errorf("protocol %d: %w", k.Protocol, lvs.ErrInvalid)
	}
	a, fam, err := addr(k.Addr.Addr())
	if err != nil {
		return key, err
	}
	key.Vaddr.Bytes = a
	key.Vport = wire.Hton(k.Addr.Port())
	key.Proto = uint8(k.Protocol)
	key.Family = fam
	return key, nil
}

// countPortZero writes how many port-zero services there are, which the
// data plane reads before it looks for one.
func (d *Datapath) countPortZero() error {
	svcs, err := d.Services()
	if err != nil {
		return err
	}
	n := uint32(0)
	for k := range svcs {
		if k.Addr.Port() == 0 {
			n++
		}
	}
	if err := d.objs.LvsPortZero.Put(uint32(0), n); err != nil {
		return fmt.Errorf("count port-zero services: %w", err)
	}
	return nil
}

func shapeText(fixed, most int) string {
	if fixed != 0 {
		return fmt.Sprintf("exactly %d, or none", fixed)
	}
	return fmt.Sprintf("at most %d", most)
}

// newTable builds a scheduler table: [n, table...].
func (d *Datapath) newTable(table []RealID) (*ebpf.Map, error) {
	// Without the key and value types of the inner map's spec: the
	// kernel matches an inner map by type, sizes and flags, and each
	// map made with BTF costs a BTF object, a third of the time of a
	// restore's thousands of tables.
	spec := &ebpf.MapSpec{
		Name:       "lvs_table",
		Type:       d.innerSpec.Type,
		KeySize:    d.innerSpec.KeySize,
		ValueSize:  d.innerSpec.ValueSize,
		Flags:      d.innerSpec.Flags,
		MaxEntries: uint32(1 + len(table)),
	}
	m, err := ebpf.NewMap(spec)
	if err != nil {
		return nil, err
	}
	keys := make([]uint32, 1+len(table))
	vals := make([]uint32, 1+len(table))
	vals[0] = uint32(len(table))
	for i, r := range table {
		keys[i+1] = uint32(i + 1)
		vals[i+1] = uint32(r)
	}
	if _, err := m.BatchUpdate(keys, vals, nil); err != nil {
		if !errors.Is(err, ebpf.ErrNotSupported) {
			m.Close()
			return nil, err
		}
		for i := range keys {
			if err := m.Put(keys[i], vals[i]); err != nil {
				m.Close()
				return nil, err
			}
		}
	}
	return m, nil
}

// schedPosition returns the rr/wrr position of service id: the index (modulo
// the table length) of the next pick.
func (d *Datapath) schedPosition(id ServiceID) (uint32, error) {
	if err := checkService(id); err != nil {
		return 0, fmt.Errorf("scheduler position of service %d: %w", id, err)
	}
	var pos uint32
	if err := d.objs.LvsSchedPos.Lookup(uint32(id), &pos); err != nil {
		return 0, fmt.Errorf("scheduler position of service %d: %w", id, err)
	}
	return pos, nil
}

// deleteService removes service id with key k: new connections to it are no
// longer made; existing ones run until they expire, as in IPVS. Its
// persistence templates are removed (and their reals' PersistConn
// released). It also empties id's scheduler table (the slot then holds
// an empty one, see emptyTables) and position, so nothing of the service
// is left for a later user of id, even when k is no longer in the services
// map (a half-done earlier delete).
func (d *Datapath) deleteService(id ServiceID, k lvs.ServiceKey) error {
	return d.deleteServices(map[ServiceID]lvs.ServiceKey{id: k})
}

// deleteServices is deleteService for each of keys (service id -> key),
// emptying all their scheduler table slots with one batch write
// and reading the template and lblc tables once rather than once per
// service: a Clear of 4,000 services took 50 s one by one. The slots are
// left holding an empty table rather than none (see emptyTables).
func (d *Datapath) deleteServices(keys map[ServiceID]lvs.ServiceKey) error {
	if len(keys) == 0 {
		return nil
	}
	var errs []error
	ids := make([]uint32, 0, len(keys))
	skeys := make([]lvsLvsServiceKey, 0, len(keys))
	portZero := false
	var kids []uint32 // the ids of skeys, in their order
	for id, k := range keys {
		if err := checkService(id); err != nil {
			return fmt.Errorf("delete service %s: %w", k, err)
		}
		ids = append(ids, uint32(id))
		portZero = portZero || k.Addr.Port() == 0
		// A key the services map cannot hold was never written to it
		// (the data plane refused the service): only its slot is
		// cleaned, or the undo of that refusal would fail too.
		if key, err := serviceKey(k); err == nil {
			skeys, kids = append(skeys, key), append(kids, uint32(id))
		}
	}
	first := len(errs)
	for j, i := range deleteAll(d.objs.LvsServices, skeys, &errs) {
		// deleteAll adds one error per failed key, in order.
		errs[first+j] = fmt.Errorf("delete service %s: %w", keys[ServiceID(kids[i])], errs[first+j])
	}
	if err := batchPut(d.objs.LvsSchedPos, ids, make([]uint32, len(ids))); err != nil {
		errs = append(errs, fmt.Errorf("delete services: scheduler positions: %w", err))
	}
	if err := d.emptyTables(ids); err != nil {
		errs = append(errs, fmt.Errorf("delete services: scheduler tables: %w", err))
	}
	svcs := make(map[ServiceID]bool, len(keys))
	for id := range keys {
		svcs[id] = true
	}
	if err := d.dropSchedStates(svcs); err != nil {
		errs = append(errs, fmt.Errorf("delete services: %w", err))
	}
	// IPVS flushes a service's templates with it; its connections live on.
	tmpls, err := keysOf(d.objs.LvsTemplates, func(_ *lvsLvsTuple, t *lvsLvsTmpl) bool { _, ok := keys[ServiceID(t.Service)]; return ok })
	if err == nil {
		_, err = d.remove(tmpls, sweepAllTemplates)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("delete services: persistence templates: %w", err))
	}
	if portZero {
		if err := d.countPortZero(); err != nil {
			errs = append(errs, fmt.Errorf("delete services: %w", err))
		}
	}
	return errors.Join(errs...)
}

// emptyTables points the scheduler table slots ids at one empty table.
// The kernel has no batch delete for a map of maps, and waits out an RCU
// grace period after each delete (10 ms or more): deleting the slots of
// 10,000 services took two minutes. One batch write waits once. A
// service's table is only looked up once its key is found in the
// services map, which is deleted first, so the empty table is never
// scheduled from; the slot's next service writes its own.
func (d *Datapath) emptyTables(ids []uint32) error {
	empty, err := d.newTable(nil)
	if err != nil {
		return err
	}
	defer empty.Close() // the slots hold their own references
	fds := make([]uint32, len(ids))
	for i := range fds {
		fds[i] = uint32(empty.FD())
	}
	_, err = d.objs.LvsTables.BatchUpdate(ids, fds, nil)
	if errors.Is(err, ebpf.ErrNotSupported) {
		for _, id := range ids {
			if err := d.objs.LvsTables.Put(id, empty); err != nil {
				return err
			}
		}
		return nil
	}
	return err
}

// Services returns the services map: every service key the data plane
// schedules for, and its id. After a restart it holds what the last lvsd
// left in the pinned maps, so lvsd can delete the services its saved
// configuration does not know.
func (d *Datapath) Services() (map[lvs.ServiceKey]ServiceID, error) {
	var (
		k   lvsLvsServiceKey
		v   lvsLvsService
		out = map[lvs.ServiceKey]ServiceID{}
	)
	it := d.objs.LvsServices.Iterate()
	for it.Next(&k, &v) {
		out[lvs.ServiceKey{
			Protocol: lvs.Protocol(k.Proto),
			Addr:     netip.AddrPortFrom(fromAddr(k.Vaddr.Bytes, k.Family), wire.Ntoh(k.Vport)),
		}] = ServiceID(v.Id)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	return out, nil
}

// clearServices does ClearService for each of ids, with one batch write.
func (d *Datapath) clearServices(ids []ServiceID) error {
	if len(ids) == 0 {
		return nil
	}
	keys, err := serviceKeys(ids)
	if err != nil {
		return fmt.Errorf("clear services: %w", err)
	}
	if err := batchPutPerCPU(d.objs.LvsSvcStats, keys, zeroStats(len(keys))); err != nil {
		return fmt.Errorf("clear services: %w", err)
	}
	return nil
}
