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

// Schedulers this version of golvs implements, by IPVS name: the one list
// of them. internal/sched keys what each scheduler is and does (its
// Kind) by these names, and a test there checks that both list the same
// ones; the model keeps the names alone, so that it holds no algorithm
// and imports no scheduler code.
var Schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"}

// MaxReals is how many real servers a service can have (IPVS has no
// bound). The least-connection family walks them all per new connection,
// as IPVS does: about 20 ns a real in the data plane.
const MaxReals = 16384

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
	// Netmask is -M: the persistence granularity, a mask of the service's
	// family applied to the client address; the zero Addr means all ones
	// (/32, /128). For an IPv4 service it is any IPv4 mask ipvsadm takes,
	// contiguous or not. For an IPv6 service IPVS keeps a prefix length
	// (1..128, ipvsadm's "-M 64"), so it is the contiguous IPv6 mask of
	// that length (ffff:ffff:ffff:ffff:: for 64; see Netmask6).
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
	// Addr is the real's address and port. Its family is the service's,
	// except for Tunnel, which also carries IPv4 to an IPv6 real and IPv6
	// to an IPv4 one.
	Addr   netip.AddrPort `json:"addr"`
	Method Method         `json:"method"`
	// Weight is 0..MaxWeight; 0 quiesces the real: no new connections.
	Weight int `json:"weight"`
	// UThreshold and LThreshold are -x and -y: above UThreshold
	// connections the real takes no new ones until it drops below
	// LThreshold (or 3/4 of UThreshold when LThreshold is 0); 0 means none.
	UThreshold uint32 `json:"u_threshold,omitempty"`
	LThreshold uint32 `json:"l_threshold,omitempty"`
	// TunType, TunPort and TunFlags are --tun-type, --tun-port and
	// --tun-{nocsum,csum,remcsum}: how a Tunnel real's packets are
	// encapsulated. TunPort is the GUE destination port (host order) and
	// must be set for GUE. As in ip_vs_xmit.c, IP-in-IP uses neither port
	// nor flags and GRE only TunCsum. Other methods use none of them, yet
	// IPVS keeps them as given (__ip_vs_update_dest) and so does golvs;
	// ipvsadm sets them only with -i.
	TunType  TunnelType  `json:"tun_type,omitempty"`
	TunPort  uint16      `json:"tun_port,omitempty"`
	TunFlags TunnelFlags `json:"tun_flags,omitempty"`
}

// MaxWeight is the largest weight of a real: ipvsadm parses -w as
// 0..INT_MAX and IPVS keeps the weight in an int (ip_vs_ctl.c refuses a
// negative one).
const MaxWeight = math.MaxInt32

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
//
// Its methods find services through an index they build on first use and
// keep up to date. Code that replaces, appends to or shortens Services
// itself needs nothing more (the index notices and is built again), but
// must not change the key of a service in place. A Table is not safe for
// concurrent use, not even for lookups alone.
type Table struct {
	Services []Service `json:"services"`
	Timeouts Timeouts  `json:"timeouts"`

	index *serviceIndex
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
	if !t.index.covers(t.Services) {
		t.reindex()
	}
	i := t.index.find(k)
	if i >= 0 && t.Services[i].ServiceKey != k {
		// A key changed in place: the index no longer describes Services.
		t.reindex()
		i = t.index.find(k)
	}
	return i
}

// serviceIndex finds a Table's services by key. Each service has a
// sequence number, increasing in the order of Services, so that deleting
// one shifts the positions of those after it without touching the map: a
// batch deleting thousands of services one by one stays linear in the map.
type serviceIndex struct {
	seq  map[ServiceKey]uint64
	seqs []uint64 // seqs[i] is the sequence number of Services[i]
	next uint64
	base *Service // &Services[0] when indexed, to notice a replaced slice
}

