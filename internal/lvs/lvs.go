// Package lvs is the model of a Linux Virtual Server: virtual services, real
// servers, schedulers, forwarding methods, timeouts and the errors IPVS gives
// when a change is refused. It does no I/O.
package lvs

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Protocol is an IP protocol number carried by a virtual service.
type Protocol uint8

// Protocols a virtual service can have.
const (
	TCP Protocol = 6
	UDP Protocol = 17
)

// String returns the protocol as ipvsadm prints it ("TCP", "UDP", "?").
func (p Protocol) String() string {
	switch p {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	}
	return "?"
}

// Method is a forwarding method; the values are IPVS's IP_VS_CONN_F_* codes.
type Method uint8

// Forwarding methods.
const (
	Masq   Method = 0 // NAT, -m
	Tunnel Method = 2 // IP-in-IP, -i
	Route  Method = 3 // direct routing, -g (ipvsadm's default)
)

// String returns the method's name in the Forward column of ipvsadm -L.
func (m Method) String() string {
	switch m {
	case Masq:
		return "Masq"
	case Tunnel:
		return "Tunnel"
	case Route:
		return "Route"
	}
	return "?"
}

// Schedulers this version of golvs implements, by IPVS name.
var Schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"}

// MaxReals is how many real servers a service can have: the
// least-connection family walks them per new connection in the data plane.
const MaxReals = 256

// DefaultScheduler is ipvsadm's DEF_SCHED.
const DefaultScheduler = "wlc"

// ServiceKey identifies a virtual service: protocol, VIP and port.
type ServiceKey struct {
	Protocol Protocol       `json:"protocol"`
	Addr     netip.AddrPort `json:"addr"`
}

// String returns the key as "TCP 198.18.0.10:80".
func (k ServiceKey) String() string { return k.Protocol.String() + " " + k.Addr.String() }

// Service is a virtual service and its real servers. Reals are kept in
// IPVS's list order: the most recently added first (ip_vs_ctl.c adds a
// destination at the head of the list), which every scheduler walks.
type Service struct {
	ServiceKey
	Scheduler string `json:"scheduler"`
	// SchedFlags are ipvsadm's -b flags: SchedFlag1..3 (IP_VS_SVC_F_SCHED1..3),
	// named sh-fallback/sh-port for sh and mh-fallback/mh-port for mh.
	SchedFlags SchedFlags `json:"sched_flags,omitempty"`
	// OnePacket is -o: every UDP datagram is scheduled on its own.
	OnePacket bool `json:"one_packet,omitempty"`
	// Persistent is -p: how long a client keeps its real server after its
	// last new connection; 0 means the service is not persistent.
	Persistent time.Duration `json:"persistent,omitempty"`
	// Netmask is -M: the persistence granularity, an IPv4 mask applied to
	// the client address (any value ipvsadm accepts, contiguous or not);
	// the zero Addr means 255.255.255.255.
	Netmask netip.Addr `json:"netmask,omitzero"`
	Reals   []Real     `json:"reals,omitempty"`
}

// SchedFlags are a service's scheduler flags, with IPVS's bit values.
type SchedFlags uint32

// Scheduler flags.
const (
	SchedFlag1 SchedFlags = 0x0008 // sh-fallback, mh-fallback, flag-1
	SchedFlag2 SchedFlags = 0x0010 // sh-port, mh-port, flag-2
	SchedFlag3 SchedFlags = 0x0020 // flag-3

	// SchedFlagsMask is every scheduler flag.
	SchedFlagsMask = SchedFlag1 | SchedFlag2 | SchedFlag3
)

// DefaultPersistence is ipvsadm's -p default (IPVS_SVC_PERSISTENT_TIMEOUT,
// 360 s; the man page's 300 is wrong).
const DefaultPersistence = 360 * time.Second

// MaxPersistence is ipvsadm's MAX_TIMEOUT for -p and --set (31 days).
const MaxPersistence = 2678400 * time.Second

// Real is a real server (an IPVS destination) of a service.
type Real struct {
	Addr   netip.AddrPort `json:"addr"`
	Method Method         `json:"method"`
	// Weight is 0..65535; 0 quiesces the real: no new connections.
	Weight int `json:"weight"`
	// UThreshold and LThreshold are -x and -y: above UThreshold
	// connections the real takes no new ones until it drops below
	// LThreshold (or 3/4 of UThreshold when LThreshold is 0); 0 means none.
	UThreshold uint32 `json:"u_threshold,omitempty"`
	LThreshold uint32 `json:"l_threshold,omitempty"`
}

// Timeouts are the connection timeouts ipvsadm --set changes. In a change,
// a zero field leaves that timeout as it is.
type Timeouts struct {
	TCP    time.Duration `json:"tcp"`
	TCPFin time.Duration `json:"tcpfin"`
	UDP    time.Duration `json:"udp"`
}

// DefaultTimeouts are IPVS's defaults (tcp_timeouts[] and udp_timeouts[]).
var DefaultTimeouts = Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}

