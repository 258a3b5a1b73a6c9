package spool

import "errors"

// Errors returned by the store. Callers test them with errors.Is; the
// protocol servers turn them into IMAP and LMTP replies.
var (
	ErrNoMailbox     = errors.New("spool: no such mailbox")
	ErrNoMessage     = errors.New("spool: no such message")
	ErrMailboxExists = errors.New("spool: mailbox exists")
	ErrInvalidMeta   = errors.New("spool: invalid mailbox meta")
	ErrInvalidFlag   = errors.New("spool: invalid flag")
	ErrInvalidGUID   = errors.New("spool: invalid message guid")
	ErrUIDsExhausted = errors.New("spool: mailbox has no UIDs left")
	ErrTooBig        = errors.New("spool: message too big")
	// ErrShortBody: the body ended before the size it was announced with
	// (a literal cut off by a client that went away); nothing was stored.
	ErrShortBody = errors.New("spool: message shorter than announced")
	// ErrDiskFull is temporary: the file system ran out of space (ENOSPC).
	ErrDiskFull = errors.New("spool: disk full")
	// ErrIO wraps any other file-system or index failure.
	ErrIO     = errors.New("spool: i/o error")
	ErrClosed = errors.New("spool: store closed")
	// ErrNotReplicated is temporary: the change is durable here, but the
	// replicas could not be brought to hold it, so it is not acknowledged.
	ErrNotReplicated = errors.New("spool: change not replicated")
	// ErrReplicaConflict: a replicated batch does not follow from the
	// replica's state (its modseq moved, or its history differs).
	ErrReplicaConflict = errors.New("spool: replica state conflicts with batch")
	// ErrMissingBody: a replicated record names a body the replica has
	// neither in its index nor among the bodies sent with the batch.
	ErrMissingBody = errors.New("spool: replicated record lacks its body")
)

// Temporary reports whether err is a failure that may go away by itself,
// so that a protocol server answers "try again later" rather than "never".
func Temporary(err error) bool {
	return errors.Is(err, ErrDiskFull) || errors.Is(err, ErrIO) || errors.Is(err, ErrClosed) || errors.Is(err, ErrNotReplicated)
}
