package replication

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/rookery-mail/rookery/internal/clusterapi"
	"github.com/rookery-mail/rookery/spool"
)

// Client is the primary's side of the protocol. Every call takes a
// context, which bounds it.
type Client struct {
	api  *clusterapi.Client
	sent atomic.Int64 // request bytes of apply streams
}

// NewClient returns a client that authenticates with the cluster secret
// over hc (nil: a client of its own) and calls https:// URLs when tls is
// set (hc's transport then speaks TLS: clusterapi.Transport).
func NewClient(secret string, hc *http.Client, tls bool) *Client {
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	}
	return &Client{api: clusterapi.NewClient(secret, hc, tls, apiCodes)}
}

// BytesSent counts the bytes of every apply stream sent so far: headers
// and bodies.
func (c *Client) BytesSent() int64 { return c.sent.Load() }

// State asks the replica at apiAddr for its copies of mailboxes.
func (c *Client) State(ctx context.Context, apiAddr string, mailboxes []uint64) ([]spool.ReplicaState, error) {
	var resp StateResponse
	if err := c.postJSON(ctx, apiAddr, pathState, StateRequest{Mailboxes: mailboxes}, &resp); err != nil {
		return nil, err
	}
	if len(resp.States) != len(mailboxes) {
		return nil, fmt.Errorf("%w: %d states for %d mailboxes", ErrUnavailable, len(resp.States), len(mailboxes))
	}
	return resp.States, nil
}

// Reserve says which of guids the replica holds.
func (c *Client) Reserve(ctx context.Context, apiAddr string, guids []string) ([]bool, error) {
	var resp ReserveResponse
	if err := c.postJSON(ctx, apiAddr, pathReserve, ReserveRequest{GUIDs: guids}, &resp); err != nil {
		return nil, err
	}
	if len(resp.Have) != len(guids) {
		return nil, fmt.Errorf("%w: %d answers for %d bodies", ErrUnavailable, len(resp.Have), len(guids))
	}
	return resp.Have, nil
}

// BodySource opens a body by GUID on the primary.
type BodySource func(guid string) (io.ReadCloser, error)

// Apply sends batch and the bodies of send (GUIDs the replica lacks, each
// once) and waits for the replica to apply it. A non-nil fence makes the
// replica check the placement first (see Fence).
func (c *Client) Apply(ctx context.Context, apiAddr string, fence *Fence, batch spool.ChangeBatch, send []string, open BodySource) error {
	h := applyHeader{Batch: batch, Fence: fence}
	sizes := make(map[string]int64, len(batch.Records))
	for _, r := range batch.Records {
		sizes[r.GUID] = r.Size
	}
	for _, g := range send {
		h.Bodies = append(h.Bodies, bodyRef{GUID: g, Size: sizes[g]})
	}
	hdr, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("%w: encode batch: %v", ErrBadRequest, err)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(c.writeStream(pw, hdr, h.Bodies, open)) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.api.URL(apiAddr, pathApply), pr)
	if err != nil {
		pr.Close()
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.do(req)
	pr.Close() // ends the writer if the request failed before reading it all
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// writeStream writes the header and then each body, each exactly of its
// recorded size.
func (c *Client) writeStream(w io.Writer, hdr []byte, bodies []bodyRef, open BodySource) error {
	if err := binary.Write(w, binary.BigEndian, uint32(len(hdr))); err != nil {
		return err
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	c.sent.Add(int64(4 + len(hdr)))
	for _, b := range bodies {
		f, err := open(b.GUID)
		if err != nil {
			return err
		}
		n, err := io.Copy(w, io.LimitReader(f, b.Size))
		f.Close()
		c.sent.Add(n)
		if err != nil {
			return err
		}
		if n != b.Size {
			return fmt.Errorf("replica: body %s is %d bytes, recorded %d", b.GUID, n, b.Size)
		}
	}
	return nil
}

// Records fetches a copy's whole record list, for a merge.
func (c *Client) Records(ctx context.Context, apiAddr string, mailbox uint64) (RecordsResponse, error) {
	var out RecordsResponse
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.api.URL(apiAddr, pathRecords)+strconv.FormatUint(mailbox, 10), nil)
	if err != nil {
		return out, err
	}
	resp, err := c.do(req)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return out, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return out, nil
}

// Body opens a body held by the copy at apiAddr; the caller closes it.
func (c *Client) Body(ctx context.Context, apiAddr, guid string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.api.URL(apiAddr, pathBody+guid), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// DropCopy asks the backend at apiAddr to remove its copy of a mailbox
// the directory no longer names.
func (c *Client) DropCopy(ctx context.Context, apiAddr string, mailbox uint64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.api.URL(apiAddr, pathCopies)+strconv.FormatUint(mailbox, 10), nil)
	if err != nil {
		return err
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func (c *Client) postJSON(ctx context.Context, apiAddr, path string, in, out any) error {
	return unavailable(c.api.Call(ctx, http.MethodPost, apiAddr, path, nil, in, out))
}

// do sends req with the cluster secret and turns an error reply into its
// sentinel. On success the caller owns resp.Body.
func (c *Client) do(req *http.Request) (*http.Response, error) {
	resp, err := c.api.Do(req)
	return resp, unavailable(err)
}

// unavailable marks the failures no code of the protocol names (the
// network, a reply that is not the API's) as ErrUnavailable: the replica
// could not be reached, try later.
func unavailable(err error) error {
	var ae *clusterapi.Error
	if err == nil || (errors.As(err, &ae) && !errors.Is(err, clusterapi.ErrRemote)) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// RaiseFloor asks the primary at apiAddr of mailbox to put its own
// messages above the highest UID of from's copy (see FloorRequest).
func (c *Client) RaiseFloor(ctx context.Context, apiAddr string, mailbox uint64, from string) error {
	var out struct{}
	return c.postJSON(ctx, apiAddr, pathFloor, FloorRequest{Mailbox: mailbox, From: from}, &out)
}
