package lvs

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	key := func(p Protocol, ap string) ServiceKey {
		return ServiceKey{Protocol: p, Addr: netip.MustParseAddrPort(ap)}
	}
	web := key(TCP, "198.18.0.10:80")
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
		{"ipv6 netmask", ValidateService(Service{ServiceKey: web, Scheduler: "rr", Persistent: time.Second, Netmask: netip.MustParseAddr("ffff::")}), ErrFamily},
		{"ipv6 service", ValidateService(Service{ServiceKey: key(TCP, "[2001:db8::10]:80"), Scheduler: "rr"}), ErrFamily},
		{"nat real on another port", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:8080"), Method: Masq, Weight: 1}), nil},
		{"dr real on another port", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:8080"), Method: Route, Weight: 1}), ErrInvalid},
		{"quiesced real", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Route}), nil},
		{"weight above 65535", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Masq, Weight: 65536}), ErrRange},
		{"negative weight", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Masq, Weight: -1}), ErrRange},
		{"multicast real", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("239.1.1.1:80"), Method: Masq, Weight: 1}), ErrInvalid},
		{"unspecified real", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("0.0.0.0:80"), Method: Masq, Weight: 1}), ErrInvalid},
		{"tunnel real", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("198.19.0.11:80"), Method: Tunnel, Weight: 1}), ErrInvalid},
		{"ipv6 real", ValidateReal(web, Real{Addr: netip.MustParseAddrPort("[2001:db8::11]:80"), Method: Masq, Weight: 1}), ErrFamily},
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
