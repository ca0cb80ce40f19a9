package keepalived

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"golvs/internal/config"
	"golvs/internal/lvs"
	"golvs/internal/sched"
)

// method is a forwarding method as lvs_method sets it.
type method struct {
	set   bool
	m     lvs.Method
	ttype lvs.TunnelType
	tport uint16
	flags lvs.TunnelFlags
}

func (m method) apply(r *lvs.Real) {
	r.Method, r.TunType, r.TunPort, r.TunFlags = m.m, m.ttype, m.tport, m.flags
}

// vsBuild is a virtual_server block as read, before keepalived's
// defaults and corrections (validate_check_config) are applied.
type vsBuild struct {
	node       *node
	addr       netip.Addr
	port       uint16
	group      string
	family     int // 4, 6, or 0 while unknown
	proto      lvs.Protocol
	sched      string
	flags      lvs.SchedFlags
	ops        bool
	persist    time.Duration
	netmask    netip.Addr
	method     method
	weight     int
	inhibit    bool
	alpha      bool
	omega      bool
	quorum     uint64
	hysteresis uint64
	quorumUp   *config.Script
	quorumDown *config.Script
	vhost      string
	timing     config.Timing
	sorry      *realBuild
	sorryInh   bool
	reals      []*realBuild
}

// realBuild is a real_server (or the sorry_server) as read.
type realBuild struct {
	node       *node
	addr       netip.Addr
	port       uint16
	method     method
	weight     *int
	uth, lth   uint32
	inhibit    *bool
	alpha      *bool
	notifyUp   *config.Script
	notifyDown *config.Script
	vhost      string
	timing     config.Timing
	checks     []*checkBuild
}

// checkBuild is a checker block as read.
type checkBuild struct {
	node  *node
	c     config.Check
	own   config.Timing
	alpha *bool
}

