package keepalived

import (
	"strings"
	"time"

	"golvs/internal/config"
)

var checkKinds = map[string]config.CheckKind{
	"TCP_CHECK":  config.TCPCheck,
	"HTTP_GET":   config.HTTPCheck,
	"SSL_GET":    config.SSLCheck,
	"MISC_CHECK": config.MiscCheck,
	"DNS_CHECK":  config.DNSCheck,
}

// checker reads a checker block. It returns nil for a checker keepalived
// would drop with a log line (an HTTP check without urls, a MISC_CHECK
// without misc_path), after a warning.
func (p *parser) checker(n *node, kind config.CheckKind) *checkBuild {
	p.maxArgs(n, 0)
	cb := &checkBuild{node: n, c: config.Check{Kind: kind, Pos: n.pos}}
	c := &cb.c
	switch kind {
	case config.HTTPCheck, config.SSLCheck:
		c.HTTP = &config.HTTPGet{}
	case config.MiscCheck:
		c.Misc = &config.MiscExec{}
	case config.DNSCheck:
		c.DNS = &config.DNSQuery{}
	}
	for _, k := range n.block {
		if k.keyword() != "url" {
			p.noBlock(k)
		}
		if p.checkKeyword(cb, k) {
			continue
		}
		p.warnf(k, "unknown keyword %q in %s: ignored", k.keyword(), n.keyword())
	}
	switch {
	case c.HTTP != nil && len(c.HTTP.URLs) == 0:
		p.warnf(n, "%s has no url with a path: the checker is ignored, as keepalived does", n.keyword())
		return nil
	case c.Misc != nil && len(c.Misc.Args) == 0:
		p.warnf(n, "MISC_CHECK has no misc_path: the checker is ignored, as keepalived does")
		return nil
	}
	return cb
}

// checkKeyword reads one keyword of a checker and reports whether it
// knows it.
func (p *parser) checkKeyword(cb *checkBuild, k *node) bool {
	c := &cb.c
	connection := c.Kind != config.MiscCheck
	switch kw := k.keyword(); {
	case connection && kw == "connect_ip":
		p.maxArgs(k, 1)
		if s, ok := p.arg(k, 1); ok {
			a, err := parseAddr(s)
			if err != nil {
				p.errorf(k, "%v", err)
			}
			c.ConnectIP = a
		}
	case connection && kw == "connect_port":
		p.maxArgs(k, 1)
		if v, ok := p.uint(k, 1, 1, 65535); ok {
			c.ConnectPort = uint16(v)
		}
	case connection && kw == "bindto":
		p.maxArgs(k, 1)
		if s, ok := p.arg(k, 1); ok {
			a, err := parseAddr(s)
			if err != nil {
				p.errorf(k, "%v", err)
			}
			c.BindTo = a
		}
	case connection && kw == "bind_port":
		p.maxArgs(k, 1)
		if v, ok := p.uint(k, 1, 1, 65535); ok {
			c.BindPort = uint16(v)
		}
	case connection && kw == "bind_if":
		p.maxArgs(k, 1)
		if s, ok := p.arg(k, 1); ok {
			if len(s) > 15 {
				p.errorf(k, "interface name %q is longer than 15 characters", s)
			}
			c.BindIf = s
		}
	case connection && kw == "fwmark":
		p.maxArgs(k, 1)
		if v, ok := p.uint(k, 1, 0, 1<<32-1); ok {
			c.FWMark = uint32(v)
		}
	case connection && kw == "connect_timeout":
		cb.own.ConnectTimeout = p.timerPtr(k, time.Microsecond)
	case kw == "retry", kw == "nb_get_retry" && (c.Kind == config.HTTPCheck || c.Kind == config.SSLCheck):
		if kw == "nb_get_retry" {
			p.warnf(k, "nb_get_retry is deprecated: use retry")
		}
		p.maxArgs(k, 1)
		// The checkers' retry_handler takes 0..UINT_MAX.
		if v, ok := p.uint(k, 1, 0, 1<<32-1); ok {
			r := int(v)
			cb.own.Retry = &r
		}
	case kw == "delay_before_retry":
		cb.own.DelayBeforeRetry = p.timerPtr(k, 0)
	case kw == "warmup":
		cb.own.Warmup = p.timerPtr(k, 0)
	case kw == "delay_loop":
		cb.own.DelayLoop = p.timerPtr(k, time.Microsecond)
	case kw == "alpha":
		if v, ok := p.boolArg(k); ok {
			cb.alpha = &v
		}
	case kw == "log_all_failures":
		if v, ok := p.boolArg(k); ok {
			c.LogAllFailures = v
		}
	case c.HTTP != nil:
		return p.httpKeyword(c.HTTP, k)
	case c.Misc != nil:
		return p.miscKeyword(c.Misc, k)
	case c.DNS != nil:
		return p.dnsKeyword(c.DNS, k)
	default:
		return false
	}
	return true
}

