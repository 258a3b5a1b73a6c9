package replication

import (
	"errors"
	"net/http"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/internal/clusterapi"
	"github.com/rookery-mail/rookery/spool"
)

var (
	ErrInvalidConfig = errors.New("replication: invalid config")
	// ErrConflict: the batch does not follow from the replica's copy (its
	// modseq or history moved); the primary reads its state and resends.
	ErrConflict = errors.New("replication: batch conflicts with the replica's copy")
	// ErrMissingBody: a record names a body the replica no longer holds;
	// the primary resends with the body.
	ErrMissingBody = errors.New("replication: body missing on the replica")
	// ErrNotReplica: the replica's directory does not make it a replica of
	// the mailbox (it may be the primary now); the sender must stop.
	ErrNotReplica = errors.New("replication: not a replica of this mailbox")
	// ErrStalePlacement: the replica's directory places the mailbox
	// otherwise than the sender's fence says (another primary, another
	// epoch, or the mailbox is gone); the sender must not acknowledge the
	// change until it has read the directory again.
	ErrStalePlacement = errors.New("replication: mailbox placed otherwise since")
	ErrBadRequest     = errors.New("replication: bad request")
	// ErrUnavailable: the replica could not be reached or failed; try later.
	ErrUnavailable = errors.New("replication: replica unavailable")
)

// Errors of the primary's side: the acknowledgement path, catch-up and
// live moves.
var (
	// ErrNotPrimary: the directory names another backend primary of the
	// mailbox; a write to it is not acknowledged here.
	ErrNotPrimary = errors.New("replication: mailbox is served by another backend")
	// ErrDirectory: a directory call failed for a reason other than a
	// broken rule (no leader, timeout); the operation may be retried.
	ErrDirectory = errors.New("replication: directory unavailable")
	// ErrDiverged: a replica's copy of a mailbox does not share this
	// backend's history (a forced promotion, a partition); only the
	// catch-up loop, which merges first, may replace it.
	ErrDiverged = errors.New("replication: replica copy diverged")
	// ErrClosed: the replicator has stopped; nothing is acknowledged.
	ErrClosed = errors.New("replication: closed")
)

// Codes is replication's table of cluster API error codes: the
// protocol's own, then what a move refuses with (the fsm's broken rules,
// another primary, the directory away). A code keeps its meaning once
// given; not_found is a body or a copy the replica lacks.
func Codes() clusterapi.Table {
	t := clusterapi.Table{
		{Name: "conflict", Err: ErrConflict, Status: http.StatusConflict},
		{Name: "missing_body", Err: ErrMissingBody, Status: http.StatusConflict},
		{Name: "not_replica", Err: ErrNotReplica, Status: http.StatusConflict},
		{Name: "stale_placement", Err: ErrStalePlacement, Status: http.StatusConflict},
		{Name: clusterapi.CodeBadRequest, Err: ErrBadRequest, Status: http.StatusBadRequest},
		{Name: clusterapi.CodeNotFound, Err: spool.ErrNoMessage, Status: http.StatusNotFound},
		{Name: clusterapi.CodeNotFound, Err: spool.ErrNoMailbox, Status: http.StatusNotFound},
		{Name: "not_primary", Err: ErrNotPrimary, Status: http.StatusConflict},
		{Name: "unavailable", Err: ErrUnavailable, Status: http.StatusServiceUnavailable},
		{Name: "unavailable", Err: ErrDirectory, Status: http.StatusServiceUnavailable},
	}
	return append(t, directory.FSMCodes()...)
}

// apiCodes is the table the server and the clients use.
var apiCodes = Codes()
