package config

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golvs/internal/lvs"
	"golvs/internal/sched"
)

// Dump writes c in a stable, readable form, one setting a line, with
// every resolved value shown: what lvsd will run, for golden tests and
// for an operator checking how a file was read.
func Dump(w io.Writer, c *Config) {
	p := func(indent int, format string, args ...any) {
		fmt.Fprintf(w, "%s%s\n", strings.Repeat("  ", indent), fmt.Sprintf(format, args...))
	}
	p(0, "expire_nodest_conn %t", c.ExpireNodestConn)
	if c.Timeouts != (lvs.Timeouts{}) {
		p(0, "timeouts tcp %v tcpfin %v udp %v", c.Timeouts.TCP, c.Timeouts.TCPFin, c.Timeouts.UDP)
	}
	for _, s := range c.Services {
		p(0, "service %s (%s)", s.ServiceKey, s.Pos)
		line := "scheduler " + s.Scheduler
		if f := SchedFlagNames(s.Scheduler, s.SchedFlags); f != "" {
			line += " flags " + f
		}
		if s.OnePacket {
			line += " ops"
		}
		if s.Persistent != 0 {
			line += " persistent " + s.Persistent.String()
		}
		if s.Netmask.IsValid() {
			line += " netmask " + s.Netmask.String()
		}
		p(1, "%s", line)
		p(1, "quorum %d hysteresis %d alpha %t omega %t", s.Quorum, s.Hysteresis, s.Alpha, s.Omega)
		if s.QuorumUp != nil {
			p(1, "quorum_up %s", s.QuorumUp)
		}
		if s.QuorumDown != nil {
			p(1, "quorum_down %s", s.QuorumDown)
		}
		if s.VirtualHost != "" {
			p(1, "virtualhost %q", s.VirtualHost)
		}
		if t := s.Timing.String(); t != "" {
			p(1, "timing%s", t)
		}
		if s.SorryServer != nil {
			p(1, "sorry_server %s inhibit %t", realString(*s.SorryServer), s.SorryServerInhibit)
		}
		for _, r := range s.Reals {
			p(1, "real %s (%s)", realString(r.Real), r.Pos)
			p(2, "inhibit_on_failure %t alpha %t", r.InhibitOnFailure, r.Alpha)
			if r.UThreshold != 0 || r.LThreshold != 0 {
				p(2, "uthreshold %d lthreshold %d", r.UThreshold, r.LThreshold)
			}
			if r.NotifyUp != nil {
				p(2, "notify_up %s", r.NotifyUp)
			}
			if r.NotifyDown != nil {
				p(2, "notify_down %s", r.NotifyDown)
			}
			if r.VirtualHost != "" {
				p(2, "virtualhost %q", r.VirtualHost)
			}
			if t := r.Timing.String(); t != "" {
				p(2, "timing%s", t)
			}
			for _, ch := range r.Checks {
				p(2, "check %s (%s)", ch.Kind, ch.Pos)
				line := "target " + ch.Target(r.Addr).String()
				switch {
				case ch.BindTo.IsValid():
					line += " bindto " + netip.AddrPortFrom(ch.BindTo, ch.BindPort).String()
				case ch.BindPort != 0:
					line += " bindto *:" + strconv.Itoa(int(ch.BindPort))
				}
				if ch.BindIf != "" {
					line += " bind_if " + ch.BindIf
				}
				if ch.FWMark != 0 {
					line += fmt.Sprintf(" fwmark %d", ch.FWMark)
				}
				p(3, "%s", line)
				p(3, "delay_loop %v connect_timeout %v retry %d delay_before_retry %v warmup %v alpha %t",
					ch.DelayLoop, ch.ConnectTimeout, ch.Retry, ch.DelayBeforeRetry, ch.Warmup, ch.Alpha)
				if ch.LogAllFailures {
					p(3, "log_all_failures")
				}
				if h := ch.HTTP; h != nil {
					line := "http_protocol " + h.Protocol
					if h.VirtualHost != "" {
						line += fmt.Sprintf(" virtualhost %q", h.VirtualHost)
					}
					if h.FastRecovery {
						line += " fast_recovery"
					}
					if h.EnableSNI {
						line += " enable_sni"
					}
					p(3, "%s", line)
					for _, u := range h.URLs {
						line := fmt.Sprintf("url %q status %s", u.Path, statusString(u.StatusCodes))
						if u.Digest != "" {
							line += " digest " + u.Digest
						}
						if u.VirtualHost != "" {
							line += fmt.Sprintf(" virtualhost %q", u.VirtualHost)
						}
						p(3, "%s", line)
					}
				}
				if m := ch.Misc; m != nil {
					p(3, "misc %s timeout %v dynamic %t", (&Script{Args: m.Args, User: m.User, Group: m.Group}), m.Timeout, m.Dynamic)
				}
				if d := ch.DNS; d != nil {
					p(3, "dns type %s name %q", d.Type, d.Name)
				}
			}
		}
	}
}

func realString(r lvs.Real) string {
	s := fmt.Sprintf("%s %s weight %d", r.Addr, r.Method, r.Weight)
	if r.Method == lvs.Tunnel {
		s += " tunnel " + r.TunType.String()
		if r.TunType == lvs.TunGUE {
			s += fmt.Sprintf(" port %d", r.TunPort)
		}
		switch r.TunFlags {
		case lvs.TunCsum, lvs.TunRemCsum:
			s += " " + r.TunFlags.String()
		}
	}
	return s
}

func statusString(rs []StatusRange) string {
	if len(rs) == 0 {
		return "200-299"
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// String returns the script as a quoted argument list with its user.
func (s *Script) String() string {
	q := make([]string, len(s.Args))
	for i, a := range s.Args {
		q[i] = strconv.Quote(a)
	}
	out := "[" + strings.Join(q, " ") + "]"
	if s.User != "" {
		out += " user " + s.User
		if s.Group != "" {
			out += ":" + s.Group
		}
	}
	return out
}

// String lists the timers that are set, each with a leading space.
func (t Timing) String() string {
	var b strings.Builder
	d := func(name string, v *time.Duration) {
		if v != nil {
			fmt.Fprintf(&b, " %s %v", name, *v)
		}
	}
	d("delay_loop", t.DelayLoop)
	d("connect_timeout", t.ConnectTimeout)
	if t.Retry != nil {
		fmt.Fprintf(&b, " retry %d", *t.Retry)
	}
	d("delay_before_retry", t.DelayBeforeRetry)
	d("warmup", t.Warmup)
	return b.String()
}

// SchedFlagNames returns flags as ipvsadm -b names them for scheduler
// sched ("sh-fallback,sh-port"), "" for none. Unlike ipvsadm's listings it
// names every flag, flag-3 under sh and mh too, so that the dump reads
// back as it was.
func SchedFlagNames(scheduler string, flags lvs.SchedFlags) string {
	k, _ := sched.KindOf(scheduler)
	var out []string
	for _, f := range []lvs.SchedFlags{lvs.SchedFlag1, lvs.SchedFlag2, lvs.SchedFlag3} {
		if flags&f != 0 {
			out = append(out, k.FlagName(f))
		}
	}
	return strings.Join(out, ",")
}
