package engine

// This file is the slot allocator: which data-plane slot (a service id, a
// real id) each service and real of the configuration occupies, and when a
// slot may be given to another.
//
// A real's slot goes through these states:
//
//   - hint: after a restart, the state file says which slot a real had;
//     the real takes that slot again when it is free, keeping what the
//     pinned maps hold for it (counters, connections).
//   - fresh: otherwise a real takes a free slot, which is cleared as the
//     real is written (its counters and connection counts zeroed).
//   - retired: a deleted real (or a real of a deleted service) keeps its
//     slot, marked retired in the data plane, while connections or
//     persistence templates count against it: their packets are dropped
//     until they expire, as IPVS keeps a deleted destination in its trash.
//   - revived: adding the same real to the same service again takes its
//     retired slot back, counters and connections included.
//   - released: once nothing counts against a retired slot (the sweep
//     reads its counters every second, or a change that runs out of slots
//     does), it is free for any real.
//
// A service's slot follows the same path: hint, fresh, retired while any
// of its reals is, taken back by a service of the same key (its reals'
// NAT replies find the VIP by it), released.

import (
	"net/netip"
	"slices"

	"golvs/internal/datapath"
	"golvs/internal/estimator"
	"golvs/internal/lvs"
)

// slots is what the engine keeps per service and real beside the
// configuration: the data-plane slot each occupies, what was last written
// there, zero points and rate estimators, and the slots of deleted reals
// and services that open connections still count against.
type slots struct {
	services map[lvs.ServiceKey]*serviceState
	svcIDs   idPool[datapath.ServiceID]
	realIDs  idPool[datapath.RealID]
	// retired are deleted reals whose slot is reused only once no
	// connection counts against it; retiredSvcs the slots of deleted
	// services, reused once none of their reals is retired.
	retired     []Retired
	retiredSvcs []retiredService
	// retiredAt indexes retired during a reconcile, and revived lists
	// the entries revive took (see revive); both nil between reconciles.
	// retiredSvcAt indexes retiredSvcs by key (see takeRetiredService).
	retiredAt    map[retiredKey]int
	revived      []int
	retiredSvcAt map[lvs.ServiceKey]int
	// hints are the slots a restore asks for, by service.
	hints map[lvs.ServiceKey]ServiceSlots
}

func newSlots() slots {
	return slots{
		services: map[lvs.ServiceKey]*serviceState{},
		svcIDs:   idPool[datapath.ServiceID]{max: datapath.MaxServices},
		realIDs:  idPool[datapath.RealID]{max: datapath.MaxReals},
	}
}

// serviceState is a service's slot and what was last written to it.
type serviceState struct {
	id      datapath.ServiceID
	applied lvs.Service // Reals nil; the service options last written
	reals   map[netip.AddrPort]*realState
	// list and table are the real slots in list order and the scheduler
	// table last written, to carry the round-robin position over; written
	// are the reals the table was computed from.
	list, table []datapath.RealID
	written     []lvs.Real
	zero        lvs.Stats
	est         estimator.Estimator
}

// realState is a real's slot and what was last written to it.
type realState struct {
	id      datapath.RealID
	applied lvs.Real
	// lastWeight is the last weight above zero it had, which mh hashes with.
	lastWeight int
	zero       lvs.Stats
	est        estimator.Estimator
}

// retiredKey names a retired real: its service and address.
type retiredKey struct {
	svc  lvs.ServiceKey
	addr netip.AddrPort
}

// revive takes real addr of service k out of the retired reals, if it is
// there. Revived entries are only marked, and removed by compactRetired
// at the end of the reconcile: a lvsadm -C and -R in one batch revives
// every real, and a scan and a delete in the list for each made that
// quadratic (tens of seconds at 100,000 reals).
func (s *slots) revive(k lvs.ServiceKey, addr netip.AddrPort) (Retired, bool) {
	if s.retiredAt == nil {
		s.retiredAt = make(map[retiredKey]int, len(s.retired))
		for i, x := range s.retired {
			s.retiredAt[retiredKey{x.Service, x.Addr}] = i
		}
	}
	i, ok := s.retiredAt[retiredKey{k, addr}]
	if !ok {
		return Retired{}, false
	}
	delete(s.retiredAt, retiredKey{k, addr})
	s.revived = append(s.revived, i)
	return s.retired[i], true
}

