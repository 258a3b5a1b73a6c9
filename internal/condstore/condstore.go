// Package condstore is the cluster API call with which a frontend reads
// and changes messages' flags together with the modseqs they were set at,
// on the backend that holds the mailbox: CONDSTORE (RFC 7162) answered by
// the frontend, which the backends' IMAP library does not offer. Each call
// is one read, or one transaction, of the backend's spool, so a message's
// flags and its modseq always come from the same moment.
package condstore

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/rookery-mail/rookery/internal/clusterapi"
)

// The backend's routes (backend/condstore.go).
const (
	RouteRead  = "POST /v1/backend/condstore/{mailbox}/read"
	RouteStore = "POST /v1/backend/condstore/{mailbox}/store"
)

// Errors the routes answer by name.
var (
	// ErrNoMailbox: the backend's spool holds no such mailbox.
	ErrNoMailbox = errors.New("condstore: no such mailbox on this backend")
	// ErrNotPrimary: the backend does not serve the mailbox's writes.
	ErrNotPrimary = errors.New("condstore: the mailbox is served by another backend")
	// ErrInvalid: the request is malformed.
	ErrInvalid = errors.New("condstore: invalid request")
)

// Codes is the routes' table of error codes.
var Codes = clusterapi.Table{
	{Name: "no_mailbox", Err: ErrNoMailbox, Status: http.StatusNotFound},
	{Name: "not_primary", Err: ErrNotPrimary, Status: http.StatusConflict},
	{Name: clusterapi.CodeBadRequest, Err: ErrInvalid, Status: http.StatusBadRequest},
}

// Range is the UIDs from First to Last, both included.
type Range struct {
	First uint32 `json:"first"`
	Last  uint32 `json:"last"`
}

// Message is a message's flags and the modseq they were set at, and its
// body's GUID (the hex SHA-256 of its content) when asked for.
type Message struct {
	UID    uint32   `json:"uid"`
	ModSeq uint64   `json:"modseq"`
	Flags  []string `json:"flags"`
	GUID   string   `json:"guid,omitempty"`
	// Preview is the start of its text (RFC 8970), when asked for.
	Preview *string `json:"preview,omitempty"`
	// SavedAt is when it was saved in the mailbox, in Unix seconds (RFC
	// 8514), when asked for; 0 when the backend does not know.
	SavedAt int64 `json:"saved_at,omitempty"`
}

// ReadRequest asks for the messages within UIDs (ascending ranges, not
// overlapping) whose modseq is above Since (0: every one).
type ReadRequest struct {
	UIDs  []Range `json:"uids"`
	Since uint64  `json:"since,omitempty"`
	// GUIDs asks for each message's GUID (OBJECTID's EMAILID).
	GUIDs bool `json:"guids,omitempty"`
	// Previews asks for each message's preview (RFC 8970).
	Previews bool `json:"previews,omitempty"`
	// SaveDates asks for each message's save date (RFC 8514).
	SaveDates bool `json:"save_dates,omitempty"`
	// Vanished asks for the UIDs within UIDs expunged after Since
	// (QRESYNC's VANISHED), read after the messages.
	Vanished bool `json:"vanished,omitempty"`
}

// ReadReply is what a read found, in UID order, and the mailbox's highest
// modseq at that moment.
type ReadReply struct {
	HighestModSeq uint64    `json:"highest_modseq"`
	Messages      []Message `json:"messages"`
	Vanished      []uint32  `json:"vanished,omitempty"`
}

// Flag operations of a StoreRequest.
const (
	OpSet = "set"
	OpAdd = "add"
	OpDel = "del"
)

// StoreRequest changes the flags of the messages UIDs (those that no
// longer exist are skipped). With UnchangedSince above 0 a message whose
// modseq is above it is left alone and listed in the reply's Failed.
type StoreRequest struct {
	UIDs           []uint32 `json:"uids"`
	Op             string   `json:"op"`
	Flags          []string `json:"flags"`
	UnchangedSince uint64   `json:"unchanged_since,omitempty"`
}

// StoreReply is every message the store did not fail, after it, and those
// it failed.
type StoreReply struct {
	Messages []Message `json:"messages"`
	Failed   []uint32  `json:"failed,omitempty"`
}

// Remote calls the routes on backends' nodes through API.
type Remote struct{ API *clusterapi.Client }

// Read reads mailbox's messages on the backend whose node's API is at
// apiAddr.
func (r Remote) Read(ctx context.Context, apiAddr string, mailbox uint64, q ReadRequest) (ReadReply, error) {
	var out ReadReply
	err := r.API.With(Codes).Call(ctx, http.MethodPost, apiAddr, path(mailbox, "read"), nil, q, &out)
	return out, err
}

// Store changes flags of mailbox's messages on the backend whose node's
// API is at apiAddr, its primary.
func (r Remote) Store(ctx context.Context, apiAddr string, mailbox uint64, q StoreRequest) (StoreReply, error) {
	var out StoreReply
	err := r.API.With(Codes).Call(ctx, http.MethodPost, apiAddr, path(mailbox, "store"), nil, q, &out)
	return out, err
}

func path(mailbox uint64, op string) string {
	return "/v1/backend/condstore/" + strconv.FormatUint(mailbox, 10) + "/" + op
}
