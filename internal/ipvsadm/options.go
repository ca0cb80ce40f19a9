package ipvsadm

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"golvs/internal/lvs"
	"golvs/internal/sched"
)

// command is ipvsadm's CMD_*; the order is that of its commands_v_options rows.
type command int

const (
	cmdNone command = iota
	cmdAdd
	cmdEdit
	cmdDel
	cmdFlush
	cmdList
	cmdAddDest
	cmdDelDest
	cmdEditDest
	cmdTimeout
	cmdStartDaemon
	cmdStopDaemon
	cmdRestore
	cmdSave
	cmdZero
)

// cmdNames are the command names ipvsadm's messages use.
var cmdNames = [...]string{
	"add-service", "edit-service", "delete-service", "flush", "list",
	"add-server", "delete-server", "edit-server", "set", "start-daemon",
	"stop-daemon", "restore", "save", "zero",
}

func (c command) String() string { return cmdNames[c-1] }

// Option bits (ipvsadm's OPTC_*), the columns of commands_v_options.
const (
	optNumeric = iota
	optConnection
	optService
	optScheduler
	optPersistent
	optNetmask
	optServer
	optForward
	optWeight
	optUThreshold
	optLThreshold
	optMcast
	optTimeout
	optDaemon
	optStats
	optRate
	optThresholds
	optPersistentConn
	optNoSort
	optSyncID
	optExact
	optOnePacket
	optPersistenceEngine
	optSchedFlags
	optMcastGroup
	optMcastPort
	optMcastTTL
	optSyncMaxlen
	optTunInfo
	optTunType
	optTunPort
	optTunNoCsum
	optTunCsum
	optTunRemCsum
	numOpts
)

// optNames are the option names ipvsadm's messages use.
var optNames = [numOpts]string{
	"numeric", "connection", "service-address", "scheduler", "persistent",
	"netmask", "real-server", "forwarding-method", "weight", "u-threshold",
	"l-threshold", "mcast-interface", "timeout", "daemon", "stats", "rate",
	"thresholds", "persistent-conn", "nosort", "syncid", "exact", "ops", "pe",
	"sched-flags", "mcast-group", "mcast-port", "mcast-ttl", "sync-maxlen",
	"tun-info", "tun-type", "tun-port", "tun-nocsum", "tun-csum", "tun-remcsum",
}

// commandsVOptions is ipvsadm's commands_v_options, one row per command and
// one character per option bit: '+' compulsory, 'x' illegal, '1' at most
// one of the '1' options, ' ' optional.
var commandsVOptions = [...]string{
	/* ADD      */ "xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx",
	/* EDIT     */ "xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx",
	/* DEL      */ "xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	/* FLUSH    */ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	/* LIST     */ " 11xxxxxxxxx11       xxxxxxx xxxxx",
	/* ADDSRV   */ "xx+xxx+    xxxxxxxxxxxxxxxxxx     ",
	/* DELSRV   */ "xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx",
	/* EDITSRV  */ "xx+xxx+    xxxxxxxxxxxxxxxxxx     ",
	/* TIMEOUT  */ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	/* STARTD   */ "xxxxxxxxxxx xxxxxxx xxxx    xxxxxx",
	/* STOPD    */ "xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx",
	/* RESTORE  */ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	/* SAVE     */ " xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	/* ZERO     */ "xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
}

// tunnelTypesVOptions is ipvsadm's tunnel_types_v_options over the columns
// tun-port, tun-nocsum, tun-csum, tun-remcsum, a row per tunnel type.
var (
	tunOpts             = [...]int{optTunPort, optTunNoCsum, optTunCsum, optTunRemCsum}
	tunnelTypesVOptions = [...]string{
		lvs.TunIPIP: "xxxx",
		lvs.TunGUE:  "+111",
		lvs.TunGRE:  "x11x",
	}
)

