package layout

// The rules of golvs's package graph, checked by the tests in
// layout_test.go. Packages are named by their directory under the module
// root.
//
// Test files count. A package's _test.go files, in-package and external,
// are held to the package's rules, because a test that reaches up the stack
// ties the package to what is above it as much as its code does. The one
// allowance is for the test-support packages below: test files of any
// package may import them, production code never.

// layer is one level of the stack of production packages.
type layer struct {
	name string
	why  string // what the layer's packages are, and so why they sit here
	pkgs []string
}

// layers lists the production packages bottom up. A package may import
// golvs packages of lower layers only: never one above it, and never one of
// its own layer, so that every package can be read, built and tested with
// the layers below it alone.
var layers = []layer{
	{"model",
		"the vocabulary every other package speaks (Service, Real, Change and IPVS's validation); it does no I/O and imports no golvs package",
		[]string{"internal/lvs"}},
	{"model services",
		"packages that know the model and nothing else: the kernel's computations (scheduler kinds and tables, the rate estimator) and the control API's wire types, server and client",
		[]string{"internal/sched", "internal/estimator", "internal/api"}},
	{"BPF plumbing",
		"what both BPF objects' loaders share: the bpffs and its pin versions, the test-run context of a TC program, addresses and ports as the maps hold them",
		[]string{"internal/datapath/bpffs", "internal/datapath/testrun", "internal/datapath/wire"}},
	{"model I/O",
		"each reads or writes the model in one outside form: the golvs YAML configuration, the BPF programs and maps (datapath for the balancer, decap for real servers)",
		[]string{"internal/config", "internal/datapath", "internal/datapath/decap"}},
	{"adapters",
		"keepalived.conf and the real servers' health, in terms of the golvs configuration",
		[]string{"internal/keepalived", "internal/health"}},
	{"state",
		"lvsd's running state: the engine owns the configuration and drives the datapath; metrics reads the state for Prometheus",
		[]string{"internal/engine", "internal/metrics"}},
	{"controllers",
		"drive the engine from outside sources: the configuration file and its health checks",
		[]string{"internal/configfile"}},
	{"programs",
		"the logic of one program each (lvsd, lvsadm, lvsrs); they are separate binaries, so none imports another",
		[]string{"internal/daemon", "internal/ipvsadm", "internal/realserver"}},
	{"mains",
		"flags and wiring only",
		[]string{"cmd/lvsd", "cmd/lvsadm", "cmd/lvsrs"}},
}

// testSupport are packages written for tests: network namespaces and
// veths, the BPF_PROG_TEST_RUN harness, line-by-line models of the kernel's
// schedulers, test frames, golden files. Test files of any package may
// import them, and they may import any production package and each other;
// production code never imports them, so no binary carries them.
var testSupport = []string{
	"internal/testnet",
	"internal/datapath/datapathtest",
	"internal/datapath/decap/decaptest",
	"internal/datapath/objtest",
	"internal/sched/schedtest",
	"internal/packet",
	"internal/golden",
}

// testOnly are packages of tests alone, above everything: they may import
// any package and no package imports them.
var testOnly = []string{
	"test/e2e",
	"test/differential",
	"bench",
	"internal/layout",
}

// forbidden lists imports the layers allow but the design does not, with
// the reason. A transitive rule covers everything the package links into
// its binary (its non-test files and all they import), not only its own
// imports; a direct rule covers the package's own files, tests included.
var forbidden = []struct {
	pkg, imports string
	transitive   bool
	why          string
}{
	{"internal/engine", "internal/api", false,
		"the engine takes lvs.Change, the one change vocabulary; the API is one of its callers, wired to it by internal/daemon, so the engine is used and tested without the transport"},
	{"cmd/lvsrs", "internal/datapath", true,
		"a real server runs only the decapsulation program (internal/datapath/decap); linking the balancer's datapath would put the balancer's BPF objects and map layout into lvsrs"},
}

// libraries names the third-party packages that only a few golvs packages
// may import (tests included), and which. An owner "dir/..." is dir and its
// sub-packages.
var libraries = []struct {
	path   string // import path; its sub-packages are covered too
	owners []string
	why    string
}{
	{"github.com/cilium/ebpf",
		[]string{"internal/datapath/..."},
		"map layouts, byte order and program loading are handled in one place, next to the bpf2go output"},
	{"github.com/vishvananda/netlink",
		[]string{
			// Attaches TC and XDP programs to links; datapathtest builds
			// the veths its fixtures run on.
			"internal/datapath/...",
			// Adds and removes the VIPs on a real server's links.
			"internal/realserver",
			// Lists the host's links to resolve --interfaces before the
			// datapath attaches to them.
			"internal/daemon",
		},
		"links are touched only where programs are attached and addresses configured; the rest of golvs (testnet too, which runs ip(8) inside its namespaces) leaves links to those packages"},
}
