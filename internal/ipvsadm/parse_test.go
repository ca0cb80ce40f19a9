package ipvsadm

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const tryHelpLine = "Try `lvsadm -h' or 'lvsadm --help' for more information.\n"

// TestUsageErrors checks ipvsadm's messages and statuses for command lines
// it refuses, and that nothing reaches lvsd for them.
func TestUsageErrors(t *testing.T) {
	const vip = "198.18.0.10:80"
	tests := []struct {
		name   string
		args   string // split on spaces; "''" is an empty word
		stderr string
		status int
	}{
		// Command first (popt, tryhelp_exit).
		{"option before command", "-t " + vip + " -A", tryHelpLine, 255},
		{"only words", "foo bar", tryHelpLine, 255},
		{"unknown first option", "--foo", tryHelpLine, 255},
		{"first option misses its argument", "--start-daemon", tryHelpLine, 255},
		{"unknown short first option", "-q", tryHelpLine, 255},

		// popt errors after the command.
		{"unknown long option", "-L --foo", "--foo: unknown option\n", 255},
		{"unknown option in a bundle", "-Lq", "-Lq: unknown option\n", 255},
		{"unknown option after good ones", "-L -n -q", "-q: unknown option\n", 255},
		{"missing argument", "-A -t", "-t: missing argument\n", 255},
		{"missing argument in a bundle", "-At", "-At: missing argument\n", 255},
		{"missing argument long", "-A --tcp-service", "--tcp-service: missing argument\n", 255},
		{"flag given a value", "-L --numeric=1", "--numeric=1: option does not take an argument\n", 255},
		{"value errors come first", "-A -t 80 --foo", "illegal virtual server address[:port] specified\n", 2},
		{"popt error before leftovers", "-A foo -t", "-t: missing argument\n", 255},

		// Second command, -h, -v after the command.
		{"second command", "-A -t " + vip + " -D", "invalid option `-D'\n", 2},
		{"second command bundled", "-LA", "invalid option `-LA'\n", 2},
		{"help after command", "-L -h", "invalid option `-h'\n", 2},
		{"version after command", "-L --version", "invalid option `--version'\n", 2},
		{"daemon command after command blames its argument", "-L --start-daemon master", "invalid option `master'\n", 2},

		// Values.
		{"numeric-only service", "-A -t 80", "illegal virtual server address[:port] specified\n", 2},
		{"empty service", "-A -t ''", "illegal virtual server address[:port] specified\n", 2},
		{"unknown host", "-A -t nosuchhost.invalid:80", "illegal virtual server address[:port] specified\n", 2},
		{"unknown port name", "-A -t 198.18.0.10:nosuchport", "illegal virtual server address[:port] specified\n", 2},
		{"udp-only port name for tcp", "-A -t 198.18.0.10:sip", "illegal virtual server address[:port] specified\n", 2},
		{"port too large", "-A -t 198.18.0.10:65536", "illegal virtual server address[:port] specified\n", 2},
		{"empty port", "-A -t 198.18.0.10:", "illegal virtual server address[:port] specified\n", 2},
		{"bracket without port", "-A -t [2001:db8::1]", "illegal virtual server address[:port] specified\n", 2},
		{"bracket without colon", "-A -t [2001:db8::1]80", "illegal virtual server address[:port] specified\n", 2},
		{"unclosed bracket", "-A -t [2001:db8::1:80", "illegal virtual server address[:port] specified\n", 2},
		{"octal 8", "-A -t 198.18.0.08:80", "illegal virtual server address[:port] specified\n", 2},
		{"bad real server", "-a -t " + vip + " -r 198.18.1.300", "illegal real server address[:port] specified\n", 2},
		{"real port name needs the service protocol", "-a -r 198.18.1.1:http -t " + vip, "illegal real server address[:port] specified\n", 2},
		{"weight too large", "-a -t " + vip + " -r 198.18.1.1 -w 2147483648", "illegal weight specified\n", 2},
		{"weight negative", "-a -t " + vip + " -r 198.18.1.1 -w -1", "illegal weight specified\n", 2},
		{"weight not a number", "-a -t " + vip + " -r 198.18.1.1 -w 1x", "illegal weight specified\n", 2},
		{"weight empty", "-a -t " + vip + " -r 198.18.1.1 -w ''", "illegal weight specified\n", 2},
		{"u-threshold", "-a -t " + vip + " -r 198.18.1.1 -x 2147483648", "illegal u_threshold specified\n", 2},
		{"l-threshold", "-a -t " + vip + " -r 198.18.1.1 -y a", "illegal l_threshold specified\n", 2},
		{"persistence timeout 0", "-A -t " + vip + " -p 0", "invalid timeout value `0' specified\n", 2},
		{"persistence timeout too long", "-A -t " + vip + " -p 2678401", "invalid timeout value `2678401' specified\n", 2},
		{"persistence timeout empty", "-A -t " + vip + " -p ''", "invalid timeout value `' specified\n", 2},
		{"fwmark 0", "-A -f 0", "invalid fwmark value `0' specified\n", 2},
		{"fwmark too large", "-A -f 4294967296", "invalid fwmark value `4294967296' specified\n", 2},
		{"bad netmask", "-A -t " + vip + " -p -M 255.255.255.256", "illegal virtual server persistent mask specified\n", 2},
		{"bad ipv6 netmask", "-A -t [2001:db8::1]:80 -p -M 129", "illegal ipv6 netmask specified\n", 2},
		{"ipv6 netmask wraps to zero", "-A -t [2001:db8::1]:80 -p -M 4294967296", "illegal ipv6 netmask specified\n", 2},
		{"ipv6 netmask overflows a long", "-A -t [2001:db8::1]:80 -p -M 99999999999999999999", "illegal ipv6 netmask specified\n", 2},
		{"weight after two =", "-a -t " + vip + " -r 198.18.1.1 -w==5", "illegal weight specified\n", 2},
		{"= after an option without argument", "-a -t " + vip + " -r 198.18.1.1 -m=", "-m=: option does not take an argument\n", 255},
		{"= after the command", "-L=n", "Try `lvsadm -h' or 'lvsadm --help' for more information.\n", 255},
		{"= after -n", "-Ln=1", "-Ln=1: option does not take an argument\n", 255},
		{"-6 without -f", "-A -t " + vip + " -6", "-6 used before -f\n\n", 2},
		{"start-daemon parameter", "--start-daemon primary", "illegal start-daemon parameter specified\n", 2},
		{"stop-daemon parameter", "--stop-daemon primary", "illegal start_daemon specified\n", 2},
		{"syncid", "--start-daemon master --syncid 256", "illegal syncid specified\n", 2},
		{"mcast group v4", "--start-daemon master --mcast-group 198.18.0.1", "invalid IPv4 mcast-group `198.18.0.1'\n", 2},
		{"mcast group v6", "--start-daemon master --mcast-group 2001:db8::1", "invalid IPv6 mcast-group `2001:db8::1'\n", 2},
		{"mcast port", "--start-daemon master --mcast-port 0", "illegal mcast-port specified\n", 2},
		{"mcast ttl", "--start-daemon master --mcast-ttl 256", "illegal mcast-ttl specified\n", 2},
		{"sync maxlen", "--start-daemon master --sync-maxlen 65508", "illegal sync-maxlen specified\n", 2},
		{"tunnel type", "-a -t " + vip + " -r 198.18.1.1 -i --tun-type vxlan", "illegal tunnel type specified\n", 2},
		{"tunnel port", "-a -t " + vip + " -r 198.18.1.1 -i --tun-port 0", "illegal tunnel port specified\n", 2},
		{"tunnel port too large", "-a -t " + vip + " -r 198.18.1.1 -i --tun-type gue --tun-port 65536", "illegal tunnel port specified\n", 2},
		{"tunnel port not a number", "-a -t " + vip + " -r 198.18.1.1 -i --tun-type gue --tun-port gue", "illegal tunnel port specified\n", 2},
		{"tunnel type is case-sensitive", "-a -t " + vip + " -r 198.18.1.1 -i --tun-type GUE", "illegal tunnel type specified\n", 2},
		{"tunnel type checked before legality", "-L --tun-type vxlan", "illegal tunnel type specified\n", 2},
		{"ipv6 service not an address", "-A -t [2001:db8::zz]:80", "illegal virtual server address[:port] specified\n", 2},
		{"ipv6 service with a zone", "-A -t [fe80::1%eth0]:80", "illegal virtual server address[:port] specified\n", 2},
		{"ipv6 real port too large", "-a -t [2001:db8::1]:80 -r [2001:db8::a]:65536 -m", "illegal real server address[:port] specified\n", 2},
		{"ipv6 real port name needs the service protocol", "-a -r [2001:db8::a]:http -t [2001:db8::1]:80 -m", "illegal real server address[:port] specified\n", 2},
		{"ipv6 netmask dotted", "-A -t [2001:db8::1]:80 -p -M 255.255.255.0", "illegal ipv6 netmask specified\n", 2},
		{"ipv6 netmask negative", "-A -t [2001:db8::1]:80 -p -M -64", "illegal ipv6 netmask specified\n", 2},

		// Repeated option bits.
		{"two services", "-A -t " + vip + " -u " + vip, "multiple 'service-address' options specified\n", 2},
		{"two methods", "-a -t " + vip + " -r 198.18.1.1 -g -m", "multiple 'forwarding-method' options specified\n", 2},
		{"repeat before value check", "-a -t " + vip + " -r 198.18.1.1 -w 1 -w x", "multiple 'weight' options specified\n", 2},
		{"numeric twice bundled", "-Lnn", "multiple 'numeric' options specified\n", 2},

		// After the options.
		{"set needs three values", "--set 900 120", "--set option requires 3 timeout values\n", 2},
		{"set value", "--set 900 120 x", "invalid timeout value `x' specified\n", 2},
		{"leftover word", "-L foo", "unexpected argument foo\n", 2},
		{"leftover before the command", "foo -L", "unexpected argument foo\n", 2},
		{"leftover after --", "-L -- -n", "unexpected argument -n\n", 2},
		{"dash alone is a word", "-L -", "unexpected argument -\n", 2},
		{"trailing comment", "-A -t " + vip + " -s rr # web", "unexpected argument #\n", 2},
		{"incompatible sched flag", "-A -t " + vip + " -b sh-port", "incompatible scheduler flag `sh-port'\n", 2},
		{"sched flag checked before legality", "-L -b mh-port", "incompatible scheduler flag `mh-port'\n", 2},
		{"invalid sched flag", "-A -t " + vip + " -s sh -b sh-port,bogus", "invalid scheduler flag `bogus'\n", 2},
		{"sched flag checked against the final scheduler", "-A -t " + vip + " -b sh-port -s mh", "incompatible scheduler flag `sh-port'\n", 2},
		{"mh flag with sh", "-A -t " + vip + " -s sh -b mh-fallback", "incompatible scheduler flag `mh-fallback'\n", 2},
		{"first bad sched flag wins", "-A -t " + vip + " -s sh -b bogus,mh-port", "invalid scheduler flag `bogus'\n", 2},
		{"sched flag name is case-sensitive", "-A -t " + vip + " -b FLAG-1", "invalid scheduler flag `FLAG-1'\n", 2},
		{"sched flags with add-server", "-a -t " + vip + " -r 198.18.1.1 -b flag-1", "Illegal 'sched-flags' option with the 'add-server' command\n", 2},
		{"persistence timeout negative", "-A -t " + vip + " -p=-1", "invalid timeout value `-1' specified\n", 2},
		{"persistence timeout not a number", "-A -t " + vip + " -p 5m", "invalid timeout value `5m' specified\n", 2},
		{"persistence with add-server", "-a -t " + vip + " -r 198.18.1.1 -p", "Illegal 'persistent' option with the 'add-server' command\n", 2},
		{"persistence twice", "-A -t " + vip + " -p -p 5", "multiple 'persistent' options specified\n", 2},
		{"netmask not an address", "-A -t " + vip + " -p -M 255.255.255.0/24", "illegal virtual server persistent mask specified\n", 2},
		{"netmask empty", "-A -t " + vip + " -M ''", "illegal virtual server persistent mask specified\n", 2},
		{"ipv6 netmask zero", "-A -t [2001:db8::1]:80 -p -M 0", "illegal ipv6 netmask specified\n", 2},
		{"ipv6 netmask not a number", "-A -t [2001:db8::1]:80 -p -M ffff::", "illegal ipv6 netmask specified\n", 2},
		{"netmask with delete", "-D -t " + vip + " -M 255.255.255.0", "Illegal 'netmask' option with the 'delete-service' command\n", 2},
		{"ops on tcp with persistence", "-E -t " + vip + " -p -o", "One-Packet Scheduling is only for UDP virtual services\n", 2},
		{"ops with add-server", "-a -u 198.18.0.10:53 -r 198.18.1.1 -o", "Illegal 'ops' option with the 'add-server' command\n", 2},
		{"u-threshold negative", "-a -t " + vip + " -r 198.18.1.1 -x -1", "illegal u_threshold specified\n", 2},
		{"l-threshold too large", "-e -t " + vip + " -r 198.18.1.1 -y 2147483648", "illegal l_threshold specified\n", 2},
		{"thresholds with add-service", "-A -t " + vip + " -x 10", "Illegal 'u-threshold' option with the 'add-service' command\n", 2},
		{"thresholds with delete-server", "-d -t " + vip + " -r 198.18.1.1 -y 10", "Illegal 'l-threshold' option with the 'delete-server' command\n", 2},
		{"set needs three values, none", "--set", "--set option requires 3 timeout values\n", 2},
		{"set value negative", "--set 900 -- -1 300", "invalid timeout value `-1' specified\n", 2},
		{"set value too long", "--set 2678401 0 0", "invalid timeout value `2678401' specified\n", 2},
		{"set values checked in order", "--set x y z", "invalid timeout value `x' specified\n", 2},
		{"set fourth value", "--set 1 2 3 4", "unexpected argument 4\n", 2},
		{"set takes no options", "--set 1 2 3 -n", "Illegal 'numeric' option with the 'set' command\n", 2},
		{"zero takes no real server", "-Z -t " + vip + " -r 198.18.1.1", "Illegal 'real-server' option with the 'zero' command\n", 2},
		{"save takes no service", "-S -t " + vip, "Illegal 'service-address' option with the 'save' command\n", 2},
		{"save twice numeric", "-Snn", "multiple 'numeric' options specified\n", 2},
		{"restore takes no options", "-R -n", "Illegal 'numeric' option with the 'restore' command\n", 2},
		{"list rate with connections", "-L -c --rate", "options conflicts in the list command\n", 2},
		{"list thresholds with timeout", "-L --timeout --thresholds", "options conflicts in the list command\n", 2},
		{"list timeout with service", "-L --timeout -t " + vip, "The option 'timeout' conflicts with the 'service-address' option in the 'list' command\n", 2},

		// commands_v_options.
		{"service missing", "-A -s rr", "You need to supply the 'service-address' option for the 'add-service' command\n", 2},
		{"real server missing", "-a -t " + vip, "You need to supply the 'real-server' option for the 'add-server' command\n", 2},
		{"weight with add-service", "-A -t " + vip + " -w 1", "Illegal 'weight' option with the 'add-service' command\n", 2},
		{"numeric with add-service", "-An -t " + vip, "Illegal 'numeric' option with the 'add-service' command\n", 2},
		{"scheduler with delete", "-D -t " + vip + " -s rr", "Illegal 'scheduler' option with the 'delete-service' command\n", 2},
		{"method with delete-server", "-d -t " + vip + " -r 198.18.1.1 -m", "Illegal 'forwarding-method' option with the 'delete-server' command\n", 2},
		{"flush takes nothing", "-C -n", "Illegal 'numeric' option with the 'flush' command\n", 2},
		{"list scheduler", "-L -s rr", "Illegal 'scheduler' option with the 'list' command\n", 2},
		{"list exclusive", "-L -c -t " + vip, "The option 'service-address' conflicts with the 'connection' option in the 'list' command\n", 2},
		{"list exclusive timeout", "-L --timeout --daemon", "The option 'daemon' conflicts with the 'timeout' option in the 'list' command\n", 2},
		{"save takes only -n", "-S -c", "Illegal 'connection' option with the 'save' command\n", 2},
		{"zero takes only a service", "-Z -n", "Illegal 'numeric' option with the 'zero' command\n", 2},
		{"ops with list", "-L -o", "Illegal 'ops' option with the 'list' command\n", 2},
		{"first violation wins", "-A -n -w 1", "Illegal 'numeric' option with the 'add-service' command\n", 2},

		// process_options after the table.
		{"zero port", "-A -t 198.18.0.10", "Zero port specified for non-persistent service\n", 2},
		{"zero port explicit", "-E -t 198.18.0.10:0 -s rr", "Zero port specified for non-persistent service\n", 2},
		{"ipv6 without port", "-A -t 2001:db8::1:80", "Zero port specified for non-persistent service\n", 2},
		{"bracketed ipv4 has no port", "-A -t [198.18.0.10]:80", "Zero port specified for non-persistent service\n", 2},
		{"ops on tcp", "-A -t " + vip + " -o", "One-Packet Scheduling is only for UDP virtual services\n", 2},
		{"mixed family", "-a -t " + vip + " -r [2001:db8::1]:80 -m", "Different address family is allowed only for tunneling servers\n", 2},
		{"tunnel option without -i", "-a -t " + vip + " -r 198.18.1.1 --tun-type gue", "Tunnel options conflict with forward method\n", 2},
		{"gue needs a port", "-a -t " + vip + " -r 198.18.1.1 -i --tun-type gue", "You need to supply the 'tun-port' option for the 'gue' tunnel type\n", 2},
		{"ipip takes no checksum", "-a -t " + vip + " -r 198.18.1.1 -i --tun-csum", "Illegal 'tun-csum' option with the 'ipip' tunnel type\n", 2},
		{"gre checksums exclusive", "-a -t " + vip + " -r 198.18.1.1 -i --tun-type gre --tun-csum --tun-nocsum", "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gre' tunnel type\n", 2},
		{"mixed family nat", "-e -t " + vip + " -r 2001:db8::1 -m", "Different address family is allowed only for tunneling servers\n", 2},
		{"mixed family route", "-a -t [2001:db8::10]:80 -r 198.18.1.1", "Different address family is allowed only for tunneling servers\n", 2},
		{"mixed family before tunnel options", "-a -t " + vip + " -r [2001:db8::1]:80 -m --tun-csum", "Different address family is allowed only for tunneling servers\n", 2},
		{"tunnel option with masquerading", "-a -t " + vip + " -r 198.18.1.1 -m --tun-csum", "Tunnel options conflict with forward method\n", 2},
		{"tunnel port with gatewaying", "-e -t " + vip + " -r 198.18.1.1 -g --tun-port 6080", "Tunnel options conflict with forward method\n", 2},
		{"nocsum without -i", "-a -t " + vip + " -r 198.18.1.1 --tun-nocsum", "Tunnel options conflict with forward method\n", 2},
		{"ipip takes no port", "-a -t " + vip + " -r 198.18.1.1 -i --tun-port 6080", "Illegal 'tun-port' option with the 'ipip' tunnel type\n", 2},
		{"explicit ipip takes no nocsum", "-a -t " + vip + " -r 198.18.1.1 -i --tun-type ipip --tun-nocsum", "Illegal 'tun-nocsum' option with the 'ipip' tunnel type\n", 2},
		{"gue port checked before checksums", "-a -t " + vip + " -r 198.18.1.1 -i --tun-type gue --tun-nocsum", "You need to supply the 'tun-port' option for the 'gue' tunnel type\n", 2},
		{"gue checksums exclusive", "-a -t " + vip + " -r 198.18.1.1 -i --tun-type gue --tun-port 6080 --tun-remcsum --tun-csum", "The option 'tun-remcsum' conflicts with the 'tun-csum' option in the 'gue' tunnel type\n", 2},
		{"gue nocsum and remcsum", "-a -t " + vip + " -r 198.18.1.1 -i --tun-type gue --tun-port 6080 --tun-nocsum --tun-remcsum", "The option 'tun-remcsum' conflicts with the 'tun-nocsum' option in the 'gue' tunnel type\n", 2},
		{"gre takes no port", "-a -t " + vip + " -r 198.18.1.1 -i --tun-type gre --tun-port 6080", "Illegal 'tun-port' option with the 'gre' tunnel type\n", 2},
		{"gre takes no remote checksum", "-e -t " + vip + " -r 198.18.1.1 -i --tun-type gre --tun-remcsum", "Illegal 'tun-remcsum' option with the 'gre' tunnel type\n", 2},
		{"tunnel type twice", "-a -t " + vip + " -r 198.18.1.1 -i --tun-type gue --tun-type gre", "multiple 'tun-type' options specified\n", 2},
		{"nocsum twice", "-a -t " + vip + " -r 198.18.1.1 -i --tun-type gre --tun-nocsum --tun-nocsum", "multiple 'tun-nocsum' options specified\n", 2},
		{"ipip and gatewaying", "-a -t " + vip + " -r 198.18.1.1 -i -g", "multiple 'forwarding-method' options specified\n", 2},
		{"tunnel type with add-service", "-A -t " + vip + " --tun-type gue", "Illegal 'tun-type' option with the 'add-service' command\n", 2},
		{"tunnel port with delete-server", "-d -t " + vip + " -r 198.18.1.1 --tun-port 6080", "Illegal 'tun-port' option with the 'delete-server' command\n", 2},
		{"tunnel type with list", "-L --tun-type gre", "Illegal 'tun-type' option with the 'list' command\n", 2},
		{"ipip with list", "-L -i", "Illegal 'forwarding-method' option with the 'list' command\n", 2},
		{"tunnel info with add-server", "-a -t " + vip + " -r 198.18.1.1 -i --tun-info", "Illegal 'tun-info' option with the 'add-server' command\n", 2},
		{"tunnel info with save", "-S --tun-info", "Illegal 'tun-info' option with the 'save' command\n", 2},
		{"tunnel info with timeout and stats", "-L --tun-info --timeout --stats", "options conflicts in the list command\n", 2},
		{"list conflicts", "-L -c --stats", "options conflicts in the list command\n", 2},
		{"list conflicts persistent-conn", "-L --timeout --persistent-conn", "options conflicts in the list command\n", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &fakeDirector{}
			got := runLvsadm(t, d, argv(tt.args)...)
			want := result{Stderr: tt.stderr, Status: tt.status}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("lvsadm %s (-want +got):\n%s", tt.args, diff)
			}
			if len(d.calls) != 0 {
				t.Errorf("lvsadm %s called lvsd: %q", tt.args, d.calls)
			}
		})
	}
}

