package quota

import "errors"

var (
	// ErrOver: the message would take its mailbox's owner past their quota.
	ErrOver = errors.New("quota: over quota")
	// ErrUnavailable: the owner's usage on another backend could not be
	// read, and the last figure read is too old to admit on (a temporary
	// failure).
	ErrUnavailable = errors.New("quota: usage unavailable")
)
