package keepalived

import (
	"net/netip"
	"slices"
	"testing"
)

func TestDecomment(t *testing.T) {
	tests := []struct {
		in, want string
		cont     bool
	}{
		{"  weight 1   ", "weight 1", false},
		{"weight 1 # a comment", "weight 1", false},
		{"weight 1 ! a comment", "weight 1", false},
		{`path "/a#b!c" # comment`, `path "/a#b!c"`, false},
		{`path /a\#b\!c`, "path /a#b!c", false},
		{`misc_path "/bin/x \" # y"`, `misc_path "/bin/x \" # y"`, false},
		{"real_server 198.18.1.1 \\", "real_server 198.18.1.1", true},
		{"! only a comment", "", false},
	}
	for _, tt := range tests {
		got, cont := decomment(tt.in)
		if got != tt.want || cont != tt.cont {
			t.Errorf("decomment(%q) = %q, %t; want %q, %t", tt.in, got, cont, tt.want, tt.cont)
		}
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"real_server 198.18.1.1 80 {", []string{"real_server", "198.18.1.1", "80", "{"}},
		{`notify_up "/bin/notify up" root`, []string{"notify_up", "/bin/notify up", "root"}},
		{"url{path /}", []string{"url", "{", "path", "/", "}"}},
		{`virtualhost ""`, []string{"virtualhost", ""}},
		{`path "{not a block}"`, []string{"path", "{not a block}"}},
	}
	for _, tt := range tests {
		got, err := split(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("split(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := split(`path "/open`); err == nil {
		t.Errorf("split of an unmatched quote succeeded")
	}
}

func TestExpandBraces(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"a/*.conf", []string{"a/*.conf"}},
		{"a/{x,y}.conf", []string{"a/x.conf", "a/y.conf"}},
		{"{a,b}/{c,d}", []string{"a/c", "a/d", "b/c", "b/d"}},
		{"a/{x,{y,z}}.conf", []string{"a/x.conf", "a/y.conf", "a/z.conf"}},
		{"a/{,x}.conf", []string{"a/.conf", "a/x.conf"}},
	}
	for _, tt := range tests {
		if got := expandBraces(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("expandBraces(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		in          string
		first, last string
	}{
		{"198.18.0.10", "198.18.0.10", "198.18.0.10"},
		{"198.18.0.10-20", "198.18.0.10", "198.18.0.20"},
		{"198.18.0.250-198.18.1.10", "198.18.0.250", "198.18.1.10"},
		{"198.18.0.8/29", "198.18.0.8", "198.18.0.15"},
		{"2001:db8::2-9", "2001:db8::2", "2001:db8::9"},
		{"2001:db8::a-1f", "2001:db8::a", "2001:db8::1f"},
		{"2001:db8::/126", "2001:db8::", "2001:db8::3"},
	}
	for _, tt := range tests {
		first, last, err := parseRange(tt.in)
		if err != nil || first != netip.MustParseAddr(tt.first) || last != netip.MustParseAddr(tt.last) {
			t.Errorf("parseRange(%q) = %s, %s, %v; want %s, %s", tt.in, first, last, err, tt.first, tt.last)
		}
	}
	for _, bad := range []string{"198.18.0.10-9", "198.18.0.10-256", "198.18.0.1/24", "198.18.0.10-2001:db8::1", "2001:db8::2-10000", "198.18.0.0/0", "x-1"} {
		if _, _, err := parseRange(bad); err == nil {
			t.Errorf("parseRange(%q) succeeded", bad)
		}
	}
}
