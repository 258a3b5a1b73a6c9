package pop3d

import "errors"

// Errors of the server's own rules. They never reach a client as text:
// reply.go turns them into POP3 responses.
var (
	ErrInvalidConfig = errors.New("pop3d: invalid config")
	ErrClosed        = errors.New("pop3d: server closed")
	// ErrNoInbox: the user has no active INBOX.
	ErrNoInbox = errors.New("pop3d: no INBOX")
	// ErrNotHere: the INBOX's primary copy is on another backend (or moved
	// there during the session).
	ErrNotHere = errors.New("pop3d: INBOX is served by another backend")
	// ErrDirectory: the directory could not be read; the client should
	// try again.
	ErrDirectory = errors.New("pop3d: directory unavailable")
	// ErrAuth: a login that failed; every failure looks the same.
	ErrAuth = errors.New("pop3d: authentication failed")
)
