// Package objtest checks golvs's BPF objects in tests: the layouts of
// their ABI types and maps against the Go side, and their programs
// against the verifier budget checked in as bpf/verifier-budget.txt.
package objtest

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// Type is a C struct of an object's BTF and the size of the Go type that
// mirrors it.
type Type struct {
	Name string
	Size uintptr
}

// Map is a map of an object and the sizes Go uses for its key and value.
type Map struct {
	Name       string
	Key, Value uintptr
}

// CheckLayouts checks Go type sizes against spec's BTF and the maps' key
// and value sizes against what Go uses.
func CheckLayouts(t testing.TB, spec *ebpf.CollectionSpec, types []Type, maps []Map) {
	t.Helper()
	for _, c := range types {
		typ, err := spec.Types.AnyTypeByName(c.Name)
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		n, err := btf.Sizeof(typ)
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		if uintptr(n) != c.Size {
			t.Errorf("struct %s is %d bytes in C, %d in Go", c.Name, n, c.Size)
		}
	}
	for _, m := range maps {
		ms := spec.Maps[m.Name]
		if ms == nil {
			t.Errorf("no map %s", m.Name)
			continue
		}
		if uintptr(ms.KeySize) != m.Key || uintptr(ms.ValueSize) != m.Value {
			t.Errorf("map %s: key %d value %d bytes, Go uses %d and %d", m.Name, ms.KeySize, ms.ValueSize, m.Key, m.Value)
		}
	}
}

// The verifier's hard limits: BPF_COMPLEXITY_LIMIT_INSNS, and MAX_BPF_STACK
// for the frames of one call chain together.
const (
	MaxInsns = 1_000_000
	MaxStack = 512
)

// Figures are what the verifier reports of one program: Insns is its
// "processed N insns", Stack the deepest call chain's stack in bytes (see
// Measure).
type Figures struct {
	Insns int
	Stack int
	// Chain is the deepest call chain, each function with its frame.
	Chain string
}

// Budget is the most a program may take of the verifier's limits.
type Budget struct {
	Insns int
	Stack int
}

// BudgetFile is the budget's path in the repository.
const BudgetFile = "bpf/verifier-budget.txt"

// LoadBudget reads BudgetFile: one line per program, "name insns stack",
// with # comments.
func LoadBudget() (map[string]Budget, error) {
	_, src, _, ok := runtime.Caller(0)
	if !ok {
		return nil, errors.New("load verifier budget: no source path")
	}
	path := filepath.Join(filepath.Dir(src), "..", "..", "..", filepath.FromSlash(BudgetFile))
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load verifier budget: %w", err)
	}
	defer f.Close()
	out := map[string]Budget{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 3 {
			return nil, fmt.Errorf("load verifier budget: %s:%d: want \"program insns stack\"", BudgetFile, n)
		}
		insns, err1 := strconv.Atoi(fields[1])
		stack, err2 := strconv.Atoi(fields[2])
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("load verifier budget: %s:%d: %w", BudgetFile, n, err)
		}
		if insns > MaxInsns || stack > MaxStack {
			return nil, fmt.Errorf("load verifier budget: %s:%d: %s above the verifier's limits (%d insns, %d stack bytes)",
				BudgetFile, n, fields[0], MaxInsns, MaxStack)
		}
		if _, dup := out[fields[0]]; dup {
			return nil, fmt.Errorf("load verifier budget: %s:%d: %s twice", BudgetFile, n, fields[0])
		}
		out[fields[0]] = Budget{Insns: insns, Stack: stack}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("load verifier budget: %w", err)
	}
	return out, nil
}

var (
	processedRE = regexp.MustCompile(`(?m)^processed (\d+) insns`)
	stackRE     = regexp.MustCompile(`(?m)^stack depth ([0-9+]+)$`)
)

