package datapath

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

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
