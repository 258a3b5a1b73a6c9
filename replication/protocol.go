package replication

import "github.com/rookery-mail/rookery/spool"

// Routes on the node's cluster API, which authenticates every call with
// the cluster secret.
const (
	pathState   = "/v1/replica/state"
	pathReserve = "/v1/replica/reserve"
	pathApply   = "/v1/replica/apply"
	pathBody    = "/v1/replica/bodies/"
	pathRecords = "/v1/replica/records/"
	pathCopies  = "/v1/replica/mailboxes/"
	pathFloor   = "/v1/replica/floor"
)

// StateRequest asks for the replica's state of some mailboxes: the first
// round trip of a sync.
type StateRequest struct {
	Mailboxes []uint64 `json:"mailboxes"`
}

type StateResponse struct {
	States []spool.ReplicaState `json:"states"`
}

// ReserveRequest names the bodies a batch needs; the answer says which the
// replica holds, so only the others cross the wire. Nothing is pinned: a
// body that goes meanwhile makes the apply fail with ErrMissingBody, and
// the primary sends it on the next try.
type ReserveRequest struct {
	GUIDs []string `json:"guids"`
}

type ReserveResponse struct {
	Have []bool `json:"have"`
}

// applyHeader opens an apply stream: the batch, then the bodies it names
// that the replica lacks, raw, in this order and of these sizes.
type applyHeader struct {
	Batch  spool.ChangeBatch `json:"batch"`
	Bodies []bodyRef         `json:"bodies,omitempty"`
	Fence  *Fence            `json:"fence,omitempty"`
}

// Fence is the placement under which a primary sends a change it will
// acknowledge: itself as primary at the mailbox's epoch, as its directory
// copy showed at Index. The replica first applies the directory up to
// Index, then takes the change only while its directory still places the
// mailbox so; otherwise it refuses with ErrStalePlacement, which tells the
// sender that the placement moved on (it may no longer be primary), never
// that the replica was lost. Catch-up and moves send no fence: they
// acknowledge nothing to a client.
type Fence struct {
	Primary string `json:"primary"`
	Epoch   uint64 `json:"epoch"`
	Index   uint64 `json:"index"`
}

type bodyRef struct {
	GUID string `json:"guid"`
	Size int64  `json:"size"`
}

// RecordsResponse is a copy's whole record list, for a merge.
type RecordsResponse struct {
	State    spool.ReplicaState `json:"state"`
	Records  []spool.Message    `json:"records"`
	Expunged []uint32           `json:"expunged,omitempty"`
}

// maxHeaderBytes bounds an apply stream's header (records are ~100 bytes).
const maxHeaderBytes = 64 << 20

// FloorRequest tells a mailbox's primary that From, a backend that served
// the mailbox before it, committed changes after the primary took over:
// writes that were never acknowledged but that clients of From may have
// seen. The primary puts its own messages above From's highest UID.
type FloorRequest struct {
	Mailbox uint64 `json:"mailbox"`
	From    string `json:"from"`
}
