package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"golvs/internal/lvs"
)

// recorder is a Director that records calls and fails with err.
type recorder struct {
	calls []string
	err   error
}

func (r *recorder) rec(format string, a ...any) error {
	r.calls = append(r.calls, fmt.Sprintf(format, a...))
	return r.err
}
func (r *recorder) Services(context.Context) ([]lvs.ServiceStatus, error) {
	return []lvs.ServiceStatus{{
		Service: lvs.Service{ServiceKey: key, Scheduler: "rr"},
		Stats:   lvs.Stats{Conns: 3, InPkts: 1 << 40},
		Reals:   []lvs.RealStatus{{Real: lvs.Real{Addr: rip, Method: lvs.Masq, Weight: 2}, ActiveConns: 1}},
	}}, r.rec("services")
}
func (r *recorder) Conns(context.Context) ([]lvs.Conn, error) {
	return []lvs.Conn{{Protocol: lvs.TCP, Client: netip.MustParseAddrPort("198.18.0.2:40000"), Virtual: key.Addr, Real: rip, State: "ESTABLISHED", Expires: 899 * time.Second}}, r.rec("conns")
}

// Apply records each change of the batch; a failing change stops it.
func (r *recorder) Apply(_ context.Context, changes []lvs.Change) error {
	for i, c := range changes {
		k, x, t := c.Service.ServiceKey, c.Real, c.Timeouts
		var err error
		switch c.Op {
		case lvs.OpAddService, lvs.OpEditService:
			err = r.rec("%s %s %s", c.Op, k, c.Service.Scheduler)
		case lvs.OpAddReal, lvs.OpEditReal:
			err = r.rec("%s %s %s %s %d", c.Op, k, x.Addr, x.Method, x.Weight)
		case lvs.OpDeleteReal:
			err = r.rec("%s %s %s", c.Op, k, x.Addr)
		case lvs.OpSetTimeouts:
			err = r.rec("%s %v %v %v", c.Op, t.TCP, t.TCPFin, t.UDP)
		default:
			err = r.rec("%s %s", c.Op, k)
		}
		if err != nil {
			return &lvs.ChangeError{Index: i, Err: err}
		}
	}
	return nil
}
func (r *recorder) Timeouts(context.Context) (lvs.Timeouts, error) {
	return lvs.DefaultTimeouts, r.rec("timeouts")
}
func (r *recorder) ConnTableSize() int { return 4096 }

var (
	key = lvs.ServiceKey{Protocol: lvs.TCP, Addr: netip.MustParseAddrPort("198.18.0.10:80")}
	rip = netip.MustParseAddrPort("198.19.0.11:80")
)

func serve(t *testing.T, d Director) (*Client, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "lvsd.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- Serve(ctx, l, d, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return NewClient(sock), sock
}

func TestClientCallsReachTheDirector(t *testing.T) {
	rec := &recorder{}
	c, _ := serve(t, rec)
	ctx := context.Background()
	real := lvs.Real{Addr: rip, Method: lvs.Route, Weight: 3}
	svc := lvs.Service{ServiceKey: key}
	for _, batch := range [][]lvs.Change{
		{{Op: lvs.OpAddService, Service: lvs.Service{ServiceKey: key, Scheduler: "wrr"}}},
		{{Op: lvs.OpEditService, Service: lvs.Service{ServiceKey: key, Scheduler: "lc"}}},
		{{Op: lvs.OpAddReal, Service: svc, Real: real}},
		{{Op: lvs.OpEditReal, Service: svc, Real: real}},
		{{Op: lvs.OpDeleteReal, Service: svc, Real: lvs.Real{Addr: rip}}},
		{{Op: lvs.OpDeleteService, Service: svc}},
		{{Op: lvs.OpClear}},
		{{Op: lvs.OpSetTimeouts, Timeouts: lvs.Timeouts{TCP: time.Minute}}},
		{{Op: lvs.OpZero}},
		{{Op: lvs.OpZero, Service: svc}},
		{{Op: lvs.OpAddService, Service: svc}, {Op: lvs.OpClear}},
	} {
		if err := c.Apply(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	info, err := c.Info(ctx)
	if err != nil || info != (Info{Version: Version, ConnTableSize: 4096, Timeouts: lvs.DefaultTimeouts}) {
		t.Fatalf("info %+v, %v", info, err)
	}
	svcs, err := c.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if svcs[0].Stats.InPkts != 1<<40 || svcs[0].Reals[0].ActiveConns != 1 || svcs[0].Reals[0].Method != lvs.Masq {
		t.Fatalf("services came back as %+v", svcs)
	}
	conns, err := c.Conns(ctx)
	if err != nil || conns[0].Expires != 899*time.Second || conns[0].State != "ESTABLISHED" {
		t.Fatalf("conns %+v, %v", conns, err)
	}
	want := []string{
		"add-service TCP 198.18.0.10:80 wrr",
		"edit-service TCP 198.18.0.10:80 lc",
		"add-server TCP 198.18.0.10:80 198.19.0.11:80 Route 3",
		"edit-server TCP 198.18.0.10:80 198.19.0.11:80 Route 3",
		"delete-server TCP 198.18.0.10:80 198.19.0.11:80",
		"delete-service TCP 198.18.0.10:80",
		"flush ? invalid AddrPort",
		"set 1m0s 0s 0s",
		"zero ? invalid AddrPort",
		"zero TCP 198.18.0.10:80",
		"add-service TCP 198.18.0.10:80 ",
		"flush ? invalid AddrPort",
		"timeouts",
		"services",
		"conns",
	}
	if diff := cmp.Diff(want, rec.calls); diff != "" {
		t.Fatalf("calls (-want +got):\n%s", diff)
	}
}

func TestErrorsKeepTheirMeaning(t *testing.T) {
	for _, code := range codes {
		sentinel := code.err
		rec := &recorder{err: fmt.Errorf("%w: detail", sentinel)}
		c, _ := serve(t, rec)
		err := c.Apply(context.Background(), []lvs.Change{{Op: lvs.OpAddService, Service: lvs.Service{ServiceKey: key, Scheduler: "rr"}}})
		if !errors.Is(err, sentinel) || !strings.Contains(err.Error(), "detail") {
			t.Errorf("got %v, want %v with its detail", err, sentinel)
		}
	}
}

func TestRefusedBatchNamesItsChange(t *testing.T) {
	c, _ := serve(t, &recorder{err: fmt.Errorf("%w: detail", lvs.ErrNoService)})
	err := c.Apply(context.Background(), []lvs.Change{{Op: lvs.OpDeleteService}})
	var ce *lvs.ChangeError
	if !errors.As(err, &ce) || ce.Index != 0 || !errors.Is(err, lvs.ErrNoService) || ce.Err.Error() != "no such service: detail" {
		t.Fatalf("got %#v, want a ChangeError for change 0 wrapping ErrNoService", err)
	}
}

func TestSocketIsPrivate(t *testing.T) {
	_, sock := serve(t, &recorder{})
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("socket mode %v, want 0600", perm)
	}
}

func TestClientSaysWhenLvsdIsNotRunning(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	c := NewClient(sock)
	_, err := c.Services(context.Background())
	if !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), sock) {
		t.Fatalf("got %v, want ErrNotRunning naming %s", err, sock)
	}
	// A batch, whose body is encoded as it is sent, too.
	err = c.Apply(context.Background(), []lvs.Change{{Op: lvs.OpClear}})
	if !errors.Is(err, ErrNotRunning) {
		t.Fatalf("batch: got %v, want ErrNotRunning", err)
	}
}