// Forwarding methods as IP_VS_CONN_F_* values.
const (
	connMasq      = 0
	connLocalNode = 1
	connTunnel    = 2
	connDRoute    = 3
)

// IP protocol numbers of virtual services.
const (
	protoTCP  = 6
	protoUDP  = 17
	protoSCTP = 132
)

// Address families as ipvsadm stores them.
const (
	afUnspec = 0
	afInet   = 2
	afInet6  = 10
)

// Listing format bits (ipvsadm's FMT_*).
const (
	fmtNumeric = 1 << iota
	fmtRule
	fmtStats
	fmtRate
	fmtThresholds
	fmtPersistentConn
	fmtNoSort
	fmtExact
	fmtTunInfo
)

const (
	maxTimeout        = int64(lvs.MaxPersistence / time.Second)   // ipvsadm's MAX_TIMEOUT
	persistentTimeout = int(lvs.DefaultPersistence / time.Second) // IPVS_SVC_PERSISTENT_TIMEOUT
	schedNameMax      = 16 - 1                                    // IP_VS_SCHEDNAME_MAXLEN - 1
	ifNameMax         = 16 - 1                                    // IP_VS_IFNAME_MAXLEN - 1
	peNameMax         = 16                                        // IP_VS_PENAME_MAXLEN
)

// service is the virtual service a command line describes (ipvs_service_t).
type service struct {
	af         int
	protocol   int
	addr       netip.Addr
	port       uint16
	fwmark     uint32
	sched      string
	persistent bool
	timeout    int
	netmask    uint32
	onePacket  bool
	pe         string
	schedFlags lvs.SchedFlags
}

// dest is the real server a command line describes (ipvs_dest_t).
type dest struct {
	af       int
	addr     netip.Addr
	port     uint16
	method   int
	weight   int
	uThresh  int
	lThresh  int
	tunType  lvs.TunnelType
	tunPort  int
	tunFlags lvs.TunnelFlags
}

// request is a parsed and checked command line (ipvsadm's
// ipvs_command_entry plus its option and format bits).
type request struct {
	cmd     command
	help    bool
	version bool
	options uint64
	format  int
	svc     service
	dest    dest
	// timeouts are --set's tcp, tcpfin and udp values in seconds.
	timeouts [3]int

	// refused lists, in command-line order, the commands and options golvs
	// parses (so that ipvsadm's checks still apply) but does not carry out.
	refused []int
}

func (r *request) has(opt int) bool { return r.options&(1<<opt) != 0 }

// exitError ends lvsadm with status after printing msg (if any) and a
// newline on stderr.
type exitError struct {
	status int
	msg    string
}

func (e *exitError) Error() string { return e.msg }

// fail is ipvsadm's fail(2, ...).
func fail(format string, args ...any) error {
	return &exitError{status: 2, msg: fmt.Sprintf(format, args...)}
}

func tryHelp(prog string) error {
	return &exitError{status: 255, msg: fmt.Sprintf("Try `%s -h' or '%s --help' for more information.", prog, prog)}
}

// Why golvs refuses the commands and options it parses but does not carry
// out.
const (
	whyFwmark = "firewall marks are set by netfilter after golvs's data plane has seen the packet (TC ingress); use -t/-u services"
	whySCTP   = "SCTP services are not supported by golvs yet"
	whyPE     = "the SIP persistence engine is not built in golvs"
	whySync   = "connection synchronisation (the sync daemon) is not built in golvs"
)

// refusals maps each command or option golvs refuses to the reason it
// gives; every other one is carried out. (-6 needs an -f before it, which
// is refused first.)
var refusals = map[int]string{
	'f':                  whyFwmark,
	tagSCTPService:       whySCTP,
	tagPersistenceEngine: whyPE,
	tagStartDaemon:       whySync,
	tagStopDaemon:        whySync,
	tagDaemon:            whySync,
	tagMcastInterface:    whySync,
	'I':                  whySync,
	tagMcastGroup:        whySync,
	tagMcastPort:         whySync,
	tagMcastTTL:          whySync,
	tagSyncMaxlen:        whySync,
}

