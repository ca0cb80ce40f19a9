package keepalived

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"golvs/internal/config"
	"golvs/internal/golden"
)

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
			golden.Check(t, strings.TrimSuffix(f, ".conf")+".golden", got)
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
	golden.Check(t, "testdata/example.golden", got)
}
