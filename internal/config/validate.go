package config

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"golvs/internal/lvs"
)

// SorryServer is the real index a Where function gets for a service's
// sorry server.
const SorryServer = -2

// Where names a part of a configuration in the words of the file it came
// from: service svc; its real real (-1: the service itself, SorryServer:
// its sorry server); that real's check check (-1: the real itself).
type Where func(svc, real, check int) string

// DNSTypes are the query types DNS_CHECK can send (check_dns.c).
var DNSTypes = []string{"A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"}

// HTTPProtocols are the values of http_protocol.
var HTTPProtocols = []string{"1.0", "1.0C", "1.1"}

// Errors of checks, wrapped with the details.
var (
	ErrNoURL    = errors.New("an HTTP check needs at least one url")
	ErrNoPath   = errors.New("a url needs a path")
	ErrNoScript = errors.New("MISC_CHECK needs misc_path")
)

// Validate checks a whole configuration as lvsd will apply it: every
// service and real as ip_vs_ctl.c would take it (lvs.ValidateService and
// lvs.ValidateReal, keeping their wording), no service or real twice,
// and every check complete. Errors name their place with where.
func Validate(c *Config, where Where) ErrorList {
	var errs ErrorList
	seen := map[lvs.ServiceKey]int{}
	for i := range c.Services {
		s := &c.Services[i]
		svc := s.Service
		svc.Reals = nil
		if err := lvs.ValidateService(svc); err != nil {
			errs.AddErr(s.Pos, where(i, -1, -1), err)
		}
		if j, dup := seen[s.ServiceKey]; dup {
			errs.Add(s.Pos, where(i, -1, -1), "%s is defined twice (first at %s)", s.ServiceKey, c.Services[j].Pos)
		} else {
			seen[s.ServiceKey] = i
		}
		if s.Hysteresis >= s.Quorum && s.Hysteresis > 0 {
			errs.Add(s.Pos, where(i, -1, -1), "hysteresis %d must be below quorum %d", s.Hysteresis, s.Quorum)
		}
		if s.SorryServer != nil {
			if err := lvs.ValidateReal(s.ServiceKey, *s.SorryServer); err != nil {
				errs.AddErr(s.Pos, where(i, SorryServer, -1), err)
			}
		}
		if len(s.Reals) > lvs.MaxReals {
			errs.Add(s.Pos, where(i, -1, -1), "%d reals: golvs takes at most %d a service", len(s.Reals), lvs.MaxReals)
		}
		reals := map[netip.AddrPort]int{}
		for j := range s.Reals {
			r := &s.Reals[j]
			if err := lvs.ValidateReal(s.ServiceKey, r.Real); err != nil {
				errs.AddErr(r.Pos, where(i, j, -1), err)
			}
			if k, dup := reals[r.Addr]; dup {
				errs.Add(r.Pos, where(i, j, -1), "real %s is defined twice in %s (first at %s)", r.Addr, s.ServiceKey, s.Reals[k].Pos)
			} else {
				reals[r.Addr] = j
			}
			for k := range r.Checks {
				if err := ValidateCheck(&r.Checks[k], r.Addr); err != nil {
					errs.AddErr(r.Checks[k].Pos, where(i, j, k), err)
				}
			}
		}
	}
	return errs
}

// ValidateCheck checks a resolved check of the real at addr.
func ValidateCheck(c *Check, addr netip.AddrPort) error {
	switch {
	case c.DelayLoop <= 0:
		return fmt.Errorf("delay_loop %v must be positive", c.DelayLoop)
	case c.ConnectTimeout <= 0 && c.Kind != MiscCheck:
		return fmt.Errorf("connect_timeout %v must be positive", c.ConnectTimeout)
	case c.Retry < 0:
		return fmt.Errorf("retry %d is negative", c.Retry)
	case c.DelayBeforeRetry < 0:
		return fmt.Errorf("delay_before_retry %v is negative", c.DelayBeforeRetry)
	case c.Warmup < 0:
		return fmt.Errorf("warmup %v is negative", c.Warmup)
	}
	target := c.Target(addr).Addr()
	if c.BindTo.IsValid() && c.BindTo.Is4() != target.Is4() {
		return fmt.Errorf("bindto %s is not of the family of %s", c.BindTo, target)
	}
	if target.Is6() && target.IsLinkLocalUnicast() && c.BindIf == "" && c.Kind != MiscCheck {
		// check_conn_opts in check_api.c.
		return fmt.Errorf("link-local address %s needs bind_if", target)
	}
	if (c.HTTP != nil) != (c.Kind == HTTPCheck || c.Kind == SSLCheck) ||
		(c.Misc != nil) != (c.Kind == MiscCheck) ||
		(c.DNS != nil) != (c.Kind == DNSCheck) {
		return fmt.Errorf("%s has the options of another kind of check", c.Kind)
	}
	switch c.Kind {
	case TCPCheck:
	case HTTPCheck, SSLCheck:
		return validateHTTP(c.HTTP)
	case MiscCheck:
		if len(c.Misc.Args) == 0 || c.Misc.Args[0] == "" {
			return ErrNoScript
		}
		if c.Misc.Timeout < 0 {
			return fmt.Errorf("misc_timeout %v is negative", c.Misc.Timeout)
		}
	case DNSCheck:
		if !slices.Contains(DNSTypes, c.DNS.Type) {
			return fmt.Errorf("DNS type %q is not one of %v", c.DNS.Type, DNSTypes)
		}
		if c.DNS.Name == "" {
			return errors.New("DNS name is empty")
		}
	default:
		return fmt.Errorf("unknown check kind %d", c.Kind)
	}
	return nil
}

func validateHTTP(h *HTTPGet) error {
	if len(h.URLs) == 0 {
		return ErrNoURL
	}
	if !slices.Contains(HTTPProtocols, h.Protocol) {
		return fmt.Errorf("http_protocol %q is not one of %v", h.Protocol, HTTPProtocols)
	}
	for i, u := range h.URLs {
		if u.Path == "" {
			return fmt.Errorf("url %d: %w", i+1, ErrNoPath)
		}
		if err := ValidateDigest(u.Digest); u.Digest != "" && err != nil {
			return fmt.Errorf("url %s: %w", u.Path, err)
		}
		for _, r := range u.StatusCodes {
			if err := r.Validate(); err != nil {
				return fmt.Errorf("url %s: %w", u.Path, err)
			}
		}
	}
	return nil
}

// ValidateDigest checks an MD5 digest as genhash prints it: 32 lower-case
// hex digits.
func ValidateDigest(d string) error {
	if len(d) != 32 {
		return fmt.Errorf("digest %q has %d characters, not 32", d, len(d))
	}
	for _, c := range d {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("digest %q is not lower-case hex", d)
		}
	}
	return nil
}

// Validate checks r against keepalived's HTTP_STATUS_CODE_MIN..MAX.
func (r StatusRange) Validate() error {
	if r.Lo < 100 || r.Hi > 599 || r.Lo > r.Hi {
		return fmt.Errorf("status code %s is not a range within 100-599", r)
	}
	return nil
}

// String returns "200" or "200-299".
func (r StatusRange) String() string {
	if r.Lo == r.Hi {
		return fmt.Sprint(r.Lo)
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}