// refusal is the error for the first refused command or option of r, or
// nil: "lvsadm: -f (--fwmark-service): <why>", exit status 2.
func (r *request) refusal(prog string) error {
	if len(r.refused) == 0 {
		return nil
	}
	c := r.refused[0]
	return &exitError{status: 2, msg: fmt.Sprintf("%s: %s: %s", filepath.Base(prog), optionName(c), refusals[c])}
}

// optionName names an option as the user may write it: "-p (--persistent)"
// or "--rate".
func optionName(val int) string {
	for _, o := range poptOptions {
		if o.val != val {
			continue
		}
		if o.short != 0 {
			return fmt.Sprintf("-%c (--%s)", o.short, o.long)
		}
		return "--" + o.long
	}
	return fmt.Sprintf("%q", rune(val))
}

// parseArgs parses and checks a command line exactly as ipvsadm 1.31's
// parse_options and process_options do, in the same order, so that the
// first error reported is ipvsadm's.
func parseArgs(argv []string, nm names) (*request, error) {
	prog := argv[0]
	r := &request{}
	r.dest.weight = 1
	r.dest.method = connDRoute
	r.svc.netmask = 0xffffffff

	p := newPopt(argv)
	c, arg, _ := p.nextOpt()
	if c < 0 {
		return nil, tryHelp(prog)
	}
	switch c {
	case 'A':
		r.cmd = cmdAdd
	case 'E':
		r.cmd = cmdEdit
	case 'D':
		r.cmd = cmdDel
	case 'a':
		r.cmd = cmdAddDest
	case 'e':
		r.cmd = cmdEditDest
	case 'd':
		r.cmd = cmdDelDest
	case 'C':
		r.cmd = cmdFlush
	case 'L', 'l':
		r.cmd = cmdList
	case 'Z':
		r.cmd = cmdZero
	case tagSet:
		r.cmd = cmdTimeout
	case 'R':
		r.cmd = cmdRestore
	case 'S':
		r.cmd = cmdSave
	case tagStartDaemon, tagStopDaemon:
		r.cmd = cmdStartDaemon
		if c == tagStopDaemon {
			r.cmd = cmdStopDaemon
		}
		if arg != "master" && arg != "backup" {
			if c == tagStartDaemon {
				return nil, fail("illegal start-daemon parameter specified")
			}
			return nil, fail("illegal start_daemon specified")
		}
	case 'h':
		r.help = true
		return r, nil
	case 'v':
		r.version = true
		return r, nil
	default:
		return nil, tryHelp(prog)
	}
	if _, ok := refusals[c]; ok {
		r.refused = append(r.refused, c)
	}

	var schedFlagsArg string
	for {
		var hasArg bool
		c, arg, hasArg = p.nextOpt()
		if c < 0 {
			break
		}
		if err := r.option(c, arg, hasArg, nm, &schedFlagsArg); err != nil {
			if err == errInvalidOption {
				return nil, fail("invalid option `%s'", p.badOption())
			}
			return nil, err
		}
		if _, ok := refusals[c]; ok {
			r.refused = append(r.refused, c)
		}
	}
	if c < poptEnd {
		return nil, &exitError{status: 255, msg: fmt.Sprintf("%s: %s", p.badOption(), poptStrerror(c))}
	}

	if r.cmd == cmdTimeout {
		var vals [3]string
		for i := range vals {
			v, ok := p.leftover()
			if !ok {
				return nil, fail("--set option requires 3 timeout values")
			}
			vals[i] = v
		}
		for i, v := range vals {
			t, err := parseTimeout(v, true, 0, maxTimeout)
			if err != nil {
				return nil, err
			}
			r.timeouts[i] = t
		}
	}
	if w, ok := p.leftover(); ok {
		return nil, fail("unexpected argument %s", w)
	}
	if schedFlagsArg != "" {
		flags, err := parseSchedFlags(r.svc.sched, schedFlagsArg)
		if err != nil {
			return nil, err
		}
		r.svc.schedFlags = flags
	}

	if err := genericOptCheck(r.cmd, r.options); err != nil {
		return nil, err
	}
	if r.cmd == cmdAdd || r.cmd == cmdEdit {
		if r.svc.fwmark == 0 && r.svc.port == 0 && !r.svc.persistent {
			return nil, fail("Zero port specified for non-persistent service")
		}
		if r.svc.onePacket && r.svc.fwmark == 0 && r.svc.protocol != protoUDP {
			return nil, fail("One-Packet Scheduling is only for UDP virtual services")
		}
		if r.svc.sched == "" {
			r.svc.sched = lvs.DefaultScheduler
		}
	}
	if r.cmd == cmdAddDest || r.cmd == cmdEditDest {
		// DR and TUN cannot change the port; ipvsadm silently makes it the
		// service's (ipvsadm.c process_options).
		if r.svc.fwmark == 0 && (r.dest.method == connTunnel || r.dest.method == connDRoute) {
			r.dest.port = r.svc.port
		}
		if r.dest.af != r.svc.af && r.dest.method != connTunnel {
			return nil, fail("Different address family is allowed only for tunneling servers")
		}
		tunBits := uint64(1)<<optTunType | 1<<optTunPort | 1<<optTunNoCsum | 1<<optTunCsum | 1<<optTunRemCsum
		if r.options&tunBits != 0 && r.dest.method != connTunnel {
			return nil, fail("Tunnel options conflict with forward method")
		}
		if err := tunnelOptCheck(r.dest.tunType, r.options); err != nil {
			return nil, err
		}
	}
	if r.cmd == cmdList {
		if (r.has(optConnection) || r.has(optTimeout) || r.has(optDaemon)) &&
			(r.has(optStats) || r.has(optRate) || r.has(optThresholds)) ||
			(r.has(optTimeout) || r.has(optDaemon)) && r.has(optPersistentConn) {
			return nil, fail("options conflicts in the list command")
		}
	}
	return r, nil
}

// errInvalidOption reports a known option that ipvsadm's option loop does
// not take (a second command, -h, -v).
var errInvalidOption = errors.New("invalid option")

// setOption is ipvsadm's set_option.
func (r *request) setOption(opt int) error {
	if r.has(opt) {
		return fail("multiple '%s' options specified", optNames[opt])
	}
	r.options |= 1 << opt
	return nil
}

// option handles one option after the command, as the switch in ipvsadm's
// parse_options loop does.
func (r *request) option(c int, arg string, hasArg bool, nm names, schedFlagsArg *string) error {
	bit := -1
	switch c {
	case 't', 'u', tagSCTPService, 'f':
		bit = optService
	case 's':
		bit = optScheduler
	case 'p':
		bit = optPersistent
	case 'M':
		bit = optNetmask
	case 'r':
		bit = optServer
	case 'i', 'g', 'm':
		bit = optForward
	case 'w':
		bit = optWeight
	case 'x':
		bit = optUThreshold
	case 'y':
		bit = optLThreshold
	case 'c':
		bit = optConnection
	case 'n':
		bit = optNumeric
	case tagMcastInterface:
		bit = optMcast
	case 'I':
		bit = optSyncID
	case tagTimeout:
		bit = optTimeout
	case tagDaemon:
		bit = optDaemon
	case tagStats:
		bit = optStats
	case tagRate:
		bit = optRate
	case tagThresholds:
		bit = optThresholds
	case tagPersistentConn:
		bit = optPersistentConn
	case tagNoSort:
		bit = optNoSort
	case 'X':
		bit = optExact
	case 'o':
		bit = optOnePacket
	case tagPersistenceEngine:
		bit = optPersistenceEngine
	case 'b':
		bit = optSchedFlags
	case tagMcastGroup:
		bit = optMcastGroup
	case tagMcastPort:
		bit = optMcastPort
	case tagMcastTTL:
		bit = optMcastTTL
	case tagSyncMaxlen:
		bit = optSyncMaxlen
	case tagTunInfo:
		bit = optTunInfo
	case tagTunType:
		bit = optTunType
	case tagTunPort:
		bit = optTunPort
	case tagTunNoCsum:
		bit = optTunNoCsum
	case tagTunCsum:
		bit = optTunCsum
	case tagTunRemCsum:
		bit = optTunRemCsum
	case tagSort, '6':
		// no option bit
	default:
		return errInvalidOption
	}
	if bit >= 0 {
		if err := r.setOption(bit); err != nil {
			return err
		}
	}

	switch c {
	case 't', 'u', tagSCTPService:
		r.svc.protocol = map[int]int{'t': protoTCP, 'u': protoUDP, tagSCTPService: protoSCTP}[c]
		res := parseService(arg, &r.svc.af, &r.svc.addr, &r.svc.port, r.svc.protocol, nm)
		if res&serviceAddr == 0 {
			return fail("illegal virtual server address[:port] specified")
		}
		if r.svc.af == afInet6 {
			r.svc.netmask = 128
		}
	case 'f':
		r.svc.af = afInet
		r.svc.protocol = protoTCP
		n, used, overflow := strtol10(arg)
		if used == 0 || used != len(arg) || overflow || n <= 0 || n > 0xffffffff {
			return fail("invalid fwmark value `%s' specified", arg)
		}
		r.svc.fwmark = uint32(n)
	case 's':
		r.svc.sched = truncate(arg, schedNameMax)
	case 'p':
		r.svc.persistent = true
		t, err := parseTimeout(arg, hasArg, 1, maxTimeout)
		if err != nil {
			return err
		}
		r.svc.timeout = t
	case 'M':
		if r.svc.af != afInet6 {
			a, ok := inetAton(arg)
			if !ok {
				a, ok = nm.hostAddr(arg)
			}
			if !ok {
				return fail("illegal virtual server persistent mask specified")
			}
			b := a.As4()
			r.svc.netmask = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		} else {
			// The int goes into ipvs_service_t's __u32 netmask before the
			// check, so a negative number is huge and a wrapped one counts.
			n := uint32(atoi(arg))
			if n < 1 || n > 128 {
				return fail("illegal ipv6 netmask specified")
			}
			r.svc.netmask = n
		}
	case 'r':
		// ipvsadm parses into a copy of the service, so the address family
		// and port default to the service's as parsed so far.
		af, addr, port := r.svc.af, r.svc.addr, r.svc.port
		res := parseService(arg, &af, &addr, &port, r.svc.protocol, nm)
		r.dest.af, r.dest.addr, r.dest.port = af, addr, port
		if res&serviceAddr == 0 {
			return fail("illegal real server address[:port] specified")
		}
		if res == serviceAddr {
			r.dest.port = r.svc.port
		}
	case 'i':
		r.dest.method = connTunnel
	case 'g':
		r.dest.method = connDRoute
	case 'm':
		r.dest.method = connMasq
	case 'w':
		n := stringToNumber(arg, 0, math.MaxInt32)
		if n == -1 {
			return fail("illegal weight specified")
		}
		r.dest.weight = int(n)
	case 'x':
		n := stringToNumber(arg, 0, 1<<31-1)
		if n == -1 {
			return fail("illegal u_threshold specified")
		}
		r.dest.uThresh = int(n)
	case 'y':
		n := stringToNumber(arg, 0, 1<<31-1)
		if n == -1 {
			return fail("illegal l_threshold specified")
		}
		r.dest.lThresh = int(n)
	case 'n':
		r.format |= fmtNumeric
	case 'I':
		if stringToNumber(arg, 0, 255) == -1 {
			return fail("illegal syncid specified")
		}
	case tagStats:
		r.format |= fmtStats
	case tagRate:
		r.format |= fmtRate
	case tagThresholds:
		r.format |= fmtThresholds
	case tagPersistentConn:
		r.format |= fmtPersistentConn
	case tagNoSort:
		r.format |= fmtNoSort
	case 'X':
		r.format |= fmtExact
	case tagTunInfo:
		r.format |= fmtTunInfo
	case '6':
		if r.svc.fwmark == 0 {
			// ipvsadm's message ends in a newline of its own.
			return fail("-6 used before -f\n")
		}
		r.svc.af = afInet6
		r.svc.netmask = 128
	case 'o':
		r.svc.onePacket = true
	case tagPersistenceEngine:
		r.svc.pe = truncate(arg, peNameMax)
	case 'b':
		*schedFlagsArg = truncate(arg, 127)
	case tagMcastGroup:
		if strings.Contains(arg, ":") {
			if a, ok := inetPton6(arg); !ok || !a.IsMulticast() {
				return fail("invalid IPv6 mcast-group `%s'", arg)
			}
		} else if a, ok := inetPton4(arg); !ok || !a.IsMulticast() {
			return fail("invalid IPv4 mcast-group `%s'", arg)
		}
	case tagMcastPort:
		if stringToNumber(arg, 1, 65535) == -1 {
			return fail("illegal mcast-port specified")
		}
	case tagMcastTTL:
		if stringToNumber(arg, 1, 255) == -1 {
			return fail("illegal mcast-ttl specified")
		}
	case tagSyncMaxlen:
		if stringToNumber(arg, 1, 65535-20-8) == -1 {
			return fail("illegal sync-maxlen specified")
		}
	case tagTunType:
		t, err := lvs.ParseTunnelType(arg)
		if err != nil {
			return fail("illegal tunnel type specified")
		}
		r.dest.tunType = t
	case tagTunPort:
		n := stringToNumber(arg, 1, 65535)
		if n == -1 {
			return fail("illegal tunnel port specified")
		}
		r.dest.tunPort = int(n)
	case tagTunCsum:
		r.dest.tunFlags |= lvs.TunCsum
	case tagTunRemCsum:
		r.dest.tunFlags |= lvs.TunRemCsum
	}
	return nil
}

