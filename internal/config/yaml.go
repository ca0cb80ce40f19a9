package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"golvs/internal/lvs"
	"golvs/internal/sched"
)

// The golvs YAML file (lvsd --config FILE). examples/lvsd.yaml is the
// commented reference; in short:
//
//	expire_nodest_conn: false        # IPVS's sysctl of that name
//	timeouts: {tcp: 900, tcpfin: 120, udp: 300}
//	services:
//	  - protocol: tcp                # tcp (default) or udp
//	    vip: 198.18.0.10             # IPv4 or IPv6 ("2001:db8::10")
//	    port: 80
//	    scheduler: wlc               # any of lvs.Schedulers (default wlc)
//	    flags: [sh-port]             # flag-1..3, sh-fallback/sh-port, mh-fallback/mh-port
//	    ops: false                   # one-packet scheduling (UDP)
//	    persistence_timeout: 360     # seconds or a duration; 0/absent: not persistent
//	    persistence_granularity: 255.255.255.0   # IPv6: a prefix length, 64
//	    method: nat                  # default for the reals: nat, dr or tun
//	    tunnel: {type: gue, port: 6080, checksum: csum}
//	    weight: 1                    # default weight of the reals
//	    delay_loop: 6                # check defaults: delay_loop, connect_timeout,
//	    retry: 3                     #   retry, delay_before_retry, warmup
//	    quorum: 1
//	    hysteresis: 0
//	    quorum_up: /usr/local/sbin/quorum-up.sh
//	    quorum_down: [/usr/local/sbin/quorum-down.sh, "198.18.0.10"]
//	    sorry_server: {address: 198.18.1.250, port: 80, method: nat, inhibit: false}
//	    alpha: false
//	    omega: false
//	    inhibit_on_failure: false
//	    virtualhost: www.example.test
//	    reals:
//	      - address: 198.18.1.1
//	        port: 8080                 # default: the service's port
//	        weight: 3
//	        method: nat                # default: the service's
//	        uthreshold: 0
//	        lthreshold: 0
//	        inhibit_on_failure: true   # default: the service's
//	        alpha: false               # default: the service's
//	        notify_up: {command: "/usr/local/bin/notify up", user: nobody}
//	        notify_down: /usr/local/bin/notify down
//	        checks:                    # every check must pass for the real to be up
//	          - tcp_check: {connect_port: 8080, connect_timeout: 3}
//	          - http_get:
//	              urls: [{path: /health, status_code: [200, "300-399"], digest: ...}]
//	          - ssl_get: {urls: [{path: /}], enable_sni: true}
//	          - misc_check: {misc_path: "/usr/local/bin/check 198.18.1.1", misc_timeout: 5, misc_dynamic: false, user: nobody}
//	          - dns_check: {type: A, name: www.example.test}
//
// Every check also takes connect_ip, connect_port, bindto, bind_port,
// bind_if, fwmark, connect_timeout, retry (alias nb_get_retry),
// delay_before_retry, delay_loop, warmup, alpha and log_all_failures,
// with keepalived's meaning and defaults. Durations are seconds (decimals
// allowed) or Go durations ("1.5s"). Scripts are a command line (split as
// a shell would, without expansion), a list of words, or {command, user,
// group}. Unknown keys, wrong types, bad addresses, duplicates and
// out-of-range values are errors naming file:line and the field.

