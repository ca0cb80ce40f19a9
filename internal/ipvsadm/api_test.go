package ipvsadm

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

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
	stdin := ""
	lvsadm := func(args ...string) result {
		var out, errb bytes.Buffer
		status := Main(append([]string{"lvsadm"}, args...), strings.NewReader(stdin), &out, &errb)
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

	// A tunnel real of the other family, with every tunnel field.
	d.calls = nil
	if got := lvsadm("-a", "-t", "[2001:db8::80]:80", "-r", "198.18.1.9", "-i", "--tun-type", "gue", "--tun-port", "6080", "--tun-remcsum"); got != (result{}) {
		t.Errorf("-a -i through the API: %+v", got)
	}
	if diff := cmp.Diff([]string{"AddReal TCP [2001:db8::80]:80 198.18.1.9:80 Tunnel 1 tun=gue port=6080 flags=2"}, d.calls); diff != "" {
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

	d.err = nil
	d.calls = nil
	for _, args := range [][]string{{"-Z"}, {"-Z", "-t", "198.18.0.10:80"}, {"--set", "0", "60", "0"}} {
		if got := lvsadm(args...); got != (result{}) {
			t.Errorf("lvsadm %q through the API: %+v", args, got)
		}
	}
	if diff := cmp.Diff([]string{"Zero all", "Zero TCP 198.18.0.10:80", "SetTimeouts 0s 1m0s 0s"}, d.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}

	// A refused change of a restore keeps its index over the wire, so the
	// operator is told its line.
	before := cloneServices(d.services)
	stdin = "-A -t 198.18.0.99:80 -p 60 -M 255.255.255.0\n\n-a -t 198.18.0.98:80 -r 198.18.1.1\n"
	if diff := cmp.Diff(result{Stderr: "line 3: Service not defined\n", Status: 255}, lvsadm("-R")); diff != "" {
		t.Errorf("-R with a refused change through the API (-want +got):\n%s", diff)
	}
	if !cmp.Equal(before, d.services, cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})) {
		t.Errorf("a refused restore changed the table")
	}
	stdin = "-A -t 198.18.0.99:80 -p 60 -M 255.255.255.0 -s sh -b sh-port\n-a -t 198.18.0.99:80 -r 198.18.1.1 -x 10 -y 5\n"
	if got := lvsadm("-R"); got != (result{}) {
		t.Errorf("-R through the API: %+v", got)
	}
	stdin = ""
	got := lvsadm("-Ln", "--thresholds", "-t", "198.18.0.99:80")
	wantList := "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn \n" +
		"  -> RemoteAddress:Port\n" +
		"TCP  198.18.0.99:80 sh (sh-port) persistent 60 mask 255.255.255.0\n" +
		"  -> 198.18.1.1:80                10         5          0          0         \n"
	if diff := cmp.Diff(result{Stdout: wantList}, got); diff != "" {
		t.Errorf("listing a restored service through the API (-want +got):\n%s", diff)
	}
}

// TestTunnelsThroughAPI lists a table of tunnels and IPv6 services served
// by lvsd's API, so the tunnel fields and IPv6 netmasks cross the wire.
func TestTunnelsThroughAPI(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "lvsd.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	l, err := api.Listen(socket)
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- api.Serve(ctx, l, tunnelDirector(), slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	t.Setenv("GOLVS_SOCKET", socket)
	for _, args := range [][]string{{"-Ln", "--tun-info"}, {"-Sn"}, {"-Lnc"}, {"-Ln", "--persistent-conn"}} {
		var out, errb bytes.Buffer
		status := Main(append([]string{"lvsadm"}, args...), strings.NewReader(""), &out, &errb)
		got := result{Stdout: out.String(), Stderr: errb.String(), Status: status}
		if diff := cmp.Diff(runLvsadm(t, tunnelDirector(), args...), got); diff != "" {
			t.Errorf("lvsadm %q through the API (-want +got):\n%s", args, diff)
		}
	}
}