// Measure loads every program of spec with the verifier's statistics and
// returns their figures by program name. The verifier prints one stack
// depth per subprogram ("stack depth A+B+..."), in the order of their
// first instruction; the limit holds for a call chain, so Stack is the
// deepest chain's sum, each frame rounded up to 32 bytes as the kernel
// rounds it for the interpreter (the stricter of its two roundings; the
// JIT's is 16). A bpf_loop callback counts as called by the function that
// passes it, as the verifier counts it.
func Measure(spec *ebpf.CollectionSpec) (map[string]Figures, error) {
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{
		Programs: ebpf.ProgramOptions{LogLevel: ebpf.LogLevelStats},
	})
	if err != nil {
		return nil, fmt.Errorf("load for verifier figures: %w", err)
	}
	defer coll.Close()
	out := map[string]Figures{}
	for name, prog := range coll.Programs {
		log := prog.VerifierLog
		m := processedRE.FindStringSubmatch(log)
		s := stackRE.FindStringSubmatch(log)
		if m == nil || s == nil {
			return nil, fmt.Errorf("program %s: no figures in the verifier log:\n%s", name, log)
		}
		insns, _ := strconv.Atoi(m[1])
		var depths []int
		for _, d := range strings.Split(s[1], "+") {
			n, err := strconv.Atoi(d)
			if err != nil {
				return nil, fmt.Errorf("program %s: stack depth %q: %w", name, s[1], err)
			}
			depths = append(depths, n)
		}
		stack, chain, err := chainDepth(spec.Programs[name].Instructions, depths)
		if err != nil {
			return nil, fmt.Errorf("program %s: %w", name, err)
		}
		out[name] = Figures{Insns: insns, Stack: stack, Chain: chain}
	}
	return out, nil
}

// chainDepth returns the deepest call chain's stack, and the chain, of a
// program whose instructions (with their subprograms) are insns and whose
// subprograms use depths bytes each, in the order they start.
func chainDepth(insns asm.Instructions, depths []int) (int, string, error) {
	var funcs []string
	calls := map[string][]string{}
	cur := ""
	for _, ins := range insns {
		if sym := ins.Symbol(); sym != "" {
			funcs = append(funcs, sym)
			cur = sym
		}
		if ins.IsFunctionCall() || ins.IsLoadOfFunctionPointer() {
			if ref := ins.Reference(); ref != "" && !slices.Contains(calls[cur], ref) {
				calls[cur] = append(calls[cur], ref)
			}
		}
	}
	if len(funcs) != len(depths) {
		return 0, "", fmt.Errorf("%d subprograms, the verifier gave %d stack depths", len(funcs), len(depths))
	}
	frame := map[string]int{}
	for i, f := range funcs {
		frame[f] = (max(depths[i], 1) + 31) &^ 31
	}
	type chain struct {
		depth int
		path  string
	}
	memo := map[string]chain{}
	var deepest func(f string, level int) chain
	deepest = func(f string, level int) chain {
		if c, ok := memo[f]; ok {
			return c
		}
		var below chain
		if level < len(funcs) { // the verifier refuses recursion; guard anyway
			for _, c := range calls[f] {
				if d := deepest(c, level+1); d.depth > below.depth {
					below = d
				}
			}
		}
		c := chain{frame[f] + below.depth, fmt.Sprintf("%s(%d)", f, frame[f])}
		if below.path != "" {
			c.path += " > " + below.path
		}
		memo[f] = c
		return c
	}
	c := deepest(funcs[0], 0)
	return c.depth, c.path, nil
}

// CheckBudget loads every program of spec with the verifier's statistics,
// logs their figures and fails t for a program above its budget, or one
// without a budget.
func CheckBudget(t testing.TB, spec *ebpf.CollectionSpec) {
	t.Helper()
	budget, err := LoadBudget()
	if err != nil {
		t.Fatal(err)
	}
	figs, err := Measure(spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range slices.Sorted(maps.Keys(figs)) {
		f := figs[name]
		b, ok := budget[name]
		if !ok {
			t.Errorf("%s: %d insns processed, stack %d bytes: no budget in %s", name, f.Insns, f.Stack, BudgetFile)
			continue
		}
		t.Logf("%s: %d insns processed (budget %d, limit %d), stack %d bytes (budget %d, limit %d): %s",
			name, f.Insns, b.Insns, MaxInsns, f.Stack, b.Stack, MaxStack, f.Chain)
		if f.Insns > b.Insns {
			t.Errorf("%s: %d insns processed, above its budget of %d (%s)", name, f.Insns, b.Insns, BudgetFile)
		}
		if f.Stack > b.Stack {
			t.Errorf("%s: stack %d bytes, above its budget of %d (%s)", name, f.Stack, b.Stack, BudgetFile)
		}
	}
}
