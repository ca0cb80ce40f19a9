package keepalived

import (
	"fmt"
	"net/netip"
	"strings"

	"golvs/internal/config"
	"golvs/internal/lvs"
)

// finish applies keepalived's defaults and corrections to every virtual
// server (validate_check_config in check_data.c, with its log lines as
// warnings), expands groups, and builds the configuration.
func (p *parser) finish() *config.Config {
	c := &p.conf
	for _, vs := range p.vss {
		p.finishVS(vs)
	}
	for name, g := range p.groups {
		if !g.used && len(g.entries) > 0 {
			p.warnf(g.node, "virtual_server_group %s is not used by any virtual_server", name)
		}
	}
	return c
}

func (p *parser) finishVS(vs *vsBuild) {
	n := vs.node
	name := n.String()
	var g *group
	if vs.group != "" {
		if g = p.groups[vs.group]; g == nil {
			p.errorf(n, "virtual_server_group %s is not defined", vs.group)
			return
		}
		g.used = true
		if len(g.entries) == 0 {
			return
		}
	}
	if len(vs.reals) == 0 {
		p.warnf(n, "%s has no real servers: ignored, as keepalived does", name)
		return
	}
	if !vs.method.set {
		for _, r := range append(vs.reals, vs.sorry) {
			if r != nil && !r.method.set {
				p.warnf(n, "%s has no lb_kind: NAT, as keepalived defaults", name)
				vs.method = method{set: true, m: lvs.Masq}
				break
			}
		}
	}
	for _, r := range vs.reals {
		if !r.method.set {
			r.method = vs.method
		}
	}

	// The addresses and ports this virtual server stands for.
	type vip struct {
		addr netip.Addr
		port uint16
	}
	var vips []vip
	if g != nil {
		if vs.family == 0 {
			// For a group, the family comes from ip_family or from
			// the first real that is not tunnelled (rs_end_handler).
			for _, r := range vs.reals {
				if r.method.m != lvs.Tunnel {
					vs.family = family(r.addr)
					break
				}
			}
		}
		for _, e := range g.entries {
			if vs.family != 0 && family(e.first) != vs.family {
				p.warnf(e.node, "%s of group %s is not of the family of %s: skipped", e.node.keyword(), vs.group, name)
				continue
			}
			for a := e.first; ; a = a.Next() {
				vips = append(vips, vip{a, e.port})
				if a == e.last {
					break
				}
			}
		}
	} else {
		vips = []vip{{vs.addr, vs.port}}
	}

	if vs.proto == 0 {
		// The kernel takes protocol 0 as UDP, so keepalived says so.
		p.warnf(n, "%s has no protocol: UDP, as keepalived defaults", name)
		vs.proto = lvs.UDP
	}
	if vs.ops && vs.proto != lvs.UDP {
		p.warnf(n, "%s: one-packet scheduling (ops) needs UDP: ignored", name)
		vs.ops = false
	}
	if vs.persist == 0 {
		for _, v := range vips {
			if v.port == 0 {
				p.warnf(n, "%s: port 0 needs persistence: persistence_timeout %d, as keepalived sets", name, int(lvs.DefaultPersistence.Seconds()))
				vs.persist = lvs.DefaultPersistence
				break
			}
		}
	}
	if vs.sched == "" {
		p.warnf(n, "%s has no lb_algo: %s, as keepalived defaults", name, lvs.DefaultScheduler)
		vs.sched = lvs.DefaultScheduler
	}

	// The reals, with keepalived's inheritance and corrections.
	var reals []*realBuild
	weightSum := uint64(0)
	for _, r := range vs.reals {
		if vs.family != 0 && r.method.m != lvs.Tunnel && family(r.addr) != vs.family {
			p.warnf(r.node, "real_server %s is not of the family of %s: skipped, as keepalived does", r.addr, name)
			continue
		}
		if dup := findReal(reals, r); dup != nil {
			p.warnf(r.node, "real_server %s is given twice in %s (first at %s): the second is dropped, as keepalived does", strings.Join(r.node.args(), " "), name, dup.node.pos)
			continue
		}
		if r.weight == nil {
			w := vs.weight
			r.weight = &w
		}
		weightSum += uint64(*r.weight)
		reals = append(reals, r)
	}
	if len(reals) == 0 {
		p.warnf(n, "%s has no real servers left: ignored", name)
		return
	}
	if vs.sorry != nil {
		if !vs.sorry.method.set {
			vs.sorry.method = vs.method
		}
		if vs.family != 0 && vs.sorry.method.m != lvs.Tunnel && family(vs.sorry.addr) != vs.family {
			p.warnf(vs.sorry.node, "sorry_server %s is not of the family of %s: skipped, as keepalived does", vs.sorry.addr, name)
			vs.sorry = nil
		}
	}
	if vs.quorum > weightSum {
		p.warnf(n, "%s: quorum %d exceeds the total weight %d of its reals: quorum %d, as keepalived sets", name, vs.quorum, weightSum, weightSum)
		vs.quorum = weightSum
	}
	if vs.hysteresis >= vs.quorum && vs.hysteresis > 0 || vs.quorum == 0 && vs.hysteresis > 0 {
		h := uint64(0)
		if vs.quorum > 0 {
			h = vs.quorum - 1
		}
		p.warnf(n, "%s: hysteresis %d is not below quorum %d: hysteresis %d, as keepalived sets", name, vs.hysteresis, vs.quorum, h)
		vs.hysteresis = h
	}

	for _, v := range vips {
		s := config.Service{
			Service: lvs.Service{
				ServiceKey: lvs.ServiceKey{Protocol: vs.proto, Addr: netip.AddrPortFrom(v.addr, v.port)},
				Scheduler:  vs.sched,
				SchedFlags: vs.flags,
				OnePacket:  vs.ops,
				Persistent: vs.persist,
				Netmask:    vs.netmask,
			},
			Pos:                n.pos,
			Timing:             vs.timing,
			Quorum:             uint32(vs.quorum),
			Hysteresis:         uint32(vs.hysteresis),
			QuorumUp:           vs.quorumUp,
			QuorumDown:         vs.quorumDown,
			SorryServerInhibit: vs.sorryInh,
			Alpha:              vs.alpha,
			Omega:              vs.omega,
			VirtualHost:        vs.vhost,
		}
		if vs.sorry != nil {
			sr := p.lvsReal(vs, vs.sorry, v.port, "sorry_server")
			s.SorryServer = &sr
		}
		var realNodes []*realBuild
		var checkNodes [][]*node
		for _, r := range reals {
			cr := config.Real{
				Real:             p.lvsReal(vs, r, v.port, "real_server"),
				Pos:              r.node.pos,
				InhibitOnFailure: orDefault(r.inhibit, vs.inhibit),
				Alpha:            orDefault(r.alpha, vs.alpha),
				NotifyUp:         r.notifyUp,
				NotifyDown:       r.notifyDown,
				VirtualHost:      r.vhost,
				Timing:           r.timing,
			}
			var cn []*node
			for _, cb := range r.checks {
				ch := cb.c
				if ch.HTTP != nil {
					h := *ch.HTTP
					ch.HTTP = &h
					// The Host header falls back as http_get_check does.
					if h.VirtualHost == "" {
						h.VirtualHost = cr.VirtualHost
					}
					if h.VirtualHost == "" {
						h.VirtualHost = s.VirtualHost
					}
				}
				if ch.Misc != nil {
					m := *ch.Misc
					ch.Misc = &m
				}
				if ch.DNS != nil {
					d := *ch.DNS
					ch.DNS = &d
				}
				ch.Resolve(cb.own, r.timing, vs.timing, cb.alpha, cr.Alpha)
				cr.Checks = append(cr.Checks, ch)
				cn = append(cn, cb.node)
			}
			s.Reals = append(s.Reals, cr)
			realNodes = append(realNodes, r)
			checkNodes = append(checkNodes, cn)
		}
		p.conf.Services = append(p.conf.Services, s)
		p.svcNodes = append(p.svcNodes, vs)
		p.realNodes = append(p.realNodes, realNodes)
		p.checkNodes = append(p.checkNodes, checkNodes)
	}
}

