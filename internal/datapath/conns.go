package datapath

import (
	"fmt"
	"net/netip"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"

	"golvs/internal/datapath/wire"
	"golvs/internal/lvs"
)

// Conn is one connection table entry with the ids the data plane keeps.
type Conn struct {
	lvs.Conn
	Service ServiceID
	Real    RealID
	// Template marks a persistence template: Client is the client
	// address masked with the service's netmask, port 0; Virtual's port
	// is 0 for a port-zero service; State is "NONE" or "ASSURED".
	Template bool
}

// expireLater is how far the sweeper extends a template that still
// controls connections (ip_vs_conn.c's expire_later, 60 s).
const expireLater = time.Duration(lvsLvsAbiLVS_EXPIRE_LATER_S) * time.Second

// Conns returns the live (unexpired) connections, then the persistence
// templates, as ipvsadm -Lnc lists both. Expires is the time left; a
// template past its time that still controls connections shows the time
// to its next 60 s extension, as IPVS re-arms it.
func (d *Datapath) Conns() ([]Conn, error) {
	var out []Conn
	now := uint64(Now())
	// A connection names its real by id; the address and port are the
	// real's (lvs_reals), read once per real.
	reals := map[uint32]*lvsLvsReal{}
	realOf := func(id uint32) *lvsLvsReal {
		r, ok := reals[id]
		if !ok {
			r = new(lvsLvsReal)
			if err := d.objs.LvsReals.Lookup(id, r); err != nil {
				r = nil
			}
			reals[id] = r
		}
		return r
	}
	err := scan(d.objs.LvsConns, nil, 0, func(k *lvsLvsTuple, v *lvsLvsConn) {
		if v.ExpiresNs > now {
			out = append(out, connFrom(k, v, realOf(v.Real), now))
		}
	})
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	err = scan(d.objs.LvsTemplates, nil, 0, func(k *lvsLvsTuple, t *lvsLvsTmpl) {
		exp := t.ExpiresNs
		if exp <= now {
			if t.Controls == 0 {
				return
			}
			step := uint64(expireLater)
			exp += ((now-exp)/step + 1) * step
		}
		out = append(out, templateFrom(k, t, exp-now))
	})
	if err != nil {
		return nil, fmt.Errorf("list persistence templates: %w", err)
	}
	return out, nil
}

func templateFrom(k *lvsLvsTuple, t *lvsLvsTmpl, left uint64) Conn {
	state := "NONE"
	if t.State == uint32(lvsLvsTmplStateLVS_TMPL_ASSURED) {
		state = "ASSURED"
	}
	return Conn{
		Conn: lvs.Conn{
			Protocol: lvs.Protocol(k.Proto),
			Client:   netip.AddrPortFrom(fromAddr(k.Saddr.Bytes, k.Family), wire.Ntoh(k.Sport)),
			Virtual:  netip.AddrPortFrom(fromAddr(k.Daddr.Bytes, k.Family), wire.Ntoh(k.Dport)),
			Real:     netip.AddrPortFrom(fromAddr(t.Raddr.Bytes, t.Rfamily), wire.Ntoh(t.Rport)),
			State:    state,
			Expires:  time.Duration(left),
		},
		Service:  ServiceID(t.Service),
		Real:     RealID(t.Real),
		Template: true,
	}
}

// connFrom is connection k -> v as -Lnc lists it; r is its real (nil if
// it could not be read). The real's port is the data plane's
// lvs_conn_rport: the packet's for a real of port 0 and for a connection
// of a port-zero service.
func connFrom(k *lvsLvsTuple, v *lvsLvsConn, r *lvsLvsReal, now uint64) Conn {
	var real netip.AddrPort
	if r != nil {
		port := r.Port
		if port == 0 || v.Flags&uint8(lvsLvsConnFlagsLVS_CONN_F_PORT_ZERO) != 0 {
			port = k.Dport
		}
		real = netip.AddrPortFrom(fromAddr(r.Addr.Bytes, r.Family), wire.Ntoh(port))
	}
	c := Conn{
		Conn: lvs.Conn{
			Protocol: lvs.Protocol(k.Proto),
			Client:   netip.AddrPortFrom(fromAddr(k.Saddr.Bytes, k.Family), wire.Ntoh(k.Sport)),
			Virtual:  netip.AddrPortFrom(fromAddr(k.Daddr.Bytes, k.Family), wire.Ntoh(k.Dport)),
			Real:     real,
			State:    "UDP",
			Expires:  time.Duration(v.ExpiresNs - now),
		},
		Service: ServiceID(v.Service),
		Real:    RealID(v.Real),
	}
	if c.Protocol == lvs.TCP {
		c.State = lvs.TCPStateName(int(v.State))
	}
	return c
}

