// Package golden compares a test's output with a golden file, byte for
// byte, and rewrites the file instead when the test runs with -update.
//
// Importing it registers the -update flag of the test binary, so a test
// package that uses it must not define its own. Golden files are rewritten
// only by an explicit
//
//	go test ./internal/foo -run TestBar -update
//
// and the diff of the rewrite is then reviewed like any other change.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files of the tests that run with their current output")

// Check compares got with the contents of the golden file at path (relative
// to the package directory, by convention under testdata/). They must be
// equal byte for byte; when they are not, Check fails tb with a line-by-line
// diff (-want +got) and the command that rewrites the file. With -update it
// writes got to path and compares nothing.
func Check(tb testing.TB, path, got string) {
	tb.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			tb.Fatalf("update golden file: %v", err)
		}
		tb.Logf("wrote %s", path)
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read golden file: %v (%s creates it)", err, regenerate(tb))
	}
	if got == string(want) {
		return
	}
	// Lines make the diff readable and keep it exact: splitting on "\n"
	// loses nothing, so equal lines mean equal bytes, and cmp quotes each
	// line, which shows trailing blanks and a missing final newline.
	diff := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(got, "\n"))
	tb.Errorf("output differs from %s (-want +got):\n%s\nif the change is meant, %s rewrites the file", path, diff, regenerate(tb))
}

// regenerate returns the go test command that reruns just this test with
// -update, from the module root.
func regenerate(tb testing.TB) string {
	var run []string
	for _, name := range strings.Split(tb.Name(), "/") {
		run = append(run, "^"+regexp.QuoteMeta(name)+"$")
	}
	return "go test " + packageDir() + " -run '" + strings.Join(run, "/") + "' -update"
}

// packageDir returns the directory of the package under test (the working
// directory of a test) relative to the module root, as ./dir, or "." when
// it cannot tell.
func packageDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for root := wd; ; root = filepath.Dir(root) {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			rel, err := filepath.Rel(root, wd)
			if err != nil || rel == "." {
				return "."
			}
			return "./" + filepath.ToSlash(rel)
		}
		if root == filepath.Dir(root) {
			return "." // reached / without finding go.mod
		}
	}
}