// lvsReal builds the IPVS destination of r for a service on port vport,
// with keepalived's port rules: a NAT real without a port takes the
// service's; a DR or TUN real always has the service's port, and one
// written with another is corrected with a warning.
func (p *parser) lvsReal(vs *vsBuild, r *realBuild, vport uint16, what string) lvs.Real {
	port := r.port
	switch {
	case port == 0:
		port = vport
	case r.method.m != lvs.Masq && port != vport:
		p.warnf(r.node, "%s %s %d: %s forwarding keeps the virtual server's port: port %d, as keepalived sets",
			what, r.addr, r.port, methodName(r.method.m), vport)
		port = vport
	}
	out := lvs.Real{
		Addr:       netip.AddrPortFrom(r.addr, port),
		Weight:     *r.weight,
		UThreshold: r.uth,
		LThreshold: r.lth,
	}
	r.method.apply(&out)
	return out
}

func methodName(m lvs.Method) string {
	return map[lvs.Method]string{lvs.Masq: "NAT", lvs.Route: "DR", lvs.Tunnel: "TUN"}[m]
}

// findReal returns the real in list that r duplicates (rs_iseq: same
// address and port), or nil.
func findReal(list []*realBuild, r *realBuild) *realBuild {
	for _, x := range list {
		if x.addr == r.addr && x.port == r.port {
			return x
		}
	}
	return nil
}

func orDefault(v *bool, def bool) bool {
	if v != nil {
		return *v
	}
	return def
}

// where names a service, real or check for config.Validate's errors.
func (p *parser) where(svc, real, check int) string {
	switch {
	case check >= 0:
		return p.checkNodes[svc][real][check].keyword()
	case real == config.SorryServer:
		return "sorry_server"
	case real >= 0:
		return p.realNodes[svc][real].node.String()
	}
	s := p.conf.Services[svc]
	if vs := p.svcNodes[svc]; vs.group != "" {
		return fmt.Sprintf("%s (%s)", vs.node.String(), s.Addr)
	}
	return p.svcNodes[svc].node.String()
}