func family(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

func (p *parser) virtualServer(n *node) {
	if len(n.words) < 2 {
		p.errorf(n, "missing address")
		return
	}
	vs := &vsBuild{node: n, weight: config.DefaultWeight, quorum: config.DefaultQuorum}
	switch n.words[1] {
	case "fwmark":
		p.errorf(n, "golvs has no firewall-mark services: virtual_server fwmark %s cannot be served", strings.Join(n.words[2:], " "))
		return
	case "group":
		if len(n.words) < 3 {
			p.errorf(n, "missing group name")
			return
		}
		p.maxArgs(n, 2)
		vs.group = n.words[2]
	default:
		p.maxArgs(n, 2)
		a, port, ok := p.addrPort(n, 1)
		if !ok {
			return
		}
		vs.addr, vs.port, vs.family = a, port, family(a)
	}
	if !n.hasBlock {
		p.warnf(n, "virtual_server without a { } block has no real servers: ignored")
		return
	}
	for _, k := range n.block {
		p.vsKeyword(vs, k)
	}
	p.vss = append(p.vss, vs)
}

// unsupported are keywords golvs reads past with a warning saying why.
var unsupportedVS = map[string]string{
	"ha_suspend":         "golvs has no VRRP, so the VIP is always taken as present and the checks always run",
	"smtp_alert":         "golvs sends no mail",
	"snmp_name":          "golvs has no SNMP agent",
	"hashed":             "it has no effect in IPVS either",
	"persistence_engine": "golvs has no persistence engines: persistence is by client address only",
}

func (p *parser) vsKeyword(vs *vsBuild, k *node) {
	kw := k.keyword()
	if kw != "real_server" {
		p.noBlock(k)
	}
	switch kw {
	case "real_server":
		if r := p.realServer(vs, k); r != nil {
			vs.reals = append(vs.reals, r)
		}
	case "ip_family":
		p.maxArgs(k, 1)
		if s, ok := p.arg(k, 1); ok {
			f := map[string]int{"inet": 4, "inet6": 6}[s]
			switch {
			case f == 0:
				p.errorf(k, "%q is not inet or inet6", s)
			case vs.family != 0 && vs.family != f:
				p.warnf(k, "ip_family %s conflicts with the virtual server's address: ignored", s)
			default:
				vs.family = f
			}
		}
	case "lb_algo", "lvs_sched":
		p.maxArgs(k, 1)
		if s, ok := p.arg(k, 1); ok {
			if !slices.Contains(lvs.Schedulers, s) {
				p.errorf(k, "scheduler %q is not one of %s", s, strings.Join(lvs.Schedulers, ", "))
				return
			}
			vs.sched = s
		}
	case "ops":
		p.maxArgs(k, 0)
		vs.ops = true
	case "flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback":
		p.maxArgs(k, 0)
		// lbflags_handler: the sh-* and mh-* names count only when the
		// scheduler read so far is sh or mh.
		f, err := sched.ParseFlag(vs.sched, kw)
		if err != nil {
			p.warnf(k, "%s applies only to the %s scheduler and lb_algo is %q here: ignored", kw, kw[:2], vs.sched)
			return
		}
		vs.flags |= f
	case "lb_kind", "lvs_method":
		p.lvsMethod(k, &vs.method)
	case "persistence_timeout":
		p.maxArgs(k, 1)
		if len(k.words) < 2 {
			vs.persist = lvs.DefaultPersistence
		} else if v, ok := p.uint(k, 1, 1, uint64(lvs.MaxPersistence/time.Second)); ok {
			vs.persist = time.Duration(v) * time.Second
		}
	case "persistence_granularity":
		p.maxArgs(k, 1)
		p.granularity(vs, k)
	case "protocol":
		p.maxArgs(k, 1)
		if s, ok := p.arg(k, 1); ok {
			switch strings.ToUpper(s) {
			case "TCP":
				vs.proto = lvs.TCP
			case "UDP":
				vs.proto = lvs.UDP
			case "SCTP":
				p.errorf(k, "golvs serves TCP and UDP only, not SCTP")
			default:
				p.errorf(k, "%q is not TCP, UDP or SCTP", s)
			}
		}
	case "virtualhost":
		p.maxArgs(k, 1)
		vs.vhost, _ = p.arg(k, 1)
	case "alpha":
		p.maxArgs(k, 0)
		vs.alpha = true
	case "omega":
		p.maxArgs(k, 0)
		vs.omega = true
	case "inhibit_on_failure":
		p.maxArgs(k, 0)
		vs.inhibit = true
	case "quorum":
		p.maxArgs(k, 1)
		if v, ok := p.uint(k, 1, 1, 1<<32-1); ok {
			vs.quorum = v
		}
	case "hysteresis":
		p.maxArgs(k, 1)
		if v, ok := p.uint(k, 1, 0, 1<<32-1); ok {
			vs.hysteresis = v
		}
	case "quorum_up":
		vs.quorumUp = p.onceScript(k, vs.quorumUp)
	case "quorum_down":
		vs.quorumDown = p.onceScript(k, vs.quorumDown)
	case "weight":
		p.maxArgs(k, 1)
		if v, ok := p.uint(k, 1, 1, 65535); ok {
			vs.weight = int(v)
		}
	case "sorry_server":
		p.maxArgs(k, 2)
		a, port, ok := p.addrPort(k, 1)
		if !ok {
			return
		}
		// alloc_ssvr: weight 1 and the method the service has so far.
		one := 1
		vs.sorry = &realBuild{node: k, addr: a, port: port, method: vs.method, weight: &one}
	case "sorry_server_inhibit":
		p.maxArgs(k, 0)
		if vs.sorry == nil {
			p.warnf(k, "sorry_server_inhibit before or without sorry_server: ignored")
			return
		}
		vs.sorryInh = true
	case "sorry_server_lvs_method":
		if vs.sorry == nil {
			p.warnf(k, "sorry_server_lvs_method before or without sorry_server: ignored")
			return
		}
		p.lvsMethod(k, &vs.sorry.method)
	default:
		if t := p.timing(k, &vs.timing); t {
			return
		}
		if why, ok := unsupportedVS[kw]; ok {
			p.warnf(k, "%s is ignored: %s", kw, why)
			return
		}
		p.warnf(k, "unknown keyword %q in virtual_server: ignored", kw)
	}
}

func (p *parser) onceScript(k *node, prev *config.Script) *config.Script {
	if prev != nil {
		p.warnf(k, "%s is given twice: the first is kept, as keepalived does", k.keyword())
		return prev
	}
	return p.script(k)
}

// timing reads the checker timers that a virtual or real server passes
// down; it reports whether k was one of them.
func (p *parser) timing(k *node, t *config.Timing) bool {
	switch k.keyword() {
	case "delay_loop":
		t.DelayLoop = p.timerPtr(k, time.Microsecond)
	case "connect_timeout":
		t.ConnectTimeout = p.timerPtr(k, time.Microsecond)
	case "delay_before_retry":
		t.DelayBeforeRetry = p.timerPtr(k, 0)
	case "warmup":
		t.Warmup = p.timerPtr(k, 0)
	case "retry":
		p.maxArgs(k, 1)
		// vs_retry_handler and rs_retry_handler take 1..UINT32_MAX.
		if v, ok := p.uint(k, 1, 1, 1<<32-1); ok {
			r := int(v)
			t.Retry = &r
		}
	default:
		return false
	}
	return true
}

// lvsMethod reads "NAT|DR|TUN [type ipip|gue|gre] [port N]
// [nocsum|csum|remcsum]" (svr_forwarding_handler in check_parser.c).
func (p *parser) lvsMethod(k *node, m *method) {
	s, ok := p.arg(k, 1)
	if !ok {
		return
	}
	out := method{set: true}
	switch s {
	case "NAT":
		out.m = lvs.Masq
	case "DR":
		out.m = lvs.Route
	case "TUN":
		out.m = lvs.Tunnel
	default:
		p.errorf(k, "%q is not NAT, DR or TUN", s)
		return
	}
	for i := 2; i < len(k.words); i++ {
		switch w := k.words[i]; w {
		case "type":
			t, ok := p.arg(k, i+1)
			if !ok {
				return
			}
			ty, err := lvs.ParseTunnelType(t)
			if err != nil {
				p.errorf(k, "tunnel type %q is not ipip, gue or gre", t)
				return
			}
			out.ttype = ty
			i++
		case "port":
			v, ok := p.uint(k, i+1, 1, 65535)
			if !ok {
				return
			}
			out.tport = uint16(v)
			i++
		default:
			f, err := lvs.ParseTunnelFlags(w)
			if err != nil {
				p.errorf(k, "%q is not a tunnel option (type, port, nocsum, csum, remcsum)", w)
				return
			}
			out.flags = f
		}
	}
	switch {
	case out.m != lvs.Tunnel && len(k.words) > 2:
		p.errorf(k, "tunnel options are only for TUN")
	case out.ttype.HasPort() != (out.tport != 0):
		p.errorf(k, "a gue tunnel needs a port, and only a gue tunnel has one")
	case out.ttype == lvs.TunIPIP && !out.ttype.TakesFlags(out.flags):
		p.errorf(k, "ipip tunnels have no checksum option")
	case out.ttype == lvs.TunGRE && !out.ttype.TakesFlags(out.flags):
		p.errorf(k, "gre tunnels have no remote checksum option")
	default:
		*m = out
	}
}

// granularity reads persistence_granularity: an IPv4 netmask (any, as
// ipvsadm takes it) or an IPv6 prefix length; it also makes the service
// persistent (pgr_handler).
func (p *parser) granularity(vs *vsBuild, k *node) {
	s, ok := p.arg(k, 1)
	if !ok {
		return
	}
	f := vs.family
	if f == 0 {
		f = 6
		if strings.Contains(s, ".") {
			f = 4
		}
	}
	if f == 6 {
		v, ok := p.uint(k, 1, 1, 128)
		if !ok {
			return
		}
		vs.netmask = lvs.Netmask6(int(v))
	} else {
		m, err := netip.ParseAddr(s)
		if err != nil || !m.Is4() {
			p.errorf(k, "%q is not an IPv4 netmask", s)
			return
		}
		vs.netmask = m
	}
	if vs.family == 0 {
		vs.family = f
	}
	if vs.persist == 0 {
		vs.persist = lvs.DefaultPersistence
	}
}

var unsupportedRS = map[string]string{
	"smtp_alert": "golvs sends no mail",
	"snmp_name":  "golvs has no SNMP agent",
}

// ignoredCheckers are keepalived's checkers golvs does not run.
var ignoredCheckers = []string{"SMTP_CHECK", "UDP_CHECK", "PING_CHECK", "FILE_CHECK", "BFD_CHECK"}

func (p *parser) realServer(vs *vsBuild, n *node) *realBuild {
	p.maxArgs(n, 2)
	a, port, ok := p.addrPort(n, 1)
	if !ok {
		return nil
	}
	// alloc_rs: the real starts with the method the service has so far.
	r := &realBuild{node: n, addr: a, port: port, method: vs.method}
	for _, k := range n.block {
		kw := k.keyword()
		if kind, ok := checkKinds[kw]; ok {
			if c := p.checker(k, kind); c != nil {
				r.checks = append(r.checks, c)
			}
			continue
		}
		if slices.Contains(ignoredCheckers, kw) {
			p.warnf(k, "%s is ignored: golvs does not implement it; real %s is checked by its other checks only (always up if none)", kw, n.String()[len("real_server "):])
			continue
		}
		p.noBlock(k)
		switch kw {
		case "weight":
			p.maxArgs(k, 1)
			// keepalived takes 0..IPVS_WEIGHT_MAX (INT32_MAX), as IPVS.
			if v, ok := p.uint(k, 1, 0, lvs.MaxWeight); ok {
				w := int(v)
				r.weight = &w
			}
		case "lvs_method":
			p.lvsMethod(k, &r.method)
		case "uthreshold", "lthreshold":
			p.maxArgs(k, 1)
			if v, ok := p.uint(k, 1, 0, 1<<31-1); ok {
				if kw == "uthreshold" {
					r.uth = uint32(v)
				} else {
					r.lth = uint32(v)
				}
			}
		case "inhibit_on_failure":
			if v, ok := p.boolArg(k); ok {
				r.inhibit = &v
			}
		case "alpha":
			if v, ok := p.boolArg(k); ok {
				r.alpha = &v
			}
		case "notify_up":
			r.notifyUp = p.onceScript(k, r.notifyUp)
		case "notify_down":
			r.notifyDown = p.onceScript(k, r.notifyDown)
		case "virtualhost":
			p.maxArgs(k, 1)
			r.vhost, _ = p.arg(k, 1)
		default:
			if p.timing(k, &r.timing) {
				continue
			}
			if why, ok := unsupportedRS[kw]; ok {
				p.warnf(k, "%s is ignored: %s", kw, why)
				continue
			}
			p.warnf(k, "unknown keyword %q in real_server: ignored", kw)
		}
	}
	return r
}
