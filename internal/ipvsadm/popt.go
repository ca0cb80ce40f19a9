package ipvsadm

import "strings"

// popt error codes, as libpopt numbers them (popt.h).
const (
	poptEnd            = -1
	poptErrNoArg       = -10
	poptErrBadOpt      = -11
	poptErrUnwantedArg = -12
)

// poptStrerror returns libpopt's text for a poptErr* code.
func poptStrerror(code int) string {
	switch code {
	case poptErrNoArg:
		return "missing argument"
	case poptErrBadOpt:
		return "unknown option"
	case poptErrUnwantedArg:
		return "option does not take an argument"
	}
	return "unknown error"
}

// poptOption is one row of ipvsadm's poptOption table.
type poptOption struct {
	long     string
	short    byte // 0: long only
	arg      bool // POPT_ARG_STRING rather than POPT_ARG_NONE
	optional bool // POPT_ARGFLAG_OPTIONAL
	val      int
}

// Values of the options that have no short name (ipvsadm's TAG_* enum).
// Options with a short name use that character.
const (
	tagSet = 128 + iota
	tagStartDaemon
	tagStopDaemon
	tagMcastInterface
	tagTimeout
	tagDaemon
	tagStats
	tagRate
	tagThresholds
	tagPersistentConn
	tagSort
	tagNoSort
	tagPersistenceEngine
	tagSCTPService
	tagMcastGroup
	tagMcastPort
	tagMcastTTL
	tagSyncMaxlen
	tagTunInfo
	tagTunType
	tagTunPort
	tagTunNoCsum
	tagTunCsum
	tagTunRemCsum
)

// poptOptions is ipvsadm 1.31's option table, in its order (popt takes the
// first match).
var poptOptions = []poptOption{
	{long: "add-service", short: 'A', val: 'A'},
	{long: "edit-service", short: 'E', val: 'E'},
	{long: "delete-service", short: 'D', val: 'D'},
	{long: "clear", short: 'C', val: 'C'},
	{long: "list", short: 'L', val: 'L'},
	{long: "list", short: 'l', val: 'l'},
	{long: "zero", short: 'Z', val: 'Z'},
	{long: "add-server", short: 'a', val: 'a'},
	{long: "edit-server", short: 'e', val: 'e'},
	{long: "delete-server", short: 'd', val: 'd'},
	{long: "set", val: tagSet},
	{long: "help", short: 'h', val: 'h'},
	{long: "version", short: 'v', val: 'v'},
	{long: "restore", short: 'R', val: 'R'},
	{long: "save", short: 'S', val: 'S'},
	{long: "start-daemon", arg: true, val: tagStartDaemon},
	{long: "stop-daemon", arg: true, val: tagStopDaemon},
	{long: "tcp-service", short: 't', arg: true, val: 't'},
	{long: "udp-service", short: 'u', arg: true, val: 'u'},
	{long: "sctp-service", arg: true, val: tagSCTPService},
	{long: "fwmark-service", short: 'f', arg: true, val: 'f'},
	{long: "scheduler", short: 's', arg: true, val: 's'},
	{long: "persistent", short: 'p', arg: true, optional: true, val: 'p'},
	{long: "netmask", short: 'M', arg: true, val: 'M'},
	{long: "real-server", short: 'r', arg: true, val: 'r'},
	{long: "masquerading", short: 'm', val: 'm'},
	{long: "ipip", short: 'i', val: 'i'},
	{long: "gatewaying", short: 'g', val: 'g'},
	{long: "weight", short: 'w', arg: true, val: 'w'},
	{long: "u-threshold", short: 'x', arg: true, val: 'x'},
	{long: "l-threshold", short: 'y', arg: true, val: 'y'},
	{long: "numeric", short: 'n', val: 'n'},
	{long: "connection", short: 'c', val: 'c'},
	{long: "mcast-interface", arg: true, val: tagMcastInterface},
	// --syncid has no short option, but its value is 'I'.
	{long: "syncid", arg: true, val: 'I'},
	{long: "timeout", val: tagTimeout},
	{long: "daemon", val: tagDaemon},
	{long: "stats", val: tagStats},
	{long: "rate", val: tagRate},
	{long: "thresholds", val: tagThresholds},
	{long: "persistent-conn", val: tagPersistentConn},
	{long: "nosort", val: tagNoSort},
	{long: "sort", val: tagSort},
	{long: "exact", short: 'X', val: 'X'},
	{long: "ipv6", short: '6', val: '6'},
	{long: "ops", short: 'o', val: 'o'},
	{long: "pe", arg: true, val: tagPersistenceEngine},
	{long: "sched-flags", short: 'b', arg: true, val: 'b'},
	{long: "mcast-group", arg: true, val: tagMcastGroup},
	{long: "mcast-port", arg: true, val: tagMcastPort},
	{long: "mcast-ttl", arg: true, val: tagMcastTTL},
	{long: "sync-maxlen", arg: true, val: tagSyncMaxlen},
	{long: "tun-info", val: tagTunInfo},
	{long: "tun-type", arg: true, val: tagTunType},
	{long: "tun-port", arg: true, val: tagTunPort},
	{long: "tun-nocsum", val: tagTunNoCsum},
	{long: "tun-csum", val: tagTunCsum},
	{long: "tun-remcsum", val: tagTunRemCsum},
}

