package ipvsadm

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"golvs/internal/api"
	"golvs/internal/lvs"
)

// TestThroughAPI runs lvsadm against a director served by lvsd's API, so
// the wire (JSON, error codes) is part of what is checked.
func TestThroughAPI(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "lvsd.sock")
	d := testDirector()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	l, err := api.Listen(socket)
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- api.Serve(ctx, l, d, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	t.Setenv("GOLVS_SOCKET", socket)
	lvsadm := func(args ...string) result {
		var out, errb bytes.Buffer
		status := Main(append([]string{"lvsadm"}, args...), strings.NewReader(""), &out, &errb)
		return result{Stdout: out.String(), Stderr: errb.String(), Status: status}
	}

	want := runLvsadm(t, testDirector(), "-Ln", "--stats", "--exact")
	if diff := cmp.Diff(want, lvsadm("-Ln", "--stats", "--exact")); diff != "" {
		t.Errorf("-Ln --stats --exact through the API (-want +got):\n%s", diff)
	}
	want = runLvsadm(t, testDirector(), "-Lnc")
	if diff := cmp.Diff(want, lvsadm("-Lnc")); diff != "" {
		t.Errorf("-Lnc through the API (-want +got):\n%s", diff)
	}

	d.calls = nil
	if got := lvsadm("-a", "-t", "198.18.0.10:80", "-r", "198.18.1.7:8080", "-m", "-w", "4"); got != (result{}) {
		t.Errorf("-a through the API: %+v", got)
	}
	if diff := cmp.Diff([]string{"AddReal TCP 198.18.0.10:80 198.18.1.7:8080 Masq 4"}, d.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}

	d.err = lvs.ErrNoService
	if diff := cmp.Diff(result{Stderr: "Service not defined\n", Status: 255}, lvsadm("-d", "-t", "198.18.0.99:80", "-r", "198.18.1.1")); diff != "" {
		t.Errorf("-d on a missing service through the API (-want +got):\n%s", diff)
	}
	d.err = lvs.ErrNoScheduler
	if diff := cmp.Diff(result{Stderr: "Scheduler or persistence engine not found\n", Status: 255}, lvsadm("-A", "-t", "198.18.0.11:80", "-s", "mh")); diff != "" {
		t.Errorf("-A with an unknown scheduler through the API (-want +got):\n%s", diff)
	}
}
