package directory

import "errors"

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
	// ErrUnauthorized: the cluster API refused the credential.
	ErrUnauthorized = errors.New("directory: unauthorized")
	// ErrBadRequest: the cluster API could not parse a request.
	ErrBadRequest = errors.New("directory: bad request")
	// ErrNotFound: what was asked for is not in the directory (a cluster API
	// lookup, or Find after its synced read).
	ErrNotFound = errors.New("directory: not found")
	// ErrInvalidLevel: Read was given no Level it knows.
	ErrInvalidLevel = errors.New("directory: invalid read level")
	// ErrRemote: a cluster API call failed in a way no sentinel names.
	ErrRemote = errors.New("directory: cluster API call failed")
)

// Codes carried in the cluster API's error_code field.
var errorCodes = map[error]string{
	ErrNoLeader:      "no_leader",
	ErrNoQuorum:      "no_quorum",
	ErrNotLeader:     "not_leader",
	ErrClosed:        "closed",
	ErrStale:         "stale",
	ErrNotVoter:      "not_voter",
	ErrBootstrapped:  "bootstrapped",
	ErrInvalidConfig: "invalid_config",
	ErrUnauthorized:  "unauthorized",
	ErrBadRequest:    "bad_request",
	ErrNotFound:      "not_found",
}

// errorCode returns the API code of err's directory sentinel, or "internal".
func errorCode(err error) string {
	for sentinel, code := range errorCodes {
		if errors.Is(err, sentinel) {
			return code
		}
	}
	return "internal"
}

// errorFromCode turns an API error code back into its sentinel.
func errorFromCode(code string) error {
	for sentinel, c := range errorCodes {
		if c == code {
			return sentinel
		}
	}
	return ErrRemote
}