func TestUnknownFieldsAreRejected(t *testing.T) {
	rec := &recorder{}
	_, sock := serve(t, rec)
	c := NewClient(sock)
	req, _ := http.NewRequest(http.MethodPost, "http://lvsd"+pathApply, strings.NewReader(`[{"op":"add-service","service":{"protocol":6,"addr":"198.18.0.10:80","scheduler":"rr","persistence_timeout":300}}]`))
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || len(rec.calls) != 0 {
		t.Fatalf("status %d, calls %v: want 400 and no call", resp.StatusCode, rec.calls)
	}
}

func TestSecondServerRefusesALiveSocket(t *testing.T) {
	_, sock := serve(t, &recorder{})
	_, err := Listen(sock)
	if err == nil || !strings.Contains(err.Error(), "another lvsd") {
		t.Fatalf("got %v, want a refusal", err)
	}
}

// TestBulkCallsSpeakGobAndJSON checks that the calls the client makes in
// gob (the listing, a batch) give what the same calls give in JSON, which
// stays what a request that does not ask for gob gets.
func TestBulkCallsSpeakGobAndJSON(t *testing.T) {
	rec := &recorder{}
	c, _ := serve(t, rec)
	ctx := context.Background()
	viaGob, err := c.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.http.Get("http://lvsd" + pathServices)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("a listing without Accept came as %q, want JSON", ct)
	}
	var viaJSON []lvs.ServiceStatus
	if err := json.NewDecoder(resp.Body).Decode(&viaJSON); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(viaJSON, viaGob, cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})); diff != "" {
		t.Fatalf("listing in gob differs from JSON (-json +gob):\n%s", diff)
	}

	batch := []lvs.Change{
		{Op: lvs.OpAddService, Service: lvs.Service{ServiceKey: key, Scheduler: "wrr", Persistent: time.Minute}},
		{Op: lvs.OpAddReal, Service: lvs.Service{ServiceKey: key}, Real: lvs.Real{Addr: rip, Method: lvs.Tunnel, TunType: lvs.TunGUE, TunPort: 6080}},
	}
	rec.calls = nil
	if err := c.Apply(ctx, batch); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(batch)
	resp, err = c.http.Post("http://lvsd"+pathApply, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(rec.calls) != 4 || rec.calls[0] != rec.calls[2] || rec.calls[1] != rec.calls[3] {
		t.Fatalf("status %d, calls %v: want the batch applied twice alike", resp.StatusCode, rec.calls)
	}
	// A gob body that is not gob is refused like bad JSON.
	req, _ := http.NewRequest(http.MethodPost, "http://lvsd"+pathApply, strings.NewReader(`[{"op":"flush"}]`))
	req.Header.Set("Content-Type", gobType)
	resp, err = c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || len(rec.calls) != 4 {
		t.Fatalf("a bad gob body: status %d, calls %v, want 400 and no call", resp.StatusCode, rec.calls)
	}
}

// TestCodeOfIsDeterministic checks that an error wrapping two sentinels
// always gets the code of the one listed first, whatever the run.
func TestCodeOfIsDeterministic(t *testing.T) {
	err := errors.Join(lvs.ErrTableFull, lvs.ErrInvalid)
	for range 100 {
		if got := codeOf(err); got != "invalid" {
			t.Fatalf("codeOf = %q, want invalid (listed before table_full)", got)
		}
	}
}