var (
	topKeys     = []string{"services", "expire_nodest_conn", "timeouts"}
	timeoutKeys = []string{"tcp", "tcpfin", "udp"}
	timingKeys  = []string{"delay_loop", "connect_timeout", "retry", "delay_before_retry", "warmup"}
	serviceKeys = append([]string{"protocol", "vip", "port", "scheduler", "flags", "ops",
		"persistence_timeout", "persistence_granularity", "method", "tunnel", "weight",
		"quorum", "hysteresis", "quorum_up", "quorum_down", "sorry_server", "alpha", "omega",
		"inhibit_on_failure", "virtualhost", "reals"}, timingKeys...)
	realKeys = append([]string{"address", "port", "weight", "method", "tunnel", "uthreshold",
		"lthreshold", "inhibit_on_failure", "alpha", "notify_up", "notify_down", "virtualhost",
		"checks"}, timingKeys...)
	sorryKeys  = []string{"address", "port", "weight", "method", "tunnel", "inhibit"}
	tunnelKeys = []string{"type", "port", "checksum"}
	scriptKeys = []string{"command", "user", "group"}
	checkKinds = map[string]CheckKind{"tcp_check": TCPCheck, "http_get": HTTPCheck, "ssl_get": SSLCheck,
		"misc_check": MiscCheck, "dns_check": DNSCheck}
	commonCheckKeys = []string{"connect_ip", "connect_port", "bindto", "bind_port", "bind_if", "fwmark",
		"connect_timeout", "retry", "nb_get_retry", "delay_before_retry", "delay_loop", "warmup", "alpha",
		"log_all_failures"}
	httpKeys = append([]string{"urls", "virtualhost", "http_protocol", "fast_recovery", "enable_sni"}, commonCheckKeys...)
	urlKeys  = []string{"path", "digest", "status_code", "virtualhost"}
	miscKeys = []string{"misc_path", "misc_timeout", "misc_dynamic", "user", "retry", "delay_before_retry",
		"delay_loop", "warmup", "alpha", "log_all_failures"}
	dnsKeys = append([]string{"type", "name"}, commonCheckKeys...)
)

// Load reads the golvs YAML file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return Parse(path, data)
}

// Parse reads a golvs YAML configuration; name is the file name used in
// errors. It returns either a complete, valid Config or every error
// found: a bad file never gives a partial configuration.
func Parse(name string, data []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlSyntaxError(name, err)
	}
	d := &decoder{file: name}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		d.errs.Add(Pos{File: name, Line: 1}, "", "the file is empty: a configuration needs a services list (services: [] for none)")
		return nil, d.errs.Err()
	}
	c := d.config(doc.Content[0])
	if err := d.errs.Err(); err != nil {
		return nil, err
	}
	names := yamlNames(c)
	if errs := Validate(c, names); len(errs) > 0 {
		return nil, errs.Err()
	}
	return c, nil
}

// yamlSyntaxError turns the YAML library's "yaml: line N: msg" into
// "file:N: msg".
func yamlSyntaxError(name string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ": "); ok {
			if l, err := strconv.Atoi(n); err == nil {
				line, msg = l, after
			}
		}
	}
	return ErrorList{{Pos: Pos{File: name, Line: line}, Err: errors.New(msg)}}
}

func yamlNames(c *Config) Where {
	return func(svc, real, check int) string {
		p := index("services", svc)
		switch {
		case real == SorryServer:
			return p + ".sorry_server"
		case real >= 0:
			p = index(p+".reals", real)
		}
		if check >= 0 {
			p = index(p+".checks", check)
		}
		return p
	}
}

func (d *decoder) config(n *yaml.Node) *Config {
	o := d.object(n, "", topKeys)
	if o == nil {
		return nil
	}
	c := &Config{}
	o.boolean("expire_nodest_conn", &c.ExpireNodestConn)
	if v, path := o.value("timeouts"); v != nil {
		if t := d.object(v, path, timeoutKeys); t != nil {
			// ipvsadm --set takes whole seconds, 0 (unchanged) up to
			// MAX_TIMEOUT.
			for key, dst := range map[string]*time.Duration{"tcp": &c.Timeouts.TCP, "tcpfin": &c.Timeouts.TCPFin, "udp": &c.Timeouts.UDP} {
				if t.duration(key, 0, dst) && (*dst%time.Second != 0 || *dst > lvs.MaxPersistence) {
					tv, tp := t.value(key)
					d.errorf(tv, tp, "%v is not a whole number of seconds up to %v", *dst, lvs.MaxPersistence)
				}
			}
		}
	}
	if !o.require("services") {
		return c
	}
	items, path := o.list("services")
	for i, item := range items {
		if s := d.service(item, index(path, i)); s != nil {
			c.Services = append(c.Services, *s)
		}
	}
	return c
}

