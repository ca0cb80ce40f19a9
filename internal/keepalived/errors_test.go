package keepalived

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golvs/internal/lvs"
)

// load writes files (the first named keepalived.conf) into a temporary
// directory and loads keepalived.conf, with file names in errors and
// warnings relative to that directory.
func load(t *testing.T, files map[string]string) (string, []string, error) {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, warns, err := Load(filepath.Join(dir, "keepalived.conf"), Options{ConfigID: "lb1"})
	strip := func(s string) string { return strings.ReplaceAll(s, dir+string(filepath.Separator), "") }
	var ws []string
	for _, w := range warns {
		ws = append(ws, strip(w.String()))
	}
	if err != nil {
		if c != nil {
			t.Errorf("Load returned a configuration with its error")
		}
		return "", ws, errorString{strip(err.Error())}
	}
	return dump(c, nil), ws, nil
}

type errorString struct{ s string }

func (e errorString) Error() string { return e.s }

// vs wraps real_server lines and options in a virtual_server whose
// first body line is line 2.
func vs(body string) string {
	return "virtual_server 198.18.0.1 80 {\n" + body + "\n}\n"
}

const rs = "    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    real_server 198.18.1.1 80 {\n"

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string // the whole error text
	}{
		{"bad virtual server address", map[string]string{"keepalived.conf": "virtual_server 198.18.0.300 80 {\n}\n"},
			`keepalived.conf:1: virtual_server: "198.18.0.300" is not an IP address`},
		{"virtual server port out of range", map[string]string{"keepalived.conf": "virtual_server 198.18.0.1 80000 {\n}\n"},
			`keepalived.conf:1: virtual_server: 80000 is out of range 0..65535`},
		{"fwmark virtual server", map[string]string{"keepalived.conf": "virtual_server fwmark 1 {\n  real_server 198.18.1.1\n}\n"},
			`keepalived.conf:1: virtual_server: golvs has no firewall-mark services: virtual_server fwmark 1 cannot be served`},
		{"fwmark in a group", map[string]string{"keepalived.conf": "virtual_server_group G {\n  198.18.0.1 80\n  fwmark 2\n}\n"},
			`keepalived.conf:3: fwmark: golvs has no firewall-mark services: remove fwmark 2 from group G`},
		{"undefined group", map[string]string{"keepalived.conf": "virtual_server group NOPE {\n  real_server 198.18.1.1 80\n}\n"},
			`keepalived.conf:1: virtual_server: virtual_server_group NOPE is not defined`},
		{"group defined twice", map[string]string{"keepalived.conf": "virtual_server_group G {\n 198.18.0.1 80\n}\nvirtual_server_group G {\n 198.18.0.2 80\n}\n"},
			`keepalived.conf:4: virtual_server_group: group G is defined twice (first at ` + "keepalived.conf:1)"},
		{"group range end too big", map[string]string{"keepalived.conf": "virtual_server_group G {\n  198.18.0.10-300 80\n}\n"},
			`keepalived.conf:2: 198.18.0.10-300: range end "300" of 198.18.0.10-300 is not 0..255`},
		{"group range backwards", map[string]string{"keepalived.conf": "virtual_server_group G {\n  198.18.0.10-5 80\n}\n"},
			`keepalived.conf:2: 198.18.0.10-5: range 198.18.0.10-5 does not end after it starts`},
		{"group network with host bits", map[string]string{"keepalived.conf": "virtual_server_group G {\n  198.18.0.1/24 80\n}\n"},
			`keepalived.conf:2: 198.18.0.1/24: 198.18.0.1/24 has host bits set`},
		{"group too large", map[string]string{"keepalived.conf": "virtual_server_group G {\n  198.18.0.0/16 80\n}\n"},
			`keepalived.conf:2: 198.18.0.0/16: group G has more than 4096 addresses`},
		{"group port out of range", map[string]string{"keepalived.conf": "virtual_server_group G {\n  198.18.0.1 65536\n}\n"},
			`keepalived.conf:2: 198.18.0.1: 65536 is out of range 0..65535`},
		{"unknown scheduler", map[string]string{"keepalived.conf": vs("    lb_algo fastest")},
			`keepalived.conf:2: lb_algo: scheduler "fastest" is not one of rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos`},
		{"unknown forwarding method", map[string]string{"keepalived.conf": vs("    lb_kind FULLNAT")},
			`keepalived.conf:2: lb_kind: "FULLNAT" is not NAT, DR or TUN`},
		{"gue tunnel without port", map[string]string{"keepalived.conf": vs("    lvs_method TUN type gue")},
			`keepalived.conf:2: lvs_method: a gue tunnel needs a port, and only a gue tunnel has one`},
		{"tunnel options on NAT", map[string]string{"keepalived.conf": vs("    lvs_method NAT type gue port 6080")},
			`keepalived.conf:2: lvs_method: tunnel options are only for TUN`},
		{"ipip with checksum", map[string]string{"keepalived.conf": vs("    lvs_method TUN type ipip csum")},
			`keepalived.conf:2: lvs_method: ipip tunnels have no checksum option`},
		{"gre with remote checksum", map[string]string{"keepalived.conf": vs("    lvs_method TUN type gre remcsum")},
			`keepalived.conf:2: lvs_method: gre tunnels have no remote checksum option`},
		{"unknown tunnel type", map[string]string{"keepalived.conf": vs("    lvs_method TUN type vxlan")},
			`keepalived.conf:2: lvs_method: tunnel type "vxlan" is not ipip, gue or gre`},
		{"sctp", map[string]string{"keepalived.conf": vs("    protocol SCTP")},
			`keepalived.conf:2: protocol: golvs serves TCP and UDP only, not SCTP`},
		{"unknown protocol", map[string]string{"keepalived.conf": vs("    protocol ICMP")},
			`keepalived.conf:2: protocol: "ICMP" is not TCP, UDP or SCTP`},
		{"persistence timeout zero", map[string]string{"keepalived.conf": vs("    persistence_timeout 0")},
			`keepalived.conf:2: persistence_timeout: 0 is out of range 1..2678400`},
		{"bad IPv4 granularity", map[string]string{"keepalived.conf": vs("    persistence_granularity 255.255.255.300")},
			`keepalived.conf:2: persistence_granularity: "255.255.255.300" is not an IPv4 netmask`},
		{"bad IPv6 granularity", map[string]string{"keepalived.conf": "virtual_server 2001:db8::1 80 {\n    persistence_granularity 129\n}\n"},
			`keepalived.conf:2: persistence_granularity: 129 is out of range 1..128`},
		{"quorum zero", map[string]string{"keepalived.conf": vs("    quorum 0")},
			`keepalived.conf:2: quorum: 0 is out of range 1..4294967295`},
		{"virtual server weight zero", map[string]string{"keepalived.conf": vs("    weight 0")},
			`keepalived.conf:2: weight: 0 is out of range 1..65535`},
		{"delay_loop not a number", map[string]string{"keepalived.conf": vs("    delay_loop soon")},
			`keepalived.conf:2: delay_loop: "soon" is not a number of seconds`},
		{"delay_loop zero", map[string]string{"keepalived.conf": vs("    delay_loop 0")},
			`keepalived.conf:2: delay_loop: 0 is out of range 1µs..596523h14m8s`},
		{"retry zero on a virtual server", map[string]string{"keepalived.conf": vs("    retry 0")},
			`keepalived.conf:2: retry: 0 is out of range 1..4294967295`},
		{"missing value", map[string]string{"keepalived.conf": vs("    lb_algo")},
			`keepalived.conf:2: lb_algo: missing value`},
		{"bad boolean", map[string]string{"keepalived.conf": vs(rs + "        inhibit_on_failure maybe\n    }")},
			`keepalived.conf:6: inhibit_on_failure: "maybe" is not one of true, false, yes, no, on, off`},
		{"bad real address", map[string]string{"keepalived.conf": vs("    real_server 198.18.1 80")},
			`keepalived.conf:2: real_server: "198.18.1" is not an IP address`},
		{"real weight out of range", map[string]string{"keepalived.conf": vs(rs + "        weight 2147483648\n    }")},
			`keepalived.conf:6: weight: 2147483648 is out of range 0..2147483647`},
		{"negative weight", map[string]string{"keepalived.conf": vs(rs + "        weight -1\n    }")},
			`keepalived.conf:6: weight: "-1" is not a number`},
		{"threshold order is IPVS's error", map[string]string{"keepalived.conf": vs(rs + "        uthreshold 5\n        lthreshold 10\n    }")},
			"keepalived.conf:5: real_server 198.18.1.1 80: " + lvs.ValidateReal(lvs.ServiceKey{Protocol: lvs.TCP, Addr: netip.MustParseAddrPort("198.18.0.1:80")},
				lvs.Real{Addr: netip.MustParseAddrPort("198.18.1.1:80"), Method: lvs.Masq, Weight: 1, UThreshold: 5, LThreshold: 10}).Error()},
		{"connect_port zero", map[string]string{"keepalived.conf": vs(rs + "        TCP_CHECK {\n            connect_port 0\n        }\n    }")},
			`keepalived.conf:7: connect_port: 0 is out of range 1..65535`},
		{"bad connect_ip", map[string]string{"keepalived.conf": vs(rs + "        TCP_CHECK {\n            connect_ip example.test\n        }\n    }")},
			`keepalived.conf:7: connect_ip: "example.test" is not an IP address`},
		{"bindto of the other family", map[string]string{"keepalived.conf": vs(rs + "        TCP_CHECK {\n            bindto 2001:db8::1\n        }\n    }")},
			`keepalived.conf:6: TCP_CHECK: bindto 2001:db8::1 is not of the family of 198.18.1.1`},
		{"link-local check without bind_if", map[string]string{"keepalived.conf": "virtual_server 2001:db8::1 80 {\n    lb_kind NAT\n    protocol TCP\n    real_server 2001:db8:1::1 80 {\n        TCP_CHECK {\n            connect_ip fe80::1\n        }\n    }\n}\n"},
			`keepalived.conf:5: TCP_CHECK: link-local address fe80::1 needs bind_if`},
		{"short digest", map[string]string{"keepalived.conf": vs(rs + "        HTTP_GET {\n            url {\n                path /\n                digest 640205b7\n            }\n        }\n    }")},
			`keepalived.conf:9: digest: digest "640205b7" has 8 characters, not 32`},
		{"status code out of range", map[string]string{"keepalived.conf": vs(rs + "        HTTP_GET {\n            url {\n                path /\n                status_code 200 700\n            }\n        }\n    }")},
			`keepalived.conf:9: status_code: "700" is not a status code or range within 100-599`},
		{"bad http_protocol", map[string]string{"keepalived.conf": vs(rs + "        HTTP_GET {\n            http_protocol 2.0\n            url {\n                path /\n            }\n        }\n    }")},
			`keepalived.conf:7: http_protocol: "2.0" is not 1.0, 1.0C or 1.1`},
		{"bad DNS type", map[string]string{"keepalived.conf": vs(rs + "        DNS_CHECK {\n            type SRV\n        }\n    }")},
			`keepalived.conf:7: type: "SRV" is not one of A, NS, CNAME, SOA, MX, TXT, AAAA`},
		{"misc_path with an open quote", map[string]string{"keepalived.conf": vs(rs + "        MISC_CHECK {\n            misc_path \"/bin/check 'oops\"\n        }\n    }")},
			`keepalived.conf:7: misc_path: command has an unterminated quote`},
		{"bad notify user", map[string]string{"keepalived.conf": vs(rs + "        notify_up /bin/up a:b:c\n    }")},
			`keepalived.conf:6: notify_up: expected user or user:group`},
		{"unmatched quote", map[string]string{"keepalived.conf": vs("    virtualhost \"www.example.test")},
			`keepalived.conf:2: unmatched quote in "virtualhost \"www.example.test"`},
		{"extra closing brace", map[string]string{"keepalived.conf": "}\n"},
			`keepalived.conf:1: unexpected '}': no block is open`},
		{"missing closing brace", map[string]string{"keepalived.conf": "virtual_server 198.18.0.1 80 {\n    lb_algo rr\n"},
			`keepalived.conf:1: virtual_server: block opened here has no closing '}'`},
		{"brace without keyword", map[string]string{"keepalived.conf": "{\n}\n"},
			`keepalived.conf:1: unexpected '{' without a keyword before it`},
		{"include of a missing file", map[string]string{"keepalived.conf": "include services.conf\n"},
			`keepalived.conf:1: include: services.conf does not exist`},
		{"include loop", map[string]string{"keepalived.conf": "include keepalived.conf\n"},
			`keepalived.conf:1: include: includes nest deeper than 32: does a file include itself?`},
		{"error in an included file", map[string]string{"keepalived.conf": "include conf.d/*.conf\n", "conf.d/web.conf": vs("    lb_algo nope")},
			`conf.d/web.conf:2: lb_algo: scheduler "nope" is not one of rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos`},
		{"bad lvs_timeouts", map[string]string{"keepalived.conf": "global_defs {\n    lvs_timeouts tcp 10 icmp 5\n}\n"},
			`keepalived.conf:2: lvs_timeouts: "icmp" is not tcp, tcpfin or udp`},
		{"bad ~SEQ", map[string]string{"keepalived.conf": "~SEQ(i, 1, 0, 5) real_server 198.18.1.$i\n"},
			`keepalived.conf:1: ~SEQ: invalid values in "~SEQ(i, 1, 0, 5) real_server 198.18.1.$i"`},
		{"multi-line definition inside a line", map[string]string{"keepalived.conf": "$M=a \\\n b\nlb_algo $M\n"},
			`keepalived.conf:3: $M: a multi-line definition must stand alone on its line`},
		{"service defined twice", map[string]string{"keepalived.conf": vs(rs+"    }") + vs(rs+"    }")},
			"keepalived.conf:8: virtual_server 198.18.0.1 80: TCP 198.18.0.1:80 is defined twice (first at keepalived.conf:1)"},
		{"two reals made one by DR's port", map[string]string{"keepalived.conf": vs("    lb_algo rr\n    lb_kind DR\n    protocol TCP\n    real_server 198.18.1.1 8080\n    real_server 198.18.1.1 80")},
			"keepalived.conf:6: real_server 198.18.1.1 80: real 198.18.1.1:80 is defined twice in TCP 198.18.0.1:80 (first at keepalived.conf:5)"},
		{"virtual_server without address", map[string]string{"keepalived.conf": "virtual_server {\n}\n"},
			`keepalived.conf:1: virtual_server: missing address`},
		{"virtual_server group without name", map[string]string{"keepalived.conf": "virtual_server group {\n}\n"},
			`keepalived.conf:1: virtual_server: missing group name`},
		{"group without name", map[string]string{"keepalived.conf": "virtual_server_group {\n}\n"},
			`keepalived.conf:1: virtual_server_group: missing group name`},
		{"bad ip_family", map[string]string{"keepalived.conf": vs("    ip_family ipx")},
			`keepalived.conf:2: ip_family: "ipx" is not inet or inet6`},
		{"bad tunnel option", map[string]string{"keepalived.conf": vs("    lvs_method TUN fast")},
			`keepalived.conf:2: lvs_method: "fast" is not a tunnel option (type, port, nocsum, csum, remcsum)`},
		{"bad notify command", map[string]string{"keepalived.conf": vs(rs + "        notify_up \"/bin/up 'x\"\n    }")},
			`keepalived.conf:6: notify_up: command has an unterminated quote`},
		{"long bind_if", map[string]string{"keepalived.conf": vs(rs + "        TCP_CHECK {\n            bind_if averyveryverylongname0\n        }\n    }")},
			`keepalived.conf:7: bind_if: interface name "averyveryverylongname0" is longer than 15 characters`},
		{"status_code without value", map[string]string{"keepalived.conf": vs(rs + "        HTTP_GET {\n            url {\n                path /\n                status_code\n            }\n        }\n    }")},
			`keepalived.conf:9: status_code: missing value`},
		{"misc user without value", map[string]string{"keepalived.conf": vs(rs + "        MISC_CHECK {\n            misc_path /bin/true\n            user\n        }\n    }")},
			`keepalived.conf:8: user: missing value`},
		{"bad misc user", map[string]string{"keepalived.conf": vs(rs + "        MISC_CHECK {\n            misc_path /bin/true\n            user a b c\n        }\n    }")},
			`keepalived.conf:8: user: expected a user and an optional group`},
		{"~SEQ without parentheses", map[string]string{"keepalived.conf": "~SEQ i 1 3 x\n"},
			`keepalived.conf:1: ~SEQ: expected ~SEQ(var, start, step, end) text`},
		{"~SEQ with a bad variable", map[string]string{"keepalived.conf": "~SEQ(1x, 3) x\n"},
			`keepalived.conf:1: ~SEQ: expected ~SEQ(var, start, step, end) text`},
		{"~SEQ with a word", map[string]string{"keepalived.conf": "~SEQ(i, one, 3) x\n"},
			`keepalived.conf:1: ~SEQ: "one" is not a number`},
		{"~SEQ too long", map[string]string{"keepalived.conf": "~SEQ(i, 1, 1000000) x\n"},
			`keepalived.conf:1: ~SEQ: more than 65536 values in "~SEQ(i, 1, 1000000) x"`},
		{"definition of itself", map[string]string{"keepalived.conf": "$A=$A\nlb_algo $A\n"},
			`keepalived.conf:2: definitions expand into themselves`},
		{"every error is reported", map[string]string{"keepalived.conf": vs("    lb_algo nope\n    protocol SCTP\n    quorum x")},
			"keepalived.conf:2: lb_algo: scheduler \"nope\" is not one of rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos\n" +
				"keepalived.conf:3: protocol: golvs serves TCP and UDP only, not SCTP\n" +
				"keepalived.conf:4: quorum: \"x\" is not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := load(t, tt.files)
			if err == nil {
				t.Fatalf("Load succeeded, want error %q; got:\n%s", tt.want, got)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, _, err := Load(filepath.Join(t.TempDir(), "none.conf"), Options{})
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("Load of a missing file: %v", err)
	}
}
