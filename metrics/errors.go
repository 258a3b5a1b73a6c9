package metrics

import "errors"

// Errors of the metrics package.
var (
	// ErrNotReady: a readiness check failed; /readyz answers 503.
	ErrNotReady = errors.New("metrics: not ready")
	// ErrNoLeader: the directory knows no leader.
	ErrNoLeader = errors.New("metrics: directory has no leader")
)
