package datapath

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/cilium/ebpf"

	"golvs/internal/lvs"
)

// IPVS's fixed TCP timeouts (tcp_timeouts[] in ip_vs_proto_tcp.c), by
// state; ESTABLISHED and FIN_WAIT come from SetTimeouts.
var fixedTimeouts = [...]time.Duration{
	lvs.StateNone:      2 * time.Second,
	lvs.StateSynSent:   120 * time.Second,
	lvs.StateSynRecv:   60 * time.Second,
	lvs.StateTimeWait:  120 * time.Second,
	lvs.StateClose:     10 * time.Second,
	lvs.StateCloseWait: 60 * time.Second,
	lvs.StateLastAck:   30 * time.Second,
	lvs.StateListen:    120 * time.Second,
	lvs.StateSynAck:    120 * time.Second,
}

const udpSlot = uint32(lvsLvsTcpStateLVS_TIMEOUT_UDP)

// initTimeouts writes IPVS's fixed timeouts, and the settable ones unless
// an adopted table already has them.
func (d *Datapath) initTimeouts() error {
	for s, t := range fixedTimeouts {
		if s == lvs.StateEstablished || s == lvs.StateFinWait {
			continue
		}
		if err := d.objs.LvsTimeouts.Put(uint32(s), uint64(t)); err != nil {
			return fmt.Errorf("write timeouts: %w", err)
		}
	}
	// An adopted table keeps what the last lvsd set; the engine re-applies
	// its configuration anyway.
	have, err := d.Timeouts()
	if err != nil {
		return err
	}
	def := lvs.DefaultTimeouts
	if have.TCP != 0 {
		def.TCP = 0
	}
	if have.TCPFin != 0 {
		def.TCPFin = 0
	}
	if have.UDP != 0 {
		def.UDP = 0
	}
	return d.SetTimeouts(def)
}

// SetTimeouts sets the ESTABLISHED, FIN_WAIT and UDP timeouts. A zero
// field leaves that timeout as it is, as ipvsadm --set does with 0.
// Connections pick the new values up at their next packet, as in IPVS.
func (d *Datapath) SetTimeouts(t lvs.Timeouts) error {
	for _, s := range []struct {
		slot uint32
		v    time.Duration
	}{{lvs.StateEstablished, t.TCP}, {lvs.StateFinWait, t.TCPFin}, {udpSlot, t.UDP}} {
		if s.v < 0 {
			return fmt.Errorf("set timeouts: %v: %w", s.v, lvs.ErrInvalid)
		}
		if s.v == 0 {
			continue
		}
		if err := d.objs.LvsTimeouts.Put(s.slot, uint64(s.v)); err != nil {
			return fmt.Errorf("set timeouts: %w", err)
		}
	}
	return nil
}

// SetExpireNodestConn makes the data plane follow IPVS's
// expire_nodest_conn sysctl: when on, a packet of a connection whose real
// was deleted expires that connection and is scheduled afresh; when off
// (IPVS's default) it is dropped until the connection expires.
func (d *Datapath) SetExpireNodestConn(on bool) error {
	var v uint32
	if on {
		v = uint32(lvsLvsSettingFlagsLVS_SET_EXPIRE_NODEST_CONN)
	}
	if err := d.objs.LvsSettings.Put(uint32(0), v); err != nil {
		return fmt.Errorf("set expire_nodest_conn: %w", err)
	}
	return nil
}