// TestRefused checks that what golvs does not carry out is parsed (so
// ipvsadm's checks still apply), then refused with the reason before lvsd
// hears of it.
func TestRefused(t *testing.T) {
	const vip = "198.18.0.10:80"
	tests := []struct {
		args   string
		stderr string
	}{
		{"-A -f 1", "-f (--fwmark-service): " + whyFwmark},
		{"-A -f 1 -6", "-f (--fwmark-service): " + whyFwmark},
		{"-A -f 1 -s sh -b sh-port", "-f (--fwmark-service): " + whyFwmark},
		{"-a -f 1 -r 198.18.1.1", "-f (--fwmark-service): " + whyFwmark},
		{"-D -f 4294967295", "-f (--fwmark-service): " + whyFwmark},
		{"-Z -f 1", "-f (--fwmark-service): " + whyFwmark},
		{"-L -f 1", "-f (--fwmark-service): " + whyFwmark},
		{"-A --sctp-service " + vip, "--sctp-service: " + whySCTP},
		{"-A -t " + vip + " --pe sip", "--pe: " + whyPE},
		{"-A -t " + vip + " -p --pe sip", "--pe: " + whyPE},
		{"-A -f 1 -6 -s rr", "-f (--fwmark-service): " + whyFwmark},
		{"-L -f 1 -6 --tun-info", "-f (--fwmark-service): " + whyFwmark},
		{"-a -f 1 -6 -r 2001:db8::11 -i --tun-type gue --tun-port 6080", "-f (--fwmark-service): " + whyFwmark},
		{"-E -t [2001:db8::10]:80 -p --pe sip", "--pe: " + whyPE},
		{"-L --daemon", "--daemon: " + whySync},
		{"--start-daemon master --mcast-interface eth0 --syncid 3", "--start-daemon: " + whySync},
		{"--stop-daemon backup", "--stop-daemon: " + whySync},
		{"--stop-daemon master --syncid 2", "--stop-daemon: " + whySync},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			d := &fakeDirector{}
			got := runLvsadm(t, d, argv(tt.args)...)
			want := result{Stderr: "lvsadm: " + tt.stderr + "\n", Status: 2}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("lvsadm %s (-want +got):\n%s", tt.args, diff)
			}
			if len(d.calls) != 0 {
				t.Errorf("lvsadm %s called lvsd: %q", tt.args, d.calls)
			}
		})
	}
	// The exact words the issue and the README promise for -f.
	got := runArgv(t, &fakeDirector{}, []string{"/usr/sbin/lvsadm", "-A", "-f", "1"})
	want := "lvsadm: -f (--fwmark-service): firewall marks are set by netfilter after golvs's data plane has seen the packet (TC ingress); use -t/-u services\n"
	if got.Stderr != want || got.Status != 2 {
		t.Errorf("lvsadm -A -f 1 = %+v, want stderr %q, status 2", got, want)
	}
}

