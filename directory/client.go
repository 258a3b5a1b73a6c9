package directory

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/tlsutil"
)

// maxReplyBytes bounds a cluster API reply the client reads.
const maxReplyBytes = 64 << 20

// Client calls one node's cluster API (the admin CLI, and nodes calling
// each other).
type Client struct {
	addr   string // host:port
	secret string
	http   *http.Client
}

// NewClient returns a client for the node whose cluster API listens on
// apiAddr (host:port or an http:// URL), authenticating with secret.
func NewClient(apiAddr, secret string) *Client {
	return &Client{
		addr:   strings.TrimSuffix(strings.TrimPrefix(apiAddr, "http://"), "/"),
		secret: secret,
		http:   &http.Client{Timeout: time.Minute},
	}
}

// WithTLS makes c dial the node in mutual TLS with cfg (a node's
// MutualClientConfig: the cluster API refuses callers without a certificate
// of the cluster CA when the cluster runs with TLS). It returns c.
func (c *Client) WithTLS(cfg *tls.Config) *Client {
	c.http = &http.Client{
		Timeout:   time.Minute,
		Transport: &http.Transport{DialContext: tlsutil.Dialer(&net.Dialer{Timeout: 10 * time.Second}, cfg)},
	}
	return c
}

// HTTP is the client's connection pool, for other calls to cluster APIs
// made with the same credentials (a backend's routes).
func (c *Client) HTTP() *http.Client { return c.http }

// Status returns the node's Status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.call(ctx, http.MethodGet, "/v1/status", nil, nil, &s)
	return s, err
}

// ClusterStatus returns every alive member's Status, as the node sees them.
func (c *Client) ClusterStatus(ctx context.Context) ([]MemberStatus, error) {
	var s []MemberStatus
	err := c.call(ctx, http.MethodGet, "/v1/cluster", nil, nil, &s)
	return s, err
}

// Apply commits cmd through the node (which forwards it to the leader).
func (c *Client) Apply(ctx context.Context, cmd fsm.Command) (fsm.Result, error) {
	data, err := fsm.Encode(cmd)
	if err != nil {
		return fsm.Result{}, fmt.Errorf("%w: encode command: %w", ErrBadRequest, err)
	}
	return c.apply(ctx, data, false)
}

// apply posts an encoded command; forwarded marks a node-to-leader hop,
// which the receiver must not forward again.
func (c *Client) apply(ctx context.Context, data []byte, forwarded bool) (fsm.Result, error) {
	hdr := http.Header{"Content-Type": {contentTypeBinary}}
	if forwarded {
		hdr.Set(forwardedHeader, "1")
	}
	var reply applyReply
	if err := c.call(ctx, http.MethodPost, "/v1/apply", data, hdr, &reply); err != nil {
		return fsm.Result{}, err
	}
	res := fsm.Result{Index: reply.Index, Mailbox: reply.Mailbox, Count: reply.Count}
	if reply.ErrorCode != "" {
		res.Err = fsm.ErrorFromCode(reply.ErrorCode)
	}
	return res, nil
}

// readIndex asks the node, which should be the leader, for a ReadIndex.
func (c *Client) readIndex(ctx context.Context) (uint64, error) {
	var reply readIndexReply
	err := c.call(ctx, http.MethodGet, "/v1/readindex", nil, nil, &reply)
	return reply.Index, err
}

// Mailboxes lists up to limit mailboxes whose names start with prefix (a
// limit of 0 takes the server's default), after a synced read.
func (c *Client) Mailboxes(ctx context.Context, prefix string, limit int) (MailboxList, error) {
	q := url.Values{"prefix": {prefix}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var list MailboxList
	err := c.call(ctx, http.MethodGet, "/v1/mailboxes?"+q.Encode(), nil, nil, &list)
	return list, err
}

// Mailbox returns one mailbox after a synced read; fsm.ErrNoMailbox if the
// name is unknown.
func (c *Client) Mailbox(ctx context.Context, name string) (*fsm.Mailbox, error) {
	var mb fsm.Mailbox
	if err := c.call(ctx, http.MethodGet, "/v1/mailboxes/"+url.PathEscape(name), nil, nil, &mb); err != nil {
		return nil, err
	}
	return &mb, nil
}

// Users lists the users (without password hashes) after a synced read.
func (c *Client) Users(ctx context.Context) ([]UserInfo, error) {
	var users []UserInfo
	err := c.call(ctx, http.MethodGet, "/v1/users?limit="+strconv.Itoa(maxListLimit), nil, nil, &users)
	return users, err
}

// Bootstrap bootstraps a fresh cluster through the node.
func (c *Client) Bootstrap(ctx context.Context) error {
	return c.call(ctx, http.MethodPost, "/v1/bootstrap", nil, nil, nil)
}

// RemoveNode removes a failed node from the Raft configuration.
func (c *Client) RemoveNode(ctx context.Context, id string) error {
	return c.removeNode(ctx, id, false)
}

func (c *Client) removeNode(ctx context.Context, id string, forwarded bool) error {
	var hdr http.Header
	if forwarded {
		hdr = http.Header{forwardedHeader: {"1"}}
	}
	return c.call(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(id)+"/remove", nil, hdr, nil)
}

// decodeError turns a failed call's reply into the sentinel its error_code
// names. A reply that is not the API's own (a TLS listener answering a
// plaintext client, a proxy in between) is reported with its text.
func decodeError(resp *http.Response, addr string) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
	var e errorReply
	if err := json.Unmarshal(body, &e); err != nil || e.ErrorCode == "" {
		text := strings.TrimSpace(string(body[:min(len(body), 200)]))
		if strings.Contains(text, "HTTPS server") {
			text += " (the node speaks TLS: give a certificate with --tls-dir or a config with tls.node_dir)"
		}
		return fmt.Errorf("%w: %s from %s: %s", ErrRemote, resp.Status, addr, text)
	}
	return remoteError(e)
}

// call makes one request and decodes the JSON reply into out (if non-nil).
// A failed call returns the sentinel its error_code names, so errors.Is
// works across the wire.
func (c *Client) call(ctx context.Context, method, path string, body []byte, hdr http.Header, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.addr+path, rd)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", bearerPrefix+c.secret)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return decodeError(resp, c.addr)
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxReplyBytes))
	if out == nil {
		return nil
	}
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%w: decoding reply from %s: %v", ErrRemote, c.addr, err)
	}
	return nil
}

// remoteError rebuilds a sentinel from an error reply: the directory's own
// codes first, then the fsm's.
func remoteError(e errorReply) error {
	sentinel := errorFromCode(e.ErrorCode)
	if fe := fsm.ErrorFromCode(e.ErrorCode); sentinel == ErrRemote && fsm.ErrorCode(fe) != fsm.CodeUnknown {
		sentinel = fe
	}
	return fmt.Errorf("%w (remote: %s)", sentinel, e.Error)
}

// At returns a client for the node whose cluster API is at apiAddr, with
// c's secret and connections (its TLS certificate included).
func (c *Client) At(apiAddr string) *Client {
	return &Client{addr: apiAddr, secret: c.secret, http: c.http}
}
