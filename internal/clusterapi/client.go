package clusterapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxReplyBytes bounds a reply the client reads.
const maxReplyBytes = 64 << 20

// ErrRemote: a call failed in a way no code of the caller's table names
// (a reply that is not the API's own, a code from a newer node).
var ErrRemote = errors.New("clusterapi: cluster API call failed")

// Error is a failed call as the node answered it.
type Error struct {
	URL    string // scheme://host:port/path of the call
	Status int
	Reply
	sentinel error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s from %s", e.Message, http.StatusText(e.Status), e.URL)
}

// Unwrap is the sentinel the code names, so errors.Is works across the wire.
func (e *Error) Unwrap() error { return e.sentinel }

// Client calls the cluster APIs of other nodes with one secret and one
// connection pool.
type Client struct {
	secret string
	scheme string // "http", or "https" over mutual TLS
	http   *http.Client
	codes  Table
}

// NewClient returns a client that authenticates with secret over hc (nil:
// http.DefaultClient), maps error codes back through codes, and calls
// https:// URLs when tls is set: hc's transport then speaks TLS to them
// (see Transport), and every error names the scheme the call used.
func NewClient(secret string, hc *http.Client, tls bool, codes Table) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return &Client{secret: secret, scheme: scheme, http: hc, codes: codes}
}

// URL is the address of path on the node at addr (host:port).
func (c *Client) URL(addr, path string) string {
	return c.scheme + "://" + strings.TrimSuffix(addr, "/") + path
}

// HTTP is the client's connection pool.
func (c *Client) HTTP() *http.Client { return c.http }

// WithoutTimeout returns a client like c whose pool has no whole-call
// timeout, for calls that stream as long as they take (a move, a
// backup); their context bounds them.
func (c *Client) WithoutTimeout() *Client {
	hc := *c.http
	hc.Timeout = 0
	d := *c
	d.http = &hc
	return &d
}

// TLS reports whether the client calls https:// URLs.
func (c *Client) TLS() bool { return c.scheme == "https" }

// With returns a client with c's secret, pool and scheme that maps error
// codes through codes.
func (c *Client) With(codes Table) *Client {
	d := *c
	d.codes = codes
	return &d
}

// Do sends req with the secret. A reply other than 2xx becomes an *Error
// wrapping the sentinel its code names; on success the caller owns the body.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	req.Header.Set("Authorization", Bearer(c.secret))
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, c.decodeError(resp, req.URL.String())
}

func (c *Client) decodeError(resp *http.Response, url string) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &Error{URL: url, Status: resp.StatusCode, sentinel: ErrRemote}
	if err := json.Unmarshal(body, &e.Reply); err != nil || e.Code == "" {
		text := strings.TrimSpace(string(body[:min(len(body), 200)]))
		if strings.Contains(text, "HTTPS server") {
			text += " (the node speaks TLS: give a certificate with --tls-dir or a config with tls.node_dir)"
		}
		e.Reply = Reply{Code: CodeInternal, Message: text}
		return e
	}
	if s := c.codes.Sentinel(e.Code); s != nil {
		e.sentinel = s
	}
	return e
}

// Call sends a request with in (nil: no body; []byte or an io.Reader: sent
// as it is, as application/octet-stream, a reader streamed until it ends;
// anything else: as JSON) and decodes a JSON reply into out
// (nil: the reply is dropped).
func (c *Client) Call(ctx context.Context, method, addr, path string, hdr http.Header, in, out any) error {
	var body io.Reader
	contentType := ""
	switch v := in.(type) {
	case nil:
	case []byte:
		body, contentType = bytes.NewReader(v), "application/octet-stream"
	case io.Reader:
		body, contentType = v, "application/octet-stream"
	default:
		data, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("clusterapi: encoding request: %w", err)
		}
		body, contentType = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL(addr, path), body)
	if err != nil {
		return fmt.Errorf("clusterapi: %w", err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if contentType != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxReplyBytes)).Decode(out); err != nil {
		return fmt.Errorf("%w: decoding the reply of %s: %v", ErrRemote, req.URL, err)
	}
	return nil
}
