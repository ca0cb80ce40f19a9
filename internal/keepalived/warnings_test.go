package keepalived

import (
	"slices"
	"strings"
	"testing"
)

// TestLoadWarnings covers what keepalived corrects or ignores with a log
// line: Load must say so, never drop anything silently.
func TestLoadWarnings(t *testing.T) {
	const head = "virtual_server 198.18.0.1 80 {\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n"
	tests := []struct {
		name string
		conf string
		want []string
	}{
		{"ignored blocks, each once", "vrrp_sync_group G {\n group {\n  VI_1\n }\n}\nstatic_ipaddress {\n 198.18.9.1/24 dev eth0\n}\nSSL {\n key /k\n}\n",
			[]string{
				"keepalived.conf:1: vrrp_sync_group G is ignored: golvs does not implement VRRP",
				"keepalived.conf:6: static_ipaddress is ignored: golvs does not implement static addresses",
				"keepalived.conf:9: SSL is ignored: golvs does not implement SSL_GET client certificates; SSL_GET connects without one",
			}},
		{"unknown root keyword", "frobnicate {\n x\n}\n", []string{`keepalived.conf:1: unknown keyword "frobnicate": ignored`}},
		{"virtual server without reals", "virtual_server 198.18.0.1 80 {\n    lb_algo rr\n}\n",
			[]string{"keepalived.conf:1: virtual_server 198.18.0.1 80 has no real servers: ignored, as keepalived does"}},
		{"virtual server without block", "virtual_server 198.18.0.1 80\n",
			[]string{"keepalived.conf:1: virtual_server without a { } block has no real servers: ignored"}},
		{"empty and unused groups", "virtual_server_group E {\n}\nvirtual_server_group U {\n 198.18.0.9 80\n}\n",
			[]string{"keepalived.conf:1: virtual_server_group E has no entries: ignored",
				"keepalived.conf:3: virtual_server_group U is not used by any virtual_server"}},
		{"real of the other family", head + "    real_server 2001:db8::1 80\n    real_server 198.18.1.1 80\n}\n",
			[]string{"keepalived.conf:5: real_server 2001:db8::1 is not of the family of virtual_server 198.18.0.1 80: skipped, as keepalived does"}},
		{"quorum above the weights, hysteresis above quorum", head + "    quorum 5\n    hysteresis 9\n    real_server 198.18.1.1 80 {\n        weight 2\n    }\n}\n",
			[]string{"keepalived.conf:1: virtual_server 198.18.0.1 80: quorum 5 exceeds the total weight 2 of its reals: quorum 2, as keepalived sets",
				"keepalived.conf:1: virtual_server 198.18.0.1 80: hysteresis 9 is not below quorum 2: hysteresis 1, as keepalived sets"}},
		{"ops needs UDP", head + "    ops\n    real_server 198.18.1.1 80\n}\n",
			[]string{"keepalived.conf:1: virtual_server 198.18.0.1 80: one-packet scheduling (ops) needs UDP: ignored"}},
		{"port 0 needs persistence", "virtual_server 198.18.0.1 0 {\n    lb_algo rr\n    lb_kind DR\n    protocol TCP\n    real_server 198.18.1.1\n}\n",
			[]string{"keepalived.conf:1: virtual_server 198.18.0.1 0: port 0 needs persistence: persistence_timeout 360, as keepalived sets"}},
		{"sorry server options without one", head + "    sorry_server_inhibit\n    sorry_server_lvs_method DR\n    real_server 198.18.1.1 80\n}\n",
			[]string{"keepalived.conf:5: sorry_server_inhibit before or without sorry_server: ignored",
				"keepalived.conf:6: sorry_server_lvs_method before or without sorry_server: ignored"}},
		{"extra words and stray blocks", head + "    lb_algo rr wrr\n    quorum 1 {\n    }\n    real_server 198.18.1.1 80\n}\n",
			[]string{`keepalived.conf:5: lb_algo: extra words "wrr" ignored`,
				"keepalived.conf:6: quorum takes no { } block: the block is ignored"}},
		{"checkers keepalived would drop", head + "    real_server 198.18.1.1 80 {\n        HTTP_GET {\n            url {\n                digest 640205b7b0fc66c1ea91c463fac6334d\n            }\n        }\n        MISC_CHECK {\n            misc_timeout 3\n        }\n        PING_CHECK {\n        }\n    }\n}\n",
			[]string{"keepalived.conf:6: HTTP_GET has no url with a path: the checker is ignored, as keepalived does",
				"keepalived.conf:7: url has no path: ignored, as keepalived does",
				"keepalived.conf:11: MISC_CHECK has no misc_path: the checker is ignored, as keepalived does",
				"keepalived.conf:14: PING_CHECK is ignored: golvs does not implement it; real 198.18.1.1 80 is checked by its other checks only (always up if none)"}},
		{"given twice", head + "    quorum_up /a\n    quorum_up /b\n    real_server 198.18.1.1 80 {\n        HTTP_GET {\n            url {\n                path /\n                digest 640205b7b0fc66c1ea91c463fac6334d\n                digest 9b3a0c85a887a256d6939da88aabd8cd\n            }\n        }\n    }\n}\n",
			[]string{"keepalived.conf:6: quorum_up is given twice: the first is kept, as keepalived does",
				"keepalived.conf:12: digest is given twice: the first is kept, as keepalived does"}},
		{"scheduler flags of another scheduler", head + "    sh-port\n    real_server 198.18.1.1 80\n}\n",
			[]string{`keepalived.conf:5: sh-port applies only to the sh scheduler and lb_algo is "rr" here: ignored`}},
		{"an include matching nothing", "include conf.d/*.conf\n",
			[]string{"keepalived.conf:1: include conf.d/*.conf matches no file"}},
		{"a directory", "include sub\n", []string{"keepalived.conf:1: include sub: a directory, skipped as keepalived does"}},
		{"words after misc_path", head + "    real_server 198.18.1.1 80 {\n        MISC_CHECK {\n            misc_path /bin/check 198.18.1.1\n        }\n    }\n}\n",
			[]string{`keepalived.conf:7: misc_path: words after the command are ignored, as keepalived does: quote the whole command line (misc_path "/bin/check 198.18.1.1")`}},
		{"conditional lines", "@lb2 frobnicate\n@^lb1 frobnicate\n@lb1 quux\n@^lb2 quuux\n",
			[]string{`keepalived.conf:3: unknown keyword "quux": ignored`, `keepalived.conf:4: unknown keyword "quuux": ignored`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"keepalived.conf": tt.conf, "sub/x": ""}
			_, got, err := load(t, files)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("warnings:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tt.want, "\n     "))
			}
		})
	}
}
