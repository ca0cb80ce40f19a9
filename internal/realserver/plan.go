package realserver

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"slices"
	"strconv"

	"golvs/internal/datapath/decap"
)

// desired is a configuration whose syntax is checked: what Setup is to
// make true.
type desired struct {
	vips     []netip.Addr
	tunnels  decap.Tunnel
	guePorts []uint16
	// links are the links named with --dev; nil means the default ones.
	links []string
}

// plan is what Setup changes, worked out before anything is changed.
type plan struct {
	// links are the links the per-link sysctls and the decapsulation
	// program cover.
	links    []string
	sysctls  []sysctlSet
	addAddrs []netip.Prefix // to lo
	delAddrs []netip.Prefix // from lo: added by an earlier lvsrs, not wanted now
	// decap: attach (or refresh) the program on every link of links.
	decap bool
	// detach: links that lose the program (all of the earlier ones when
	// no tunnel is wanted any more).
	detach []string
	// removePins: no tunnel is wanted any more; remove the maps' pins.
	removePins bool
}

// sysctlSet is one sysctl to write.
type sysctlSet struct {
	key      sysctlKey
	from, to string
}

func (p plan) empty() bool {
	return len(p.sysctls) == 0 && len(p.addAddrs) == 0 && len(p.delAddrs) == 0 && !p.decap && len(p.detach) == 0 && !p.removePins
}

// sysctlInt reads a sysctl as a number; a missing file (a link without
// IPv4) is reported as ok false.
func sysctlInt(s snapshot, k sysctlKey) (n int, ok bool, err error) {
	v, err := s.sysctl(k)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	n, err = strconv.Atoi(v)
	if err != nil {
		return 0, false, fmt.Errorf("%s: %q is not a number", k, v)
	}
	return n, true, nil
}

// arpIgnoreOK tells whether an arp_ignore value keeps the host from
// answering ARP requests, arriving on one link, for an address on lo: 1
// answers only for addresses of the link the request came in on, 2 also
// needs the sender in their subnet, 8 never answers. 0 answers for any
// local address and 3 for any of global scope, which a VIP is.
func arpIgnoreOK(v int) bool { return v == 1 || v == 2 || v == 8 }

// arpAnnounceOK tells whether an arp_announce value keeps the host from
// using a VIP as the source address of its own ARP requests: only 2 (best
// local address for the target) does; 0 and 1 may pick the VIP, and the
// router then learns the real server's MAC for the VIP.
func arpAnnounceOK(v int) bool { return v == 2 }

// The kernel applies the larger of conf.all and conf.<link> for all three
// sysctls (IN_DEV_ARP_IGNORE, IN_DEV_ARP_ANNOUNCE, IN_DEV_RPFILTER use
// IN_DEV_MAXCONF), so a link is right only when the larger value is.

