package differential

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"golvs/internal/testnet"
)

// knownDifference is a scenario whose golden lvsadm does not match on
// purpose or not yet: why, and the words of the README's compatibility
// table that state it (the test checks they are there).
type knownDifference struct {
	why    string
	readme string
}

// allowList holds the scenarios where lvsadm differs from ipvsadm 1.31 on
// Linux 6.1. The test still runs them and logs the difference; it fails
// when one matches (the entry is stale) or when the README's table does
// not say it. Every other scenario must match byte for byte.
var allowList = map[string]knownDifference{
	"refused-fwmark": {
		why:    "golvs refuses firewall-mark services: netfilter sets marks after the data plane has seen the packet at TC ingress",
		readme: "| `-f` | refused |",
	},
	"refused-sctp": {
		why:    "golvs refuses SCTP services: SCTP is not built",
		readme: "| `--sctp-service` | refused |",
	},
	"refused-pe": {
		why:    "golvs refuses --pe: the SIP persistence engine is not built",
		readme: "| `--pe` | refused |",
	},
	"refused-daemon": {
		why:    "golvs refuses the sync daemon's commands and options: connection synchronisation is not built",
		readme: "| `--start-daemon`, `--stop-daemon`, `--daemon`, `--syncid`, `--mcast-*`, `--sync-maxlen` | refused |",
	},
	"sched-twos": {
		why:    "the goldens' Linux 6.1 has no twos (it came with 6.7); golvs has it",
		readme: "twos came with Linux 6.7",
	},
	"restore-errors": {
		why:    "lvsadm's -R is all or nothing and names the line of an error; ipvsadm applies line by line",
		readme: "lvsadm parses every line first",
	},
}

var (
	binDir    string
	buildOnce sync.Once
	buildErr  error
)

// binaries builds lvsd and lvsadm from this tree once per test run.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", testnet.Prefix+"bin-")
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = "/usr/local/go/bin/go"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, goBin, "build", "-o", dir+"/", "golvs/cmd/lvsd", "golvs/cmd/lvsadm").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build lvsd lvsadm: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	if os.Geteuid() == 0 {
		testnet.SweepStale()
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// TestDifferential runs every corpus scenario through lvsadm, invoked as
// "ipvsadm" so that the messages that print argv[0] read the same, against
// an lvsd in a namespace of its own whose connection table has IPVS's
// 4096 rows, and compares with the goldens written from the real ipvsadm.
func TestDifferential(t *testing.T) {
	if flag := lookupUpdate(); flag {
		t.Fatal("the goldens come from the real ipvsadm: make differential-golden rewrites them, never -update")
	}
	corpus := loadCorpus(t)
	checkGoldensMatchCorpus(t, corpus)
	checkAllowList(t, corpus)
	testnet.RequirePrivileged(t)

	bin := binaries(t)
	// A directory with lvsadm named ipvsadm, first in lvsadm's PATH.
	pathDir := t.TempDir()
	if err := os.Symlink(filepath.Join(bin, "lvsadm"), filepath.Join(pathDir, "ipvsadm")); err != nil {
		t.Fatal(err)
	}
	ns := testnet.NewNet(t).AddNamespace("diff")
	// lvsd needs a link to attach to; no packet crosses it.
	ns.MustIP("link", "add", "diff0", "type", "veth", "peer", "name", "diff1")
	ns.MustIP("link", "set", "diff0", "up")
	ns.MustIP("link", "set", "diff1", "up")
	d := testnet.StartLVSDWith(t, ns, bin, []string{"diff0"}, "--conn-table-size", "4096")

	env := append(os.Environ(), "GOLVS_SOCKET="+d.Socket, "PATH="+pathDir+":"+os.Getenv("PATH"))
	run := func(args []string, stdin string) result {
		t.Helper()
		// lvsadm runs in the test's namespace, where a reverse lookup
		// fails at once (no DNS server is reachable), as in the VM.
		r := testnet.Command(t, stdin, env, append([]string{"nsenter", "--net=" + ns.Path(), "ipvsadm"}, args...)...)
		return result{stdout: r.Stdout, stderr: r.Stderr, status: r.Code}
	}
	for _, sc := range corpus {
		t.Run(sc.name, func(t *testing.T) {
			// Each scenario starts as in the VM: an empty table with the
			// default timeouts.
			for _, reset := range [][]string{{"-C"}, {"--set", "900", "120", "300"}} {
				if r := run(reset, ""); r.status != 0 {
					t.Fatalf("reset %v: exit %d: %s", reset, r.status, r.stderr)
				}
			}
			var results []result
			for _, c := range sc.commands {
				results = append(results, run(c.args, c.stdin))
			}
			got := render(sc, results)
			want, err := os.ReadFile(goldenPath(sc.name))
			if err != nil {
				t.Fatal(err)
			}
			known, allowed := allowList[sc.name]
			if got == string(want) {
				if allowed {
					t.Errorf("%s matches ipvsadm now: remove it from allowList (and the README's table if it says so)", sc.name)
				}
				return
			}
			diff := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(got, "\n"))
			if allowed {
				t.Logf("known difference: %s (-ipvsadm +lvsadm):\n%s", known.why, diff)
				return
			}
			t.Errorf("lvsadm differs from ipvsadm in %s (-ipvsadm +lvsadm):\n%s", goldenPath(sc.name), diff)
		})
	}
}

// checkGoldensMatchCorpus fails unless every scenario has its golden and
// every golden its scenario.
func checkGoldensMatchCorpus(t *testing.T, corpus []scenario) {
	t.Helper()
	names := map[string]bool{}
	for _, sc := range corpus {
		names[goldenPath(sc.name)] = true
		if _, err := os.Stat(goldenPath(sc.name)); err != nil {
			t.Errorf("%s has no golden: make differential-golden writes it", sc.name)
		}
	}
	goldens, _ := filepath.Glob(filepath.Join("testdata", "*.golden"))
	for _, g := range goldens {
		if !names[g] {
			t.Errorf("%s has no scenario in corpus/", g)
		}
	}
}

// checkAllowList fails for entries that name no scenario or whose
// difference the README's compatibility table does not state.
func checkAllowList(t *testing.T, corpus []scenario) {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, sc := range corpus {
		names[sc.name] = true
	}
	for name, k := range allowList {
		if !names[name] {
			t.Errorf("allowList names %s, which is not in corpus/", name)
		}
		if !bytes.Contains(readme, []byte(k.readme)) {
			t.Errorf("allowList %s: README.md does not say %q", name, k.readme)
		}
	}
}

// lookupUpdate reports whether the test binary runs with -update (the
// flag internal/golden registers when linked in).
func lookupUpdate() bool {
	for _, a := range os.Args[1:] {
		if a == "-update" || a == "--update" || strings.HasPrefix(a, "-update=true") {
			return true
		}
	}
	return false
}
