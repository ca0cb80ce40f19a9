package keepalived

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"golvs/internal/config"
	"golvs/internal/lvs"
)

// parser turns the block tree into virtual servers, keepalived's way.
type parser struct {
	errs   config.ErrorList
	warns  []Warning
	groups map[string]*group
	vss    []*vsBuild
	conf   config.Config

	// The nodes behind each service, real and check of conf, for
	// errors in keepalived's words.
	svcNodes   []*vsBuild
	realNodes  [][]*realBuild
	checkNodes [][][]*node
}

// ignoredRoots are keepalived's top-level blocks that are not about LVS:
// golvs reads past them with one warning each.
var ignoredRoots = map[string]string{
	"vrrp_instance":           "VRRP",
	"vrrp_sync_group":         "VRRP",
	"vrrp_script":             "VRRP",
	"vrrp_track_process":      "VRRP",
	"vrrp_track_file":         "VRRP",
	"vrrp_garp":               "VRRP",
	"garp_group":              "VRRP",
	"track_file":              "tracked files",
	"static_ipaddress":        "static addresses",
	"static_routes":           "static routes",
	"static_rules":            "static rules",
	"linkbeat_interfaces":     "link beat",
	"bfd_instance":            "BFD",
	"SSL":                     "SSL_GET client certificates; SSL_GET connects without one",
	"net_namespace":           "network namespaces",
	"net_namespace_ipvs":      "network namespaces",
	"namespace_with_ipsets":   "network namespaces",
	"instance":                "instances",
	"use_pid_dir":             "pid files",
	"child_wait_time":         "child processes",
	"vrrp_notify_fifo":        "VRRP",
	"vrrp_notify_fifo_script": "VRRP",
}

func (p *parser) root(n *node) {
	switch n.keyword() {
	case "virtual_server":
		p.virtualServer(n)
	case "virtual_server_group":
		p.group(n)
	case "global_defs":
		p.globalDefs(n)
	default:
		if what, ok := ignoredRoots[n.keyword()]; ok {
			name := n.keyword()
			if len(n.words) > 1 {
				name += " " + n.words[1]
			}
			p.warnf(n, "%s is ignored: golvs does not implement %s", name, what)
			return
		}
		p.warnf(n, "unknown keyword %q: ignored", n.keyword())
	}
}

// globalDefs reads lvs_timeouts, the one global setting of IPVS itself
// golvs has, and reports the rest once.
func (p *parser) globalDefs(n *node) {
	var ignored []string
	for _, k := range n.block {
		if k.keyword() != "lvs_timeouts" {
			if !slices.Contains(ignored, k.keyword()) {
				ignored = append(ignored, k.keyword())
			}
			continue
		}
		p.noBlock(k)
		for i := 1; i < len(k.words); i += 2 {
			var dst *time.Duration
			switch k.words[i] {
			case "tcp":
				dst = &p.conf.Timeouts.TCP
			case "tcpfin":
				dst = &p.conf.Timeouts.TCPFin
			case "udp":
				dst = &p.conf.Timeouts.UDP
			default:
				p.errorf(k, "%q is not tcp, tcpfin or udp", k.words[i])
				continue
			}
			if v, ok := p.uint(k, i+1, 0, uint64(lvs.MaxPersistence/time.Second)); ok {
				*dst = time.Duration(v) * time.Second
			}
		}
	}
	if len(ignored) > 0 {
		p.warnf(n, "global_defs: golvs uses only lvs_timeouts; ignored: %s", strings.Join(ignored, ", "))
	}
}

// group is a virtual_server_group.
type group struct {
	node    *node
	entries []groupEntry
	used    bool
}

// groupEntry is one address range and port of a group.
type groupEntry struct {
	node        *node
	first, last netip.Addr
	port        uint16
}

// maxGroupAddrs bounds how many services one group expands to.
const maxGroupAddrs = 4096