// compactRetired removes the reals revive took from the retired list.
func (s *slots) compactRetired() {
	if len(s.revived) > 0 {
		gone := make(map[int]bool, len(s.revived))
		for _, i := range s.revived {
			gone[i] = true
		}
		j := 0
		for i, x := range s.retired {
			if !gone[i] {
				s.retired[j] = x
				j++
			}
		}
		s.retired = slices.Delete(s.retired, j, len(s.retired))
	}
	s.retiredAt, s.revived = nil, nil
	if s.retiredSvcAt != nil {
		s.retiredSvcs = slices.DeleteFunc(s.retiredSvcs, func(x retiredService) bool { return x.id == 0 })
		s.retiredSvcAt = nil
	}
}

// release frees the slots of retired reals that idle says no connection
// or persistence template counts against, and of deleted services none of
// whose reals is retired; keep, when not nil, names retired reals to
// leave alone whatever their counters. It reports whether anything was
// freed.
func (s *slots) release(idle map[datapath.RealID]bool, keep func(Retired) bool) bool {
	n := len(s.retired) + len(s.retiredSvcs)
	free := map[int]bool{}
	for i, r := range s.retired {
		if idle[r.ID] && (keep == nil || !keep(r)) {
			free[i] = true
		}
	}
	if len(free) > 0 {
		j := 0
		for i, r := range s.retired {
			if free[i] {
				s.realIDs.put(r.ID)
				continue
			}
			s.retired[j] = r
			j++
		}
		s.retired = slices.Delete(s.retired, j, len(s.retired))
	}
	held := make(map[datapath.ServiceID]bool, len(s.retiredSvcs))
	for _, r := range s.retired {
		held[r.ServiceID] = true
	}
	s.retiredSvcs = slices.DeleteFunc(s.retiredSvcs, func(x retiredService) bool {
		switch {
		case x.id == 0: // taken back by takeRetiredService
			return true
		case held[x.id]:
			return false
		}
		s.svcIDs.put(x.id)
		return true
	})
	s.retiredSvcAt = nil
	return len(s.retired)+len(s.retiredSvcs) != n
}

// retiredService is the slot of a deleted service that the connections of
// its retired reals may still count against.
type retiredService struct {
	id  datapath.ServiceID
	key lvs.ServiceKey
}

// takeRetiredService takes back a retired slot of service k, if there is
// one. The entry taken is only marked (id 0), and removed by
// compactRetired, for the reason revive gives.
func (s *slots) takeRetiredService(k lvs.ServiceKey) (datapath.ServiceID, bool) {
	if s.retiredSvcAt == nil {
		s.retiredSvcAt = make(map[lvs.ServiceKey]int, len(s.retiredSvcs))
		for i, x := range s.retiredSvcs {
			if x.id != 0 {
				s.retiredSvcAt[x.key] = i
			}
		}
	}
	i, ok := s.retiredSvcAt[k]
	if !ok {
		return 0, false
	}
	delete(s.retiredSvcAt, k)
	id := s.retiredSvcs[i].id
	s.retiredSvcs[i].id = 0
	return id, true
}

// take takes id from pool when it is free, keeping what the data plane
// holds for it; otherwise it allocates another id, which the caller
// clears (clear is set). ok is false when pool has no free id.
func take[T ~uint32](pool *idPool[T], id T) (_ T, clear, ok bool) {
	if id != 0 && pool.take(id) {
		return id, false, true
	}
	id, ok = pool.get()
	return id, true, ok
}

// idPool hands out small integer ids, 1..max-1, reusing freed ones.
type idPool[T ~uint32] struct {
	max  int
	next T
	free []T
}

func (p *idPool[T]) get() (T, bool) {
	if n := len(p.free); n > 0 {
		id := p.free[n-1]
		p.free = p.free[:n-1]
		return id, true
	}
	if int(p.next)+1 >= p.max {
		return 0, false
	}
	p.next++
	return p.next, true
}

func (p *idPool[T]) put(id T) { p.free = append(p.free, id) }

// take marks id as used; it reports false when id is out of range or in use.
func (p *idPool[T]) take(id T) bool {
	if id == 0 || int(id) >= p.max {
		return false
	}
	if id > p.next {
		for x := p.next + 1; x < id; x++ {
			p.free = append(p.free, x)
		}
		p.next = id
		return true
	}
	i := slices.Index(p.free, id)
	if i < 0 {
		return false
	}
	p.free = slices.Delete(p.free, i, i+1)
	return true
}

// available is how many ids get can still hand out.
func (p *idPool[T]) available() int { return p.max - 1 - int(p.next) + len(p.free) }