// covers reports whether x indexes services as they are.
func (x *serviceIndex) covers(services []Service) bool {
	if x == nil || len(x.seqs) != len(services) {
		return false
	}
	return len(services) == 0 || x.base == &services[0]
}

// reindex builds t's index afresh (a Table copied by value may share the
// old one, which is left alone).
func (t *Table) reindex() {
	x := &serviceIndex{seq: make(map[ServiceKey]uint64, len(t.Services)), seqs: make([]uint64, len(t.Services))}
	for i := range t.Services {
		x.next++
		x.seqs[i] = x.next
		// Duplicates cannot be added; if Services was given some, the
		// first is the one found, as a scan would.
		if _, dup := x.seq[t.Services[i].ServiceKey]; !dup {
			x.seq[t.Services[i].ServiceKey] = x.next
		}
	}
	if len(t.Services) > 0 {
		x.base = &t.Services[0]
	}
	t.index = x
}

// find returns the position of key k, or -1.
func (x *serviceIndex) find(k ServiceKey) int {
	s, ok := x.seq[k]
	if !ok {
		return -1
	}
	i, ok := slices.BinarySearch(x.seqs, s)
	if !ok {
		return -1
	}
	return i
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
	// ipvsadm's -p takes 1..MAX_TIMEOUT seconds.
	if s.Persistent < 0 || s.Persistent > MaxPersistence || (s.Persistent != 0 && s.Persistent < time.Second) {
		return fmt.Errorf("%w: persistence timeout %v (1s..%v)", ErrInvalid, s.Persistent, MaxPersistence)
	}
	if err := validateNetmask(s.Addr.Addr(), s.Netmask); err != nil {
		return err
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
	a := k.Addr.Addr()
	if !a.IsValid() {
		return fmt.Errorf("%w: service %s has no address", ErrFamily, k)
	}
	if a.Zone() != "" {
		// IPVS keys a service by address and port only.
		return fmt.Errorf("%w: service address %s has a zone", ErrInvalid, a)
	}
	if k.Addr.Port() == 0 && !persistent {
		// ipvsadm: "Zero port specified for non-persistent service";
		// IPVS schedules nothing for one (ip_vs_schedule).
		return fmt.Errorf("%w: port 0 needs a persistent service", ErrInvalid)
	}
	return nil
}

// validateNetmask checks the persistence netmask m of a service whose VIP
// is vip. IPVS keeps an IPv4 service's mask as given (ipvsadm sends any
// inet_aton value) and an IPv6 service's as a prefix length, which
// ip_vs_add_service and ip_vs_edit_service refuse outside 1..128.
func validateNetmask(vip, m netip.Addr) error {
	if !m.IsValid() {
		return nil
	}
	if vip.Is4() {
		if !m.Is4() {
			return fmt.Errorf("%w: netmask %s of IPv4 service %s is not an IPv4 mask", ErrFamily, m, vip)
		}
		return nil
	}
	if !m.Is6() || m.Is4In6() || m.Zone() != "" {
		return fmt.Errorf("%w: netmask %s of IPv6 service %s is not an IPv6 mask", ErrFamily, m, vip)
	}
	bits, ok := MaskPrefix(m)
	if !ok || bits == 0 {
		return fmt.Errorf("%w: netmask %s of IPv6 service %s is not a prefix of 1..128 bits", ErrInvalid, m, vip)
	}
	return nil
}

// Netmask6 returns the IPv6 netmask of a prefix length (clamped to
// 0..128): how Service.Netmask holds ipvsadm's "-M 64" of an IPv6 service.
func Netmask6(bits int) netip.Addr {
	var b [16]byte
	for i := 0; i < bits && i < 128; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom16(b)
}

// MaskPrefix returns how many leading one bits netmask m has, and whether
// every bit after them is zero (a contiguous mask, as every IPv6
// persistence netmask is).
func MaskPrefix(m netip.Addr) (bits int, contiguous bool) {
	ones := true
	for _, x := range m.AsSlice() {
		for bit := byte(0x80); bit != 0; bit >>= 1 {
			switch {
			case x&bit != 0 && ones:
				bits++
			case x&bit != 0:
				return bits, false
			default:
				ones = false
			}
		}
	}
	return bits, true
}

// family is an address's family as IPVS sees it: an IPv4-mapped IPv6
// address is IPv6.
func family(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

// ValidateReal checks a real server of service s as ip_vs_ctl.c would, in
// its order (ip_vs_genl_set_cmd, ip_vs_add_dest, ip_vs_new_dest).
func ValidateReal(s ServiceKey, r Real) error {
	a := r.Addr.Addr()
	if !a.IsValid() {
		return fmt.Errorf("%w: real %s has no address", ErrFamily, r.Addr)
	}
	if a.Zone() != "" {
		return fmt.Errorf("%w: real address %s has a zone", ErrInvalid, a)
	}
	switch r.Method {
	case Masq, Route, Tunnel:
	default:
		return fmt.Errorf("%w: forwarding method %d", ErrInvalid, r.Method)
	}
	// ip_vs_genl_set_cmd: only a tunnel can carry packets of one family
	// to a real of the other (either way round).
	if family(a) != family(s.Addr.Addr()) && r.Method != Tunnel {
		return fmt.Errorf("%w: real %s is not of the family of service %s, which only tunnel forwarding (-i) allows", ErrInvalid, a, s)
	}
	if r.Weight < 0 || r.Weight > MaxWeight {
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
	if err := validateTunnel(r); err != nil {
		return err
	}
	if !unicast(a) {
		return fmt.Errorf("%w: %s is not a unicast address", ErrInvalid, a)
	}
	// ipvsadm gives a DR or TUN real the service's port: neither rewrites
	// the packet, so the real receives it on the port the client chose.
	switch {
	case r.Method == Route && r.Addr.Port() != s.Addr.Port():
		return fmt.Errorf("%w: direct routing keeps the service port %d", ErrInvalid, s.Addr.Port())
	case r.Method == Tunnel && r.Addr.Port() != s.Addr.Port():
		return fmt.Errorf("%w: tunnel forwarding keeps the service port %d", ErrInvalid, s.Addr.Port())
	}
	return nil
}

// validateTunnel checks a real's tunnel fields. IPVS keeps them whatever
// the method and refuses only a GUE tunnel without a port
// (ip_vs_add_dest, ip_vs_edit_dest), also for a real that is not
// tunnelled; golvs does the same. It also refuses what IPVS would take but
// ipvsadm cannot set: a type past GRE (which golvs cannot build), and
// flags other than one of none, TunCsum and TunRemCsum (ipvsadm's
// listings index their names with the flags' value).
func validateTunnel(r Real) error {
	if r.TunType > TunGRE {
		return fmt.Errorf("%w: tunnel type %d", ErrInvalid, r.TunType)
	}
	if r.TunFlags&^TunFlagsMask != 0 || r.TunFlags == TunCsum|TunRemCsum {
		return fmt.Errorf("%w: tunnel flags %#x", ErrInvalid, uint16(r.TunFlags))
	}
	if r.TunType.HasPort() && r.TunPort == 0 {
		return fmt.Errorf("%w: a GUE tunnel needs a port (--tun-port)", ErrInvalid)
	}
	return nil
}

// unicast reports whether a can be a real server's address.
// ip_vs_new_dest takes an IPv4 address that inet_addr_type finds unicast
// or local, and an IPv6 one that ipv6_addr_type finds unicast and not
// link-local, or that is local: never the unspecified address, multicast,
// broadcast or an IPv4-mapped IPv6 address. IPVS forwards to the
// director's own addresses locally; golvs has no local forwarding, so it
// also refuses what is the director's or on-link whatever the routes say:
// loopback and link-local addresses of both families.
func unicast(a netip.Addr) bool {
	if a.Is4In6() {
		return false
	}
	return a.IsGlobalUnicast()
}
