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
func (r *recorder) AddService(_ context.Context, s lvs.Service) error {
	return r.rec("add %s %s", s.ServiceKey, s.Scheduler)
}
func (r *recorder) EditService(_ context.Context, s lvs.Service) error {
	return r.rec("edit %s %s", s.ServiceKey, s.Scheduler)
}
func (r *recorder) DeleteService(_ context.Context, k lvs.ServiceKey) error {
	return r.rec("delete %s", k)
}
func (r *recorder) Clear(context.Context) error { return r.rec("clear") }
func (r *recorder) AddReal(_ context.Context, k lvs.ServiceKey, x lvs.Real) error {
	return r.rec("add-real %s %s %s %d", k, x.Addr, x.Method, x.Weight)
}
func (r *recorder) EditReal(_ context.Context, k lvs.ServiceKey, x lvs.Real) error {
	return r.rec("edit-real %s %s %s %d", k, x.Addr, x.Method, x.Weight)
}
func (r *recorder) DeleteReal(_ context.Context, k lvs.ServiceKey, a netip.AddrPort) error {
	return r.rec("delete-real %s %s", k, a)
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
func (r *recorder) SetTimeouts(_ context.Context, t lvs.Timeouts) error {
	return r.rec("set %v %v %v", t.TCP, t.TCPFin, t.UDP)
}
func (r *recorder) Zero(_ context.Context, k *lvs.ServiceKey) error {
	if k == nil {
		return r.rec("zero all")
	}
	return r.rec("zero %s", k)
}
func (r *recorder) Apply(_ context.Context, changes []Change) error {
	for i, c := range changes {
		if err := r.rec("apply %s %s", c.Op, c.Service.ServiceKey); err != nil {
			return &ChangeError{Index: i, Err: err}
		}
	}
	return nil
}
func (r *recorder) Info(context.Context) (Info, error) {
	return Info{Version: Version, ConnTableSize: 4096, Timeouts: lvs.DefaultTimeouts}, r.rec("info")
}

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
	for _, err := range []error{
		c.AddService(ctx, lvs.Service{ServiceKey: key, Scheduler: "wrr"}),
		c.EditService(ctx, lvs.Service{ServiceKey: key, Scheduler: "lc"}),
		c.AddReal(ctx, key, real),
		c.EditReal(ctx, key, real),
		c.DeleteReal(ctx, key, rip),
		c.DeleteService(ctx, key),
		c.Clear(ctx),
		c.SetTimeouts(ctx, lvs.Timeouts{TCP: time.Minute}),
		c.Zero(ctx, nil),
		c.Zero(ctx, &key),
		c.Apply(ctx, []Change{{Op: OpAddService, Service: lvs.Service{ServiceKey: key}}, {Op: OpClear}}),
	} {
		if err != nil {
			t.Fatal(err)
		}
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
		"add TCP 198.18.0.10:80 wrr",
		"edit TCP 198.18.0.10:80 lc",
		"add-real TCP 198.18.0.10:80 198.19.0.11:80 Route 3",
		"edit-real TCP 198.18.0.10:80 198.19.0.11:80 Route 3",
		"delete-real TCP 198.18.0.10:80 198.19.0.11:80",
		"delete TCP 198.18.0.10:80",
		"clear",
		"set 1m0s 0s 0s",
		"zero all",
		"zero TCP 198.18.0.10:80",
		"apply add-service TCP 198.18.0.10:80",
		"apply flush ? invalid AddrPort",
		"services",
		"conns",
	}
	if diff := cmp.Diff(want, rec.calls); diff != "" {
		t.Fatalf("calls (-want +got):\n%s", diff)
	}
}

func TestErrorsKeepTheirMeaning(t *testing.T) {
	for _, sentinel := range codes {
		rec := &recorder{err: fmt.Errorf("%w: detail", sentinel)}
		c, _ := serve(t, rec)
		err := c.AddService(context.Background(), lvs.Service{ServiceKey: key, Scheduler: "rr"})
		if !errors.Is(err, sentinel) || !strings.Contains(err.Error(), "detail") {
			t.Errorf("got %v, want %v with its detail", err, sentinel)
		}
	}
}

func TestRefusedBatchNamesItsChange(t *testing.T) {
	c, _ := serve(t, &recorder{err: fmt.Errorf("%w: detail", lvs.ErrNoService)})
	err := c.Apply(context.Background(), []Change{{Op: OpDeleteService}})
	var ce *ChangeError
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
	err = c.Apply(context.Background(), []Change{{Op: OpClear}})
	if !errors.Is(err, ErrNotRunning) {
		t.Fatalf("batch: got %v, want ErrNotRunning", err)
	}
}

func TestUnknownFieldsAreRejected(t *testing.T) {
	rec := &recorder{}
	_, sock := serve(t, rec)
	c := NewClient(sock)
	req, _ := http.NewRequest(http.MethodPost, "http://lvsd"+pathAddService, strings.NewReader(`{"protocol":6,"addr":"198.18.0.10:80","scheduler":"rr","persistence_timeout":300}`))
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

	batch := []Change{
		{Op: OpAddService, Service: lvs.Service{ServiceKey: key, Scheduler: "wrr", Persistent: time.Minute}},
		{Op: OpAddReal, Service: lvs.Service{ServiceKey: key}, Real: lvs.Real{Addr: rip, Method: lvs.Tunnel, TunType: lvs.TunGUE, TunPort: 6080}},
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