const (
	sweepBatch  = int(lvsLvsAbiLVS_SWEEP_BATCH)
	tupleSize   = int(unsafe.Sizeof(lvsLvsTuple{}))
	sweepHeader = 14 // the dummy Ethernet header BPF_PROG_TEST_RUN wants
)

// Sweep deletes expired connections and their NAT reverse entries, then
// expired persistence templates that control no connection (one that
// still does is extended by 60 s instead, as IPVS's expire_later), and
// returns how many connections and templates it removed. The deletes run
// in the data plane's lvs_sweep program, which re-checks expiry and
// decrements a real's counters only for an entry it deleted itself, so the
// sweeper and the data plane never both release one connection. It also deletes NAT
// reverse entries no connection owns any more; lvs_sweep decides that too,
// next to the delete, because a connection being replaced (conn_reuse) is
// briefly missing and a check made here would race with it.
func (d *Datapath) Sweep() (removed int, err error) {
	return d.sweep(nil)
}

// sweep is Sweep; pause, when not nil, runs between listing the NAT
// reverse entries and removing orphans among them (the tests of that
// window, through export_test.go).
func (d *Datapath) sweep(pause func()) (removed int, err error) {
	now := uint64(Now())
	expired, err := d.expiredSlice(now)
	if err != nil {
		return 0, fmt.Errorf("sweep: %w", err)
	}
	removed, err = d.remove(expired, sweepExpired)
	if err != nil {
		return removed, fmt.Errorf("sweep: %w", err)
	}
	reverse, err := d.natSlice()
	if err != nil {
		return removed, fmt.Errorf("sweep reverse entries: %w", err)
	}
	if pause != nil {
		pause()
	}
	if _, err := d.remove(reverse, sweepNAT); err != nil {
		return removed, fmt.Errorf("sweep reverse entries: %w", err)
	}
	// After the connections: their removal released the templates
	// they held.
	tmpls, err := keysOf(d.objs.LvsTemplates, func(_ *lvsLvsTuple, t *lvsLvsTmpl) bool { return t.ExpiresNs <= now })
	if err != nil {
		return removed, fmt.Errorf("sweep templates: %w", err)
	}
	n, err := d.remove(tmpls, sweepTemplates)
	removed += n
	if err != nil {
		return removed, fmt.Errorf("sweep templates: %w", err)
	}
	return removed, nil
}

// SweepBudget is how many connection entries one Sweep reads: a table
// of up to that many is swept whole every time, a larger one in turns
// from where the last Sweep stopped, so that the sweep of a 10M table
// costs about what one of 256K does (reading an entry costs about 0.3 µs
// of kernel time: the whole of a 10M table would take seconds, every
// second). Expired entries of a large table then wait up to
// size/SweepBudget sweeps to be removed: the data plane already treats
// them as absent, but their real's ActiveConn/InActConn and their slot
// are released only then.
const SweepBudget = 1 << 18

// expiredSlice returns the keys of the expired connections among those
// this Sweep reads.
func (d *Datapath) expiredSlice(now uint64) ([]lvsLvsTuple, error) {
	var keys []lvsLvsTuple
	collect := func(k *lvsLvsTuple, v *lvsLvsConn) {
		if v.ExpiresNs <= now {
			keys = append(keys, *k)
		}
	}
	if d.connSize <= SweepBudget {
		return keys, scan(d.objs.LvsConns, nil, 0, collect)
	}
	d.natMu.Lock()
	defer d.natMu.Unlock()
	_, err := scanSome(d.objs.LvsConns, &d.connCursor, SweepBudget, collect)
	return keys, err
}

