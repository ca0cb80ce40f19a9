package golden

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that keeps what Check reports instead of
// failing the real test.
type recorder struct {
	testing.TB
	failed bool
	msg    string
}

func (r *recorder) Helper()             {}
func (r *recorder) Name() string        { return "TestList/numeric_listing" }
func (r *recorder) Logf(string, ...any) {}

func (r *recorder) Errorf(format string, args ...any) {
	r.failed = true
	r.msg = fmt.Sprintf(format, args...)
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

// check runs Check on a recorder in its own goroutine, since Fatalf ends
// the goroutine it is called on.
func check(path, got string) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Check(r, path, got)
	}()
	<-done
	return r
}

// setUpdate sets the -update flag for one test.
func setUpdate(t *testing.T, v bool) {
	old := *update
	*update = v
	t.Cleanup(func() { *update = old })
}

func TestCheck(t *testing.T) {
	setUpdate(t, false)
	path := filepath.Join(t.TempDir(), "listing.golden")
	if err := os.WriteFile(path, []byte("TCP  198.18.0.10:80 wrr\n  -> 198.18.1.1:80\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		path  string
		got   string
		fails bool
		says  []string
	}{
		{"equal bytes pass", path, "TCP  198.18.0.10:80 wrr\n  -> 198.18.1.1:80\n", false, nil},
		{"a trailing blank fails", path, "TCP  198.18.0.10:80 wrr \n  -> 198.18.1.1:80\n", true,
			[]string{`"TCP  198.18.0.10:80 wrr "`, "-want +got", "go test ./internal/golden -run '^TestList$/^numeric_listing$' -update"}},
		{"a missing final newline fails", path, "TCP  198.18.0.10:80 wrr\n  -> 198.18.1.1:80", true, []string{"-want +got"}},
		{"a missing file fails with the command that creates it", path + ".missing", "x", true,
			[]string{"no such file", "-update creates it"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := check(tt.path, tt.got)
			if r.failed != tt.fails {
				t.Fatalf("failed = %v, want %v (%s)", r.failed, tt.fails, r.msg)
			}
			for _, s := range tt.says {
				if !strings.Contains(r.msg, s) {
					t.Errorf("message does not say %q:\n%s", s, r.msg)
				}
			}
		})
	}
}

func TestCheckUpdateWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.golden")
	setUpdate(t, true)
	if r := check(path, "new output\n"); r.failed {
		t.Fatalf("update failed: %s", r.msg)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "new output\n" {
		t.Errorf("after -update the file holds %q (%v), want the output", b, err)
	}
}
