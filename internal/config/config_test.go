package config

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golvs/internal/lvs"
)

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"/bin/check", []string{"/bin/check"}},
		{"  /bin/check  a\tb ", []string{"/bin/check", "a", "b"}},
		{`/bin/check 'two words' "and \"more\""`, []string{"/bin/check", "two words", `and "more"`}},
		{`/bin/check a\ b`, []string{"/bin/check", "a b"}},
		{`/bin/check ''`, []string{"/bin/check", ""}},
		{`/bin/check $HOME`, []string{"/bin/check", "$HOME"}},
	}
	for _, tt := range tests {
		got, err := SplitCommand(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("SplitCommand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "   ", `/bin/x 'open`, `/bin/x "open`, `/bin/x \`} {
		if got, err := SplitCommand(bad); err == nil {
			t.Errorf("SplitCommand(%q) = %q, want an error", bad, got)
		}
	}
}

func TestSplitUser(t *testing.T) {
	tests := []struct {
		in          []string
		user, group string
		ok          bool
	}{
		{[]string{"nobody"}, "nobody", "", true},
		{[]string{"nobody:nogroup"}, "nobody", "nogroup", true},
		{[]string{"nobody", "nogroup"}, "nobody", "nogroup", true},
		{[]string{":nogroup"}, "", "", false},
		{[]string{"a:b:c"}, "", "", false},
		{[]string{"a", "b", "c"}, "", "", false},
	}
	for _, tt := range tests {
		u, g, err := SplitUser(tt.in...)
		if (err == nil) != tt.ok || u != tt.user || g != tt.group {
			t.Errorf("SplitUser(%q) = %q, %q, %v", tt.in, u, g, err)
		}
	}
}

func dur(d time.Duration) *time.Duration { return &d }
func num(n int) *int                     { return &n }

// TestResolve checks keepalived's order (check, real, virtual server,
// the kind's default) for every timer.
func TestResolve(t *testing.T) {
	yes := true
	tests := []struct {
		name           string
		kind           CheckKind
		own, real, svc Timing
		alpha          *bool
		realAlpha      bool
		delay, timeout time.Duration
		retry          int
		before, warmup time.Duration
		wantAlpha      bool
	}{
		{"TCP defaults", TCPCheck, Timing{}, Timing{}, Timing{}, nil, false, 60 * time.Second, 5 * time.Second, 1, time.Second, 60 * time.Second, false},
		{"HTTP defaults", HTTPCheck, Timing{}, Timing{}, Timing{}, nil, false, 60 * time.Second, 5 * time.Second, 1, 3 * time.Second, 60 * time.Second, false},
		{"MISC defaults", MiscCheck, Timing{}, Timing{}, Timing{}, nil, false, 60 * time.Second, 5 * time.Second, 0, time.Second, 60 * time.Second, false},
		{"DNS defaults follow delay_loop", DNSCheck, Timing{}, Timing{DelayLoop: dur(7 * time.Second)}, Timing{}, nil, false, 7 * time.Second, 5 * time.Second, 3, 7 * time.Second, 7 * time.Second, false},
		{"service values", HTTPCheck, Timing{}, Timing{}, Timing{DelayLoop: dur(6 * time.Second), ConnectTimeout: dur(2 * time.Second), Retry: num(4), DelayBeforeRetry: dur(time.Second), Warmup: dur(0)},
			nil, false, 6 * time.Second, 2 * time.Second, 4, time.Second, 0, false},
		{"real beats service", TCPCheck, Timing{}, Timing{Retry: num(2), Warmup: dur(time.Second)}, Timing{Retry: num(4), DelayLoop: dur(6 * time.Second)},
			nil, true, 6 * time.Second, 5 * time.Second, 2, time.Second, time.Second, true},
		{"check beats real", TCPCheck, Timing{Retry: num(0), DelayLoop: dur(2 * time.Second)}, Timing{Retry: num(2), DelayLoop: dur(3 * time.Second)}, Timing{},
			&yes, false, 2 * time.Second, 5 * time.Second, 0, time.Second, 2 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Check{Kind: tt.kind}
			c.Resolve(tt.own, tt.real, tt.svc, tt.alpha, tt.realAlpha)
			got := fmt.Sprint(c.DelayLoop, c.ConnectTimeout, c.Retry, c.DelayBeforeRetry, c.Warmup, c.Alpha)
			want := fmt.Sprint(tt.delay, tt.timeout, tt.retry, tt.before, tt.warmup, tt.wantAlpha)
			if got != want {
				t.Errorf("delay_loop, connect_timeout, retry, delay_before_retry, warmup, alpha = %s, want %s", got, want)
			}
		})
	}
}

func TestURLAccepts(t *testing.T) {
	def := URL{Path: "/"}
	set := URL{Path: "/", StatusCodes: []StatusRange{{200, 200}, {301, 302}}}
	for _, tt := range []struct {
		u    URL
		code int
		want bool
	}{
		{def, 200, true}, {def, 299, true}, {def, 300, false}, {def, 199, false},
		{set, 200, true}, {set, 201, false}, {set, 302, true}, {set, 303, false},
	} {
		if got := tt.u.Accepts(tt.code); got != tt.want {
			t.Errorf("%v.Accepts(%d) = %t", tt.u.StatusCodes, tt.code, got)
		}
	}
}

func TestErrorList(t *testing.T) {
	var l ErrorList
	if l.Err() != nil {
		t.Fatal("an empty list is not an error")
	}
	l.Add(Pos{"main.conf", 9}, "b", "second")
	l.Add(Pos{"inc.conf", 3}, "c", "third")
	l.Add(Pos{"main.conf", 2}, "a", "first")
	err := l.Err()
	want := "main.conf:2: a: first\nmain.conf:9: b: second\ninc.conf:3: c: third"
	if err.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", err, want)
	}
	sentinel := errors.New("sentinel")
	l.AddErr(Pos{}, "", sentinel)
	if !errors.Is(l, sentinel) {
		t.Errorf("errors.Is does not find a listed error")
	}
	var many ErrorList
	for i := range 25 {
		many.Add(Pos{"f", i + 1}, "", "e")
	}
	if s := many.Error(); strings.Count(s, "\n") != maxErrors || !strings.HasSuffix(s, "(and 5 more errors)") {
		t.Errorf("a long list prints:\n%s", s)
	}
}

// TestValidateCheck covers the check rules that neither reader can
// reach with its own syntax.
func TestValidateCheck(t *testing.T) {
	addr := netip.MustParseAddrPort("198.18.1.1:80")
	base := func(k CheckKind) Check {
		c := Check{Kind: k}
		switch k {
		case HTTPCheck:
			c.HTTP = &HTTPGet{URLs: []URL{{Path: "/"}}}
		case MiscCheck:
			c.Misc = &MiscExec{Args: []string{"/bin/true"}}
		case DNSCheck:
			c.DNS = &DNSQuery{}
		}
		c.Resolve(Timing{}, Timing{}, Timing{}, nil, false)
		return c
	}
	tests := []struct {
		name string
		mod  func(*Check)
		kind CheckKind
		want string
	}{
		{"valid", func(*Check) {}, TCPCheck, ""},
		{"zero delay_loop", func(c *Check) { c.DelayLoop = 0 }, TCPCheck, "delay_loop 0s must be positive"},
		{"zero connect_timeout", func(c *Check) { c.ConnectTimeout = 0 }, HTTPCheck, "connect_timeout 0s must be positive"},
		{"misc needs no connect_timeout", func(c *Check) { c.ConnectTimeout = 0 }, MiscCheck, ""},
		{"payload of another kind", func(c *Check) { c.Misc = &MiscExec{Args: []string{"x"}} }, TCPCheck, "TCP_CHECK has the options of another kind of check"},
		{"no urls", func(c *Check) { c.HTTP.URLs = nil }, HTTPCheck, ErrNoURL.Error()},
		{"bad protocol", func(c *Check) { c.HTTP.Protocol = "2" }, HTTPCheck, `http_protocol "2" is not one of [1.0 1.0C 1.1]`},
		{"upper-case digest", func(c *Check) { c.HTTP.URLs[0].Digest = strings.Repeat("A", 32) }, HTTPCheck, `url /: digest "` + strings.Repeat("A", 32) + `" is not lower-case hex`},
		{"empty script", func(c *Check) { c.Misc.Args = nil }, MiscCheck, ErrNoScript.Error()},
		{"unknown DNS type", func(c *Check) { c.DNS.Type = "SRV" }, DNSCheck, `DNS type "SRV" is not one of [A NS CNAME SOA MX TXT AAAA]`},
		{"unknown kind", func(c *Check) { c.Kind = 99 }, TCPCheck, "unknown check kind 99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base(tt.kind)
			tt.mod(&c)
			err := ValidateCheck(&c, addr)
			if got := fmt.Sprint(err); (err == nil && tt.want != "") || (err != nil && got != tt.want) {
				t.Errorf("ValidateCheck = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestTable: the table lvsd starts from has every real, in IPVS order.
func TestTable(t *testing.T) {
	c, err := Parse("lvsd.yaml", []byte(`
timeouts: {tcp: 100}
services:
  - vip: 198.18.0.10
    port: 80
    method: nat
    reals:
      - {address: 198.18.1.1}
      - {address: 198.18.1.2, weight: 0}
`))
	if err != nil {
		t.Fatal(err)
	}
	tab, err := c.Table()
	if err != nil {
		t.Fatal(err)
	}
	if tab.Timeouts.TCP != 100*time.Second || tab.Timeouts.UDP != lvs.DefaultTimeouts.UDP {
		t.Errorf("timeouts = %+v", tab.Timeouts)
	}
	r := tab.Services[0].Reals
	if len(r) != 2 || r[0].Addr.String() != "198.18.1.2:80" || r[0].Weight != 0 || r[1].Addr.String() != "198.18.1.1:80" {
		t.Errorf("reals = %+v, want IPVS order (last added first)", r)
	}
}