// natSweepBatch is how many NAT reverse entries one Sweep of a larger
// table checks for orphans. lvs_conn_remove drops a
// connection's reverse entry itself, so orphans are the rare leftovers of
// a race and only hold a slot, while checking an entry costs a share of a
// test run of lvs_sweep (32 entries a run, a few µs): checked whole every
// second, the reverse table of a 10M table took more than a core.
const natSweepBatch = 1 << 16

// natSlice returns the NAT reverse keys this Sweep checks: all of a table
// of up to natSweepBatch entries, the next natSweepBatch of a larger one.
func (d *Datapath) natSlice() ([]lvsLvsTuple, error) {
	var reverse []lvsLvsTuple
	collect := func(rk *lvsLvsTuple, _ *lvsLvsNatConn) { reverse = append(reverse, *rk) }
	if d.connSize <= natSweepBatch {
		return reverse, scan(d.objs.LvsNatConns, nil, 0, collect)
	}
	d.natMu.Lock()
	defer d.natMu.Unlock()
	_, err := scanSome(d.objs.LvsNatConns, &d.natCursor, natSweepBatch, collect)
	return reverse, err
}

// removeTemplates removes the persistence templates of service id (all
// of them when id is 0), whether they expired or not, releasing their
// reals' PersistConn, and returns how many it removed.
func (d *Datapath) removeTemplates(id ServiceID) (int, error) {
	keys, err := keysOf(d.objs.LvsTemplates, func(_ *lvsLvsTuple, t *lvsLvsTmpl) bool { return id == 0 || t.Service == uint32(id) })
	if err != nil {
		return 0, err
	}
	return d.remove(keys, sweepAllTemplates)
}

// FlushConns removes every connection and persistence template, live or
// not, releasing counters as Sweep does, and returns how many it removed.
// Packets of a removed connection are then handled as new ones.
func (d *Datapath) FlushConns() (int, error) {
	keys, err := keysOf(d.objs.LvsConns, func(*lvsLvsTuple, *lvsLvsConn) bool { return true })
	if err != nil {
		return 0, fmt.Errorf("flush connections: %w", err)
	}
	removed, err := d.remove(keys, sweepAll)
	if err != nil {
		return removed, fmt.Errorf("flush connections: %w", err)
	}
	n, err := d.removeTemplates(0)
	removed += n
	if err != nil {
		return removed, fmt.Errorf("flush templates: %w", err)
	}
	return removed, nil
}

// Modes of lvs_sweep, its first input byte.
const (
	sweepExpired = uint8(0)                      // conn keys: remove the expired ones
	sweepAll     = uint8(lvsLvsAbiLVS_SWEEP_ALL) // conn keys: remove them all
	sweepNAT     = uint8(lvsLvsAbiLVS_SWEEP_NAT) // NAT reverse keys: remove the orphans
	// template keys: remove the expired ones that control nothing,
	// extend the expired ones that do
	sweepTemplates    = uint8(lvsLvsAbiLVS_SWEEP_TMPL)
	sweepAllTemplates = uint8(lvsLvsAbiLVS_SWEEP_TMPL_ALL) // template keys: remove them all
)

// remove runs lvs_sweep in mode over keys, in batches, and returns how
// many entries it removed.
func (d *Datapath) remove(keys []lvsLvsTuple, mode uint8) (int, error) {
	buf := make([]byte, sweepHeader+sweepBatch*tupleSize)
	buf[0] = mode
	removed := 0
	for len(keys) > 0 {
		n := min(len(keys), sweepBatch)
		for i := range n {
			copy(buf[sweepHeader+i*tupleSize:], tupleBytes(&keys[i]))
		}
		ret, err := d.objs.LvsSweep.Run(&ebpf.RunOptions{Data: buf[:sweepHeader+n*tupleSize]})
		if err != nil {
			return removed, err
		}
		removed += int(ret)
		keys = keys[n:]
	}
	return removed, nil
}

// tupleBytes returns the in-memory bytes of t, the layout the kernel reads.
func tupleBytes(t *lvsLvsTuple) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(t)), tupleSize)
}