// Errors a change to the table can fail with. They correspond to the errno
// values the kernel's ip_vs_ctl.c returns; ipvsadm's message for each
// depends on the command (see internal/ipvsadm).
var (
	ErrServiceExists = errors.New("service already exists")        // EEXIST on add-service
	ErrNoService     = errors.New("no such service")               // ESRCH
	ErrRealExists    = errors.New("destination already exists")    // EEXIST on add-server
	ErrNoReal        = errors.New("no such destination")           // ENOENT on edit/delete-server
	ErrNoScheduler   = errors.New("scheduler not found")           // ENOENT on add/edit-service
	ErrInvalid       = errors.New("invalid operation")             // EINVAL
	ErrRange         = errors.New("numerical result out of range") // ERANGE
	ErrFamily        = errors.New("address family not supported")  // EAFNOSUPPORT
	ErrTableFull     = errors.New("memory allocation problem")     // ENOMEM: a map is full
)

// Table is the whole configuration of a director, services in the order
// they were added.
type Table struct {
	Services []Service `json:"services"`
	Timeouts Timeouts  `json:"timeouts"`
}

// Clone returns a deep copy of t.
func (t Table) Clone() Table {
	c := Table{Timeouts: t.Timeouts, Services: make([]Service, len(t.Services))}
	for i, s := range t.Services {
		s.Reals = slices.Clone(s.Reals)
		c.Services[i] = s
	}
	return c
}

// Service returns the index of the service with key k, or -1.
func (t *Table) Service(k ServiceKey) int {
	return slices.IndexFunc(t.Services, func(s Service) bool { return s.ServiceKey == k })
}

// Real returns the index of the real with address a in s, or -1.
func (s *Service) Real(a netip.AddrPort) int {
	return slices.IndexFunc(s.Reals, func(r Real) bool { return r.Addr == a })
}

// ValidateService checks a service as the kernel's ip_vs_ctl.c would.
func ValidateService(s Service) error {
	if err := validateKey(s.ServiceKey, s.Persistent != 0); err != nil {
		return err
	}
	if !slices.Contains(Schedulers, s.Scheduler) {
		return fmt.Errorf("%w: %q (golvs has %s)", ErrNoScheduler, s.Scheduler, strings.Join(Schedulers, ", "))
	}
	// ipvsadm's -p takes 1..MAX_TIMEOUT seconds; -M any IPv4 mask.
	if s.Persistent < 0 || s.Persistent > MaxPersistence || (s.Persistent != 0 && s.Persistent < time.Second) {
		return fmt.Errorf("%w: persistence timeout %v (1s..%v)", ErrInvalid, s.Persistent, MaxPersistence)
	}
	if s.Netmask.IsValid() && !s.Netmask.Is4() {
		return fmt.Errorf("%w: netmask %s: golvs serves IPv4 only so far", ErrFamily, s.Netmask)
	}
	// The kernel takes any combination of the three scheduler flags, for
	// any scheduler; ipvsadm checks their names.
	if s.SchedFlags&^SchedFlagsMask != 0 {
		return fmt.Errorf("%w: scheduler flags %#x", ErrInvalid, uint32(s.SchedFlags))
	}
	return nil
}

func validateKey(k ServiceKey, persistent bool) error {
	if k.Protocol != TCP && k.Protocol != UDP {
		return fmt.Errorf("%w: protocol %d", ErrInvalid, k.Protocol)
	}
	if !k.Addr.Addr().Is4() {
		return fmt.Errorf("%w: %s: golvs serves IPv4 only so far", ErrFamily, k.Addr.Addr())
	}
	if k.Addr.Port() == 0 && !persistent {
		// ipvsadm: "Zero port specified for non-persistent service";
		// IPVS schedules nothing for one (ip_vs_schedule).
		return fmt.Errorf("%w: port 0 needs a persistent service", ErrInvalid)
	}
	return nil
}

// ValidateReal checks a real server of service s as ip_vs_ctl.c would.
func ValidateReal(s ServiceKey, r Real) error {
	a := r.Addr.Addr()
	if !a.Is4() {
		return fmt.Errorf("%w: %s: golvs serves IPv4 only so far", ErrFamily, a)
	}
	if !a.IsGlobalUnicast() {
		return fmt.Errorf("%w: %s is not a unicast address", ErrInvalid, a)
	}
	if r.Weight < 0 || r.Weight > 65535 {
		return fmt.Errorf("%w: weight %d", ErrRange, r.Weight)
	}
	// ip_vs_ctl.c: an upper threshold above INT_MAX is EINVAL, a lower one
	// above the upper ERANGE.
	if r.UThreshold > math.MaxInt32 || r.LThreshold > math.MaxInt32 {
		return fmt.Errorf("%w: threshold above %d", ErrInvalid, math.MaxInt32)
	}
	if r.LThreshold > r.UThreshold {
		return fmt.Errorf("%w: lower threshold %d above upper threshold %d", ErrRange, r.LThreshold, r.UThreshold)
	}
	switch r.Method {
	case Masq, Route:
	case Tunnel:
		return fmt.Errorf("%w: tunnel forwarding (-i) is not built yet", ErrInvalid)
	default:
		return fmt.Errorf("%w: forwarding method %d", ErrInvalid, r.Method)
	}
	if r.Method == Route && r.Addr.Port() != s.Addr.Port() {
		return fmt.Errorf("%w: direct routing keeps the service port %d", ErrInvalid, s.Addr.Port())
	}
	return nil
}
