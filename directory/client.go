package directory

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/clusterapi"
)

// Client calls one node's cluster API (the admin CLI, and nodes calling
// each other) through the cluster API's one client frame.
type Client struct {
	addr   string // host:port
	secret string
	api    *clusterapi.Client
}

// NewClient returns a client for the node whose cluster API listens on
// apiAddr (host:port or an http:// URL), authenticating with secret.
func NewClient(apiAddr, secret string) *Client {
	addr := strings.TrimPrefix(strings.TrimPrefix(apiAddr, "http://"), "https://")
	return &Client{
		addr:   strings.TrimSuffix(addr, "/"),
		secret: secret,
		api:    clusterapi.NewClient(secret, &http.Client{Timeout: time.Minute}, false, Codes()),
	}
}

// WithTLS makes c call the node over https in mutual TLS with cfg (a
// node's MutualClientConfig: the cluster API refuses callers without a
// certificate of the cluster CA when the cluster runs with TLS). It
// returns c.
func (c *Client) WithTLS(cfg *tls.Config) *Client {
	hc := &http.Client{Timeout: time.Minute, Transport: clusterapi.Transport(&net.Dialer{Timeout: 10 * time.Second}, cfg)}
	c.api = clusterapi.NewClient(c.secret, hc, true, Codes())
	return c
}

// API is the client's frame, for calls to other roles' routes (a
// backend's) made with the same credentials, connections and scheme.
func (c *Client) API() *clusterapi.Client { return c.api }

// HTTP is the client's connection pool.
func (c *Client) HTTP() *http.Client { return c.api.HTTP() }

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

// call makes one request and decodes the JSON reply into out (if non-nil).
// A failed call is a *clusterapi.Error that unwraps to the sentinel its
// error_code names, so errors.Is works across the wire.
func (c *Client) call(ctx context.Context, method, path string, body []byte, hdr http.Header, out any) error {
	var in any
	if body != nil {
		in = body
	}
	return c.api.Call(ctx, method, c.addr, path, hdr, in, out)
}

// At returns a client for the node whose cluster API is at apiAddr, with
// c's secret and connections (its TLS certificate included).
func (c *Client) At(apiAddr string) *Client {
	return &Client{addr: apiAddr, secret: c.secret, api: c.api}
}