func (d *decoder) service(n *yaml.Node, path string) *Service {
	o := d.object(n, path, serviceKeys)
	if o == nil {
		return nil
	}
	s := &Service{Pos: d.pos(n), Quorum: DefaultQuorum}
	s.Protocol = lvs.TCP
	if v, vpath := o.scalar("protocol"); v != nil {
		switch strings.ToLower(v.Value) {
		case "tcp":
			s.Protocol = lvs.TCP
		case "udp":
			s.Protocol = lvs.UDP
		default:
			d.errorf(v, vpath, "%s is not tcp or udp", describe(v))
		}
	}
	var vip netip.Addr
	if o.require("vip") {
		o.addr("vip", &vip)
	}
	var port uint16
	if o.require("port") {
		o.uint16("port", 0, 65535, &port)
	}
	s.Addr = netip.AddrPortFrom(vip, port)
	s.Scheduler = lvs.DefaultScheduler
	o.str("scheduler", &s.Scheduler)
	if items, fpath := o.list("flags"); items != nil {
		for i, f := range items {
			if f.Kind != yaml.ScalarNode {
				d.errorf(f, index(fpath, i), "expected a flag name, got %s", describe(f))
				continue
			}
			flag, err := sched.ParseFlag(s.Scheduler, f.Value)
			if err != nil {
				d.errorf(f, index(fpath, i), "%q is not a flag of scheduler %s (flag-1, flag-2, flag-3; sh-fallback, sh-port for sh; mh-fallback, mh-port for mh)", f.Value, s.Scheduler)
			}
			s.SchedFlags |= flag
		}
	}
	o.boolean("ops", &s.OnePacket)
	if o.has("persistence_timeout") {
		o.duration("persistence_timeout", 0, &s.Persistent)
	}
	if v, gpath := o.scalar("persistence_granularity"); v != nil {
		if m, err := parseGranularity(v.Value, vip); err != nil {
			d.errorf(v, gpath, "%v", err)
		} else {
			s.Netmask = m
		}
	}
	if v, opath := o.value("ops"); v != nil && s.OnePacket && s.Protocol != lvs.UDP {
		// ipvsadm: "One-Packet Scheduling is only for UDP virtual services".
		d.errorf(v, opath, "one-packet scheduling is only for UDP services")
	}
	if v, gpath := o.value("persistence_granularity"); v != nil && s.Persistent == 0 {
		d.errorf(v, gpath, "needs persistence_timeout: a granularity applies to persistent services only")
	}
	defaults := lvs.Real{Weight: DefaultWeight, Method: 255}
	d.method(o, &defaults)
	o.int("weight", 0, lvs.MaxWeight, &defaults.Weight)
	s.Timing = d.timing(o)
	o.uint32("quorum", 1, 1<<32-1, &s.Quorum)
	o.uint32("hysteresis", 0, 1<<32-1, &s.Hysteresis)
	s.QuorumUp = d.script(o, "quorum_up")
	s.QuorumDown = d.script(o, "quorum_down")
	o.boolean("alpha", &s.Alpha)
	o.boolean("omega", &s.Omega)
	var inhibit bool
	o.boolean("inhibit_on_failure", &inhibit)
	o.str("virtualhost", &s.VirtualHost)
	if v, spath := o.value("sorry_server"); v != nil {
		if so := d.object(v, spath, sorryKeys); so != nil {
			r := defaults
			r.Weight = DefaultWeight // keepalived's alloc_ssvr
			var a netip.Addr
			if so.require("address") {
				so.addr("address", &a)
			}
			rport := port
			so.uint16("port", 0, 65535, &rport)
			r.Addr = netip.AddrPortFrom(a, rport)
			so.int("weight", 0, lvs.MaxWeight, &r.Weight)
			d.method(so, &r)
			d.requireMethod(so, &r)
			so.boolean("inhibit", &s.SorryServerInhibit)
			s.SorryServer = &r
		}
	}
	items, rpath := o.list("reals")
	for i, item := range items {
		if r := d.real(item, index(rpath, i), s, defaults, inhibit); r != nil {
			s.Reals = append(s.Reals, *r)
		}
	}
	return s
}

// parseGranularity reads a persistence netmask: an IPv4 mask for an IPv4
// service, a prefix length (64 or /64) for an IPv6 one.
func parseGranularity(v string, vip netip.Addr) (netip.Addr, error) {
	if vip.Is6() {
		bits, err := strconv.Atoi(strings.TrimPrefix(v, "/"))
		if err != nil || bits < 1 || bits > 128 {
			return netip.Addr{}, fmt.Errorf("%q is not a prefix length 1..128 (an IPv6 service's granularity)", v)
		}
		return lvs.Netmask6(bits), nil
	}
	m, err := netip.ParseAddr(v)
	if err != nil || !m.Is4() {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 netmask", v)
	}
	return m, nil
}

