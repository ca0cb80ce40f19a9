package api

import (
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golvs/internal/lvs"
)

// maxBody bounds request bodies. The largest legitimate one is a batch
// restoring a full table: every service with every real it may have, at a
// few hundred bytes a change.
const maxBody = 512 << 20

// Routes of the API, relative to the socket.
const (
	// pathApply is the one route that changes anything: a batch of
	// lvs.Change, all or nothing.
	pathApply    = "/v1/apply"
	pathServices = "/v1/services"
	pathConns    = "/v1/conns"
	pathInfo     = "/v1/info"
)

// Listen creates the API socket at path, mode 0600, replacing a stale
// socket but refusing one another lvsd still answers on.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("socket %s: another lvsd is answering on it", path)
	}
	os.Remove(path)
	// The umask makes the socket 0600 from the start: no window in which
	// another user could connect.
	l, err := listenPrivate(path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return l, nil
}

// Serve answers API calls on l until ctx is cancelled, then closes l and
// removes its socket.
func Serve(ctx context.Context, l net.Listener, d Director, log *slog.Logger) error {
	defer os.Remove(l.Addr().String())
	srv := &http.Server{Handler: Handler(d, log), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		return nil
	case err := <-done:
		return err
	}
}

// Handler returns the HTTP handler serving d.
func Handler(d Director, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+pathApply, call(log, func(ctx context.Context, changes []lvs.Change) (any, error) {
		return nil, d.Apply(ctx, changes)
	}))
	mux.HandleFunc("GET "+pathServices, call(log, func(ctx context.Context, _ struct{}) (any, error) {
		return d.Services(ctx)
	}))
	mux.HandleFunc("GET "+pathConns, call(log, func(ctx context.Context, _ struct{}) (any, error) {
		return d.Conns(ctx)
	}))
	mux.HandleFunc("GET "+pathInfo, call(log, func(ctx context.Context, _ struct{}) (any, error) {
		t, err := d.Timeouts(ctx)
		if err != nil {
			return nil, err
		}
		return Info{Version: Version, ConnTableSize: d.ConnTableSize(), Timeouts: t}, nil
	}))
	if c, ok := d.(Controller); ok {
		controlRoutes(mux, c, log)
	}
	return mux
}

// call adapts a typed function to an HTTP handler: it decodes the request
// body strictly into In and encodes the result or the error.
//
// Bodies are JSON, unless the request says otherwise: a body of type
// gobType is gob, and a result is written in gob to a request that accepts
// gobType (errors are always JSON). lvsadm asks for gob for its bulk
// calls, a restore's batch and the listing: at 100,000 reals JSON took
// most of their time, gob a fifth of it.
func call[In any](log *slog.Logger, fn func(context.Context, In) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in In
		if r.Method == http.MethodPost {
			body := io.LimitReader(r.Body, maxBody)
			var err error
			if isGob(r.Header.Get("Content-Type")) {
				err = gob.NewDecoder(body).Decode(&in)
			} else {
				dec := json.NewDecoder(body)
				dec.DisallowUnknownFields()
				err = dec.Decode(&in)
			}
			if err != nil {
				writeError(w, fmt.Errorf("%w: request body: %v", lvs.ErrInvalid, err))
				return
			}
		}
		out, err := fn(r.Context(), in)
		if err != nil {
			if codeOf(err) == "internal" {
				log.Error("api call", slog.String("path", r.URL.Path), slog.Any("err", err))
			}
			writeError(w, err)
			return
		}
		if out != nil && isGob(r.Header.Get("Accept")) {
			w.Header().Set("Content-Type", gobType)
			if err := gob.NewEncoder(w).Encode(out); err != nil {
				log.Error("api call: write result", slog.String("path", r.URL.Path), slog.Any("err", err))
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if out == nil {
			out = struct{}{}
		}
		json.NewEncoder(w).Encode(out)
	}
}

// gobType is the media type of gob bodies (encoding/gob, one value).
const gobType = "application/x-gob"

// isGob reports whether a Content-Type or Accept header names gobType.
func isGob(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		if t, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && t == gobType {
			return true
		}
	}
	return false
}

func writeError(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	code := codeOf(err)
	switch {
	case code == "internal":
		status = http.StatusInternalServerError
	case errors.Is(err, lvs.ErrNoService), errors.Is(err, lvs.ErrNoReal):
		status = http.StatusNotFound
	case errors.Is(err, lvs.ErrServiceExists), errors.Is(err, lvs.ErrRealExists):
		status = http.StatusConflict
	}
	body := errorBody{Code: code, Message: err.Error()}
	var ce *lvs.ChangeError
	if errors.As(err, &ce) {
		body.Index = &ce.Index
		body.Message = ce.Err.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}