// parseTimeout is ipvsadm's parse_timeout; a missing argument (only -p can
// have one) means the default persistence timeout.
func parseTimeout(s string, given bool, min, max int64) (int, error) {
	if !given {
		return persistentTimeout, nil
	}
	n := stringToNumber(s, min, max)
	if n == -1 {
		return 0, fail("invalid timeout value `%s' specified", s)
	}
	return int(n), nil
}

// parseSchedFlags is ipvsadm's parse_sched_flags, run after all options
// against the final scheduler (wlc when -s is absent).
func parseSchedFlags(scheduler, arg string) (lvs.SchedFlags, error) {
	if scheduler == "" {
		scheduler = lvs.DefaultScheduler
	}
	var flags lvs.SchedFlags
	// strtok skips empty fields. (ipvsadm crashes when there are none at
	// all, as in -b ","; here that is no flags.)
	for _, f := range strings.Split(arg, ",") {
		if f == "" {
			continue
		}
		flag, err := sched.ParseFlag(scheduler, f)
		switch {
		case errors.Is(err, sched.ErrOtherFlag):
			return 0, fail("incompatible scheduler flag `%s'", f)
		case err != nil:
			return 0, fail("invalid scheduler flag `%s'", f)
		}
		flags |= flag
	}
	return flags, nil
}

