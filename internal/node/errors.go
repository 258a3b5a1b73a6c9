package node

import "errors"

var (
	// ErrInvalidConfig wraps every reason Validate and New refuse a config.
	ErrInvalidConfig = errors.New("node: invalid config")
	// ErrNoBackend: the call needs the backend role, which this node does
	// not run.
	ErrNoBackend = errors.New("node: this node runs no backend")
	// ErrStarted: Start was called a second time.
	ErrStarted = errors.New("node: already started")
	// ErrNotServing is the readiness check's answer while a role the node
	// runs has not started.
	ErrNotServing = errors.New("node: not serving")
)
