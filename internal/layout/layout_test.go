package layout

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// packages returns the Go files, tests included, of every package
// directory under the repository root, keyed by directory.
func packages(t *testing.T) map[string][]string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	pkgs := map[string][]string{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") {
			rel, _ := filepath.Rel(root, filepath.Dir(path))
			pkgs[rel] = append(pkgs[rel], path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// TestOnlyDatapathImportsEBPF keeps cilium/ebpf behind one package, tests
// included, so map layouts and byte order are handled in one place.
func TestOnlyDatapathImportsEBPF(t *testing.T) {
	fset := token.NewFileSet()
	for dir, files := range packages(t) {
		if dir == "internal/datapath" || strings.HasPrefix(dir, "internal/datapath/") {
			continue
		}
		for _, f := range files {
			af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if strings.HasPrefix(p, "github.com/cilium/ebpf") {
					t.Errorf("%s imports %s: only internal/datapath may", f, p)
				}
			}
		}
	}
}

// TestEveryPackageSaysWhatItIs checks for a package doc comment (in a test
// file for packages that are only tests).
func TestEveryPackageSaysWhatItIs(t *testing.T) {
	fset := token.NewFileSet()
	for dir, files := range packages(t) {
		documented := false
		for _, f := range files {
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