// genericOptCheck is ipvsadm's generic_opt_check: the first violation of
// commandsVOptions, scanning the options left to right.
func genericOptCheck(cmd command, options uint64) error {
	row := commandsVOptions[cmd-1]
	count, last := 0, 0
	for j := 0; j < numOpts; j++ {
		if options&(1<<j) == 0 {
			if row[j] == '+' {
				return fail("You need to supply the '%s' option for the '%s' command", optNames[j], cmd)
			}
			continue
		}
		switch row[j] {
		case 'x':
			return fail("Illegal '%s' option with the '%s' command", optNames[j], cmd)
		case '1':
			count++
			if count == 1 {
				last = j
				continue
			}
			return fail("The option '%s' conflicts with the '%s' option in the '%s' command", optNames[j], optNames[last], cmd)
		}
	}
	return nil
}

// tunnelOptCheck is ipvsadm's tunnel_opt_check.
func tunnelOptCheck(tunType lvs.TunnelType, options uint64) error {
	row := tunnelTypesVOptions[tunType]
	count, last := 0, 0
	for j, k := range tunOpts {
		if options&(1<<k) == 0 {
			if row[j] == '+' {
				return fail("You need to supply the '%s' option for the '%s' tunnel type", optNames[k], tunType)
			}
			continue
		}
		switch row[j] {
		case 'x':
			return fail("Illegal '%s' option with the '%s' tunnel type", optNames[k], tunType)
		case '1':
			count++
			if count == 1 {
				last = k
				continue
			}
			return fail("The option '%s' conflicts with the '%s' option in the '%s' tunnel type", optNames[k], optNames[last], tunType)
		}
	}
	return nil
}

