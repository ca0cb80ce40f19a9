package config

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decoder walks a YAML node tree strictly: every key must be known, every
// value of the right type and range, and every error names the file, the
// line and the field path.
type decoder struct {
	file string
	errs ErrorList
}

func (d *decoder) pos(n *yaml.Node) Pos { return Pos{File: d.file, Line: n.Line} }

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs.Add(d.pos(n), path, format, args...)
}

// deref follows aliases (*name) to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// describe names a node's kind for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing"
		case "!!str":
			return fmt.Sprintf("%q", n.Value)
		}
		return n.Value
	}
	return "an unknown node"
}

// object is one YAML mapping being decoded. Its keys are checked against
// the allowed list when it is made; merge keys (<<) are expanded, keys
// written in the mapping itself winning over merged ones.
type object struct {
	d    *decoder
	node *yaml.Node
	path string
	vals map[string]*yaml.Node
	keys map[string]*yaml.Node // the key nodes, for positions
}

// object returns the mapping n at path, or nil after recording an error
// when n is not a mapping. A null node is an empty mapping.
func (d *decoder) object(n *yaml.Node, path string, allowed []string) *object {
	n = deref(n)
	o := &object{d: d, node: n, path: path, vals: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}}
	if isNull(n) {
		return o
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, got %s", describe(n))
		return nil
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "a key must be a plain name, got %s", describe(k))
			continue
		}
		if k.Tag == "!!merge" {
			merges = append(merges, v)
			continue
		}
		name := k.Value
		if prev, dup := o.keys[name]; dup {
			d.errorf(k, join(path, name), "key is given twice (first at line %d)", prev.Line)
			continue
		}
		if !slices.Contains(allowed, name) {
			msg := "unknown key"
			if s := suggest(name, allowed); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.errorf(k, join(path, name), "%s", msg)
			continue
		}
		o.keys[name], o.vals[name] = k, v
	}
	for _, m := range merges {
		m = deref(m)
		var srcs []*yaml.Node
		switch m.Kind {
		case yaml.MappingNode:
			srcs = []*yaml.Node{m}
		case yaml.SequenceNode:
			for _, e := range m.Content {
				srcs = append(srcs, deref(e))
			}
		default:
			d.errorf(m, path, "<< merges a mapping, got %s", describe(m))
			continue
		}
		for _, src := range srcs {
			sub := d.object(src, path, allowed)
			if sub == nil {
				continue
			}
			for name, v := range sub.vals {
				if _, set := o.vals[name]; !set {
					o.keys[name], o.vals[name] = sub.keys[name], v
				}
			}
		}
	}
	return o
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// suggest returns the allowed name closest to a misspelt one, if close.
func suggest(name string, allowed []string) string {
	best, bestDist := "", 3
	for _, a := range allowed {
		if d := editDistance(name, a); d < bestDist {
			best, bestDist = a, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// has reports whether key is set.
func (o *object) has(key string) bool { _, ok := o.vals[key]; return ok }

// value returns key's value node and its path, or nil.
func (o *object) value(key string) (*yaml.Node, string) {
	v, ok := o.vals[key]
	if !ok {
		return nil, ""
	}
	return deref(v), join(o.path, key)
}

// require records an error unless key is set.
func (o *object) require(key string) bool {
	if o.has(key) {
		return true
	}
	o.d.errorf(o.node, join(o.path, key), "is required")
	return false
}

// scalar returns key's non-null scalar node, or nil after an error.
func (o *object) scalar(key string) (*yaml.Node, string) {
	n, path := o.value(key)
	if n == nil {
		return nil, ""
	}
	if n.Kind != yaml.ScalarNode || isNull(n) {
		o.d.errorf(n, path, "expected a value, got %s", describe(n))
		return nil, ""
	}
	return n, path
}

// str sets *dst to key's text if key is set.
func (o *object) str(key string, dst *string) bool {
	n, path := o.scalar(key)
	if n == nil {
		return false
	}
	if n.Value == "" {
		o.d.errorf(n, path, "is empty")
		return false
	}
	*dst = n.Value
	return true
}

// uint sets *dst to key's integer if it is within lo..hi.
func (o *object) uint(key string, lo, hi uint64, dst *uint64) bool {
	n, path := o.scalar(key)
	if n == nil {
		return false
	}
	v, err := strconv.ParseInt(n.Value, 0, 64)
	if n.Tag != "!!int" || err != nil {
		o.d.errorf(n, path, "%s is not a whole number", describe(n))
		return false
	}
	if v < 0 || uint64(v) < lo || uint64(v) > hi {
		o.d.errorf(n, path, "%d is out of range %d..%d", v, lo, hi)
		return false
	}
	*dst = uint64(v)
	return true
}

func (o *object) uint16(key string, lo, hi uint64, dst *uint16) bool {
	var v uint64
	if !o.uint(key, lo, hi, &v) {
		return false
	}
	*dst = uint16(v)
	return true
}

func (o *object) uint32(key string, lo, hi uint64, dst *uint32) bool {
	var v uint64
	if !o.uint(key, lo, hi, &v) {
		return false
	}
	*dst = uint32(v)
	return true
}

func (o *object) int(key string, lo, hi uint64, dst *int) bool {
	var v uint64
	if !o.uint(key, lo, hi, &v) {
		return false
	}
	*dst = int(v)
	return true
}

// boolean sets *dst from true/false (and keepalived's yes/no/on/off).
func (o *object) boolean(key string, dst *bool) bool {
	n, path := o.scalar(key)
	if n == nil {
		return false
	}
	switch strings.ToLower(n.Value) {
	case "true", "yes", "on":
		*dst = true
	case "false", "no", "off":
		*dst = false
	default:
		o.d.errorf(n, path, "%s is not true or false", describe(n))
		return false
	}
	return true
}

// maxDuration is keepalived's TIMER_MAXIMUM order of magnitude; anything
// longer is a typo.
const maxDuration = 1 << 31 * time.Second

// duration sets *dst from a number of seconds (keepalived's unit,
// decimals allowed) or a Go duration ("1.5s", "500ms", "2m"), at least min.
func (o *object) duration(key string, min time.Duration, dst *time.Duration) bool {
	n, path := o.scalar(key)
	if n == nil {
		return false
	}
	d, err := parseDuration(n.Value)
	if err != nil {
		o.d.errorf(n, path, "%s is not a duration (seconds, or a number with a unit such as 1.5s or 500ms)", describe(n))
		return false
	}
	if d < min || d > maxDuration {
		o.d.errorf(n, path, "%v is out of range %v..%v", d, min, maxDuration)
		return false
	}
	*dst = d
	return true
}

func (o *object) durationPtr(key string, min time.Duration) *time.Duration {
	var d time.Duration
	if !o.duration(key, min, &d) {
		return nil
	}
	return &d
}

func parseDuration(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || f > maxDuration.Seconds() || f < -maxDuration.Seconds() {
			return 0, fmt.Errorf("bad duration")
		}
		// keepalived keeps timers in microseconds (TIMER_HZ).
		return time.Duration(math.Round(f*1e6)) * time.Microsecond, nil
	}
	return time.ParseDuration(s)
}

// addr parses key's value as an IP address (brackets around IPv6 allowed).
func (o *object) addr(key string, dst *netip.Addr) bool {
	n, path := o.scalar(key)
	if n == nil {
		return false
	}
	a, err := parseAddr(n.Value)
	if err != nil {
		o.d.errorf(n, path, "%s is not an IP address", describe(n))
		return false
	}
	*dst = a
	return true
}

func parseAddr(s string) (netip.Addr, error) {
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, err
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("address %s has a zone", a)
	}
	return a, nil
}

// list returns key's sequence items and the path of the list, or nil.
func (o *object) list(key string) ([]*yaml.Node, string) {
	n, path := o.value(key)
	if n == nil {
		return nil, ""
	}
	if isNull(n) {
		return nil, path
	}
	if n.Kind != yaml.SequenceNode {
		o.d.errorf(n, path, "expected a list, got %s", describe(n))
		return nil, ""
	}
	items := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		items[i] = deref(c)
	}
	return items, path
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }
