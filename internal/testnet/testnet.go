// Package testnet builds throw-away network-namespace topologies for
// end-to-end tests: namespaces, veth links, bridges, addresses, routes and
// sysctls, with nginx and other processes running inside them, all removed
// when the test ends, also when it fails.
//
// Every namespace a test creates is named with the test's own prefix
// ("gle2e<pid>-<n>-"), so that nothing a test makes can collide with the
// host or with another test run, and a later run can recognise (and remove)
// what a killed run left behind. Links are created directly inside those
// namespaces ("ip -n A link add ... peer ... netns B") and never exist in
// the host namespace, so their short names (eth0, br0) cannot collide with
// anything either: they vanish with their namespace.
//
// Commands run in a namespace through "ip netns exec", or through
// "nsenter --net" where a process must keep the host's mount namespace (so
// that /sys/fs/bpf stays visible to lvsd).
package testnet

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// PrivilegedEnv is the environment variable that turns skips for missing
// privileges into failures (make test and CI set it).
const PrivilegedEnv = "GOLVS_TEST_PRIVILEGED"

// CommandTimeout bounds every command a helper runs.
const CommandTimeout = 30 * time.Second

// RequirePrivileged skips t when it lacks root, or fails it when
// GOLVS_TEST_PRIVILEGED=1 says privileged tests must run. It also checks that
// the named programs are installed (scripts/deps.sh installs them).
func RequirePrivileged(t testing.TB, programs ...string) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces, BPF)")
	}
	for _, p := range append([]string{"ip", "nsenter"}, programs...) {
		if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, p+" (run scripts/deps.sh)")
		}
	}
	if len(missing) == 0 {
		return
	}
	reason := "needs " + strings.Join(missing, ", ")
	if os.Getenv(PrivilegedEnv) == "1" {
		t.Fatalf("%s; %s=1 forbids skipping", reason, PrivilegedEnv)
	}
	t.Skip(reason)
}

// Prefix is the name prefix of everything this test process creates:
// "gle2e<pid>-".
var Prefix = fmt.Sprintf("gle2e%d-", os.Getpid())

var netSeq atomic.Int64

// Net is a set of namespaces owned by one test; they are deleted when the
// test ends.
type Net struct {
	t testing.TB
	// Prefix names this Net's namespaces: "gle2e<pid>-<n>-".
	Prefix string
}

// NewNet returns an empty Net for t.
func NewNet(t testing.TB) *Net {
	t.Helper()
	return &Net{t: t, Prefix: fmt.Sprintf("%s%d-", Prefix, netSeq.Add(1))}
}

// Namespace is a network namespace created by a Net.
type Namespace struct {
	// Name is the full name under /var/run/netns.
	Name string
	net  *Net
}

// AddNamespace creates the namespace Prefix+name with its loopback up, and
// deletes it, killing whatever still runs in it, when the test ends.
//
// IPv6 is on (the layouts are dual-stack: 198.18.0.0/15 and 2001:db8::/32)
// but quiet and immediate: no duplicate address detection, so an address
// is usable the moment it is added (links made later inherit "default"),
// and no router solicitations or advertisements.
func (n *Net) AddNamespace(name string) *Namespace {
	n.t.Helper()
	ns := &Namespace{Name: n.Prefix + name, net: n}
	if _, err := Run(context.Background(), "ip", "netns", "add", ns.Name); err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() {
		if err := DeleteNamespace(ns.Name); err != nil {
			n.t.Errorf("cleanup: %v", err)
		}
	})
	ns.MustIP("link", "set", "lo", "up")
	for _, l := range []string{"all", "default"} {
		ns.Sysctl("net.ipv6.conf."+l+".accept_dad", "0")
		ns.Sysctl("net.ipv6.conf."+l+".dad_transmits", "0")
		ns.Sysctl("net.ipv6.conf."+l+".accept_ra", "0")
		ns.Sysctl("net.ipv6.conf."+l+".router_solicitations", "0")
	}
	return ns
}

// DeleteNamespace kills the processes left in namespace name and deletes it.
func DeleteNamespace(name string) error {
	out, err := Run(context.Background(), "ip", "netns", "pids", name)
	if err == nil {
		for _, f := range strings.Fields(out) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
				// Only processes a test started can live in its namespace.
				_ = killPid(pid)
			}
		}
	}
	if _, err := Run(context.Background(), "ip", "netns", "del", name); err != nil {
		return fmt.Errorf("delete namespace %s: %w", name, err)
	}
	return nil
}

// Run runs a command in the host namespace and returns its standard output;
// the error carries the command line, its exit status and standard error.
func Run(ctx context.Context, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		return stdout.String(), &CmdError{Argv: argv, Err: err, Stdout: stdout.String(), Stderr: stderr.String()}
	}
	return stdout.String(), nil
}

// CmdError is a command that failed.
type CmdError struct {
	Argv           []string
	Err            error
	Stdout, Stderr string
}

func (e *CmdError) Error() string {
	return fmt.Sprintf("%s: %v: %s", strings.Join(e.Argv, " "), e.Err, strings.TrimSpace(e.Stderr+"\n"+e.Stdout))
}

func (e *CmdError) Unwrap() error { return e.Err }

// Exec runs argv inside the namespace ("ip netns exec") and returns its
// standard output.
func (ns *Namespace) Exec(argv ...string) (string, error) {
	return Run(context.Background(), append([]string{"ip", "netns", "exec", ns.Name}, argv...)...)
}

// MustExec is Exec that fails the test on error.
func (ns *Namespace) MustExec(argv ...string) string {
	ns.net.t.Helper()
	out, err := ns.Exec(argv...)
	if err != nil {
		ns.net.t.Fatal(err)
	}
	return out
}

// MustIP runs "ip -n NS args..." and fails the test on error.
func (ns *Namespace) MustIP(args ...string) string {
	ns.net.t.Helper()
	out, err := Run(context.Background(), append([]string{"ip", "-n", ns.Name}, args...)...)
	if err != nil {
		ns.net.t.Fatal(err)
	}
	return out
}

// Sysctl sets a sysctl of the namespace, such as
// "net.ipv4.conf.all.rp_filter". Keys the kernel lacks are an error.
func (ns *Namespace) Sysctl(key, value string) {
	ns.net.t.Helper()
	// /proc/sys/net is per namespace: it shows the namespace of the process
	// that opens it, which "ip netns exec" makes ours.
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	if _, err := ns.Exec("sh", "-c", `printf '%s\n' "$1" > "$2"`, "sysctl", value, path); err != nil {
		ns.net.t.Fatalf("sysctl %s=%s in %s: %v", key, value, ns.Name, err)
	}
}

// Veth creates a veth pair between namespaces a and b, named aLink in a and
// bLink in b, and sets both ends up.
func Veth(a *Namespace, aLink string, b *Namespace, bLink string) {
	a.net.t.Helper()
	a.MustIP("link", "add", aLink, "type", "veth", "peer", "name", bLink, "netns", b.Name)
	a.MustIP("link", "set", aLink, "up")
	b.MustIP("link", "set", bLink, "up")
}

// AddBridge creates a bridge in ns (no STP, so ports forward at once) and
// enslaves the given links to it.
func (ns *Namespace) AddBridge(name string, ports ...string) {
	ns.net.t.Helper()
	ns.MustIP("link", "add", name, "type", "bridge", "stp_state", "0", "forward_delay", "0")
	ns.MustIP("link", "set", name, "up")
	for _, p := range ports {
		ns.MustIP("link", "set", p, "master", name, "up")
	}
}

// AddAddr adds an address in CIDR form ("198.18.0.2/24",
// "2001:db8:18::2/64") to link. IPv6 addresses are added without duplicate
// address detection ("nodad"), usable at once.
func (ns *Namespace) AddAddr(link, cidr string) {
	ns.net.t.Helper()
	args := []string{"addr", "add", cidr, "dev", link}
	if strings.Contains(cidr, ":") {
		args = append(args, "nodad")
	}
	ns.MustIP(args...)
}

// SetMTU sets the MTU of link.
func (ns *Namespace) SetMTU(link string, mtu int) {
	ns.net.t.Helper()
	ns.MustIP("link", "set", "dev", link, "mtu", strconv.Itoa(mtu))
}

// AddRoute adds a route: AddRoute("default", "via", "198.19.0.1").
func (ns *Namespace) AddRoute(args ...string) {
	ns.net.t.Helper()
	ns.MustIP(append([]string{"route", "add"}, args...)...)
}

// Path is the namespace's file under /var/run/netns, for nsenter --net.
func (ns *Namespace) Path() string { return "/var/run/netns/" + ns.Name }