// makePlan works out what Setup must change to go from the host s and the
// state prev of an earlier lvsrs to want. It changes nothing; the errors
// it returns are the operator's mistakes.
func makePlan(s snapshot, prev State, want desired) (plan, error) {
	var p plan
	if len(want.vips) == 0 {
		return p, ErrNoVIPs
	}
	if want.tunnels&decap.TunnelGUE != 0 && len(want.guePorts) == 0 {
		return p, fmt.Errorf("%w: --tunnel gue needs --gue-port, the real's --tun-port on the director", ErrBadPort)
	}
	if want.tunnels&decap.TunnelGUE == 0 && len(want.guePorts) > 0 {
		return p, fmt.Errorf("%w: --gue-port needs --tunnel gue", ErrBadPort)
	}
	if _, ok := s.link(loopback); !ok {
		return p, fmt.Errorf("%w %s: no loopback link to put the VIPs on", ErrUnknownLink, loopback)
	}
	if want.links != nil {
		for _, name := range want.links {
			l, ok := s.link(name)
			if !ok {
				return p, fmt.Errorf("%w %q", ErrUnknownLink, name)
			}
			if l.Loopback {
				return p, fmt.Errorf("%w %q: a loopback link carries no traffic from the director", ErrUnknownLink, name)
			}
		}
		p.links = slices.Clone(want.links)
	} else {
		p.links = s.defaultLinks()
	}
	if want.tunnels != 0 && len(p.links) == 0 {
		return p, fmt.Errorf("%w: no link is up to attach the decapsulation program to; name one with --dev", ErrUnknownLink)
	}

	added := map[netip.Prefix]bool{}
	for _, a := range prev.Addrs {
		added[a] = true
	}
	anyV4 := false
	for _, vip := range want.vips {
		anyV4 = anyV4 || vip.Is4()
		for _, l := range s.where(vip) {
			if l != loopback {
				return p, fmt.Errorf("%w: %s is on %s; a real server must not own the VIP on a link (it would answer ARP for it): remove it there first", ErrVIPElsewhere, vip, l)
			}
		}
		if vip.Is6() && !s.ipv6 {
			return p, fmt.Errorf("%w: %s needs IPv6 on lo (net.ipv6.conf.lo.disable_ipv6 is not 0)", ErrNoIPv6, vip)
		}
		if _, ok := s.onLo(vip); !ok {
			p.addAddrs = append(p.addAddrs, hostPrefix(vip))
		}
	}
	for _, a := range prev.Addrs {
		if !slices.Contains(want.vips, a.Addr()) {
			if _, ok := s.onLo(a.Addr()); ok {
				p.delAddrs = append(p.delAddrs, a)
			}
		}
	}

	if anyV4 {
		if err := planARP(s, p.links, &p); err != nil {
			return p, err
		}
	}

	prevLinks := map[string]bool{}
	if prev.Decap != nil {
		for l := range prev.Decap.Hooks {
			prevLinks[l] = true
		}
	}
	if want.tunnels != 0 {
		p.decap = true
		for l := range prevLinks {
			if !slices.Contains(p.links, l) {
				p.detach = append(p.detach, l)
			}
		}
	} else if prev.Decap != nil {
		for l := range prevLinks {
			p.detach = append(p.detach, l)
		}
		p.removePins = true
	}
	slices.Sort(p.detach)
	return p, nil
}

// planARP plans arp_ignore=1 and arp_announce=2 on conf.all and on every
// link (the LVS HOWTO's "ARP problem": the real server must neither answer
// ARP requests for the VIP nor announce it, or the router sends clients'
// packets to it instead of the director), and rp_filter=2 where the
// larger of conf.all and the link's value is 1.
//
// Why rp_filter matters: the packets a real server gets for the VIP (from
// the director by DR, or unwrapped by the decapsulation program, which
// leaves them on the link they came in on) have the client as source.
// Strict reverse-path filtering (1) drops them unless this host's route
// back to the client goes out of that same link, which is not so on a
// host whose default route uses another link. Loose mode (2) only asks
// that the client be routable at all, which it must be anyway since the
// real server answers it directly; it keeps dropping spoofed sources that
// no route covers, which 0 would not. Links already at 0 or 2 stay.
func planARP(s snapshot, links []string, p *plan) error {
	all := sysctlKey{"all", rpFilter}
	allRP, _, err := sysctlInt(s, all)
	if err != nil {
		return err
	}
	for _, dev := range append([]string{"all"}, links...) {
		for _, c := range []struct {
			name string
			ok   func(int) bool
			to   int
		}{
			{arpIgnore, arpIgnoreOK, 1},
			{arpAnnounce, arpAnnounceOK, 2},
		} {
			k := sysctlKey{dev, c.name}
			v, exists, err := sysctlInt(s, k)
			if err != nil {
				return err
			}
			if exists && !c.ok(v) {
				p.sysctls = append(p.sysctls, sysctlSet{k, strconv.Itoa(v), strconv.Itoa(c.to)})
			}
		}
		if dev == "all" {
			continue
		}
		k := sysctlKey{dev, rpFilter}
		v, exists, err := sysctlInt(s, k)
		if err != nil {
			return err
		}
		if exists && max(allRP, v) == 1 {
			p.sysctls = append(p.sysctls, sysctlSet{k, strconv.Itoa(v), "2"})
		}
	}
	return nil
}
