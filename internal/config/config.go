// Package config is lvsd's configuration: virtual services, their real
// servers and health checks with keepalived's semantics, read from a golvs
// YAML file (Parse) or built by package keepalived from keepalived.conf.
package config

import (
	"fmt"
	"net/netip"
	"time"

	"golvs/internal/lvs"
)

// Config is the result of reading a whole configuration file. It is always
// complete and valid: a reader returns either a Config or an error.
type Config struct {
	// Services in file order. keepalived expands a virtual_server group
	// into one Service per address of the group.
	Services []Service
	// ExpireNodestConn is IPVS's expire_nodest_conn choice for
	// connections whose real server was removed by a failing check:
	// false (IPVS's default, sysctl 0) silently drops their packets until
	// the connection times out; true expires the connection at its next
	// packet so that the client's retry is scheduled to a live real.
	ExpireNodestConn bool
	// Timeouts are ipvsadm --set's timeouts (keepalived's lvs_timeouts);
	// a zero field leaves that timeout at its default.
	Timeouts lvs.Timeouts
}

// Pos is where something was defined: a file and a 1-based line.
type Pos struct {
	File string
	Line int
}

// String returns "file:line", or "" for the zero Pos.
func (p Pos) String() string {
	if p.File == "" && p.Line == 0 {
		return ""
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Defaults from keepalived (check_data.c, check_parser.c, check_api.c and
// each check_*.c).
const (
	// DefaultDelayLoop is KEEPALIVED_DEFAULT_DELAY (check_data.h).
	DefaultDelayLoop = 60 * time.Second
	// DefaultConnectTimeout is keepalived's connection_to default (5 s).
	DefaultConnectTimeout = 5 * time.Second
	// DefaultQuorum is keepalived's quorum default.
	DefaultQuorum = 1
	// DefaultWeight is a real server's weight when neither it nor its
	// virtual server sets one.
	DefaultWeight = 1
	// DefaultMiscRetry and DefaultDNSRetry are the checkers' own retry
	// defaults (check_misc.c, check_dns.c); the others use 1
	// (queue_checker in check_api.c).
	DefaultRetry     = 1
	DefaultMiscRetry = 0
	DefaultDNSRetry  = 3
	// DefaultDelayBeforeRetry is queue_checker's; HTTP_GET and SSL_GET
	// use DefaultHTTPDelayBeforeRetry (check_http.c) and DNS_CHECK its
	// delay_loop.
	DefaultDelayBeforeRetry     = 1 * time.Second
	DefaultHTTPDelayBeforeRetry = 3 * time.Second
	// DefaultDNSType and DefaultDNSName are DNS_CHECK's query (check_dns.c).
	DefaultDNSType = "SOA"
	DefaultDNSName = "."
)

// Service is a virtual service with keepalived's per-virtual-server
// behaviour and its real servers.
type Service struct {
	// Service holds the key, scheduler, flags, persistence and netmask.
	// Its Reals field is always nil: the reals are Reals below.
	lvs.Service
	Pos Pos

	// Timing is the checker timers as written at the service level. They
	// are already folded into every Check; they are kept for display.
	Timing Timing

	// Quorum is the minimum sum of the weights of live reals for the
	// service to be up (keepalived's quorum, default 1); Hysteresis is
	// the lag around it: quorum is lost below Quorum-Hysteresis and
	// regained at Quorum+Hysteresis.
	Quorum     uint32
	Hysteresis uint32
	// QuorumUp and QuorumDown run when quorum is gained or lost.
	QuorumUp   *Script
	QuorumDown *Script

	// SorryServer, when set, replaces the reals while quorum is lost.
	SorryServer *lvs.Real
	// SorryServerInhibit is keepalived's sorry_server_inhibit: the sorry
	// server stays in the table with weight 0 instead of being removed.
	SorryServerInhibit bool

	// Alpha starts every real as down until its checks succeed once
	// (keepalived's alpha); Omega runs notify_down and quorum_down
	// scripts when lvsd stops.
	Alpha bool
	Omega bool
	// VirtualHost is the default Host header of the HTTP_GET and SSL_GET
	// checks of this service's reals.
	VirtualHost string

	// Reals in file order. lvs.Table.AddReal puts each real at the head
	// of IPVS's list, so adding them in this order gives keepalived's
	// IPVS order.
	Reals []Real
}

// Real is a real server with its health checks.
type Real struct {
	// Real holds the address, method, weight, thresholds and tunnel
	// options; Weight is the configured weight that a recovering real
	// gets back.
	lvs.Real
	Pos Pos

	// InhibitOnFailure sets the weight to 0 instead of removing the real
	// when a check fails (keepalived's inhibit_on_failure; a real
	// inherits its virtual server's).
	InhibitOnFailure bool
	// Alpha starts this real as down until its checks succeed once
	// (keepalived's real_server alpha, default the service's).
	Alpha bool
	// NotifyUp and NotifyDown run when the real goes up or down.
	NotifyUp   *Script
	NotifyDown *Script
	// VirtualHost is the default Host header of this real's HTTP checks
	// (falls back to the service's).
	VirtualHost string
	// Timing is the checker timers as written at the real level; they are
	// already folded into every Check.
	Timing Timing

	// Checks must all succeed for the real to be up; a real without
	// checks is always up.
	Checks []Check
}

// Timing is the set of keepalived timers that a virtual server or real
// server passes down to its checkers. A nil field means "not set here".
type Timing struct {
	DelayLoop        *time.Duration
	ConnectTimeout   *time.Duration
	Retry            *int
	DelayBeforeRetry *time.Duration
	Warmup           *time.Duration
}

// Script is a notify or quorum command as keepalived runs it: Args[0]
// is the program, run as User:Group when set.
type Script struct {
	Args  []string
	User  string
	Group string
}

// CheckKind is a kind of health check, named by keepalived's keyword.
type CheckKind uint8

// Check kinds.
const (
	TCPCheck  CheckKind = iota + 1 // TCP_CHECK: a TCP connect
	HTTPCheck                      // HTTP_GET
	SSLCheck                       // SSL_GET: HTTP_GET over TLS
	MiscCheck                      // MISC_CHECK: a command's exit status
	DNSCheck                       // DNS_CHECK: a DNS query over UDP
)

// String returns keepalived's keyword for k.
func (k CheckKind) String() string {
	switch k {
	case TCPCheck:
		return "TCP_CHECK"
	case HTTPCheck:
		return "HTTP_GET"
	case SSLCheck:
		return "SSL_GET"
	case MiscCheck:
		return "MISC_CHECK"
	case DNSCheck:
		return "DNS_CHECK"
	}
	return fmt.Sprintf("CheckKind(%d)", uint8(k))
}

// Check is one health check of a real. Its timers are resolved: a value
// not set on the check comes from its real_server, then its
// virtual_server, then keepalived's default for the kind.
type Check struct {
	Kind CheckKind
	Pos  Pos

	// ConnectIP and ConnectPort are where the check connects; the zero
	// values mean the real's address and port.
	ConnectIP   netip.Addr
	ConnectPort uint16
	// BindTo and BindPort are the check's source; zero means any.
	BindTo   netip.Addr
	BindPort uint16
	// BindIf is the interface for a link-local ConnectIP (bind_if).
	BindIf string
	// FWMark is SO_MARK on the check's packets (keepalived's fwmark).
	FWMark uint32

	// ConnectTimeout bounds one attempt (default 5 s).
	ConnectTimeout time.Duration
	// Retry is how many times a failing check of an up real is retried,
	// DelayBeforeRetry apart, before the real goes down (nb_get_retry is
	// an alias). keepalived's default: 1; MISC_CHECK 0; DNS_CHECK 3.
	Retry int
	// DelayBeforeRetry: HTTP_GET and SSL_GET 3 s, DNS_CHECK DelayLoop,
	// others 1 s.
	DelayBeforeRetry time.Duration
	// DelayLoop is the interval between checks (default 60 s).
	DelayLoop time.Duration
	// Warmup is the upper bound of the random delay before the first
	// check; keepalived's default is DelayLoop, 0 starts at once.
	Warmup time.Duration
	// Alpha: the check starts as failed (keepalived's per-checker alpha,
	// default the real's).
	Alpha bool
	// LogAllFailures logs every failed attempt, not only state changes.
	LogAllFailures bool

	HTTP *HTTPGet  // HTTPCheck and SSLCheck
	Misc *MiscExec // MiscCheck
	DNS  *DNSQuery // DNSCheck
}

// Target returns the address the check connects to for real r.
func (c *Check) Target(r netip.AddrPort) netip.AddrPort {
	ip, port := r.Addr(), r.Port()
	if c.ConnectIP.IsValid() {
		ip = c.ConnectIP
	}
	if c.ConnectPort != 0 {
		port = c.ConnectPort
	}
	return netip.AddrPortFrom(ip, port)
}

// HTTPGet is what HTTP_GET and SSL_GET fetch and expect.
type HTTPGet struct {
	// URLs are fetched in turn; every one must succeed.
	URLs []URL
	// VirtualHost is the Host header when the URL sets none (falls back
	// to the real's, then the service's, then "ip:port").
	VirtualHost string
	// Protocol is http_protocol: "1.0" (default), "1.0C" (1.0 with
	// Connection: close) or "1.1".
	Protocol string
	// FastRecovery drops the delay between URLs of a down check.
	FastRecovery bool
	// EnableSNI sends the Host as TLS SNI (SSL_GET); SNIName overrides it.
	EnableSNI bool
	SNIName   string
	// TLSCompliant closes TLS connections with a proper close_notify.
	TLSCompliant bool
}

// URL is one url { } block of an HTTP check.
type URL struct {
	Path string
	// Digest is the MD5 of the body in lower-case hex, "" for none.
	Digest string
	// StatusCodes are the accepted status codes; empty means 200-299.
	StatusCodes []StatusRange
	// VirtualHost overrides the check's Host header for this URL.
	VirtualHost string
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Lo, Hi int }

// Accepts reports whether status code code passes u.
func (u *URL) Accepts(code int) bool {
	if len(u.StatusCodes) == 0 {
		return code >= 200 && code <= 299
	}
	for _, r := range u.StatusCodes {
		if code >= r.Lo && code <= r.Hi {
			return true
		}
	}
	return false
}

// MiscExec is a MISC_CHECK command.
type MiscExec struct {
	// Path is misc_path: the command line, split into words as a shell
	// would without expansion; Args is the split form.
	Path string
	Args []string
	// Timeout bounds one run (misc_timeout; default DelayLoop); the
	// command is sent SIGTERM then SIGKILL and the run fails.
	Timeout time.Duration
	// Dynamic: exit 0 and 1 are up and down; 2..255 is up with weight
	// exit-2 (misc_dynamic).
	Dynamic bool
	User    string
	Group   string
}

// DNSQuery is a DNS_CHECK query.
type DNSQuery struct {
	// Type is the query type name: A, NS, CNAME, SOA (default), MX, TXT
	// or AAAA.
	Type string
	// Name is the query name, default ".".
	Name string
}

// Table returns the configuration as an lvs.Table with every real up at
// its configured weight: the table lvsd starts from before any check has
// run (reals in alpha mode are the health checker's business). The reals
// are added in file order, so the table has IPVS's list order.
func (c *Config) Table() (lvs.Table, error) {
	t := lvs.Table{Timeouts: lvs.DefaultTimeouts}
	if err := t.SetTimeouts(c.Timeouts); err != nil {
		return lvs.Table{}, err
	}
	for _, s := range c.Services {
		svc := s.Service
		svc.Reals = nil
		if err := t.AddService(svc); err != nil {
			return lvs.Table{}, fmt.Errorf("%s: %w", s.ServiceKey, err)
		}
		for _, r := range s.Reals {
			if err := t.AddReal(s.ServiceKey, r.Real); err != nil {
				return lvs.Table{}, fmt.Errorf("%s: real %s: %w", s.ServiceKey, r.Addr, err)
			}
		}
	}
	return t, nil
}