func (p *parser) group(n *node) {
	if len(n.words) < 2 {
		p.errorf(n, "missing group name")
		return
	}
	p.maxArgs(n, 1)
	name := n.words[1]
	if g, dup := p.groups[name]; dup {
		p.errorf(n, "group %s is defined twice (first at %s)", name, g.node.pos)
		return
	}
	g := &group{node: n}
	p.groups[name] = g
	count := 0
	for _, e := range n.block {
		p.noBlock(e)
		if e.keyword() == "fwmark" {
			p.errorf(e, "golvs has no firewall-mark services: remove fwmark %s from group %s", strings.Join(e.args(), " "), name)
			continue
		}
		first, last, err := parseRange(e.keyword())
		if err != nil {
			p.errorf(e, "%v", err)
			continue
		}
		var port uint16
		if len(e.words) > 1 {
			v, ok := p.uint(e, 1, 0, 65535)
			if !ok {
				continue
			}
			port = uint16(v)
		}
		p.maxArgs(e, 1)
		for a := first; count <= maxGroupAddrs; a = a.Next() {
			count++
			if a == last {
				break
			}
		}
		if count > maxGroupAddrs {
			p.errorf(e, "group %s has more than %d addresses", name, maxGroupAddrs)
			return
		}
		g.entries = append(g.entries, groupEntry{node: e, first: first, last: last, port: port})
	}
	if len(g.entries) == 0 && !p.hasErrorsIn(n) {
		p.warnf(n, "virtual_server_group %s has no entries: ignored", name)
	}
}

func (p *parser) hasErrorsIn(n *node) bool {
	for _, e := range p.errs {
		if e.Pos.File == n.pos.File && e.Pos.Line >= n.pos.Line {
			return true
		}
	}
	return false
}

// parseRange reads a group entry's addresses as alloc_vsg_entry does:
// A, A-N (N replaces the last byte of IPv4 A, or the last 16-bit group,
// in hex, of IPv6 A), A-B (a whole end address) or A/LEN (a network
// whose host bits are zero).
func parseRange(s string) (first, last netip.Addr, err error) {
	if addr, bits, ok := strings.Cut(s, "/"); ok {
		pfx, err := netip.ParsePrefix(addr + "/" + bits)
		if err != nil || pfx.Bits() == 0 {
			return first, last, fmt.Errorf("%q is not an address/prefix-length", s)
		}
		if pfx.Masked() != pfx {
			return first, last, fmt.Errorf("%s has host bits set", s)
		}
		first = pfx.Addr()
		last = lastOf(pfx)
		return first, last, nil
	}
	addr, end, isRange := strings.Cut(s, "-")
	if first, err = parseAddr(addr); err != nil {
		return first, last, err
	}
	if !isRange {
		return first, first, nil
	}
	if (first.Is4() && strings.Contains(end, ".")) || (first.Is6() && strings.Contains(end, ":")) {
		if last, err = parseAddr(end); err != nil {
			return first, last, err
		}
		if last.Is4() != first.Is4() {
			return first, last, fmt.Errorf("range %s mixes address families", s)
		}
		if last.Less(first) {
			return first, last, fmt.Errorf("range %s ends before it starts", s)
		}
		return first, last, nil
	}
	b := first.AsSlice()
	if first.Is4() {
		var n uint64
		if n, err = parseUint(end, 10, 255); err != nil {
			return first, last, fmt.Errorf("range end %q of %s is not 0..255", end, s)
		}
		b[3] = byte(n)
	} else {
		var n uint64
		if n, err = parseUint(end, 16, 0xffff); err != nil {
			return first, last, fmt.Errorf("range end %q of %s is not hex 0..ffff", end, s)
		}
		b[14], b[15] = byte(n>>8), byte(n)
	}
	last, _ = netip.AddrFromSlice(b)
	if !first.Less(last) {
		return first, last, fmt.Errorf("range %s does not end after it starts", s)
	}
	return first, last, nil
}

func parseUint(s string, base int, max uint64) (uint64, error) {
	v, err := strconv.ParseUint(s, base, 64)
	if err != nil || v > max {
		return 0, fmt.Errorf("bad number %q", s)
	}
	return v, nil
}

func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