// popt walks an argument vector the way libpopt's poptGetNextOpt does with
// ipvsadm's table and no context flags: bundled short options ("-Ln"), the
// rest of a bundle as an argument ("-t1.2.3.4:80", "-t=...", one '='
// skipped), a '=' after an option without argument refused, "--name=value",
// words that are not options collected as leftovers anywhere on the line,
// "--" ending the options, and -p's optional argument, which is only taken
// when the next word does not start with '-'.
type popt struct {
	argv []string // argv[0] is the program name
	next int

	// nextChar is the unread rest of a bundle of short options; hasChar
	// tells an empty rest (left by "-n=") from none.
	nextChar string
	hasChar  bool

	restLeftover bool
	leftovers    []string
}

func newPopt(argv []string) *popt { return &popt{argv: argv, next: 1} }

// nextOpt returns the next option's value and argument (hasArg is false when
// an optional argument was not given), poptEnd when the words run out, or a
// poptErr* code.
func (p *popt) nextOpt() (val int, arg string, hasArg bool) {
	for {
		if !p.hasChar && p.next >= len(p.argv) {
			return poptEnd, "", false
		}
		var (
			opt     *poptOption
			longArg string
			hasLong bool
		)
		if !p.hasChar {
			word := p.argv[p.next]
			p.next++
			if p.restLeftover || !strings.HasPrefix(word, "-") || word == "-" {
				p.leftovers = append(p.leftovers, word)
				continue
			}
			if word == "--" {
				p.restLeftover = true
				continue
			}
			name, oneDash := word[1:], true
			if strings.HasPrefix(name, "-") {
				name, oneDash = name[1:], false
			}
			if i := strings.IndexByte(name, '='); i >= 0 {
				name, longArg, hasLong = name[:i], name[i+1:], true
			}
			// ipvsadm has no POPT_ARGFLAG_ONEDASH options, so a single dash
			// always starts a bundle of short options.
			if !oneDash {
				opt = findLong(name)
				if opt == nil {
					return poptErrBadOpt, "", false
				}
			} else {
				p.nextChar, p.hasChar = word[1:], true
				longArg, hasLong = "", false
			}
		}
		if p.hasChar {
			rest := p.nextChar
			p.nextChar, p.hasChar = "", false
			if rest == "" {
				return poptErrBadOpt, "", false
			}
			opt = findShort(rest[0])
			if opt == nil {
				return poptErrBadOpt, "", false
			}
			// The rest of the bundle stays as it is: an option that takes
			// an argument skips one '=' before it below, and for one that
			// takes none a '=' is an unwanted argument (Debian's libpopt
			// 1.19, as the differential test's goldens show: "-w==5" is
			// the weight "=5", "-n=1" is refused).
			if rest = rest[1:]; rest != "" {
				p.nextChar, p.hasChar = rest, true
			}
		}
		if !opt.arg {
			if hasLong || (p.hasChar && strings.HasPrefix(p.nextChar, "=")) {
				return poptErrUnwantedArg, "", false
			}
			return opt.val, "", false
		}
		switch {
		case hasLong:
			return opt.val, longArg, true
		case p.hasChar:
			a := strings.TrimPrefix(p.nextChar, "=")
			p.nextChar, p.hasChar = "", false
			return opt.val, a, true
		case p.next >= len(p.argv):
			if !opt.optional {
				return poptErrNoArg, "", false
			}
			return opt.val, "", false
		case opt.optional && strings.HasPrefix(p.argv[p.next], "-"):
			return opt.val, "", false
		default:
			a := p.argv[p.next]
			p.next++
			return opt.val, a, true
		}
	}
}

// badOption returns the word popt blames for an error: the last one it read
// (poptBadOption), which for a bundle is the whole bundle and for an option
// that took the next word as its argument is that argument.
func (p *popt) badOption() string {
	if p.next-1 < 0 || p.next-1 >= len(p.argv) {
		return ""
	}
	return p.argv[p.next-1]
}

// leftover returns the next word that was not an option.
func (p *popt) leftover() (string, bool) {
	if len(p.leftovers) == 0 {
		return "", false
	}
	w := p.leftovers[0]
	p.leftovers = p.leftovers[1:]
	return w, true
}

func findLong(name string) *poptOption {
	for i := range poptOptions {
		if poptOptions[i].long == name {
			return &poptOptions[i]
		}
	}
	return nil
}

func findShort(c byte) *poptOption {
	if c == 0 {
		return nil
	}
	for i := range poptOptions {
		if poptOptions[i].short == c {
			return &poptOptions[i]
		}
	}
	return nil
}
