// Package multiappend is the cluster API call with which a frontend
// stores the messages of one APPEND command that carries several
// (MULTIAPPEND, RFC 3502) on the backend that holds the mailbox, all in
// one spool commit or none: the backends' IMAP library takes one message
// per APPEND.
//
// The request body is a stream: before each message a header, one line
// of JSON, then the message's Size bytes; last a header with End set. A
// body that stops before that header (the frontend or its client went
// away part way) stores nothing, whatever came before.
package multiappend

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/rookery-mail/rookery/internal/clusterapi"
)

// Route is the backend's route (backend/multiappend.go).
const Route = "POST /v1/backend/append/{mailbox}"

// MaxMessages bounds the messages of one call.
const MaxMessages = 1000

// maxHeader bounds a header line: its flags are a STORE's at most.
const maxHeader = 64 << 10

// Errors the route answers by name.
var (
	// ErrNoMailbox: the backend holds no such mailbox.
	ErrNoMailbox = errors.New("multiappend: no such mailbox on this backend")
	// ErrNotPrimary: the backend does not serve the mailbox's writes.
	ErrNotPrimary = errors.New("multiappend: the mailbox is served by another backend")
	// ErrInvalid: the request is malformed, a flag among them.
	ErrInvalid = errors.New("multiappend: invalid request")
	// ErrTooBig: a message is over the backend's size limit.
	ErrTooBig = errors.New("multiappend: message too big")
	// ErrOverQuota: the messages would take their owner past the quota.
	ErrOverQuota = errors.New("multiappend: over quota")
	// ErrUnavailable: the backend cannot take them now; try again.
	ErrUnavailable = errors.New("multiappend: unavailable")
)

// Codes is the route's table of error codes.
var Codes = clusterapi.Table{
	{Name: "no_mailbox", Err: ErrNoMailbox, Status: http.StatusNotFound},
	{Name: "not_primary", Err: ErrNotPrimary, Status: http.StatusConflict},
	{Name: "too_big", Err: ErrTooBig, Status: http.StatusRequestEntityTooLarge},
	{Name: "over_quota", Err: ErrOverQuota, Status: http.StatusInsufficientStorage},
	{Name: "unavailable", Err: ErrUnavailable, Status: http.StatusServiceUnavailable},
	{Name: clusterapi.CodeBadRequest, Err: ErrInvalid, Status: http.StatusBadRequest},
}

// Header comes before each message, and after the last.
type Header struct {
	Flags []string `json:"flags,omitempty"`
	// Date is the message's internal date; zero: when it is stored.
	Date time.Time `json:"date,omitzero"`
	Size int64     `json:"size,omitempty"`
	// End: no message follows; the messages before are complete.
	End bool `json:"end,omitempty"`
}

// Reply is the stored messages' UIDs, in the request's order, and the
// mailbox's UIDVALIDITY.
type Reply struct {
	UIDValidity uint32   `json:"uid_validity"`
	UIDs        []uint32 `json:"uids"`
}

// WriteHeader writes h to w as a request's next header.
func WriteHeader(w io.Writer, h Header) error {
	data, err := json.Marshal(h)
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// ReadHeader reads the next header of a request.
func ReadHeader(r *bufio.Reader) (Header, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return Header{}, fmt.Errorf("%w: a header over %d bytes", ErrInvalid, r.Size())
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Header{}, fmt.Errorf("%w: the request ended before its last header: %w", ErrInvalid, err)
	}
	var h Header
	if err := json.Unmarshal(bytes.TrimSpace(line), &h); err != nil {
		return Header{}, fmt.Errorf("%w: header: %v", ErrInvalid, err)
	}
	if !h.End && h.Size <= 0 {
		return Header{}, fmt.Errorf("%w: a message of %d bytes", ErrInvalid, h.Size)
	}
	return h, nil
}

// NewReader reads a request's headers from r: lines of up to maxHeader.
func NewReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, maxHeader) }

// Remote calls the route on backends' nodes through API.
type Remote struct{ API *clusterapi.Client }

// Append sends body, a request as above, to the backend whose node's API
// is at apiAddr, for mailbox. The call lasts as long as body does: ctx
// should end it only when the caller gives up.
func (r Remote) Append(ctx context.Context, apiAddr string, mailbox uint64, body io.Reader) (Reply, error) {
	var out Reply
	err := r.API.With(Codes).Call(ctx, http.MethodPost, apiAddr, "/v1/backend/append/"+strconv.FormatUint(mailbox, 10), nil, body, &out)
	return out, err
}
