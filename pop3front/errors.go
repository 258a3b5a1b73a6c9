package pop3front

import "errors"

// Sentinel errors. At the client edge, reply.go turns them into POP3
// responses; a client never sees these strings.
var (
	ErrConfig = errors.New("pop3front: invalid config")
	ErrClosed = errors.New("pop3front: server closed")
	// ErrNoInbox: the user has no active INBOX.
	ErrNoInbox = errors.New("pop3front: no INBOX")
	// ErrBackendDown: the INBOX's backend cannot be reached (or has no
	// POP3 listener) now.
	ErrBackendDown = errors.New("pop3front: backend unavailable")
	// ErrBackendRefused: the backend answered the proxy login with -ERR.
	ErrBackendRefused = errors.New("pop3front: backend refused the session")
	// ErrDirectory: the directory could not be read.
	ErrDirectory = errors.New("pop3front: directory unavailable")
)