// Timeouts returns the ESTABLISHED, FIN_WAIT and UDP timeouts in force.
func (d *Datapath) Timeouts() (lvs.Timeouts, error) {
	var t lvs.Timeouts
	for _, s := range []struct {
		slot uint32
		p    *time.Duration
	}{{lvs.StateEstablished, &t.TCP}, {lvs.StateFinWait, &t.TCPFin}, {udpSlot, &t.UDP}} {
		var v uint64
		if err := d.objs.LvsTimeouts.Lookup(s.slot, &v); err != nil {
			return t, fmt.Errorf("read timeouts: %w", err)
		}
		*s.p = time.Duration(v)
	}
	return t, nil
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

// realValue checks real r for slot id and returns it as the reals map
// holds it.
func realValue(id RealID, r lvs.Real) (lvsLvsReal, error) {
	var v lvsLvsReal
	if err := checkReal(id); err != nil {
		return v, fmt.Errorf("set real %d: %w", id, err)
	}
	if r.Weight < 0 || r.Weight > 65535 {
		return v, fmt.Errorf("set real %d: weight %d: %w", id, r.Weight, lvs.ErrRange)
	}
	if r.UThreshold > math.MaxInt32 || r.LThreshold > math.MaxInt32 {
		return v, fmt.Errorf("set real %d: thresholds %d/%d: %w", id, r.UThreshold, r.LThreshold, lvs.ErrInvalid)
	}
	a, fam, err := addr(r.Addr.Addr())
	if err != nil {
		return v, fmt.Errorf("set real %d: %w", id, err)
	}
	v = lvsLvsReal{
		Port:        hton(r.Addr.Port()),
		Method:      uint8(r.Method),
		Family:      fam,
		Weight:      uint32(r.Weight),
		U_threshold: r.UThreshold,
		L_threshold: r.LThreshold,
		TunPort:     hton(r.TunPort),
		TunType:     uint8(r.TunType),
		TunFlags:    uint8(r.TunFlags),
	}
	v.Addr.Bytes = a
	return v, nil
}

// overload is SetReal's overload rule for a real with connections c and
// thresholds u and l: the flag to write, and whether to write it.
func overload(c lvsLvsRealConns, u, l uint32) (on uint32, change bool) {
	total := uint64(c.Active) + uint64(c.Inactive)
	var set, clear bool
	switch {
	case u == 0:
		clear = true
	case total >= uint64(u):
		set = true
	case l != 0:
		clear = total < uint64(l)
	default:
		clear = total*4 < uint64(u)*3
	}
	if set {
		return 1, true
	}
	return 0, clear
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

var schedulers = map[string]lvsLvsSched{
	"rr":    lvsLvsSchedLVS_SCHED_RR,
	"wrr":   lvsLvsSchedLVS_SCHED_WRR,
	"lc":    lvsLvsSchedLVS_SCHED_LC,
	"wlc":   lvsLvsSchedLVS_SCHED_WLC,
	"sed":   lvsLvsSchedLVS_SCHED_SED,
	"nq":    lvsLvsSchedLVS_SCHED_NQ,
	"fo":    lvsLvsSchedLVS_SCHED_FO,
	"ovf":   lvsLvsSchedLVS_SCHED_OVF,
	"twos":  lvsLvsSchedLVS_SCHED_TWOS,
	"sh":    lvsLvsSchedLVS_SCHED_SH,
	"dh":    lvsLvsSchedLVS_SCHED_DH,
	"mh":    lvsLvsSchedLVS_SCHED_MH,
	"lblc":  lvsLvsSchedLVS_SCHED_LBLC,
	"lblcr": lvsLvsSchedLVS_SCHED_LBLCR,
}

// Table sizes of the hashing schedulers.
const (
	// ShTableSize is the number of sh and dh buckets (IPVS's 1 << 8).
	ShTableSize = int(lvsLvsAbiLVS_SH_TAB_SIZE)
	// MhTableSize is the mh lookup table size (IPVS's default prime 4093).
	MhTableSize = int(lvsLvsAbiLVS_MH_TAB_SIZE)
)

// tableShape returns how long a table of scheduler s must be: fixed for
// the hashing schedulers (0 means any length up to max).
func tableShape(s lvsLvsSched) (fixed, max int) {
	switch s {
	case lvsLvsSchedLVS_SCHED_RR, lvsLvsSchedLVS_SCHED_WRR:
		return 0, MaxTable
	case lvsLvsSchedLVS_SCHED_SH, lvsLvsSchedLVS_SCHED_DH:
		return ShTableSize, ShTableSize
	case lvsLvsSchedLVS_SCHED_MH:
		return MhTableSize, MhTableSize
	}
	return 0, MaxDests
}

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
//   - sh, dh: exactly ShTableSize buckets, mh: exactly MhTableSize slots,
//     RealID 0 for an empty one (an empty table, no reals, is allowed too).
//
// It replaces the live table with one map write, so a packet sees the old
// or the new table, never a mix. lblc/lblcr state survives a change of the
// table (IPVS keeps it across dest changes) but not of the scheduler.
func (d *Datapath) SetService(id ServiceID, svc lvs.Service, table []RealID, rrStart uint32) error {
	return d.SetServices([]ServiceUpdate{{ID: id, Service: svc, Table: table, RRStart: rrStart}})
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
	sched, ok := schedulers[svc.Scheduler]
	if !ok {
		return lvsLvsServiceKey{}, v, fmt.Errorf("set service %s: %w: %q", k, lvs.ErrNoScheduler, svc.Scheduler)
	}
	key, err := serviceKey(k)
	if err != nil {
		return key, v, fmt.Errorf("set service %s: %w", k, err)
	}
	fixed, most := tableShape(sched)
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
	v = lvsLvsService{Id: uint32(id), Scheduler: uint32(sched), Flags: uint32(svc.SchedFlags)}
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

// SchedPosition returns the rr/wrr position of service id: the index (modulo
// the table length) of the next pick.
func (d *Datapath) SchedPosition(id ServiceID) (uint32, error) {
	if err := checkService(id); err != nil {
		return 0, fmt.Errorf("scheduler position of service %d: %w", id, err)
	}
	var pos uint32
	if err := d.objs.LvsSchedPos.Lookup(uint32(id), &pos); err != nil {
		return 0, fmt.Errorf("scheduler position of service %d: %w", id, err)
	}
	return pos, nil
}

// DeleteService removes service id with key k: new connections to it are no
// longer made; existing ones run until they expire, as in IPVS. Its
// persistence templates are removed (and their reals' PersistConn
// released). It also empties id's scheduler table (the slot then holds
// an empty one, see emptyTables) and position, so nothing of the service
// is left for a later user of id, even when k is no longer in the services
// map (a half-done earlier delete).
func (d *Datapath) DeleteService(id ServiceID, k lvs.ServiceKey) error {
	return d.DeleteServices(map[ServiceID]lvs.ServiceKey{id: k})
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
			Addr:     netip.AddrPortFrom(fromAddr(k.Vaddr.Bytes, k.Family), ntoh(k.Vport)),
		}] = ServiceID(v.Id)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	return out, nil
}

// ClearService zeroes the statistics of service id.
func (d *Datapath) ClearService(id ServiceID) error {
	return d.ClearServices([]ServiceID{id})
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

// counterNames are the names Counters reports, by enum lvs_counter.
var counterNames = map[lvsLvsCounter]string{
	lvsLvsCounterLVS_CNT_PASS_NOT_IP:      "pass_not_ip",
	lvsLvsCounterLVS_CNT_PASS_FRAGMENT:    "pass_fragment",
	lvsLvsCounterLVS_CNT_PASS_MALFORMED:   "pass_malformed",
	lvsLvsCounterLVS_CNT_PASS_NOT_L4:      "pass_not_l4",
	lvsLvsCounterLVS_CNT_PASS_NO_SERVICE:  "pass_no_service",
	lvsLvsCounterLVS_CNT_PASS_NOT_SYN:     "pass_not_syn",
	lvsLvsCounterLVS_CNT_PASS_NO_DEST:     "pass_no_dest",
	lvsLvsCounterLVS_CNT_PASS_TTL:         "pass_ttl",
	lvsLvsCounterLVS_CNT_PASS_FIB:         "pass_fib",
	lvsLvsCounterLVS_CNT_DROP_CONN_FULL:   "drop_conn_full",
	lvsLvsCounterLVS_CNT_DROP_METHOD:      "drop_method",
	lvsLvsCounterLVS_CNT_DROP_FIB:         "drop_fib",
	lvsLvsCounterLVS_CNT_DROP_HELPER:      "drop_helper",
	lvsLvsCounterLVS_CNT_FWD_REDIRECT:     "fwd_redirect",
	lvsLvsCounterLVS_CNT_FWD_NEIGH:        "fwd_neigh",
	lvsLvsCounterLVS_CNT_CONN_REUSED:      "conn_reused",
	lvsLvsCounterLVS_CNT_CONN_EXPIRED:     "conn_expired",
	lvsLvsCounterLVS_CNT_DROP_NODEST:      "drop_nodest",
	lvsLvsCounterLVS_CNT_DROP_TTL:         "drop_ttl",
	lvsLvsCounterLVS_CNT_TMPL_HIT:         "tmpl_hit",
	lvsLvsCounterLVS_CNT_TMPL_NEW:         "tmpl_new",
	lvsLvsCounterLVS_CNT_DROP_TMPL_FULL:   "drop_tmpl_full",
	lvsLvsCounterLVS_CNT_FRAG_FIRST:       "frag_first",
	lvsLvsCounterLVS_CNT_FRAG_FOLLOW:      "frag_follow",
	lvsLvsCounterLVS_CNT_ICMP_IN:          "icmp_in",
	lvsLvsCounterLVS_CNT_ICMP_OUT:         "icmp_out",
	lvsLvsCounterLVS_CNT_ICMP_TUNNEL:      "icmp_tunnel",
	lvsLvsCounterLVS_CNT_TOO_BIG:          "too_big",
	lvsLvsCounterLVS_CNT_DROP_TOO_BIG:     "drop_too_big",
	lvsLvsCounterLVS_CNT_PASS_TO_FRAGMENT: "pass_to_fragment",
	lvsLvsCounterLVS_CNT_XDP_FWD:          "xdp_fwd",
}

// Counters returns the data plane's verdict counters by reason
// ("pass_no_service", "fwd_redirect", "drop_fib", ...), summed over CPUs.
func (d *Datapath) Counters() (map[string]uint64, error) {
	out := make(map[string]uint64, len(counterNames))
	for c, name := range counterNames {
		var per []uint64
		if err := d.objs.LvsCounters.Lookup(uint32(c), &per); err != nil {
			return nil, fmt.Errorf("read counter %s: %w", name, err)
		}
		var sum uint64
		for _, v := range per {
			sum += v
		}
		out[name] = sum
	}
	return out, nil
}

func checkService(id ServiceID) error {
	if id == 0 || int(id) >= MaxServices {
		return fmt.Errorf("service id %d: %w (1..%d)", id, ErrRange, MaxServices-1)
	}
	return nil
}

func checkReal(id RealID) error {
	if id == 0 || int(id) >= MaxReals {
		return fmt.Errorf("real id %d: %w (1..%d)", id, ErrRange, MaxReals-1)
	}
	return nil
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
	key.Vport = hton(k.Addr.Port())
	key.Proto = uint8(k.Protocol)
	key.Family = fam
	return key, nil
}

// addr returns a as the data plane stores it: IPv4 in the first four
// bytes, IPv6 in all 16, and its family.
func addr(a netip.Addr) ([16]byte, uint8, error) {
	var b [16]byte
	switch {
	case a.Is4():
		v4 := a.As4()
		copy(b[:], v4[:])
		return b, uint8(lvsLvsFamilyLVS_AF_INET), nil
	case a.Is6() && !a.Is4In6() && a.Zone() == "":
		return a.As16(), uint8(lvsLvsFamilyLVS_AF_INET6), nil
	}
	return b, 0, fmt.Errorf("address %v: %w", a, lvs.ErrFamily)
}

// fromAddr is the inverse of addr.
func fromAddr(b [16]byte, fam uint8) netip.Addr {
	if fam == uint8(lvsLvsFamilyLVS_AF_INET6) {
		return netip.AddrFrom16(b)
	}
	return netip.AddrFrom4([4]byte(b[:4]))
}

// hton and ntoh convert a port between host order and the network order
// the maps hold it in (bpf2go types a __be16 as a native uint16).
func hton(p uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], p)
	return binary.NativeEndian.Uint16(b[:])
}

func ntoh(p uint16) uint16 {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], p)
	return binary.BigEndian.Uint16(b[:])
}
