package directory

import (
	"errors"
	"net/http"

	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/clusterapi"
)

// Errors of the directory node. The fsm's own sentinels (a broken rule such
// as fsm.ErrNameExists) come back in fsm.Result.Err, never as these.
var (
	// ErrNoLeader: no leader was known, or none answered, before the deadline.
	ErrNoLeader = errors.New("directory: no leader")
	// ErrNoQuorum: the leader could not commit the write (it lost quorum or
	// its leadership before the deadline). The command was applied either
	// whole or not at all; a retry must expect either outcome.
	ErrNoQuorum = errors.New("directory: leader could not commit")
	// ErrNotLeader: this node is not the leader (a forwarded write or a
	// ReadIndex request reached a node that no longer leads).
	ErrNotLeader = errors.New("directory: not the leader")
	ErrClosed    = errors.New("directory: node closed")
	// ErrStale: this node's copy is older than the staleness bound and no
	// synced read could be made.
	ErrStale = errors.New("directory: local copy is stale")
	// ErrNotVoter: the operation needs a directory-role (voting) node.
	ErrNotVoter = errors.New("directory: node is not a directory voter")
	// ErrBootstrapped: the node already has Raft state.
	ErrBootstrapped  = errors.New("directory: already bootstrapped")
	ErrInvalidConfig = errors.New("directory: invalid config")
	// ErrIdentity: a member could not show, over mutual TLS, that it is
	// the node gossip names (see identity.go).
	ErrIdentity = errors.New("directory: member identity not confirmed")
	// ErrUnauthorized: the cluster API refused the credential.
	ErrUnauthorized = errors.New("directory: unauthorized")
	// ErrBadRequest: the cluster API could not parse a request.
	ErrBadRequest = errors.New("directory: bad request")
	// ErrNotFound: what was asked for is not in the directory (a cluster API
	// lookup, or Find after its synced read).
	ErrNotFound = errors.New("directory: not found")
	// ErrInvalidLevel: Read was given no Level it knows.
	ErrInvalidLevel = errors.New("directory: invalid read level")
	// ErrRemote: a cluster API call failed in a way no sentinel names;
	// it is the frame's own, so that errors.Is works on every role's calls.
	ErrRemote = clusterapi.ErrRemote
)

// Codes is the directory's table of cluster API error codes: its own
// sentinels, then the fsm's broken rules (FSMCodes). not_found comes last,
// so that a lookup that found no mailbox names the fsm's no_mailbox.
func Codes() clusterapi.Table {
	t := clusterapi.Table{
		{Name: "no_leader", Err: ErrNoLeader, Status: http.StatusServiceUnavailable},
		{Name: "no_quorum", Err: ErrNoQuorum, Status: http.StatusServiceUnavailable},
		{Name: "not_leader", Err: ErrNotLeader, Status: http.StatusServiceUnavailable},
		{Name: "closed", Err: ErrClosed, Status: http.StatusServiceUnavailable},
		{Name: "stale", Err: ErrStale, Status: http.StatusServiceUnavailable},
		{Name: "not_voter", Err: ErrNotVoter, Status: http.StatusConflict},
		{Name: "bootstrapped", Err: ErrBootstrapped, Status: http.StatusConflict},
		{Name: "invalid_config", Err: ErrInvalidConfig, Status: http.StatusBadRequest},
		{Name: clusterapi.CodeUnauthorized, Err: ErrUnauthorized, Status: http.StatusUnauthorized},
		{Name: clusterapi.CodeBadRequest, Err: ErrBadRequest, Status: http.StatusBadRequest},
	}
	t = append(t, FSMCodes()...)
	return append(t, clusterapi.Code{Name: clusterapi.CodeNotFound, Err: ErrNotFound, Status: http.StatusNotFound})
}

// FSMCodes is the one table of the fsm's broken rules on the cluster API,
// which every role that answers with them shares: the codes are the fsm's
// (fsm.ErrorCodes), the statuses say what kind of rule broke.
func FSMCodes() clusterapi.Table {
	codes := fsm.ErrorCodes()
	t := make(clusterapi.Table, 0, len(codes))
	for _, c := range codes {
		status := http.StatusConflict // a rule the state refused
		switch c.Err {
		case fsm.ErrInvalidName, fsm.ErrInvalidUser, fsm.ErrInvalidCommand, fsm.ErrUnknownCommand, fsm.ErrInvalidACL,
			fsm.ErrInvalidDomain, fsm.ErrInvalidAddress:
			status = http.StatusBadRequest
		case fsm.ErrNoMailbox, fsm.ErrNoUser, fsm.ErrNoBackend, fsm.ErrNoMove, fsm.ErrNoDomain, fsm.ErrNoAlias:
			status = http.StatusNotFound
		}
		t = append(t, clusterapi.Code{Name: c.Name, Err: c.Err, Status: status})
	}
	return t
}