func (d *decoder) real(n *yaml.Node, path string, s *Service, defaults lvs.Real, inhibit bool) *Real {
	o := d.object(n, path, realKeys)
	if o == nil {
		return nil
	}
	r := &Real{Pos: d.pos(n), Real: defaults, InhibitOnFailure: inhibit, Alpha: s.Alpha}
	var a netip.Addr
	if o.require("address") {
		o.addr("address", &a)
	}
	port := s.Addr.Port()
	o.uint16("port", 0, 65535, &port)
	r.Addr = netip.AddrPortFrom(a, port)
	o.int("weight", 0, lvs.MaxWeight, &r.Weight)
	d.method(o, &r.Real)
	d.requireMethod(o, &r.Real)
	o.uint32("uthreshold", 0, 1<<31-1, &r.UThreshold)
	o.uint32("lthreshold", 0, 1<<31-1, &r.LThreshold)
	o.boolean("inhibit_on_failure", &r.InhibitOnFailure)
	o.boolean("alpha", &r.Alpha)
	r.NotifyUp = d.script(o, "notify_up")
	r.NotifyDown = d.script(o, "notify_down")
	o.str("virtualhost", &r.VirtualHost)
	r.Timing = d.timing(o)
	items, cpath := o.list("checks")
	for i, item := range items {
		if c := d.check(item, index(cpath, i), s, r); c != nil {
			r.Checks = append(r.Checks, *c)
		}
	}
	return r
}

// method reads method and tunnel into r; Method 255 means not set yet.
func (d *decoder) method(o *object, r *lvs.Real) {
	if v, mpath := o.scalar("method"); v != nil {
		switch strings.ToLower(v.Value) {
		case "nat", "masq":
			r.Method = lvs.Masq
		case "dr", "route":
			r.Method = lvs.Route
		case "tun", "tunnel":
			r.Method = lvs.Tunnel
		default:
			d.errorf(v, mpath, "%s is not nat, dr or tun", describe(v))
		}
	}
	v, tpath := o.value("tunnel")
	if v == nil {
		return
	}
	t := d.object(v, tpath, tunnelKeys)
	if t == nil {
		return
	}
	if tv, p := t.scalar("type"); tv != nil {
		if ty, err := lvs.ParseTunnelType(tv.Value); err == nil {
			r.TunType = ty
		} else {
			d.errorf(tv, p, "%s is not ipip, gue or gre", describe(tv))
		}
	}
	t.uint16("port", 1, 65535, &r.TunPort)
	if cv, p := t.scalar("checksum"); cv != nil {
		// "none" is the YAML's own word for nocsum.
		if cv.Value == "none" {
			r.TunFlags = lvs.TunNoCsum
		} else if f, err := lvs.ParseTunnelFlags(cv.Value); err == nil {
			r.TunFlags = f
		} else {
			d.errorf(cv, p, "%s is not none, csum or remcsum", describe(cv))
		}
	}
	// keepalived's rules for tunnel options (svr_forwarding_handler).
	switch {
	case r.TunType.HasPort() != (r.TunPort != 0):
		d.errorf(v, tpath, "a gue tunnel needs a port, and only a gue tunnel has one")
	case r.TunType == lvs.TunIPIP && !r.TunType.TakesFlags(r.TunFlags):
		d.errorf(v, tpath, "an ipip tunnel has no checksum option")
	case r.TunType == lvs.TunGRE && !r.TunType.TakesFlags(r.TunFlags):
		d.errorf(v, tpath, "a gre tunnel has no remote checksum option")
	}
}

func (d *decoder) requireMethod(o *object, r *lvs.Real) {
	if r.Method == 255 {
		d.errorf(o.node, join(o.path, "method"), "is required here or on the service: nat, dr or tun")
		r.Method = lvs.Masq
	}
}

