package api

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"golvs/internal/lvs"
)

// Client calls lvsd over its unix socket: lvsadm's transport.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client for the lvsd listening on socket.
func NewClient(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}
	return &Client{socket: socket, http: &http.Client{Transport: tr}}
}

// Apply makes every change or none; a *lvs.ChangeError names the one
// refused. A single command is a batch of one.
func (c *Client) Apply(ctx context.Context, changes []lvs.Change) error {
	return c.call(ctx, http.MethodPost, pathApply, changes, nil, true)
}

// Services lists the services in the order they were added, each with its
// reals in IPVS list order (newest first).
func (c *Client) Services(ctx context.Context) ([]lvs.ServiceStatus, error) {
	var out []lvs.ServiceStatus
	err := c.call(ctx, http.MethodGet, pathServices, nil, &out, true)
	return out, err
}

// Conns lists the connection table.
func (c *Client) Conns(ctx context.Context) ([]lvs.Conn, error) {
	var out []lvs.Conn
	err := c.do(ctx, http.MethodGet, pathConns, nil, &out)
	return out, err
}

// Info describes the daemon.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var out Info
	err := c.do(ctx, http.MethodGet, pathInfo, nil, &out)
	return out, err
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	return c.call(ctx, method, path, in, out, false)
}

// call makes an API call; with bulk its bodies are gob rather than JSON
// (see Handler).
func (c *Client) call(ctx context.Context, method, path string, in, out any, bulk bool) error {
	var body io.Reader
	switch {
	case in != nil && bulk:
		// Encoded as it is sent, so that lvsd decodes a restore's
		// batch while lvsadm still encodes it. The transport closes
		// the body whatever happens, which ends the encoder.
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(gob.NewEncoder(pw).Encode(in)) }()
		body = pr
	case in != nil:
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://lvsd"+path, body)
	if err != nil {
		return err
	}
	if bulk {
		if in != nil {
			req.Header.Set("Content-Type", gobType)
		}
		req.Header.Set("Accept", gobType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return fmt.Errorf("%w (cannot connect to %s: %w)", ErrNotRunning, c.socket, op.Err)
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&eb); err != nil {
			return fmt.Errorf("lvsd answered %s", resp.Status)
		}
		var err error = errors.New(eb.Message)
		if sentinel := sentinelOf(eb.Code); sentinel != nil {
			err = &remoteError{msg: eb.Message, sentinel: sentinel}
		}
		if eb.Index != nil {
			err = &lvs.ChangeError{Index: *eb.Index, Err: err}
		}
		return err
	}
	if out == nil {
		return nil
	}
	if isGob(resp.Header.Get("Content-Type")) {
		return gob.NewDecoder(resp.Body).Decode(out)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// remoteError is an error lvsd returned: its message as lvsd wrote it,
// matching the lvs sentinel it was built on.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }
