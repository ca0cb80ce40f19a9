package datapath

import (
	"fmt"
	"time"

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
