package bench

import "errors"

var (
	// ErrBenchConfig is a bench configuration that cannot run.
	ErrBenchConfig = errors.New("bench: bad configuration")
	// ErrBenchViolations means the bench saw the server break an invariant.
	ErrBenchViolations = errors.New("bench: the server broke an invariant")
	// ErrBenchSetup is a failure before the load started (login, create).
	ErrBenchSetup = errors.New("bench: setup failed")
)