func (p *parser) httpKeyword(h *config.HTTPGet, k *node) bool {
	switch k.keyword() {
	case "virtualhost":
		p.maxArgs(k, 1)
		h.VirtualHost, _ = p.arg(k, 1)
	case "http_protocol":
		p.maxArgs(k, 1)
		if s, ok := p.arg(k, 1); ok {
			switch s {
			case "1.0", "1.1", "1.0C":
				h.Protocol = s
			case "1.0c":
				h.Protocol = "1.0C"
			default:
				p.errorf(k, "%q is not 1.0, 1.0C or 1.1", s)
			}
		}
	case "enable_sni":
		if v, ok := p.boolArg(k); ok {
			h.EnableSNI = v
		}
	case "fast_recovery":
		if v, ok := p.boolArg(k); ok {
			h.FastRecovery = v
		}
	case "url":
		p.maxArgs(k, 0)
		if u, ok := p.url(k); ok {
			h.URLs = append(h.URLs, u)
		}
	default:
		return false
	}
	return true
}

// regexKeywords are url options golvs does not implement.
var regexKeywords = []string{"regex", "regex_no_match", "regex_options", "regex_min_offset", "regex_max_offset", "regex_stack"}

func (p *parser) url(n *node) (config.URL, bool) {
	var u config.URL
	for _, k := range n.block {
		p.noBlock(k)
		switch kw := k.keyword(); kw {
		case "path":
			p.maxArgs(k, 1)
			u.Path, _ = p.arg(k, 1)
		case "digest":
			p.maxArgs(k, 1)
			if s, ok := p.arg(k, 1); ok {
				if u.Digest != "" {
					p.warnf(k, "digest is given twice: the first is kept, as keepalived does")
					continue
				}
				s = strings.ToLower(s)
				if err := config.ValidateDigest(s); err != nil {
					p.errorf(k, "%v", err)
					continue
				}
				u.Digest = s
			}
		case "status_code":
			if len(k.words) < 2 {
				p.errorf(k, "missing value")
			}
			for _, w := range k.words[1:] {
				r, err := config.ParseStatusRange(w)
				if err != nil {
					p.errorf(k, "%q is not a status code or range within 100-599", w)
					continue
				}
				u.StatusCodes = append(u.StatusCodes, r)
			}
		case "virtualhost":
			p.maxArgs(k, 1)
			u.VirtualHost, _ = p.arg(k, 1)
		default:
			if strings.HasPrefix(kw, "regex") && containsWord(regexKeywords, kw) {
				p.warnf(k, "%s is ignored: golvs does not match bodies against regular expressions, so this url passes on its status code and digest alone", kw)
				continue
			}
			p.warnf(k, "unknown keyword %q in url: ignored", kw)
		}
	}
	if u.Path == "" {
		p.warnf(n, "url has no path: ignored, as keepalived does")
		return u, false
	}
	return u, true
}

func containsWord(list []string, w string) bool {
	for _, x := range list {
		if x == w {
			return true
		}
	}
	return false
}

func (p *parser) miscKeyword(m *config.MiscExec, k *node) bool {
	switch k.keyword() {
	case "misc_path":
		if s, ok := p.arg(k, 1); ok {
			args, err := config.SplitCommand(s)
			if err != nil {
				p.errorf(k, "%v", err)
				return true
			}
			m.Path, m.Args = s, args
			if len(k.words) > 2 {
				p.warnf(k, "misc_path: words after the command are ignored, as keepalived does: quote the whole command line (misc_path \"%s\")", strings.Join(k.words[1:], " "))
			}
		}
	case "misc_timeout":
		p.maxArgs(k, 1)
		if d, ok := p.timer(k, 1, 0); ok {
			m.Timeout = d
		}
	case "misc_dynamic":
		if v, ok := p.boolArg(k); ok {
			m.Dynamic = v
		}
	case "user":
		if len(k.words) < 2 {
			p.errorf(k, "missing value")
			return true
		}
		var err error
		if m.User, m.Group, err = config.SplitUser(k.words[1:]...); err != nil {
			p.errorf(k, "%v", err)
		}
	default:
		return false
	}
	return true
}

func (p *parser) dnsKeyword(d *config.DNSQuery, k *node) bool {
	switch k.keyword() {
	case "type":
		p.maxArgs(k, 1)
		if s, ok := p.arg(k, 1); ok {
			s = strings.ToUpper(s)
			if !containsWord(config.DNSTypes, s) {
				p.errorf(k, "%q is not one of %s", k.words[1], strings.Join(config.DNSTypes, ", "))
				return true
			}
			d.Type = s
		}
	case "name":
		p.maxArgs(k, 1)
		d.Name, _ = p.arg(k, 1)
	default:
		return false
	}
	return true
}