// parse_service result bits.
const (
	serviceAddr = 1 << iota
	servicePort
)

// parseService is ipvsadm's parse_service: "[v6]:port", a bare IPv6
// address (no port), or host[:port] where host is anything inet_aton takes
// or an IPv4 host name, and port a number or a service name for proto. It
// updates af, addr and port as far as it gets, like the C code.
func parseService(s string, af *int, addr *netip.Addr, port *uint16, proto int, nm names) int {
	if strIsDigit(s) {
		return 0
	}
	buf := s
	portStr, hasPort := "", false
	if strings.HasPrefix(buf, "[") {
		buf = buf[1:]
		i := strings.IndexByte(buf, ']')
		if i < 0 {
			return 0
		}
		after := buf[i+1:]
		buf = buf[:i]
		if !strings.HasPrefix(after, ":") {
			return 0
		}
		portStr, hasPort = after[1:], true
	}
	if a, ok := inetPton6(buf); ok {
		*addr, *af = a, afInet6
	} else {
		// The port is whatever follows the last colon of what is left, so
		// "[198.18.0.1]:80" has no port.
		portStr, hasPort = "", false
		if i := strings.LastIndexByte(buf, ':'); i >= 0 {
			buf, portStr, hasPort = buf[:i], buf[i+1:], true
		}
		a, ok := inetAton(buf)
		if !ok {
			a, ok = nm.hostAddr(buf)
		}
		if !ok {
			return 0
		}
		*addr, *af = a, afInet
	}
	res := serviceAddr
	if hasPort {
		res |= servicePort
		if n := stringToNumber(portStr, 0, 65535); n != -1 {
			*port = uint16(n)
		} else if pn, ok := servicePortByName(portStr, proto, nm); ok {
			*port = pn
		} else {
			return 0
		}
	}
	return res
}

func servicePortByName(name string, proto int, nm names) (uint16, bool) {
	p := protoName(proto)
	if p == "" {
		return 0, false
	}
	return nm.port(name, p)
}

// protoName is the protocol's name in /etc/services.
func protoName(proto int) string {
	switch proto {
	case protoTCP:
		return "tcp"
	case protoUDP:
		return "udp"
	case protoSCTP:
		return "sctp"
	}
	return ""
}

// truncate is strncpy into a buffer of n bytes plus a terminator.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
