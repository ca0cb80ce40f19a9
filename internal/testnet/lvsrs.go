package testnet

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// LVSRS runs the lvsrs binary (golvs's real-server helper) in a real
// server's namespace, with a state directory and a bpffs pin directory of
// its own, so that several real servers can be prepared side by side.
type LVSRS struct {
	Bin string
	NS  *Namespace
	// StateDir is lvsrs --state-dir: what lvsrs changed, for --undo.
	StateDir string
	// PinDir is lvsrs --pin-dir, under /sys/fs/bpf; it is removed when
	// the test ends.
	PinDir string
	// SetupArgs are the arguments of the last Setup, without the
	// directories.
	SetupArgs []string

	t testing.TB
}

// NewLVSRS returns an LVSRS for bin in ns; nothing runs yet.
func (ns *Namespace) NewLVSRS(bin string) *LVSRS {
	t := ns.net.t
	t.Helper()
	if err := EnsureBPFFS(); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", ns.Name+"-lvsrs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	r := &LVSRS{
		Bin:      bin,
		NS:       ns,
		StateDir: dir,
		PinDir:   "/sys/fs/bpf/" + ns.Name + "-lvsrs",
		t:        t,
	}
	// Registered before anything is pinned, so it runs after the
	// namespace (and with it the links) is gone.
	t.Cleanup(func() {
		if err := os.RemoveAll(r.PinDir); err != nil {
			t.Errorf("cleanup: remove lvsrs pin dir: %v", err)
		}
	})
	return r
}

// Run runs "lvsrs args..." in the namespace and returns its outcome. It
// runs under "nsenter --net", which keeps the host's mount namespace, so
// that lvsrs sees the host's /sys/fs/bpf ("ip netns exec" would mount a
// fresh /sys).
func (r *LVSRS) Run(args ...string) AdmResult {
	r.t.Helper()
	return Command(r.t, "", nil, append([]string{"nsenter", "--net=" + r.NS.Path(), r.Bin}, args...)...)
}

// dirs are the flags that give lvsrs this LVSRS's directories.
func (r *LVSRS) dirs() []string {
	return []string{"--state-dir", r.StateDir, "--pin-dir", r.PinDir}
}

// Setup runs "lvsrs --state-dir D --pin-dir P args..." (args: --tunnel,
// --dev, ..., then the VIPs).
func (r *LVSRS) Setup(args ...string) AdmResult {
	r.t.Helper()
	r.SetupArgs = args
	return r.Run(append(r.dirs(), args...)...)
}

// Undo runs "lvsrs --undo" with this LVSRS's directories.
func (r *LVSRS) Undo() AdmResult {
	r.t.Helper()
	return r.Run(append([]string{"--undo"}, r.dirs()...)...)
}

// Check runs "lvsrs check --state-dir D --pin-dir P args..." (args:
// --tunnel, --dev, ..., then the VIPs, as for Setup).
func (r *LVSRS) Check(args ...string) AdmResult {
	r.t.Helper()
	return r.Run(append(append([]string{"check"}, r.dirs()...), args...)...)
}

// linkNoise matches the parts of "ip -o link show" that carrier and
// timing change.
var linkNoise = regexp.MustCompile(`NO-CARRIER,|,LOWER_UP| state [A-Z]+| mode [A-Z]+`)

// NetState describes what a real-server setup changes in ns, as text that
// is equal for equal states: addresses, links, routes, the ARP and
// reverse-path sysctls of all, default, lo and links, and the qdiscs and
// BPF programs attached to links (XDP shows in the links, then TC filters
// and TCX). A test compares it before and after something that must leave
// the namespace as it found it.
func (ns *Namespace) NetState(links ...string) string {
	t := ns.net.t
	t.Helper()
	var b strings.Builder
	section := func(title string, argv ...string) {
		out, err := ns.Exec(argv...)
		if err != nil {
			t.Fatalf("state of %s: %v", ns.Name, err)
		}
		fmt.Fprintf(&b, "## %s\n%s", title, out)
	}
	section("addresses", "ip", "-o", "addr", "show")
	// Links without what carrier and timing change on their own (the
	// operational state, NO-CARRIER/LOWER_UP): lvsrs sets neither.
	out, err := ns.Exec("ip", "-o", "link", "show")
	if err != nil {
		t.Fatalf("state of %s: %v", ns.Name, err)
	}
	fmt.Fprintf(&b, "## links\n%s", linkNoise.ReplaceAllString(out, ""))
	section("routes", "ip", "route", "show", "table", "all")
	section("routes6", "ip", "-6", "route", "show", "table", "all")
	section("rules", "ip", "rule", "show")
	section("qdiscs", "tc", "qdisc", "show")
	for _, l := range links {
		section("ingress filters "+l, "tc", "filter", "show", "dev", l, "ingress")
		section("egress filters "+l, "tc", "filter", "show", "dev", l, "egress")
	}
	for _, l := range links {
		in, eg, err := ns.TCXPrograms(l)
		if err != nil {
			t.Fatalf("state of %s: %v", ns.Name, err)
		}
		fmt.Fprintf(&b, "## tcx %s\ningress %d programs, egress %d programs\n", l, in, eg)
	}
	b.WriteString("## sysctls\n")
	for _, l := range append([]string{"all", "default", "lo"}, links...) {
		for _, k := range []string{"arp_ignore", "arp_announce", "rp_filter", "accept_local"} {
			key := "net/ipv4/conf/" + l + "/" + k
			out, err := ns.Exec("cat", "/proc/sys/"+key)
			if err != nil {
				t.Fatalf("state of %s: %v", ns.Name, err)
			}
			fmt.Fprintf(&b, "%s = %s", key, out)
		}
	}
	return b.String()
}
