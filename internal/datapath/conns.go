package datapath

import (
	"fmt"
	"net/netip"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"

	"golvs/internal/lvs"
)

// Conn is one connection table entry with the ids the data plane keeps.
type Conn struct {
	lvs.Conn
	Service ServiceID
	Real    RealID
}

// Conns returns the live (unexpired) connections. Expires is the time left.
func (d *Datapath) Conns() ([]Conn, error) {
	var (
		k   lvsLvsTuple
		v   lvsLvsConn
		out []Conn
	)
	now := uint64(Now())
	it := d.objs.LvsConns.Iterate()
	for it.Next(&k, &v) {
		if v.ExpiresNs <= now {
			continue
		}
		out = append(out, connFrom(&k, &v, now))
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	return out, nil
}

func connFrom(k *lvsLvsTuple, v *lvsLvsConn, now uint64) Conn {
	c := Conn{
		Conn: lvs.Conn{
			Protocol: lvs.Protocol(k.Proto),
			Client:   netip.AddrPortFrom(fromAddr(k.Saddr.Bytes, k.Family), ntoh(k.Sport)),
			Virtual:  netip.AddrPortFrom(fromAddr(k.Daddr.Bytes, k.Family), ntoh(k.Dport)),
			Real:     netip.AddrPortFrom(fromAddr(v.Raddr.Bytes, k.Family), ntoh(v.Rport)),
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

// Sweep deletes expired connections and their NAT reverse entries and
// returns how many connections it removed. The deletes run in the data
// plane's lvs_sweep program, which re-checks expiry and decrements a real's
// counters only for an entry it deleted itself, so the sweeper and the
// data plane never both release one connection. It also deletes NAT
// reverse entries no connection owns any more; lvs_sweep decides that too,
// next to the delete, because a connection being replaced (conn_reuse) is
// briefly missing and a check made here would race with it.
func (d *Datapath) Sweep() (removed int, err error) {
	var (
		k       lvsLvsTuple
		v       lvsLvsConn
		expired []lvsLvsTuple
	)
	now := uint64(Now())
	it := d.objs.LvsConns.Iterate()
	for it.Next(&k, &v) {
		if v.ExpiresNs <= now {
			expired = append(expired, k)
		}
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("sweep: %w", err)
	}
	removed, err = d.remove(expired, sweepExpired)
	if err != nil {
		return removed, fmt.Errorf("sweep: %w", err)
	}
	var rk, fk lvsLvsTuple
	var reverse []lvsLvsTuple
	rit := d.objs.LvsNatConns.Iterate()
	for rit.Next(&rk, &fk) {
		reverse = append(reverse, rk)
	}
	if err := rit.Err(); err != nil {
		return removed, fmt.Errorf("sweep reverse entries: %w", err)
	}
	if d.sweepPause != nil {
		d.sweepPause()
	}
	if _, err := d.remove(reverse, sweepNAT); err != nil {
		return removed, fmt.Errorf("sweep reverse entries: %w", err)
	}
	return removed, nil
}

// FlushConns removes every connection, live or not, releasing counters as
// Sweep does, and returns how many it removed. Packets of a removed
// connection are then handled as new ones.
func (d *Datapath) FlushConns() (int, error) {
	var (
		k    lvsLvsTuple
		v    lvsLvsConn
		keys []lvsLvsTuple
	)
	it := d.objs.LvsConns.Iterate()
	for it.Next(&k, &v) {
		keys = append(keys, k)
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("flush connections: %w", err)
	}
	removed, err := d.remove(keys, sweepAll)
	if err != nil {
		return removed, fmt.Errorf("flush connections: %w", err)
	}
	return removed, nil
}

// Modes of lvs_sweep, its first input byte.
const (
	sweepExpired = uint8(0)                      // conn keys: remove the expired ones
	sweepAll     = uint8(lvsLvsAbiLVS_SWEEP_ALL) // conn keys: remove them all
	sweepNAT     = uint8(lvsLvsAbiLVS_SWEEP_NAT) // NAT reverse keys: remove the orphans
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
