package keepalived

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"golvs/internal/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// dump is what the golden files hold: the configuration as lvsd will run
// it, then the warnings.
func dump(c *config.Config, warns []Warning) string {
	var b bytes.Buffer
	config.Dump(&b, c)
	fmt.Fprintf(&b, "warnings: %d\n", len(warns))
	for _, w := range warns {
		fmt.Fprintf(&b, "  %s\n", w)
	}
	return b.String()
}

// TestGolden reads every testdata/*.conf (each written after one of
// keepalived's doc/samples) and compares the result with its .golden
// file. Run with -update to rewrite them after a deliberate change.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".conf")
		t.Run(name, func(t *testing.T) {
			c, warns, err := Load(f, Options{ConfigID: "lb1"})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got := dump(c, warns)
			golden := strings.TrimSuffix(f, ".conf") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s differs from %s (-want +got):\n%s", f, golden, diff)
			}
			// What Load returns must also be a table lvs accepts.
			if _, err := c.Table(); err != nil {
				t.Errorf("Table: %v", err)
			}
		})
	}
}

// TestExample reads the sample shipped in examples/.
func TestExample(t *testing.T) {
	c, warns, err := Load("../../examples/keepalived.conf", Options{ConfigID: "director-1"})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	got := dump(c, warns)
	const golden = "testdata/example.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("examples/keepalived.conf differs from %s (-want +got):\n%s", golden, diff)
	}
}
