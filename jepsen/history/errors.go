package history

import "errors"

var (
	// ErrBadHistory: a stored history that no recorder could have written.
	ErrBadHistory = errors.New("history: malformed history")
	// ErrCompleted: an operation completed twice, or one never invoked.
	ErrCompleted = errors.New("history: operation not pending")
)