func (d *decoder) timing(o *object) Timing {
	var t Timing
	t.DelayLoop = o.durationPtr("delay_loop", time.Microsecond)
	t.ConnectTimeout = o.durationPtr("connect_timeout", time.Microsecond)
	if o.has("retry") {
		var r int
		if o.int("retry", 0, 1<<32-1, &r) {
			t.Retry = &r
		}
	}
	t.DelayBeforeRetry = o.durationPtr("delay_before_retry", 0)
	t.Warmup = o.durationPtr("warmup", 0)
	return t
}

// script reads a command: a string split as a shell would, a list of
// words, or {command: string|list, user: name|"name:group", group: name}.
func (d *decoder) script(o *object, key string) *Script {
	v, path := o.value(key)
	if v == nil {
		return nil
	}
	sc := &Script{}
	if v.Kind == yaml.MappingNode {
		so := d.object(v, path, scriptKeys)
		if so == nil || !so.require("command") {
			return nil
		}
		cmd, cpath := so.value("command")
		sc.Args = d.words(cmd, cpath)
		if so.str("user", &sc.User) {
			var err error
			if sc.User, sc.Group, err = SplitUser(sc.User); err != nil {
				un, upath := so.value("user")
				d.errorf(un, upath, "%v", err)
			}
		}
		so.str("group", &sc.Group)
	} else {
		sc.Args = d.words(v, path)
	}
	if sc.Args == nil {
		return nil
	}
	return sc
}

// words reads a command given as a string or as a list of strings.
func (d *decoder) words(n *yaml.Node, path string) []string {
	switch {
	case n.Kind == yaml.ScalarNode && !isNull(n):
		w, err := SplitCommand(n.Value)
		if err != nil {
			d.errorf(n, path, "%v", err)
			return nil
		}
		return w
	case n.Kind == yaml.SequenceNode && len(n.Content) > 0:
		var w []string
		for i, c := range n.Content {
			c = deref(c)
			if c.Kind != yaml.ScalarNode || isNull(c) {
				d.errorf(c, index(path, i), "expected a word, got %s", describe(c))
				return nil
			}
			w = append(w, c.Value)
		}
		return w
	}
	d.errorf(n, path, "expected a command (a string or a list of words), got %s", describe(n))
	return nil
}

func (d *decoder) check(n *yaml.Node, path string, s *Service, r *Real) *Check {
	n = deref(n)
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		d.errorf(n, path, "a check is a mapping with one key, its kind (tcp_check, http_get, ssl_get, misc_check or dns_check)")
		return nil
	}
	kn, body := n.Content[0], n.Content[1]
	kind, ok := checkKinds[kn.Value]
	if !ok {
		msg := fmt.Sprintf("%q is not a kind of check (tcp_check, http_get, ssl_get, misc_check or dns_check)", kn.Value)
		if s := suggest(kn.Value, []string{"tcp_check", "http_get", "ssl_get", "misc_check", "dns_check"}); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		d.errorf(kn, path, "%s", msg)
		return nil
	}
	path = join(path, kn.Value)
	allowed := commonCheckKeys
	switch kind {
	case HTTPCheck, SSLCheck:
		allowed = httpKeys
	case MiscCheck:
		allowed = miscKeys
	case DNSCheck:
		allowed = dnsKeys
	}
	o := d.object(body, path, allowed)
	if o == nil {
		return nil
	}
	c := &Check{Kind: kind, Pos: d.pos(kn)}
	o.addr("connect_ip", &c.ConnectIP)
	o.uint16("connect_port", 1, 65535, &c.ConnectPort)
	o.addr("bindto", &c.BindTo)
	o.uint16("bind_port", 1, 65535, &c.BindPort)
	if o.str("bind_if", &c.BindIf) && len(c.BindIf) > 15 {
		v, p := o.value("bind_if")
		d.errorf(v, p, "interface name %q is longer than 15 characters", c.BindIf)
	}
	o.uint32("fwmark", 0, 1<<32-1, &c.FWMark)
	own := d.timing(o)
	if o.has("nb_get_retry") {
		if o.has("retry") {
			v, p := o.value("nb_get_retry")
			d.errorf(v, p, "nb_get_retry is the old name of retry: give one of them")
		}
		var rt int
		if o.int("nb_get_retry", 0, 1<<32-1, &rt) {
			own.Retry = &rt
		}
	}
	var alpha *bool
	if o.has("alpha") {
		var a bool
		if o.boolean("alpha", &a) {
			alpha = &a
		}
	}
	o.boolean("log_all_failures", &c.LogAllFailures)
	switch kind {
	case HTTPCheck, SSLCheck:
		c.HTTP = d.httpGet(o)
	case MiscCheck:
		c.Misc = &MiscExec{}
		if o.require("misc_path") {
			v, p := o.value("misc_path")
			c.Misc.Args = d.words(v, p)
			c.Misc.Path = strings.Join(c.Misc.Args, " ")
		}
		o.duration("misc_timeout", 0, &c.Misc.Timeout)
		o.boolean("misc_dynamic", &c.Misc.Dynamic)
		var u string
		if o.str("user", &u) {
			var err error
			if c.Misc.User, c.Misc.Group, err = SplitUser(strings.Fields(u)...); err != nil {
				v, p := o.value("user")
				d.errorf(v, p, "%v", err)
			}
		}
	case DNSCheck:
		c.DNS = &DNSQuery{}
		if v, p := o.scalar("type"); v != nil {
			c.DNS.Type = strings.ToUpper(v.Value)
			if !slices.Contains(DNSTypes, c.DNS.Type) {
				d.errorf(v, p, "%s is not one of %s", describe(v), strings.Join(DNSTypes, ", "))
			}
		}
		o.str("name", &c.DNS.Name)
	}
	c.Resolve(own, r.Timing, s.Timing, alpha, r.Alpha)
	if c.HTTP != nil {
		// The Host header falls back from the check to the real and the
		// service (http_get_check in check_http.c picks at run time).
		if c.HTTP.VirtualHost == "" {
			c.HTTP.VirtualHost = r.VirtualHost
		}
		if c.HTTP.VirtualHost == "" {
			c.HTTP.VirtualHost = s.VirtualHost
		}
	}
	return c
}