// TestCommands checks what each accepted command line asks of lvsd.
func TestCommands(t *testing.T) {
	tests := []struct {
		name string
		args string
		want string
	}{
		{"add with default scheduler", "-A -t 198.18.0.10:80", "AddService TCP 198.18.0.10:80 wlc"},
		{"add udp", "-A -u 198.18.0.10:53 -s rr", "AddService UDP 198.18.0.10:53 rr"},
		{"persistent default timeout", "-A -t 198.18.0.10:443 -p", "AddService TCP 198.18.0.10:443 wlc persistent=6m0s"},
		{"persistent default before an option", "-A -t 198.18.0.10:443 -p -s rr", "AddService TCP 198.18.0.10:443 rr persistent=6m0s"},
		{"persistent timeout", "-A -t 198.18.0.10:443 -p 600", "AddService TCP 198.18.0.10:443 wlc persistent=10m0s"},
		{"persistent glued timeout", "-A -t 198.18.0.10:443 -p1", "AddService TCP 198.18.0.10:443 wlc persistent=1s"},
		{"persistent longest timeout", "-A -t 198.18.0.10:443 --persistent=2678400", "AddService TCP 198.18.0.10:443 wlc persistent=744h0m0s"},
		{"persistent port zero", "-A -t 198.18.0.10 -p", "AddService TCP 198.18.0.10:0 wlc persistent=6m0s"},
		{"netmask", "-A -t 198.18.0.10:443 -p -M 255.255.255.0", "AddService TCP 198.18.0.10:443 wlc persistent=6m0s mask=255.255.255.0"},
		{"netmask not contiguous", "-A -t 198.18.0.10:443 -p -M 255.0.255.0", "AddService TCP 198.18.0.10:443 wlc persistent=6m0s mask=255.0.255.0"},
		{"netmask inet_aton short form", "-A -t 198.18.0.10:443 -p -M 24", "AddService TCP 198.18.0.10:443 wlc persistent=6m0s mask=0.0.0.24"},
		{"netmask all ones is the default", "-A -t 198.18.0.10:443 -p -M 255.255.255.255", "AddService TCP 198.18.0.10:443 wlc persistent=6m0s"},
		{"netmask before the service", "-A -M 255.255.0.0 -t 198.18.0.10:443 -p", "AddService TCP 198.18.0.10:443 wlc persistent=6m0s mask=255.255.0.0"},
		{"netmask by host name", "-A -t 198.18.0.10:443 -p -M www.example.net", "AddService TCP 198.18.0.10:443 wlc persistent=6m0s mask=198.18.0.10"},
		{"netmask without persistence is kept", "-A -t 198.18.0.10:443 -M 255.255.255.0", "AddService TCP 198.18.0.10:443 wlc mask=255.255.255.0"},
		{"ipv6 netmask", "-A -t [2001:db8::1]:443 -p -M 64", "AddService TCP [2001:db8::1]:443 wlc persistent=6m0s mask=ffff:ffff:ffff:ffff::"},
		{"ipv6 netmask atoi", "-A -t [2001:db8::1]:443 -p -M 48xyz", "AddService TCP [2001:db8::1]:443 wlc persistent=6m0s mask=ffff:ffff:ffff::"},
		// atoi into a 32-bit int, as ipvsadm: the value wraps.
		{"ipv6 netmask wraps", "-A -t [2001:db8::3:14]:80 -p -M 4294967360", "AddService TCP [2001:db8::3:14]:80 wlc persistent=6m0s mask=ffff:ffff:ffff:ffff::"},
		{"ipv6 netmask wraps down", "-A -t [2001:db8::3:14]:80 -p -M -4294967232", "AddService TCP [2001:db8::3:14]:80 wlc persistent=6m0s mask=ffff:ffff:ffff:ffff::"},
		{"weight above 65535", "-a -t 198.18.0.10:80 -r 198.18.1.1 -m -w 70000", "AddReal TCP 198.18.0.10:80 198.18.1.1:80 Masq 70000"},
		{"weight largest", "-e -t 198.18.0.10:80 -r 198.18.1.1 -m -w 2147483647", "EditReal TCP 198.18.0.10:80 198.18.1.1:80 Masq 2147483647"},
		{"weight after one =", "-a -t 198.18.0.10:80 -r 198.18.1.1 -w=5", "AddReal TCP 198.18.0.10:80 198.18.1.1:80 Route 5"},
		{"ipv6 service resets an earlier netmask", "-A -M 255.255.255.0 -t [2001:db8::1]:443 -p", "AddService TCP [2001:db8::1]:443 wlc persistent=6m0s"},
		{"one-packet", "-A -u 198.18.0.10:53 -o", "AddService UDP 198.18.0.10:53 wlc ops"},
		{"one-packet long", "-E -u 198.18.0.10:53 --ops -s rr", "EditService UDP 198.18.0.10:53 rr ops"},
		{"sh flags", "-A -t 198.18.0.10:80 -s sh -b sh-fallback,sh-port", "AddService TCP 198.18.0.10:80 sh flags=0x18"},
		{"mh flags before the scheduler", "-A -t 198.18.0.10:80 -b mh-port -s mh", "AddService TCP 198.18.0.10:80 mh flags=0x10"},
		{"generic flags", "-A -t 198.18.0.10:80 -b flag-1,flag-2,flag-3", "AddService TCP 198.18.0.10:80 wlc flags=0x38"},
		{"flag-3 with sh", "-A -t 198.18.0.10:80 -s sh -b flag-3", "AddService TCP 198.18.0.10:80 sh flags=0x20"},
		{"empty flag list", "-A -t 198.18.0.10:80 -b ''", "AddService TCP 198.18.0.10:80 wlc"},
		{"empty flags skipped", "-A -t 198.18.0.10:80 -b ,flag-2,,", "AddService TCP 198.18.0.10:80 wlc flags=0x10"},
		{"edit resets what is left out", "-E -t 198.18.0.10:80 -s sh -b sh-port -p 60", "EditService TCP 198.18.0.10:80 sh flags=0x10 persistent=1m0s"},
		{"thresholds", "-a -t 198.18.0.10:80 -r 198.18.1.1 -x 100 -y 50", "AddReal TCP 198.18.0.10:80 198.18.1.1:80 Route 1 x=100 y=50"},
		{"thresholds largest", "-e -t 198.18.0.10:80 -r 198.18.1.1 -m -x 2147483647", "EditReal TCP 198.18.0.10:80 198.18.1.1:80 Masq 1 x=2147483647"},
		{"lower above upper goes to lvsd", "-a -t 198.18.0.10:80 -r 198.18.1.1 -x 1 -y 2", "AddReal TCP 198.18.0.10:80 198.18.1.1:80 Route 1 x=1 y=2"},
		{"set timeouts", "--set 900 120 300", "SetTimeouts 15m0s 2m0s 5m0s"},
		{"set zero leaves unchanged", "--set 0 60 0", "SetTimeouts 0s 1m0s 0s"},
		{"set values around options", "--set 1 -- 2 3", "SetTimeouts 1s 2s 3s"},
		{"set longest", "--set 2678400 2678400 2678400", "SetTimeouts 744h0m0s 744h0m0s 744h0m0s"},
		{"zero all", "-Z", "Zero all"},
		{"zero long", "--zero", "Zero all"},
		{"zero one service", "-Z -t 198.18.0.10:80", "Zero TCP 198.18.0.10:80"},
		{"zero any address means all", "-Z -t 0.0.0.0:0", "Zero all"},
		{"zero any address with a port", "-Z -u 0.0.0.0:53", "Zero UDP 0.0.0.0:53"},
		{"long options", "--add-service --tcp-service 198.18.0.10:80 --scheduler wrr", "AddService TCP 198.18.0.10:80 wrr"},
		{"long option with =", "--add-service --tcp-service=198.18.0.10:80 --scheduler=lc", "AddService TCP 198.18.0.10:80 lc"},
		{"bundled command and service", "-At 198.18.0.10:80", "AddService TCP 198.18.0.10:80 wlc"},
		{"argument glued to the option", "-At198.18.0.10:80", "AddService TCP 198.18.0.10:80 wlc"},
		{"argument after =", "-A -t=198.18.0.10:80", "AddService TCP 198.18.0.10:80 wlc"},
		{"port by name", "-A -t 198.18.0.10:http", "AddService TCP 198.18.0.10:80 wlc"},
		{"port by alias", "-A -t 198.18.0.10:www", "AddService TCP 198.18.0.10:80 wlc"},
		{"host by name", "-A -t www.example.net:https", "AddService TCP 198.18.0.10:443 wlc"},
		{"inet_aton short form", "-A -t 198.18.10:80", "AddService TCP 198.18.0.10:80 wlc"},
		{"inet_aton hex", "-A -t 0xc612000a:80", "AddService TCP 198.18.0.10:80 wlc"},
		{"inet_aton octal part", "-A -t 198.022.0.012:80", "AddService TCP 198.18.0.10:80 wlc"},
		{"ipv6 service", "-A -t [2001:db8::1]:80 -s rr", "AddService TCP [2001:db8::1]:80 rr"},
		{"scheduler passed through unchecked", "-A -t 198.18.0.10:80 -s sh", "AddService TCP 198.18.0.10:80 sh"},
		{"scheduler cut to 15 bytes", "-A -t 198.18.0.10:80 -s abcdefghijklmnopqrst", "AddService TCP 198.18.0.10:80 abcdefghijklmno"},
		{"words after the command", "-A -t 198.18.0.10:80 -- ", "AddService TCP 198.18.0.10:80 wlc"},
		{"sort is a no-op", "-A -t 198.18.0.10:80 --sort", "AddService TCP 198.18.0.10:80 wlc"},
		{"edit resets scheduler", "-E -t 198.18.0.10:80", "EditService TCP 198.18.0.10:80 wlc"},
		{"delete service", "-D -t 198.18.0.10:80", "DeleteService TCP 198.18.0.10:80"},
		{"clear", "-C", "Clear"},
		{"clear long", "--clear", "Clear"},
		{"add real default route", "-a -t 198.18.0.10:80 -r 198.18.1.1", "AddReal TCP 198.18.0.10:80 198.18.1.1:80 Route 1"},
		{"route forces service port", "-a -t 198.18.0.10:80 -r 198.18.1.1:8080 -g -w 0", "AddReal TCP 198.18.0.10:80 198.18.1.1:80 Route 0"},
		{"masq keeps its port", "-a -t 198.18.0.10:80 -r 198.18.1.1:8080 -m -w 3", "AddReal TCP 198.18.0.10:80 198.18.1.1:8080 Masq 3"},
		{"masq default port is the service's", "-a -t 198.18.0.10:80 -r 198.18.1.1 -m", "AddReal TCP 198.18.0.10:80 198.18.1.1:80 Masq 1"},
		{"real before service gets port 0", "-a -r 198.18.1.1 -t 198.18.0.10:80 -m", "AddReal TCP 198.18.0.10:80 198.18.1.1:0 Masq 1"},
		{"bundled flags", "-at 198.18.0.10:80 -r 198.18.1.1:8080 -mw 5", "AddReal TCP 198.18.0.10:80 198.18.1.1:8080 Masq 5"},
		{"weight with sign and blanks", "-a -t 198.18.0.10:80 -r 198.18.1.1 -w +7", "AddReal TCP 198.18.0.10:80 198.18.1.1:80 Route 7"},
		{"real port by name", "-a -t 198.18.0.10:80 -r backend-1.example.net:http-alt -m", "AddReal TCP 198.18.0.10:80 198.18.1.1:8080 Masq 1"},
		{"edit real defaults to route", "-e -t 198.18.0.10:80 -r 198.18.1.1 -w 2", "EditReal TCP 198.18.0.10:80 198.18.1.1:80 Route 2"},
		{"delete real keeps its port", "-d -t 198.18.0.10:80 -r 198.18.1.1:8080", "DeleteReal TCP 198.18.0.10:80 198.18.1.1:8080"},
		{"delete real default port", "-d -u 198.18.0.10:53 -r 198.18.1.1", "DeleteReal UDP 198.18.0.10:53 198.18.1.1:53"},
		{"ipv6 real", "-a -t [2001:db8::1]:80 -r [2001:db8::a]:8080 -m", "AddReal TCP [2001:db8::1]:80 [2001:db8::a]:8080 Masq 1"},
		{"ipv6 real without brackets takes the service port", "-a -t [2001:db8::1]:80 -r 2001:db8::a -m", "AddReal TCP [2001:db8::1]:80 [2001:db8::a]:80 Masq 1"},
		{"ipv6 udp service", "-A -u [2001:db8::53]:domain -s rr -o", "AddService UDP [2001:db8::53]:53 rr ops"},
		{"ipv6 persistent port zero", "-A -t [2001:db8::1]:0 -p", "AddService TCP [2001:db8::1]:0 wlc persistent=6m0s"},
		{"ipv6 without brackets is a port-zero address", "-A -t 2001:db8::1:80 -p 10", "AddService TCP [2001:db8::1:80]:0 wlc persistent=10s"},
		{"ipv6 netmask 128 is the default", "-E -t [2001:db8::1]:443 -p 60 -M 128", "EditService TCP [2001:db8::1]:443 wlc persistent=1m0s"},
		{"ipv6 netmask 1", "-A -t [2001:db8::1]:443 -p 60 -M 1", "AddService TCP [2001:db8::1]:443 wlc persistent=1m0s mask=8000::"},
		{"ipv6 netmask without persistence is kept", "-A -t [2001:db8::1]:443 -M 56", "AddService TCP [2001:db8::1]:443 wlc mask=ffff:ffff:ffff:ff00::"},
		{"ipv4-mapped service", "-A -t [::ffff:198.18.0.10]:80", "AddService TCP [::ffff:198.18.0.10]:80 wlc"},
		{"ipv6 dr real takes the service port", "-a -t [2001:db8::1]:80 -r [2001:db8::a]:8080", "AddReal TCP [2001:db8::1]:80 [2001:db8::a]:80 Route 1"},
		{"ipv6 real before the service gets port 0", "-a -r 2001:db8::a -t [2001:db8::1]:80 -m", "AddReal TCP [2001:db8::1]:80 [2001:db8::a]:0 Masq 1"},
		{"edit ipv6 real", "-e -t [2001:db8::1]:80 -r [2001:db8::a]:8080 -m -w 0 -x 10", "EditReal TCP [2001:db8::1]:80 [2001:db8::a]:8080 Masq 0 x=10"},
		{"delete ipv6 real", "-d -t [2001:db8::1]:80 -r [2001:db8::a]:8080", "DeleteReal TCP [2001:db8::1]:80 [2001:db8::a]:8080"},
		{"delete ipv6 service", "-D -t [2001:db8::1]:80", "DeleteService TCP [2001:db8::1]:80"},
		{"zero ipv6 service", "-Z -t [2001:db8::1]:80", "Zero TCP [2001:db8::1]:80"},
		{"zero ipv6 any address means all", "-Z -t [::]:0", "Zero all"},

		// Tunnels. ipvsadm gives a tunnel real the service's port and
		// sends IP-in-IP without checksum unless told otherwise.
		{"ipip real", "-a -t 198.18.0.10:80 -r 198.18.1.1:8080 -i", "AddReal TCP 198.18.0.10:80 198.18.1.1:80 Tunnel 1"},
		{"ipip real long", "--add-server -t 198.18.0.10:80 --real-server 198.18.1.1 --ipip --tun-type ipip -w 2", "AddReal TCP 198.18.0.10:80 198.18.1.1:80 Tunnel 2"},
		{"gue real", "-a -t 198.18.0.10:80 -r 198.18.1.1 -i --tun-type gue --tun-port 6080", "AddReal TCP 198.18.0.10:80 198.18.1.1:80 Tunnel 1 tun=gue port=6080 flags=0"},
		{"gue real nocsum", "-a -t 198.18.0.10:80 -r 198.18.1.1 -i --tun-type gue --tun-port 6080 --tun-nocsum", "AddReal TCP 198.18.0.10:80 198.18.1.1:80 Tunnel 1 tun=gue port=6080 flags=0"},
		{"gue real csum", "-a -t 198.18.0.10:80 -r 198.18.1.1 -i --tun-type=gue --tun-port=65535 --tun-csum", "AddReal TCP 198.18.0.10:80 198.18.1.1:80 Tunnel 1 tun=gue port=65535 flags=1"},
		{"gue real remcsum", "-a -t 198.18.0.10:80 -r 198.18.1.1 -i --tun-remcsum --tun-port 1 --tun-type gue", "AddReal TCP 198.18.0.10:80 198.18.1.1:80 Tunnel 1 tun=gue port=1 flags=2"},
		{"gre real", "-a -t 198.18.0.10:80 -r 198.18.1.1 -i --tun-type gre", "AddReal TCP 198.18.0.10:80 198.18.1.1:80 Tunnel 1 tun=gre port=0 flags=0"},
		{"gre real csum", "-e -t 198.18.0.10:80 -r 198.18.1.1 -i --tun-type gre --tun-csum -w 3 -x 5", "EditReal TCP 198.18.0.10:80 198.18.1.1:80 Tunnel 3 x=5 tun=gre port=0 flags=1"},
		{"edit back to nat resets the tunnel", "-e -t 198.18.0.10:80 -r 198.18.1.1 -m", "EditReal TCP 198.18.0.10:80 198.18.1.1:80 Masq 1"},
		{"delete tunnel real", "-d -t 198.18.0.10:80 -r 198.18.1.1", "DeleteReal TCP 198.18.0.10:80 198.18.1.1:80"},
		{"ipv6 tunnel real of an ipv4 service", "-a -t 198.18.0.10:80 -r [2001:db8::a]:8080 -i --tun-type gue --tun-port 6080 --tun-csum", "AddReal TCP 198.18.0.10:80 [2001:db8::a]:80 Tunnel 1 tun=gue port=6080 flags=1"},
		{"ipv6 tunnel real without brackets", "-a -t 198.18.0.10:80 -r 2001:db8::a -i", "AddReal TCP 198.18.0.10:80 [2001:db8::a]:80 Tunnel 1"},
		{"ipv4 tunnel real of an ipv6 service", "-a -t [2001:db8::1]:443 -r 198.18.1.1 -i --tun-type gre", "AddReal TCP [2001:db8::1]:443 198.18.1.1:443 Tunnel 1 tun=gre port=0 flags=0"},
		{"ipv4 real of an ipv6 service by name", "-a -t [2001:db8::1]:443 -r backend-1.example.net -i", "AddReal TCP [2001:db8::1]:443 198.18.1.1:443 Tunnel 1"},
		{"delete a real of the other family", "-d -t [2001:db8::1]:443 -r 198.18.1.1", "DeleteReal TCP [2001:db8::1]:443 198.18.1.1:443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &fakeDirector{}
			got := runLvsadm(t, d, argv(tt.args)...)
			if diff := cmp.Diff(result{}, got); diff != "" {
				t.Errorf("lvsadm %s (-want +got):\n%s", tt.args, diff)
			}
			if diff := cmp.Diff([]string{tt.want}, d.calls); diff != "" {
				t.Errorf("lvsadm %s calls (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	for _, args := range []string{"-h", "--help", "-h --foo", "-h -t"} {
		d := &fakeDirector{}
		var got result
		got = runLvsadm(t, d, argv(args)...)
		if got.Status != 0 || got.Stderr != "" || !strings.HasPrefix(got.Stdout, versionLine+"Usage:\n  lvsadm -A|E") {
			t.Errorf("lvsadm %s = %+v", args, got)
		}
		if len(d.calls) != 0 {
			t.Errorf("lvsadm %s called lvsd: %q", args, d.calls)
		}
	}
	for _, args := range []string{"-v", "--version", "-v -L"} {
		d := &fakeDirector{}
		got := runLvsadm(t, d, argv(args)...)
		want := result{Stdout: "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("lvsadm %s (-want +got):\n%s", args, diff)
		}
	}
}

func TestPopt(t *testing.T) {
	type opt struct {
		Val    int
		Arg    string
		HasArg bool
	}
	tests := []struct {
		args      string
		want      []opt
		leftovers []string
	}{
		{"-Lnc", []opt{{'L', "", false}, {'n', "", false}, {'c', "", false}}, nil},
		{"-p -n", []opt{{'p', "", false}, {'n', "", false}}, nil},
		{"-p 600 -n", []opt{{'p', "600", true}, {'n', "", false}}, nil},
		{"-p600", []opt{{'p', "600", true}}, nil},
		{"-p", []opt{{'p', "", false}}, nil},
		{"-t -n", []opt{{'t', "-n", true}}, nil},
		{"--persistent=5", []opt{{'p', "5", true}}, nil},
		{"--persistent -5", []opt{{'p', "", false}, {poptErrBadOpt, "", false}}, nil},
		{"a -L b -- -n", []opt{{'L', "", false}}, []string{"a", "b", "-n"}},
		// A '=' after an option without argument is an unwanted argument;
		// one '=' is skipped before an option's argument (Debian's libpopt
		// 1.19, test/differential/testdata/equals.golden).
		{"-L=q", []opt{{poptErrUnwantedArg, "", false}}, nil},
		{"-L==", []opt{{poptErrUnwantedArg, "", false}}, nil},
		{"-n=", []opt{{poptErrUnwantedArg, "", false}}, nil},
		{"-Ln=1", []opt{{'L', "", false}, {poptErrUnwantedArg, "", false}}, nil},
		{"-w=5", []opt{{'w', "5", true}}, nil},
		{"-w==5", []opt{{'w', "=5", true}}, nil},
		{"-w=", []opt{{'w', "", true}}, nil},
		{"-mw=6", []opt{{'m', "", false}, {'w', "6", true}}, nil},
		{"-p==60", []opt{{'p', "=60", true}}, nil},
		{"--weight==5", []opt{{'w', "=5", true}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			p := newPopt(append([]string{"lvsadm"}, argv(tt.args)...))
			var got []opt
			for {
				v, a, has := p.nextOpt()
				if v == poptEnd {
					break
				}
				got = append(got, opt{v, a, has})
				if v < poptEnd {
					break
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.leftovers, p.leftovers); diff != "" {
				t.Errorf("leftovers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInetAton(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" for invalid
	}{
		{"198.18.0.10", "198.18.0.10"},
		{"198.18.10", "198.18.0.10"},
		{"198.1179658", "198.18.0.10"},
		{"3323068426", "198.18.0.10"},
		{"0xc612000a", "198.18.0.10"},
		{"0306.022.0.012", "198.18.0.10"},
		{"198.18.0.10 trailing", "198.18.0.10"},
		{"198.18.0.256", ""},
		{"198.18.0.08", ""},
		{"198.18.0.", ""},
		{"198.18.0.10.1", ""},
		{"0x", ""},
		{"4294967296", ""},
		{"", ""},
		{" 198.18.0.10", ""},
		{"-1", ""},
	}
	for _, tt := range tests {
		a, ok := inetAton(tt.in)
		got := ""
		if ok {
			got = a.String()
		}
		if got != tt.want {
			t.Errorf("inetAton(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestStringToNumber(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"0", 0}, {"65535", 65535}, {"65536", -1}, {" 5", 5}, {"+5", 5}, {"-0", 0},
		{"5 ", -1}, {"", -1}, {"0x10", -1}, {"99999999999999999999", -1}, {"-", -1},
	}
	for _, tt := range tests {
		if got := stringToNumber(tt.in, 0, 65535); got != tt.want {
			t.Errorf("stringToNumber(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// argv splits a test command line on spaces; "”" stands for an empty
// argument.
func argv(s string) []string {
	var out []string
	for _, w := range strings.Fields(s) {
		if w == "''" {
			w = ""
		}
		out = append(out, w)
	}
	return out
}
