package config

import "time"

// Resolve sets c's timers and alpha as keepalived does when it starts a
// checker (validate_check_config in check_data.c): a value set on the
// check itself (own) wins, then its real's, then its service's, then the
// default of c.Kind. alpha is the real's resolved alpha. Resolve also
// fills the defaults of the check's kind-specific part.
func (c *Check) Resolve(own, real, svc Timing, alpha *bool, realAlpha bool) {
	pick := func(vals ...*time.Duration) (time.Duration, bool) {
		for _, v := range vals {
			if v != nil {
				return *v, true
			}
		}
		return 0, false
	}
	if d, ok := pick(own.DelayLoop, real.DelayLoop, svc.DelayLoop); ok {
		c.DelayLoop = d
	} else {
		c.DelayLoop = DefaultDelayLoop
	}
	if d, ok := pick(own.ConnectTimeout, real.ConnectTimeout, svc.ConnectTimeout); ok {
		c.ConnectTimeout = d
	} else {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if d, ok := pick(own.Warmup, real.Warmup, svc.Warmup); ok {
		c.Warmup = d
	} else {
		c.Warmup = c.DelayLoop
	}
	if d, ok := pick(own.DelayBeforeRetry, real.DelayBeforeRetry, svc.DelayBeforeRetry); ok {
		c.DelayBeforeRetry = d
	} else {
		switch c.Kind {
		case HTTPCheck, SSLCheck:
			c.DelayBeforeRetry = DefaultHTTPDelayBeforeRetry
		case DNSCheck:
			// check_dns.c sets no default_delay_before_retry, which
			// validate_check_config replaces with delay_loop.
			c.DelayBeforeRetry = c.DelayLoop
		default:
			c.DelayBeforeRetry = DefaultDelayBeforeRetry
		}
	}
	switch {
	case own.Retry != nil:
		c.Retry = *own.Retry
	case real.Retry != nil:
		c.Retry = *real.Retry
	case svc.Retry != nil:
		c.Retry = *svc.Retry
	case c.Kind == MiscCheck:
		c.Retry = DefaultMiscRetry
	case c.Kind == DNSCheck:
		c.Retry = DefaultDNSRetry
	default:
		c.Retry = DefaultRetry
	}
	if alpha != nil {
		c.Alpha = *alpha
	} else {
		c.Alpha = realAlpha
	}
	switch c.Kind {
	case HTTPCheck, SSLCheck:
		if c.HTTP != nil && c.HTTP.Protocol == "" {
			c.HTTP.Protocol = "1.0"
		}
	case MiscCheck:
		// check_misc.c: a zero misc_timeout means delay_loop.
		if c.Misc != nil && c.Misc.Timeout == 0 {
			c.Misc.Timeout = c.DelayLoop
		}
	case DNSCheck:
		if c.DNS == nil {
			c.DNS = &DNSQuery{}
		}
		if c.DNS.Type == "" {
			c.DNS.Type = DefaultDNSType
		}
		if c.DNS.Name == "" {
			c.DNS.Name = DefaultDNSName
		}
	}
}
