package config

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"golvs/internal/golden"
	"golvs/internal/lvs"
)

// TestExample reads the commented example shipped in examples/ and
// compares it with its golden dump: the example must stay valid and mean
// what its comments say.
func TestExample(t *testing.T) {
	c, err := Load("../../examples/lvsd.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var b bytes.Buffer
	Dump(&b, c)
	golden.Check(t, "testdata/example.golden", b.String())
	if _, err := c.Table(); err != nil {
		t.Errorf("Table: %v", err)
	}
}

// TestParseDefaults checks keepalived's defaults on a minimal file.
func TestParseDefaults(t *testing.T) {
	src := `
services:
  - vip: 198.18.0.10
    port: 80
    method: dr
    reals:
      - address: 198.18.1.1
        checks:
          - tcp_check:
          - http_get: {urls: [{path: /}]}
          - misc_check: {misc_path: /bin/true}
          - dns_check: {}
`
	c, err := Parse("lvsd.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	Dump(&b, c)
	golden.Check(t, "testdata/defaults.golden", b.String())
}

// ipvsError is the text of an error of package lvs, which the readers
// keep word for word.
func ipvsError(err error) string {
	if err == nil {
		return "(no error from lvs)"
	}
	return err.Error()
}

var dr80 = lvs.ServiceKey{Protocol: lvs.TCP, Addr: netip.MustParseAddrPort("198.18.0.10:80")}

func TestParseErrors(t *testing.T) {
	const head = "services:\n  - vip: 198.18.0.10\n    port: 80\n    method: nat\n    reals:\n      - address: 198.18.1.1\n"
	tests := []struct {
		name, src, want string
	}{
		{"empty file", "", "lvsd.yaml:1: the file is empty: a configuration needs a services list (services: [] for none)"},
		{"syntax error", "services: [\n", "lvsd.yaml:1: did not find expected node content"},
		{"not a mapping", "- 1\n", "lvsd.yaml:1: expected a mapping, got a list"},
		{"no services", "expire_nodest_conn: true\n", "lvsd.yaml:1: services: is required"},
		{"unknown top key", "services: []\nservice: []\n", `lvsd.yaml:2: service: unknown key (did you mean "services"?)`},
		{"key twice", "services: []\nservices: []\n", "lvsd.yaml:2: services: key is given twice (first at line 1)"},
		{"services not a list", "services: {}\n", "lvsd.yaml:1: services: expected a list, got a mapping"},
		{"wrong type", "expire_nodest_conn: sometimes\nservices: []\n", `lvsd.yaml:1: expire_nodest_conn: "sometimes" is not true or false`},
		{"bad timeout", "timeouts: {tcp: 1.5}\nservices: []\n", "lvsd.yaml:1: timeouts.tcp: 1.5s is not a whole number of seconds up to 744h0m0s"},
		{"missing vip", "services:\n  - port: 80\n    reals: []\n", "lvsd.yaml:2: services[0].vip: is required"},
		{"bad vip", "services:\n  - vip: 198.18.0.300\n    port: 80\n", `lvsd.yaml:2: services[0].vip: "198.18.0.300" is not an IP address`},
		{"port out of range", "services:\n  - vip: 198.18.0.1\n    port: 65536\n", "lvsd.yaml:3: services[0].port: 65536 is out of range 0..65535"},
		{"port as text", "services:\n  - vip: 198.18.0.1\n    port: http\n", `lvsd.yaml:3: services[0].port: "http" is not a whole number`},
		{"bad protocol", "services:\n  - vip: 198.18.0.1\n    port: 80\n    protocol: sctp\n", `lvsd.yaml:4: services[0].protocol: "sctp" is not tcp or udp`},
		{"unknown scheduler is IPVS's error", "services:\n  - vip: 198.18.0.1\n    port: 80\n    scheduler: fastest\n",
			"lvsd.yaml:2: services[0]: " + ipvsError(lvs.ValidateService(lvs.Service{ServiceKey: dr80, Scheduler: "fastest"}))},
		{"flag of another scheduler", "services:\n  - vip: 198.18.0.1\n    port: 80\n    scheduler: rr\n    flags: [sh-port]\n",
			`lvsd.yaml:5: services[0].flags[0]: "sh-port" is not a flag of scheduler rr (flag-1, flag-2, flag-3; sh-fallback, sh-port for sh; mh-fallback, mh-port for mh)`},
		{"zero port without persistence", "services:\n  - vip: 198.18.0.1\n    port: 0\n",
			"lvsd.yaml:2: services[0]: " + ipvsError(lvs.ValidateService(lvs.Service{ServiceKey: lvs.ServiceKey{Protocol: lvs.TCP, Addr: netip.MustParseAddrPort("198.18.0.1:0")}, Scheduler: "wlc"}))},
		{"granularity of IPv6", "services:\n  - vip: 2001:db8::1\n    port: 80\n    persistence_granularity: 255.255.255.0\n    persistence_timeout: 60\n",
			`lvsd.yaml:4: services[0].persistence_granularity: "255.255.255.0" is not a prefix length 1..128 (an IPv6 service's granularity)`},
		{"persistence too long", "services:\n  - vip: 198.18.0.1\n    port: 80\n    persistence_timeout: 32d\n",
			`lvsd.yaml:4: services[0].persistence_timeout: "32d" is not a duration (seconds, or a number with a unit such as 1.5s or 500ms)`},
		{"ops on TCP", "services:\n  - vip: 198.18.0.1\n    port: 80\n    ops: true\n",
			"lvsd.yaml:4: services[0].ops: one-packet scheduling is only for UDP services"},
		{"granularity without persistence", "services:\n  - vip: 198.18.0.1\n    port: 80\n    persistence_granularity: 255.255.255.0\n",
			"lvsd.yaml:4: services[0].persistence_granularity: needs persistence_timeout: a granularity applies to persistent services only"},
		{"service twice", "services:\n  - {vip: 198.18.0.1, port: 80}\n  - {vip: 198.18.0.1, port: 80}\n",
			"lvsd.yaml:3: services[1]: TCP 198.18.0.1:80 is defined twice (first at lvsd.yaml:2)"},
		{"weight out of range", head + "        weight: 2147483648\n", "lvsd.yaml:7: services[0].reals[0].weight: 2147483648 is out of range 0..2147483647"},
		{"misspelt real key", head + "        wieght: 2\n", `lvsd.yaml:7: services[0].reals[0].wieght: unknown key (did you mean "weight"?)`},
		{"method missing", "services:\n  - vip: 198.18.0.10\n    port: 80\n    reals:\n      - address: 198.18.1.1\n",
			"lvsd.yaml:5: services[0].reals[0].method: is required here or on the service: nat, dr or tun"},
		{"bad method", head + "        method: fullnat\n", `lvsd.yaml:7: services[0].reals[0].method: "fullnat" is not nat, dr or tun`},
		{"bad real address", "services:\n  - vip: 198.18.0.10\n    port: 80\n    method: nat\n    reals:\n      - address: [198.18.1.1]\n",
			"lvsd.yaml:6: services[0].reals[0].address: expected a value, got a list"},
		{"real twice", head + "      - address: 198.18.1.1\n",
			"lvsd.yaml:7: services[0].reals[1]: real 198.18.1.1:80 is defined twice in TCP 198.18.0.10:80 (first at lvsd.yaml:6)"},
		{"DR port is IPVS's error", "services:\n  - vip: 198.18.0.10\n    port: 80\n    method: dr\n    reals:\n      - {address: 198.18.1.1, port: 8080}\n",
			"lvsd.yaml:6: services[0].reals[0]: " + ipvsError(lvs.ValidateReal(dr80, lvs.Real{Addr: netip.MustParseAddrPort("198.18.1.1:8080"), Method: lvs.Route, Weight: 1}))},
		{"thresholds are IPVS's error", head + "        uthreshold: 5\n        lthreshold: 10\n",
			"lvsd.yaml:6: services[0].reals[0]: " + ipvsError(lvs.ValidateReal(dr80, lvs.Real{Addr: netip.MustParseAddrPort("198.18.1.1:80"), Method: lvs.Masq, Weight: 1, UThreshold: 5, LThreshold: 10}))},
		{"gue without port", head + "        method: tun\n        tunnel: {type: gue}\n",
			"lvsd.yaml:8: services[0].reals[0].tunnel: a gue tunnel needs a port, and only a gue tunnel has one"},
		{"bad tunnel checksum", head + "        method: tun\n        tunnel: {type: gre, checksum: maybe}\n",
			`lvsd.yaml:8: services[0].reals[0].tunnel.checksum: "maybe" is not none, csum or remcsum`},
		{"hysteresis above quorum", "services:\n  - vip: 198.18.0.10\n    port: 80\n    quorum: 2\n    hysteresis: 2\n",
			"lvsd.yaml:2: services[0]: hysteresis 2 must be below quorum 2"},
		{"sorry server without address", "services:\n  - vip: 198.18.0.10\n    port: 80\n    method: nat\n    sorry_server: {port: 80}\n",
			"lvsd.yaml:5: services[0].sorry_server.address: is required"},
		{"bad script", "services:\n  - vip: 198.18.0.10\n    port: 80\n    quorum_up: \"/bin/up 'x\"\n",
			"lvsd.yaml:4: services[0].quorum_up: command has an unterminated quote"},
		{"bad script user", "services:\n  - vip: 198.18.0.10\n    port: 80\n    quorum_up: {command: /bin/up, user: \"a:b:c\"}\n",
			"lvsd.yaml:4: services[0].quorum_up.user: expected user or user:group"},
		{"unknown check kind", head + "        checks:\n          - http_gett: {}\n",
			`lvsd.yaml:8: services[0].reals[0].checks[0]: "http_gett" is not a kind of check (tcp_check, http_get, ssl_get, misc_check or dns_check); did you mean "http_get"?`},
		{"check with two kinds", head + "        checks:\n          - {tcp_check: {}, http_get: {}}\n",
			"lvsd.yaml:8: services[0].reals[0].checks[0]: a check is a mapping with one key, its kind (tcp_check, http_get, ssl_get, misc_check or dns_check)"},
		{"option of another kind", head + "        checks:\n          - tcp_check: {urls: []}\n",
			`lvsd.yaml:8: services[0].reals[0].checks[0].tcp_check.urls: unknown key`},
		{"http without urls", head + "        checks:\n          - http_get: {}\n",
			"lvsd.yaml:8: services[0].reals[0].checks[0].http_get.urls: is required"},
		{"url without path", head + "        checks:\n          - http_get: {urls: [{digest: 640205b7b0fc66c1ea91c463fac6334d}]}\n",
			"lvsd.yaml:8: services[0].reals[0].checks[0].http_get.urls[0].path: is required"},
		{"bad digest", head + "        checks:\n          - http_get: {urls: [{path: /, digest: xyz}]}\n",
			`lvsd.yaml:8: services[0].reals[0].checks[0].http_get.urls[0].digest: digest "xyz" has 3 characters, not 32`},
		{"bad status code", head + "        checks:\n          - http_get: {urls: [{path: /, status_code: [200, \"300-299\"]}]}\n",
			`lvsd.yaml:8: services[0].reals[0].checks[0].http_get.urls[0].status_code[1]: "300-299" is not a status code or range within 100-599`},
		{"connect_port zero", head + "        checks:\n          - tcp_check: {connect_port: 0}\n",
			"lvsd.yaml:8: services[0].reals[0].checks[0].tcp_check.connect_port: 0 is out of range 1..65535"},
		{"negative delay", head + "        checks:\n          - tcp_check: {delay_loop: -1}\n",
			"lvsd.yaml:8: services[0].reals[0].checks[0].tcp_check.delay_loop: -1s is out of range 1µs..596523h14m8s"},
		{"retry and nb_get_retry", head + "        checks:\n          - http_get: {urls: [{path: /}], retry: 1, nb_get_retry: 2}\n",
			"lvsd.yaml:8: services[0].reals[0].checks[0].http_get.nb_get_retry: nb_get_retry is the old name of retry: give one of them"},
		{"bindto family", head + "        checks:\n          - tcp_check: {bindto: \"2001:db8::1\"}\n",
			"lvsd.yaml:8: services[0].reals[0].checks[0]: bindto 2001:db8::1 is not of the family of 198.18.1.1"},
		{"misc without path", head + "        checks:\n          - misc_check: {misc_timeout: 3}\n",
			"lvsd.yaml:8: services[0].reals[0].checks[0].misc_check.misc_path: is required"},
		{"bad dns type", head + "        checks:\n          - dns_check: {type: SRV}\n",
			`lvsd.yaml:8: services[0].reals[0].checks[0].dns_check.type: "SRV" is not one of A, NS, CNAME, SOA, MX, TXT, AAAA`},
		{"flag not a name", "services:\n  - vip: 198.18.0.1\n    port: 80\n    flags: [[x]]\n",
			"lvsd.yaml:4: services[0].flags[0]: expected a flag name, got a list"},
		{"bad tunnel type", head + "        method: tun\n        tunnel: {type: vxlan}\n",
			`lvsd.yaml:8: services[0].reals[0].tunnel.type: "vxlan" is not ipip, gue or gre`},
		{"ipip with checksum", head + "        method: tun\n        tunnel: {type: ipip, checksum: csum}\n",
			"lvsd.yaml:8: services[0].reals[0].tunnel: an ipip tunnel has no checksum option"},
		{"gre with remote checksum", head + "        method: tun\n        tunnel: {type: gre, checksum: remcsum}\n",
			"lvsd.yaml:8: services[0].reals[0].tunnel: a gre tunnel has no remote checksum option"},
		{"script word not a string", "services:\n  - vip: 198.18.0.10\n    port: 80\n    quorum_up: [/bin/up, {a: 1}]\n",
			"lvsd.yaml:4: services[0].quorum_up[1]: expected a word, got a mapping"},
		{"script of the wrong type", "services:\n  - vip: 198.18.0.10\n    port: 80\n    quorum_up: []\n",
			"lvsd.yaml:4: services[0].quorum_up: expected a command (a string or a list of words), got a list"},
		{"long bind_if", head + "        checks:\n          - tcp_check: {bind_if: averyveryverylongname0}\n",
			`lvsd.yaml:8: services[0].reals[0].checks[0].tcp_check.bind_if: interface name "averyveryverylongname0" is longer than 15 characters`},
		{"bad misc user", head + "        checks:\n          - misc_check: {misc_path: /bin/true, user: \"a:b:c\"}\n",
			"lvsd.yaml:8: services[0].reals[0].checks[0].misc_check.user: expected user or user:group"},
		{"bad http_protocol", head + "        checks:\n          - http_get: {urls: [{path: /}], http_protocol: \"2.0\"}\n",
			`lvsd.yaml:8: services[0].reals[0].checks[0].http_get.http_protocol: "2.0" is not one of 1.0, 1.0C, 1.1`},
		{"empty urls", head + "        checks:\n          - http_get: {urls: []}\n",
			"lvsd.yaml:8: services[0].reals[0].checks[0].http_get.urls: an HTTP check needs at least one url"},
		{"key not a name", "services: []\n? [a]\n: 1\n", "lvsd.yaml:2: a key must be a plain name, got a list"},
		{"merge of a scalar", "services:\n  - <<: 5\n    vip: 198.18.0.1\n    port: 80\n", "lvsd.yaml:2: services[0]: << merges a mapping, got 5"},
		{"empty string", "services:\n  - vip: 198.18.0.1\n    port: 80\n    scheduler: \"\"\n", "lvsd.yaml:4: services[0].scheduler: is empty"},
		{"sorry server is checked like a real", "services:\n  - vip: 198.18.0.10\n    port: 80\n    method: dr\n    sorry_server: {address: 198.18.1.9, port: 8080}\n",
			"lvsd.yaml:2: services[0].sorry_server: " + ipvsError(lvs.ValidateReal(dr80, lvs.Real{Addr: netip.MustParseAddrPort("198.18.1.9:8080"), Method: lvs.Route, Weight: 1}))},
		{"too many reals", "services:\n  - vip: 198.18.0.10\n    port: 80\n    method: nat\n    reals:\n" + manyReals(lvs.MaxReals+1),
			fmt.Sprintf("lvsd.yaml:2: services[0]: %d reals: golvs takes at most %d a service", lvs.MaxReals+1, lvs.MaxReals)},
		{"every error is reported", "services:\n  - vip: x\n    port: -1\n    wat: 1\n",
			"lvsd.yaml:2: services[0].vip: \"x\" is not an IP address\nlvsd.yaml:3: services[0].port: -1 is out of range 0..65535\nlvsd.yaml:4: services[0].wat: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("lvsd.yaml", []byte(tt.src))
			if err == nil {
				var b bytes.Buffer
				Dump(&b, c)
				t.Fatalf("Parse succeeded, want %q; got:\n%s", tt.want, b.String())
			}
			if c != nil {
				t.Errorf("Parse returned a configuration with its error")
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

// TestParseYAMLFeatures: anchors, aliases and merge keys let a file share
// check definitions.
func TestParseYAMLFeatures(t *testing.T) {
	src := `
x-check: &web
  http_get: {urls: [{path: /health}], connect_timeout: 2}
x-real: &real
  port: 8080
  weight: 2
services:
  - vip: 198.18.0.10
    port: 80
    method: nat
    reals:
      - <<: *real
        address: 198.18.1.1
        checks: [*web]
      - <<: *real
        address: 198.18.1.2
        weight: 5
        checks: [*web]
`
	_, err := Parse("lvsd.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "x-check: unknown key") {
		t.Fatalf("unknown top-level keys must be refused, got %v", err)
	}
	// Anchors within the services list itself.
	src = `
services:
  - vip: 198.18.0.10
    port: 80
    method: nat
    reals:
      - &real
        address: 198.18.1.1
        port: 8080
        weight: 2
        checks:
          - &web
            http_get: {urls: [{path: /health}], connect_timeout: 2}
      - <<: *real
        address: 198.18.1.2
        weight: 5
        checks: [*web]
`
	c, err := Parse("lvsd.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Services[0].Reals
	if len(r) != 2 || r[1].Addr.String() != "198.18.1.2:8080" || r[1].Weight != 5 || len(r[1].Checks) != 1 || r[1].Checks[0].ConnectTimeout.Seconds() != 2 {
		t.Errorf("merged real = %+v", r[1])
	}
}

func manyReals(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "      - {address: 198.18.%d.%d}\n", 1+i/250, 1+i%250)
	}
	return b.String()
}
