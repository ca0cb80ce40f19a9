package lvs

import (
	"errors"
	"net/netip"
	"testing"
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
		{"unknown scheduler", ValidateService(Service{ServiceKey: web, Scheduler: "lblc"}), ErrNoScheduler},
		{"sctp", ValidateService(Service{ServiceKey: key(132, "198.18.0.10:80"), Scheduler: "rr"}), ErrInvalid},
		{"port zero", ValidateService(Service{ServiceKey: key(TCP, "198.18.0.10:0"), Scheduler: "rr"}), ErrInvalid},
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
