package layout

import (
	"bufio"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// imp is one import of one Go file.
type imp struct {
	path string // as written
	pos  string // file:line, relative to the module root
	test bool   // in a _test.go file
}

// pkg is one package directory: its Go files, tests included, and their
// imports. Build constraints are ignored, so an import in a file built for
// another platform counts too.
type pkg struct {
	files   []string
	imports []imp
}

// repo is the parsed module.
type repo struct {
	module string
	pkgs   map[string]*pkg // by directory relative to the module root
}

// dir returns the package directory of a golvs import path, or false for
// an import from outside the module.
func (r *repo) dir(path string) (string, bool) {
	if path == r.module {
		return ".", true
	}
	return strings.CutPrefix(path, r.module+"/")
}

var scanned = sync.OnceValues(scanRepo)

// scan returns the module, parsed once for all tests.
func scan(t *testing.T) *repo {
	t.Helper()
	r, err := scanned()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// scanRepo parses the imports of every Go file under the module root,
// skipping testdata, bin and hidden directories.
func scanRepo() (*repo, error) {
	root, err := filepath.Abs("../..")
	if err != nil {
		return nil, err
	}
	module, err := modulePath(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil, err
	}
	r := &repo{module: module, pkgs: map[string]*pkg{}}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(rel))
		p := r.pkgs[dir]
		if p == nil {
			p = &pkg{}
			r.pkgs[dir] = p
		}
		p.files = append(p.files, path)
		af, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, is := range af.Imports {
			ip, err := strconv.Unquote(is.Path.Value)
			if err != nil {
				return fmt.Errorf("%s: import %s: %w", rel, is.Path.Value, err)
			}
			p.imports = append(p.imports, imp{
				path: ip,
				pos:  fmt.Sprintf("%s:%d", filepath.ToSlash(rel), fset.Position(is.Pos()).Line),
				test: strings.HasSuffix(path, "_test.go"),
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// modulePath reads the module line of go.mod.
func modulePath(gomod string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if m, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(m), `"`), nil
		}
	}
	if err := s.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s has no module line", gomod)
}

// dirs returns the package directories in order, so failures read the
// same from run to run.
func (r *repo) dirs() []string {
	out := make([]string, 0, len(r.pkgs))
	for dir := range r.pkgs {
		out = append(out, dir)
	}
	slices.Sort(out)
	return out
}

// edges groups offending imports by importer and imported package, so a
// rule broken in ten files is reported once, with every place.
type edges struct {
	keys []string
	pos  map[string][]string
}

func (e *edges) add(from, to, pos string) {
	if e.pos == nil {
		e.pos = map[string][]string{}
	}
	k := from + " " + to
	if _, ok := e.pos[k]; !ok {
		e.keys = append(e.keys, k)
	}
	e.pos[k] = append(e.pos[k], pos)
}

// each calls f for every edge in the order first added.
func (e *edges) each(f func(from, to string, pos []string)) {
	for _, k := range e.keys {
		from, to, _ := strings.Cut(k, " ")
		f(from, to, e.pos[k])
	}
}

// kind says where a package sits in the rules of rules_test.go.
type kind int

const (
	production kind = iota
	support
	testsOnly
)

// place is a package's kind and, for production packages, its layer.
type place struct {
	kind  kind
	layer int
}

// places indexes rules_test.go's tables by package directory, and reports
// a package listed twice.
func places(t *testing.T) map[string]place {
	t.Helper()
	m := map[string]place{}
	put := func(dir string, p place) {
		if _, dup := m[dir]; dup {
			t.Errorf("%s has two places in rules_test.go; give it one", dir)
		}
		m[dir] = p
	}
	for i, l := range layers {
		for _, dir := range l.pkgs {
			put(dir, place{production, i})
		}
	}
	for _, dir := range testSupport {
		put(dir, place{kind: support})
	}
	for _, dir := range testOnly {
		put(dir, place{kind: testsOnly})
	}
	return m
}

// TestEveryPackageHasAPlace checks that every package of the module is in
// exactly one of layers, testSupport and testOnly, so the layering rules
// cover it.
func TestEveryPackageHasAPlace(t *testing.T) {
	where := places(t)
	for _, dir := range scan(t).dirs() {
		if _, ok := where[dir]; !ok {
			t.Errorf("package %s has no place in internal/layout/rules_test.go: add it to the layer it belongs to (or to testSupport or testOnly), so the import rules cover it", dir)
		}
	}
}

// TestLayers checks every import between golvs packages, tests included,
// against the layers: production packages import only lower layers, only
// test files and test-support packages import test-support packages, and
// nothing imports a test-only package.
func TestLayers(t *testing.T) {
	r := scan(t)
	where := places(t)
	var up, sideways, support2prod, intoTests edges
	for _, from := range r.dirs() {
		p := r.pkgs[from]
		pf, placed := where[from]
		if !placed {
			continue // TestEveryPackageHasAPlace reports it
		}
		for _, im := range p.imports {
			to, ok := r.dir(im.path)
			if !ok || to == from {
				continue
			}
			pt, placed := where[to]
			if !placed {
				continue
			}
			switch {
			case pt.kind == testsOnly:
				intoTests.add(from, to, im.pos)
			case pt.kind == support:
				if pf.kind == production && !im.test {
					support2prod.add(from, to, im.pos)
				}
			case pf.kind != production:
				// Test-support and test-only packages may import any
				// production package.
			case pt.layer > pf.layer:
				up.add(from, to, im.pos)
			case pt.layer == pf.layer:
				sideways.add(from, to, im.pos)
			}
		}
	}
	up.each(func(from, to string, pos []string) {
		lf, lt := layers[where[from].layer], layers[where[to].layer]
		t.Errorf("%s imports %s at %s, but %s is in layer %d (%s), above %s's layer %d (%s: %s); a package imports only layers below its own, so it can be built and tested with those alone",
			from, to, strings.Join(pos, ", "), to, where[to].layer, lt.name, from, where[from].layer, lf.name, lf.why)
	})
	sideways.each(func(from, to string, pos []string) {
		l := layers[where[from].layer]
		t.Errorf("%s imports %s at %s: both are in layer %d (%s), whose packages do not import each other: %s",
			from, to, strings.Join(pos, ", "), where[from].layer, l.name, l.why)
	})
	support2prod.each(func(from, to string, pos []string) {
		t.Errorf("%s imports the test-support package %s from non-test code at %s: only test files may, so that no binary carries test scaffolding",
			from, to, strings.Join(pos, ", "))
	})
	intoTests.each(func(from, to string, pos []string) {
		t.Errorf("%s imports the test-only package %s at %s: test-only packages sit above everything and nothing imports them",
			from, to, strings.Join(pos, ", "))
	})
}

// TestForbiddenImports checks the rules of forbidden: direct ones against
// the package's own files, tests included, and transitive ones against
// everything the package's binary links in.
func TestForbiddenImports(t *testing.T) {
	r := scan(t)
	for _, rule := range forbidden {
		if _, ok := r.pkgs[rule.pkg]; !ok {
			continue // the package does not exist (yet)
		}
		if !rule.transitive {
			var bad edges
			for _, im := range r.pkgs[rule.pkg].imports {
				if to, ok := r.dir(im.path); ok && to == rule.imports {
					bad.add(rule.pkg, to, im.pos)
				}
			}
			bad.each(func(from, to string, pos []string) {
				t.Errorf("%s imports %s at %s, which it must not: %s", from, to, strings.Join(pos, ", "), rule.why)
			})
			continue
		}
		for _, chain := range r.chains(rule.pkg, rule.imports) {
			t.Errorf("%s links in %s through %s, which it must not (directly or through other packages): %s",
				rule.pkg, rule.imports, chain, rule.why)
		}
	}
}

// chains returns, for each package that from's binary links in and that
// imports to directly, the shortest import chain from -> ... -> to, with
// the place of the last import. It follows non-test files only.
func (r *repo) chains(from, to string) []string {
	// Breadth first, so each package is reached by a shortest chain.
	parent := map[string]string{from: ""}
	queue := []string{from}
	var out []string
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		p := r.pkgs[dir]
		if p == nil {
			continue
		}
		var next []string
		reported := false
		for _, im := range p.imports {
			d, ok := r.dir(im.path)
			if !ok || im.test {
				continue
			}
			if d == to {
				if reported {
					continue // one chain per importer is enough to name the import to cut
				}
				reported = true
				var path []string
				for at := dir; at != ""; at = parent[at] {
					path = append(path, at)
				}
				slices.Reverse(path)
				out = append(out, fmt.Sprintf("%s -> %s (%s)", strings.Join(path, " -> "), to, im.pos))
				continue
			}
			if _, seen := parent[d]; !seen {
				parent[d] = dir
				next = append(next, d)
			}
		}
		slices.Sort(next)
		queue = append(queue, next...)
	}
	return out
}

// TestLibraryOwners checks that only the packages libraries names import
// each of its third-party packages, tests included.
func TestLibraryOwners(t *testing.T) {
	r := scan(t)
	for _, lib := range libraries {
		t.Run(lib.path, func(t *testing.T) {
			var bad edges
			for _, dir := range r.dirs() {
				p := r.pkgs[dir]
				if owns(lib.owners, dir) {
					continue
				}
				for _, im := range p.imports {
					if im.path == lib.path || strings.HasPrefix(im.path, lib.path+"/") {
						bad.add(dir, im.path, im.pos)
					}
				}
			}
			bad.each(func(from, to string, pos []string) {
				t.Errorf("%s imports %s at %s: only %s may, because %s",
					from, to, strings.Join(pos, ", "), strings.Join(lib.owners, ", "), lib.why)
			})
		})
	}
}

// owns reports whether dir is one of owners, where "x/..." stands for x
// and its sub-packages.
func owns(owners []string, dir string) bool {
	for _, o := range owners {
		if base, ok := strings.CutSuffix(o, "/..."); ok {
			if dir == base || strings.HasPrefix(dir, base+"/") {
				return true
			}
		} else if dir == o {
			return true
		}
	}
	return false
}

// TestEveryPackageSaysWhatItIs checks for a package doc comment (in a test
// file for packages that are only tests).
func TestEveryPackageSaysWhatItIs(t *testing.T) {
	fset := token.NewFileSet()
	r := scan(t)
	for _, dir := range r.dirs() {
		p := r.pkgs[dir]
		documented := false
		for _, f := range p.files {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(src), "Code generated") {
				continue
			}
			af, err := parser.ParseFile(fset, f, src, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if af.Doc != nil && strings.TrimSpace(af.Doc.Text()) != "" {
				documented = true
			}
		}
		if !documented {
			t.Errorf("package %s has no doc comment", dir)
		}
	}
}
