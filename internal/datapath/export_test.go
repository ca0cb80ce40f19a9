package datapath

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/cilium/ebpf"

	"golvs/internal/lvs"
)

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
	var k, v lvsLvsTuple
	n := 0
	it := d.objs.LvsNatConns.Iterate()
	for it.Next(&k, &v) {
		n++
	}
	return n, it.Err()
}

// DeleteConnForTest removes a connection without touching counters, as an
// LRU eviction would.
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
	k.Sport, k.Dport = hton(client.Port()), hton(virtual.Port())
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

// ForceClsactForTest makes Attach use the clsact fallback.
func (d *Datapath) ForceClsactForTest() { d.forceClsact = true }

// Spec sizes for the ABI test.
var LoadSpecForTest = loadLvs