func (d *decoder) httpGet(o *object) *HTTPGet {
	h := &HTTPGet{}
	o.str("virtualhost", &h.VirtualHost)
	if v, p := o.scalar("http_protocol"); v != nil {
		h.Protocol = strings.Replace(v.Value, "c", "C", 1)
		if !slices.Contains(HTTPProtocols, h.Protocol) {
			d.errorf(v, p, "%s is not one of 1.0, 1.0C, 1.1", describe(v))
		}
	}
	o.boolean("fast_recovery", &h.FastRecovery)
	o.boolean("enable_sni", &h.EnableSNI)
	if !o.require("urls") {
		return h
	}
	items, upath := o.list("urls")
	if len(items) == 0 {
		v, _ := o.value("urls")
		d.errorf(v, upath, "%v", ErrNoURL)
	}
	for i, item := range items {
		p := index(upath, i)
		uo := d.object(item, p, urlKeys)
		if uo == nil {
			continue
		}
		var u URL
		if uo.require("path") {
			uo.str("path", &u.Path)
		}
		if uo.str("digest", &u.Digest) {
			u.Digest = strings.ToLower(u.Digest)
			if err := ValidateDigest(u.Digest); err != nil {
				v, dp := uo.value("digest")
				d.errorf(v, dp, "%v", err)
			}
		}
		u.StatusCodes = d.statusCodes(uo)
		uo.str("virtualhost", &u.VirtualHost)
		h.URLs = append(h.URLs, u)
	}
	return h
}

// statusCodes reads status_code: 200, "200-299", or a list of them.
func (d *decoder) statusCodes(o *object) []StatusRange {
	v, path := o.value("status_code")
	if v == nil {
		return nil
	}
	items := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		items, _ = o.list("status_code")
	}
	var out []StatusRange
	for i, n := range items {
		p := path
		if v.Kind == yaml.SequenceNode {
			p = index(path, i)
		}
		r, err := ParseStatusRange(n.Value)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.errorf(n, p, "%s is not a status code or range within 100-599", describe(n))
			continue
		}
		out = append(out, r)
	}
	return out
}

// ParseStatusRange reads "200" or "200-299" (keepalived's status_code).
func ParseStatusRange(s string) (StatusRange, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	var r StatusRange
	var err error
	if r.Lo, err = strconv.Atoi(lo); err != nil {
		return r, err
	}
	r.Hi = r.Lo
	if isRange {
		if r.Hi, err = strconv.Atoi(hi); err != nil {
			return r, err
		}
	}
	return r, r.Validate()
}
