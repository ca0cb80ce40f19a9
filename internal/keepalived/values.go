package keepalived

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golvs/internal/config"
)

// The readers of keyword values. Each records an error naming the line
// and the keyword and returns false when the value is missing or bad.

func (p *parser) errorf(n *node, format string, args ...any) {
	p.errs.Add(n.pos, n.keyword(), format, args...)
}

func (p *parser) warnf(n *node, format string, args ...any) {
	p.warns = append(p.warns, Warning{Pos: n.pos, Msg: fmt.Sprintf(format, args...)})
}

// arg returns word i (1-based after the keyword), or records an error.
func (p *parser) arg(n *node, i int) (string, bool) {
	if i >= len(n.words) {
		p.errorf(n, "missing value")
		return "", false
	}
	return n.words[i], true
}

// noBlock warns when a keyword that takes no block has one, and ignores it.
func (p *parser) noBlock(n *node) {
	if n.hasBlock {
		p.warnf(n, "%s takes no { } block: the block is ignored", n.keyword())
	}
}

// maxArgs warns about words after the last one a keyword reads, which
// keepalived ignores.
func (p *parser) maxArgs(n *node, max int) {
	if len(n.words) > max+1 {
		p.warnf(n, "%s: extra words %q ignored", n.keyword(), strings.Join(n.words[max+1:], " "))
	}
}

// uint reads word i as a decimal number in lo..hi (read_unsigned in
// parser.c: no sign, no other base).
func (p *parser) uint(n *node, i int, lo, hi uint64) (uint64, bool) {
	s, ok := p.arg(n, i)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimLeft(s, " \t"), 10, 64)
	if err != nil {
		p.errorf(n, "%q is not a number", s)
		return 0, false
	}
	if v < lo || v > hi {
		p.errorf(n, "%d is out of range %d..%d", v, lo, hi)
		return 0, false
	}
	return v, true
}

// maxTimer is the largest timer golvs takes (keepalived's TIMER_MAXIMUM
// is far beyond any sensible value).
const maxTimer = 1 << 31 * time.Second

// timer reads word i as keepalived's TIMER: seconds with decimals, kept
// to the microsecond (read_timer in parser.c), at least min.
func (p *parser) timer(n *node, i int, min time.Duration) (time.Duration, bool) {
	s, ok := p.arg(n, i)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		p.errorf(n, "%q is not a number of seconds", s)
		return 0, false
	}
	d := time.Duration(math.Round(f*1e6)) * time.Microsecond
	if f > maxTimer.Seconds() || d < min {
		p.errorf(n, "%s is out of range %v..%v", s, min, maxTimer)
		return 0, false
	}
	return d, true
}

func (p *parser) timerPtr(n *node, min time.Duration) *time.Duration {
	p.maxArgs(n, 1)
	d, ok := p.timer(n, 1, min)
	if !ok {
		return nil
	}
	return &d
}

// boolArg reads keepalived's optional <BOOL> (true when absent).
func (p *parser) boolArg(n *node) (bool, bool) {
	p.maxArgs(n, 1)
	if len(n.words) < 2 {
		return true, true
	}
	switch n.words[1] {
	case "true", "on", "yes":
		return true, true
	case "false", "off", "no":
		return false, true
	}
	p.errorf(n, "%q is not one of true, false, yes, no, on, off", n.words[1])
	return false, false
}

// addr reads an address (IPv6 also in brackets).
func parseAddr(s string) (netip.Addr, error) {
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("address %s has a zone", a)
	}
	return a.Unmap(), nil
}

// addrPort reads "IP [PORT]" at words i and i+1; a missing port or port
// 0 is 0, as alloc_vs and alloc_rs take it.
func (p *parser) addrPort(n *node, i int) (netip.Addr, uint16, bool) {
	s, ok := p.arg(n, i)
	if !ok {
		return netip.Addr{}, 0, false
	}
	a, err := parseAddr(s)
	if err != nil {
		p.errorf(n, "%v", err)
		return netip.Addr{}, 0, false
	}
	if len(n.words) <= i+1 {
		return a, 0, true
	}
	port, ok := p.uint(n, i+1, 0, 65535)
	return a, uint16(port), ok
}

// script reads keepalived's notify script: a command (one word, often
// quoted, split into words as a shell would) and an optional user
// ("user", "user:group" or "user group").
func (p *parser) script(n *node) *config.Script {
	s, ok := p.arg(n, 1)
	if !ok {
		return nil
	}
	args, err := config.SplitCommand(s)
	if err != nil {
		p.errorf(n, "%v", err)
		return nil
	}
	sc := &config.Script{Args: args}
	if len(n.words) > 2 {
		if sc.User, sc.Group, err = config.SplitUser(n.words[2:]...); err != nil {
			p.errorf(n, "%v", err)
			return nil
		}
	}
	return sc
}
