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
	"net/netip"

	"golvs/internal/lvs"
)

// Client calls lvsd over its unix socket. It implements Director.
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

// AddService adds virtual service s (its Reals are ignored).
func (c *Client) AddService(ctx context.Context, s lvs.Service) error {
	return c.do(ctx, http.MethodPost, pathAddService, s, nil)
}

// EditService replaces the options of virtual service s.
func (c *Client) EditService(ctx context.Context, s lvs.Service) error {
	return c.do(ctx, http.MethodPost, pathEditService, s, nil)
}

// DeleteService deletes virtual service k and its real servers.
func (c *Client) DeleteService(ctx context.Context, k lvs.ServiceKey) error {
	return c.do(ctx, http.MethodPost, pathDeleteService, k, nil)
}

// Clear deletes every virtual service.
func (c *Client) Clear(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, pathClear, struct{}{}, nil)
}

// AddReal adds real server r to service k.
func (c *Client) AddReal(ctx context.Context, k lvs.ServiceKey, r lvs.Real) error {
	return c.do(ctx, http.MethodPost, pathAddReal, realRequest{k, r}, nil)
}

// EditReal replaces the options of real server r.Addr of service k.
func (c *Client) EditReal(ctx context.Context, k lvs.ServiceKey, r lvs.Real) error {
	return c.do(ctx, http.MethodPost, pathEditReal, realRequest{k, r}, nil)
}

// DeleteReal deletes real server addr from service k.
func (c *Client) DeleteReal(ctx context.Context, k lvs.ServiceKey, addr netip.AddrPort) error {
	return c.do(ctx, http.MethodPost, pathDeleteReal, realRequest{Service: k, Real: lvs.Real{Addr: addr}}, nil)
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

// SetTimeouts changes the connection timeouts; zero fields stay as they are.
func (c *Client) SetTimeouts(ctx context.Context, t lvs.Timeouts) error {
	return c.do(ctx, http.MethodPost, pathTimeouts, t, nil)
}

// Zero zeroes the statistics of service k, or of all services when k is nil.
func (c *Client) Zero(ctx context.Context, k *lvs.ServiceKey) error {
	return c.do(ctx, http.MethodPost, pathZero, zeroRequest{Service: k}, nil)
}

// Apply makes every change or none; a *ChangeError names the one refused.
func (c *Client) Apply(ctx context.Context, changes []Change) error {
	return c.call(ctx, http.MethodPost, pathApply, changes, nil, true)
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
		if sentinel, ok := codes[eb.Code]; ok {
			err = &remoteError{msg: eb.Message, sentinel: sentinel}
		}
		if eb.Index != nil {
			err = &ChangeError{Index: *eb.Index, Err: err}
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
