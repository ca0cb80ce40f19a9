package lvs

import (
	"errors"
	"math"
	"net/netip"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	key := func(p Protocol, ap string) ServiceKey {
		return ServiceKey{Protocol: p, Addr: netip.MustParseAddrPort(ap)}
	}
	web := key(TCP, "198.18.0.10:80")
	web6 := key(TCP, "[2001:db8::10]:80")
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"tcp service", ValidateService(Service{ServiceKey: web, Scheduler: "wlc"}), nil},
		{"udp service", ValidateService(Service{ServiceKey: key(UDP, "198.18.0.10:53"), Scheduler: "rr"}), nil},
		{"unknown scheduler", ValidateService(Service{ServiceKey: web, Scheduler: "nosuch"}), ErrNoScheduler},
		{"every IPVS scheduler", errors.Join(func() (errs []error) {
			for _, s := range []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"} {
				errs = append(errs, ValidateService(Service{ServiceKey: web, Scheduler: s}))
			}
			return errs
		}()...), nil},
		{"scheduler flags", ValidateService(Service{ServiceKey: web, Scheduler: "sh", SchedFlags: SchedFlag1 | SchedFlag2}), nil},
		{"unknown scheduler flag", ValidateService(Service{ServiceKey: web, Scheduler: "sh", SchedFlags: 0x40}), ErrInvalid},
		{"one-packet", ValidateService(Service{ServiceKey: key(UDP, "198.18.0.10:53"), Scheduler: "rr", OnePacket: true}), nil},
		{"thresholds", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Masq, Weight: 1, UThreshold: 100, LThreshold: 50}), nil},
		{"lower threshold above upper", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Masq, Weight: 1, UThreshold: 10, LThreshold: 50}), ErrRange},
		{"threshold above INT_MAX", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Masq, Weight: 1, UThreshold: 1 << 31}), ErrInvalid},
		{"sctp", ValidateService(Service{ServiceKey: key(132, "198.18.0.10:80"), Scheduler: "rr"}), ErrInvalid},
		{"port zero", ValidateService(Service{ServiceKey: key(TCP, "198.18.0.10:0"), Scheduler: "rr"}), ErrInvalid},
		{"persistent port zero", ValidateService(Service{ServiceKey: key(TCP, "198.18.0.10:0"), Scheduler: "rr", Persistent: DefaultPersistence}), nil},
		{"persistence", ValidateService(Service{ServiceKey: web, Scheduler: "wlc", Persistent: DefaultPersistence}), nil},
		{"persistence with netmask", ValidateService(Service{ServiceKey: web, Scheduler: "wlc", Persistent: time.Second, Netmask: netip.MustParseAddr("255.255.255.0")}), nil},
		{"non-contiguous netmask", ValidateService(Service{ServiceKey: web, Scheduler: "rr", Persistent: time.Second, Netmask: netip.MustParseAddr("255.0.255.0")}), nil},
		{"longest persistence", ValidateService(Service{ServiceKey: web, Scheduler: "rr", Persistent: MaxPersistence}), nil},
		{"persistence above 31 days", ValidateService(Service{ServiceKey: web, Scheduler: "rr", Persistent: MaxPersistence + time.Second}), ErrInvalid},
		{"persistence below 1s", ValidateService(Service{ServiceKey: web, Scheduler: "rr", Persistent: time.Millisecond}), ErrInvalid},
		{"negative persistence", ValidateService(Service{ServiceKey: web, Scheduler: "rr", Persistent: -time.Second}), ErrInvalid},
		{"ipv6 netmask on an ipv4 service", ValidateService(Service{ServiceKey: web, Scheduler: "rr", Persistent: time.Second, Netmask: netip.MustParseAddr("ffff::")}), ErrFamily},
		{"ipv6 service", ValidateService(Service{ServiceKey: web6, Scheduler: "rr"}), nil},
		{"ipv6 udp service", ValidateService(Service{ServiceKey: key(UDP, "[2001:db8::10]:53"), Scheduler: "wlc", OnePacket: true}), nil},
		{"ipv4-mapped service is ipv6", ValidateService(Service{ServiceKey: key(TCP, "[::ffff:198.18.0.10]:80"), Scheduler: "rr"}), nil},
		{"ipv6 persistent port zero", ValidateService(Service{ServiceKey: key(TCP, "[2001:db8::10]:0"), Scheduler: "rr", Persistent: time.Second}), nil},
		{"ipv6 port zero", ValidateService(Service{ServiceKey: key(TCP, "[2001:db8::10]:0"), Scheduler: "rr"}), ErrInvalid},
		{"ipv6 /64 netmask", ValidateService(Service{ServiceKey: web6, Scheduler: "rr", Persistent: time.Second, Netmask: Netmask6(64)}), nil},
		{"ipv6 /1 netmask", ValidateService(Service{ServiceKey: web6, Scheduler: "rr", Persistent: time.Second, Netmask: Netmask6(1)}), nil},
		{"ipv6 /128 netmask", ValidateService(Service{ServiceKey: web6, Scheduler: "rr", Persistent: time.Second, Netmask: Netmask6(128)}), nil},
		{"ipv6 /0 netmask", ValidateService(Service{ServiceKey: web6, Scheduler: "rr", Persistent: time.Second, Netmask: Netmask6(0)}), ErrInvalid},
		{"ipv6 non-contiguous netmask", ValidateService(Service{ServiceKey: web6, Scheduler: "rr", Persistent: time.Second, Netmask: netip.MustParseAddr("ffff::ffff")}), ErrInvalid},
		{"ipv4 netmask on an ipv6 service", ValidateService(Service{ServiceKey: web6, Scheduler: "rr", Persistent: time.Second, Netmask: netip.MustParseAddr("255.255.255.0")}), ErrFamily},
		{"ipv4-mapped netmask on an ipv6 service", ValidateService(Service{ServiceKey: web6, Scheduler: "rr", Persistent: time.Second, Netmask: netip.MustParseAddr("::ffff:255.255.255.0")}), ErrFamily},
		{"netmask with a zone", ValidateService(Service{ServiceKey: web6, Scheduler: "rr", Persistent: time.Second, Netmask: Netmask6(64).WithZone("eth0")}), ErrFamily},
		{"service without an address", ValidateService(Service{ServiceKey: ServiceKey{Protocol: TCP}, Scheduler: "rr"}), ErrFamily},
		{"service address with a zone", ValidateService(Service{ServiceKey: ServiceKey{Protocol: TCP, Addr: netip.AddrPortFrom(netip.MustParseAddr("fe80::1%eth0"), 80)}, Scheduler: "rr"}), ErrInvalid},
		{"nat real on another port", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:8080"), Method: Masq, Weight: 1}), nil},
		{"dr real on another port", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:8080"), Method: Route, Weight: 1}), ErrInvalid},
		{"quiesced real", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Route}), nil},
		// ipvsadm and IPVS take weights up to INT_MAX.
		{"weight above 65535", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Masq, Weight: 70000}), nil},
		{"weight INT_MAX", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Masq, Weight: math.MaxInt32}), nil},
		{"weight above INT_MAX", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Masq, Weight: math.MaxInt32 + 1}), ErrRange},
		{"negative weight", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Masq, Weight: -1}), ErrRange},
		{"multicast real", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("239.1.1.1:80"), Method: Masq, Weight: 1}), ErrInvalid},
		{"unspecified real", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("0.0.0.0:80"), Method: Masq, Weight: 1}), ErrInvalid},
		{"broadcast real", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("255.255.255.255:80"), Method: Masq, Weight: 1}), ErrInvalid},
		{"loopback real", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("127.0.0.1:80"), Method: Masq, Weight: 1}), ErrInvalid},
		{"real without an address", ValidateReal(web, Real{Method: Masq, Weight: 1}), ErrFamily},
		{"unknown method", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: 1, Weight: 1}), ErrInvalid},

		// IPv6.
		{"ipv6 nat real", ValidateReal(web6, Real{Addr: netip.MustParseAddrPort("[2001:db8::11]:8080"), Method: Masq, Weight: 1}), nil},
		{"ipv6 dr real", ValidateReal(web6, Real{Addr: netip.MustParseAddrPort("[2001:db8::11]:80"), Method: Route, Weight: 1}), nil},
		{"ipv6 dr real on another port", ValidateReal(web6, Real{Addr: netip.MustParseAddrPort("[2001:db8::11]:8080"), Method: Route, Weight: 1}), ErrInvalid},
		{"ipv6 real lower threshold above upper", ValidateReal(web6, Real{Addr: netip.MustParseAddrPort("[2001:db8::11]:80"), Method: Route, Weight: 1, UThreshold: 10, LThreshold: 20}), ErrRange},
		{"ipv6 site-local real", ValidateReal(web6, Real{Addr: netip.MustParseAddrPort("[fec0::11]:80"), Method: Route, Weight: 1}), nil},
		{"ipv6 unique local real", ValidateReal(web6, Real{Addr: netip.MustParseAddrPort("[fd00::11]:80"), Method: Route, Weight: 1}), nil},
		{"ipv6 link-local real", ValidateReal(web6, Real{Addr: netip.MustParseAddrPort("[fe80::11]:80"), Method: Route, Weight: 1}), ErrInvalid},
		{"ipv6 link-local real with a zone", ValidateReal(web6, Real{Addr: netip.AddrPortFrom(netip.MustParseAddr("fe80::11%eth0"), 80), Method: Route, Weight: 1}), ErrInvalid},
		{"ipv6 multicast real", ValidateReal(web6, Real{Addr: netip.MustParseAddrPort("[ff02::1]:80"), Method: Route, Weight: 1}), ErrInvalid},
		{"ipv6 unspecified real", ValidateReal(web6, Real{Addr: netip.MustParseAddrPort("[::]:80"), Method: Route, Weight: 1}), ErrInvalid},
		{"ipv6 loopback real", ValidateReal(web6, Real{Addr: netip.MustParseAddrPort("[::1]:80"), Method: Route, Weight: 1}), ErrInvalid},
		{"ipv4-mapped real", ValidateReal(web6, Real{Addr: netip.MustParseAddrPort("[::ffff:198.19.0.11]:80"), Method: Route, Weight: 1}), ErrInvalid},

		// Families: only a tunnel crosses them, either way.
		{"ipv6 nat real of an ipv4 service", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("[2001:db8::11]:80"), Method: Masq, Weight: 1}), ErrInvalid},
		{"ipv6 dr real of an ipv4 service", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("[2001:db8::11]:80"), Method: Route, Weight: 1}), ErrInvalid},
		{"ipv4 nat real of an ipv6 service", ValidateReal(web6, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Masq, Weight: 1}), ErrInvalid},
		{"ipv6 tunnel real of an ipv4 service", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("[2001:db8::11]:80"), Method: Tunnel, Weight: 1}), nil},
		{"ipv4 tunnel real of an ipv6 service", ValidateReal(web6, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Tunnel, Weight: 1}), nil},
		{"ipv4 gue real of an ipv6 service", ValidateReal(web6, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Tunnel, Weight: 1, TunType: TunGUE, TunPort: 6080, TunFlags: TunRemCsum}), nil},
		{"mixed family checked before weight", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("[2001:db8::11]:80"), Method: Masq, Weight: -1}), ErrInvalid},

		// Tunnels.
		{"ipip real", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Tunnel, Weight: 1}), nil},
		{"tunnel real on another port", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:8080"), Method: Tunnel, Weight: 1}), ErrInvalid},
		{"gue real", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Tunnel, Weight: 1, TunType: TunGUE, TunPort: 6080}), nil},
		{"gue real with checksum", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Tunnel, Weight: 1, TunType: TunGUE, TunPort: 6080, TunFlags: TunCsum}), nil},
		{"gue real without a port", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Tunnel, Weight: 1, TunType: TunGUE}), ErrInvalid},
		{"gre real", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Tunnel, Weight: 1, TunType: TunGRE, TunFlags: TunCsum}), nil},
		{"unknown tunnel type", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Tunnel, Weight: 1, TunType: 3}), ErrInvalid},
		{"unknown tunnel flag", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Tunnel, Weight: 1, TunType: TunGRE, TunFlags: 4}), ErrInvalid},
		{"both checksum flags", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Tunnel, Weight: 1, TunType: TunGUE, TunPort: 6080, TunFlags: TunCsum | TunRemCsum}), ErrInvalid},
		// IPVS keeps what it does not use: a port and flags for IP-in-IP,
		// remote checksum for GRE, tunnel fields of a real that is not
		// tunnelled; but it refuses GUE without a port, whatever the method.
		{"ipip real with port and flags", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Tunnel, Weight: 1, TunPort: 6080, TunFlags: TunCsum}), nil},
		{"gre real with remote checksum", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Tunnel, Weight: 1, TunType: TunGRE, TunFlags: TunRemCsum}), nil},
		{"nat real with tunnel fields", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Masq, Weight: 1, TunType: TunGUE, TunPort: 6080}), nil},
		{"nat real with gue and no port", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Masq, Weight: 1, TunType: TunGUE}), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == nil && tt.err != nil || tt.want != nil && !errors.Is(tt.err, tt.want) {
				t.Fatalf("got %v, want %v", tt.err, tt.want)
			}
		})
	}
}

func TestTCPStateName(t *testing.T) {
	for s, want := range map[int]string{StateNone: "NONE", StateEstablished: "ESTABLISHED", StateSynRecv: "SYN_RECV", StateTimeWait: "TIME_WAIT", StateSynAck: "SYNACK", 11: "ERR!", -1: "ERR!"} {
		if got := TCPStateName(s); got != want {
			t.Errorf("TCPStateName(%d) = %q, want %q", s, got, want)
		}
	}
}
